"""A merchant's conversation over the WeChat channel with the real assistant (`bot serve`), in safe
mode: pushes signed and encrypted as WeChat's servers do, replies observed at a fake WeChat API
on loopback (WECHAT_API_BASE), codes read from the SMS outbox."""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator, List, Tuple

import pytest
from sqlalchemy import create_engine, text

from bot.rasa.channels.safety_net import INTERNAL_ERROR_RESPONSE
from bot.responses import response_text
from bot.settings import PROJECT_ROOT
from bot.wechat.protocol import parse_flat_xml
from e2e.conftest import Assistant, _free_port, start_assistant, stop_assistant
from wechat.fake_server import FakeWeChat
from wechat.pusher import AES_KEY, TOKEN, Pusher

pytestmark = pytest.mark.servers

CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
CHANNEL_ENTRY = "bot.rasa.channels.wechat.WeChatInput"


@pytest.fixture(scope="module")
def wechat_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Assistant, FakeWeChat]]:
    """The assistant with the WeChat channel in safe mode, its API calls going to a fake WeChat."""
    credentials = (PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")
    if CHANNEL_ENTRY not in credentials:
        pytest.fail(f"credentials.yml does not enable the WeChat channel: add a line `{CHANNEL_ENTRY}:`")
    fake = FakeWeChat().start()
    settings = {
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": fake.app_id,
        "WECHAT_APP_SECRET": fake.app_secret,
        "WECHAT_AES_KEY": AES_KEY,
        "WECHAT_API_BASE": fake.url,
    }
    try:
        running = start_assistant(tmp_path_factory.mktemp("wechat-var"), rasa_port=_free_port(),
                                  action_port=_free_port(), env=settings)
    except BaseException:
        fake.stop()
        raise
    yield running, fake
    stop_assistant(running)
    fake.stop()


class Follower:
    """One WeChat follower chatting with the Official Account."""

    def __init__(self, assistant: Assistant, fake: FakeWeChat, openid: str, phone: str = "") -> None:
        self.assistant = assistant
        self.fake = fake
        self.openid = openid
        self.phone = phone
        self.pusher = Pusher(aes_key=AES_KEY, app_id=fake.app_id)
        self.url = assistant.base_url + "/webhooks/wechat/webhook"
        self._database = create_engine(f"sqlite:///{assistant.var_dir / 'bot.db'}", future=True)

    def post(self, xml: str) -> Tuple[int, str]:
        query, body = self.pusher.push(xml, openid=self.openid)
        request = urllib.request.Request(self.url + "?" + urllib.parse.urlencode(query), data=body,
                                         headers={"Content-Type": "text/xml"})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, reply.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")

    def push(self, xml: str, dedup_key: str) -> List[str]:
        """Post `xml`, wait until the channel has processed it, and return the replies sent."""
        before = len(self.fake.messages_to(self.openid))
        assert self.post(xml) == (200, "success")
        self._wait_processed(dedup_key)
        replies = self.fake.messages_to(self.openid)[before:]
        # Every push gets the dialogue's own answer, not the channel's apology for silence.
        assert replies and replies != [response_text(INTERNAL_ERROR_RESPONSE)], f"no reply from the dialogue: {replies}"
        return replies

    def say(self, message: str) -> str:
        msg_id = int(time.time() * 1000)
        return "\n".join(self.push(self.pusher.text(self.openid, message, msg_id=msg_id), f"msg:{msg_id}"))

    def subscribe(self) -> str:
        created = int(time.time())
        return "\n".join(self.push(self.pusher.event(self.openid, "subscribe", create_time=created),
                                   f"event:{self.openid}:{created}"))

    def last_code(self) -> str:
        outbox = self.assistant.var_dir / "sms_outbox.jsonl"
        messages = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines() if line.strip()]
        mine = [message["text"] for message in messages if message["to"] == self.phone]
        assert mine, f"no SMS to {self.phone}"
        codes = CODE.findall(mine[-1])
        assert len(codes) == 1, mine[-1]
        return codes[0]

    def _wait_processed(self, dedup_key: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._database.connect() as connection:
                processed = connection.execute(
                    text("SELECT processed_at FROM wechat_inbound_messages WHERE dedup_key = :key"), {"key": dedup_key}
                ).scalar()
            if processed is not None:
                return
            time.sleep(0.2)
        raise AssertionError(f"{dedup_key} was not processed within {timeout} s; sent: {self.fake.sent}")


def test_url_verification_and_forged_pushes(wechat_assistant):
    assistant, fake = wechat_assistant
    pusher = Pusher(aes_key=AES_KEY, app_id=fake.app_id)
    url = assistant.base_url + "/webhooks/wechat/webhook?"
    with urllib.request.urlopen(url + urllib.parse.urlencode(pusher.verification("e2e-echo")), timeout=10) as reply:
        assert reply.read() == b"e2e-echo"
    forger = Follower(assistant, fake, "oForger000000000000000000001")
    forger.pusher = Pusher(token="not-the-token", aes_key=AES_KEY, app_id=fake.app_id)
    assert forger.post(forger.pusher.text(forger.openid, "伪造"))[0] == 403


def test_a_merchant_changes_the_card_over_wechat_in_safe_mode(wechat_assistant):
    assistant, fake = wechat_assistant
    merchant = Follower(assistant, fake, "oE2eMerchant0000000000000001", phone="13800000001")

    assert "结算助手" in merchant.subscribe()
    assert "商户编号" in merchant.say("我要换结算卡")
    assert "验证码" in merchant.say("822100000000001")

    reply = merchant.say(merchant.last_code())
    assert "身份验证成功" in reply
    # The route buttons arrive as numbered lines naming what to type.
    assert re.search(r"^1\..*线上办理", reply, re.MULTILINE), reply
    assert re.search(r"^2\..*去网点办理", reply, re.MULTILINE), reply

    assert "原因" in merchant.say("线上办理")
    assert "身份证" in merchant.say("原卡丢失")
    assert "卡号" in merchant.say("310101198503171233")
    named = merchant.say("6222021000000000124")  # the card names its bank: no bank question
    assert "中国工商银行 借记卡，尾号0124" in named and "户名" in named
    assert "支行" in merchant.say("张伟")
    confirmation = merchant.say("工商银行上海浦东支行")
    assert "6222 02** **** ***0 124" in confirmation and "6222021000000000124" not in confirmation
    assert "尾号0124" in merchant.say("确认")
    filed = merchant.say(merchant.last_code())
    reference = re.search(r"CR\d{8}-[0-9A-Z]{4}", filed).group()
    assert "身份证人像面照片" in filed  # filed without photos: the bot says what is missing

    # The follower sends the ID photo as a WeChat image: downloaded through the media API,
    # stored, named and attached to the request.
    fake.add_media("media-id-front", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 256 + b"\xff\xd9")
    msg_id = int(time.time() * 1000)
    received = "\n".join(merchant.push(merchant.pusher.image(merchant.openid, "media-id-front", msg_id=msg_id),
                                      f"msg:{msg_id}"))
    assert "已收到您上传的身份证人像面照片" in received and reference in received
    with merchant._database.connect() as connection:
        attached = connection.execute(text(
            "SELECT d.kind FROM uploaded_documents d JOIN change_requests r ON r.id = d.change_request_id"
            " WHERE r.reference = :reference"), {"reference": reference}).scalars().all()
        bound = connection.execute(text(
            "SELECT m.merchant_number FROM wechat_bindings b JOIN merchants m ON m.id = b.merchant_id"
            " WHERE b.openid = :openid"), {"openid": merchant.openid}).scalar()
    assert attached == ["id_front"]
    # Identified with a code to the registered phone: next time this follower is recognised.
    assert bound == "822100000000001"


def test_a_replayed_push_is_answered_once(wechat_assistant):
    assistant, fake = wechat_assistant
    merchant = Follower(assistant, fake, "oE2eReplay000000000000000001")
    xml = merchant.pusher.text(merchant.openid, "审核要几天", msg_id=424242)
    first = merchant.push(xml, "msg:424242")
    assert first, "no answer to a FAQ question"
    assert merchant.post(xml) == (200, "success")
    time.sleep(2)
    assert fake.messages_to(merchant.openid) == first


def test_a_voice_message_gets_an_encrypted_request_to_type(wechat_assistant):
    assistant, fake = wechat_assistant
    merchant = Follower(assistant, fake, "oE2eVoice0000000000000000001")
    status, body = merchant.post(merchant.pusher.voice(merchant.openid))
    assert status == 200
    reply = parse_flat_xml(merchant.pusher.open_reply(body).encode("utf-8"))
    assert reply["Content"] == response_text("utter_please_type")
    assert reply["ToUserName"] == merchant.openid
    assert fake.messages_to(merchant.openid) == []


def test_over_long_texts_are_answered_that_they_are_too_long(wechat_assistant):
    # Issue 9: 20,000 characters got HTTP 400 and the follower nothing.
    assistant, fake = wechat_assistant
    merchant = Follower(assistant, fake, "oE2eTooLong00000000000000001")
    too_long = response_text("utter_message_too_long")
    msg_id = int(time.time() * 1000)
    assert merchant.push(merchant.pusher.text(merchant.openid, "长" * 20_000, msg_id=msg_id),
                         f"msg:{msg_id}") == [too_long]
    # Several megabytes: answered at once in the (encrypted) HTTP reply, never read whole.
    status, body = merchant.post(merchant.pusher.text(merchant.openid, "长" * 1_000_000))
    assert status == 200
    assert parse_flat_xml(merchant.pusher.open_reply(body).encode("utf-8"))["Content"] == too_long
    # The conversation goes on.
    assert "商户编号" in merchant.say("我要换结算卡")
