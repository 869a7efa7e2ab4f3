"""One conversation on two replicas at once (the session's 2-replica cluster, tests/cluster/conftest.py):
its turns never run side by side (the atomic Redis lock, bot/rasa/lock_store.py), so every message
is answered with its own replies, PostgreSQL holds each turn once and whole, in one order, and a
signing code sent to both replicas at the same moment files one request. A whole change
conversation whose turns alternate between the replicas files its request."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Callable, List, Sequence, Tuple

import pytest

from .change import (HAPPY_PATH, REFERENCE, SIGNING_CODE_TURN, ChangeChat, filed_references, seed_merchants, shown,
                     text_of, user_texts)
from .conftest import Cluster, needs_cluster

pytestmark = [pytest.mark.servers, pytest.mark.postgres, needs_cluster]

# Ten different messages that need no state (answered the same in any order).
BURST = ["你好", "换卡需要准备什么材料", "审核要几天", "信用卡可以做结算卡吗", "你是机器人吗",
         "钱什么时候到账", "换卡收费吗", "今天天气怎么样", "谢谢", "需要准备什么材料"]
# Load-test merchants of these tests (each files once); test_cluster_failures.py takes others.
RACE_MERCHANT, ALTERNATING_MERCHANT = 200, 201


def at_once(calls: Sequence[Callable[[], object]]) -> List[object]:
    """Run the calls in threads released together; their results in order (a failure re-raised)."""
    start = threading.Barrier(len(calls))
    results: List[object] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def turns_of(events: List[dict]) -> List[Tuple[str, List[str]]]:
    """(the merchant's message, the bot's texts after it) for each turn of the tracker's events;
    fails unless each turn ended (action_listen) before the next message came in."""
    turns: List[Tuple[str, List[str]]] = []
    listening = True
    for event in events:
        if event["event"] == "user":
            assert listening, f"{shown(event['text'])!r} came in while the turn of {shown(turns[-1][0])!r} was running"
            turns.append((event["text"], []))
            listening = False
        elif turns and event["event"] == "bot":
            turns[-1][1].append(event.get("text") or "")
        elif event["event"] == "action" and event.get("name") == "action_listen":
            listening = True
    assert listening, f"the turn of {shown(turns[-1][0])!r} never ended"
    return turns


def test_a_burst_of_messages_to_both_replicas_runs_one_turn_at_a_time(cluster: Cluster):
    sender = f"cluster-burst-{uuid.uuid4().hex[:10]}"
    replicas = cluster.replicas
    replies = at_once([lambda text=text, index=index: replicas[index % 2].say(sender, text)
                       for index, text in enumerate(BURST)])  # say() fails on silence and on the apology

    stored = cluster.stored_events(sender)
    assert Counter(user_texts(stored)) == Counter(BURST)  # each message once: none lost, none doubled
    turns = dict(turns_of(stored))  # and no turn ran beside another
    for text, reply in zip(BURST, replies):  # each message got the replies of its own turn
        assert [message["text"] for message in reply] == turns[text], text
    for replica in replicas:  # both replicas read the same conversation, in the same order
        assert replica.rasa_api(f"/conversations/{sender}/tracker")["events"] == stored


def test_a_signing_code_sent_to_both_replicas_at_once_files_one_request(cluster: Cluster):
    merchant, = seed_merchants(cluster, RACE_MERCHANT, 1)
    chat = ChangeChat(cluster, merchant)
    chat.turns(range(SIGNING_CODE_TURN), cluster.replicas)
    code = chat.message(SIGNING_CODE_TURN)

    replies = at_once([lambda replica=replica: text_of(replica.say(chat.sender, code)) for replica in cluster.replicas])

    references = filed_references(cluster, merchant)
    assert len(references) == 1, references
    said = [set(REFERENCE.findall(reply)) for reply in replies]
    assert {references[0]} in said and all(found <= {references[0]} for found in said), replies
    assert user_texts(cluster.stored_events(chat.sender)) == chat.said + [code, code]


def test_a_whole_change_conversation_alternating_between_replicas_files_one_request(cluster: Cluster):
    merchant, = seed_merchants(cluster, ALTERNATING_MERCHANT, 1)
    chat = ChangeChat(cluster, merchant)

    replies = chat.turns(range(len(HAPPY_PATH)), cluster.replicas)  # odd turns on replica 1, even on 2

    references = filed_references(cluster, merchant)
    assert references and REFERENCE.search(replies[-1]).group() == references[0]
    assert len(references) == 1
    stored = cluster.stored_events(chat.sender)
    assert user_texts(stored) == chat.said
    turns_of(stored)
    for replica in cluster.replicas:
        assert chat.tracker(replica)["events"] == stored
