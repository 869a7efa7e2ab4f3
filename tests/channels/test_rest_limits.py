"""The REST channel's limits on a real Sanic server on loopback: the body cap (413 with a Chinese
message, before parsing) and the rate limits per sender and per address (429, Retry-After, the
message not processed and the merchant told when to send it again)."""
from __future__ import annotations

import asyncio
import itertools
import json
from contextlib import asynccontextmanager
from typing import AsyncIterator, List, Optional

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.rasa.channels.rest import BoundedRestInput
from bot.responses import response_text
from channels.test_rest import free_port
from channels.test_rest_auth import production  # noqa: F401 - fixture: BOT_ENV=production with REST secrets

_apps = itertools.count(1)


@pytest.fixture(autouse=True)
def database(engine, monkeypatch):
    """Every turn reads the outbox: a migrated database of the test's own; default limits."""
    monkeypatch.delenv("RATE_LIMIT_SENDER_PER_MINUTE", raising=False)
    monkeypatch.delenv("RATE_LIMIT_IP_PER_MINUTE", raising=False)
    return engine


class Dialogue:
    def __init__(self) -> None:
        self.texts: List[str] = []

    async def __call__(self, message: UserMessage) -> None:
        self.texts.append(message.text)
        await message.output_channel.send_text_message(message.sender_id, "好的")


@asynccontextmanager
async def serving(dialogue: Dialogue, proxies_count: int = 0) -> AsyncIterator[str]:
    """The channel mounted as Rasa mounts it; yields the webhook's URL."""
    Sanic.test_mode = True
    app = Sanic(f"rest_limits_test_{next(_apps)}")
    app.config.ACCESS_LOG = False
    app.config.PROXIES_COUNT = proxies_count
    app.blueprint(BoundedRestInput().blueprint(dialogue), url_prefix="/webhooks/rest")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    finally:
        server.close()
        await server.wait_closed()


async def _post(http: aiohttp.ClientSession, url: str, data: bytes, headers: Optional[dict] = None):
    async with http.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})}) as reply:
        return reply.status, await reply.json(), reply.headers


def _body(sender: str, message: str, padding: int = 0) -> bytes:
    return json.dumps({"sender": sender, "message": message, "pad": "x" * padding}).encode()


def test_a_body_over_64_kb_is_refused_with_413_before_it_reaches_the_dialogue():
    async def scenario():
        dialogue = Dialogue()
        async with serving(dialogue) as url, aiohttp.ClientSession() as http:
            small = await _post(http, url, _body("m1", "你好", padding=60_000))
            big = await _post(http, url, _body("m1", "你好", padding=70_000))
            huge = await _post(http, url, _body("m1", "你好", padding=5_000_000))
        return dialogue, small, big, huge

    dialogue, small, big, huge = asyncio.run(scenario())
    assert small[0] == 200
    too_large = [{"recipient_id": None, "text": response_text("utter_request_too_large", max_kb="64")}]
    assert big[:2] == (413, too_large)
    assert huge[:2] == (413, too_large)
    assert dialogue.texts == ["你好"]


def test_a_chunked_body_is_cut_off_at_the_cap_too():
    async def chunks():
        yield b'{"sender": "m1", "message": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    async def scenario():
        dialogue = Dialogue()
        async with serving(dialogue) as url, aiohttp.ClientSession() as http:
            async with http.post(url, data=chunks(), headers={"Content-Type": "application/json"}) as reply:
                return dialogue, reply.status, await reply.json()

    dialogue, status, replies = asyncio.run(scenario())
    assert status == 413 and replies[0]["text"] == response_text("utter_request_too_large", max_kb="64")
    assert dialogue.texts == []


def test_the_21st_message_of_a_sender_in_a_minute_is_not_processed_and_says_when_to_resend():
    async def scenario():
        dialogue = Dialogue()
        async with serving(dialogue) as url, aiohttp.ClientSession() as http:
            answers = [await _post(http, url, _body("m1", f"第{n}条")) for n in range(21)]
            other = await _post(http, url, _body("m2", "你好"))
        return dialogue, answers, other

    dialogue, answers, other = asyncio.run(scenario())
    assert [status for status, _, _ in answers] == [200] * 20 + [429]
    status, replies, headers = answers[-1]
    wait_s = int(headers["Retry-After"])
    assert 55 <= wait_s <= 60
    assert replies == [{"recipient_id": "m1", "text": response_text("utter_rate_limited", seconds=str(wait_s))}]
    assert "第20条" not in dialogue.texts and len(dialogue.texts) == 21  # 20 of m1, then m2's
    assert other[0] == 200


def test_an_address_sending_for_many_senders_is_limited_at_120_a_minute():
    async def scenario():
        dialogue = Dialogue()
        async with serving(dialogue) as url, aiohttp.ClientSession() as http:
            return [(await _post(http, url, _body(f"s{n}", "你好")))[0] for n in range(121)]

    assert asyncio.run(scenario()) == [200] * 120 + [429]


def test_a_forwarded_address_counts_only_behind_a_configured_proxy(monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_IP_PER_MINUTE", "2")

    async def scenario(proxies_count: int):
        dialogue = Dialogue()
        async with serving(dialogue, proxies_count) as url, aiohttp.ClientSession() as http:
            return [(await _post(http, url, _body(f"s{n}", "你好"), {"X-Forwarded-For": f"203.0.113.{n}"}))[0]
                    for n in range(3)]

    # A client cannot escape the limit by inventing a new X-Forwarded-For each time...
    assert asyncio.run(scenario(0)) == [200, 200, 429]
    # ...but behind the proxy (SANIC_PROXIES_COUNT=1) each merchant's own address counts.
    assert asyncio.run(scenario(1)) == [200, 200, 200]


def test_a_signing_backend_is_limited_per_conversation_not_per_address(monkeypatch, production):
    from channels.test_rest_auth import Dialogue as AuthDialogue, bearer, body, exchange, signed

    monkeypatch.setenv("RATE_LIMIT_SENDER_PER_MINUTE", "2")
    monkeypatch.setenv("RATE_LIMIT_IP_PER_MINUTE", "3")
    # The backend speaks for five users from one address: only each conversation's own limit counts.
    answers = exchange(AuthDialogue(), *[signed(body(sender=f"u{n}")) for n in range(5)],
                       signed(body(sender="u0")), signed(body(sender="u0")))
    assert [status for status, _ in answers] == [200] * 6 + [429]
    # Browsers with the portal's token are counted per address as ever.
    answers = exchange(AuthDialogue(), *[bearer(body(sender=f"p{n}")) for n in range(4)])
    assert [status for status, _ in answers] == [200, 200, 200, 429]
