"""Every wrong code counts (issue 12, finding 2): at the signing step a wrong code costs one attempt
whether the merchant meant the SMS code or the authenticator's, and whether or not an SMS code is
live; 5 wrong entries in a row, any mix, lock the merchant out for 30 minutes. Time is injected."""
from __future__ import annotations

from datetime import timedelta

import pyotp
from sqlalchemy.orm import Session

from bot.codes import Outcome, verify_signing_code, verify_totp

from codes.helpers import CONVERSATION, NEW_CARD, SIGN, code_of, enrol, send, wrong
from domain_fixtures import NOW, Outbox, merchant

# The authenticator was enrolled two days before: old enough to sign (a new one may not, for 24 hours).
ENROLLED = NOW - timedelta(days=2)


def sign(session: Session, code: str, at=NOW):
    return verify_signing_code(session, merchant(session, "822100000000001"), code, conversation_id=CONVERSATION,
                               change=NEW_CARD, now=at)


def test_guessing_the_authenticator_after_the_sms_code_expired_locks_the_merchant(demo: Session,
                                                                                  outbox: Outbox) -> None:
    # The review's finding: 2,000 wrong codes left the counter at 0, then the right one was accepted.
    secret = enrol(demo, outbox, at=ENROLLED)
    send(demo, purpose=SIGN, change=NEW_CARD)
    expired = NOW + timedelta(minutes=6)
    right = pyotp.TOTP(secret).at(expired)
    outcomes = [sign(demo, wrong(right), at=expired).outcome for _ in range(5)]
    assert outcomes[:4] == [Outcome.EXPIRED] * 4  # what the merchant is told, and each one counted
    assert outcomes[4] is Outcome.LOCKED
    assert sign(demo, right, at=expired).outcome is Outcome.LOCKED
    assert sign(demo, right, at=expired + timedelta(minutes=29)).outcome is Outcome.LOCKED


def test_without_any_sms_code_wrong_authenticator_codes_count(demo: Session, outbox: Outbox) -> None:
    secret = enrol(demo, outbox, at=ENROLLED)
    right = pyotp.TOTP(secret).at(NOW)
    results = [sign(demo, wrong(right)) for _ in range(5)]
    assert [r.outcome for r in results] == [Outcome.NO_CHALLENGE] * 4 + [Outcome.LOCKED]
    assert sign(demo, right).outcome is Outcome.LOCKED


def test_wrong_entries_of_every_kind_add_up(demo: Session, outbox: Outbox) -> None:
    secret = enrol(demo, outbox, at=ENROLLED)
    owner = merchant(demo, "822100000000001")
    totp = pyotp.TOTP(secret)
    assert verify_totp(demo, owner, wrong(totp.at(NOW)), now=NOW).attempts_left == 4  # the app's code alone
    send(demo, purpose=SIGN, change=NEW_CARD)
    sms = code_of(outbox.last())
    assert sign(demo, wrong(sms)).attempts_left == 3  # a live SMS code, wrong
    assert sign(demo, wrong(sms)).attempts_left == 2
    later = NOW + timedelta(minutes=6)  # the SMS code expired
    assert sign(demo, wrong(totp.at(later)), at=later).outcome is Outcome.EXPIRED
    assert sign(demo, wrong(totp.at(later)), at=later).outcome is Outcome.LOCKED
    assert sign(demo, totp.at(later), at=later).outcome is Outcome.LOCKED


def test_a_right_code_clears_the_count(demo: Session, outbox: Outbox) -> None:
    secret = enrol(demo, outbox, at=ENROLLED)
    totp = pyotp.TOTP(secret)
    for _ in range(4):
        sign(demo, wrong(totp.at(NOW)))
    assert sign(demo, totp.at(NOW)).ok
    later = NOW + timedelta(seconds=30)
    assert sign(demo, wrong(totp.at(later)), at=later).outcome is Outcome.NO_CHALLENGE  # counted: 1 of 5
    assert sign(demo, totp.at(later), at=later).ok


def test_text_that_is_not_a_code_costs_nothing(demo: Session, outbox: Outbox) -> None:
    enrol(demo, outbox, at=ENROLLED)
    for _ in range(10):
        assert sign(demo, "12345").outcome is Outcome.NO_CHALLENGE
    send(demo, purpose=SIGN, change=NEW_CARD)
    assert sign(demo, "一二三").attempts_left == 5

