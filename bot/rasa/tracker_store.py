"""Rasa's SQL tracker store with every event encrypted at rest.

Conversations hold what merchants type, card and ID numbers included, and the slots filled from
them. Rasa's `SQLTrackerStore` keeps each event as plain JSON; this subclass maps the same `events`
table with the `data` column encrypted by the application key (`bot.db.crypto`). Everything else,
SQLite or PostgreSQL included, is Rasa's own code.

Configure it in endpoints.yml:  tracker_store: {type: bot.rasa.tracker_store.EncryptedSQLTrackerStore, ...}
"""
from __future__ import annotations

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, _create_sequence
from sqlalchemy.orm import declarative_base

from bot.db.crypto import EncryptedString


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
