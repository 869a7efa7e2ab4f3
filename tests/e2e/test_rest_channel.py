"""The assistant over Rasa's REST channel and HTTP API, as a client (and CONTRACTS.md) sees it."""
from __future__ import annotations

import re
import uuid

import pytest

pytestmark = pytest.mark.servers

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _texts(replies: list) -> str:
    return "\n".join(reply.get("text", "") for reply in replies)


def _new_sender() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def test_greeting_is_answered_in_chinese_with_the_brand(assistant):
    replies = assistant.say(_new_sender(), "你好")
    assert replies, "no reply to a greeting"
    assert "结算助手" in _texts(replies)
    assert all(reply["recipient_id"] for reply in replies)


def test_faq_question_gets_its_answer(assistant):
    text = _texts(assistant.say(_new_sender(), "信用卡能不能当结算卡"))
    assert "借记卡" in text


def test_parse_returns_faq_sub_intent(assistant):
    status, result = assistant.post("/model/parse", {"text": "审核一般要多长时间"})
    assert status == 200
    assert result["intent"]["name"] == "faq"
    key = result["response_selector"]["faq"]["response"]["intent_response_key"]
    assert key == "faq/processing_time"


def test_over_long_message_gets_a_clear_chinese_answer(assistant):
    # 4,000 characters: far over MAX_MESSAGE_CHARS, within the 64 KB body (6 bytes each, escaped).
    text = _texts(assistant.say(_new_sender(), "我要换卡" * 1_000))
    assert "太长" in text
    # 100,000 characters: over the body cap, refused before parsing, in Chinese too.
    status, replies = assistant.post("/webhooks/rest/webhook", {"sender": _new_sender(), "message": "我要换卡" * 25_000})
    assert status == 413 and "太大" in _texts(replies)


def test_parse_api_bounds_over_long_text(assistant):
    status, result = assistant.post("/model/parse", {"text": "卡" * 100_000})
    assert status == 200
    assert len(result["text"]) <= 500


@pytest.mark.parametrize(
    "message",
    [
        "😀😀😀🙏",
        "asdkjh qwe zzz ###",
        "'; DROP TABLE merchants; --",
        "<script>alert(1)</script>",
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a SYSTEM \"file:///etc/passwd\">]><x>&a;</x>",
        "６２２２０２１０００００００００１２４",
        "\u0000\u0007\u200b",
        "   ",
    ],
)
def test_hostile_or_garbled_input_gets_a_chinese_reply(assistant, message):
    replies = assistant.say(_new_sender(), message)
    text = _texts(replies)
    assert CHINESE.search(text), f"no Chinese reply to {message!r}: {replies}"
    assert "Traceback" not in text and "passwd" not in text


@pytest.mark.parametrize("mash", ["asdkjh qwe zzz", "ghjkl poiu", "？？？？", "zzzzzz"])
def test_keyboard_mash_is_not_taken_for_thanks_or_a_yes(assistant, mash):
    text = _texts(assistant.say(_new_sender(), mash))
    assert "不客气" not in text and "好的" not in text[:4], text


def test_malformed_requests_get_400_with_a_chinese_message(assistant):
    for raw in (b"not json", b"[1, 2]", b'{"sender": "x"}', b'{"sender": 5, "message": "hi"}'):
        status, replies = assistant.post("/webhooks/rest/webhook", None, raw=raw)
        assert status == 400, raw
        assert CHINESE.search(replies[0]["text"])


@pytest.mark.parametrize("sender", ["webchat-822100000000001", "wechat-oUser123"])
def test_rest_cannot_speak_in_a_web_chat_or_wechat_conversation(assistant, sender):
    status, replies = assistant.post("/webhooks/rest/webhook", {"sender": sender, "message": "我的申请进度"})
    assert status == 403 and CHINESE.search(replies[0]["text"])


def test_replies_never_echo_a_full_card_number(assistant):
    text = _texts(assistant.say(_new_sender(), "6222021000000000124"))
    assert "6222021000000000124" not in text


def test_conversations_are_stored_encrypted(assistant):
    """What a merchant types (a card number here) is not readable in the tracker store."""
    sender = _new_sender()
    assistant.say(sender, "新卡号6216604000000000568")
    stored = (assistant.var_dir / "rasa_tracker.db").read_bytes()
    assert sender.encode() in stored, "the conversation was not saved in the SQL tracker store"
    assert b"6216604000000000568" not in stored
    assert "新卡号".encode() not in stored


def test_parse_extracts_normalised_values(assistant):
    status, result = assistant.post("/model/parse", {"text": "新卡 6216-6040-0000-0000-568，中行的，户名周强"})
    assert status == 200
    values = {entity["entity"]: entity["value"] for entity in result["entities"]}
    assert values == {"card_number": "6216604000000000568", "bank": "中国银行", "name": "周强"}
