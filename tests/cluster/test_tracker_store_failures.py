"""The encrypted tracker store when its database fails (bot/rasa/tracker_store.py): in the agent
Rasa builds, a read or a save that fails raises TrackerStoreUnavailable (the channel apologises)
instead of going on with an empty conversation or keeping the turn in process memory; other stores
keep Rasa's fallback. Connections PostgreSQL closed (a restart) are replaced before use, so the next
turn works. The PostgreSQL test runs when TEST_POSTGRES_URL names a database (CI sets it); the
whole restart, under load, is tests/cluster/test_cluster_failures.py's."""
from __future__ import annotations

import asyncio
import secrets

import pytest
import sqlalchemy as sa
from postgres_schema import POSTGRES_URL, postgres_schema_url
from rasa.core.agent import Agent
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from bot.rasa.tracker_store import EncryptedSQLTrackerStore, TrackerStoreUnavailable
from bot.settings import PROJECT_ROOT

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))


def _conversation(sender: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, slots=DOMAIN.slots)
    for event in (ActionExecuted("action_listen"), UserUttered("审核要几天", {"name": "faq", "confidence": 0.9})):
        tracker.update(event)
    return tracker


def test_a_failed_read_or_save_fails_the_turn_instead_of_an_empty_or_in_memory_conversation(var_dir):
    store = EncryptedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(var_dir / "tracker.db"))
    agent = Agent(domain=DOMAIN, tracker_store=store)  # wraps the store as a Rasa server does
    asyncio.run(agent.tracker_store.save(_conversation("rest:kept")))
    with store.engine.begin() as connection:  # the database fails under the store
        connection.exec_driver_sql("DROP TABLE events")

    with pytest.raises(TrackerStoreUnavailable):
        asyncio.run(agent.tracker_store.get_or_create_tracker("rest:kept"))  # Rasa: a new, empty one
    with pytest.raises(TrackerStoreUnavailable):
        asyncio.run(agent.tracker_store.save(_conversation("rest:new")))  # Rasa: kept in memory


def test_other_tracker_stores_keep_rasas_fallback():
    class Failing(InMemoryTrackerStore):
        async def retrieve(self, sender_id):
            raise ConnectionError("down")

    agent = Agent(domain=DOMAIN, tracker_store=Failing(DOMAIN))
    assert asyncio.run(agent.tracker_store.get_or_create_tracker("rest:x")).sender_id == "rest:x"


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set (PostgreSQL tests need a database)")
def test_connections_postgres_closed_are_replaced_before_the_next_turn(var_dir, monkeypatch: pytest.MonkeyPatch):
    name = f"tracker-store-test-{secrets.token_hex(4)}"  # tells this store's connections apart
    with postgres_schema_url(monkeypatch) as url:
        store = EncryptedSQLTrackerStore(domain=DOMAIN, host=make_url(url).update_query_dict(
            {"application_name": name}).render_as_string(hide_password=False))
        agent = Agent(domain=DOMAIN, tracker_store=store)
        asyncio.run(agent.tracker_store.save(_conversation("rest:pooled")))  # a connection in the pool
        admin = sa.create_engine(POSTGRES_URL)
        try:
            with admin.connect() as connection:  # what a PostgreSQL restart does to it
                closed = connection.execute(sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": name}).scalar()
        finally:
            admin.dispose()
        assert closed >= 1

        tracker = asyncio.run(agent.tracker_store.retrieve("rest:pooled"))
        assert [event.text for event in tracker.events if isinstance(event, UserUttered)] == ["审核要几天"]
        store.engine.dispose()
