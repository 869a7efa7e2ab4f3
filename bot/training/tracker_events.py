"""Read conversations back from Rasa's SQL tracker store, without Rasa.

The assistant keeps every event in the tracker store's `events` table (bot/rasa/tracker_store.py:
Rasa's own schema, the `data` column encrypted with the application key). Trainer tools only read
it: this module maps the same table with SQLAlchemy Core and yields the decrypted event dicts, in
the order Rasa wrote them.

Where the tracker store is: `TRACKER_DATABASE_URL`, else the SQLite file endpoints.yml names
(`$BOT_VAR_DIR/rasa_tracker.db`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterator

import sqlalchemy as sa

from bot import settings
from bot.db.crypto import EncryptedString
from bot.db.engine import make_engine, sqlite_path

_metadata = sa.MetaData()
# Rasa's `events` table, as bot/rasa/tracker_store.py maps it (only the columns we read).
events_table = sa.Table(
    "events",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("type_name", sa.String(255)),
    sa.Column("timestamp", sa.Float),
    sa.Column("data", EncryptedString),
)


def tracker_database_url() -> str:
    return os.environ.get("TRACKER_DATABASE_URL") or f"sqlite:///{settings.var_dir() / 'rasa_tracker.db'}"


@dataclass(frozen=True)
class StoredEvent:
    conversation_id: str  # Rasa's sender_id
    type_name: str  # "user", "bot", "action", "slot", "active_loop", ...
    timestamp: float
    data: dict[str, Any]  # the event as Rasa serialised it (Event.as_dict())


def _missing(url: str) -> bool:
    """A SQLite tracker store that was never written (no conversation yet): nothing to read, and
    reading must not create the file."""
    path = sqlite_path(url)
    return path is not None and not path.exists()


def read_events(
    url: str | None = None,
    conversation_id: str | None = None,
    since: float | None = None,
) -> Iterator[StoredEvent]:
    """Every stored event (of one conversation, or since a Unix time), oldest first per conversation.

    A missing tracker database (no conversation yet) yields nothing."""
    url = url or tracker_database_url()
    if _missing(url):
        return
    engine = make_engine(url)
    try:
        if not sa.inspect(engine).has_table("events"):
            return
        query = sa.select(events_table).order_by(events_table.c.sender_id, events_table.c.id)
        if conversation_id is not None:
            query = query.where(events_table.c.sender_id == conversation_id)
        if since is not None:
            query = query.where(events_table.c.timestamp >= since)
        with engine.connect() as connection:
            for row in connection.execute(query):
                yield StoredEvent(row.sender_id, row.type_name, row.timestamp or 0.0, json.loads(row.data))
    finally:
        engine.dispose()


def conversation_ids(url: str | None = None) -> list[str]:
    """Every conversation in the tracker store."""
    url = url or tracker_database_url()
    if _missing(url):
        return []
    engine = make_engine(url)
    try:
        if not sa.inspect(engine).has_table("events"):
            return []
        with engine.connect() as connection:
            return list(connection.execute(sa.select(events_table.c.sender_id).distinct()).scalars())
    finally:
        engine.dispose()
