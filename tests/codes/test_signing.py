"""Signing a change (bot.codes.signing): the SMS signing code, or the authenticator's code for
merchants who enabled one; a wrong code costs one attempt whichever was meant. Time is injected."""
from __future__ import annotations

from datetime import timedelta

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes import Outcome, verify_signing_code
from bot.db.models import AuditEvent

from codes.helpers import CONVERSATION, NEW_CARD, SIGN, code_of, enrol, send
from domain_fixtures import NOW, Outbox, merchant


def test_a_change_is_signed_with_the_sms_code_or_the_authenticator(demo: Session, outbox: Outbox) -> None:
    secret = enrol(demo, outbox, at=NOW - timedelta(days=1))  # a day old: it may sign
    owner = merchant(demo, "822100000000001")
    at = NOW + timedelta(minutes=2)
    send(demo, purpose=SIGN, change=NEW_CARD, at=at)
    sms_code = code_of(outbox.last())

    def sign(code: str, when=at):
        return verify_signing_code(demo, owner, code, conversation_id=CONVERSATION, change=NEW_CARD, now=when)

    app_code = pyotp.TOTP(secret).at(at)
    assert sign(app_code).ok
    assert sign(app_code).outcome is Outcome.WRONG_CODE  # used once: now judged as an SMS code, and wrong
    assert sign(sms_code).ok  # the SMS code still works, once
    assert sign(sms_code).outcome is Outcome.NO_CHALLENGE
    methods = demo.execute(select(AuditEvent.detail).where(AuditEvent.action == "verification.verified")).scalars()
    assert [detail["method"] for detail in methods][-2:] == ["totp", "sms"]


def test_without_an_authenticator_only_the_sms_code_signs(demo: Session, outbox: Outbox) -> None:
    owner = merchant(demo, "822100000000001")
    send(demo, purpose=SIGN, change=NEW_CARD)
    result = verify_signing_code(demo, owner, "000000", conversation_id=CONVERSATION, change=NEW_CARD, now=NOW)
    assert result.outcome is Outcome.WRONG_CODE and result.attempts_left == 4
