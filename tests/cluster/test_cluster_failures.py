"""The cluster under failure (each test starts a 2-replica cluster of its own, tests/cluster/conftest.py):

- a Rasa replica killed (SIGKILL) mid-conversation, inside the change form: the merchant's next
  message, on the other replica or through nginx (which skips the dead one while bot serve starts
  it again), carries on the form where it was, with the values given before; the request is filed,
  its last turn on the restarted replica.
- this machine's PostgreSQL stopped and started again while several conversations send turns: the
  turns it misses get a clear Chinese apology (the channel's `utter_technical_problem`, or the
  safety net's `utter_internal_error` when only an action failed), never silence, an error page or
  an answer from an empty conversation; once it is back the same conversations carry on where
  they were and file their requests, with no process of the cluster started again; whatever was
  answered or filed before is still there. Skipped when the PostgreSQL of TEST_POSTGRES_URL is not
  a cluster of this machine that this user can stop (pg_ctlcluster, as root or postgres).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional

from sqlalchemy.engine import make_url

import pytest
from e2e.conftest import _ready, is_apology

from bot.responses import response_text

from .change import (HAPPY_PATH, REFERENCE, SIGNING_CODE_TURN, ChangeChat, filed_references, seed_merchants, shown,
                     text_of, user_texts)
from .conftest import POSTGRES_URL, Cluster, needs_cluster, start_cluster, stop_cluster

pytestmark = [pytest.mark.servers, pytest.mark.postgres, needs_cluster]

# Load-test merchants of these tests (each files once); test_cluster_concurrency.py takes 200-201.
KILLED_REPLICA_MERCHANT = 300
RESTART_MERCHANTS = 400  # 400-403 talk through the restart, 404 filed before it
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


# --- PostgreSQL restarted under load -----------------------------------------------------------
CONVERSATIONS_UNDER_LOAD = 4
TURNS_UNDER_LOAD = range(5, 9)  # ID number, card, holder, branch: the change form, no SMS sent
TECHNICAL_PROBLEM = "utter_technical_problem"
MAX_OUTAGE_S = 15  # down: started again once every conversation met it so, or after this
LOAD_TIMEOUT_S = 90


def _local_postgres_cluster() -> Optional[List[str]]:
    """[version, name] of the pg_ctlcluster cluster that serves TEST_POSTGRES_URL, if this machine
    runs it and this user may stop it; else None."""
    url = make_url(POSTGRES_URL or "postgresql://")
    if url.host not in (None, "", "localhost", "127.0.0.1", "::1") or shutil.which("pg_ctlcluster") is None:
        return None
    if os.geteuid() != 0 and os.environ.get("USER") != "postgres":
        return None
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        version, name, port, status = line.split()[:4]
        if int(port) == (url.port or 5432) and status == "online":
            return [version, name]
    return None


def _pg_ctlcluster(postgres: List[str], action: str) -> None:
    subprocess.run(["pg_ctlcluster", *postgres, action, *(["-m", "fast"] if action == "stop" else [])],
                   check=True, capture_output=True, timeout=60)


class TurnsUnderLoad(threading.Thread):
    """A conversation that says TURNS_UNDER_LOAD, each to the next member of the cluster, and says
    a turn again after an apology, as the apology asks, until the dialogue answers it."""

    def __init__(self, chat: ChangeChat, members: list, down: threading.Event) -> None:
        super().__init__(daemon=True)
        self.chat, self.members, self.down = chat, members, down
        self.sent_while_down = 0  # turns sent after PostgreSQL had stopped (each answered with an apology)
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        sent = 0
        try:
            for turn in TURNS_UNDER_LOAD:
                message, expect = self.chat.message(turn), HAPPY_PATH[turn][1]
                deadline = time.monotonic() + LOAD_TIMEOUT_S
                while True:
                    where = self.members[sent % len(self.members)]
                    sent += 1
                    while_down = self.down.is_set()
                    status, replies = where.post("/webhooks/rest/webhook", {"sender": self.chat.sender,
                                                                           "message": message})
                    reply = text_of(replies) if isinstance(replies, list) else repr(replies)
                    assert status == 200 and reply, f"{shown(message)!r} got {status} {reply!r} from {where.base_url}"
                    if not _apologised(replies):
                        assert not while_down, f"{shown(message)!r} got {reply!r} while PostgreSQL was down"
                        break
                    self.sent_while_down += while_down
                    assert time.monotonic() < deadline, f"{shown(message)!r} still gets the apology"
                    time.sleep(0.3)
                # The same question is answered: no turn ran on an empty conversation.
                assert expect in reply, f"{shown(message)!r} got {reply!r}, not {expect!r}"
                self.chat.said.append(message)
        except BaseException as error:  # noqa: BLE001 - the test's thread reports it
            self.error = error


def _apologised(replies: List[dict]) -> bool:
    """The channel's apology for a turn that failed, or the safety net's for one left silent."""
    return is_apology(replies) or [reply.get("text") for reply in replies] == [response_text(TECHNICAL_PROBLEM)]


def _is_subsequence(items: List[str], within: List[str]) -> bool:
    rest = iter(within)
    return all(item in rest for item in items)


@pytest.fixture
def local_postgres() -> Iterator[List[str]]:
    postgres = _local_postgres_cluster()
    if postgres is None:
        pytest.skip("TEST_POSTGRES_URL's PostgreSQL is not a pg_ctlcluster cluster of this machine this user can restart")
    yield postgres
    if _local_postgres_cluster() is None:  # never left stopped, whatever the test did
        _pg_ctlcluster(postgres, "start")


def test_postgres_restarted_under_load_turns_get_an_apology_and_the_conversations_carry_on(
        local_postgres: List[str], own_cluster: Cluster):
    cluster = own_cluster
    members = [cluster.proxy, *cluster.replicas]
    *talking, filing = [ChangeChat(cluster, merchant)
                        for merchant in seed_merchants(cluster, RESTART_MERCHANTS, CONVERSATIONS_UNDER_LOAD + 1)]
    filing.turns(range(len(HAPPY_PATH)), members)  # a request filed before the restart
    filed_before = filed_references(cluster, filing.merchant)
    assert len(filed_before) == 1
    for chat in talking:
        chat.turns(range(TURNS_UNDER_LOAD.start), members)  # identified, in the change form
    pids = cluster.run_info()["children"]

    down = threading.Event()
    load = [TurnsUnderLoad(chat, members[index % 3:] + members[:index % 3], down)
            for index, chat in enumerate(talking)]
    for conversation in load:
        conversation.start()
    time.sleep(0.3)  # turns on their way
    try:
        _pg_ctlcluster(local_postgres, "stop")  # returns once it is down (its last checkpoint may take seconds)
        down.set()
        down_since = time.monotonic()
        # Down until every conversation still talking has sent a turn to the stopped database.
        while not all(conversation.sent_while_down or not conversation.is_alive() for conversation in load):
            if time.monotonic() - down_since > MAX_OUTAGE_S:
                break
            time.sleep(0.1)
    finally:
        down.clear()
        _pg_ctlcluster(local_postgres, "start")
    outage_s = time.monotonic() - down_since
    for conversation in load:
        conversation.join(LOAD_TIMEOUT_S)
        assert not conversation.is_alive(), "a conversation is still waiting for its answer"
        if conversation.error:
            raise conversation.error
    assert sum(conversation.sent_while_down for conversation in load) >= 1, \
        f"no turn met PostgreSQL down ({outage_s:.1f} s): the test showed nothing"

    # The same processes carry on: the conversations where they were, then filed.
    assert cluster.run_info()["children"] == pids
    for index, chat in enumerate(talking):
        replies = chat.turns(range(TURNS_UNDER_LOAD.stop, len(HAPPY_PATH)), members[index % 3:] + members[:index % 3])
        assert filed_references(cluster, chat.merchant) == [REFERENCE.search(replies[-1]).group()]
        stored = user_texts(cluster.stored_events(chat.sender))
        # Every answered message is there, in order; a message said again after an apology may be
        # there twice (its first turn stored the message, then an action failed).
        assert _is_subsequence(chat.said, stored), ([shown(said) for said in chat.said], [shown(text) for text in stored])
        assert set(stored) == set(chat.said)
    assert filed_references(cluster, filing.merchant) == filed_before
    assert user_texts(cluster.stored_events(filing.sender)) == filing.said
    assert cluster.run_info()["children"] == pids
