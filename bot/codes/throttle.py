"""Sliding-window counts kept in the database: how many events of one kind a key had lately, and
how long until it may have another. The limits on who asks for codes (`request_limits`) and the
conversation lock-out after wrong identification codes (`lockout`) are built on it.

In the database (`CodeLimitEvent`), not in the process's memory: the action server may run
several workers and replicas, and a limit on SMS codes must hold across all of them (each code
costs money and reaches a real phone; `bot.ratelimit`, the channels' message limiter, may count per
process because a flood of messages costs nothing that lasts). The callers hold the merchant's
lock (`unit_of_work`) where a count must not race; elsewhere two concurrent requests may both pass
the last free place, which a limit of several an hour tolerates.

Keys are stored as their SHA-256: the table says how often, not who (an address, a conversation
id, a merchant number). Rows older than `RETENTION` go as new ones are written.

>>> Window(5, timedelta(hours=1))
Window(count=5, period=datetime.timedelta(seconds=3600))
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.codes.outcomes import seconds_until
from bot.db.models import CodeLimitEvent

__all__ = ["RETENTION", "Window", "digest", "wait", "record", "unrecord", "count", "last", "forget"]

# Longer than every window counted (a day at most): older events count for nothing.
RETENTION = timedelta(days=2)


@dataclass(frozen=True)
class Window:
    """At most `count` events in any `period`; a count of 0 switches the window off."""

    count: int
    period: timedelta


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _times(session: Session, kind: str, key: str, since: datetime) -> list[datetime]:
    return list(session.execute(
        select(CodeLimitEvent.occurred_at)
        .where(CodeLimitEvent.kind == kind, CodeLimitEvent.key_digest == digest(key),
               CodeLimitEvent.occurred_at > since)
        .order_by(CodeLimitEvent.occurred_at)
    ).scalars())


def wait(session: Session, kind: str, key: str, windows: Iterable[Window], now: datetime) -> int | None:
    """Seconds until `key` may have another `kind` event within every window, or None when it may now."""
    waits = []
    for window in windows:
        if window.count <= 0:
            continue
        times = _times(session, kind, key, now - window.period)
        if len(times) >= window.count:
            # Allowed again when the oldest of the last `count` events leaves the window.
            waits.append(seconds_until(times[len(times) - window.count] + window.period, now))
    return max(waits) if waits else None


def record(session: Session, kind: str, key: str, now: datetime) -> None:
    """Count one `kind` event of `key` (the caller commits); forget events older than `RETENTION`."""
    session.execute(delete(CodeLimitEvent).where(CodeLimitEvent.occurred_at < now - RETENTION))
    session.add(CodeLimitEvent(kind=kind, key_digest=digest(key), occurred_at=now))
    session.flush()


def unrecord(session: Session, kind: str, key: str, at: datetime) -> None:
    """Take back one `kind` event of `key` recorded at `at` (the caller commits)."""
    row = session.execute(
        select(CodeLimitEvent.id)
        .where(CodeLimitEvent.kind == kind, CodeLimitEvent.key_digest == digest(key), CodeLimitEvent.occurred_at == at)
        .order_by(CodeLimitEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    if row is not None:
        session.execute(delete(CodeLimitEvent).where(CodeLimitEvent.id == row))


def count(session: Session, kind: str, key: str, since: datetime) -> int:
    return session.execute(
        select(func.count(CodeLimitEvent.id))
        .where(CodeLimitEvent.kind == kind, CodeLimitEvent.key_digest == digest(key),
               CodeLimitEvent.occurred_at > since)
    ).scalar_one()


def last(session: Session, kind: str, key: str) -> datetime | None:
    """When `key` last had a `kind` event (within `RETENTION`), or None."""
    return session.execute(
        select(func.max(CodeLimitEvent.occurred_at))
        .where(CodeLimitEvent.kind == kind, CodeLimitEvent.key_digest == digest(key))
    ).scalar_one_or_none()


def forget(session: Session, kind: str, key: str) -> None:
    """Drop every `kind` event of `key` (a right code ends a run of wrong ones); the caller commits."""
    session.execute(delete(CodeLimitEvent).where(CodeLimitEvent.kind == kind, CodeLimitEvent.key_digest == digest(key)))
