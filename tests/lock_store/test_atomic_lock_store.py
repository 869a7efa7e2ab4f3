"""The conversation lock of bot/rasa/lock_store.py, one process: how Rasa builds it from
endpoints.yml, taking and freeing it, the token check, the expiry, the wait timeout, and a Redis
that is down (the turn fails with the channels' apology). The tests that need Redis run when
TEST_REDIS_URL names one (CI sets it)."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis
from channels.test_rest import _say, free_port
from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import LockError, LockStore
from rasa.core.utils import AvailableEndpoints, _lock_store_is_multi_worker_compatible
from rasa.utils.endpoints import EndpointConfig

from bot.rasa.lock_store import AtomicRedisLockStore
from bot.responses import response_text
from bot.settings import PROJECT_ROOT

STORE_TYPE = "bot.rasa.lock_store.AtomicRedisLockStore"
CONVERSATION = "webchat:822100000000001"


def make_store(url: str, key_prefix: str, **settings) -> AtomicRedisLockStore:
    """As Rasa builds it from endpoints.yml (rasa.core.lock_store.LockStore.create)."""
    store = LockStore.create(EndpointConfig(type=STORE_TYPE, url=url, key_prefix=key_prefix, **settings))
    assert isinstance(store, AtomicRedisLockStore)
    return store


# ---- configuration -------------------------------------------------------------------------


def test_rasa_builds_it_from_endpoints_yml_with_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCK_REDIS_HOST", "redis.internal")
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "lock_store:\n"
        f"  type: {STORE_TYPE}\n"
        "  url: ${LOCK_REDIS_HOST}\n"
        "  port: 6380\n"
        "  db: 3\n"
        "  key_prefix: settlement\n"
        "  lock_lifetime: 90\n"
    )
    config = AvailableEndpoints.read_endpoints(str(endpoints)).lock_store
    store = LockStore.create(config)
    assert isinstance(store, AtomicRedisLockStore)
    assert (store.server, store.key_prefix, store.lifetime_s, store.wait_timeout_s) == (
        "redis.internal:6380/3", "settlement:conversation_lock:", 90.0, 90.0)
    # Rasa lets several Sanic workers share it (it refuses only the in-memory store).
    assert _lock_store_is_multi_worker_compatible(config)


def test_the_block_endpoints_yml_documents_works_once_uncommented(tmp_path, monkeypatch):
    lines = (PROJECT_ROOT / "endpoints.yml").read_text().splitlines()
    start = lines.index("# lock_store:")
    block = [lines[start][2:]]
    for line in lines[start + 1:]:
        if not line.startswith("#   "):
            break
        block.append(line[2:])
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("\n".join(block) + "\n")
    monkeypatch.setenv("LOCK_STORE_REDIS_URL", "redis://redis.internal:6379/1")
    store = LockStore.create(AvailableEndpoints.read_endpoints(str(endpoints)).lock_store)
    assert isinstance(store, AtomicRedisLockStore)
    assert (store.server, store.lifetime_s) == ("redis.internal:6379/1", 60.0)
    # The default setup itself keeps Rasa's in-memory lock store (one Rasa process).
    assert AvailableEndpoints.read_endpoints(str(PROJECT_ROOT / "endpoints.yml")).lock_store is None


def test_the_lifetime_comes_from_the_endpoint_else_rasas_ticket_lock_lifetime_else_60_s(monkeypatch):
    monkeypatch.delenv("TICKET_LOCK_LIFETIME", raising=False)
    assert make_store("redis://localhost:6379/1", "x").lifetime_s == 60.0
    monkeypatch.setenv("TICKET_LOCK_LIFETIME", "120")
    assert make_store("redis://localhost:6379/1", "x").lifetime_s == 120.0
    store = make_store("redis://localhost:6379/1", "x", lock_lifetime="45", wait_timeout="10")
    assert (store.lifetime_s, store.wait_timeout_s) == (45.0, 10.0)


def test_a_typo_in_the_settings_stops_rasa_from_starting():
    with pytest.raises(ValueError, match="lock_lifetme"):
        make_store("localhost", "x", lock_lifetme=30)
    with pytest.raises(ValueError, match="alphanumeric"):
        make_store("localhost", "not-alnum")
    with pytest.raises(ValueError, match="positive"):
        make_store("localhost", "x", lock_lifetime=0)


# ---- Redis down ----------------------------------------------------------------------------


def test_redis_down_refuses_the_turn_with_lock_error_and_a_clear_log(caplog):
    port = free_port()  # nothing listens there
    store = make_store(f"redis://127.0.0.1:{port}/0", "x", socket_timeout=2)
    ran = []

    async def turn() -> None:
        async with store.lock(CONVERSATION):
            ran.append(True)

    caplog.set_level(logging.ERROR)
    started = time.monotonic()
    with pytest.raises(LockError):
        asyncio.run(turn())
    assert time.monotonic() - started < 3
    assert ran == []
    assert f"the lock store's Redis at 127.0.0.1:{port}/0 failed" in caplog.text
    assert "822100000000001" not in caplog.text  # the merchant number in the conversation id is masked


def test_redis_down_the_merchant_gets_the_channels_apology(engine):
    store = make_store(f"redis://127.0.0.1:{free_port()}/0", "x", socket_timeout=2)

    async def handle_message(message: UserMessage) -> None:
        # What rasa.core.agent.Agent.handle_message does around the dialogue.
        async with store.lock(message.sender_id):
            await message.output_channel.send_text_message(message.sender_id, "您好")

    status, replies = asyncio.run(_say(handle_message, {"sender": "m1", "message": "你好"}))
    assert (status, [reply["text"] for reply in replies]) == (200, [response_text("utter_technical_problem")])


# ---- with Redis ----------------------------------------------------------------------------


def test_a_turn_holds_the_key_with_a_token_of_its_own_until_it_ends(redis_url, key_prefix):
    store = make_store(redis_url, key_prefix, lock_lifetime=5)
    key = f"{key_prefix}:conversation_lock:{CONVERSATION}"
    seen = []

    async def turns() -> None:
        for _ in range(2):
            async with store.lock(CONVERSATION):
                seen.append((await store.client().get(key), await store.client().pttl(key)))
                assert store.get_lock(CONVERSATION) is not None
        assert await store.client().exists(key) == 0

    asyncio.run(turns())
    (first, first_ttl), (second, second_ttl) = seen
    assert first != second and first.startswith(store._owner.encode())
    assert 4000 < first_ttl <= 5000 and 4000 < second_ttl <= 5000
    assert store.get_lock(CONVERSATION) is None


def test_a_stale_holder_cannot_free_the_lock_of_the_turn_that_took_it_over(redis_url, key_prefix, caplog):
    slow, quick = make_store(redis_url, key_prefix, lock_lifetime=0.3), make_store(redis_url, key_prefix)
    key = f"{key_prefix}:conversation_lock:{CONVERSATION}"
    events = []

    async def slow_turn() -> None:
        async with slow.lock(CONVERSATION):
            events.append("slow in")
            await asyncio.sleep(0.6)  # longer than its lock lives
        events.append("slow out")

    async def quick_turn() -> None:
        await asyncio.sleep(0.1)
        async with quick.lock(CONVERSATION):  # gets it once the slow turn's key has expired
            events.append("quick in")
            await asyncio.sleep(0.7)
            # The slow turn has ended meanwhile; its release left this turn's lock alone.
            assert (await quick.client().get(key) or b"").startswith(quick._owner.encode())
            assert await quick.client().pttl(key) > 0
            events.append("quick still holds it")

    async def both() -> None:
        await asyncio.gather(slow_turn(), quick_turn())

    caplog.set_level(logging.WARNING)
    asyncio.run(both())
    assert events == ["slow in", "quick in", "slow out", "quick still holds it"]
    assert "longer than the lock lifetime (0.3 s)" in caplog.text


def test_the_lock_of_a_replica_that_died_mid_turn_expires_after_its_lifetime(redis_url, key_prefix):
    store = make_store(redis_url, key_prefix, wait_timeout=5)
    dead_replica = redis.Redis.from_url(redis_url)
    dead_replica.set(f"{key_prefix}:conversation_lock:{CONVERSATION}", "died:1:abc", px=400)
    dead_replica.close()

    async def turn() -> float:
        started = time.monotonic()
        async with store.lock(CONVERSATION):
            return time.monotonic() - started

    assert 0.25 < asyncio.run(turn()) < 1.5


def two_turns(redis_url: str, key_prefix: str, where: str, **waiter_settings):
    """The store of a turn that holds the lock, and that of a turn that comes next: the same store
    (it waits in this process's line) or another replica's (it waits on Redis)."""
    if where == "same process":
        store = make_store(redis_url, key_prefix, **waiter_settings)
        return store, store
    return make_store(redis_url, key_prefix), make_store(redis_url, key_prefix, **waiter_settings)


@pytest.mark.parametrize("where", ["same process", "another replica"])
def test_a_turn_that_waits_longer_than_the_wait_timeout_gets_lock_error(redis_url, key_prefix, where):
    holder, waiter = two_turns(redis_url, key_prefix, where, wait_timeout=0.3)
    outcome = {}

    async def hold() -> None:
        async with holder.lock(CONVERSATION, lock_lifetime=10):
            await asyncio.sleep(2.0)
            key = f"{key_prefix}:conversation_lock:{CONVERSATION}"
            outcome["holder still has it"] = await holder.client().exists(key)

    async def wait() -> None:
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(LockError, match="within 0.3 s"):
            async with waiter.lock(CONVERSATION):
                outcome["waiter ran"] = True
        outcome["waited"] = time.monotonic() - started

    async def both() -> None:
        await asyncio.gather(hold(), wait())

    asyncio.run(both())
    assert "waiter ran" not in outcome and outcome["holder still has it"] == 1
    assert 0.29 < outcome["waited"] < 1.5  # refused at its timeout, not when the holder let go


def test_waiting_turns_are_served_in_arrival_order_and_other_conversations_do_not_wait(redis_url, key_prefix):
    store = make_store(redis_url, key_prefix, wait_timeout=10)
    inside, order = [], []

    async def turn(conversation: str, number: int) -> None:
        async with store.lock(conversation):
            inside.append(conversation)
            assert inside.count(conversation) == 1
            order.append((conversation, number))
            await asyncio.sleep(0.2)
            inside.remove(conversation)

    async def turns() -> float:
        waiting = [asyncio.create_task(turn(CONVERSATION, n)) for n in range(5)]
        await asyncio.sleep(0.01)
        started = time.monotonic()
        await turn("webchat:other", 0)
        other_took = time.monotonic() - started
        await asyncio.gather(*waiting)
        return other_took

    assert asyncio.run(turns()) < 0.5  # not queued behind the five turns of the first conversation
    # In the order they came, as Rasa's tickets served them (asyncio.Lock's line within one process).
    assert [number for conversation, number in order if conversation == CONVERSATION] == list(range(5))
    assert store._lines == {}  # nothing kept once the turns are done


@pytest.mark.parametrize("where", ["same process", "another replica"])
def test_a_cancelled_waiting_turn_leaves_no_lock_behind(redis_url, key_prefix, where):
    store, waiting_store = two_turns(redis_url, key_prefix, where)
    key = f"{key_prefix}:conversation_lock:{CONVERSATION}"

    async def scenario() -> None:
        async def hold() -> None:
            async with store.lock(CONVERSATION):
                await asyncio.sleep(0.3)

        async def wait_forever() -> None:
            async with waiting_store.lock(CONVERSATION):
                pytest.fail("the cancelled turn ran")

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.05)
        waiter = asyncio.create_task(wait_forever())
        await asyncio.sleep(0.1)
        waiter.cancel()  # the channel gave up on this message (the REST client timed out)
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await holder
        assert await store.client().exists(key) == 0
        assert store._lines == waiting_store._lines == {}
        async with waiting_store.lock(CONVERSATION):  # free for the merchant's next message
            pass

    asyncio.run(scenario())


def test_an_operator_can_see_and_free_a_stuck_conversation(redis_url, key_prefix):
    store = make_store(redis_url, key_prefix)
    client = redis.Redis.from_url(redis_url)
    client.set(f"{key_prefix}:conversation_lock:{CONVERSATION}", "died:1:abc", px=30_000)
    client.close()
    lock = store.get_lock(CONVERSATION)
    assert lock is not None and 25 < lock.tickets[0].expires - time.time() <= 30
    store.delete_lock(CONVERSATION)
    assert store.get_lock(CONVERSATION) is None
    with pytest.raises(NotImplementedError):
        store.save_lock(lock)
