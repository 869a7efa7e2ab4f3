"""What no merchant's message started reaches the open web chat page: an agent's reply (with the
agent's name) or the bot's words, posted to the outbox (bot.agents.outbox) by the console, pushed
by the channel's poller (bot.rasa.channels.outbox_delivery) once, and redrawn by the history.
The real channel on a real Sanic server, the real database; two replicas share rooms through
Redis when TEST_REDIS_URL is set."""
from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
import requests
from rasa.shared.core.events import BotUttered, UserUttered

from bot.agents import outbox
from bot.channel_trust import webchat_conversation_id
from bot.db.engine import session_scope
from bot.rasa.channels import outbox_delivery
from bot.rasa.channels.webchat_history import history_messages

from .conftest import ChatClient, allow_socketio_client, running_channel

MERCHANT, OTHER = "822100000000001", "822100000000002"
CONVERSATION = webchat_conversation_id(MERCHANT)
REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll every 0.1 s (set before the server starts its pollers)."""
    monkeypatch.setenv("OUTBOX_POLL_SECONDS", "0.1")


def _post(text: str, author: str | None = "王芳", conversation: str = CONVERSATION, channel: str = "webchat") -> int:
    with session_scope() as session:
        return outbox.post(session, conversation, channel, text, author_name=author).id


def _undelivered(conversation: str = CONVERSATION) -> list:
    with session_scope() as session:
        return outbox.undelivered(session, "webchat", [conversation])


def test_an_agents_reply_reaches_every_open_page_once_as_the_agents(server, chat_client):
    page, tab, stranger = chat_client(), chat_client(), chat_client()
    page.connect(server.token(MERCHANT))
    tab.connect(server.token(MERCHANT))
    stranger.connect(server.token(OTHER))
    sent = _post("您好，我是客服王芳，卡号6222021000000000124的卡我来帮您核对")
    for client in (page, tab):
        [message] = client.wait_for("bot_uttered")
        assert message["agent"] == "王芳" and message["outbox_id"] == sent
        assert message["text"].startswith("您好，我是客服王芳") and "6222021000000000124" not in message["text"]
    time.sleep(0.5)  # several more polls: nothing goes out twice, nothing to someone else
    assert len(page.received["bot_uttered"]) == 1 and len(tab.received["bot_uttered"]) == 1
    assert stranger.received["bot_uttered"] == []
    assert _undelivered() == []


def test_the_bots_own_outbox_message_has_no_agent(server, chat_client):
    page = chat_client()
    page.connect(server.token(MERCHANT))
    sent = _post("好的，我们接着办理。", author=None)
    assert page.wait_for("bot_uttered") == [{"text": "好的，我们接着办理。", "outbox_id": sent}]


def test_a_reply_posted_while_the_page_is_closed_waits_for_it(server, chat_client):
    sent = _post("您好，在吗？")
    time.sleep(0.5)
    assert [message.id for message in _undelivered()] == [sent]  # nobody connected: it waits
    page = chat_client()
    page.connect(server.token(MERCHANT))
    assert page.wait_for("bot_uttered") == [{"text": "您好，在吗？", "agent": "王芳", "outbox_id": sent}]
    assert _undelivered() == []


def test_other_channels_messages_are_left_to_them(server, chat_client):
    page = chat_client()
    page.connect(server.token(MERCHANT))
    _post("微信里的回复", conversation="wechat-oMerchant_0001", channel="wechat")
    _post("REST 的回复", conversation=CONVERSATION, channel="rest")
    time.sleep(0.5)
    assert page.received["bot_uttered"] == []
    with session_scope() as session:
        assert len(outbox.undelivered(session, "wechat")) == 1 and len(outbox.undelivered(session, "rest")) == 1


def test_after_a_disconnect_nothing_is_claimed_for_that_page(server, chat_client):
    page = chat_client()
    page.connect(server.token(MERCHANT))
    page.close()
    time.sleep(0.3)  # the server noticed the socket left
    sent = _post("您好？")
    time.sleep(0.5)
    assert [message.id for message in _undelivered()] == [sent]


def test_a_reload_redraws_the_agents_replies_where_they_came(server, chat_client):
    store = server.agent.tracker_store
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker(CONVERSATION, [])
    tracker.update(UserUttered("转人工"))
    server.run(store.save(tracker))
    page = chat_client()
    page.connect(server.token(MERCHANT))
    sent = _post("您好，我来帮您")
    page.wait_for("bot_uttered")
    time.sleep(0.05)
    tracker.update(UserUttered("谢谢"))
    server.run(store.save(tracker))
    reply = requests.get(server.url + "/webhooks/webchat/history",
                         headers={"Authorization": f"Bearer {server.token(MERCHANT)}"})
    assert reply.json()["messages"] == [
        {"sender": "user", "text": "转人工"},
        {"sender": "bot", "text": "您好，我来帮您", "agent": "王芳", "outbox_id": sent},
        {"sender": "user", "text": "谢谢"},
    ]


def test_the_history_leaves_out_the_intent_an_agents_hand_back_triggered():
    events = [UserUttered("转人工"), UserUttered.create_external("resume_bot"), BotUttered("好的，我们接着办理。")]
    assert history_messages(events) == [{"sender": "user", "text": "转人工"},
                                        {"sender": "bot", "text": "好的，我们接着办理。"}]


def test_the_database_is_polled_off_the_event_loop(server, chat_client, monkeypatch):
    threads = []
    claim = outbox_delivery.claim_undelivered

    def recorded(*args):
        threads.append(threading.get_ident())
        return claim(*args)

    monkeypatch.setattr(outbox_delivery, "claim_undelivered", recorded)
    page = chat_client()
    page.connect(server.token(MERCHANT))
    _post("您好")
    page.wait_for("bot_uttered")
    loop_thread = server.run(_thread_ident())
    assert threads and loop_thread not in threads


async def _thread_ident() -> int:
    return threading.get_ident()


@pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set")
def test_two_replicas_deliver_a_reply_once(development_mode, monkeypatch):
    """Both replicas hold a page of the conversation and both poll: one wins each message, and its
    push reaches the pages on both through the shared rooms."""
    allow_socketio_client(monkeypatch)
    monkeypatch.setenv("WEBCHAT_SOCKETIO_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("WEBCHAT_SOCKETIO_REDIS_CHANNEL", f"webchat-test-{uuid.uuid4().hex}")
    with running_channel() as replica_a, running_channel() as replica_b:
        page_a, page_b = ChatClient(replica_a), ChatClient(replica_b)
        try:
            page_a.connect(replica_a.token(MERCHANT))
            page_b.connect(replica_b.token(MERCHANT))
            sent = [_post(f"第{number}条回复") for number in range(1, 6)]
            for page in (page_a, page_b):
                page.wait_for("bot_uttered", count=5)
            time.sleep(0.5)
            for page in (page_a, page_b):
                assert [message["outbox_id"] for message in page.received["bot_uttered"]] == sent
        finally:
            page_a.close()
            page_b.close()
