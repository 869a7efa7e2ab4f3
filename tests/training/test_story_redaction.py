"""Redacting a conversation for a test story (bot.training.story_redaction, bot.training.test_values),
on event lists as the tracker store holds them: no real value left anywhere, each replaced by the
same test value everywhere, and each message read by the extractor as the real one was."""
from __future__ import annotations

import doctest
import json
import re
from typing import Any, Dict, List

import pytest

from bot.extraction.values import extract_values
from bot.training import story_redaction, test_values
from bot.training.story_redaction import is_external, masked_conversation_id, redact_conversation, sessions
from bot.training.test_values import TestValues, documented_values
from bot.validation import bank_card, licence, resident_id
from bot.validation.normalize import normalize_digits

CARD = "6222021000000000124"  # ICBC debit (DOMAIN_RULES.md)
SECOND_CARD = "6227002000000000340"  # CCB debit
ID_NUMBER = "310101198503171233"
MERCHANT = "822100000000001"
PHONE = "13800000001"
CODE = "493817"
NAME = "张伟"
REFERENCE = "CR20261125-7Q4K"
REAL_VALUES = [CARD, SECOND_CARD, ID_NUMBER, MERCHANT, PHONE, CODE, REFERENCE]


def user(text: str, intent: str = "inform", **extra: Any) -> Dict[str, Any]:
    """A user event as the assistant stores it: the extractor's entities, channel metadata."""
    entities = [{"entity": v.entity, "start": v.start, "end": v.end, "value": v.value, "confidence": 1.0,
                 "extractor": "ValueEntityExtractor"} for v in extract_values(text)]
    return {"event": "user", "timestamp": 1.0, "text": text, "input_channel": "rest", "message_id": "m1",
            "metadata": {"client_address": "203.0.113.7", "merchant": MERCHANT},
            "parse_data": {"text": text, "intent": {"name": intent, "confidence": 0.9},
                           "entities": entities, "intent_ranking": [{"name": intent, "confidence": 0.9}]}, **extra}


def action(name: str) -> Dict[str, Any]:
    return {"event": "action", "name": name, "policy": "RulePolicy", "confidence": 1.0, "timestamp": 1.0}


def slot(name: str, value: Any) -> Dict[str, Any]:
    return {"event": "slot", "name": name, "value": value, "timestamp": 1.0}


def bot(text: str) -> Dict[str, Any]:
    return {"event": "bot", "text": text, "data": {}, "metadata": {"utter_action": "utter_x"}}


def conversation() -> List[Dict[str, Any]]:
    """A change conversation with every kind of value, typed in the forms merchants use."""
    return [
        slot("session_started_metadata", {"client_address": "203.0.113.7", "merchant": MERCHANT}),
        action("action_session_start"),
        {"event": "session_started"},
        slot("service_hotline", "400-000-0000"),
        action("action_listen"),
        user("我要换结算卡", "change_account"),
        {"event": "user_featurization", "use_text_for_featurization": False},
        action("action_start_change"),
        {"event": "followup", "name": "identify_form"},
        action("identify_form"),
        {"event": "active_loop", "name": "identify_form"},
        slot("requested_slot", "merchant_number"),
        bot("请告诉我您的商户编号"),
        action("action_listen"),
        user(f"商户号 {MERCHANT[:5]} {MERCHANT[5:10]} {MERCHANT[10:]}"),
        slot("merchant_number", MERCHANT),
        action("identify_form"),
        bot(f"验证码已发送至 {PHONE}"),
        slot("merchant_number", MERCHANT),
        action("action_listen"),
        user(f"验证码是{CODE}"),
        slot("identify_code", CODE),
        action("identify_form"),
        slot("identify_code", "verified"),
        {"event": "active_loop", "name": None},
        action("action_listen"),
        user("卡号六二二二零二一零零零零零零零零零一二四", "inform"),  # CARD in Chinese digits
        slot("new_account_number", CARD),
        action("change_form"),
        slot("new_account_number", CARD),
        slot("failed_attempts", {"new_account_number": ["****0124"]}),
        action("action_listen"),
        user(f"身份证 {ID_NUMBER[:6]} {ID_NUMBER[6:14]} {ID_NUMBER[14:]}"),
        slot("holder_id_number", ID_NUMBER),
        action("change_form"),
        action("action_listen"),
        user(f"户名是{NAME}"),
        slot("holder_name", NAME),
        action("change_form"),
        slot("holder_name", NAME),
        action("action_listen"),
        # A sentence copied into a slot by its mapping, and a value the extractor finds again.
        user(f"原来那张{CARD}的卡丢了，{NAME}的手机+86 {PHONE}", "inform"),
        slot("change_reason", f"原来那张{CARD}的卡丢了，{NAME}的手机+86 {PHONE}"),
        action("change_form"),
        slot("change_reason", f"原来那张{CARD}的卡丢了，{NAME}的手机+86 {PHONE}"),
        action("action_listen"),
        user(f"新卡是{SECOND_CARD}", "correct_info"),
        action("action_correct_field"),
        action("action_listen"),
        user(f'/inform{{"card_number": "{CARD}"}}'),
        action("change_form"),
        action("action_listen"),
        user(f"{REFERENCE}审核到哪了", "check_status"),
        action("action_check_status"),
        # An agent hands the merchant back: Rasa's API triggers the intent.
        {"event": "user", "text": "EXTERNAL: resume_bot", "metadata": {"is_external": True},
         "parse_data": {"intent": {"name": "resume_bot"}, "entities": []}},
        action("action_resume_bot"),
    ]


