"""How hand-back and close talk to Rasa's HTTP API, checked against a small HTTP server on loopback
standing in for Rasa (the e2e test tests/e2e/test_agent_handoff.py runs them against the real
one), what reaches the merchant's channel, and the API token `bot serve` gives Rasa."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Dict, Iterator, List

import pytest
from sqlalchemy import select

from bot.agents import handoff, outbox
from bot.agents.handback import RasaUnreachable, ResumeFailed, close_conversation, hand_back_to_bot
from bot.db.models import AuditEvent, Handoff, HandoffStatus
from bot.ops.devserver import api_token_arguments
from bot.responses import response_text

QUESTION = {"recipient_id": "x", "text": "请问更换结算卡的原因是？",
            "buttons": [{"title": "原卡丢失", "payload": "原卡丢失"}, {"title": "更换开户银行", "payload": "更换开户银行"}]}


class FakeRasa:
    """Records every call; GET tracker answers `tracker`, trigger_intent answers `messages`."""

    def __init__(self) -> None:
        self.calls: List[Dict[str, Any]] = []
        self.tracker: Dict[str, Any] = {"slots": {}, "paused": False}
        self.messages: List[Dict[str, Any]] = []
        self.status = 200
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(fake.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake.calls.append({"method": "GET", "path": self.path})
                self._answer(fake.tracker)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append({"method": "POST", "path": self.path, "body": body})
                if "/trigger_intent" in self.path:
                    fake.tracker["slots"]["handoff"] = None
                    self._answer({"tracker": {}, "messages": fake.messages})
                else:
                    self._answer({})

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def posts(self) -> List[Dict[str, Any]]:
        return [call for call in self.calls if call["method"] == "POST"]


@pytest.fixture
def rasa(monkeypatch) -> Iterator[FakeRasa]:
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    fake = FakeRasa()
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    yield fake
    fake.server.shutdown()


def _handed_off(session, rasa: FakeRasa, conversation: str, channel: str) -> Handoff:
    opened = handoff.open_handoff(session, conversation, channel, handoff.MERCHANT_REQUEST).handoff
    rasa.tracker = {"slots": {"handoff": {"id": opened.id, "resume": "change_form"}}, "paused": False}
    return opened


def _outbox(session, channel: str) -> List[tuple]:
    return [(message.conversation_id, message.text, message.author_name)
            for message in outbox.undelivered(session, channel)]


def _audited(session, action: str) -> List[AuditEvent]:
    return session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars().all()


def test_hand_back_resumes_through_the_merchants_intent_and_queues_what_the_bot_said(session, rasa):
    ticket = _handed_off(session, rasa, "wechat-oABC", "wechat")
    rasa.messages = [{"recipient_id": "wechat-oABC", "text": "好的，我们接着办理，您已填写的信息都还在。"}, QUESTION]
    hand_back_to_bot(session, ticket.id, "wang", base_url=rasa.url)
    assert rasa.calls[0] == {"method": "GET", "path": "/conversations/wechat-oABC/tracker?include_events=NONE"}
    assert rasa.posts() == [{"method": "POST", "path": "/conversations/wechat-oABC/trigger_intent",
                             "body": {"name": "resume_bot"}}]
    assert _outbox(session, "wechat") == [
        ("wechat-oABC", "好的，我们接着办理，您已填写的信息都还在。", None),
        ("wechat-oABC", "请问更换结算卡的原因是？\n1. 回复“原卡丢失”\n2. 回复“更换开户银行”", None),
    ]
    assert HandoffStatus(session.get(Handoff, ticket.id).status) is HandoffStatus.RESOLVED
    assert [row.actor for row in _audited(session, "handoff.handed_back")] == ["staff:wang"]


def test_hand_back_of_a_web_chat_pushes_to_its_pages_not_the_outbox(session, rasa):
    ticket = _handed_off(session, rasa, "webchat-822100000000001", "webchat")
    hand_back_to_bot(session, ticket.id, "wang", base_url=rasa.url)
    assert rasa.posts()[0]["path"] == "/conversations/webchat-822100000000001/trigger_intent?output_channel=webchat"
    assert _outbox(session, "webchat") == []  # the tracker has it: the page's history redraws it


def test_hand_back_is_idempotent(session, rasa):
    ticket = _handed_off(session, rasa, "rest-1", "rest")
    rasa.messages = [QUESTION]
    hand_back_to_bot(session, ticket.id, "wang", base_url=rasa.url)
    hand_back_to_bot(session, ticket.id, "wang", base_url=rasa.url)
    assert len(rasa.posts()) == 1 and len(_outbox(session, "rest")) == 1
    assert len(_audited(session, "handoff.handed_back")) == 1


def test_a_conversation_back_with_the_bot_already_is_not_resumed_again(session, rasa):
    ticket = _handed_off(session, rasa, "rest-1", "rest")
    rasa.tracker = {"slots": {"handoff": None}, "paused": False}  # the merchant said 继续自助办理 meanwhile
    hand_back_to_bot(session, ticket.id, "wang", base_url=rasa.url)
    assert rasa.posts() == [] and HandoffStatus(session.get(Handoff, ticket.id).status) is HandoffStatus.RESOLVED


def test_a_paused_conversation_of_old_is_resumed_first(session, rasa):
    ticket = handoff.open_handoff(session, "rest-1", "rest", handoff.MERCHANT_REQUEST).handoff
    rasa.tracker = {"slots": {}, "paused": True}
    hand_back_to_bot(session, ticket.id, "wang", base_url=rasa.url)
    assert [call["path"].split("/")[-1] for call in rasa.posts()] == ["events", "trigger_intent"]
    assert rasa.posts()[0]["body"] == [{"event": "resume"}]


def test_the_api_token_goes_with_every_call(session, rasa, monkeypatch):
    monkeypatch.setenv("RASA_API_TOKEN", "s3cret&more")
    ticket = _handed_off(session, rasa, "wechat-oABC", "wechat")
    hand_back_to_bot(session, ticket.id, "wang", base_url=rasa.url)
    assert all(call["path"].endswith("token=s3cret%26more") for call in rasa.calls)


def test_close_restarts_the_conversation_and_tells_the_merchant(session, rasa):
    ticket = _handed_off(session, rasa, "wechat-oABC", "wechat")
    close_conversation(session, ticket.id, "wang", base_url=rasa.url)
    assert rasa.posts() == [{"method": "POST", "path": "/conversations/wechat-oABC/tracker/events",
                             "body": [{"event": "restart"}]}]
    assert _outbox(session, "wechat") == [("wechat-oABC", response_text("utter_conversation_closed"), None)]
    assert [row.actor for row in _audited(session, "handoff.closed")] == ["staff:wang"]
    rasa.tracker = {"slots": {"handoff": None}, "paused": False}  # as the restart left it
    close_conversation(session, ticket.id, "wang", base_url=rasa.url)
    assert len(rasa.posts()) == 1 and len(_outbox(session, "wechat")) == 1


def test_unreachable_rasa_is_a_clear_error_after_the_handoff_is_resolved(session):
    ticket = handoff.open_handoff(session, "rest-1", "rest", handoff.MERCHANT_REQUEST).handoff
    for end in (hand_back_to_bot, close_conversation):
        with pytest.raises(RasaUnreachable, match="could not reach Rasa"):
            end(session, ticket.id, "wang", base_url="http://127.0.0.1:9", timeout_s=2)
    assert HandoffStatus(session.get(Handoff, ticket.id).status) is HandoffStatus.RESOLVED
    assert ResumeFailed is RasaUnreachable


def test_rasa_refusing_the_call_is_the_same_error(session, rasa):
    ticket = _handed_off(session, rasa, "rest-1", "rest")
    rasa.status = 401
    with pytest.raises(RasaUnreachable, match="401"):
        hand_back_to_bot(session, ticket.id, "wang", base_url=rasa.url)


def test_bot_serve_gives_rasa_the_api_token_only_when_set(monkeypatch):
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    assert api_token_arguments() == []
    monkeypatch.setenv("RASA_API_TOKEN", "t0ken")
    assert api_token_arguments() == ["--auth-token", "t0ken"]


def test_bot_serve_points_the_console_at_its_own_rasa_server(monkeypatch):
    import argparse

    from bot.ops.devserver import child_environment

    monkeypatch.delenv("RASA_URL", raising=False)
    monkeypatch.delenv("BOT_BIND_HOST", raising=False)
    args = argparse.Namespace(rasa_port=6123, action_port=6124, console_port=6125)
    assert child_environment(args)["RASA_URL"] == "http://localhost:6123"
    monkeypatch.setenv("RASA_URL", "http://rasa.internal:5005")  # an operator's choice stays
    assert child_environment(args)["RASA_URL"] == "http://rasa.internal:5005"
