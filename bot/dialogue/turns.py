"""The answer to the question just asked wins.

While a form asks for a value, the classifier's intent is a guess about a message that, most of the
time, is simply the answer: `网上办` is the route even if it reads like the offline-service FAQ,
`店铺转让给别人了` is the reason even if it looks like a security question. So a form decides each
message in this order:

1. The message is checked as the requested value (a correction of another value excepted).
2. A value that passes is the answer, whatever the intent, except:
   - the classifier heard a clear interruption (cancel, a human, a complaint, "say that again",
     `ALWAYS_INTERRUPT`): a value with a shape is asked about (`CLARIFY`: "找不到了" may be the
     lost card or a wish to stop), free text interrupts;
   - it also reads as a real question (a question mark or question words) and the classifier heard
     a question: we ask "您是想……还是……？" with two buttons (`CLARIFY`);
   - it is only a weak value (free text, a plain name) and the classifier is confident it is
     something else (small talk, a question): the other thing wins (`INTERRUPT`).
3. A message that is not a valid value interrupts when it is something the form can step aside for
   (a question, small talk), and is refused with the rule it broke otherwise (`REFUSE`, counted
   towards the offer of a human and the handoff).

>>> decide(Message("网上办", "faq", 0.62), "route", Checked.STRONG)
<Decision.ANSWER: 'answer'>
>>> decide(Message("可以网上办吗？", "faq", 0.9), "route", Checked.STRONG)
<Decision.CLARIFY: 'clarify'>
>>> decide(Message("审核要几天", "faq", 0.95), "route", Checked.INVALID)
<Decision.INTERRUPT: 'interrupt'>
>>> decide(Message("你好", "greet", 0.97), "holder_name", Checked.WEAK)
<Decision.INTERRUPT: 'interrupt'>
>>> decide(Message("62220", "inform", 0.9), "new_account_number", Checked.INVALID)
<Decision.REFUSE: 'refuse'>
>>> decide(Message("转人工", "request_human", 0.99), "change_reason", Checked.WEAK)
<Decision.INTERRUPT: 'interrupt'>
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import FrozenSet, Optional

from bot.dialogue.corrections import names_other_field


class Decision(str, Enum):
    ANSWER = "answer"  # fill the requested slot with the value
    INTERRUPT = "interrupt"  # step aside: the rule for the intent runs, then the form asks again
    CLARIFY = "clarify"  # ask "您是想……还是……？" with two buttons
    REFUSE = "refuse"  # say which rule the value broke and ask again (counts as a failure)


class Checked(str, Enum):
    """What the requested slot's check made of the message."""

    STRONG = "strong"  # a value with a shape or a known word: a checksum, a bank, a route word
    WEAK = "weak"  # accepted, but anything could pass: free text, a plain name
    INVALID = "invalid"


@dataclass(frozen=True)
class Message:
    text: str
    intent: str
    confidence: float = 1.0
    runner_up_confidence: float = 0.0


# Never a value: the merchant wants out of the question (the form's rules take over).
ALWAYS_INTERRUPT: FrozenSet[str] = frozenset({
    "cancel", "request_human", "complain", "repeat_question", "resend_code", "skip_for_later",
    "resume_bot", "document_uploaded", "message_too_long", "clarified_as_question",
})
# Questions and small talk: they interrupt when the message is not a good value.
QUESTIONS: FrozenSet[str] = frozenset({"faq", "check_status", "bot_challenge", "out_of_scope", "enable_2fa"})
SMALL_TALK: FrozenSet[str] = frozenset({"greet", "thank", "goodbye"})

# Below this confidence the classifier's interruption does not stand against a shaped value.
SURE_CONFIDENCE = 0.6
# A weak value (free text) loses against a question or small talk the classifier is this sure of.
WEAK_VALUE_LOSES_ABOVE = 0.7

_QUESTION_MARK = re.compile(r"[?？]")
# Question words and sentence-final particles of a question. `么` only as part of 什么/怎么/多么
# style words and at the end ("能网上办么"); `吗`/`呢` only at the end of a clause.
_QUESTION_WORDS = re.compile(
    r"(怎么|怎样|如何|什么|啥|为什么|为啥|几天|多久|多少|哪里|哪儿|哪个|哪家|是否|能不能|可不可以|"
    r"行不行|会不会|要不要|有没有|是不是|吗|么|呢)"
)
_CLAUSE_END_PARTICLE = re.compile(r"(吗|么|呢)(?=[，,。.！!\s]|$)")


def reads_as_question(text: str) -> bool:
    """A question mark, a question word, or a clause ending in 吗/么/呢.

    >>> [reads_as_question(t) for t in ("网上办", "可以网上办吗", "线上办理？", "浦东支行", "不知道支行")]
    [False, True, True, False, False]
    """
    text = text.strip()
    if _QUESTION_MARK.search(text) or _CLAUSE_END_PARTICLE.search(text):
        return True
    return any(match.group(0) not in ("吗", "么", "呢") for match in _QUESTION_WORDS.finditer(text))


def decide(message: Message, slot: str, checked: Checked, *, value_is_final: bool = False) -> Decision:
    """What to do with `message` while the form asks for `slot` (see the module docstring).

    value_is_final: a valid value is always the answer, never questioned (codes and the merchant
    number: checking them already sent or consumed a code).
    """
    intent = message.intent
    if intent == "correct_info" and names_other_field(message.text, slot):
        return Decision.INTERRUPT  # "卡号输错了" while asked for the branch
    if checked is Checked.INVALID:
        if intent in ALWAYS_INTERRUPT or intent in QUESTIONS or intent in SMALL_TALK or intent == "correct_info":
            return Decision.INTERRUPT
        return Decision.REFUSE
    if value_is_final:
        return Decision.ANSWER
    if intent in ALWAYS_INTERRUPT:
        # "找不到了" may be the lost card or a wish for a human: a value with a shape wins over an
        # unsure classifier and is asked about over a sure one; free text that passed only because
        # anything passes does not stand in the way of an interruption.
        if checked is Checked.WEAK:
            return Decision.INTERRUPT
        return Decision.ANSWER if message.confidence < SURE_CONFIDENCE else Decision.CLARIFY
    if intent in QUESTIONS and reads_as_question(message.text):
        return Decision.CLARIFY
    if checked is Checked.WEAK and (intent in QUESTIONS or intent in SMALL_TALK) \
            and message.confidence >= WEAK_VALUE_LOSES_ABOVE:
        return Decision.INTERRUPT
    return Decision.ANSWER


def question_of(message: Message) -> Optional[str]:
    """The intent a clarification offers as the other reading, if the message has one."""
    return message.intent if message.intent in QUESTIONS or message.intent in ALWAYS_INTERRUPT else None


# A question put around a value ("浦东支行可以吗？"): the value is checked without it, and `decide`
# then asks whether it was the answer or a question.
_QUESTION_TAIL = re.compile(r"(可以吗|行吗|对吗|是吗|对不对|行不行|可不可以|吗|呢|吧)?[?？。.!！\s]*$")


def without_question_tail(text: str) -> str:
    """The text without a trailing question.

    >>> without_question_tail("浦东支行可以吗？")
    '浦东支行'
    """
    return _QUESTION_TAIL.sub("", text.strip()) or text
