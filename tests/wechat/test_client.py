"""The WeChat API client against the fake server: the shared token, retries with backoff, token
renewal after 40001, bounded media downloads. The client blocks; "workers" and concurrent
callers are threads here, as in the channel (its calls run in a thread pool) and the console."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, List

import pytest

from bot.db.engine import session_scope
from bot.db.models import WeChatAccessToken
from bot.wechat.client import MediaTooLarge, WeChatApiClient, WeChatApiError, WeChatUnavailable
from bot.workdays import utcnow
from wechat.conftest import separate_sessions
from wechat.fake_server import MEDIA, SEND, TOKEN, FakeWeChat

PHOTO = b"\xff\xd8\xff" + b"x" * 1000


def _at_once(*calls: Callable[[], Any]) -> List[Any]:
    """Run the calls in threads of their own at the same time; their results, in order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as threads:
        futures = [threads.submit(call) for call in calls]
        return [future.result() for future in futures]


def _closing(*clients: WeChatApiClient) -> None:
    for client in clients:
        client.close()


def test_one_token_serves_every_worker(make_config, fake_wechat, any_db):
    first = WeChatApiClient(make_config(), separate_sessions(any_db))
    second = WeChatApiClient(make_config(), separate_sessions(any_db))
    try:
        first.send_text("oUser", "第一条")
        second.send_text("oUser", "第二条")
        _at_once(*(lambda c=client, n=n: c.send_text("oUser", f"并发{n}") for n in range(3) for client in (first, second)))
    finally:
        _closing(first, second)
    assert fake_wechat.calls[TOKEN] == 1
    assert fake_wechat.token_requests == [
        {"grant_type": "client_credential", "appid": fake_wechat.app_id, "secret": fake_wechat.app_secret,
         "force_refresh": False}
    ]
    assert len(fake_wechat.messages_to("oUser")) == 8


