"""The web chat channel mounted on a real Sanic server (in a thread, on a free port), with a stand-in
for Rasa's agent: it records the messages the channel passes on and answers through the channel's
output, or fails on demand, so the channel's own guarantees can be checked without a model."""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from contextlib import contextmanager
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import aiohttp
import pytest
import socketio
from rasa.core.channels.channel import UserMessage, register
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from sanic import Sanic

from bot.webchat import portal_token
from bot.rasa.channels.webchat import WebChatInput

FAIL = "请让对话出错"
SILENT = "请让对话沉默"  # answered with nothing, as Rasa does when a custom action fails


@dataclass
class FakeAgent:
    """What the channel calls: `handle_message`, and the tracker store the history reads."""

    tracker_store: InMemoryTrackerStore = field(default_factory=lambda: InMemoryTrackerStore(Domain.empty()))
    received: List[UserMessage] = field(default_factory=list)
    silent: bool = False  # every message answered with nothing

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        if message.text == FAIL:
            raise RuntimeError("the dialogue broke")
        if self.silent or message.text == SILENT:
            return
        await message.output_channel.send_text_message(message.sender_id, f"收到{len(self.received)}")


@dataclass
class Server:
    url: str
    agent: FakeAgent
    channel: WebChatInput
    loop: asyncio.AbstractEventLoop

    def token(self, merchant: str = "822100000000001") -> str:
        return portal_token.issue_token(merchant, portal_token.secret())

    def run(self, coroutine):
        """Run a coroutine on the server's loop (e.g. a push through the output channel)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_channel() -> Iterator[Server]:
    """One web chat channel as Rasa mounts it (`register`) on a real Sanic server of its own."""
    app = Sanic(f"webchat_test_{_free_port()}")
    agent = FakeAgent()
    app.ctx.agent = agent
    channel = WebChatInput()
    register([channel], app, "/webhooks/")
    port = _free_port()
    loop = asyncio.new_event_loop()
    asyncio_server = loop.run_until_complete(
        app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    )
    loop.run_until_complete(asyncio_server.startup())
    loop.run_until_complete(asyncio_server.before_start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{port}", agent, channel, loop)
    finally:
        asyncio.run_coroutine_threadsafe(_stop(asyncio_server), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@pytest.fixture
def development_mode(var_dir: Path, engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """No configured secret (a generated one, demo login on); Sanic may start several apps."""
    monkeypatch.delenv("WEBCHAT_JWT_SECRET", raising=False)
    monkeypatch.delenv("WEBCHAT_DEMO_LOGIN", raising=False)
    # Test mode lets Sanic start an app more than once per process (it keeps its original code).
    monkeypatch.setattr(Sanic, "test_mode", True)


@pytest.fixture
def server(development_mode: None) -> Iterator[Server]:
    """The channel as Rasa mounts it, in development mode."""
    with running_channel() as running:
        yield running


async def _stop(asyncio_server) -> None:
    await asyncio_server.before_stop()
    await asyncio_server.close()
    await asyncio_server.after_stop()


class ChatClient:
    """A socket.io client like the page (websocket transport), driven from the test's thread.

    It runs on the server's event loop; what it receives is collected per event name."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: Dict[str, List[Any]] = defaultdict(list)
        for event in ("bot_uttered", "turn_complete", "session_confirm", "session_expired", "connect_error"):
            self.sio.on(event, self._collector(event))

    def _collector(self, event: str):
        async def collect(data: Any = None) -> None:
            self.received[event].append(data)
        return collect

    def connect(self, token: Optional[str]) -> None:
        auth = {"token": token} if token is not None else None
        self.server.run(self.sio.connect(self.server.url, auth=auth, transports=["websocket"],
                                         wait_timeout=5))

    def emit(self, event: str, data: Any) -> None:
        self.server.run(self.sio.emit(event, data))

    def wait_for(self, event: str, count: int = 1, timeout: float = 5) -> List[Any]:
        deadline = time.monotonic() + timeout
        while len(self.received[event]) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event} x{count} within {timeout} s: {dict(self.received)}")
            time.sleep(0.02)
        return self.received[event]

    def texts(self) -> List[str]:
        return [message.get("text") for message in self.received["bot_uttered"]]

    def close(self) -> None:
        if self.sio.connected:
            self.server.run(self.sio.disconnect())


def allow_socketio_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-engineio's websocket client names aiohttp.ClientWSTimeout (aiohttp >= 3.10); Rasa pins
    aiohttp 3.9, whose ws_connect takes the close timeout as a plain number. Test client only."""
    if not hasattr(aiohttp, "ClientWSTimeout"):
        monkeypatch.setattr(aiohttp, "ClientWSTimeout", lambda ws_close: ws_close, raising=False)


@pytest.fixture
def chat_client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], ChatClient]]:
    """Makes connected-later clients; disconnects them all at the end."""
    allow_socketio_client(monkeypatch)
    clients: List[ChatClient] = []

    def make() -> ChatClient:
        clients.append(ChatClient(server))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
