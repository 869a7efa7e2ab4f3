"""Server-sent events for the console's live pages (the queue, a conversation).

A stream is a generator that polls the database about once a second with a fresh session of its
own (never the request's `g.db`: the request is over once the response starts) and yields an
event whenever `poll` has something new. Around that:

- the first bytes go out at once (`retry:`): waitress sends the response headers only with the
  first non-empty chunk, and the browser's EventSource reports "open" only then;
- a comment line every `HEARTBEAT_SECONDS`, so proxies keep an idle stream open;
- the stream ends as soon as the page is closed, which waitress only notices with
  `WAITRESS_OPTIONS` (below): otherwise it learns of a closed socket when a write to it fails,
  two or three heartbeats later, and the thread stays taken until then;
- the signed-in session is checked again at every heartbeat: a stream stops within seconds of
  the agent's logout (or of the session expiring) instead of streaming on;
- a stream ends after `STREAM_SECONDS` (the browser reconnects by itself, `Last-Event-ID`
  telling the server where it was), so no request holds a server thread for ever.

Each open stream holds one of waitress's threads for its whole life (about two per signed-in
agent), so the pool (`threads`) must be sized for them. waitress 3 sends each chunk as it is
yielded (no buffering to tune: `send_bytes` is deprecated, 1 byte); tests/console/
test_streams_waitress.py checks all this through a real waitress server.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from flask import Response
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Event", "encode", "stream", "response", "client_gone_check", "POLL_SECONDS", "HEARTBEAT_SECONDS",
           "STREAM_SECONDS", "WAITRESS_OPTIONS"]

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 10.0
STREAM_SECONDS = 300.0
RETRY_MS = 2000  # how soon the browser reconnects after a stream ended

# What waitress needs for these streams (python -m console serves with them): keep reading a
# connection while its request runs, so a closed page is seen at once and
# `environ["waitress.client_disconnected"]` answers.
WAITRESS_OPTIONS = {"channel_request_lookahead": 1}


@dataclass(frozen=True)
class Event:
    name: str
    data: Any  # JSON-ready
    id: int | None = None  # the browser sends the last one back as Last-Event-ID when it reconnects


def encode(event: Event) -> bytes:
    """One event in the text/event-stream format (JSON data has no raw newline, so one data line).

    >>> encode(Event("queue", {"n": 1}, id=7))
    b'id: 7\\nevent: queue\\ndata: {"n": 1}\\n\\n'
    """
    lines = [] if event.id is None else [f"id: {event.id}"]
    lines += [f"event: {event.name}", "data: " + json.dumps(event.data, ensure_ascii=False)]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


Poll = Callable[[Session], list[Event]]


def stream(sessions: sessionmaker, poll: Poll, still_signed_in: Callable[[Session], bool],
           client_gone: Callable[[], bool] = lambda: False, *, poll_seconds: float = POLL_SECONDS,
           heartbeat_seconds: float = HEARTBEAT_SECONDS, stream_seconds: float = STREAM_SECONDS,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
           ) -> Iterator[bytes]:
    """The bytes of one stream: `poll`'s events as they come, heartbeats, until the client goes
    away (waitress closes the generator, or `client_gone`), the session ends, or time is up."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    started = last_beat = clock()
    while True:
        with sessions() as session:
            events = poll(session)
            beat = clock() - last_beat >= heartbeat_seconds
            if beat and not still_signed_in(session):
                return
        for event in events:
            yield encode(event)
        if beat:
            last_beat = clock()
            yield b": keep-alive\n\n"
        if client_gone() or clock() - started >= stream_seconds:
            return
        sleep(poll_seconds)


def client_gone_check(environ: Mapping[str, Any]) -> Callable[[], bool]:
    """waitress's own disconnect check when it offers one (`channel_request_lookahead` > 0)."""
    check = environ.get("waitress.client_disconnected")
    return check if callable(check) else (lambda: False)


def response(body: Iterator[bytes]) -> Response:
    return Response(body, mimetype="text/event-stream", headers={
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",  # nginx in front: pass each event through at once
    })