def test_threads_sharing_a_client_fetch_the_first_token_once(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    try:
        _at_once(*(lambda n=n: client.send_text("oUser", f"同时{n}") for n in range(6)))
    finally:
        client.close()
    assert fake_wechat.calls[TOKEN] == 1
    assert sorted(fake_wechat.messages_to("oUser")) == [f"同时{n}" for n in range(6)]


def test_a_token_about_to_expire_is_renewed_early(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(token_refresh_margin_s=300), sessions)
    try:
        client.send_text("oUser", "一")
        with session_scope(sessions) as session:
            session.get(WeChatAccessToken, fake_wechat.app_id).expires_at = utcnow() + timedelta(seconds=120)
        client.send_text("oUser", "二")
    finally:
        client.close()
    assert fake_wechat.calls[TOKEN] == 2


def test_messages_are_json_in_utf8(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    try:
        client.send_text("oUser", "请输入验证码 \"引号\"")
    finally:
        client.close()
    sent = fake_wechat.sent[0]
    assert "请输入验证码".encode("utf-8") in sent.raw_body
    assert json.loads(sent.raw_body) == {"touser": "oUser", "msgtype": "text",
                                         "text": {"content": "请输入验证码 \"引号\""}}


def test_send_failing_twice_then_succeeding_delivers_once(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(max_attempts=3), sessions)
    fake_wechat.fail(SEND, times=2, status=502)
    try:
        client.send_text("oUser", "重试后送达")
    finally:
        client.close()
    assert fake_wechat.calls[SEND] == 3
    assert fake_wechat.messages_to("oUser") == ["重试后送达"]


def test_system_busy_and_timeouts_are_retried(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(max_attempts=3, request_timeout_s=0.3), sessions)
    fake_wechat.busy(SEND, times=1)
    fake_wechat.delay(SEND, times=1, seconds=1.0)
    fake_wechat.fail(TOKEN, times=1, status=503)
    try:
        client.send_text("oUser", "终于")
    finally:
        client.close()
    assert fake_wechat.calls[TOKEN] == 2
    assert fake_wechat.calls[SEND] == 3
    assert fake_wechat.messages_to("oUser") == ["终于"]


def test_a_refused_connection_is_retried_then_given_up(make_config, fake_wechat, sessions, caplog):
    client = WeChatApiClient(make_config(max_attempts=2), sessions)
    fake_wechat.stop()  # nothing listens on the port any more
    try:
        with pytest.raises(WeChatUnavailable, match="ConnectionError"):
            client.access_token()
    finally:
        client.close()
    assert caplog.text.count("stable_token failed") == 2


def test_gives_up_after_the_bounded_number_of_attempts(make_config, fake_wechat, sessions, caplog):
    client = WeChatApiClient(make_config(max_attempts=3), sessions)
    client.access_token()
    fake_wechat.fail(SEND, times=10)
    try:
        with pytest.raises(WeChatUnavailable):
            client.send_text("oUser", "不会送达")
    finally:
        client.close()
    assert fake_wechat.calls[SEND] == 3
    assert "giving up" in caplog.text


def test_backoff_doubles_between_attempts(make_config, fake_wechat, sessions):
    waits: List[float] = []
    client = WeChatApiClient(make_config(max_attempts=4, backoff_base_s=0.1), sessions, sleep=waits.append)
    client.access_token()
    fake_wechat.fail(SEND, times=3)
    try:
        client.send_text("oUser", "慢慢来")
    finally:
        client.close()
    assert waits == pytest.approx([0.1, 0.2, 0.4])
    assert fake_wechat.messages_to("oUser") == ["慢慢来"]


def test_backoff_really_waits_by_default(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(max_attempts=3, backoff_base_s=0.1), sessions)
    client.access_token()
    fake_wechat.fail(SEND, times=2)
    started = time.monotonic()
    try:
        client.send_text("oUser", "等一等")
    finally:
        client.close()
    assert time.monotonic() - started >= 0.1 + 0.2


def test_refusals_are_not_retried(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    try:
        with pytest.raises(WeChatApiError) as refused:
            client.send_text("oUser", "长" * 700)  # 2100 bytes: the caller must split
    finally:
        client.close()
    assert refused.value.errcode == 45002
    assert fake_wechat.calls[SEND] == 1


def test_a_rejected_token_is_force_refreshed_and_the_send_retried_once(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    try:
        client.send_text("oUser", "一")
        old_token = fake_wechat.current_token
        fake_wechat.revoke_token()
        client.send_text("oUser", "二")
    finally:
        client.close()
    assert fake_wechat.messages_to("oUser") == ["一", "二"]
    assert fake_wechat.forced_refreshes() == 1
    assert fake_wechat.sent[-1].access_token != old_token
    assert fake_wechat.calls[SEND] == 3  # 一, 二 rejected, 二 again


def test_a_burst_of_rejections_across_workers_costs_one_forced_refresh(make_config, fake_wechat, any_db):
    clients = [WeChatApiClient(make_config(), separate_sessions(any_db)) for _ in range(3)]
    try:
        clients[0].access_token()
        fake_wechat.revoke_token()
        _at_once(*(lambda c=client, n=n: c.send_text("oUser", f"消息{n}") for n, client in enumerate(clients)))
    finally:
        _closing(*clients)
    assert fake_wechat.forced_refreshes() == 1
    assert sorted(fake_wechat.messages_to("oUser")) == ["消息0", "消息1", "消息2"]


def test_a_burst_of_rejections_in_one_client_costs_one_forced_refresh(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    try:
        client.access_token()
        fake_wechat.revoke_token()
        _at_once(*(lambda n=n: client.send_text("oUser", f"线程{n}") for n in range(4)))
    finally:
        client.close()
    assert fake_wechat.forced_refreshes() == 1
    assert sorted(fake_wechat.messages_to("oUser")) == [f"线程{n}" for n in range(4)]


def test_media_is_downloaded_within_its_bound(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    fake_wechat.add_media("small", PHOTO)
    fake_wechat.add_media("large", b"\xff\xd8\xff" + b"x" * 5000)
    try:
        assert client.download_media("small", max_bytes=4096) == PHOTO
        with pytest.raises(MediaTooLarge):
            client.download_media("large", max_bytes=4096)
        with pytest.raises(WeChatApiError) as unknown:
            client.download_media("unknown", max_bytes=4096)
        assert unknown.value.errcode == 40007
        fake_wechat.fail(MEDIA, times=1)
        fake_wechat.revoke_token()
        assert client.download_media("small", max_bytes=4096) == PHOTO
    finally:
        client.close()


class StreamingWeChat(FakeWeChat):
    """Sends media files in chunks without a Content-Length, `pause_s` apart, as a CDN may: the
    size bound has to hold while reading, and so does the time bound."""

    pause_s: float = 0.0

    def _reply(self, request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        if not content_type.startswith("image/"):
            return FakeWeChat._reply(request, status, body, content_type)
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Transfer-Encoding", "chunked")
        request.end_headers()
        try:
            for start in range(0, len(body), 1024):
                piece = body[start:start + 1024]
                request.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                request.wfile.flush()
                time.sleep(self.pause_s)
            request.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading
            pass


@pytest.fixture
def streaming_wechat():
    fake = StreamingWeChat().start()
    yield fake
    fake.stop()


def test_media_without_a_length_is_stopped_at_the_bound(make_config, streaming_wechat, sessions):
    client = WeChatApiClient(make_config(api_base=streaming_wechat.url), sessions)
    streaming_wechat.add_media("small", PHOTO)
    streaming_wechat.add_media("endless", b"\xff\xd8\xff" + b"x" * 1024 * 1024)
    try:
        assert client.download_media("small", max_bytes=4096) == PHOTO
        with pytest.raises(MediaTooLarge, match="more than 4096 bytes"):
            client.download_media("endless", max_bytes=4096)
    finally:
        client.close()
    assert streaming_wechat.calls[MEDIA] == 2


def test_a_download_trickling_past_the_timeout_is_abandoned(make_config, streaming_wechat, sessions):
    streaming_wechat.pause_s = 0.05  # each read is quick, the whole file is not: 20 chunks, 1 s
    client = WeChatApiClient(make_config(api_base=streaming_wechat.url, request_timeout_s=0.3, max_attempts=2),
                             sessions)
    streaming_wechat.add_media("slow", b"\xff\xd8\xff" + b"x" * 20 * 1024)
    started = time.monotonic()
    try:
        with pytest.raises(WeChatUnavailable, match="not finished within"):
            client.download_media("slow", max_bytes=1024 * 1024)
    finally:
        client.close()
    assert streaming_wechat.calls[MEDIA] == 2
    assert time.monotonic() - started < 2


def test_a_closed_client_can_be_used_again(make_config, fake_wechat, sessions):
    client = WeChatApiClient(make_config(), sessions)
    try:
        client.send_text("oUser", "关闭前")
        client.close()
        client.send_text("oUser", "关闭后")
    finally:
        client.close()
    assert fake_wechat.messages_to("oUser") == ["关闭前", "关闭后"]
