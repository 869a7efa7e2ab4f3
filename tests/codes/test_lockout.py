"""The lock-outs (bot.codes.lockout): 5 wrong signing codes lock a merchant out of every code for
30 minutes, 5 wrong identification codes the conversation that typed them; audited; a resend does
not buy more guesses. Time is injected."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes import Outcome, lock_remaining
from bot.db.models import AuditEvent

from codes.helpers import code_of, send, verify, wrong
from domain_fixtures import NOW, Outbox, merchant


def test_five_wrong_identification_codes_lock_the_conversation_not_the_merchant(demo: Session,
                                                                                 outbox: Outbox) -> None:
    # Anyone who types a merchant number can ask for an identification code: five wrong guesses
    # must not lock the merchant out at will (issue 12, finding 4). They lock the conversation.
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
    assert send(demo, "822100000000006", at=later).outcome is Outcome.LOCKED  # nor any other number

    assert lock_remaining(demo, merchant(demo, "822100000000001"), later) is None  # the merchant is not locked
    assert send(demo, at=later, conversation="the-merchant").ok
    assert verify(demo, code_of(outbox.last()), at=later, conversation="the-merchant").ok

    events = demo.execute(select(AuditEvent).where(AuditEvent.action == "verification.conversation_locked")).scalars().all()
    assert len(events) == 1
    assert events[0].merchant.merchant_number == "822100000000001"
    assert events[0].detail["attempts"] == 5 and events[0].detail["conversation_id"] == "conv-1"
    assert not demo.execute(select(AuditEvent).where(AuditEvent.action == "verification.locked")).first()

    unlocked = locked_at + timedelta(minutes=30)
    assert verify(demo, code, at=unlocked).outcome is Outcome.NO_CHALLENGE  # that challenge is void
    assert send(demo, at=unlocked).ok
    assert verify(demo, code_of(outbox.last()), at=unlocked).ok


def test_wrong_identification_codes_count_live_or_not(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    expired = NOW + timedelta(minutes=6)
    assert [verify(demo, wrong(code), at=expired).outcome for _ in range(5)] == [Outcome.EXPIRED] * 4 + [Outcome.LOCKED]


def test_a_right_code_clears_the_conversations_count(demo: Session, outbox: Outbox) -> None:
    send(demo)
    code = code_of(outbox.last())
    for _ in range(4):
        verify(demo, wrong(code))
    assert verify(demo, code).ok
    send(demo, at=NOW + timedelta(minutes=2))
    assert verify(demo, wrong(code_of(outbox.last())), at=NOW + timedelta(minutes=2)).attempts_left == 4


def test_not_locked_is_none(demo: Session) -> None:
    assert lock_remaining(demo, merchant(demo, "822100000000001"), NOW) is None


def test_lock_is_per_merchant(demo: Session, outbox: Outbox) -> None:
    from codes.helpers import NEW_CARD, SIGN

    send(demo, purpose=SIGN, change=NEW_CARD)  # a signing code: only an identified conversation gets one
    code = code_of(outbox.last())
    for i in range(5):
        verify(demo, wrong(code), purpose=SIGN, change=NEW_CARD, at=NOW + timedelta(seconds=i))
    assert lock_remaining(demo, merchant(demo, "822100000000001"), NOW + timedelta(seconds=5)) == 30 * 60 - 1
    assert send(demo, at=NOW + timedelta(seconds=5)).outcome is Outcome.LOCKED
    assert send(demo, "822100000000006", at=NOW + timedelta(seconds=5)).ok