def flattened(value: Any) -> str:
    """Every string of the events as digits would be read from them (digits normalised, separators
    and spaces dropped), as scripts/scan_secrets.py reads files."""
    text = normalize_digits(json.dumps(value, ensure_ascii=False))
    return re.sub(r"(?<=[0-9])[\s\-.]+(?=[0-9])", "", text)


@pytest.fixture(scope="module")
def redacted() -> List[Dict[str, Any]]:
    return redact_conversation(conversation())


def test_no_real_value_is_left_anywhere(redacted):
    text = flattened(redacted)
    for real in REAL_VALUES + [NAME, "203.0.113.7"]:
        assert real not in text, real
    assert "CR202611257Q4K" not in text


def test_each_real_value_gets_one_documented_test_value_everywhere(redacted):
    users = [event for event in redacted if event["event"] == "user"]
    slots = [(event["name"], event["value"]) for event in redacted if event["event"] == "slot"]
    documented = documented_values()

    card = users[3]["parse_data"]["entities"][0]["value"]
    assert normalize_digits(users[3]["text"]) == f"卡号{card}" and users[3]["text"][2] == "六"  # typed alike
    assert card in documented["card_number"] and bank_card.lookup(card).bank == bank_card.lookup(CARD).bank
    assert ("new_account_number", card) in slots
    sentence = users[6]["text"]
    assert card in sentence and [value for key, value in slots if key == "change_reason"] == [sentence, sentence]
    assert json.loads(users[8]["text"][len("/inform"):]) == {"card_number": card}
    assert users[8]["parse_data"]["entities"][0]["value"] == card

    second = users[7]["parse_data"]["entities"][0]["value"]
    assert second != card and bank_card.luhn_ok(second) and second in documented["card_number"]

    merchant = users[1]["parse_data"]["entities"][0]["value"]
    assert merchant in documented["merchant_id"] and merchant != MERCHANT
    assert [value for name, value in slots if name == "merchant_number"] == [merchant, merchant]

    code = users[2]["parse_data"]["entities"][0]["value"]
    assert re.fullmatch(r"[0-9]{6}", code) and code != CODE
    assert [value for name, value in slots if name == "identify_code"] == [code, "verified"]

    id_number = users[4]["parse_data"]["entities"][0]["value"]
    assert resident_id.is_valid(id_number) and id_number in documented["id_number"]
    assert ("holder_id_number", id_number) in slots

    holder = [value for key, value in slots if key == "holder_name"]
    assert len(set(holder)) == 1 and holder[0] != NAME and holder[0] in documented["name"]
    assert users[5]["text"] == f"户名是{holder[0]}" and sentence.count(holder[0]) == 1
    phone = re.search(r"手机\+86 ([0-9]+)", sentence).group(1)
    assert phone in documented["phone"] and phone != PHONE
    reference = users[9]["parse_data"]["entities"][0]["value"]
    assert users[9]["text"] == f"{reference}审核到哪了" and reference != REFERENCE

    assert ("failed_attempts", {"new_account_number": ["****0124"]}) in slots  # masked by the action already
    assert ("service_hotline", "400-000-0000") in slots  # an action's own value, no merchant's


