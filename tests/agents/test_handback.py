"""How hand-back talks to Rasa's HTTP API, checked against a small HTTP server on loopback, and
the API token `bot serve` gives Rasa when RASA_API_TOKEN is set."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator, List

import pytest

from bot.ops.devserver import api_token_arguments
from bot.agents.handback import ResumeFailed, resume_conversation


@pytest.fixture
def rasa_api() -> Iterator[tuple[str, List[dict]]]:
    """Answers 200 to every POST and records its path and JSON body."""
    calls: List[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append({"path": self.path, "body": json.loads(body)})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", calls
    server.shutdown()


def test_resume_ends_the_handoff_state_and_listens(rasa_api, monkeypatch):
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    url, calls = rasa_api
    resume_conversation("webchat-822100000000001", url)
    assert calls == [{"path": "/conversations/webchat-822100000000001/tracker/events",
                      "body": [{"event": "resume"}, {"event": "slot", "name": "handoff", "value": None},
                               {"event": "action", "name": "action_listen"}]}]


def test_resume_sends_the_api_token_when_one_is_set(rasa_api, monkeypatch):
    monkeypatch.setenv("RASA_API_TOKEN", "s3cret&more")
    url, calls = rasa_api
    resume_conversation("wechat-oABC", url)
    assert calls[0]["path"] == "/conversations/wechat-oABC/tracker/events?token=s3cret%26more"


def test_unreachable_rasa_is_reported_as_retryable():
    with pytest.raises(ResumeFailed):
        resume_conversation("c1", "http://127.0.0.1:9", timeout_s=2)


def test_bot_serve_gives_rasa_the_api_token_only_when_set(monkeypatch):
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    assert api_token_arguments() == []
    monkeypatch.setenv("RASA_API_TOKEN", "t0ken")
    assert api_token_arguments() == ["--auth-token", "t0ken"]
