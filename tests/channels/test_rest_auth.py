"""The REST channel outside development (issue 12, finding 3), on a real Sanic server on loopback: only
a request signed with REST_HMAC_SECRET or carrying the portal's token is admitted; a merchant so
authenticated gets conversations of their own, vouched for like the web chat's, so a second client
that knows the `sender` inherits nothing. Development stays open, as spec/CONTRACTS.md says."""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

import aiohttp
import pytest
from cryptography.fernet import Fernet
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.agents import outbox
from bot.channel_trust import VERIFIED_MERCHANT_KEY, vouched_merchant_number
from bot.db import crypto
from bot.db.engine import session_scope
from bot.rasa.channels.rest import BoundedRestInput
from bot.rasa.channels.rest_auth import MAX_SKEW_S, RestGate, signature
from bot.responses import response_text
from bot.webchat import portal_token
from channels.test_rest import free_port

TOKEN_SECRET = "t" * 48
HMAC_SECRET = "h" * 48
MERCHANT, OTHER = "822100000000001", "822100000000002"
_apps = itertools.count(1)


class Dialogue:
    """Stands in for Rasa's agent: records who spoke in which conversation, and answers."""

    def __init__(self) -> None:
        self.messages: List[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, "好的")

    def merchants(self) -> List[Optional[str]]:
        return [vouched_merchant_number(m.input_channel, m.metadata, m.sender_id) for m in self.messages]


@pytest.fixture(autouse=True)
def database(engine, monkeypatch):
    for name in ("RATE_LIMIT_SENDER_PER_MINUTE", "RATE_LIMIT_IP_PER_MINUTE", "WEBCHAT_DEMO_LOGIN"):
        monkeypatch.delenv(name, raising=False)
    return engine


