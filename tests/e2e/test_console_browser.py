"""Issue 11's whole loop in a real browser (Debian's Chromium driven by Playwright), two pages at
once against the real assistant (`bot serve`: Rasa, the action server and the agent console):

the merchant asks for a human in the middle of the change form on the web chat page; the ticket
appears in the agent's queue without a reload; the agent claims it and sees the values masked,
replies; the reply shows on the merchant's page under the agent's name; the merchant answers and
the agent sees it live; the agent hands back, and the bot asks the merchant the form's pending
question, the values kept. Screenshots of both pages go to var/reports/ (console_queue.png,
console_agent.png, console_merchant.png) for the test report."""
from __future__ import annotations

import json
from typing import Iterator

import pytest

from bot.responses import response_text
from bot.settings import PROJECT_ROOT
from e2e.conftest import _free_port, start_assistant, stop_assistant
from e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, SECRET, TURN_TIMEOUT_MS, ChatPage

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402 - test_browser checked Chromium

pytestmark = pytest.mark.servers

REPORTS = PROJECT_ROOT / "var" / "reports"
ID_NUMBER = "310101198503171233"  # 张伟's, as the merchant types it
REPLY = "您好，我是客服王芳，已经看到您前面填写的信息，新卡可以继续办理。"
ANSWER = "好的，我的新卡是工商银行的借记卡"


@pytest.fixture(scope="module")
def assistant_with_console(tmp_path_factory: pytest.TempPathFactory):
    running = start_assistant(
        tmp_path_factory.mktemp("var-console-browser"), rasa_port=_free_port(), action_port=_free_port(),
        env={"WEBCHAT_JWT_SECRET": SECRET, "WEBCHAT_DEMO_LOGIN": "1"},
    )
    assert running.console_url, "bot serve runs the agent console"
    yield running
    stop_assistant(running)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _page(browser, **context) -> Iterator[Page]:
    opened = browser.new_context(locale="zh-CN", **context)
    opened.set_default_timeout(TURN_TIMEOUT_MS)
    yield opened.new_page()
    opened.close()


@pytest.fixture
def merchant_page(browser) -> Iterator[Page]:
    yield from _page(browser, viewport={"width": 390, "height": 844}, device_scale_factor=2)


@pytest.fixture
def agent_page(browser) -> Iterator[Page]:
    yield from _page(browser, viewport={"width": 1366, "height": 768})  # a laptop


def _sign_in_as_agent(page: Page, console_url: str, var_dir) -> None:
    """The demo agent `bot demo seed` made (development), with the password it kept in var/."""
    password = json.loads((var_dir / "demo_accounts.json").read_text(encoding="utf-8"))["agent"]
    page.goto(console_url + "/login")
    page.fill("input[name=username]", "agent")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/handoffs")


def test_an_agent_takes_a_web_chat_merchant_live_and_hands_back(assistant_with_console, merchant_page, agent_page):
    assistant = assistant_with_console
    agent = agent_page
    _sign_in_as_agent(agent, assistant.console_url, assistant.var_dir)
    expect(agent.locator("#live-state")).to_have_attribute("data-state", "open")
    agent.evaluate("window.notReloaded = true")  # gone if the page were loaded again

    # The merchant, mid-form: route, reason and ID given, the card number asked; then a human.
    chat = ChatPage(merchant_page, assistant.base_url)
    chat.open()
    merchant_page.locator("button.demo-merchant", has_text="张伟").click()
    chat.wait_ready()
    assert "您想怎么办理" in chat.say("我要修改结算卡")
    assert "原因" in chat.click("线上办理")
    assert "身份证号码" in chat.click("原卡丢失")
    assert "卡号" in chat.say(ID_NUMBER)
    assert response_text("utter_handoff") in chat.say("转人工")

    # The ticket appears in the open queue, no reload.
    row = agent.locator("#queue tbody tr.waiting", has_text="****0001")
    expect(row).to_contain_text("商户要求人工")
    expect(row).to_contain_text("网页聊天")
    assert agent.evaluate("window.notReloaded === true")
    REPORTS.mkdir(parents=True, exist_ok=True)
    agent.screenshot(path=str(REPORTS / "console_queue.png"))

    row.get_by_role("button", name="接入").click()
    agent.wait_for_url("**/handoffs/*")
    collected = agent.locator("#collected")
    expect(collected).to_contain_text("****1233")  # the holder's ID, masked as on the ticket
    expect(collected).to_contain_text("线上办理")
    expect(collected).to_contain_text("原卡丢失")
    expect(agent.locator("#transcript")).to_contain_text("转人工")
    assert ID_NUMBER not in agent.content()
    expect(agent.locator("#live-state")).to_have_attribute("data-state", "open")

    # The agent replies; the merchant's page shows it under the agent's name.
    agent.fill("#reply-text", REPLY)
    agent.click("#reply-form button[type=submit]")
    expect(agent.locator("#reply-state")).to_have_text("已发送给商户。")
    reply = merchant_page.locator("#messages .msg.agent", has_text=REPLY)
    expect(reply).to_be_visible()
    expect(reply).to_contain_text("客服 王芳")

    # The merchant answers (the bot only marks it delivered); the agent sees it live.
    merchant_page.fill("#input", ANSWER)
    merchant_page.press("#input", "Enter")
    expect(merchant_page.locator("#messages .msg.user", has_text=ANSWER).locator(".delivered")).to_be_visible()
    expect(agent.locator("#messages .msg.merchant", has_text=ANSWER)).to_be_visible()
    expect(agent.locator("#messages .msg.agent", has_text=REPLY)).to_contain_text("客服 王芳")
    agent.screenshot(path=str(REPORTS / "console_agent.png"), full_page=True)

    # Hand back: the bot takes the form up where it stopped, on the merchant's page.
    seen = chat.answers.count()
    agent.click("#handback")
    agent.wait_for_url("**/handoffs")
    expect(agent.locator(".flash")).to_contain_text("已交还机器人")
    expect(agent.locator("#queue tbody tr", has_text="****0001")).to_have_count(0)
    resumed = chat.answers.nth(seen)
    expect(resumed).to_contain_text(response_text("utter_resumed"))
    expect(chat.answers.nth(seen + 1)).to_contain_text(response_text("utter_ask_new_account_number"))
    # The values were kept: the card is taken and the form goes on.
    assert "户名" in chat.say("6222 0210 0000 0000 124")
    merchant_page.screenshot(path=str(REPORTS / "console_merchant.png"), full_page=True)
