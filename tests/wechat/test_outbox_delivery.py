"""An agent's reply to a WeChat follower: posted to the outbox (bot.agents.outbox) by the console,
sent by the channel's poller through the customer-service API (the fake WeChat API here) after the
agent's name, once, whichever replica polls; and the bot's delivered mark while an agent has the
conversation is a reply that sends nothing."""
from __future__ import annotations

import asyncio

import pytest

from bot.agents import outbox
from bot.channel_trust import wechat_conversation_id
from bot.db.engine import session_scope
from bot.rasa.channels.wechat import WeChatInput
from bot.responses import response_text
from bot.wechat.replies import MAX_TEXT_BYTES
from wechat.fake_server import SEND
from wechat.harness import Dialogue, serving

OPENID = "oMerchant_0001-test"
CONVERSATION = wechat_conversation_id(OPENID)
DELIVERED = {"custom": {"delivered_to_agent": True, "label": "已送达客服"}}


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOX_POLL_SECONDS", "0.1")


def _post(sessions, text: str, author: str | None = "王芳", conversation: str = CONVERSATION) -> int:
    with session_scope(sessions) as session:
        return outbox.post(session, conversation, "wechat", text, author_name=author).id


def _undelivered(sessions) -> list:
    with session_scope(sessions) as session:
        return outbox.undelivered(session, "wechat")


async def _messages(fake_wechat, count: int) -> list:
    return await asyncio.to_thread(fake_wechat.wait_for_messages, OPENID, count, 10)


async def test_an_agents_reply_reaches_the_follower_after_the_agents_name(make_config, sessions, fake_wechat):
    async with serving(WeChatInput(make_config(), sessions), Dialogue()):
        _post(sessions, "您好，我是客服王芳，您的新卡尾号0124，我来帮您核对。")
        assert await _messages(fake_wechat, 1) == ["客服王芳：您好，我是客服王芳，您的新卡尾号0124，我来帮您核对。"]
        _post(sessions, "好的，我们接着办理。", author=None)  # the bot's own words: no name
        assert (await _messages(fake_wechat, 2))[1] == "好的，我们接着办理。"
        await asyncio.sleep(0.5)
    assert fake_wechat.messages_to(OPENID)[0].startswith(response_text("utter_agent_prefix", agent="王芳"))
    assert len(fake_wechat.messages_to(OPENID)) == 2 and _undelivered(sessions) == []


async def test_a_long_reply_is_split_like_the_bots(make_config, sessions, fake_wechat):
    async with serving(WeChatInput(make_config(), sessions), Dialogue()):
        _post(sessions, "请核对：" + "卡" * 999)
        pieces = await _messages(fake_wechat, 2)
    assert all(len(piece.encode()) <= MAX_TEXT_BYTES for piece in pieces)
    assert "".join(pieces) == "客服王芳：请核对：" + "卡" * 999


async def test_a_reply_goes_out_once_whichever_replica_polls(make_config, sessions, fake_wechat):
    replica_a, replica_b = WeChatInput(make_config(), sessions), WeChatInput(make_config(), sessions)
    async with serving(replica_a, Dialogue()), serving(replica_b, Dialogue()):
        for number in range(1, 6):
            _post(sessions, f"第{number}条")
        await _messages(fake_wechat, 5)
        await asyncio.sleep(0.5)
    assert fake_wechat.messages_to(OPENID) == [f"客服王芳：第{number}条" for number in range(1, 6)]


async def test_an_unconfigured_account_does_not_poll(fake_wechat, sessions):
    from bot.wechat.config import WeChatConfig

    async with serving(WeChatInput(WeChatConfig(api_base=fake_wechat.url), sessions), Dialogue()):
        _post(sessions, "您好")
        await asyncio.sleep(0.4)
    assert [message.text for message in _undelivered(sessions)] == ["您好"] and fake_wechat.calls[SEND] == 0


async def test_the_delivered_mark_is_a_reply_that_sends_nothing(make_config, sessions, fake_wechat, plain_pusher):
    dialogue = Dialogue(answer=lambda message: [dict(DELIVERED)])
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        status, _ = await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "好的，我等您"))
    assert status == 200 and dialogue.texts == ["好的，我等您"]
    assert fake_wechat.messages_to(OPENID) == []  # neither the mark nor the apology for silence
