"""The WeChat API client against the fake server: the shared token, retries with backoff, token
renewal after 40001, bounded media downloads."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from bot.db.engine import session_scope
from bot.db.models import WeChatAccessToken
from bot.wechat.client import MediaTooLarge, WeChatApiClient, WeChatApiError, WeChatUnavailable
from bot.workdays import utcnow
from wechat.conftest import separate_sessions
from wechat.fake_server import MEDIA, SEND, TOKEN


async def _closing(*clients: WeChatApiClient) -> None:
    for client in clients:
        await client.close()


async def test_one_token_serves_every_worker(make_config, fake_wechat, any_db):
    first = WeChatApiClient(make_config(), separate_sessions(any_db))
    second = WeChatApiClient(make_config(), separate_sessions(any_db))
    try:
        await first.send_text("oUser", "第一条")
        await second.send_text("oUser", "第二条")
        await asyncio.gather(*(client.send_text("oUser", f"并发{n}") for n in range(3) for client in (first, second)))
    finally:
        await _closing(first, second)
    assert fake_wechat.calls[TOKEN] == 1
    assert fake_wechat.token_requests == [
        {"grant_type": "client_credential", "appid": fake_wechat.app_id, "secret": fake_wechat.app_secret,
         "force_refresh": False}
    ]
    assert len(fake_wechat.messages_to("oUser")) == 8


async def test_a_token_about_to_expire_is_renewed_early(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(token_refresh_margin_s=300), sessions)
    try:
        await client.send_text("oUser", "一")
        with session_scope(sessions) as session:
            session.get(WeChatAccessToken, fake_wechat.app_id).expires_at = utcnow() + timedelta(seconds=120)
        await client.send_text("oUser", "二")
    finally:
        await client.close()
    assert fake_wechat.calls[TOKEN] == 2


async def test_messages_are_json_in_utf8(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    try:
        await client.send_text("oUser", "请输入验证码 \"引号\"")
    finally:
        await client.close()
    sent = fake_wechat.sent[0]
    assert "请输入验证码".encode("utf-8") in sent.raw_body
    assert json.loads(sent.raw_body) == {"touser": "oUser", "msgtype": "text",
                                         "text": {"content": "请输入验证码 \"引号\""}}


async def test_send_failing_twice_then_succeeding_delivers_once(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(max_attempts=3), sessions)
    fake_wechat.fail(SEND, times=2, status=502)
    try:
        await client.send_text("oUser", "重试后送达")
    finally:
        await client.close()
    assert fake_wechat.calls[SEND] == 3
    assert fake_wechat.messages_to("oUser") == ["重试后送达"]


async def test_system_busy_and_timeouts_are_retried(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(max_attempts=3, request_timeout_s=0.3), sessions)
    fake_wechat.busy(SEND, times=1)
    fake_wechat.delay(SEND, times=1, seconds=1.0)
    fake_wechat.fail(TOKEN, times=1, status=503)
    try:
        await client.send_text("oUser", "终于")
    finally:
        await client.close()
    assert fake_wechat.calls[TOKEN] == 2
    assert fake_wechat.calls[SEND] == 3
    assert fake_wechat.messages_to("oUser") == ["终于"]


async def test_gives_up_after_the_bounded_number_of_attempts(make_config, fake_wechat, sessions, caplog):
    client = WeChatApiClient(make_config(max_attempts=3), sessions)
    await client.access_token()
    fake_wechat.fail(SEND, times=10)
    try:
        with pytest.raises(WeChatUnavailable):
            await client.send_text("oUser", "不会送达")
    finally:
        await client.close()
    assert fake_wechat.calls[SEND] == 3
    assert "giving up" in caplog.text


async def test_backoff_doubles_between_attempts(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(max_attempts=4, backoff_base_s=0.1), sessions)
    await client.access_token()
    fake_wechat.fail(SEND, times=3)
    started = asyncio.get_running_loop().time()
    try:
        await client.send_text("oUser", "慢慢来")
    finally:
        await client.close()
    assert asyncio.get_running_loop().time() - started >= 0.1 + 0.2 + 0.4


async def test_refusals_are_not_retried(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    try:
        with pytest.raises(WeChatApiError) as refused:
            await client.send_text("oUser", "长" * 700)  # 2100 bytes: the caller must split
    finally:
        await client.close()
    assert refused.value.errcode == 45002
    assert fake_wechat.calls[SEND] == 1


async def test_a_rejected_token_is_force_refreshed_and_the_send_retried_once(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    try:
        await client.send_text("oUser", "一")
        old_token = fake_wechat.current_token
        fake_wechat.revoke_token()
        await client.send_text("oUser", "二")
    finally:
        await client.close()
    assert fake_wechat.messages_to("oUser") == ["一", "二"]
    assert fake_wechat.forced_refreshes() == 1
    assert fake_wechat.sent[-1].access_token != old_token
    assert fake_wechat.calls[SEND] == 3  # 一, 二 rejected, 二 again


async def test_a_burst_of_rejections_across_workers_costs_one_forced_refresh(make_config, fake_wechat, any_db):
    clients = [WeChatApiClient(make_config(), separate_sessions(any_db)) for _ in range(3)]
    try:
        await clients[0].access_token()
        fake_wechat.revoke_token()
        await asyncio.gather(*(client.send_text("oUser", f"消息{n}") for n, client in enumerate(clients)))
    finally:
        await _closing(*clients)
    assert fake_wechat.forced_refreshes() == 1
    assert sorted(fake_wechat.messages_to("oUser")) == ["消息0", "消息1", "消息2"]


async def test_media_is_downloaded_within_its_bound(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    fake_wechat.add_media("small", b"\xff\xd8\xff" + b"x" * 1000)
    fake_wechat.add_media("large", b"\xff\xd8\xff" + b"x" * 5000)
    try:
        assert await client.download_media("small", max_bytes=4096) == b"\xff\xd8\xff" + b"x" * 1000
        with pytest.raises(MediaTooLarge):
            await client.download_media("large", max_bytes=4096)
        with pytest.raises(WeChatApiError) as unknown:
            await client.download_media("unknown", max_bytes=4096)
        assert unknown.value.errcode == 40007
        fake_wechat.fail(MEDIA, times=1)
        fake_wechat.revoke_token()
        assert await client.download_media("small", max_bytes=4096) == b"\xff\xd8\xff" + b"x" * 1000
    finally:
        await client.close()
