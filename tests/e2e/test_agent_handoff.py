"""A live handoff over REST against the real assistant (Rasa + action server), the agent's side
played through the console's functions on the assistant's database (bot.agents.live, handback):
a merchant asks for a human in the middle of the change form; while nobody has claimed the
conversation the bot says an agent will answer, once an agent has, it only marks each message
delivered; the agent's reply comes with the merchant's next message; the agent hands back and the
bot asks the form's pending question, the values kept; or the agent closes the conversation and
the next message starts afresh."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
from sqlalchemy.orm import Session

from bot.agents import live
from bot.agents.handback import close_conversation, hand_back_to_bot
from bot.agents.handoff import open_handoff_for
from bot.db.engine import make_engine, session_factory, session_scope
from bot.responses import response_text
from e2e.test_change_conversation import Merchant

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
    from simulation import provision  # a merchant of its own: identification sends codes

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
