"""The web chat page in a real browser (Debian's Chromium driven by Playwright) against the real
assistant: demo login, a whole change conversation typed and clicked, a photo upload, a reload in
the middle of the form, refusals, a push from Rasa's HTTP API, and tokens that open nothing.
The last screen is saved to var/reports/webchat.png for the test report."""
from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from bot.webchat import portal_token
from bot.rasa.channels.safety_net import INTERNAL_ERROR_RESPONSE
from bot.channel_trust import webchat_conversation_id
from bot.responses import response_text
from bot.settings import PROJECT_ROOT
from e2e.conftest import _free_port, start_assistant, stop_assistant
from e2e.test_change_conversation import CODE, requests_of
from webchat.images import png_image

pytestmark = pytest.mark.servers

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"the browser tests need Chromium at {CHROMIUM} (scripts/ensure-chromium.sh installs it)",
                allow_module_level=True)

from playwright.sync_api import Page, sync_playwright  # noqa: E402 - only once Chromium is known to exist

SECRET = "e2e-web-chat-signing-secret-0123456789abcdef"
MERCHANT, PHONE = "822100000000001", "13800000001"  # 张伟, micro merchant, current card ABC
OTHER = "822100000000002"
EXPIRED_TEXT = "登录已过期，请从商户门户重新打开"
SCREENSHOT = PROJECT_ROOT / "var" / "reports" / "webchat.png"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TURN_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def web_assistant(tmp_path_factory: pytest.TempPathFactory):
    credentials = (PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")
    if "bot.rasa.channels.webchat.WebChatInput" not in credentials:
        pytest.fail("credentials.yml does not enable the web chat channel (bot.rasa.channels.webchat.WebChatInput:)")
    running = start_assistant(
        tmp_path_factory.mktemp("var-webchat"), rasa_port=_free_port(), action_port=_free_port(),
        env={"WEBCHAT_JWT_SECRET": SECRET, "WEBCHAT_DEMO_LOGIN": "1"},
    )
    yield running
    stop_assistant(running)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    """A phone-sized page in a fresh browser context (its own storage)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2)
    context.set_default_timeout(TURN_TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


class ChatPage:
    """The chat as a merchant uses it: type, click buttons, upload; each returns the bot's answer."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.url = base_url + "/webhooks/webchat/"
        self.answers = page.locator("#messages .msg.bot, #messages .msg.refusal")

    def open(self, token: str | None = None) -> None:
        self.page.goto(self.url + (f"?token={token}" if token else ""))

    def wait_ready(self) -> None:
        self.page.locator("#input:enabled").wait_for()

    def _answer_after(self, seen: int) -> str:
        self.answers.nth(seen).wait_for()
        self.page.locator("#typing").wait_for(state="hidden")  # the turn is complete
        answer = "\n".join(self.answers.all_inner_texts()[seen:])
        # The dialogue's own answer, not the channel's apology for a turn that produced none.
        assert answer.strip() != response_text(INTERNAL_ERROR_RESPONSE), "the dialogue gave no reply"
        return answer

    def say(self, text: str) -> str:
        seen = self.answers.count()
        self.page.fill("#input", text)
        self.page.press("#input", "Enter")
        return self._answer_after(seen)

    def click(self, title: str) -> str:
        seen = self.answers.count()
        self.page.locator(".quick-replies button:enabled", has_text=title).click()
        return self._answer_after(seen)

    def upload(self, path: Path, kind: str) -> str:
        seen = self.answers.count()
        if self.page.locator("#upload-panel").is_hidden():
            self.page.click("#attach")
        self.page.select_option("#doc-kind", kind)
        self.page.set_input_files("#file-input", str(path))
        return self._answer_after(seen)

    def texts(self) -> list[str]:
        return self.page.locator("#messages .msg").all_inner_texts()


def _signing_code(var_dir: Path) -> str:
    lines = (var_dir / "sms_outbox.jsonl").read_text(encoding="utf-8").splitlines()
    last = [json.loads(line) for line in lines if line.strip() and json.loads(line)["to"] == PHONE][-1]
    [code] = CODE.findall(last["text"])
    return code


def _http(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_merchant_changes_the_card_in_the_web_chat(web_assistant, page, tmp_path):
    photo, not_a_photo = tmp_path / "身份证人像面.png", tmp_path / "notes.png"
    photo.write_bytes(png_image())
    not_a_photo.write_bytes(b"this is a text file renamed to .png\n")
    chat = ChatPage(page, web_assistant.base_url)

    chat.open()
    page.locator("button.demo-merchant", has_text="张伟").click()
    chat.wait_ready()
    assert "我要修改结算卡" in chat.texts()[0]  # the hint of an empty conversation

    started = chat.say("我要修改结算卡")
    assert "无需再输入商户编号" in started and "尾号0001" in started  # the token named the merchant
    assert "您想怎么办理" in started
    assert "原因" in chat.click("线上办理")
    assert "身份证号码" in chat.click("原卡丢失")
    assert "卡号" in chat.say("310101198503171233")

    received = chat.upload(photo, "id_front")
    assert "已收到您上传的身份证人像面照片" in received
    assert page.locator("#messages .msg.user img").count() == 1  # the preview bubble
    refused = chat.upload(not_a_photo, "id_back")
    assert "只能接收JPG、PNG格式的照片或PDF文件" in refused

    # A reload in the middle of the form: the conversation is drawn again and goes on.
    page.reload()
    chat.wait_ready()
    redrawn = chat.texts()
    assert "线上办理" in redrawn and "原卡丢失" in redrawn  # buttons shown by their titles
    assert "****1233" in redrawn and not any("310101198503171233" in text for text in redrawn)
    assert "已上传一份材料" in redrawn
    assert "卡号" in redrawn[-1]

    named = chat.say("6222 0210 0000 0000 124")
    assert "中国工商银行 借记卡，尾号0124" in named and "户名" in named  # the card names its bank
    assert "开户支行" in chat.say("张伟")
    confirmation = chat.say("工商银行上海浦东支行")
    assert "6222 02** **** ***0 124" in confirmation and "6222021000000000124" not in confirmation
    assert "尾号0124" in chat.click("确认无误")
    filed = chat.say(_signing_code(web_assistant.var_dir))
    reference = re.search(r"CR\d{8}-[0-9A-Z]{4}", filed).group()
    assert "身份证国徽面照片" in filed and "身份证人像面照片" not in filed  # the photo counted

    [request] = requests_of(web_assistant, MERCHANT)
    assert (request["reference"], request["card_last4"]) == (reference, "0124")
    assert request["status"] == "awaiting_documents"

    # Rasa's HTTP API pushes into the open page (what an agent's reply or a notice uses).
    conversation = webchat_conversation_id(MERCHANT)
    execute = f"{web_assistant.base_url}/conversations/{conversation}/execute?output_channel=webchat"
    status, _ = _http("POST", execute, body={"name": "utter_greet"})
    assert status == 200
    page.locator("#messages .msg.bot", has_text="可以帮您在线修改").last.wait_for()

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


def test_portal_link_token_leaves_the_address_bar_and_opens_only_its_merchant(web_assistant, page):
    other_token = portal_token.issue_token(OTHER, SECRET)
    chat = ChatPage(page, web_assistant.base_url)
    chat.open(other_token)
    chat.wait_ready()
    assert "token" not in page.url
    assert page.locator("#who").inner_text().endswith("****0002")

    history = f"{web_assistant.base_url}/webhooks/webchat/history"
    status, body = _http("GET", history, token=other_token)
    assert status == 200 and body["conversation_id"] == webchat_conversation_id(OTHER)
    mine = portal_token.issue_token(MERCHANT, SECRET)
    status, _ = _http("GET", f"{history}?conversation_id={webchat_conversation_id(OTHER)}", token=mine)
    assert status == 403
    forged = portal_token.issue_token(OTHER, "someone-elses-secret-of-sufficient-length")
    assert _http("GET", history, token=forged)[0] == 401


def test_expired_token_is_refused_with_a_chinese_message(web_assistant, page):
    import socketio  # python-socketio's client: the refusal at the connection itself

    expired = portal_token.issue_token(MERCHANT, SECRET, now=time.time() - 3 * 3600)
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(web_assistant.base_url, auth={"token": expired}, transports=["polling"], wait_timeout=10)

    chat = ChatPage(page, web_assistant.base_url)
    chat.open(expired)
    page.locator("#notice", has_text=EXPIRED_TEXT).wait_for()
    assert page.locator("#input").is_disabled()
    assert "token" not in page.url


def test_authenticator_enrolment_shows_a_qr_code(web_assistant, page):
    """enable_2fa on the page: an SMS code first (the token alone is not enough to add a factor),
    then the QR code and the typed secret; pyotp plays the app."""
    import pyotp

    token = portal_token.issue_token("822100000000008", SECRET)  # 周强
    chat = ChatPage(page, web_assistant.base_url)
    chat.open(token)
    chat.wait_ready()
    assert "短信验证码" in chat.say("我想开启两步验证")
    lines = (web_assistant.var_dir / "sms_outbox.jsonl").read_text(encoding="utf-8").splitlines()
    [code] = CODE.findall([json.loads(line) for line in lines if json.loads(line)["to"] == "13800000008"][-1]["text"])
    shown = chat.say(code)
    qr = page.locator("#messages .msg.bot img").last
    assert qr.get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert qr.evaluate("image => image.complete && image.naturalWidth > 0")  # it renders
    secret = re.search(r"密钥：([A-Z2-7 ]+)（", shown).group(1).replace(" ", "")
    assert "动态口令已开启" in chat.say(pyotp.TOTP(secret).now())
    # Shown once: after a reload the redrawn chat says the secret was hidden.
    page.reload()
    chat.wait_ready()
    page.locator("#messages .msg.bot", has_text="只显示一次").first.wait_for()
    redrawn = "\n".join(chat.texts())
    assert secret[:8] not in redrawn.replace(" ", "") and "动态口令已开启" in redrawn
    assert page.locator("#messages img[src^='data:image/svg']").count() == 0
