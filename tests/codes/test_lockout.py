"""The lock-out (bot.codes.lockout): 5 wrong codes lock a merchant out of every code for 30
minutes, audited, per merchant; a resend does not buy more guesses. Time is injected."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes import Outcome, lock_remaining
from bot.db.models import AuditEvent

from codes.helpers import code_of, send, verify, wrong
from domain_fixtures import NOW, Outbox, merchant


def test_five_wrong_codes_lock_the_merchant_for_thirty_minutes(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    left = [verify(demo, wrong(code), at=NOW + timedelta(seconds=i)).attempts_left for i in range(4)]
    assert left == [4, 3, 2, 1]
    fifth = verify(demo, wrong(code), at=NOW + timedelta(seconds=10))
    assert fifth.outcome is Outcome.LOCKED and fifth.retry_after == 30 * 60

    locked_at = NOW + timedelta(seconds=10)
    later = locked_at + timedelta(minutes=10)
    again = verify(demo, code, at=later)  # even the right code
    assert again.outcome is Outcome.LOCKED and again.retry_after == 20 * 60
    assert send(demo, at=later).outcome is Outcome.LOCKED
    assert lock_remaining(demo, merchant(demo, "822100000000001"), later) == 20 * 60

    events = demo.execute(select(AuditEvent).where(AuditEvent.action == "verification.locked")).scalars().all()
    assert len(events) == 1
    assert events[0].merchant.merchant_number == "822100000000001"
    assert events[0].detail["attempts"] == 5 and events[0].detail["method"] == "sms"

    unlocked = locked_at + timedelta(minutes=30)
    assert verify(demo, code, at=unlocked).outcome is Outcome.NO_CHALLENGE  # that challenge is void
    assert send(demo, at=unlocked).ok
    assert verify(demo, code_of(outbox.last()), at=unlocked).ok


def test_not_locked_is_none(demo: Session) -> None:
    assert lock_remaining(demo, merchant(demo, "822100000000001"), NOW) is None


def test_lock_is_per_merchant(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    for i in range(5):
        verify(demo, wrong(code), at=NOW + timedelta(seconds=i))
    assert send(demo, "822100000000006").ok


