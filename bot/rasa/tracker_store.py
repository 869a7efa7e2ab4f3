"""Rasa's SQL tracker store with every event encrypted at rest.

Conversations hold what merchants type, card and ID numbers included, and the slots filled from
them. Rasa's `SQLTrackerStore` keeps each event as plain JSON; this subclass maps the same `events`
table with the `data` column encrypted by the application key (`bot.db.crypto`). Reading and
writing, SQLite or PostgreSQL, is Rasa's own code.

When the database fails (PostgreSQL restarting, unreachable), the turn fails and the channel
apologises (`utter_technical_problem`); the merchant says it again once the database is back. Rasa
itself would go on without it: the agent's `FailSafeTrackerStore` answers a failed read with no
tracker (the turn then runs on a new, empty conversation: "我没有理解" in the middle of a form) and
keeps a failed save in process memory (the merchant gets a real answer the database never sees:
lost when they say the next thing, or when the next turn lands on another replica). So the agent
wraps this store in `_FailTheTurn` instead, which raises `TrackerStoreUnavailable`. Pooled
connections are pinged before use, so the first turns after a PostgreSQL restart do not fail on
connections the restart closed. A store started while its database is down waits for it to create
the `events` table (Rasa logs that failure and goes on without the table).

Configure it in endpoints.yml:  tracker_store: {type: bot.rasa.tracker_store.EncryptedSQLTrackerStore, ...}
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

import rasa.core.agent
import sqlalchemy as sa
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    SQLTrackerStore,
    TrackerStore,
    _create_sequence,
    create_engine_kwargs,
)
from sqlalchemy.orm import declarative_base, sessionmaker

from bot.db.crypto import EncryptedString

logger = logging.getLogger(__name__)


class TrackerStoreUnavailable(RuntimeError):
    """The conversation could not be read or saved: the turn fails, nothing is kept elsewhere."""


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` whose event payloads are Fernet tokens instead of JSON text."""

    Base = declarative_base()

    class SQLEvent(Base):  # type: ignore[valid-type, misc]
        __tablename__ = "events"

        id = sa.Column(sa.Integer, _create_sequence(__tablename__), primary_key=True)
        sender_id = sa.Column(sa.String(255), nullable=False, index=True)
        type_name = sa.Column(sa.String(255), nullable=False)
        timestamp = sa.Column(sa.Float)
        intent_name = sa.Column(sa.String(255))
        action_name = sa.Column(sa.String(255))
        data = sa.Column(EncryptedString)

    TABLE_RETRY_S = 2.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # waits for the database and tries to create the table
        # Rasa's engine does not ping: after a PostgreSQL restart every pooled connection is dead
        # and the first turn on each would fail. The same URL and pool settings, pinged.
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
        self.sessionmaker = sessionmaker(bind=self.engine)
        self._create_table()

    def _create_table(self) -> None:
        """Rasa logs a CREATE TABLE that fails and goes on (replicas starting together may create
        it at the same moment). A replica started while PostgreSQL was down (restarting, not up
        yet) would then fail every turn on a table that never comes, even once the database is
        back (seen in `make bench`). So: until the table is there, try again every TABLE_RETRY_S."""
        while True:
            try:
                self.Base.metadata.create_all(self.engine)  # only what is missing
                return
            except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError) as error:
                # the database does not answer; or another replica created the table meanwhile
                cause = getattr(error, "orig", None) or error
                logger.warning("the tracker store's table is not there yet (%s: %s); trying again in %g s",
                               type(cause).__name__, (str(cause).strip().splitlines() or [""])[0],
                               self.TABLE_RETRY_S)
                time.sleep(self.TABLE_RETRY_S)


def _fail_the_turn(error: Exception) -> None:
    """`FailSafeTrackerStore`'s callback: no fallback, the error ends the turn. The database's own
    message is logged (not SQLAlchemy's, which may quote the statement's parameters)."""
    cause = getattr(error, "orig", None) or error
    logger.error("the tracker store failed, the turn fails: %s: %s", type(cause).__name__,
                 str(cause).strip().splitlines()[0] if str(cause).strip() else "")
    raise TrackerStoreUnavailable(type(cause).__name__) from error


class _FailTheTurn(FailSafeTrackerStore):
    """What Rasa's agent wraps its tracker store in: for this module's store, errors fail the turn
    instead of falling back to memory; any other store keeps Rasa's behaviour."""

    def __init__(self, tracker_store: TrackerStore,
                 on_tracker_store_error: Optional[Callable[[Exception], None]] = None,
                 fallback_tracker_store: Optional[TrackerStore] = None) -> None:
        if isinstance(tracker_store, EncryptedSQLTrackerStore) and on_tracker_store_error is None:
            on_tracker_store_error = _fail_the_turn
        super().__init__(tracker_store, on_tracker_store_error, fallback_tracker_store)


# Rasa imports this module (endpoints.yml names the store) before it builds the agent, whose
# `_create_tracker_store` wraps the store in `rasa.core.agent.FailSafeTrackerStore`.
rasa.core.agent.FailSafeTrackerStore = _FailTheTurn
