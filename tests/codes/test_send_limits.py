"""How often a phone may get a code (bot.codes.send_limits): 60 s between sends of one purpose,
5 an hour and 10 a day per phone and budget (identification, signing), rolling windows, across sessions. Time is injected: nothing sleeps."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from bot.codes import Outcome

from codes.helpers import ENROL, IDENTIFY, NEW_CARD, SIGN, code_of, send, verify
from domain_fixtures import NOW, Outbox


def test_resend_within_sixty_seconds_is_refused_with_the_wait(demo: Session, outbox: Outbox) -> None:
    assert send(demo).ok
    first = code_of(outbox.last())
    too_soon = send(demo, at=NOW + timedelta(seconds=45))
    assert too_soon.outcome is Outcome.TOO_SOON and too_soon.retry_after == 15
    assert len(outbox.messages()) == 1
    assert send(demo, at=NOW + timedelta(seconds=60)).ok
    second = code_of(outbox.last())
    at = NOW + timedelta(seconds=61)
    if first != second:  # only the latest code counts
        assert verify(demo, first, at=at).outcome is Outcome.WRONG_CODE
    assert verify(demo, second, at=at).ok


def test_signing_code_may_follow_identification_within_a_minute(demo: Session, outbox: Outbox) -> None:
    assert send(demo).ok
    assert send(demo, purpose=SIGN, change=NEW_CARD, at=NOW + timedelta(seconds=20)).ok


def test_at_most_five_sends_an_hour(demo: Session, outbox: Outbox) -> None:
    times = [NOW + timedelta(seconds=61 * i) for i in range(5)]
    assert all(send(demo, at=at).ok for at in times)
    sixth = send(demo, at=NOW + timedelta(seconds=61 * 5))
    assert sixth.outcome is Outcome.RATE_LIMITED
    assert sixth.retry_after == 3600 - 61 * 5
    assert send(demo, at=NOW + timedelta(seconds=3600 + 1)).ok
    assert len(outbox.messages()) == 6


def test_identification_and_signing_codes_have_separate_budgets(demo: Session, outbox: Outbox) -> None:
    # Anyone who types the merchant number can ask for identification codes: 10 of them must not
    # use up the signing codes of the merchant (issue 12, finding 4).
    times = [NOW + timedelta(minutes=61 * i) for i in range(10)]
    assert all(send(demo, at=at).ok for at in times)
    after = NOW + timedelta(minutes=61 * 10)
    assert send(demo, at=after).outcome is Outcome.RATE_LIMITED
    assert send(demo, purpose=SIGN, change=NEW_CARD, at=after).ok
    # ... and the other way round, hour by hour.
    for i in range(1, 5):
        assert send(demo, purpose=SIGN, change=NEW_CARD, at=after + timedelta(seconds=61 * i)).ok
    assert send(demo, purpose=SIGN, change=NEW_CARD, at=after + timedelta(minutes=10)).outcome is Outcome.RATE_LIMITED


def test_enrolment_codes_share_the_identification_budget(demo: Session, outbox: Outbox) -> None:
    for i in range(5):
        purpose = IDENTIFY if i % 2 else ENROL
        assert send(demo, purpose=purpose, at=NOW + timedelta(seconds=61 * i)).ok
    assert send(demo, at=NOW + timedelta(minutes=10)).outcome is Outcome.RATE_LIMITED
    assert send(demo, purpose=SIGN, change=NEW_CARD, at=NOW + timedelta(minutes=10)).ok


def test_at_most_ten_sends_a_day(demo: Session, outbox: Outbox) -> None:
    times = [NOW + timedelta(minutes=61 * i) for i in range(10)]
    assert all(send(demo, at=at).ok for at in times)
    eleventh = send(demo, at=NOW + timedelta(minutes=61 * 10))
    assert eleventh.outcome is Outcome.RATE_LIMITED
    assert eleventh.retry_after == 24 * 3600 - 61 * 10 * 60
    assert send(demo, at=NOW + timedelta(days=1, seconds=1)).ok


def test_limits_hold_across_sessions(demo: Session, engine, outbox: Outbox) -> None:
    from bot.db.engine import session_factory

    send(demo)
    with session_factory(engine)() as other:
        assert send(other, at=NOW + timedelta(seconds=5)).outcome is Outcome.TOO_SOON
        code = code_of(outbox.last())
        assert verify(other, code).ok
    assert verify(demo, code).outcome is Outcome.NO_CHALLENGE
