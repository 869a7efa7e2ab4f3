"""Regressions of issue 9, over REST against the real assistant: each ordinary answer that used to
break the change conversation, as a new user typed it."""
from __future__ import annotations

import pytest

from simulation import provision

from .test_change_conversation import Merchant

pytestmark = pytest.mark.servers
_providers: dict = {}


def _chat(assistant) -> Merchant:
    """A merchant of its own, like demo merchant 822100000000001 (micro, operator 张伟, ID
    310101198503171233): the SMS limits would refuse codes to a demo merchant used twice."""
    provider = _providers.setdefault(assistant.var_dir, provision.Provider(assistant.var_dir, start=90000))
    return Merchant(assistant, *provider.new())


def _to_the_branch_question(chat: Merchant) -> None:
    chat.identify()
    chat.say("线上办理")
    chat.say("原卡丢失")
    chat.say("310101198503171233")
    chat.say("6222021000000000124")
    assert "支行" in chat.say("张伟")


@pytest.mark.parametrize("branch", ["上海分行营业部", "浦东支行", "开户行是上海分行营业部"])
def test_a_branch_is_the_answer_to_the_branch_question(assistant, branch):
    chat = _chat(assistant)
    _to_the_branch_question(chat)
    confirmation = chat.say(branch)
    assert "请核对" in confirmation and "上海分行营业部" in confirmation or "浦东支行" in confirmation


def test_online_in_own_words_and_a_reason_that_reads_like_a_faq(assistant):
    chat = _chat(assistant)
    chat.identify()
    assert "原因" in chat.say("网上办")
    assert "身份证" in chat.say("店铺转让给别人了")


def test_the_cards_bank_settles_a_disagreement_with_two_buttons(assistant):
    chat = _chat(assistant)
    chat.identify()
    chat.say("线上办理")
    chat.say("更换开户银行")
    chat.say("330102199501206548")
    replies = assistant.say(chat.sender, "招商银行的卡 6216604000000000568")
    text = "\n".join(reply.get("text", "") for reply in replies)
    assert "中国银行" in text and "招商银行" in text
    buttons = [button["title"] for reply in replies for button in reply.get("buttons") or []]
    assert "是中国银行的卡" in buttons and "重新输入卡号" in buttons
    # The card's bank is taken: the card is not asked again, the holder's name is next.
    assert "户名" in chat.say("中国银行")


def test_after_a_handoff_for_repeated_failures_the_form_stops_and_every_message_is_answered(assistant):
    chat = _chat(assistant)
    chat.identify()
    chat.say("线上办理")
    chat.say("原卡丢失")
    for wrong in ("310101198503171230", "310101198503171231", "310101198503171232"):
        last = chat.say(wrong)
    assert "人工" in last
    assert "统一社会信用代码" not in last  # a micro merchant has no licence, and nothing more is asked
    for message in ("你好", "还要多久", "310101198503171233"):
        answer = chat.say(message)
        assert "人工客服" in answer and "统一社会信用代码" not in answer


def test_the_same_question_a_third_time_offers_buttons_and_a_human(assistant):
    chat = _chat(assistant)
    chat.identify()
    for _ in range(2):
        assert "您想怎么办理" in chat.say("审核要几天")
    replies = assistant.say(chat.sender, "审核要几天")
    buttons = [button["title"] for reply in replies for button in reply.get("buttons") or []]
    assert "线上办理" in buttons and "转人工客服" in buttons


def test_repeat_the_question(assistant):
    chat = _chat(assistant)
    chat.identify()
    chat.say("线上办理")
    assert "原因" in chat.say("再说一遍")


def test_a_question_that_is_also_an_answer_is_clarified(assistant):
    chat = _chat(assistant)
    chat.identify()
    replies = assistant.say(chat.sender, "可以在网上办吗？")
    payloads = [button["payload"] for reply in replies for button in reply.get("buttons") or []]
    assert "/clarified_as_answer" in payloads and "/clarified_as_question" in payloads
    assert "原因" in chat.say("/clarified_as_answer")
