"""Two replicas hammer one conversation: two OS processes (tests/lock_store/hammer.py), each with
40 asyncio tasks taking the conversation's lock 3 times, never run two turns at once, and every
turn is served. Rasa's own RedisLockStore fails the same hammer. Runs when TEST_REDIS_URL names a
Redis server (CI sets it)."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict, List

from bot.settings import PROJECT_ROOT

TASKS, TURNS = 40, 3


def hammer(redis_url: str, key_prefix: str, *options: str) -> List[Dict[str, Any]]:
    """Start two replicas together; what each saw."""
    command = [sys.executable, "-m", "tests.lock_store.hammer", "--redis-url", redis_url,
               "--prefix", key_prefix, "--replicas", "2", *options]
    replicas = [subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    results = []
    for replica in replicas:
        out, err = replica.communicate(timeout=180)
        assert replica.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_two_replicas_hammering_one_conversation_never_run_two_turns_at_once(redis_url, key_prefix):
    results = hammer(redis_url, key_prefix, "--tasks", str(TASKS), "--turns", str(TURNS))

    for result in results:
        assert (result["served"], result["refused"], result["overlaps"]) == (TASKS * TURNS, 0, 0)
    # The time each turn spent inside, both processes together: one after the other, never overlapping.
    turns = sorted((start, end, result["pid"]) for result in results for start, end in result["intervals"])
    assert len(turns) == 2 * TASKS * TURNS
    for (_, previous_end, _), (start, _, _) in zip(turns, turns[1:]):
        assert start >= previous_end
    # And the two replicas really competed: the lock went back and forth between them.
    handovers = sum(1 for before, after in zip(turns, turns[1:]) if before[2] != after[2])
    assert handovers >= 10


def test_rasas_own_redis_lock_store_fails_the_same_hammer(redis_url, key_prefix):
    """Why bot.rasa.lock_store exists. Rasa's RedisLockStore reads its ticket queue and writes it
    back in two round trips: two replicas issue the same ticket (two turns inside at once) or
    overwrite each other's (a turn waits for a ticket nobody serves, and is refused). If this ever
    passes, Rasa's store has become atomic and ours may be retired."""
    results = hammer(redis_url, key_prefix, "--store", "stock", "--tasks", "10", "--turns", "2",
                     "--lifetime", "2", "--wait-timeout", "1")

    overlaps = sum(result["overlaps"] for result in results)
    refused = sum(result["refused"] for result in results)
    assert overlaps + refused > 0, results
