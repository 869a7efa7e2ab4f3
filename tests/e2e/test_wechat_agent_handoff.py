"""A WeChat follower handed off mid-form, with the real assistant and the fake WeChat API: the
agent's reply reaches the follower through the customer-service API after the agent's name, the
follower's messages to the agent get nothing back from the bot (the delivered mark sends nothing
and is no silence), and the hand-back's question reaches WeChat through the outbox."""
from __future__ import annotations

import time

import pytest

from bot.agents import live
from bot.agents.handback import hand_back_to_bot
from bot.agents.handoff import open_handoff_for
from bot.channel_trust import wechat_conversation_id
from bot.responses import response_text
from e2e.test_agent_handoff import AGENT, AGENT_NAME, database
from e2e.test_wechat_conversation import Follower, wechat_assistant  # noqa: F401 - a fixture

pytestmark = pytest.mark.servers

REPLY = "您好，我是客服王芳。原卡丢失也可以线上办理，请放心。"


@pytest.fixture(autouse=True)
def as_the_console(wechat_assistant, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    assistant, _ = wechat_assistant
    monkeypatch.setenv("BOT_VAR_DIR", str(assistant.var_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("BOT_DATA_KEY", raising=False)


def test_an_agent_answers_a_wechat_follower_and_hands_back(wechat_assistant):  # noqa: F811
    assistant, fake = wechat_assistant
    follower = Follower(assistant, fake, "oE2eHandoff00000000000000001", phone="13800000006")
    assert "商户编号" in follower.say("我要换结算卡")
    assert "验证码" in follower.say("822100000000006")
    follower.say(follower.last_code())
    follower.say("线上办理")
    assert "身份证" in follower.say("原卡丢失")
    assert "人工" in follower.say("转人工")

    sent = len(fake.messages_to(follower.openid))
    with database(assistant) as session:
        ticket = open_handoff_for(session, wechat_conversation_id(follower.openid))
        live.claim(session, ticket.id, AGENT)
        live.reply(session, ticket.id, AGENT, AGENT_NAME, REPLY)
    assert fake.wait_for_messages(follower.openid, sent + 1, timeout=30)[sent:] == [
        response_text("utter_agent_prefix", agent=AGENT_NAME) + REPLY]

    # To the agent: recorded, and the bot sends nothing (no waiting message, no apology).
    msg_id = int(time.time() * 1000)
    assert follower.post(follower.pusher.text(follower.openid, "好的，谢谢", msg_id=msg_id)) == (200, "success")
    follower._wait_processed(f"msg:{msg_id}")
    time.sleep(1.5)
    assert len(fake.messages_to(follower.openid)) == sent + 1
    with database(assistant) as session:
        assert live.messages_after(session, ticket.id)[-1]["text"] == "好的，谢谢"

    with database(assistant) as session:
        hand_back_to_bot(session, ticket.id, AGENT, base_url=assistant.base_url)
    assert fake.wait_for_messages(follower.openid, sent + 3, timeout=30)[sent + 1:] == [
        response_text("utter_resumed"), response_text("utter_ask_holder_id_number")]
    assert "卡号" in follower.say("420106198709093215")  # the form goes on, values kept
