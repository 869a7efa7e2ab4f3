"""The web chat channel's rate limits (tests/webchat/conftest.py's real server): per merchant and
per address, for typed messages and uploads alike; a refused message is answered on its page
with when to send it again, and never reaches the dialogue."""
from __future__ import annotations

import re
from typing import Iterator

import pytest
import requests

from bot.responses import response_text

from .conftest import Server, running_channel
from .images import png_image

MERCHANT, OTHER = "822100000000001", "822100000000002"


def _limited(text: str) -> bool:
    pattern = re.escape(response_text("utter_rate_limited", seconds="SECONDS")).replace("SECONDS", r"\d+")
    return re.fullmatch(pattern, text or "") is not None


@pytest.fixture
def limited_server(development_mode: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The channel with small limits: 3 messages a minute per merchant, 5 per address."""
    monkeypatch.setenv("RATE_LIMIT_SENDER_PER_MINUTE", "3")
    monkeypatch.setenv("RATE_LIMIT_IP_PER_MINUTE", "5")
    with running_channel() as running:
        yield running


@pytest.fixture
def server(limited_server: Server) -> Server:
    return limited_server  # what conftest's chat_client connects to


def test_a_merchant_over_the_limit_is_told_when_to_resend_and_the_message_goes_nowhere(server, chat_client):
    page, other_tab = chat_client(), chat_client()
    page.connect(server.token(MERCHANT))
    other_tab.connect(server.token(MERCHANT))
    for n in range(4):
        page.emit("user_uttered", {"message": f"第{n}条"})
        page.wait_for("turn_complete", count=n + 1)
    assert [message.text for message in server.agent.received] == ["第0条", "第1条", "第2条"]
    *answers, refusal = page.texts()
    assert answers == ["收到1", "收到2", "收到3"]
    assert _limited(refusal)
    seconds = int(re.search(r"\d+", refusal).group())
    assert 55 <= seconds <= 60
    # The refusal is for the page that sent it; the merchant's other tab saw only the conversation.
    other_tab.wait_for("bot_uttered", count=3)
    assert other_tab.texts() == ["收到1", "收到2", "收到3"]


def test_uploads_count_as_messages_and_are_refused_with_429(server, chat_client):
    page = chat_client()
    page.connect(server.token(MERCHANT))
    for n in range(3):
        page.emit("user_uttered", {"message": f"第{n}条"})
        page.wait_for("turn_complete", count=n + 1)
    reply = requests.post(server.url + "/webhooks/webchat/upload",
                          headers={"Authorization": f"Bearer {server.token(MERCHANT)}"},
                          files={"file": ("photo.png", png_image(), "image/png")}, data={"kind": "id_front"})
    assert reply.status_code == 429 and 55 <= int(reply.headers["Retry-After"]) <= 60
    assert reply.json()["error"] == "rate_limited" and _limited(reply.json()["text"])
    assert len(server.agent.received) == 3


def test_one_address_speaking_for_many_merchants_is_limited(server, chat_client):
    first, second = chat_client(), chat_client()
    first.connect(server.token(MERCHANT))
    second.connect(server.token(OTHER))
    for n in range(3):
        first.emit("user_uttered", {"message": f"甲{n}"})
        first.wait_for("turn_complete", count=n + 1)
    for n in range(3):
        second.emit("user_uttered", {"message": f"乙{n}"})
        second.wait_for("turn_complete", count=n + 1)
    assert len(server.agent.received) == 5  # both from 127.0.0.1: the sixth is over the address's 5
    assert _limited(second.texts()[-1])
