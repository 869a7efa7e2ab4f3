"""The code steps of the conversation after the security review (issue 12, findings 2 and 4), through
the real form validators and flow actions and the database: a merchant number that is not
registered is answered like one that is; limits per client address; a new authenticator does not
sign in its first day, and the signing question then asks for the SMS code only."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pyotp
import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.flow import ActionAfterChangeForm
from actions.forms import ValidateIdentifyForm, ValidateSignForm, _Turn
from bot import codes
from bot.channel_trust import address_metadata
from bot.db.engine import session_scope
from bot.db.models import MerchantSecurity, VerificationPurpose
from bot.ops.demo import seed
from bot.workdays import utcnow

KNOWN, UNKNOWN = "822100000000001", "822199999999999"
CARD = {"route": "online", "change_reason": "原卡丢失", "holder_id_number": "310101198503171233",
        "new_bank": "中国工商银行", "new_account_number": "6222021000000000124", "holder_name": "张伟",
        "opening_branch": "工商银行上海浦东支行", "change_confirmed": True}


@pytest.fixture
def demo_db(engine, session):
    seed(session)
    session.commit()
    return engine


def _tracker(sender: str, slots: dict, form: str, address: str | None = "203.0.113.5") -> Tracker:
    latest = {"text": "", "intent": {"name": "inform"}, "metadata": address_metadata(address)}
    events = [{"event": "user", "text": "", "input_channel": "rest", "metadata": address_metadata(address)}]
    return Tracker(sender, slots, latest, events, False, None, {"name": form}, "action_listen")


def _say(form, slot: str, value: str, tracker: Tracker) -> tuple[list, dict]:
    """(responses with their variables, slots set) of one message while `form` asks for `slot`."""
    dispatcher = CollectingDispatcher()
    events = form._take(slot, value, dispatcher, tracker, _Turn())
    said = [(m.get("response"), {k: v for k, v in m.items() if k not in ("response", "text", "buttons", "elements",
                                                                        "custom", "template", "image", "attachment")
                                 and v is not None})
            for m in dispatcher.messages]
    return said, {event["name"]: event["value"] for event in events if event["event"] == "slot"}


def test_an_unknown_merchant_number_is_answered_like_a_known_one(demo_db):
    transcripts = []
    for number, sender in ((KNOWN, "prober-a"), (UNKNOWN, "prober-b")):
        form = ValidateIdentifyForm()
        said, slots = _say(form, "merchant_number", number, _tracker(sender, {}, "identify_form"))
        assert slots["merchant_number"] == number and slots["merchant_verified"] is False
        tracker = _tracker(sender, {"merchant_number": number, "merchant_verified": False}, "identify_form")
        guesses = [_say(form, "identify_code", "000000", tracker)[0] for _ in range(5)]
        transcripts.append([said] + guesses)
    known, unknown = transcripts
    assert unknown == known
    assert known[0] == [("utter_code_sent", {"phone_masked": ""})]  # no masked phone before verification
    assert [said[0][0] for said in known[1:]] == ["utter_code_wrong"] * 4 + ["utter_code_locked"]
    assert [said[0][1]["attempts_left"] for said in known[1:5]] == ["4", "3", "2", "1"]


def test_one_address_cannot_ask_codes_for_number_after_number(demo_db):
    form = ValidateIdentifyForm()
    answers = [_say(form, "merchant_number", f"8221999{i:08d}", _tracker(f"sender-{i}", {}, "identify_form"))[0]
               for i in range(21)]
    assert [said[0][0] for said in answers] == ["utter_code_sent"] * 20 + ["utter_code_rate_limited"]
    said, _ = _say(form, "merchant_number", KNOWN, _tracker("a-merchant", {}, "identify_form", address="198.51.100.4"))
    assert said[0][0] == "utter_code_sent"


def _enrolled(at) -> str:
    """Merchant 822100000000001 enrolled an authenticator at `at`: its secret."""
    with session_scope() as session:
        from bot.change_requests.prechecks import find_merchant
        from bot.settings import sms_outbox_path
        import json
        import re

        owner = find_merchant(session, KNOWN)
        assert codes.send_code(session, owner, VerificationPurpose.ENROL, conversation_id="enrol", now=at).ok
        text = json.loads(sms_outbox_path().read_text(encoding="utf-8").splitlines()[-1])["text"]
        code = re.search(r"(?<!\d)\d{6}(?!\d)", text).group()
        assert codes.verify_code(session, owner, VerificationPurpose.ENROL, code, conversation_id="enrol", now=at).ok
        enrolment = codes.start_enrolment(session, owner, conversation_id="enrol", now=at)
        assert codes.confirm_enrolment(session, owner, pyotp.TOTP(enrolment.secret).at(at), now=at).ok
        return enrolment.secret


def _send_signing_code(sender: str) -> list:
    tracker = _tracker(sender, {"merchant_number": KNOWN, "merchant_verified": True, **CARD}, "change_form")
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionAfterChangeForm().run(dispatcher, tracker, {}))
    assert [m["response"] for m in dispatcher.messages] == ["utter_sign_code_sent"]
    return events


def test_a_new_authenticator_does_not_sign_the_sms_code_is_asked_for(demo_db):
    secret = _enrolled(utcnow() - timedelta(hours=1))
    events = _send_signing_code("signer")
    assert {"event": "slot", "name": "totp_enabled", "value": False, "timestamp": None} in events  # SMS code only
    tracker = _tracker("signer", {"merchant_number": KNOWN, "merchant_verified": True, **CARD, "totp_enabled": False},
                       "sign_form")
    said, slots = _say(ValidateSignForm(), "sign_code", pyotp.TOTP(secret).now(), tracker)
    assert said == [("utter_authenticator_too_new", {"hours": "23"})] and slots["sign_code"] is None
    with session_scope() as session:
        from sqlalchemy import select
        assert session.execute(select(MerchantSecurity.wrong_codes)).scalar_one() == 0  # a right code: not counted


def test_a_day_old_authenticator_is_offered_at_the_signing_step(demo_db):
    _enrolled(utcnow() - timedelta(days=1, minutes=1))
    events = _send_signing_code("signer")
    assert {"event": "slot", "name": "totp_enabled", "value": True, "timestamp": None} in events
