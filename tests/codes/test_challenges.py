"""Challenges (bot.codes.challenges): one code per challenge, bound to its conversation, purpose
and change details, compared in constant time; a resend carries the wrong entries over."""
from __future__ import annotations

import hmac
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.change_requests.filing import ChangeDetails
from bot.codes import Outcome
from bot.codes.challenges import context_digest, hotp_code, new_secret
from bot.db.models import VerificationChallenge

from codes.helpers import CONVERSATION, IDENTIFY, NEW_CARD, SIGN, code_of, send, verify, wrong
from domain_fixtures import NOW, Outbox


def test_each_challenge_has_its_own_secret_and_code(demo: Session, outbox: Outbox) -> None:
    send(demo)
    send(demo, "822100000000006")
    first, second = demo.execute(select(VerificationChallenge).order_by(VerificationChallenge.id)).scalars()
    assert first.secret != second.secret
    assert hotp_code(first.secret) == code_of(outbox.messages()[0])
    assert hotp_code(second.secret) == code_of(outbox.messages()[1])


def test_the_binding_names_no_detail_and_depends_on_the_secret() -> None:
    secret, other = new_secret(), new_secret()
    digest = context_digest(secret, SIGN, CONVERSATION, NEW_CARD)
    assert len(digest) == 64 and NEW_CARD.last4 not in digest
    assert digest != context_digest(other, SIGN, CONVERSATION, NEW_CARD)  # nothing to look up across challenges
    assert digest != context_digest(secret, SIGN, "conv-2", NEW_CARD)
    assert context_digest(secret, IDENTIFY, CONVERSATION, None) != context_digest(secret, SIGN, CONVERSATION, None)


def test_resend_keeps_the_wrong_entries(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    for i in range(3):
        verify(demo, wrong(code), at=NOW + timedelta(seconds=i))
    send(demo, at=NOW + timedelta(seconds=60))
    code = code_of(outbox.last())
    assert verify(demo, wrong(code), at=NOW + timedelta(seconds=61)).attempts_left == 1


def test_codes_are_compared_in_constant_time(demo: Session, outbox: Outbox, monkeypatch) -> None:
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    send(demo)
    code = code_of(outbox.last())
    assert verify(demo, wrong(code)).outcome is Outcome.WRONG_CODE
    assert verify(demo, code).ok
    assert (code, wrong(code)) in calls and (code, code) in calls


def test_a_code_works_only_in_its_conversation_and_for_its_purpose(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    assert verify(demo, code, conversation="someone-else").outcome is Outcome.NO_CHALLENGE
    assert verify(demo, code, purpose=SIGN, change=NEW_CARD).outcome is Outcome.NO_CHALLENGE
    assert verify(demo, code).ok


def test_signing_code_is_void_once_a_detail_is_corrected(demo: Session, outbox: Outbox) -> None:
    send(demo, purpose=SIGN, change=NEW_CARD)
    code = code_of(outbox.last())
    corrected = ChangeDetails(**{**NEW_CARD.__dict__, "account_number": "6222021000000000215"})
    assert verify(demo, code, purpose=SIGN, change=corrected).outcome is Outcome.NO_CHALLENGE
    assert verify(demo, code, purpose=SIGN, change=NEW_CARD).ok
