"""Serialising the writes that concern one merchant (codes, lock-out, filing) across processes.

`lock_merchant` starts the write transaction by touching the merchant's row. On PostgreSQL that
takes the row lock until commit; on SQLite it takes the database write lock (pysqlite begins the
transaction at the first write, so the statement starts with a fresh snapshot and waits for the
busy timeout instead of failing). Either way, a second process doing the same for the same
merchant waits, then reads what the first one committed: check-then-write sequences (rate limits,
wrong-code counters, "no open request") stay correct with several action servers.

Callers commit or roll back soon after: SQLite holds one write lock for the whole database.
"""
from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.db.models import Merchant

_merchants = Merchant.__table__


def lock_merchant(session: Session, merchant_id: int) -> None:
    """Hold the write lock on merchant `merchant_id` until the session's transaction ends."""
    with session.no_autoflush:
        session.execute(
            update(_merchants).where(_merchants.c.id == merchant_id).values(id=_merchants.c.id)
        )