@pytest.fixture
def production(monkeypatch):
    crypto._cache.clear()
    monkeypatch.setenv("BOT_ENV", "production")
    monkeypatch.setenv("BOT_DATA_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("WEBCHAT_JWT_SECRET", TOKEN_SECRET)
    monkeypatch.setenv("REST_HMAC_SECRET", HMAC_SECRET)
    yield
    crypto._cache.clear()


@asynccontextmanager
async def serving(dialogue: Dialogue) -> AsyncIterator[str]:
    """The channel mounted as Rasa mounts it (with the environment of the test); yields its URL."""
    Sanic.test_mode = True
    app = Sanic(f"rest_auth_test_{next(_apps)}")
    app.config.ACCESS_LOG = False
    app.blueprint(BoundedRestInput().blueprint(dialogue), url_prefix="/webhooks/rest")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    finally:
        server.close()
        await server.wait_closed()


Request = Tuple[bytes, Dict[str, str]]


def body(sender: str = "m1", message: str = "你好", **extra: Any) -> bytes:
    return json.dumps({"sender": sender, "message": message, **extra}, ensure_ascii=False).encode()


def signed(raw: bytes, secret: str = HMAC_SECRET, at: Optional[float] = None) -> Request:
    timestamp = str(int(time.time() if at is None else at))
    return raw, {"X-Bot-Timestamp": timestamp, "X-Bot-Signature": signature(secret, timestamp, raw)}


def bearer(raw: bytes, merchant: str = MERCHANT, secret: str = TOKEN_SECRET) -> Request:
    return raw, {"Authorization": f"Bearer {portal_token.issue_token(merchant, secret)}"}


def exchange(dialogue: Dialogue, *requests: Request) -> List[Tuple[int, Any]]:
    async def run() -> List[Tuple[int, Any]]:
        answers = []
        async with serving(dialogue) as url, aiohttp.ClientSession() as http:
            for raw, headers in requests:
                async with http.post(url, data=raw, headers={"Content-Type": "application/json", **headers}) as reply:
                    answers.append((reply.status, await reply.json()))
        return answers

    return asyncio.run(run())


def assert_refused(answer: Tuple[int, Any], error: str) -> None:
    status, replies = answer
    assert status == 401, answer
    assert replies == [{"recipient_id": None, "text": response_text("utter_unauthorized"), "error": error}]


# --- production: who is admitted --------------------------------------------------------------------


def test_unsigned_expired_and_forged_requests_are_refused_unprocessed(production) -> None:
    dialogue = Dialogue()
    now = time.time()
    tampered_raw, tampered_headers = signed(body(message="你好"))
    answers = exchange(
        dialogue,
        (body(), {}),
        signed(body(), at=now - MAX_SKEW_S - 5),
        signed(body(), at=now + MAX_SKEW_S + 5),
        signed(body(), secret="x" * 48),
        (body(message="改成我的卡"), tampered_headers),  # signed for another body
        (tampered_raw, {**tampered_headers, "X-Bot-Timestamp": str(int(now) - 1)}),  # another time
        (body(), {"X-Bot-Timestamp": str(int(now))}),  # no signature
        (b"not json", {}),  # unauthenticated: refused before anything is parsed
    )
    for answer, error in zip(answers, ["missing_credentials", "stale_timestamp", "stale_timestamp",
                                       "invalid_signature", "invalid_signature", "invalid_signature",
                                       "invalid_signature", "missing_credentials"]):
        assert_refused(answer, error)
    assert dialogue.messages == []


def test_a_signed_request_is_admitted_and_a_client_cannot_vouch_for_a_merchant(production) -> None:
    dialogue = Dialogue()
    raw = body(metadata={VERIFIED_MERCHANT_KEY: MERCHANT, "app": "pos"})
    bare_raw, bare_headers = signed(raw)
    bare_headers["X-Bot-Signature"] = bare_headers["X-Bot-Signature"].removeprefix("sha256=")  # bare hex too
    answers = exchange(dialogue, signed(raw), (bare_raw, bare_headers))
    assert answers == [(200, [{"recipient_id": "m1", "text": "好的"}])] * 2
    assert [m.sender_id for m in dialogue.messages] == ["m1", "m1"]  # the backend's own sender
    assert dialogue.merchants() == [None, None]  # no merchant vouched for by the client's metadata
    assert dialogue.messages[0].metadata == {"app": "pos"}


def test_a_merchant_named_in_the_signed_body_gets_a_conversation_of_their_own(production) -> None:
    dialogue = Dialogue()
    answers = exchange(dialogue, signed(body(merchant=MERCHANT)), signed(body(merchant="12345")))
    assert answers[0] == (200, [{"recipient_id": "m1", "text": "好的"}])
    assert answers[1][0] == 400 and answers[1][1][0]["text"] == response_text("utter_bad_request")
    [message] = dialogue.messages
    assert message.sender_id == f"rest-{MERCHANT}-m1" and dialogue.merchants() == [MERCHANT]


def test_the_portal_token_is_admitted_and_binds_the_sender_to_its_merchant(production) -> None:
    dialogue = Dialogue()
    answers = exchange(
        dialogue,
        bearer(body()),
        bearer(body(), merchant=OTHER),  # another merchant who knows the sender
        signed(body()),  # the backend, naming nobody
        bearer(body(), secret="z" * 48),  # a token the portal did not sign
        (body(), {"Authorization": "Basic bTE6cHc="}),
    )
    assert [status for status, _ in answers[:3]] == [200, 200, 200]
    assert all(replies == [{"recipient_id": "m1", "text": "好的"}] for _, replies in answers[:3])
    assert_refused(answers[3], "invalid_token")
    assert_refused(answers[4], "invalid_token")
    assert [m.sender_id for m in dialogue.messages] == [f"rest-{MERCHANT}-m1", f"rest-{OTHER}-m1", "m1"]
    assert dialogue.merchants() == [MERCHANT, OTHER, None]


def test_nobody_can_name_a_merchants_conversation_as_their_sender(production) -> None:
    dialogue = Dialogue()
    bound = f"rest-{MERCHANT}-m1"
    answers = exchange(dialogue, signed(body(sender=bound)), bearer(body(sender=bound), merchant=OTHER),
                       bearer(body(sender="s" * 65)))
    assert [status for status, _ in answers] == [403, 403, 400]
    assert dialogue.messages == []


def test_an_agents_reply_reaches_the_merchants_bound_conversation_only(production) -> None:
    with session_scope() as session:
        outbox.post(session, f"rest-{MERCHANT}-m1", "rest", "您好，我是客服王芳", author_name="王芳")
    dialogue = Dialogue()
    other, mine = exchange(dialogue, bearer(body(), merchant=OTHER), bearer(body()))
    assert other == (200, [{"recipient_id": "m1", "text": "好的"}])
    assert mine == (200, [{"recipient_id": "m1", "text": "您好，我是客服王芳", "agent": "王芳"},
                          {"recipient_id": "m1", "text": "好的"}])


def test_without_rest_hmac_secret_only_the_portal_token_is_admitted(production, monkeypatch) -> None:
    monkeypatch.delenv("REST_HMAC_SECRET")
    dialogue = Dialogue()
    unsigned, token = exchange(dialogue, signed(body()), bearer(body()))
    assert_refused(unsigned, "signatures_not_configured")
    assert token[0] == 200


def test_production_without_the_token_secret_does_not_mount(production, monkeypatch) -> None:
    monkeypatch.delenv("WEBCHAT_JWT_SECRET")
    with pytest.raises(portal_token.WebTokenConfigError):
        RestGate.from_env()


# --- development: as spec/CONTRACTS.md says ----------------------------------------------------------


def test_development_is_open_and_ignores_credentials(monkeypatch) -> None:
    monkeypatch.delenv("BOT_ENV", raising=False)
    monkeypatch.delenv("REST_HMAC_SECRET", raising=False)
    dialogue = Dialogue()
    answers = exchange(dialogue, (body(), {}), bearer(body(), secret="z" * 48), signed(body(), secret="x" * 48),
                       (body(metadata={VERIFIED_MERCHANT_KEY: MERCHANT}), {}))
    assert answers == [(200, [{"recipient_id": "m1", "text": "好的"}])] * 4
    assert [m.sender_id for m in dialogue.messages] == ["m1"] * 4
    assert dialogue.merchants() == [None] * 4  # what a client's metadata claims never vouches


def test_rest_vouches_only_in_the_merchants_own_conversation() -> None:
    vouching = {VERIFIED_MERCHANT_KEY: MERCHANT}
    assert vouched_merchant_number("rest", vouching, f"rest-{MERCHANT}-m1") == MERCHANT
    assert vouched_merchant_number("rest", vouching, f"rest-{OTHER}-m1") is None
    assert vouched_merchant_number("rest", vouching, "m1") is None
    assert vouched_merchant_number("rest", vouching) is None
