"""The cluster under failure (each test starts a 2-replica cluster of its own, tests/cluster/conftest.py):

- a Rasa replica killed (SIGKILL) mid-conversation, inside the change form: the merchant's next
  message, on the other replica or through nginx (which skips the dead one while bot serve starts
  it again), carries on the form where it was, with the values given before; the request is filed,
  its last turn on the restarted replica.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest
from e2e.conftest import _ready

from .change import HAPPY_PATH, REFERENCE, SIGNING_CODE_TURN, ChangeChat, filed_references, seed_merchants, user_texts
from .conftest import Cluster, needs_cluster, start_cluster, stop_cluster

pytestmark = [pytest.mark.servers, pytest.mark.postgres, needs_cluster]

# Load-test merchants of these tests (each files once); test_cluster_concurrency.py takes 200-201.
KILLED_REPLICA_MERCHANT = 300
# What the merchant has settled when replica 1 dies: who they are, the change form's first answers.
GIVEN_BEFORE_THE_KILL = ("merchant_number", "merchant_verified", "route", "change_reason")
RESTART_TIMEOUT_S = 180  # bot serve starts a dead replica again after 1 s; it loads its model anew


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = start_cluster(tmp_path / "var", replicas=2)
    yield running
    stop_cluster(running)


def _form_state(tracker: dict) -> tuple:
    """What the change form has asked and been told so far."""
    slots = {name: value for name, value in tracker["slots"].items() if value is not None}
    return tracker["active_loop"].get("name"), slots.pop("requested_slot", None), slots


def _is_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True


def _next_log_line(cluster: Cluster, seen: int) -> str:
    """nginx's access log line after the first `seen` (written just after the answer went out)."""
    deadline = time.monotonic() + 5
    while len(lines := cluster.nginx_log().splitlines()) <= seen:
        assert time.monotonic() < deadline, "nginx logged no request"
        time.sleep(0.1)
    return lines[seen]


def test_a_replica_killed_mid_form_the_other_carries_on_and_the_request_is_filed(own_cluster: Cluster):
    cluster = own_cluster
    first, second = cluster.replicas
    merchant, = seed_merchants(cluster, KILLED_REPLICA_MERCHANT, 1)
    chat = ChangeChat(cluster, merchant)
    chat.turns(range(5), [first])  # identified, online, the reason given: the form asks for the ID number
    before = _form_state(chat.tracker(first))
    assert before[:2] == ("change_form", "holder_id_number"), before
    assert set(GIVEN_BEFORE_THE_KILL) <= before[2].keys(), before

    killed = cluster.pid("Rasa replica 1")
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not _is_gone(killed):
        assert time.monotonic() < deadline, "replica 1 outlived SIGKILL"
        time.sleep(0.1)
    assert not _ready(first.base_url + "/")  # down: bot serve starts it again, the model loads anew

    # Replica 2 has the conversation as replica 1 left it, and carries on the form.
    assert _form_state(chat.tracker(second)) == before
    chat.turn(5, second)  # the ID number: the card number is asked next
    # nginx skips the dead replica (connection refused: the request goes to the other one).
    log_lines = len(cluster.nginx_log().splitlines())
    chat.turn(6, cluster.proxy)
    assert not _ready(first.base_url + "/"), "replica 1 came back too soon for this test to show anything"
    turn_line = _next_log_line(cluster, log_lines)
    assert turn_line.rsplit(":", 1)[-1] == str(cluster.run_info()["replicas"][1]["rasa_port"]), turn_line
    chat.turns(range(7, SIGNING_CODE_TURN), [second, cluster.proxy])
    after = _form_state(chat.tracker(second))
    assert after[0] == "sign_form", after  # the change form is done: the signing code was sent
    for name in GIVEN_BEFORE_THE_KILL:  # nothing given before the kill is lost
        assert after[2].get(name) == before[2][name], name

    # The restarted replica 1 reads the conversation from PostgreSQL and files the request.
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while cluster.pid("Rasa replica 1") == killed or not _ready(first.base_url + "/"):
        assert time.monotonic() < deadline, "bot serve did not start replica 1 again"
        time.sleep(1)
    filed = chat.turn(SIGNING_CODE_TURN, first)
    assert filed_references(cluster, merchant) == [REFERENCE.search(filed).group()]
    assert user_texts(cluster.stored_events(chat.sender)) == chat.said
    assert len(chat.said) == len(HAPPY_PATH)
