"""How the code functions use the database: each call is one unit of work, serialised per merchant.

Every public function of `bot.codes` commits (or rolls back) the session it is given before it
returns, so a wrong entry counts even when the caller fails afterwards: pass a session without
other pending writes. Writes for one merchant are serialised across processes
(`bot.db.locks.lock_merchant`), so the check-then-write sequences (lock-out, resend interval,
limits, wrong-entry counters) hold with several action servers. SMS go out after the commit.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from bot.db.locks import lock_merchant

__all__ = ["merchant_transaction", "rolled_back_on_error"]


@contextmanager
def rolled_back_on_error(session: Session) -> Iterator[None]:
    """Roll the session back when the block raises (anything, even KeyboardInterrupt): a failed
    call must not leave half its writes pending in the caller's session."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise


@contextmanager
def merchant_transaction(session: Session, merchant_id: int) -> Iterator[None]:
    """Hold merchant `merchant_id`'s write lock for the block's transaction, which the block ends
    with a commit or a rollback; rolled back when it raises."""
    with rolled_back_on_error(session):
        lock_merchant(session, merchant_id)
        yield
