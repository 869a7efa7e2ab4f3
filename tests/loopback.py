"""An HTTP server on 127.0.0.1 (a free port) in a background thread: what the fakes of outside
services (WeChat's API, the SMS provider) run on, so they speak real HTTP to the code under test."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

Handle = Callable[[BaseHTTPRequestHandler, str], None]  # (request, "GET" or "POST")


class LoopbackServer:
    def __init__(self, handle: Handle, name: str) -> None:
        self._handle = handle
        self._name = name
        self._server: Optional[ThreadingHTTPServer] = None

    def start(self) -> "LoopbackServer":
        handle = self._handle

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                handle(self, "POST")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name=self._name, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"


class LoopbackFake:
    """Base of the fakes: `start()` serves `_handle(request, method)` on loopback, `url` says
    where, `stop()` ends it. Subclasses name themselves with `server_name`."""

    server_name = "fake"
    _http: Optional[LoopbackServer] = None

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    def start(self):  # returns the fake itself, of its own type
        self._http = LoopbackServer(self._handle, self.server_name).start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    @property
    def url(self) -> str:
        assert self._http is not None, "start() the fake first"
        return self._http.url
