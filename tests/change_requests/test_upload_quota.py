"""The daily upload quota per merchant (bot/change_requests/upload_quota.py), through store_upload
as the channels call it, and on the web chat's upload route."""
from __future__ import annotations

from datetime import timedelta
from typing import Iterator

import pytest
import requests
from sqlalchemy import select

from bot.change_requests.documents import UploadRefused, store_upload, uploads_dir
from bot.change_requests.upload_quota import used_today
from bot.channel_trust import webchat_conversation_id, wechat_conversation_id
from bot.db.models import Merchant, UploadedDocument
from bot.ops.demo import seed
from bot.responses import response_text
from bot.wechat import bind_openid
from bot.workdays import utcnow

MERCHANT, OTHER = "822100000000001", "822100000000002"
WEB = webchat_conversation_id(MERCHANT)
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4


@pytest.fixture
def seeded(session, monkeypatch):
    for name in ("UPLOAD_DAILY_MAX_FILES", "UPLOAD_DAILY_MAX_MB", "WECHAT_BINDING_DAYS"):
        monkeypatch.delenv(name, raising=False)
    seed(session)
    session.commit()
    return session


def _store(session, conversation_id: str, data: bytes = PHOTO, channel: str = "webchat") -> UploadedDocument:
    return store_upload(session, conversation_id=conversation_id, channel=channel, data=data)


def _merchant(session, number: str) -> Merchant:
    return session.execute(select(Merchant).where(Merchant.merchant_number == number)).scalar_one()


def test_the_21st_file_of_a_day_is_refused_with_the_limits_in_the_message(seeded):
    for _ in range(20):
        _store(seeded, WEB)
    files_before = len(list(uploads_dir().iterdir()))
    with pytest.raises(UploadRefused) as refused:
        _store(seeded, WEB)
    assert refused.value.response == "utter_upload_quota_reached"
    assert response_text(refused.value.response, **refused.value.variables) == \
        "您今天上传的文件已达上限（每天最多20个、共50MB），这个文件没有保存。请明天再上传；如需帮助请说“转人工”。"
    assert len(list(uploads_dir().iterdir())) == files_before  # nothing written
    _store(seeded, webchat_conversation_id(OTHER))  # another merchant is not held up


def test_megabytes_count_too(seeded, monkeypatch):
    monkeypatch.setenv("UPLOAD_DAILY_MAX_MB", "10")
    big = b"\xff\xd8\xff" + b"\0" * (4 * 1024 * 1024)
    _store(seeded, WEB, big)
    _store(seeded, WEB, big)
    with pytest.raises(UploadRefused) as refused:
        _store(seeded, WEB, big)
    assert refused.value.variables == {"max_files": "20", "max_mb": "10"}
    _store(seeded, WEB)  # a small one still fits


def test_the_quota_is_the_merchants_whichever_channel_the_files_came_by(seeded, monkeypatch):
    monkeypatch.setenv("UPLOAD_DAILY_MAX_FILES", "3")
    bind_openid(seeded, "oBoundFollower", _merchant(seeded, MERCHANT))
    _store(seeded, WEB)
    _store(seeded, wechat_conversation_id("oBoundFollower"), channel="wechat")
    # A file an unbound follower sent and the bot attached to the merchant counts too.
    attached = _store(seeded, wechat_conversation_id("oStranger"), channel="wechat")
    attached.merchant_id = _merchant(seeded, MERCHANT).id
    seeded.flush()
    assert used_today(seeded, WEB).files == 3
    for conversation in (WEB, wechat_conversation_id("oBoundFollower")):
        with pytest.raises(UploadRefused):
            _store(seeded, conversation, channel="wechat")
    # A follower bound to no merchant counts on its own.
    _store(seeded, wechat_conversation_id("oNobody"), channel="wechat")
    assert used_today(seeded, wechat_conversation_id("oNobody")).files == 1


def test_the_quota_starts_again_at_midnight_china_time(seeded, monkeypatch):
    monkeypatch.setenv("UPLOAD_DAILY_MAX_FILES", "1")
    document = _store(seeded, WEB)
    # Stored at 23:50 China time yesterday (15:50 UTC): not today's.
    document.created_at = (utcnow() - timedelta(days=1)).replace(hour=15, minute=50)
    seeded.flush()
    _store(seeded, WEB)
    with pytest.raises(UploadRefused):
        _store(seeded, WEB)


@pytest.mark.parametrize("value", ["0", "many"])
def test_a_wrong_quota_setting_is_refused(seeded, monkeypatch, value):
    monkeypatch.setenv("UPLOAD_DAILY_MAX_FILES", value)
    with pytest.raises(ValueError, match="UPLOAD_DAILY_MAX_FILES"):
        _store(seeded, WEB)


# --- on the web chat's upload route -------------------------------------------------------------


@pytest.fixture
def web_server(var_dir, engine, monkeypatch) -> Iterator:
    from sanic import Sanic

    from webchat.conftest import running_channel

    monkeypatch.delenv("WEBCHAT_JWT_SECRET", raising=False)
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setenv("UPLOAD_DAILY_MAX_FILES", "2")
    with running_channel() as running:
        yield running


def test_the_web_chat_page_is_told_when_the_days_quota_is_used_up(web_server):
    from webchat.images import png_image

    def upload():
        return requests.post(web_server.url + "/webhooks/webchat/upload",
                             headers={"Authorization": f"Bearer {web_server.token(MERCHANT)}"},
                             files={"file": ("photo.png", png_image(), "image/png")})

    assert [upload().status_code for _ in range(2)] == [200, 200]
    refused = upload()
    assert refused.status_code == 400
    assert refused.json()["text"] == response_text("utter_upload_quota_reached", max_files="2", max_mb="50")
    assert len(web_server.agent.received) == 2
