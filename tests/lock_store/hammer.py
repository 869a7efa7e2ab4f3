"""One "replica" of the hammer test (tests/lock_store/test_two_replicas.py): many asyncio tasks
of one process take the lock of the same conversation, over and over, and record what they saw.

Run from the project root, once per replica:
    python -m tests.lock_store.hammer --redis-url redis://127.0.0.1:6379/15 --prefix test1 --replicas 2

The tasks share `--stores` lock stores (4 by default: a store serves the turns of its own process
in arrival order and sends only the first of them to Redis, so one store per process would leave
Redis with two contenders; four per process are eight, as four Sanic workers per replica would be).
Inside the lock each turn INCRs a shared Redis counter (more than 1: another holder is inside),
records its time in the lock, sleeps a few random milliseconds and DECRs the counter. Prints one
JSON line: turns served, turns refused (LockError), overlaps seen by the counter, the intervals.
`--store stock` hammers Rasa's own RedisLockStore the same way, for comparison.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from typing import Any, Dict, List

import redis
import redis.asyncio
from rasa.core.lock_store import LockError, LockStore, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

CONVERSATION = "webchat:hammered"


def build_store(args: argparse.Namespace) -> LockStore:
    if args.store == "stock":
        kwargs = redis.Redis.from_url(args.redis_url).connection_pool.connection_kwargs
        return RedisLockStore(host=kwargs["host"], port=kwargs["port"], db=kwargs["db"], key_prefix=args.prefix)
    # As Rasa builds it from endpoints.yml.
    return LockStore.create(EndpointConfig(
        type="bot.rasa.lock_store.AtomicRedisLockStore", url=args.redis_url, key_prefix=args.prefix,
        lock_lifetime=args.lifetime, wait_timeout=args.wait_timeout,
    ))


async def hammer(args: argparse.Namespace) -> Dict[str, Any]:
    stores = [build_store(args) for _ in range(args.stores)]
    shared = redis.asyncio.Redis.from_url(args.redis_url)
    inside, ready = f"{args.prefix}:hammer:inside", f"{args.prefix}:hammer:ready"
    result: Dict[str, Any] = {"pid": os.getpid(), "served": 0, "refused": 0, "overlaps": 0, "intervals": []}
    intervals: List[List[int]] = result["intervals"]

    async def turn(store: LockStore) -> None:
        async with store.lock(CONVERSATION, **args.lock_kwargs):
            if await shared.incr(inside) != 1:
                result["overlaps"] += 1
            entered = time.time_ns()
            await asyncio.sleep(random.uniform(0, args.max_hold))
            intervals.append([entered, time.time_ns()])
            await shared.decr(inside)
        result["served"] += 1

    async def task(store: LockStore) -> None:
        for _ in range(args.turns):
            try:
                await asyncio.wait_for(turn(store), args.wait_timeout + 5)
            except (LockError, asyncio.TimeoutError):
                result["refused"] += 1
            await asyncio.sleep(random.uniform(0, args.max_hold))

    # Every replica starts hammering at the same moment.
    await shared.incr(ready)
    while int(await shared.get(ready) or 0) < args.replicas:
        await asyncio.sleep(0.01)
    await asyncio.gather(*(task(stores[number % len(stores)]) for number in range(args.tasks)))
    await shared.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True, help="alphanumeric; every key the run makes starts with it")
    parser.add_argument("--replicas", type=int, default=2, help="how many processes start together")
    parser.add_argument("--store", choices=("atomic", "stock"), default="atomic")
    parser.add_argument("--stores", type=int, default=4, help="lock stores in this process, the tasks spread over them")
    parser.add_argument("--tasks", type=int, default=40, help="concurrent asyncio tasks in this process")
    parser.add_argument("--turns", type=int, default=3, help="turns each task takes, one after the other")
    parser.add_argument("--max-hold", type=float, default=0.004, help="seconds a turn holds the lock, at most")
    parser.add_argument("--lifetime", type=float, default=60.0)
    parser.add_argument("--wait-timeout", type=float, default=30.0)
    args = parser.parse_args()
    # Rasa's store has no wait timeout; its waiting turns poll at 50 ms like ours, not every second.
    args.lock_kwargs = {"lock_lifetime": args.lifetime, "wait_time_in_seconds": 0.05}
    print(json.dumps(asyncio.run(hammer(args))))


if __name__ == "__main__":
    main()
