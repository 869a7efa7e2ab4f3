"""Several Rasa replicas: socket.io rooms shared through Redis (WEBCHAT_SOCKETIO_REDIS_URL), so a
push sent by one replica reaches the merchant's page connected to another. Runs when
TEST_REDIS_URL names a Redis server (CI sets it)."""
from __future__ import annotations

import os
import time
import uuid

import pytest

from bot.channel_trust import webchat_conversation_id

from .conftest import ChatClient, allow_socketio_client, running_channel

REDIS_URL = os.environ.get("TEST_REDIS_URL")
MERCHANT, OTHER = "822100000000001", "822100000000002"

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set")


def test_a_push_from_one_replica_reaches_the_page_on_another(development_mode, monkeypatch):
    allow_socketio_client(monkeypatch)
    monkeypatch.setenv("WEBCHAT_SOCKETIO_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("WEBCHAT_SOCKETIO_REDIS_CHANNEL", f"webchat-test-{uuid.uuid4().hex}")
    with running_channel() as replica_a, running_channel() as replica_b:
        page, stranger = ChatClient(replica_b), ChatClient(replica_b)
        try:
            page.connect(replica_b.token(MERCHANT))
            stranger.connect(replica_b.token(OTHER))
            output = replica_a.channel.get_output_channel()  # what an agent's reply on replica A uses
            replica_a.run(output.send_text_message(webchat_conversation_id(MERCHANT), "客服：您好，我来帮您"))
            assert page.wait_for("bot_uttered") == [{"text": "客服：您好，我来帮您"}]
            # The page's own turns are answered by the replica holding its socket, as before.
            page.emit("user_uttered", {"message": "你好"})
            assert page.wait_for("bot_uttered", count=2)[1] == {"text": "收到1"}
            assert replica_a.agent.received == []
            time.sleep(0.3)
            assert stranger.received["bot_uttered"] == []
        finally:
            page.close()
            stranger.close()
