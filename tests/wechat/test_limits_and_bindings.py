"""The WeChat channel's limits and the life of a follower's binding: a follower over the rate limit
is told at once in the passive reply, unprocessed; a binding vouches for the follower for
WECHAT_BINDING_DAYS after the last code and ends (audited) when the follower unsubscribes."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.channel_trust import verified_metadata
from bot.db.engine import session_scope
from bot.db.models import AuditEvent, Merchant, WeChatBinding, WeChatInboundMessage
from bot.ops.demo import seed
from bot.rasa.channels.wechat import WeChatInput
from bot.responses import response_text
from bot.wechat import bind_openid, bound_merchant_number, store
from bot.wechat.protocol import parse_flat_xml
from bot.workdays import utcnow
from wechat.harness import Dialogue, serving

OPENID = "oMerchant_0001-test"
MERCHANT = "822100000000001"


def _merchant(session, number: str = MERCHANT) -> Merchant:
    return session.execute(select(Merchant).where(Merchant.merchant_number == number)).scalar_one()


def _outcomes(sessions) -> dict:
    with session_scope(sessions) as session:
        return {row.dedup_key: row.outcome for row in session.execute(select(WeChatInboundMessage)).scalars()}


@pytest.fixture
def seeded(sessions):
    with session_scope(sessions) as session:
        seed(session)
    return sessions


# --- rate limit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe-mode"])
async def test_a_follower_over_the_limit_is_told_at_once_in_the_passive_reply(make_config, sessions, fake_wechat,
                                                                              plain_pusher, safe_pusher, safe,
                                                                              monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_SENDER_PER_MINUTE", "2")
    pusher = safe_pusher if safe else plain_pusher
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(safe=safe), sessions), dialogue) as endpoint:
        for n in range(2):
            assert await endpoint.push(pusher, pusher.text(OPENID, f"第{n}条", msg_id=100 + n)) == (200, "success")
        status, body = await endpoint.push(pusher, pusher.text(OPENID, "第2条", msg_id=102))
        photo_status, photo_body = await endpoint.push(pusher, pusher.image(OPENID, "media-x", msg_id=103))
        # Another follower is not held up.
        assert await endpoint.push(pusher, pusher.text("oSomeoneElse", "你好", msg_id=104)) == (200, "success")
    assert dialogue.texts == ["第0条", "第1条", "你好"]
    assert status == photo_status == 200
    for passive in (body, photo_body):
        reply = parse_flat_xml(pusher.open_reply(passive).encode("utf-8"))
        assert reply["ToUserName"] == OPENID and reply["MsgType"] == "text"
        seconds = re.search(r"\d+", reply["Content"]).group()
        assert reply["Content"] == response_text("utter_rate_limited", seconds=seconds) and 55 <= int(seconds) <= 60
    assert fake_wechat.messages_to(OPENID) == ["收到：第0条", "收到：第1条"]
    assert _outcomes(sessions)["msg:102"] == _outcomes(sessions)["msg:103"] == "limited"


async def test_retries_of_a_counted_message_are_not_counted_again(make_config, sessions, plain_pusher, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_SENDER_PER_MINUTE", "2")
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        first = plain_pusher.text(OPENID, "你好", msg_id=200)
        for _ in range(3):  # WeChat retrying the same push
            assert await endpoint.push(plain_pusher, first) == (200, "success")
        assert await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "在吗", msg_id=201)) == (200, "success")
    assert dialogue.texts == ["你好", "在吗"]


# --- unsubscribe ---------------------------------------------------------------------------------


async def test_unsubscribing_ends_the_binding_and_is_audited(make_config, seeded, fake_wechat, plain_pusher):
    sessions = seeded
    with session_scope(sessions) as session:
        bind_openid(session, OPENID, _merchant(session))
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "我的申请审核到哪了", msg_id=300))
        assert await endpoint.push(plain_pusher, plain_pusher.event(OPENID, "unsubscribe", create_time=1_800_000_100)) \
            == (200, "success")
        await endpoint.push(plain_pusher, plain_pusher.event(OPENID, "subscribe", create_time=1_800_000_200))
        await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "我的申请审核到哪了", msg_id=301))
    assert dialogue.messages[0].metadata == verified_metadata(MERCHANT)
    assert dialogue.messages[-1].metadata == {}  # identified again only with a new code
    with session_scope(sessions) as session:
        assert session.execute(select(WeChatBinding)).scalars().all() == []
        [event] = session.execute(select(AuditEvent).where(AuditEvent.action == "wechat.unbound")).scalars().all()
        assert event.actor == f"wechat:{OPENID}" and event.merchant.merchant_number == MERCHANT
        assert event.detail["reason"] == "unsubscribe"
    assert _outcomes(sessions)[f"event:{OPENID}:1800000100"] == "unbound"
    assert fake_wechat.messages_to(OPENID)[-1] == "收到：我的申请审核到哪了"


async def test_unsubscribing_without_a_binding_is_only_recorded(make_config, sessions, plain_pusher):
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.event(OPENID, "unsubscribe", create_time=1_800_000_100))
    assert dialogue.messages == []
    assert _outcomes(sessions) == {f"event:{OPENID}:1800000100": "ignored"}


# --- expiry --------------------------------------------------------------------------------------


def test_a_binding_expires_after_the_configured_days_from_the_last_code(session, monkeypatch):
    monkeypatch.delenv("WECHAT_BINDING_DAYS", raising=False)
    seed(session)
    merchant = _merchant(session)
    bound_at = utcnow() - timedelta(days=80)
    bind_openid(session, OPENID, merchant, now=bound_at)
    assert bound_merchant_number(session, OPENID) == MERCHANT
    assert bound_merchant_number(session, OPENID, now=bound_at + timedelta(days=90, seconds=1)) is None
    monkeypatch.setenv("WECHAT_BINDING_DAYS", "30")
    assert bound_merchant_number(session, OPENID) is None
    # A new code renews it for the whole period (only the first binding is audited).
    bind_openid(session, OPENID, merchant)
    assert bound_merchant_number(session, OPENID) == MERCHANT
    bound = session.execute(select(AuditEvent).where(AuditEvent.action == "wechat.bound")).scalars().all()
    assert [event.actor for event in bound] == [f"merchant:{MERCHANT}"]


def test_expired_bindings_are_forgotten_and_audited(session, monkeypatch):
    monkeypatch.delenv("WECHAT_BINDING_DAYS", raising=False)
    seed(session)
    merchant = _merchant(session)
    bind_openid(session, "oOld", merchant, now=utcnow() - timedelta(days=91))
    bind_openid(session, "oRecent", merchant, now=utcnow() - timedelta(days=89))
    assert store.forget_expired_bindings(session) == 1
    assert [binding.openid for binding in session.execute(select(WeChatBinding)).scalars()] == ["oRecent"]
    [event] = session.execute(select(AuditEvent).where(AuditEvent.action == "wechat.unbound")).scalars().all()
    assert (event.actor, event.detail["reason"], event.detail["openid"]) == ("bot", "expired", "oOld")


@pytest.mark.parametrize("value", ["0", "ninety", "-5"])
def test_a_wrong_binding_period_is_refused(monkeypatch, value):
    monkeypatch.setenv("WECHAT_BINDING_DAYS", value)
    with pytest.raises(ValueError, match="WECHAT_BINDING_DAYS"):
        store.binding_max_age()


# --- daily upload quota --------------------------------------------------------------------------


async def test_a_photo_over_the_days_quota_is_explained_and_not_stored(make_config, sessions, fake_wechat,
                                                                      plain_pusher, monkeypatch):
    from bot.db.models import UploadedDocument

    monkeypatch.setenv("UPLOAD_DAILY_MAX_FILES", "1")
    fake_wechat.add_media("media-1", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    dialogue = Dialogue(lambda message: [{"text": "已收到您上传的照片"}])
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.image(OPENID, "media-1", msg_id=400))
        await endpoint.push(plain_pusher, plain_pusher.image(OPENID, "media-1", msg_id=401))
    assert fake_wechat.messages_to(OPENID) == [
        "已收到您上传的照片", response_text("utter_upload_quota_reached", max_files="1", max_mb="50")]
    assert len(dialogue.messages) == 1
    with session_scope(sessions) as session:
        assert len(session.execute(select(UploadedDocument)).scalars().all()) == 1
