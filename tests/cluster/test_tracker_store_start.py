"""The encrypted tracker store started while its database is not there yet
(bot/rasa/tracker_store.py): it waits and creates the `events` table once the database answers,
where Rasa's own store logs the failure and goes on without the table (every turn then fails, even
after the database is back). SQLite stands for the database: it cannot open a file in a folder that
does not exist yet, as PostgreSQL refuses connections while it restarts."""
from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa.tracker_store import EncryptedSQLTrackerStore
from bot.settings import PROJECT_ROOT

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))


def test_a_store_started_before_its_database_creates_the_table_once_the_database_answers(
        tmp_path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "database-not-there-yet"
    monkeypatch.setattr(EncryptedSQLTrackerStore, "TABLE_RETRY_S", 0.2)
    database_comes = threading.Timer(1.0, folder.mkdir)
    database_comes.start()
    with caplog.at_level(logging.WARNING, logger="bot.rasa.tracker_store"):
        store = EncryptedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(folder / "tracker.db"))
    database_comes.join()

    tracker = DialogueStateTracker("rest:late", slots=DOMAIN.slots)
    for event in (ActionExecuted("action_listen"), UserUttered("审核要几天", {"name": "faq", "confidence": 0.9})):
        tracker.update(event)
    asyncio.run(store.save(tracker))
    saved = asyncio.run(store.retrieve("rest:late"))
    assert [event.text for event in saved.events if isinstance(event, UserUttered)] == ["审核要几天"]
    assert any("table is not there yet" in record.getMessage() for record in caplog.records)
    store.engine.dispose()
