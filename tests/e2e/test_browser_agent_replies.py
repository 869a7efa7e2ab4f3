"""An agent's reply on the web chat page in a real browser (Chromium, Playwright) against the real
assistant: written while the merchant's page is closed, it shows once when the page opens (the push
and the history redraw meet), under the agent's name; the merchant's next message gets only the
small "delivered" mark; a reload redraws both."""
from __future__ import annotations

import pytest

from bot.agents import live
from bot.agents.handoff import open_handoff_for
from bot.webchat import portal_token
from e2e.test_agent_handoff import AGENT, AGENT_NAME, as_the_console, database  # noqa: F401 - a fixture
from e2e.test_browser import ChatPage, browser, page  # noqa: F401 - fixtures
from simulation import provision

pytestmark = pytest.mark.servers

REPLY = "您好，我是客服王芳，您的问题我已经看到了。"


def test_a_reply_written_while_the_page_was_closed_shows_once_under_the_agents_name(assistant, page):  # noqa: F811
    number, _ = provision.Provider(assistant.var_dir, start=92300).new()
    token = portal_token.issue_token(number, portal_token.secret())
    chat = ChatPage(page, assistant.base_url)
    chat.open(token)
    chat.wait_ready()
    assert "人工" in chat.say("转人工")
    page.goto("about:blank")  # the merchant closes the page

    with database(assistant) as session:
        ticket = open_handoff_for(session, f"webchat-{number}")
        live.claim(session, ticket.id, AGENT)
        live.reply(session, ticket.id, AGENT, AGENT_NAME, REPLY)

    chat.open()  # the token is still in sessionStorage
    chat.wait_ready()
    reply = page.locator("#messages .msg.agent", has_text=REPLY)
    reply.wait_for()
    assert page.locator(".agent-name", has_text=f"客服 {AGENT_NAME}").count() == 1
    page.wait_for_timeout(2500)  # more polls, the history long loaded: still once
    assert reply.count() == 1

    page.fill("#input", "好的，谢谢")
    page.press("#input", "Enter")
    mine = page.locator("#messages .msg.user", has_text="好的，谢谢")
    mine.locator(".delivered", has_text="已送达客服").wait_for()
    page.locator("#typing").wait_for(state="hidden")
    assert page.locator("#messages .msg.bot .bubble").last.inner_text() == REPLY  # no bot bubble after it

    page.reload()
    chat.wait_ready()
    page.locator("#messages .msg.agent", has_text=REPLY).wait_for()
    assert page.locator("#messages .msg.agent").count() == 1
    mine.locator(".delivered").wait_for()
