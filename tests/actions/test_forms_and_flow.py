"""The form validators and flow actions against a real SQLite database with the demo data."""
from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import change_details
from actions.flow import ActionFileRequest
from actions.forms import ValidateChangeForm, _Turn
from bot.db.engine import session_scope
from bot.ops.demo import seed
from bot.agents.handoff import open_handoff_for
from bot.agents.views import list_requests
from domain_fixtures import signed


@pytest.fixture
def demo_db(engine, session):
    seed(session)
    session.commit()
    return engine


def _tracker(slots: dict, sender: str = "actions-test") -> Tracker:
    slots = {"merchant_number": "822100000000001", "merchant_verified": True, **slots}
    return Tracker(sender, slots, {"text": "", "intent": {"name": "inform"}}, [], False, None,
                   {"name": "change_form"}, "action_listen")


def _responses(dispatcher: CollectingDispatcher) -> list:
    return [message.get("response") for message in dispatcher.messages]


def _validate(form, slot: str, value, dispatcher: CollectingDispatcher, tracker: Tracker, turn=None) -> dict:
    """The slots one message sets while the form asks for `slot` (the form's own turn-taking)."""
    events = form._take(slot, value, dispatcher, tracker, turn or _Turn())
    return {event["name"]: event["value"] for event in events if event["event"] == "slot"}


def test_credit_card_is_refused_with_its_reason(demo_db):
    dispatcher = CollectingDispatcher()
    result = _validate(ValidateChangeForm(), "new_account_number", "6225751000000004", dispatcher, _tracker({}))
    assert result["new_account_number"] is None
    assert _responses(dispatcher) == ["utter_invalid_card_not_debit_credit"]


def test_luhn_typo_is_accepted_when_typed_twice_and_marked_for_review(demo_db):
    form, dispatcher = ValidateChangeForm(), CollectingDispatcher()
    first = _validate(form, "new_account_number", "6222021000000000125", dispatcher, _tracker({}))
    assert first["new_account_number"] is None and first["luhn_pending"] == "6222021000000000125"
    second = _validate(form, "new_account_number", "6222 0210 0000 0000 125", dispatcher,
                       _tracker({"luhn_pending": first["luhn_pending"]}))
    assert second["new_account_number"] == "6222021000000000125"
    assert second["account_needs_review"] is True and second["new_bank"] == "中国工商银行"
    assert "utter_luhn_accepted" in _responses(dispatcher)


def test_third_refusal_hands_off_with_masked_inputs(demo_db):
    form, failures = ValidateChangeForm(), {}
    for attempt in range(3):
        dispatcher, turn = CollectingDispatcher(), _Turn()
        result = _validate(form, "holder_id_number", "310101198503171234", dispatcher,
                           _tracker({"failed_attempts": failures}), turn)
        failures = result["failed_attempts"]
    assert "utter_offer_human" not in _responses(dispatcher) and "utter_too_many_failures" in _responses(dispatcher)
    # A handoff is a state: the form closes (values kept), and "继续自助办理" comes back to it.
    assert turn.closed
    state = {event["name"]: event["value"] for event in turn.events if event["event"] == "slot"}
    assert state["handoff"]["resume"] == "change_form" and state["requested_slot"] is None
    assert any(event["event"] == "active_loop" and event["name"] is None for event in turn.events)
    with session_scope() as session:
        handoff = open_handoff_for(session, "actions-test")
        assert handoff.reason == "repeated_validation_failure"
        assert "310101198503171234" not in str(handoff.context)


def test_filing_twice_with_one_key_files_once(demo_db):
    slots = {"sign_code": "verified", "idempotency_key": "key-1", "change_reason": "原卡丢失",
             "new_bank": "中国工商银行", "new_account_number": "6222021000000000124", "holder_name": "张伟",
             "holder_id_number": "310101198503171233", "opening_branch": "工商银行上海浦东支行"}
    with session_scope() as session:  # the code the merchant typed in the signing form
        signed(session, "822100000000001", "actions-test", change_details(_tracker(slots)))
    for _ in range(2):
        dispatcher = CollectingDispatcher()
        asyncio.run(ActionFileRequest().run(dispatcher, _tracker(slots), {}))
        assert "utter_request_filed" in _responses(dispatcher)
    with session_scope() as session:
        filed = list_requests(session, "822100000000001")
    assert len(filed) == 1 and filed[0]["card_last4"] == "0124"



