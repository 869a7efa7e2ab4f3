"""The channels' limits on the running assistant (`bot serve`, the real Rasa server): the REST body
cap and rate limit, a WeChat follower over the limit told in the passive reply, and a follower
who identified with a code losing the binding on unsubscribe."""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from typing import Iterator, Tuple

import pytest
from sqlalchemy import create_engine, text

from bot.responses import response_text
from bot.settings import PROJECT_ROOT
from bot.wechat.protocol import parse_flat_xml
from e2e.conftest import Assistant, _free_port, start_assistant, stop_assistant
from e2e.test_wechat_conversation import CHANNEL_ENTRY, Follower
from wechat.fake_server import FakeWeChat
from wechat.pusher import AES_KEY, TOKEN

pytestmark = pytest.mark.servers

SENDER_LIMIT = 4


@pytest.fixture(scope="module")
def limited_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Assistant, FakeWeChat]]:
    """The assistant with small limits (4 messages a minute per sender) and WeChat in safe mode."""
    assert CHANNEL_ENTRY in (PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")
    fake = FakeWeChat().start()
    settings = {
        "RATE_LIMIT_SENDER_PER_MINUTE": str(SENDER_LIMIT), "RATE_LIMIT_IP_PER_MINUTE": "1000",
        "WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": fake.app_id, "WECHAT_APP_SECRET": fake.app_secret,
        "WECHAT_AES_KEY": AES_KEY, "WECHAT_API_BASE": fake.url,
    }
    try:
        running = start_assistant(tmp_path_factory.mktemp("limits-var"), rasa_port=_free_port(),
                                  action_port=_free_port(), env=settings)
    except BaseException:
        fake.stop()
        raise
    yield running, fake
    stop_assistant(running)
    fake.stop()


def _post_raw(assistant: Assistant, body: bytes) -> Tuple[int, dict, object]:
    request = urllib.request.Request(assistant.base_url + "/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read()), reply.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), error.headers


def test_rest_body_cap_and_rate_limit_on_the_real_server(limited_assistant):
    assistant, _ = limited_assistant
    huge = json.dumps({"sender": "m-huge", "message": "你好" + "x" * 200_000}).encode()
    status, replies, _ = _post_raw(assistant, huge)
    assert status == 413 and replies[0]["text"] == response_text("utter_request_too_large", max_kb="64")

    sender = f"test-{uuid.uuid4().hex[:12]}"
    for _ in range(SENDER_LIMIT):
        assistant.say(sender, "审核要几天")
    status, replies, headers = _post_raw(assistant, json.dumps({"sender": sender, "message": "审核要几天"}).encode())
    assert status == 429
    wait_s = headers["Retry-After"]
    assert replies == [{"recipient_id": sender, "text": response_text("utter_rate_limited", seconds=wait_s)}]
    # Not processed: the conversation holds the four messages only.
    events = assistant.rasa_api(f"/conversations/{sender}/tracker")["events"]
    assert len([event for event in events if event["event"] == "user"]) == SENDER_LIMIT


def _bindings(assistant: Assistant, openid: str) -> list:
    engine = create_engine(f"sqlite:///{assistant.var_dir / 'bot.db'}", future=True)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT openid FROM wechat_bindings WHERE openid = :openid"),
                                  {"openid": openid}).all()
        audits = connection.execute(text("SELECT actor FROM audit_events WHERE action = 'wechat.unbound'")).all()
    engine.dispose()
    return [row[0] for row in rows], [row[0] for row in audits]


def test_a_wechat_follower_is_bound_by_a_code_unbound_on_unsubscribe_and_limited(limited_assistant):
    assistant, fake = limited_assistant
    follower = Follower(assistant, fake, "oE2eLimits000000000000000001", phone="13800000002")
    follower.subscribe()  # events are not counted
    assert "商户编号" in follower.say("我要换结算卡")
    assert "验证码" in follower.say("822100000000002")
    assert "身份验证成功" in follower.say(follower.last_code())
    assert _bindings(assistant, follower.openid) == ([follower.openid], [])

    created = int(time.time())
    assert follower.post(follower.pusher.event(follower.openid, "unsubscribe", create_time=created)) == (200, "success")
    follower._wait_processed(f"event:{follower.openid}:{created}")
    assert _bindings(assistant, follower.openid) == ([], [f"wechat:{follower.openid}"])

    # Three messages counted so far (the events are not): one more, then the passive refusal.
    follower.say("审核要几天")
    before = len(fake.messages_to(follower.openid))
    status, body = follower.post(follower.pusher.text(follower.openid, "审核要几天", msg_id=int(time.time() * 1000)))
    assert status == 200
    reply = parse_flat_xml(follower.pusher.open_reply(body).encode("utf-8"))
    seconds = re.search(r"\d+", reply["Content"]).group()
    assert reply["Content"] == response_text("utter_rate_limited", seconds=seconds)
    time.sleep(1)
    assert len(fake.messages_to(follower.openid)) == before  # nothing else was sent
