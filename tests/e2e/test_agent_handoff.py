"""A live handoff over REST against the real assistant (Rasa + action server), the agent's side
played through the console's functions on the assistant's database (bot.agents.live, handback):
a merchant asks for a human in the middle of the change form; while nobody has claimed the
conversation the bot says an agent will answer, once an agent has, it only marks each message
delivered; the agent's reply comes with the merchant's next message; the agent hands back and the
bot asks the form's pending question, the values kept; or the agent closes the conversation and
the next message starts afresh. Each test has merchants of its own (identification sends codes).
The same on the web chat page, through the real channel: the pushes arrive live."""
from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import pytest
import requests
import socketio
from sqlalchemy.orm import Session

from bot.agents import live
from bot.agents.handback import close_conversation, hand_back_to_bot
from bot.agents.handoff import open_handoff_for
from bot.db.engine import make_engine, session_factory, session_scope
from bot.responses import response_text
from bot.webchat import portal_token
from e2e.test_change_conversation import Merchant
from simulation import provision
from webchat.conftest import allow_socketio_client

pytestmark = pytest.mark.servers

AGENT, AGENT_NAME = "wang", "王芳"
DELIVERED = {"delivered_to_agent": True, "label": "已送达客服"}


@pytest.fixture(autouse=True)
def as_the_console(assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process works on the assistant's database with the assistant's data key (the ticket's
    merchant row is encrypted with it), as the console does."""
    monkeypatch.setenv("BOT_VAR_DIR", str(assistant.var_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("BOT_DATA_KEY", raising=False)


@contextmanager
def database(assistant) -> Iterator[Session]:
    """A session on the assistant's own database, as the console has one."""
    engine = make_engine(f"sqlite:///{assistant.var_dir / 'bot.db'}")
    try:
        with session_scope(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _handed_off_mid_form(assistant, start: int) -> Merchant:
    chat = Merchant(assistant, *provision.Provider(assistant.var_dir, start=start).new())
    chat.identify()
    chat.say("线上办理")
    assert "身份证" in chat.say("原卡丢失")  # the form's next question: the holder's ID
    assert "人工" in chat.say("转人工")
    return chat


def _slots(assistant, sender: str) -> dict:
    return assistant.rasa_api(f"/conversations/{sender}/tracker?include_events=NONE")["slots"]


def test_an_agent_answers_over_rest_then_hands_back_to_the_form(assistant):
    chat = _handed_off_mid_form(assistant, start=92000)
    waiting = chat.say("你好，有人吗")
    assert "人工客服" in waiting and "继续自助办理" in waiting  # nobody has claimed it yet

    with database(assistant) as session:
        ticket = open_handoff_for(session, chat.sender)
        live.claim(session, ticket.id, AGENT)
    # Claimed: the bot no longer chatters, it only marks the message delivered.
    assert assistant.say(chat.sender, "我的新卡是工商银行的") == [{"recipient_id": chat.sender, "custom": DELIVERED}]

    with database(assistant) as session:
        live.reply(session, ticket.id, AGENT, AGENT_NAME, "您好，我是客服王芳。工商银行的卡可以办理，请放心。")
    replies = assistant.say(chat.sender, "好的，谢谢")
    assert replies == [
        {"recipient_id": chat.sender, "text": "您好，我是客服王芳。工商银行的卡可以办理，请放心。", "agent": AGENT_NAME},
        {"recipient_id": chat.sender, "custom": DELIVERED},
    ]
    assert assistant.say(chat.sender, "还有别的要准备吗") == [{"recipient_id": chat.sender, "custom": DELIVERED}]

    with database(assistant) as session:
        seen = [(row["from"], row["text"]) for row in live.messages_after(session, ticket.id)]
    assert seen == [("merchant", "你好，有人吗"), ("merchant", "我的新卡是工商银行的"),
                    ("agent", "您好，我是客服王芳。工商银行的卡可以办理，请放心。"), ("merchant", "好的，谢谢"),
                    ("merchant", "还有别的要准备吗")]

    with database(assistant) as session:
        hand_back_to_bot(session, ticket.id, AGENT, base_url=assistant.base_url)
        hand_back_to_bot(session, ticket.id, AGENT, base_url=assistant.base_url)  # a second click: nothing more
    slots = _slots(assistant, chat.sender)
    assert slots["handoff"] is None and slots["change_reason"] == "原卡丢失" and slots["route"]

    # REST cannot push: the bot's words come with the merchant's next message, here the answer.
    replies = assistant.say(chat.sender, "310101198503171233")
    texts = [reply.get("text") for reply in replies]
    assert texts[:2] == [response_text("utter_resumed"), response_text("utter_ask_holder_id_number")]
    assert all("agent" not in reply for reply in replies)
    assert "卡号" in "\n".join(texts[2:])  # the ID was taken: the form goes on to the card
    assert _slots(assistant, chat.sender)["holder_id_number"] == "310101198503171233"


def test_an_agent_closes_the_conversation_and_the_next_message_starts_afresh(assistant):
    chat = _handed_off_mid_form(assistant, start=92100)
    with database(assistant) as session:
        ticket = open_handoff_for(session, chat.sender)
        live.claim(session, ticket.id, AGENT)
        live.reply(session, ticket.id, AGENT, AGENT_NAME, "已经帮您在后台登记好了。")
        close_conversation(session, ticket.id, AGENT, base_url=assistant.base_url)
    replies = assistant.say(chat.sender, "你好")
    texts = [reply.get("text") for reply in replies]
    assert texts[:2] == ["已经帮您在后台登记好了。", response_text("utter_conversation_closed")]
    answer = "\n".join(texts[2:])
    assert "结算助手" in answer and "继续自助办理" not in answer  # greeted like a first message
    slots = _slots(assistant, chat.sender)
    assert slots["handoff"] is None and slots["change_reason"] is None and not slots["merchant_verified"]


class Page:
    """The web chat page's socket (python-socketio, websocket), on an event loop of its own thread."""

    def __init__(self, assistant, number: str) -> None:
        self.assistant = assistant
        self.token = portal_token.issue_token(number, portal_token.secret())
        self.received: list = []
        self.turns = 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("bot_uttered", self._bot_uttered)
        self.sio.on("turn_complete", self._turn_complete)
        self._run(self.sio.connect(assistant.base_url, auth={"token": self.token}, transports=["websocket"],
                                   wait_timeout=10))

    async def _bot_uttered(self, data) -> None:
        self.received.append(data)

    async def _turn_complete(self, _=None) -> None:
        self.turns += 1

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def wait(self, count: int, timeout: float = 30) -> list:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"no {count} messages: {self.received}"
            time.sleep(0.05)
        return self.received

    def say(self, text: str) -> list:
        """The bot's messages of one turn."""
        before, turns = len(self.received), self.turns
        self._run(self.sio.emit("user_uttered", {"message": text}))
        deadline = time.monotonic() + 60
        while self.turns == turns:
            assert time.monotonic() < deadline, f"no answer to {text!r}"
            time.sleep(0.05)
        return self.received[before:]

    def close(self) -> None:
        self._run(self.sio.disconnect())
        self.loop.call_soon_threadsafe(self.loop.stop)


def _texts(messages: list) -> str:
    return "\n".join(message.get("text") or "" for message in messages)


def test_on_the_web_chat_page_the_agent_answers_live_and_hands_back(assistant, monkeypatch):
    """The real web chat channel of the running assistant: the agent's reply is pushed to the open
    page with the agent's name, the merchant's messages are marked delivered, the hand-back's
    question is pushed, and a reload redraws the agent's reply."""
    allow_socketio_client(monkeypatch)
    number, _ = provision.Provider(assistant.var_dir, start=92200).new()
    page = Page(assistant, number)
    try:
        page.say("我要换结算卡")  # the portal vouches for the merchant: no code needed
        page.say("线上办理")
        assert "身份证" in _texts(page.say("原卡丢失"))
        assert "人工" in _texts(page.say("转人工"))
        seen = len(page.received)
        with database(assistant) as session:
            ticket = open_handoff_for(session, f"webchat-{number}")
            live.claim(session, ticket.id, AGENT)
            live.reply(session, ticket.id, AGENT, AGENT_NAME, "您好，我是客服王芳，请问哪里不清楚？")
        pushed = page.wait(seen + 1)[seen]
        assert pushed["text"] == "您好，我是客服王芳，请问哪里不清楚？" and pushed["agent"] == AGENT_NAME

        assert page.say("身份证号要填谁的？") == [{"custom": DELIVERED}]

        seen = len(page.received)
        with database(assistant) as session:
            hand_back_to_bot(session, ticket.id, AGENT, base_url=assistant.base_url)
        resumed = page.wait(seen + 2)[seen:]
        assert [message.get("text") for message in resumed] == [
            response_text("utter_resumed"), response_text("utter_ask_holder_id_number")]
        assert "卡号" in _texts(page.say("310101198503171233"))

        history = requests.get(assistant.base_url + "/webhooks/webchat/history",
                           headers={"Authorization": f"Bearer {page.token}"}, timeout=30).json()["messages"]
        agent_lines = [entry for entry in history if entry.get("agent")]
        assert [entry["text"] for entry in agent_lines] == ["您好，我是客服王芳，请问哪里不清楚？"]
        assert not any("EXTERNAL" in (entry.get("text") or "") for entry in history)
    finally:
        page.close()
