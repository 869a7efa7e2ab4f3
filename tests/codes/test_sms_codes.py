"""SMS codes (bot.codes.sms_codes) against a real database: sending to the registered phone,
verifying, a gateway that fails or cannot tell, which code a resend is for.

Time is injected (`now=`): nothing sleeps.
"""
from __future__ import annotations

import inspect
import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.codes import Outcome, confirm_enrolment, pending_purpose, send_code, start_enrolment, verify_code
from bot.db.models import AuditEvent, VerificationChallenge
from bot.sms.gateway import SmsDeliveryError

from codes.helpers import CONVERSATION, IDENTIFY, NEW_CARD, SIGN, code_of, send, verify, wrong
from domain_fixtures import DEMO_SECRETS, NOW, Outbox, merchant


# --- sending -------------------------------------------------------------------------------------


def test_identify_code_goes_to_the_registered_phone_in_the_contract_format(demo: Session, outbox: Outbox) -> None:
    result = send(demo)
    assert result.outcome is Outcome.OK and result.phone_masked == "138****0001"
    assert result.expires_at == NOW + timedelta(minutes=5)
    assert not result.delivery_unknown
    message = outbox.last()
    assert set(message) == {"to", "text", "sent_at"}
    assert message["to"] == "13800000001"
    code = code_of(message)
    assert message["text"] == f"【结算助手】您的验证码是{code}，5分钟内有效。您正在通过在线客服办理商户业务，请勿告诉他人。"


def test_no_caller_can_choose_the_phone(demo: Session, outbox: Outbox) -> None:
    # The conversation may mention any number ("发到13900000000"); the API has no place for it.
    for function in (send_code, verify_code, start_enrolment, confirm_enrolment):
        assert not any("phone" in name for name in inspect.signature(function).parameters)
    send(demo, "822100000000006", conversation="发到13900000000")
    assert [m["to"] for m in outbox.messages()] == ["13800000006"]


def test_a_brand_with_a_six_digit_run_is_refused_before_anything_is_sent(demo: Session, outbox: Outbox,
                                                                          monkeypatch) -> None:
    monkeypatch.setenv("BRAND_NAME", "收单123456")
    with pytest.raises(ValueError):
        send(demo)
    assert outbox.messages() == []
    assert demo.execute(select(VerificationChallenge)).first() is None


def test_signing_code_goes_out_with_the_signing_text_and_needs_the_change(demo: Session, outbox: Outbox) -> None:
    assert send(demo, purpose=SIGN, change=NEW_CARD).ok
    message = outbox.last()
    code = code_of(message)
    assert message["text"] == (
        f"【结算助手】您的验证码是{code}，5分钟内有效。您正在将结算卡变更为中国工商银行尾号0124的账户，请勿告诉他人。"
    )
    with pytest.raises(ValueError):
        send(demo, purpose=SIGN, change=None, at=NOW + timedelta(minutes=2))


def test_nothing_secret_is_stored_or_audited(demo: Session, outbox: Outbox) -> None:
    send(demo, purpose=SIGN, change=NEW_CARD)
    code = code_of(outbox.last())
    verify(demo, wrong(code), purpose=SIGN, change=NEW_CARD)
    verify(demo, code, purpose=SIGN, change=NEW_CARD)
    rows = [json.dumps([str(v) for v in row], ensure_ascii=False)
            for table in ("verification_challenges", "audit_events")
            for row in demo.execute(text(f"SELECT * FROM {table}"))]
    dump = "\n".join(rows)
    assert code not in dump
    assert not [secret for secret in DEMO_SECRETS + [NEW_CARD.account_number] if secret in dump]
    actions = demo.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()
    assert actions[-2:] == ["verification.code_sent", "verification.verified"]


# --- a gateway that fails ------------------------------------------------------------------------


class Broken:
    def send(self, to: str, text: str) -> None:
        raise ConnectionError(f"provider down, could not send {text!r} to {to}")


class AnswerLost:
    """Takes the SMS (into the outbox), then loses the answer: what a timeout after sending looks like."""

    def __init__(self, outbox: Outbox) -> None:
        from bot.sms.gateway import OutboxSmsGateway

        self._outbox = OutboxSmsGateway(outbox.path)

    def send(self, to: str, text: str) -> None:
        self._outbox.send(to, text)
        raise SmsDeliveryError("delivery unknown: no answer after sending", delivery_unknown=True)


def test_a_failed_send_counts_nothing(demo: Session, outbox: Outbox) -> None:
    result = send_code(demo, merchant(demo, "822100000000001"), IDENTIFY, conversation_id=CONVERSATION,
                       gateway=Broken(), now=NOW)
    assert result.outcome is Outcome.NOT_DELIVERED and not result.ok
    assert demo.execute(select(VerificationChallenge)).first() is None
    assert send(demo, at=NOW + timedelta(seconds=1)).ok  # no 60 s wait after a failure


