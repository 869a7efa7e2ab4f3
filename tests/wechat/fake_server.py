"""A fake WeChat API on loopback, for the channel's tests and the end-to-end test.

It implements what the channel calls, the way WeChat answers it:
- `POST /cgi-bin/stable_token`: the current token (a new one when forced or expired); a token
  replaced by a forced refresh is rejected from then on;
- `POST /cgi-bin/message/custom/send`: records the text message; errcode 40001 for an unknown or
  revoked token, 45002 for content over 2048 bytes;
- `GET /cgi-bin/media/get`: the bytes stored with `add_media`, or errcode 40007.

Faults are programmed per endpoint (`fail`, `delay`, `reject_token_once`) and every call is
counted. It runs in a thread of its own (ThreadingHTTPServer), so both async tests and the real
assistant in another process can use it.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Deque, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlparse

from loopback import LoopbackFake

TOKEN = "stable_token"
SEND = "custom_send"
MEDIA = "media_get"
_PATHS = {"/cgi-bin/stable_token": TOKEN, "/cgi-bin/message/custom/send": SEND, "/cgi-bin/media/get": MEDIA}


@dataclass
class SentMessage:
    touser: str
    content: str
    access_token: str
    raw_body: bytes  # as it arrived: to check the JSON is UTF-8, not \u escapes


@dataclass
class _Fault:
    status: int = 500
    delay_s: float = 0.0
    errcode: Optional[int] = None


@dataclass
class FakeWeChat(LoopbackFake):
    server_name = "fake-wechat"

    app_id: str = "wx0123456789abcdef"
    app_secret: str = "fake-app-secret"
    expires_in: int = 7200

    calls: Counter = field(default_factory=Counter)
    token_requests: List[dict] = field(default_factory=list)
    sent: List[SentMessage] = field(default_factory=list)
    media: Dict[str, Tuple[bytes, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._faults: Dict[str, Deque[_Fault]] = defaultdict(deque)
        self._token_serial = 0
        self._valid_tokens: Dict[str, float] = {}  # token -> expiry (monotonic)
        self._current: Optional[str] = None

    # --- programming it ------------------------------------------------------------------------

    def fail(self, endpoint: str, times: int, status: int = 500) -> None:
        """The next `times` calls to `endpoint` answer HTTP `status`."""
        with self._lock:
            self._faults[endpoint].extend(_Fault(status=status) for _ in range(times))

    def busy(self, endpoint: str, times: int) -> None:
        """The next `times` calls answer errcode -1 (system busy) with HTTP 200."""
        with self._lock:
            self._faults[endpoint].extend(_Fault(status=200, errcode=-1) for _ in range(times))

    def delay(self, endpoint: str, times: int, seconds: float) -> None:
        """The next `times` calls to `endpoint` answer only after `seconds` (client timeouts)."""
        with self._lock:
            self._faults[endpoint].extend(_Fault(status=200, delay_s=seconds) for _ in range(times))

    def revoke_token(self) -> None:
        """The current token stops working (as when someone else forced a refresh): the next send
        gets errcode 40001 and only a forced refresh issues a new one."""
        with self._lock:
            if self._current:
                self._valid_tokens.pop(self._current, None)

    def add_media(self, media_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        with self._lock:
            self.media[media_id] = (data, content_type)

    @property
    def current_token(self) -> Optional[str]:
        return self._current

    def forced_refreshes(self) -> int:
        return sum(1 for request in self.token_requests if request.get("force_refresh"))

    def messages_to(self, openid: str) -> List[str]:
        with self._lock:  # a reentrant lock: wait_for_messages calls this holding it
            return [message.content for message in self.sent if message.touser == openid]

    def wait_for_messages(self, openid: str, count: int, timeout: float = 30.0) -> List[str]:
        """The texts sent to `openid`, once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages_to(openid)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} messages to {openid}, got {self.messages_to(openid)}")
                self._lock.wait(left)
            return self.messages_to(openid)

    # --- serving -------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(request.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        endpoint = _PATHS.get(url.path)
        if endpoint is None:
            return self._reply(request, 404, b"not found", "text/plain")
        with self._lock:
            self.calls[endpoint] += 1
            fault = self._faults[endpoint].popleft() if self._faults[endpoint] else None
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            elif fault.errcode is not None:
                return self._json(request, {"errcode": fault.errcode, "errmsg": "system error"})
            else:
                return self._reply(request, fault.status, b"<html>server error</html>", "text/html")
        if endpoint == TOKEN and method == "POST":
            return self._json(request, self._stable_token(json.loads(body)))
        if endpoint == SEND and method == "POST":
            return self._json(request, self._send(query.get("access_token", ""), body))
        if endpoint == MEDIA and method == "GET":
            return self._media(request, query)
        return self._reply(request, 405, b"", "text/plain")

    def _stable_token(self, payload: dict) -> dict:
        with self._lock:
            self.token_requests.append(payload)
            if payload.get("appid") != self.app_id or payload.get("secret") != self.app_secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            now = time.monotonic()
            current_valid = self._current in self._valid_tokens and self._valid_tokens[self._current] > now
            if payload.get("force_refresh") or not current_valid:
                if payload.get("force_refresh") and self._current:
                    self._valid_tokens.pop(self._current, None)
                self._token_serial += 1
                self._current = f"ACCESS_TOKEN_{self._token_serial}"
                self._valid_tokens[self._current] = now + self.expires_in
            return {"access_token": self._current, "expires_in": self.expires_in}

    def _send(self, token: str, body: bytes) -> dict:
        payload = json.loads(body.decode("utf-8"))
        with self._lock:
            if self._valid_tokens.get(token, 0) <= time.monotonic():
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            content = payload.get("text", {}).get("content", "")
            if payload.get("msgtype") != "text" or not payload.get("touser"):
                return {"errcode": 40008, "errmsg": "invalid message type"}
            if len(content.encode("utf-8")) > 2048:
                return {"errcode": 45002, "errmsg": "content size out of limit"}
            self.sent.append(SentMessage(payload["touser"], content, token, body))
            self._lock.notify_all()
        return {"errcode": 0, "errmsg": "ok"}

    def _media(self, request: BaseHTTPRequestHandler, query: dict) -> None:
        with self._lock:
            valid = self._valid_tokens.get(query.get("access_token", ""), 0) > time.monotonic()
            stored = self.media.get(query.get("media_id", ""))
        if not valid:
            return self._json(request, {"errcode": 40001, "errmsg": "invalid credential"})
        if stored is None:
            return self._json(request, {"errcode": 40007, "errmsg": "invalid media_id"})
        data, content_type = stored
        self._reply(request, 200, data, content_type)

    def _json(self, request: BaseHTTPRequestHandler, payload: dict) -> None:
        # WeChat answers errors as text/plain JSON at times; the client must not rely on the type.
        self._reply(request, 200, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json")

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        try:
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass
