"""The authenticator app (bot.codes.authenticator): enrolment after a fresh enrolment code of the same
conversation, each code once, wrong codes towards the same lock-out, no signing in its first 24
hours. Time is injected."""
from __future__ import annotations

import logging
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.codes import (
    NotVerified, Outcome, authenticator_signs, confirm_enrolment, start_enrolment, totp_enabled, verify_signing_code,
    verify_totp,
)
from bot.db.models import AuditEvent, MerchantSecurity

from codes.helpers import CONVERSATION, ENROL, NEW_CARD, SIGN, SIX_DIGIT_RUN, code_of, enrol, send, verify, wrong
from domain_fixtures import NOW, Outbox, merchant


def test_enrolment_needs_a_fresh_enrolment_code_of_the_conversation(demo: Session, outbox: Outbox) -> None:
    owner = merchant(demo, "822100000000001")
    with pytest.raises(NotVerified):
        start_enrolment(demo, owner, conversation_id=CONVERSATION, now=NOW)
    send(demo)
    assert verify(demo, code_of(outbox.last())).ok
    with pytest.raises(NotVerified):  # identified, but no code was verified for the enrolment
        start_enrolment(demo, owner, conversation_id=CONVERSATION, now=NOW)
    at = NOW + timedelta(minutes=1)
    send(demo, purpose=ENROL, at=at)
    with pytest.raises(NotVerified):  # sent, not verified
        start_enrolment(demo, owner, conversation_id=CONVERSATION, now=at)
    assert verify(demo, code_of(outbox.last()), purpose=ENROL, at=at).ok
    with pytest.raises(NotVerified):  # another conversation
        start_enrolment(demo, owner, conversation_id="other", now=at)
    with pytest.raises(NotVerified):  # no longer fresh
        start_enrolment(demo, owner, conversation_id=CONVERSATION, now=at + timedelta(minutes=5, seconds=1))
    assert start_enrolment(demo, owner, conversation_id=CONVERSATION, now=at + timedelta(minutes=5)).secret


def test_enrolled_authenticator_signs_once_per_code(demo: Session, outbox: Outbox) -> None:
    secret = enrol(demo, outbox)
    owner = merchant(demo, "822100000000001")
    assert totp_enabled(demo, owner)
    notice = outbox.last()
    assert notice["to"] == "13800000001" and "已开启动态口令" in notice["text"]
    assert not SIX_DIGIT_RUN.search(notice["text"])
    stored = demo.execute(text("SELECT totp_secret FROM merchant_security")).scalar_one()
    assert secret not in stored  # encrypted at rest

    at = NOW + timedelta(minutes=2)
    code = pyotp.TOTP(secret).at(at)
    assert verify_totp(demo, owner, code, now=at).ok
    assert verify_totp(demo, owner, code, now=at).outcome is Outcome.EXPIRED  # used
    later = at + timedelta(seconds=30)
    assert verify_totp(demo, owner, pyotp.TOTP(secret).at(later), now=later).ok
    drift = later + timedelta(seconds=30)
    assert verify_totp(demo, owner, pyotp.TOTP(secret).at(drift + timedelta(seconds=30)), now=drift).ok


def test_a_second_enrolment_replaces_the_first(demo: Session, outbox: Outbox) -> None:
    first = enrol(demo, outbox)
    owner = merchant(demo, "822100000000001")
    at = NOW + timedelta(minutes=5)
    send(demo, purpose=ENROL, at=at)
    assert verify(demo, code_of(outbox.last()), purpose=ENROL, at=at).ok
    enrolment = start_enrolment(demo, owner, conversation_id=CONVERSATION, now=at)
    assert enrolment.replaces_existing and enrolment.secret != first
    assert enrolment.secret not in repr(enrolment)
    assert confirm_enrolment(demo, owner, pyotp.TOTP(enrolment.secret).at(at), now=at).ok
    later = at + timedelta(minutes=1)
    assert verify_totp(demo, owner, pyotp.TOTP(first).at(later), now=later).outcome is Outcome.WRONG_CODE
    assert verify_totp(demo, owner, pyotp.TOTP(enrolment.secret).at(later), now=later).ok
    actions = demo.execute(
        select(AuditEvent.action).where(AuditEvent.action.like("totp.%")).order_by(AuditEvent.id)
    ).scalars().all()
    assert actions == ["totp.enrolment_started", "totp.enabled"] * 2


def test_a_failed_enrolment_notice_does_not_undo_the_enrolment(demo: Session, outbox: Outbox,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def send(self, to: str, text: str) -> None:
            raise ConnectionError("provider down")

    send(demo, purpose=ENROL)
    assert verify(demo, code_of(outbox.last()), purpose=ENROL).ok
    owner = merchant(demo, "822100000000001")
    enrolment = start_enrolment(demo, owner, conversation_id=CONVERSATION, now=NOW)
    with caplog.at_level(logging.ERROR, logger="bot.codes"):
        assert confirm_enrolment(demo, owner, pyotp.TOTP(enrolment.secret).at(NOW), gateway=Broken(), now=NOW).ok
    assert totp_enabled(demo, owner)
    assert "enrolment notice to 138****0001 not sent" in caplog.text


def test_wrong_authenticator_codes_lock_too(demo: Session, outbox: Outbox) -> None:
    secret = enrol(demo, outbox)
    owner = merchant(demo, "822100000000001")
    at = NOW + timedelta(minutes=1)
    good = pyotp.TOTP(secret).at(at)
    results = [verify_totp(demo, owner, wrong(good), now=at) for _ in range(5)]
    assert [r.outcome for r in results] == [Outcome.WRONG_CODE] * 4 + [Outcome.LOCKED]
    assert verify_totp(demo, owner, good, now=at).outcome is Outcome.LOCKED
    state = demo.execute(select(MerchantSecurity)).scalar_one()
    assert state.locked_until == at + timedelta(minutes=30)


def test_authenticator_not_enabled_is_no_challenge(demo: Session) -> None:
    owner = merchant(demo, "822100000000001")
    assert not totp_enabled(demo, owner)
    assert verify_totp(demo, owner, "123456", now=NOW).outcome is Outcome.NO_CHALLENGE
    assert confirm_enrolment(demo, owner, "123456", now=NOW).outcome is Outcome.NO_CHALLENGE


def test_a_new_authenticator_does_not_sign_for_24_hours_the_sms_code_still_does(demo: Session,
                                                                                outbox: Outbox) -> None:
    secret = enrol(demo, outbox)
    owner = merchant(demo, "822100000000001")
    totp = pyotp.TOTP(secret)

    def sign(code: str, at):
        return verify_signing_code(demo, owner, code, conversation_id=CONVERSATION, change=NEW_CARD, now=at)

    soon = NOW + timedelta(hours=1)
    assert not authenticator_signs(demo, owner, soon)  # the bot asks for the SMS code only
    too_new = sign(totp.at(soon), soon)
    assert too_new.outcome is Outcome.AUTHENTICATOR_TOO_NEW and too_new.retry_after == 23 * 3600
    assert demo.execute(select(MerchantSecurity.wrong_codes)).scalar_one() == 0  # the right code: not counted
    assert sign(wrong(totp.at(soon)), soon).outcome is Outcome.NO_CHALLENGE  # a wrong one is, as ever
    assert demo.execute(select(MerchantSecurity.wrong_codes)).scalar_one() == 1
    send(demo, purpose=SIGN, change=NEW_CARD, at=soon)
    assert sign(code_of(outbox.last()), soon).ok

    day = NOW + timedelta(hours=24)
    assert authenticator_signs(demo, owner, day)
    assert sign(totp.at(day), day).ok