def test_slots_saying_signed_file_nothing_without_the_signature(demo_db):
    # Issue 12, finding 1: what the tracker says is no proof; the signature recorded when the code
    # was verified is, and only for the details it signed.
    slots = {"sign_code": "verified", "idempotency_key": "key-forged", "change_reason": "原卡丢失",
             "new_bank": "中国工商银行", "new_account_number": "6222021000000000124", "holder_name": "张伟",
             "holder_id_number": "310101198503171233", "opening_branch": "工商银行上海浦东支行"}
    with session_scope() as session:  # signed, but another card
        signed(session, "822100000000001", "actions-test",
               change_details(_tracker({**slots, "new_account_number": "6222021000000000132"})))
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionFileRequest().run(dispatcher, _tracker(slots), {}))
    assert _responses(dispatcher) == ["utter_request_not_signed"]
    assert {"event": "slot", "name": "sign_code", "value": None, "timestamp": None} in events
    with session_scope() as session:
        assert list_requests(session, "822100000000001") == []


def _user(text: str, bank: str | None = None) -> dict:
    entities = [{"entity": "bank", "value": bank}] if bank else []
    return {"event": "user", "text": text, "parse_data": {"entities": entities}}


def test_the_bank_named_earlier_is_the_last_one_outside_the_branch_answer():
    from actions.common import bank_named_in_change

    events = [{"event": "action", "name": "action_after_identify"},
              {"event": "slot", "name": "requested_slot", "value": "change_reason"},
              _user("不想用这家了，换成招商银行", "招商银行"),
              {"event": "slot", "name": "requested_slot", "value": "opening_branch"},
              _user("工商银行上海浦东支行", "工商银行")]
    tracker = Tracker("t", {}, {}, events, False, None, {}, "action_listen")
    assert bank_named_in_change(tracker).name == "招商银行"
    # A new change forgets the banks of the previous one.
    tracker = Tracker("t", {}, {}, events + [{"event": "action", "name": "action_start_change"}], False, None, {},
                      "action_listen")
    assert bank_named_in_change(tracker) is None


def test_a_card_of_another_bank_than_the_one_named_keeps_the_card_and_asks_about_the_bank(demo_db):
    from actions.common import bank_named_in_change  # noqa: F401 (the form reads the events below)

    events = [{"event": "action", "name": "action_after_identify"},
              {"event": "slot", "name": "requested_slot", "value": "new_account_number"},
              _user("招商银行的卡 6216604000000000568", "招商银行")]
    tracker = Tracker("actions-test", {"merchant_number": "822100000000001", "merchant_verified": True},
                      {"text": "招商银行的卡 6216604000000000568", "intent": {"name": "inform", "confidence": 0.9}},
                      events, False, None, {"name": "change_form"}, "action_listen")
    dispatcher = CollectingDispatcher()
    slots = _validate(ValidateChangeForm(), "new_account_number", "6216604000000000568", dispatcher, tracker)
    assert slots["new_account_number"] == "6216604000000000568" and slots["new_bank"] is None
    assert slots["bin_bank"] == "中国银行" and slots["named_bank"] == "招商银行"
    assert _responses(dispatcher) == ["utter_card_identified"]


def _asked(text: str, intent: str, confidence: float = 0.9) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": confidence},
              "intent_ranking": [{"name": intent, "confidence": confidence}]}
    return Tracker("actions-test", {"merchant_number": "822100000000001", "merchant_verified": True}, latest, [],
                   False, None, {"name": "change_form"}, "action_listen")


def test_an_answer_wins_over_the_classifiers_guess(demo_db):
    slots = _validate(ValidateChangeForm(), "route", "网上办", CollectingDispatcher(), _asked("网上办", "faq"))
    assert slots["route"] == "online"


def test_a_valid_answer_that_is_also_a_question_is_clarified_with_the_value_it_would_be(demo_db):
    text = "可以在网上办吗？"
    slots = _validate(ValidateChangeForm(), "route", text, CollectingDispatcher(), _asked(text, "faq"))
    assert slots["route"] is None
    assert slots["pending_clarification"]["answer"] == "线上办理" and slots["pending_clarification"]["text"] == text


def test_a_question_that_is_no_answer_interrupts_the_form(demo_db):
    turn = _Turn()
    _validate(ValidateChangeForm(), "route", "审核要几天", CollectingDispatcher(), _asked("审核要几天", "faq"), turn)
    assert turn.rejected
