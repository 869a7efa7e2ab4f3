"""The cluster's endpoints file (endpoints.cluster.yml) as Rasa reads it: the encrypted tracker store
on PostgreSQL (Rasa creates its table itself, also when two replicas start at once; each event is a
Fernet token; the trainer tools read it back through the same TRACKER_DATABASE_URL) and the atomic
Redis lock store. The PostgreSQL tests run when TEST_POSTGRES_URL names a database (CI sets it)."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from postgres_schema import POSTGRES_URL, postgres_schema_url
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa.lock_store import AtomicRedisLockStore
from bot.rasa.tracker_store import EncryptedSQLTrackerStore
from bot.settings import PROJECT_ROOT
from bot.training import tracker_events

ENDPOINTS = PROJECT_ROOT / "endpoints.cluster.yml"
CARD = "6222021000000000124"  # a documented test card (DOMAIN_RULES.md)

needs_postgres = pytest.mark.skipif(not POSTGRES_URL,
                                    reason="TEST_POSTGRES_URL is not set (PostgreSQL tests need a database)")


@pytest.fixture
def cluster_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What bot serve --replicas sets for each replica (the URLs here are not connected to)."""
    monkeypatch.setenv("ACTION_SERVER_URL", "http://localhost:5055/webhook")
    monkeypatch.setenv("ACTION_SERVER_SECRET", "a-secret-of-sixteen-or-more")
    monkeypatch.setenv("TRACKER_DATABASE_URL", "postgresql://postgres@db.internal:5432/bot")
    monkeypatch.setenv("LOCK_STORE_REDIS_URL", "redis://redis.internal:6379/1")


def test_the_replicas_share_locks_in_redis_and_call_their_own_action_server(cluster_environment):
    endpoints = AvailableEndpoints.read_endpoints(str(ENDPOINTS))
    lock_store = LockStore.create(endpoints.lock_store)
    assert isinstance(lock_store, AtomicRedisLockStore)
    assert (lock_store.server, lock_store.key_prefix) == ("redis.internal:6379/1", "settlement:conversation_lock:")
    assert endpoints.action.url == "http://localhost:5055/webhook"
    assert endpoints.action.headers == {"X-Action-Server-Secret": "a-secret-of-sixteen-or-more"}
    assert endpoints.tracker_store.type == "bot.rasa.tracker_store.EncryptedSQLTrackerStore"
    assert endpoints.tracker_store.url == "postgresql://postgres@db.internal:5432/bot"


@pytest.fixture
def tracker_url(var_dir, cluster_environment, monkeypatch: pytest.MonkeyPatch):
    """A fresh PostgreSQL schema named in TRACKER_DATABASE_URL, as bot serve --replicas names it."""
    with postgres_schema_url(monkeypatch) as url:
        monkeypatch.setenv("TRACKER_DATABASE_URL", url)
        yield url


DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))


def _store() -> TrackerStore:
    """Built as a Rasa replica builds it from endpoints.cluster.yml."""
    endpoints = AvailableEndpoints.read_endpoints(str(ENDPOINTS))
    store = TrackerStore.create(endpoints.tracker_store, domain=DOMAIN)
    assert isinstance(store, EncryptedSQLTrackerStore)
    return store


def _conversation(sender: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, slots=DOMAIN.slots)
    for event in (ActionExecuted("action_listen"),
                  UserUttered(f"新卡 {CARD}", {"name": "inform", "confidence": 0.9}),
                  SlotSet("new_account_number", CARD)):
        tracker.update(event)
    return tracker


@pytest.mark.postgres
@needs_postgres
def test_rasa_creates_the_table_and_events_come_back_decrypted_stored_encrypted(tracker_url):
    store = _store()
    asyncio.run(store.save(_conversation("rest:cluster-1")))

    again = asyncio.run(_store().retrieve("rest:cluster-1"))  # another replica reading it
    assert again.get_slot("new_account_number") == CARD
    assert [event.text for event in again.events if isinstance(event, UserUttered)] == [f"新卡 {CARD}"]
    engine = sa.create_engine(tracker_url)
    with engine.connect() as connection:
        stored = [row.data for row in connection.execute(sa.text("SELECT data FROM events ORDER BY id"))]
    engine.dispose()
    assert len(stored) == 3
    assert all(CARD not in data and data.startswith("gAAAAA") for data in stored)  # Fernet tokens
    # The trainer tools read the same tracker store through the same variable.
    read_back = [event.data for event in tracker_events.read_events(conversation_id="rest:cluster-1")]
    assert [event["event"] for event in read_back] == ["action", "user", "slot"]
    assert read_back[1]["text"] == f"新卡 {CARD}"


@pytest.mark.postgres
@needs_postgres
@pytest.mark.usefixtures("tracker_url")
def test_two_replicas_starting_at_once_on_an_empty_database_both_work():
    with ThreadPoolExecutor(max_workers=2) as pool:
        stores = list(pool.map(lambda _: _store(), range(2)))
    for number, store in enumerate(stores):
        asyncio.run(store.save(_conversation(f"rest:replica-{number}")))
    assert sorted(asyncio.run(stores[0].keys())) == ["rest:replica-0", "rest:replica-1"]

