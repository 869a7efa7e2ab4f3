"""Turn-taking in the forms (bot.dialogue.turns): the answer to the question just asked wins."""
from __future__ import annotations

import doctest

import pytest

import bot.dialogue.corrections
import bot.dialogue.turns
from bot.dialogue.turns import Checked, Decision, Message, decide, reads_as_question

A, I, C, R = Decision.ANSWER, Decision.INTERRUPT, Decision.CLARIFY, Decision.REFUSE
STRONG, WEAK, INVALID = Checked.STRONG, Checked.WEAK, Checked.INVALID


@pytest.mark.parametrize("module", [bot.dialogue.turns, bot.dialogue.corrections])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


# (text, intent the classifier guessed, its confidence, the runner-up's, requested slot, check, expected)
CASES = [
    # The failures of issue 9: a valid answer wins over the classifier's guess.
    ("网上办", "faq", 0.7, 0.1, "route", STRONG, A),
    ("在网上弄就行", "faq", 0.9, 0.05, "route", STRONG, A),
    ("店铺转让给别人了", "faq", 0.8, 0.1, "change_reason", STRONG, A),
    ("上海分行营业部", "out_of_scope", 0.8, 0.1, "opening_branch", STRONG, A),
    ("开户行是上海分行营业部", "correct_info", 0.8, 0.1, "opening_branch", STRONG, A),
    # A real question, that is also a valid answer: ask which.
    ("可以在网上办吗？", "faq", 0.9, 0.05, "route", STRONG, C),
    ("线上办理要多久", "faq", 0.9, 0.05, "route", STRONG, C),
    # A real question that is no answer: the question is answered, the form asks again.
    ("审核要几天", "faq", 0.95, 0.01, "route", INVALID, I),
    ("你是机器人吗", "bot_challenge", 0.95, 0.01, "holder_id_number", INVALID, I),
    # Clear interruptions, even where free text would pass.
    ("算了不改了", "cancel", 0.95, 0.01, "change_reason", WEAK, I),
    ("转人工", "request_human", 0.99, 0.0, "change_reason", WEAK, I),
    ("再说一遍", "repeat_question", 0.9, 0.05, "opening_branch", INVALID, I),
    # ... but a shaped value is asked about when the classifier is sure, and wins when it is not.
    ("卡丢了", "cancel", 0.8, 0.1, "change_reason", STRONG, C),
    ("找不到了", "request_human", 0.31, 0.08, "change_reason", STRONG, A),
    # Small talk is no name or reason; a confident question beats free text.
    ("你好", "greet", 0.97, 0.01, "holder_name", WEAK, I),
    ("谢谢", "thank", 0.97, 0.01, "change_reason", WEAK, I),
    ("家里有事急用", "inform", 0.6, 0.2, "change_reason", WEAK, A),
    # Values that are wrong are refused with their reason (counted), whatever they looked like.
    ("62220", "inform", 0.9, 0.05, "new_account_number", INVALID, R),
    ("123", "nlu_fallback", 0.3, 0.2, "holder_id_number", INVALID, R),
    # A correction of another field interrupts; of the asked one, it is the answer.
    ("卡号输错了", "correct_info", 0.9, 0.05, "opening_branch", WEAK, I),
    ("支行写错了，是浦东支行", "correct_info", 0.9, 0.05, "opening_branch", STRONG, A),
]


@pytest.mark.parametrize("text,intent,confidence,runner_up,slot,checked,expected", CASES)
def test_decision(text, intent, confidence, runner_up, slot, checked, expected):
    assert decide(Message(text, intent, confidence, runner_up), slot, checked) is expected


def test_codes_and_merchant_numbers_are_never_questioned():
    # Checking them sent or consumed a code: a valid one is the answer even in a question.
    message = Message("493817对吗？", "faq", 0.9, 0.05)
    assert decide(message, "sign_code", STRONG, value_is_final=True) is A


@pytest.mark.parametrize("text", ["可以网上办吗", "审核要几天", "能不能用我老婆的卡", "这个是什么？", "需要带什么材料呢"])
def test_questions(text):
    assert reads_as_question(text)


@pytest.mark.parametrize("text", ["网上办", "线下", "浦东支行", "不知道支行", "张伟", "原卡丢失", "就在这办吧"])
def test_answers_are_no_questions(text):
    assert not reads_as_question(text)
