"""Server-sent events through waitress, the console's production server: each event reaches the
browser when it is written (no buffering), a change shows within the poll interval, and a closed
page gives its server thread back within about a second.

What was found (console/streams.py says it where the code is):
- waitress 3 sends every chunk the application yields at once (`send_bytes` is deprecated and
  defaults to 1 byte); it sends the headers only with the first non-empty chunk, so a stream
  yields `retry:` straight away;
- waitress learns that a client went away only when a write fails (the second or third write
  after the close) unless `channel_request_lookahead` > 0: then it keeps reading the socket while
  the request runs, sees the close, and the next write (or `waitress.client_disconnected()`) ends
  the stream. Without it, a closed page would keep its thread until two or three heartbeats later.
- every open stream holds one thread of waitress's pool for its whole life (`threads`).
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest
import waitress
from waitress.wasyncore import close_all
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from bot.agents import live
from console import streams
from console.conftest import hand_off

SERVER_OPTIONS = {**streams.WAITRESS_OPTIONS, "threads": 4}  # what python -m console serves with
PROMPT = 3.0  # seconds: one poll (1 s) and margin for a loaded CI machine


@pytest.fixture
def server(app: Flask) -> Iterator[waitress.server.BaseWSGIServer]:
    app.config["CONSOLE_STREAM_OPTIONS"] = {}  # production timing: poll 1 s, heartbeat 10 s
    running = waitress.create_server(app, host="127.0.0.1", port=0, **SERVER_OPTIONS)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    yield running
    running.close()
    running.task_dispatcher.shutdown(timeout=2)
    close_all(running._map)  # what is left open ends the loop
    thread.join(timeout=5)


class EventReader:
    """An EventSource in miniature over http.client, with a timeout on every read."""

    def __init__(self, server, path: str, cookie: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=PROMPT)
        self.connection.request("GET", path, headers={"Cookie": f"console_session={cookie}",
                                                      "Accept": "text/event-stream"})
        self.response = self.connection.getresponse()

    def next_event(self) -> tuple[str, dict]:
        """The next named event (comments and `retry:` skipped); socket.timeout when none comes."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline().decode()
            if not line:
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if not line:
                if "event" in fields:
                    return fields["event"], json.loads(fields["data"])
                fields = {}
            elif not line.startswith(":") and ": " in line:
                name, value = line.split(": ", 1)
                fields[name] = value

    def close(self) -> None:
        """The page goes away: the socket closes (http.client keeps it in the response)."""
        self.response.close()
        self.connection.close()


def _cookie(client: FlaskClient) -> str:
    return client.get_cookie("console_session").value


def test_the_first_event_and_each_change_arrive_at_once(server, staff: Session, wang: FlaskClient) -> None:
    started = time.monotonic()
    reader = EventReader(server, "/api/handoffs/stream", _cookie(wang))
    assert reader.response.status == 200
    assert reader.response.getheader("Content-Type").startswith("text/event-stream")
    assert reader.next_event() == ("queue", {"overdue_after_seconds": 300, "entries": []})
    assert time.monotonic() - started < PROMPT

    handoff = hand_off(staff)  # a merchant asks for a human while the page is open
    opened = time.monotonic()
    name, queue = reader.next_event()
    assert name == "queue" and [entry["id"] for entry in queue["entries"]] == [handoff.id]
    assert time.monotonic() - opened < PROMPT
    reader.close()


def test_a_merchant_message_reaches_the_open_conversation(server, staff: Session, wang: FlaskClient) -> None:
    handoff = hand_off(staff)
    live.claim(staff, handoff.id, "wang")
    reader = EventReader(server, f"/api/handoffs/{handoff.id}/stream?after=0", _cookie(wang))
    assert reader.next_event()[0] == "status"
    live.record_merchant_message(staff, handoff.conversation_id, "还在吗？")
    written = time.monotonic()
    name, message = reader.next_event()
    assert (name, message["from"], message["text"]) == ("message", "merchant", "还在吗？")
    assert time.monotonic() - written < PROMPT
    reader.close()


def test_a_closed_page_gives_its_thread_back(server, staff: Session, wang: FlaskClient) -> None:
    reader = EventReader(server, "/api/handoffs/stream", _cookie(wang))
    reader.next_event()
    assert server.task_dispatcher.active_count == 1  # the stream holds a thread while it is open
    reader.close()
    deadline = time.monotonic() + PROMPT
    while server.task_dispatcher.active_count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.task_dispatcher.active_count == 0, "the stream outlived its page (no heartbeat needed)"


def test_a_stream_without_a_session_is_refused(server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=PROMPT)
    connection.request("GET", "/api/handoffs/stream")
    assert connection.getresponse().status == 401
