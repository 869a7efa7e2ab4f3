"""Sliding windows kept in the database (bot.codes.throttle): counted per kind and key, only a digest
of the key stored, old rows dropped, the same count seen from another session. Time is injected."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.codes import throttle
from bot.codes.throttle import Window
from bot.db.models import CodeLimitEvent

from domain_fixtures import NOW

HOURLY = Window(3, timedelta(hours=1))


def test_a_key_waits_until_its_oldest_event_leaves_the_window(session: Session) -> None:
    for minute in (0, 10, 20):
        assert throttle.wait(session, "request:ip", "203.0.113.7", [HOURLY], NOW + timedelta(minutes=minute)) is None
        throttle.record(session, "request:ip", "203.0.113.7", NOW + timedelta(minutes=minute))
    assert throttle.wait(session, "request:ip", "203.0.113.7", [HOURLY], NOW + timedelta(minutes=30)) == 30 * 60
    assert throttle.wait(session, "request:ip", "203.0.113.8", [HOURLY], NOW) is None  # another key
    assert throttle.wait(session, "request:conversation", "203.0.113.7", [HOURLY], NOW) is None  # another kind
    assert throttle.wait(session, "request:ip", "203.0.113.7", [HOURLY], NOW + timedelta(hours=1)) is None
    assert throttle.wait(session, "request:ip", "203.0.113.7", [Window(0, timedelta(hours=1))], NOW) is None  # off


def test_only_a_digest_of_the_key_is_stored(session: Session) -> None:
    throttle.record(session, "request:number", "822100000000001", NOW)
    session.commit()
    rows = session.execute(text("SELECT kind, key_digest FROM code_limit_events")).all()
    assert rows == [("request:number", throttle.digest("822100000000001"))]
    assert "822100000000001" not in str(rows)


def test_count_last_and_forget(session: Session) -> None:
    for second in (0, 30, 60):
        throttle.record(session, "wrong_code:conversation", "conv-1", NOW + timedelta(seconds=second))
    assert throttle.count(session, "wrong_code:conversation", "conv-1", NOW + timedelta(seconds=10)) == 2
    assert throttle.last(session, "wrong_code:conversation", "conv-1") == NOW + timedelta(seconds=60)
    throttle.forget(session, "wrong_code:conversation", "conv-1")
    assert throttle.last(session, "wrong_code:conversation", "conv-1") is None


def test_rows_older_than_the_retention_go(session: Session) -> None:
    throttle.record(session, "request:ip", "a", NOW)
    throttle.record(session, "request:ip", "b", NOW + throttle.RETENTION + timedelta(seconds=1))
    session.commit()
    assert session.execute(select(CodeLimitEvent.key_digest)).scalars().all() == [throttle.digest("b")]


def test_counts_hold_across_sessions(session: Session, engine) -> None:
    from bot.db.engine import session_factory

    for minute in range(3):
        throttle.record(session, "request:ip", "a", NOW + timedelta(minutes=minute))
    session.commit()
    with session_factory(engine)() as other:
        assert throttle.wait(other, "request:ip", "a", [HOURLY], NOW + timedelta(minutes=5)) == 55 * 60
