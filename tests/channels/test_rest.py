"""The REST channel on a real Sanic server on loopback, with a stand-in for Rasa's agent: what the
merchant gets when the dialogue answers, fails, or says nothing at all, and the messages waiting
in the outbox (an agent's reply) that come with the merchant's next message."""
from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from typing import Any, Awaitable, Callable, List, Tuple

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.agents import outbox
from bot.db.engine import session_scope
from bot.rasa.channels.rest import BoundedRestInput
from bot.responses import response_text

CARD = "6222021000000000124"
_apps = itertools.count(1)


@pytest.fixture(autouse=True)
def database(engine):
    """Every turn reads the outbox: a migrated database of the test's own."""
    return engine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _say(answer: Callable[[UserMessage], Awaitable[None]], body: Any) -> Tuple[int, List[dict]]:
    """POST `body` to the channel mounted as Rasa mounts it, the dialogue being `answer`."""
    Sanic.test_mode = True  # several apps in one process (see tests/wechat/harness.py)
    app = Sanic(f"rest_test_{next(_apps)}")
    app.config.ACCESS_LOG = False
    app.blueprint(BoundedRestInput().blueprint(answer), url_prefix="/webhooks/rest")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/webhooks/rest/webhook", json=body) as reply:
                return reply.status, await reply.json()
    finally:
        server.close()
        await server.wait_closed()


def test_replies_of_the_dialogue_are_returned_as_they_are():
    async def answer(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "您好")

    assert asyncio.run(_say(answer, {"sender": "m1", "message": "你好"})) == (
        200, [{"recipient_id": "m1", "text": "您好"}])


def test_a_turn_without_any_reply_gets_the_internal_error_apology(caplog):
    # What Rasa does when a custom action fails (action server down): logs it, listens, no exception.
    async def silent(_: UserMessage) -> None:
        return None

    caplog.set_level(logging.WARNING)
    status, replies = asyncio.run(_say(silent, {"sender": "m1", "message": f"卡号 {CARD}"}))
    assert status == 200
    assert replies == [{"recipient_id": "m1", "text": response_text("utter_internal_error")}]
    assert "no reply" in caplog.text and CARD not in caplog.text


def test_a_failing_turn_gets_the_technical_problem_apology(caplog):
    async def failing(_: UserMessage) -> None:
        raise RuntimeError("the dialogue broke")

    status, replies = asyncio.run(_say(failing, {"sender": "m1", "message": f"卡号 {CARD}"}))
    assert (status, [reply["text"] for reply in replies]) == (200, [response_text("utter_technical_problem")])
    assert CARD not in caplog.text


async def _hello(message: UserMessage) -> None:
    await message.output_channel.send_text_message(message.sender_id, "好的，收到")


def test_waiting_outbox_messages_come_first_and_once_an_agents_with_its_name():
    with session_scope() as session:
        outbox.post(session, "m1", "rest", "您好，我是客服王芳", author_name="王芳")
        outbox.post(session, "m1", "rest", "好的，我们接着办理。")
        outbox.post(session, "m2", "rest", "别人的消息", author_name="王芳")
    assert asyncio.run(_say(_hello, {"sender": "m1", "message": "你好"})) == (200, [
        {"recipient_id": "m1", "text": "您好，我是客服王芳", "agent": "王芳"},
        {"recipient_id": "m1", "text": "好的，我们接着办理。"},
        {"recipient_id": "m1", "text": "好的，收到"},
    ])
    assert asyncio.run(_say(_hello, {"sender": "m1", "message": "你好"}))[1] == [
        {"recipient_id": "m1", "text": "好的，收到"}]
    with session_scope() as session:
        assert [message.text for message in outbox.undelivered(session, "rest")] == ["别人的消息"]


def test_the_delivered_mark_is_returned_as_it_is_and_is_no_silence():
    mark = {"delivered_to_agent": True, "label": "已送达客服"}

    async def delivered(message: UserMessage) -> None:
        await message.output_channel.send_custom_json(message.sender_id, dict(mark))

    assert asyncio.run(_say(delivered, {"sender": "m1", "message": "好的"})) == (
        200, [{"recipient_id": "m1", "custom": mark}])


def test_an_agents_reply_comes_even_when_the_turn_fails():
    async def failing(_: UserMessage) -> None:
        raise RuntimeError("the dialogue broke")

    with session_scope() as session:
        outbox.post(session, "m1", "rest", "您好", author_name="王芳")
    _, replies = asyncio.run(_say(failing, {"sender": "m1", "message": "你好"}))
    assert replies == [{"recipient_id": "m1", "text": "您好", "agent": "王芳"},
                       {"recipient_id": "m1", "text": response_text("utter_technical_problem")}]
