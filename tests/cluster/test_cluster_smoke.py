"""The cluster comes up and works as one assistant (`bot serve --replicas 2`, tests/cluster/conftest.py):
one conversation whose turns go through nginx and to each replica directly carries on wherever
they land, its events in PostgreSQL (encrypted) in the order they were said; nginx spreads REST
over both replicas and keeps a web chat's socket.io polling on the replica that holds its session.
Stopping it (the fixture's teardown) leaves no process behind."""
from __future__ import annotations

import re
import urllib.request
import uuid
from typing import List

import pytest
import sqlalchemy as sa

from .conftest import Cluster, needs_cluster

pytestmark = [pytest.mark.servers, pytest.mark.postgres, needs_cluster]

MERCHANT = "822100000000001"  # a demo merchant (bot demo seed)


def _text(replies: List[dict]) -> str:
    return "\n".join(reply.get("text", "") for reply in replies)


def _user_texts(events: List[dict]) -> List[str]:
    return [event["text"] for event in events if event["event"] == "user"]


def test_a_conversation_carries_on_whichever_replica_takes_each_turn(cluster: Cluster):
    sender = f"cluster-{uuid.uuid4().hex[:10]}"
    first, second = cluster.replicas
    said = ["你好", "我要换结算卡", MERCHANT, "审核要几天"]

    assert _text(cluster.proxy.say(sender, said[0]))
    assert "商户编号" in _text(first.say(sender, said[1]))
    # Replica 2 carries on the form replica 1 started: the merchant number it asked for.
    assert "验证码" in _text(second.say(sender, said[2]))
    # A question in between, through nginx: answered, and the form asks for the code again.
    assert "验证码" in _text(cluster.proxy.say(sender, said[3]))

    for replica in cluster.replicas:  # each sees every turn, the other's too
        tracker = replica.rasa_api(f"/conversations/{sender}/tracker")
        assert _user_texts(tracker["events"]) == said
        assert tracker["active_loop"].get("name")
    assert _user_texts(cluster.stored_events(sender)) == said
    engine = sa.create_engine(cluster.database_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT data FROM events WHERE sender_id = :sender"),
                                        {"sender": sender}).scalars().all()
    finally:
        engine.dispose()
    assert stored and not any(MERCHANT in data for data in stored)  # encrypted at rest


def test_nginx_spreads_rest_over_both_replicas(cluster: Cluster):
    senders = [f"cluster-{uuid.uuid4().hex[:10]}" for _ in range(4)]
    for sender in senders:
        assert cluster.proxy.say(sender, "你好")
    replica_ports = {str(port) for port in (replica["rasa_port"] for replica in cluster.run_info()["replicas"])}
    served_by = {line.rsplit(":", 1)[-1] for line in cluster.nginx_log().splitlines()
                 if '"POST /webhooks/rest/webhook" 200' in line}
    assert served_by == replica_ports


def test_a_web_chat_polls_the_replica_that_holds_its_session(cluster: Cluster):
    for _ in range(6):  # a session opened through nginx and its next polls, several times over
        with urllib.request.urlopen(f"{cluster.proxy.base_url}/socket.io/?EIO=4&transport=polling", timeout=10) as reply:
            handshake = reply.read().decode()
        session = re.search(r'"sid":"([^"]+)"', handshake).group(1)
        poll = f"{cluster.proxy.base_url}/socket.io/?EIO=4&transport=polling&sid={session}"
        for packet in (b"40", b"1"):  # socket.io's connect, then engine.io's close
            with urllib.request.urlopen(urllib.request.Request(poll, data=packet), timeout=10) as reply:
                assert reply.status == 200  # another replica would answer 400: unknown session
