"""Identity vouched for by a channel, and uploaded documents, through the real actions and database."""
from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.flow import ActionCheckStatus, ActionReceiveDocument, ActionStartChange
from bot.change_requests import documents
from bot.db.engine import session_scope
from bot.ops.demo import seed
from bot.channel_trust import verified_metadata


@pytest.fixture
def demo_db(engine, session):
    seed(session)
    session.commit()
    return engine


def _tracker(channel: str, metadata: dict | None, slots: dict | None = None,
             sender: str = "webchat-822100000000001", text: str = "我要换卡", entities: list | None = None) -> Tracker:
    latest = {"text": text, "intent": {"name": "change_account"}, "entities": entities or [],
              "metadata": metadata or {}}
    events = [{"event": "user", "text": text, "input_channel": channel, "metadata": metadata or {}}]
    return Tracker(sender, slots or {}, latest, events, False, None, {}, "action_listen")


def _run(action, tracker: Tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return [message.get("response") for message in dispatcher.messages], events


def _slot_events(events) -> dict:
    return {event["name"]: event["value"] for event in events if event.get("event") == "slot"}


def test_a_portal_token_skips_the_merchant_number_step(demo_db):
    responses, events = _run(ActionStartChange(), _tracker("webchat", verified_metadata("822100000000001")))
    assert responses[0] == "utter_identified_by_channel"
    slots = _slot_events(events)
    assert slots["merchant_number"] == "822100000000001" and slots["merchant_verified"] is True
    assert events[-1] == {"event": "followup", "name": "change_form", "timestamp": None}


def test_rest_cannot_vouch_for_a_merchant_with_metadata(demo_db):
    responses, events = _run(ActionStartChange(), _tracker("rest", verified_metadata("822100000000001"),
                                                           sender="rest-client"))
    assert responses == []
    assert events[-1]["name"] == "identify_form"  # asks the merchant number and sends a code


def test_a_vouched_merchant_still_goes_through_the_prechecks(demo_db):
    # 822100000000005's terminal is not activated.
    responses, _ = _run(ActionStartChange(), _tracker("webchat", verified_metadata("822100000000005"),
                                                      sender="webchat-822100000000005"))
    assert responses == ["utter_identified_by_channel", "utter_precheck_terminal_inactive"]


def test_status_for_a_vouched_merchant_needs_no_code(demo_db):
    responses, _ = _run(ActionCheckStatus(), _tracker("wechat", verified_metadata("822100000000004"),
                                                      sender="wechat-openid-4"))
    assert responses[:2] == ["utter_identified_by_channel", "utter_status"]


def test_an_upload_is_named_in_the_reply(demo_db):
    with session_scope() as session:
        document = documents.store_upload(session, conversation_id="webchat-822100000000001", channel="webchat",
                                          data=b"%PDF-1.7 scan", kind="id_back")
        public_id = document.public_id
    tracker = _tracker("webchat", verified_metadata("822100000000001"), text=documents.upload_message(document),
                       entities=[{"entity": "document_id", "value": public_id}])
    assert _run(ActionReceiveDocument(), tracker)[0] == ["utter_document_received"]


def test_someone_elses_upload_is_not_acknowledged(demo_db):
    with session_scope() as session:
        document = documents.store_upload(session, conversation_id="webchat-822100000000002", channel="webchat",
                                          data=b"%PDF-1.7 scan")
        public_id = document.public_id
    tracker = _tracker("webchat", verified_metadata("822100000000001"),
                       entities=[{"entity": "document_id", "value": public_id}])
    assert _run(ActionReceiveDocument(), tracker)[0] == ["utter_document_unknown"]


def _verified_identification(number: str, conversation: str, purpose: str = "identify") -> None:
    """A code (identification, or `enrol`) sent and typed in this conversation (read back from the outbox)."""
    import json
    import re

    from bot import codes
    from bot.db.models import VerificationPurpose
    from bot.change_requests.prechecks import find_merchant
    from bot.settings import sms_outbox_path

    with session_scope() as session:
        merchant = find_merchant(session, number)
        codes.send_code(session, merchant, VerificationPurpose(purpose), conversation_id=conversation)
        text = json.loads(sms_outbox_path().read_text(encoding="utf-8").splitlines()[-1])["text"]
        code = re.search(r"(?<!\d)\d{6}(?!\d)", text).group()
        assert codes.verify_code(session, merchant, VerificationPurpose(purpose), code,
                                        conversation_id=conversation).ok


def test_enrolment_on_web_chat_first_asks_for_an_sms_code(demo_db):
    from actions.flow import ActionStartEnrolment

    responses, events = _run(ActionStartEnrolment(), _tracker("webchat", verified_metadata("822100000000001")))
    assert responses == ["utter_enrol_needs_code", "utter_enrol_code_sent"]  # the enrolment code goes out now
    slots = _slot_events(events)
    assert slots["merchant_number"] == "822100000000001" and slots["merchant_verified"] is False
    assert slots["pending_goal"] == "enable_2fa" and events[-1]["name"] == "identify_form"


def test_an_identification_earlier_in_the_conversation_does_not_enrol(demo_db):
    # A second client that took over a verified conversation must not add its own authenticator:
    # enrolling needs a fresh code sent for that (issue 12, Codes).
    from actions.flow import ActionStartEnrolment
    from bot.settings import sms_outbox_path

    _verified_identification("822100000000002", "rest-client")
    responses, events = _run(ActionStartEnrolment(), _tracker("rest", None, sender="rest-client",
                                                             slots={"merchant_number": "822100000000002",
                                                                    "merchant_verified": True}))
    assert responses == ["utter_enrol_needs_code", "utter_enrol_code_sent"]
    assert "开启动态口令" in sms_outbox_path().read_text(encoding="utf-8").splitlines()[-1]
    assert events[-1]["name"] == "identify_form"


def test_enrolment_shows_a_qr_code_on_web_chat_and_the_secret_elsewhere(demo_db):
    from actions.flow import ActionStartEnrolment

    _verified_identification("822100000000001", "webchat-822100000000001", "enrol")
    dispatcher = CollectingDispatcher()
    tracker = _tracker("webchat", verified_metadata("822100000000001"),
                       slots={"merchant_number": "822100000000001", "merchant_verified": True})
    events = asyncio.run(ActionStartEnrolment().run(dispatcher, tracker, {}))
    assert [message["response"] for message in dispatcher.messages] == ["utter_enrol_qr", "utter_enrol_secret"]
    assert dispatcher.messages[0]["qr"].startswith("data:image/svg+xml;base64,")
    assert events[-1]["name"] == "totp_form"

    _verified_identification("822100000000002", "rest-client", "enrol")
    responses, _ = _run(ActionStartEnrolment(), _tracker("rest", None, sender="rest-client",
                                                         slots={"merchant_number": "822100000000002",
                                                                "merchant_verified": True}))
    assert responses == ["utter_enrol_secret"]


def test_an_authenticated_rest_caller_is_identified_in_the_merchants_own_conversation(demo_db):
    # Outside development the REST channel vouches for the merchant its caller authenticated
    # (bot.rasa.channels.rest_auth), in `rest-<merchant>-<sender>` only.
    responses, events = _run(ActionStartChange(), _tracker("rest", verified_metadata("822100000000001"),
                                                           sender="rest-822100000000001-m1"))
    assert responses[0] == "utter_identified_by_channel"
    assert _slot_events(events)["merchant_number"] == "822100000000001"
    responses, events = _run(ActionStartChange(), _tracker("rest", verified_metadata("822100000000001"),
                                                           sender="rest-822100000000002-m1"))
    assert responses == [] and events[-1]["name"] == "identify_form"