def test_the_extractor_reads_each_redacted_message_as_it_read_the_real_one(redacted):
    originals = [event for event in conversation() if event["event"] == "user" and not is_external(event)]
    users = [event for event in redacted if event["event"] == "user" and event["text"]]
    assert len(users) == len(originals)
    for original, event in zip(originals, users):
        if event["text"].startswith("/"):
            continue
        found = [(v.entity, v.start, v.end, v.value) for v in extract_values(event["text"])]
        written = [(e["entity"], e["start"], e["end"], e["value"]) for e in event["parse_data"]["entities"]]
        assert found == written, event["text"]
        assert [e[0] for e in found] == [e["entity"] for e in original["parse_data"]["entities"]]
        assert event["parse_data"]["intent"]["name"] == original["parse_data"]["intent"]["name"]


def test_only_what_a_story_holds_is_kept(redacted):
    assert {event["event"] for event in redacted} == {"user", "action", "slot", "active_loop", "session_started"}
    assert "session_started_metadata" not in {event.get("name") for event in redacted}
    for event in redacted:
        assert set(event) <= {"event", "name", "value", "text", "parse_data", "policy"}
    external = [event for event in redacted if event["event"] == "user"][-1]
    assert external["text"] is None and external["parse_data"]["intent"] == {"name": "resume_bot"}
    # The stored events are left as they were.
    assert conversation()[14]["text"].startswith("商户号 82210")


def test_the_same_value_typed_differently_is_one_value():
    values = TestValues()
    typed = ["6222 0210 0000 0000 124", "６２２２０２１０００００００００１２４", "六二二二零二一零零零零零零零零零一二四", CARD]
    assert len({values.substitute("card_number", form) for form in typed}) == 1
    assert values.substitute("phone", "+86 138-0000-0001") == values.substitute("phone", PHONE)
    assert values.known("6222-0210-0000-0000-124") == values.substitute("card_number", CARD)


def test_test_values_keep_the_shape_and_never_repeat_or_reuse_a_real_value():
    real_cards = ["6222021000000000124", "6222021000000000215", "6225751000000004", "6222021000000000125",
                  "6217000010000000000"]
    values = TestValues(avoid=real_cards)
    given = [values.substitute("card_number", card) for card in real_cards]
    assert len(set(given)) == len(given) and not set(given) & set(real_cards)
    for real, test in zip(real_cards, given):
        assert len(test) == len(real) and bank_card.luhn_ok(test) == bank_card.luhn_ok(real)
        real_row, test_row = bank_card.lookup(real), bank_card.lookup(test)
        assert (real_row.bank, real_row.type) == (test_row.bank, test_row.type)

    ids = ["11010519491231002X", "440103199008224568", "440524188001010014"]
    for real in ids:
        test = values.substitute("id_number", real)
        assert resident_id.is_valid(test) == resident_id.is_valid(real) and test not in ids
    assert values.substitute("license_number", "92310115MA1K3B4C59")[:2] == "92"
    assert licence.is_valid(values.substitute("license_number", "91310110666007217T"))
    assert values.substitute("request_id", REFERENCE) == "CR20260101-TEST"
    assert [values.substitute("otp_code", code) for code in ("493817", "771204", "493817")] == ["000000", "000001", "000000"]
    assert values.substitute("name", "张伟") != "张伟" and len(values.substitute("name", "欧阳娜娜")) == 4


def test_sessions_start_where_rasa_starts_them_and_after_a_restart():
    events = [action("action_session_start"), slot("a", 1), user("你好", "greet"), action("utter_greet"),
              {"event": "restart"}, action("action_session_start"), slot("a", 1),
              action("action_session_start"), user("审核要几天", "faq"), action("utter_faq")]
    parts = sessions(events)
    assert [[e.get("name") or e.get("text") for e in part] for part in parts] == [
        ["action_session_start", "a", "你好", "utter_greet"],
        ["action_session_start", "审核要几天", "utter_faq"],
    ]


def test_the_conversation_id_is_masked_but_stable():
    masked = masked_conversation_id(f"rest-{MERCHANT}-{PHONE}")
    assert re.fullmatch(r"rest-[0-9a-f]{10}", masked)
    assert MERCHANT[-4:] not in masked and PHONE[-4:] not in masked
    assert masked == masked_conversation_id(f"rest-{MERCHANT}-{PHONE}")
    assert masked_conversation_id("e2e-abc").startswith("conversation-")


def test_doctests():
    assert doctest.testmod(story_redaction).failed == 0
    assert doctest.testmod(test_values).failed == 0
