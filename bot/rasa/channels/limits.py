"""What the channels share about limits: the client's address, the over-limit answer, and a
request body read no further than a cap.

The counting itself is framework-free (bot/ratelimit.py); this is the Sanic side of it.

- `client_ip`: the address a limit counts. Behind a reverse proxy every request comes from the
  proxy, so set Sanic's own settings for it in the Rasa server's environment:
  `SANIC_PROXIES_COUNT=1` (one proxy appending to X-Forwarded-For) or `SANIC_REAL_IP_HEADER=X-Real-IP`
  (or `SANIC_FORWARDED_SECRET`). Without them a client's X-Forwarded-For is not believed: anyone
  could send a new one with each request and never be limited.
- `rate_limited_text`: `utter_rate_limited`, the message was not processed, send it again in N
  seconds (nothing the merchant filled in is lost: the dialogue never saw this message).
- `read_capped_body`: Sanic reads bodies up to 100 MB by default (REQUEST_MAX_SIZE, one setting
  for the whole Rasa server, which also takes model uploads); a streamed route reads its own and
  stops at its cap.
"""
from __future__ import annotations

import os
from typing import Optional

from sanic.exceptions import PayloadTooLarge
from sanic.request import Request

from bot.responses import response_text

# The REST channel's body cap. Rasa's JSON with a 500-character message is well under 2 KB.
REST_MAX_BODY_BYTES = int(os.environ.get("REST_MAX_BODY_BYTES", str(64 * 1024)))
# A body over its cap is still read (and dropped) up to this many bytes, so that an ordinary
# client, still sending, reads the 413 instead of a reset connection; beyond, Sanic closes it.
DISCARD_UP_TO_BYTES = 1024 * 1024


def client_ip(request: Request) -> str:
    """The client's address: what a trusted proxy says (Sanic's forwarding settings), else the
    socket's peer."""
    return request.remote_addr or request.ip


def rate_limited_text(seconds: int) -> str:
    """What the merchant reads instead of an answer: not processed, send again in `seconds`."""
    return response_text("utter_rate_limited", seconds=str(seconds))


def too_large_text(max_bytes: int) -> str:
    return response_text("utter_request_too_large", max_kb=str(max(1, max_bytes // 1024)))


async def read_capped_body(request: Request, max_bytes: int,
                           discard_up_to: int = DISCARD_UP_TO_BYTES) -> Optional[bytes]:
    """The body of a streamed route, or None when it is longer than `max_bytes` (declared in
    Content-Length or as read). Kept as `request.body`, so `request.json` (and anything checking
    a signature of the body) reads it as on an ordinary route."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        if int(declared) <= discard_up_to:
            await _discard(request, discard_up_to)
        return None
    if request.stream is None:  # not a streamed route: Sanic has read the body already
        body = bytes(request.body or b"")
        return body if len(body) <= max_bytes else None
    request.stream.request_max_size = discard_up_to  # Sanic lifts it for streamed routes
    kept = bytearray()
    try:
        while True:
            chunk = await request.stream.read()
            if chunk is None:
                break
            kept += chunk
            if len(kept) > max_bytes:
                await _discard(request, discard_up_to)
                return None
    except PayloadTooLarge:
        return None
    request.body = bytes(kept)
    return request.body


async def _discard(request: Request, discard_up_to: int) -> None:
    """Read the rest of the body and drop it, up to `discard_up_to` bytes in all."""
    if request.stream is None:
        return
    request.stream.request_max_size = discard_up_to
    try:
        while await request.stream.read() is not None:
            pass
    except PayloadTooLarge:
        pass