def test_a_failed_send_is_not_delivered_audited_and_logged_masked(demo: Session, outbox: Outbox,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.codes")
    result = send(demo, gateway=Broken())
    assert result.outcome is Outcome.NOT_DELIVERED
    assert result.phone_masked == "138****0001" and result.challenge_id is None and result.retry_after is None
    assert pending_purpose(demo, merchant(demo, "822100000000001"), CONVERSATION) is None  # nothing to resend
    [event] = demo.execute(select(AuditEvent).where(AuditEvent.action == "verification.send_failed")).scalars()
    assert event.detail["phone"] == "138****0001" and event.detail["purpose"] == "identify"
    assert event.detail["error"] == "ConnectionError"
    [record] = [r for r in caplog.records if r.name == "bot.codes.sms_codes"]
    assert record.levelno == logging.WARNING and "138****0001" in record.getMessage()
    assert "13800000001" not in caplog.text and "验证码" not in caplog.text  # the provider's message quoted both
    assert not record.exc_info


def test_a_failed_send_keeps_the_limits_of_earlier_sends(demo: Session, outbox: Outbox) -> None:
    assert send(demo).ok
    assert send(demo, at=NOW + timedelta(seconds=61), gateway=Broken()).outcome is Outcome.NOT_DELIVERED
    assert send(demo, at=NOW + timedelta(seconds=62)).ok  # only the failed one left no wait behind
    assert send(demo, at=NOW + timedelta(seconds=70)).outcome is Outcome.TOO_SOON


def test_a_code_whose_delivery_is_unknown_stays_valid_and_is_not_sent_twice(demo: Session, outbox: Outbox) -> None:
    result = send(demo, gateway=AnswerLost(outbox))
    assert result.ok and result.delivery_unknown
    assert result.phone_masked == "138****0001" and result.expires_at == NOW + timedelta(minutes=5)
    # It may well have arrived: a resend waits the usual interval, so no second code silently follows.
    again = send(demo, at=NOW + timedelta(seconds=10))
    assert again.outcome is Outcome.TOO_SOON and again.retry_after == 50
    assert len(outbox.messages()) == 1
    assert demo.execute(
        select(AuditEvent.detail).where(AuditEvent.action == "verification.delivery_unknown")
    ).scalar_one()["challenge_id"] == result.challenge_id
    # The code that did arrive verifies.
    assert verify(demo, code_of(outbox.last()), at=NOW + timedelta(seconds=20)).ok


def test_after_an_unknown_delivery_the_merchant_may_ask_again_after_the_interval(demo: Session,
                                                                                  outbox: Outbox) -> None:
    class NeverArrived:
        def send(self, to: str, text: str) -> None:
            raise SmsDeliveryError("delivery unknown: HTTP 504", delivery_unknown=True)

    assert send(demo, gateway=NeverArrived()).delivery_unknown
    assert pending_purpose(demo, merchant(demo, "822100000000001"), CONVERSATION) is IDENTIFY  # "没收到": resend it
    assert send(demo, at=NOW + timedelta(seconds=60)).ok
    assert verify(demo, code_of(outbox.last()), at=NOW + timedelta(seconds=61)).ok


# --- verifying -----------------------------------------------------------------------------------


def test_code_is_valid_five_minutes_and_single_use(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    assert verify(demo, code, at=NOW + timedelta(minutes=4, seconds=59)).outcome is Outcome.OK
    assert verify(demo, code, at=NOW + timedelta(minutes=5)).outcome is Outcome.NO_CHALLENGE  # used


def test_code_expires_after_five_minutes(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    assert verify(demo, code, at=NOW + timedelta(minutes=5, seconds=1)).outcome is Outcome.EXPIRED


def test_full_width_code_is_accepted(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    full_width = "".join(chr(ord(digit) + 0xFEE0) for digit in code)
    assert verify(demo, full_width).ok


def test_nothing_sent_means_no_challenge(demo: Session) -> None:
    assert verify(demo, "123456").outcome is Outcome.NO_CHALLENGE


def test_text_that_is_not_a_code_is_not_counted(demo: Session, outbox: Outbox) -> None:
    send(demo)
    result = verify(demo, "abc")
    assert result.outcome is Outcome.WRONG_CODE and result.attempts_left == 5
    assert verify(demo, "12345").attempts_left == 5


# --- resending -----------------------------------------------------------------------------------


def test_pending_purpose_tells_what_to_resend(demo: Session, outbox: Outbox) -> None:
    owner = merchant(demo, "822100000000001")
    assert pending_purpose(demo, owner, CONVERSATION) is None
    send(demo)
    assert pending_purpose(demo, owner, CONVERSATION) is IDENTIFY
    assert verify(demo, code_of(outbox.last())).ok
    assert pending_purpose(demo, owner, CONVERSATION) is None
    send(demo, purpose=SIGN, change=NEW_CARD, at=NOW + timedelta(seconds=30))
    assert pending_purpose(demo, owner, CONVERSATION) is SIGN
    assert pending_purpose(demo, owner, "other") is None
