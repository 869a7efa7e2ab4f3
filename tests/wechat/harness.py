"""The channel served by a real Sanic server on a free loopback port, with a stand-in for Rasa's
agent (`Dialogue`) that records what reaches the dialogue and answers through the channel's
output channel, as `agent.handle_message` does."""
from __future__ import annotations

import itertools
import socket
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Dict, List, Mapping, Optional, Tuple

import aiohttp
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.rasa.channels.wechat import WeChatInput

_app_names = itertools.count(1)

Reply = Dict[str, Any]


class Dialogue:
    """Records each UserMessage; answers with `answer(message)` (default: one text echoing the
    kind of message), or raises when `failing` is set."""

    def __init__(self, answer: Optional[Callable[[UserMessage], List[Reply]]] = None) -> None:
        self.messages: List[UserMessage] = []
        self.answer = answer or (lambda message: [{"text": "收到：" + message.text}])
        self.failing = False

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        if self.failing:
            raise RuntimeError("the dialogue broke")
        for reply in self.answer(message):
            await message.output_channel.send_response(message.sender_id, reply)

    @property
    def texts(self) -> List[str]:
        return [message.text for message in self.messages]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def serving(channel: WeChatInput, dialogue: Dialogue) -> AsyncIterator["Endpoint"]:
    """The channel's blueprint in a Sanic app on a free port, mounted where Rasa mounts it."""
    # Several apps start in this process; Sanic's test mode makes each rewrite ("touch up") its
    # HTTP methods from the originals instead of failing on the second app. Left on afterwards:
    # once rewritten, the methods need it for any later app in the session too.
    Sanic.test_mode = True
    app = Sanic(f"wechat_test_{next(_app_names)}")
    app.config.ACCESS_LOG = False
    app.blueprint(channel.blueprint(dialogue), url_prefix="/webhooks/wechat")
    port = free_port()
    # create_server already listens (it awaits the asyncio server); startup() finalises the routes.
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    http = aiohttp.ClientSession()
    try:
        yield Endpoint(f"http://127.0.0.1:{port}/webhooks/wechat/webhook", http, channel)
    finally:
        await http.close()
        await server.before_stop()  # the channel's listener: finish turns, close its HTTP client
        server.close()
        await server.wait_closed()
        await server.after_stop()


class Endpoint:
    def __init__(self, url: str, http: aiohttp.ClientSession, channel: WeChatInput) -> None:
        self.url = url
        self.http = http
        self.channel = channel

    async def get(self, query: Mapping[str, str]) -> Tuple[int, str]:
        async with self.http.get(self.url, params=dict(query)) as reply:
            return reply.status, await reply.text()

    async def post(self, query: Mapping[str, str], body: bytes, headers: Optional[Dict[str, str]] = None) -> Tuple[int, str]:
        async with self.http.post(self.url, params=dict(query), data=body,
                                  headers=headers or {"Content-Type": "text/xml"}) as reply:
            return reply.status, await reply.text()

    async def push(self, pusher: Any, xml: str, **kwargs: Any) -> Tuple[int, str]:
        """Sign (and encrypt) `xml` like WeChat, post it, and wait for the background turn."""
        status, text = await self.post(*pusher.push(xml, **kwargs))
        await self.channel.drain(30)
        return status, text
