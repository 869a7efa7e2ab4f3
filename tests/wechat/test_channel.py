"""The channel over HTTP, as WeChat's servers use it: a real Sanic server on loopback, signed (and
in safe mode encrypted) pushes, replies observed at the fake WeChat API."""
from __future__ import annotations

import logging
import time
from typing import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select

from bot.rasa.channels.rest import TOO_LONG_INTENT
from bot.rasa.channels.wechat import WeChatInput
from bot.db.engine import session_scope
from bot.db.models import Merchant, UploadedDocument, WeChatInboundMessage
from bot.ops.demo import seed
from bot.change_requests.documents import read_upload
from bot.channel_trust import verified_metadata, wechat_conversation_id
from bot.responses import response_text
from bot.settings import MAX_MESSAGE_CHARS
from bot.wechat import bind_openid
from bot.wechat.config import WeChatConfig
from bot.wechat.protocol import parse_flat_xml
from bot.wechat.replies import MAX_TEXT_BYTES
from wechat.conftest import separate_sessions
from wechat.fake_server import SEND, TOKEN
from wechat.harness import Dialogue, serving
from wechat.pusher import Pusher
from wechat.test_protocol import BILLION_LAUGHS, XXE

OPENID = "oMerchant_0001-test"
CARD = "6222021000000000124"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


def _outcomes(sessions) -> dict:
    with session_scope(sessions) as session:
        rows = session.execute(select(WeChatInboundMessage)).scalars().all()
        return {row.dedup_key: row.outcome for row in rows}


# --- URL verification --------------------------------------------------------------------------


async def test_url_verification_echoes_only_for_the_right_signature(make_config, sessions, plain_pusher):
    async with serving(WeChatInput(make_config(), sessions), Dialogue()) as endpoint:
        assert await endpoint.get(plain_pusher.verification("1234567890")) == (200, "1234567890")
        forged = Pusher(token="someone-else").verification("1234567890")
        status, text = await endpoint.get(forged)
        assert status == 403 and "1234567890" not in text
        assert (await endpoint.get({"echostr": "1"}))[0] == 403


async def test_without_a_token_every_request_is_refused(fake_wechat, sessions, plain_pusher, caplog):
    caplog.set_level(logging.WARNING, logger="bot.rasa.channels.wechat")
    channel = WeChatInput(WeChatConfig(api_base=fake_wechat.url), sessions)
    assert caplog.text.count("WECHAT_TOKEN is not set") == 1
    dialogue = Dialogue()
    async with serving(channel, dialogue) as endpoint:
        assert (await endpoint.get(plain_pusher.verification()))[0] == 403
        assert (await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "你好")))[0] == 403
    assert dialogue.messages == [] and fake_wechat.calls == {}


def test_from_credentials_reads_the_environment(monkeypatch):
    monkeypatch.setenv("WECHAT_TOKEN", "env-token")
    monkeypatch.setenv("WECHAT_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    monkeypatch.setenv("WECHAT_APP_ID", "wx-env")
    monkeypatch.delenv("WECHAT_API_BASE", raising=False)
    channel = WeChatInput.from_credentials(None)
    assert channel.name() == "wechat" and channel.url_prefix() == "wechat"
    assert channel.config.token == "env-token" and channel.config.safe_mode
    assert channel.config.api_base == "https://api.weixin.qq.com"
    assert WeChatInput.from_credentials({"token": "file-token"}).config.token == "env-token"


# --- text messages reach the dialogue, replies go through the API --------------------------------


@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe-mode"])
async def test_a_text_message_reaches_the_dialogue_and_the_reply_is_sent(make_config, sessions, fake_wechat, safe,
                                                                          plain_pusher, safe_pusher):
    pusher = safe_pusher if safe else plain_pusher
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(safe=safe), sessions), dialogue) as endpoint:
        assert await endpoint.push(pusher, pusher.text(OPENID, "我要换结算卡", msg_id=77)) == (200, "success")
    [message] = dialogue.messages
    assert message.text == "我要换结算卡"
    assert message.sender_id == wechat_conversation_id(OPENID) == f"wechat-{OPENID}"
    assert message.input_channel == "wechat"
    assert message.metadata == {}
    assert fake_wechat.messages_to(OPENID) == ["收到：我要换结算卡"]
    assert _outcomes(sessions) == {"msg:77": "replied"}


async def test_safe_mode_refuses_plaintext_and_forged_msg_signature(make_config, sessions, fake_wechat, plain_pusher,
                                                                     safe_pusher):
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(safe=True), sessions), dialogue) as endpoint:
        assert (await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "明文")))[0] == 403
        query, body = safe_pusher.push(safe_pusher.text(OPENID, "伪造"))
        assert (await endpoint.post({**query, "msg_signature": "0" * 40}, body))[0] == 403
        other_key = Pusher(aes_key="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq")
        query, body = other_key.push(other_key.text(OPENID, "别的密钥"))
        assert (await endpoint.post(query, body))[0] in (400, 403)
    assert dialogue.messages == [] and fake_wechat.sent == []


async def test_a_plaintext_channel_refuses_encrypted_pushes(make_config, sessions, safe_pusher):
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(safe=False), sessions), dialogue) as endpoint:
        assert (await endpoint.push(safe_pusher, safe_pusher.text(OPENID, "密文")))[0] == 400
    assert dialogue.messages == []


async def test_a_forged_signature_is_refused_and_nothing_recorded(make_config, sessions, fake_wechat, plain_pusher):
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        forger = Pusher(token="guessed-token")
        assert (await endpoint.push(forger, forger.text(OPENID, "伪造的消息")))[0] == 403
        query, body = plain_pusher.push(plain_pusher.text(OPENID, "原文"))
        assert (await endpoint.post({**query, "nonce": "other"}, body))[0] == 403
        assert (await endpoint.post({**query, "timestamp": str(int(query["timestamp"]) - 1)}, body))[0] == 403
        assert (await endpoint.post({}, body))[0] == 403
    assert dialogue.messages == [] and _outcomes(sessions) == {}


@pytest.mark.parametrize("offset_s", [-301, -3600, 400])
async def test_stale_or_future_timestamps_are_refused(make_config, sessions, plain_pusher, offset_s):
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        status, _ = await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "旧消息"),
                                        timestamp=int(time.time()) + offset_s)
    assert status == 403 and dialogue.messages == []


# --- each push processed once -------------------------------------------------------------------


async def test_a_replayed_push_is_processed_once(make_config, sessions, fake_wechat, safe_pusher):
    dialogue = Dialogue()
    xml = safe_pusher.text(OPENID, "只处理一次", msg_id=9001)
    async with serving(WeChatInput(make_config(safe=True), sessions), dialogue) as endpoint:
        for _ in range(3):  # WeChat's retries; each freshly signed
            assert await endpoint.push(safe_pusher, xml) == (200, "success")
        query, body = safe_pusher.push(xml)
        assert await endpoint.post(query, body) == (200, "success")
        assert await endpoint.post(query, body) == (200, "success")  # the very same request again
    assert dialogue.texts == ["只处理一次"]
    assert fake_wechat.messages_to(OPENID) == ["收到：只处理一次"]


async def test_a_push_reaching_two_workers_is_processed_once(make_config, fake_wechat, plain_pusher, any_db):
    first_dialogue, second_dialogue = Dialogue(), Dialogue()
    first = WeChatInput(make_config(), separate_sessions(any_db))
    second = WeChatInput(make_config(), separate_sessions(any_db))
    message = plain_pusher.text(OPENID, "两个进程", msg_id=31337)
    subscribe = plain_pusher.event(OPENID, "subscribe", create_time=1_800_000_000)
    async with serving(first, first_dialogue) as one, serving(second, second_dialogue) as other:
        assert await one.push(plain_pusher, message) == (200, "success")
        assert await other.push(plain_pusher, message) == (200, "success")
        assert await other.push(plain_pusher, subscribe) == (200, "success")
        assert await one.push(plain_pusher, subscribe) == (200, "success")
    assert first_dialogue.texts + second_dialogue.texts == ["两个进程", "/greet"]
    assert len(fake_wechat.messages_to(OPENID)) == 2


# --- hostile bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [XXE, BILLION_LAUGHS, b"<xml><A><B>1</B></A></xml>", b"<<<"],
                         ids=["xxe", "billion-laughs", "nested", "garbage"])
@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe-mode"])
async def test_hostile_xml_is_refused_with_400_without_expansion(make_config, sessions, plain_pusher, safe_pusher,
                                                                 body, safe):
    pusher = safe_pusher if safe else plain_pusher
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(safe=safe), sessions), dialogue) as endpoint:
        started = time.perf_counter()
        # In safe mode the hostile XML is what decrypts out of a correctly signed envelope.
        status, text = await endpoint.post(*pusher.push(body.decode("utf-8", "replace")))
        assert time.perf_counter() - started < 2
    assert status == 400
    assert "root:" not in text and "lol" not in text and "Traceback" not in text
    assert dialogue.messages == []


async def test_a_hostile_envelope_in_safe_mode_is_refused_with_400(make_config, sessions, safe_pusher):
    async with serving(WeChatInput(make_config(safe=True), sessions), Dialogue()) as endpoint:
        query, _ = safe_pusher.push(safe_pusher.text(OPENID, "x"))
        assert (await endpoint.post(query, XXE))[0] == 400
        assert (await endpoint.post(query, BILLION_LAUGHS))[0] == 400


def _too_long_dialogue() -> Dialogue:
    """Answers the too-long intent as the domain does (a rule in the real assistant)."""
    return Dialogue(lambda message: [{"text": response_text("utter_message_too_long")
                                      if message.text == TOO_LONG_INTENT else "收到：" + message.text}])


@pytest.mark.parametrize("chars", [20_000, 100_000], ids=["20k", "100k"])
@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe-mode"])
async def test_an_over_long_text_is_answered_that_it_is_too_long(make_config, sessions, fake_wechat, plain_pusher,
                                                                  safe_pusher, safe, chars):
    # Issue 9: 20,000 characters got HTTP 400 (a field over 16 K characters; in safe mode a body
    # over 64 KB) and the follower nothing. Now the text reaches the dialogue as the too-long
    # intent, like on the other channels, and the follower reads why.
    pusher = safe_pusher if safe else plain_pusher
    dialogue = _too_long_dialogue()
    async with serving(WeChatInput(make_config(safe=safe), sessions), dialogue) as endpoint:
        xml = pusher.text(OPENID, "长" * chars, msg_id=4242)
        assert await endpoint.push(pusher, xml) == (200, "success")
        assert await endpoint.push(pusher, xml) == (200, "success")  # WeChat's retry: once only
    assert dialogue.texts == [TOO_LONG_INTENT]
    assert fake_wechat.messages_to(OPENID) == [response_text("utter_message_too_long")]
    assert _outcomes(sessions) == {"msg:4242": "replied"}


async def _chunked(body: bytes) -> AsyncIterator[bytes]:
    """The body without a Content-Length: the bound must hold while reading."""
    for start in range(0, len(body), 64 * 1024):
        yield body[start:start + 64 * 1024]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe-mode"])
async def test_a_multi_megabyte_text_gets_the_too_long_reply_at_once(make_config, sessions, fake_wechat, plain_pusher,
                                                                     safe_pusher, safe, chunked, caplog):
    pusher = safe_pusher if safe else plain_pusher
    dialogue = _too_long_dialogue()
    config = make_config(safe=safe)
    # WeChat adds the follower's OpenID to the URL; in safe mode it is the only place to read it
    # without decrypting a body too large to read.
    query, body = pusher.push(pusher.text(OPENID, "长" * 1_000_000), openid=OPENID)
    assert len(body) > 2 * config.max_body_bytes
    async with serving(WeChatInput(config, sessions), dialogue) as endpoint:
        started = time.perf_counter()
        data = _chunked(body) if chunked else body
        async with endpoint.http.post(endpoint.url, params=query, data=data) as reply:
            status, text = reply.status, await reply.text()
        elapsed = time.perf_counter() - started
        await endpoint.channel.drain(5)
    assert status == 200 and elapsed < 3
    answer = parse_flat_xml(pusher.open_reply(text).encode("utf-8"))
    assert answer["ToUserName"] == OPENID and answer["FromUserName"] == pusher.account
    assert answer["MsgType"] == "text" and answer["Content"] == response_text("utter_message_too_long")
    assert dialogue.messages == [] and fake_wechat.sent == []
    assert "长长" not in caplog.text


async def test_a_huge_plaintext_body_is_answered_by_the_follower_named_at_its_start(make_config, sessions,
                                                                                    plain_pusher):
    dialogue = _too_long_dialogue()
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        status, text = await endpoint.post(*plain_pusher.push(plain_pusher.text(OPENID, "长" * 400_000)))
    assert status == 200
    assert parse_flat_xml(text.encode("utf-8"))["ToUserName"] == OPENID
    assert dialogue.messages == []


async def test_a_huge_body_nobody_can_be_told_about_is_refused_with_413(make_config, sessions, safe_pusher,
                                                                        plain_pusher):
    async with serving(WeChatInput(make_config(safe=True), sessions), Dialogue()) as endpoint:
        # Safe mode without `openid` in the URL: the follower is inside a ciphertext not read.
        assert (await endpoint.post(*safe_pusher.push(safe_pusher.text(OPENID, "长" * 400_000))))[0] == 413
    async with serving(WeChatInput(make_config(), sessions), Dialogue()) as endpoint:
        query, _ = plain_pusher.push("<xml/>")
        assert (await endpoint.post(query, b"<" * (2 * 1024 * 1024)))[0] == 413


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_reading_stops_at_the_read_limit_with_413(make_config, sessions, plain_pusher, chunked):
    # Sanic does not bound a streamed body: without this limit a sender could go on for ever.
    dialogue = _too_long_dialogue()
    config = make_config(max_read_bytes=4 * 1024 * 1024)
    query, body = plain_pusher.push(plain_pusher.text(OPENID, "长" * 2_000_000), openid=OPENID)  # 6 MB
    async with serving(WeChatInput(config, sessions), dialogue) as endpoint:
        try:
            async with endpoint.http.post(endpoint.url, params=query,
                                          data=_chunked(body) if chunked else body) as reply:
                status = reply.status
        except aiohttp.ClientError:
            status = None  # the server may close while the client is still sending: also refused
    assert status in (413, None) and dialogue.messages == []


async def test_a_huge_body_with_a_forged_signature_is_refused_before_it_is_read(make_config, sessions, plain_pusher):
    forger = Pusher(token="guessed-token")
    async with serving(WeChatInput(make_config(), sessions), Dialogue()) as endpoint:
        query, body = forger.push(forger.text(OPENID, "长" * 1_000_000), openid=OPENID)
        status, text = await endpoint.post(query, body)
    assert status == 403 and text == ""


async def test_a_long_text_becomes_the_too_long_intent(make_config, sessions, plain_pusher):
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        assert (await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "卡" * (MAX_MESSAGE_CHARS + 1))))[0] == 200
    assert dialogue.texts == [TOO_LONG_INTENT]


# --- replies ---------------------------------------------------------------------------------------


async def test_the_send_api_failing_twice_still_delivers_the_reply(make_config, sessions, fake_wechat, plain_pusher):
    fake_wechat.fail(SEND, times=2)
    async with serving(WeChatInput(make_config(max_attempts=3), sessions), Dialogue()) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "重试", msg_id=5))
    assert fake_wechat.messages_to(OPENID) == ["收到：重试"]
    assert _outcomes(sessions) == {"msg:5": "replied"}


async def test_a_reply_that_cannot_be_sent_is_recorded_as_failed(make_config, sessions, fake_wechat, plain_pusher):
    fake_wechat.fail(SEND, times=100)
    async with serving(WeChatInput(make_config(max_attempts=2), sessions), Dialogue()) as endpoint:
        assert await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "发不出去", msg_id=6)) == (200, "success")
    assert _outcomes(sessions) == {"msg:6": "failed"}


async def test_a_rejected_token_is_renewed_and_the_reply_delivered(make_config, sessions, fake_wechat, plain_pusher):
    async with serving(WeChatInput(make_config(), sessions), Dialogue()) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "一"))
        fake_wechat.revoke_token()
        await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "二"))
    assert fake_wechat.messages_to(OPENID) == ["收到：一", "收到：二"]
    assert fake_wechat.forced_refreshes() == 1


async def test_the_token_is_fetched_once_for_two_workers(make_config, fake_wechat, plain_pusher, any_db):
    first = WeChatInput(make_config(), separate_sessions(any_db))
    second = WeChatInput(make_config(), separate_sessions(any_db))
    async with serving(first, Dialogue()) as one, serving(second, Dialogue()) as other:
        await one.push(plain_pusher, plain_pusher.text(OPENID, "甲"))
        await other.push(plain_pusher, plain_pusher.text(OPENID, "乙"))
    assert fake_wechat.calls[TOKEN] == 1
    assert fake_wechat.messages_to(OPENID) == ["收到：甲", "收到：乙"]


async def test_a_long_reply_is_split_into_messages_of_at_most_2048_bytes(make_config, sessions, fake_wechat,
                                                                         plain_pusher):
    long_reply = "\n".join(f"第{number}项：" + "结算账户变更须知" * 20 for number in range(20))
    dialogue = Dialogue(lambda message: [{"text": long_reply}])
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "须知"))
    sent = fake_wechat.messages_to(OPENID)
    assert len(sent) > 1
    assert all(len(text.encode("utf-8")) <= MAX_TEXT_BYTES for text in sent)
    assert "\n".join(sent) == long_reply


async def test_buttons_are_sent_as_numbered_lines(make_config, sessions, fake_wechat, plain_pusher):
    buttons = [{"title": "线上办理", "payload": '/inform{"route": "online"}'},
               {"title": "去网点办理", "payload": '/inform{"route": "branch"}'}]
    dialogue = Dialogue(lambda message: [{"text": "您想怎么办理？", "buttons": buttons}])
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "验证码"))
    [sent] = fake_wechat.messages_to(OPENID)
    assert sent.splitlines()[0] == "您想怎么办理？"
    assert "线上办理" in sent.splitlines()[1] and sent.splitlines()[1].startswith("1")
    assert "去网点办理" in sent.splitlines()[2] and sent.splitlines()[2].startswith("2")
    assert "/inform" not in sent


async def test_a_failing_dialogue_gets_the_merchant_an_apology(make_config, sessions, fake_wechat, plain_pusher,
                                                                caplog):
    dialogue = Dialogue()
    dialogue.failing = True
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        assert await endpoint.push(plain_pusher, plain_pusher.text(OPENID, f"卡号 {CARD}", msg_id=8)) == (200, "success")
    assert fake_wechat.messages_to(OPENID) == [response_text("utter_technical_problem")]
    assert _outcomes(sessions) == {"msg:8": "failed"}
    assert CARD not in caplog.text and "Traceback" not in caplog.text


async def test_a_message_the_dialogue_leaves_unanswered_gets_the_internal_error_apology(
        make_config, sessions, fake_wechat, plain_pusher, caplog):
    # A custom action failing (action server down) makes Rasa log it and listen: no exception.
    fake_wechat.add_media("media-silent", JPEG)
    dialogue = Dialogue(lambda message: [])
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.text(OPENID, f"卡号 {CARD}", msg_id=81))
        await endpoint.push(plain_pusher, plain_pusher.image(OPENID, "media-silent", msg_id=82))
        await endpoint.push(plain_pusher, plain_pusher.event(OPENID, "subscribe", create_time=1_800_000_001))
    # Both messages are answered; a new follower (nothing said yet) is not told to say it again.
    assert fake_wechat.messages_to(OPENID) == [response_text("utter_internal_error")] * 2
    assert _outcomes(sessions) == {"msg:81": "failed", "msg:82": "failed",
                                   f"event:{OPENID}:1800000001": "failed"}
    assert "no reply" in caplog.text and "no welcome" in caplog.text and CARD not in caplog.text


async def test_message_text_never_reaches_the_log(make_config, sessions, plain_pusher, caplog):
    caplog.set_level(logging.DEBUG)
    async with serving(WeChatInput(make_config(), sessions), Dialogue()) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.text(OPENID, f"新卡 {CARD}"))
        await endpoint.push(Pusher(token="x"), plain_pusher.text(OPENID, f"新卡 {CARD}"))
    assert CARD not in caplog.text


# --- other kinds of messages ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["voice", "location"])
@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe-mode"])
async def test_voice_and_location_get_a_polite_passive_reply(make_config, sessions, fake_wechat, plain_pusher,
                                                             safe_pusher, kind, safe):
    pusher = safe_pusher if safe else plain_pusher
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(safe=safe), sessions), dialogue) as endpoint:
        status, body = await endpoint.push(pusher, getattr(pusher, kind)(OPENID))
    assert status == 200
    reply = parse_flat_xml(pusher.open_reply(body).encode("utf-8"))
    assert reply["ToUserName"] == OPENID
    assert reply["FromUserName"] == pusher.account
    assert reply["MsgType"] == "text"
    assert reply["Content"] == response_text("utter_please_type")
    assert dialogue.messages == [] and fake_wechat.sent == []


@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe-mode"])
async def test_cdata_end_in_a_passive_reply_is_escaped(make_config, sessions, safe, fake_wechat):
    # The account id is echoed into the reply: `]]>` in it must not end the CDATA section.
    pusher = Pusher(aes_key=make_config(safe=safe).aes_key, account="gh_]]><Content>injected</Content>")
    async with serving(WeChatInput(make_config(safe=safe), sessions), Dialogue()) as endpoint:
        status, body = await endpoint.push(pusher, pusher.voice(OPENID))
    assert status == 200
    reply = parse_flat_xml(pusher.open_reply(body).encode("utf-8"))
    assert reply["FromUserName"] == "gh_]]><Content>injected</Content>"
    assert reply["Content"] == response_text("utter_please_type")


async def test_a_photo_is_stored_as_an_uploaded_document(make_config, sessions, fake_wechat, plain_pusher):
    fake_wechat.add_media("media-id-card", JPEG)
    dialogue = Dialogue(lambda message: [{"text": "已收到您上传的照片"}])
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        assert await endpoint.push(plain_pusher, plain_pusher.image(OPENID, "media-id-card")) == (200, "success")
    with session_scope(sessions) as session:
        [document] = session.execute(select(UploadedDocument)).scalars().all()
        assert document.channel == "wechat"
        assert document.conversation_id == wechat_conversation_id(OPENID)
        assert document.content_type == "image/jpeg" and document.size_bytes == len(JPEG)
        assert read_upload(document) == JPEG
    [message] = dialogue.messages
    assert message.text.startswith("/document_uploaded") and document.public_id in message.text
    assert fake_wechat.messages_to(OPENID) == ["已收到您上传的照片"]


@pytest.mark.parametrize(
    "data, response",
    [(b"GIF89a" + b"\0" * 100, "utter_upload_wrong_type"),
     (b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024), "utter_upload_too_large")],
    ids=["wrong-type", "too-large"],
)
async def test_a_refused_photo_is_explained_without_the_dialogue(make_config, sessions, fake_wechat, plain_pusher,
                                                                 data, response):
    fake_wechat.add_media("media-x", data)
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.image(OPENID, "media-x"))
    assert dialogue.messages == []
    assert fake_wechat.messages_to(OPENID) == [response_text(response)]
    with session_scope(sessions) as session:
        assert session.execute(select(UploadedDocument)).scalars().all() == []


async def test_a_new_follower_is_welcomed_and_unsubscribing_is_only_recorded(make_config, sessions, fake_wechat,
                                                                             plain_pusher):
    dialogue = Dialogue(lambda message: [{"text": "您好，我是结算助手"}])
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.event(OPENID, "subscribe", create_time=1_800_000_000))
        await endpoint.push(plain_pusher, plain_pusher.event(OPENID, "unsubscribe", create_time=1_800_000_100))
        await endpoint.push(plain_pusher, plain_pusher.event(OPENID, "CLICK", create_time=1_800_000_200))
    assert dialogue.texts == ["/greet"]
    assert fake_wechat.messages_to(OPENID) == ["您好，我是结算助手"]
    assert _outcomes(sessions) == {
        f"event:{OPENID}:1800000000": "replied",
        f"event:{OPENID}:1800000100": "ignored",
        f"event:{OPENID}:1800000200": "ignored",
    }


async def test_a_bound_follower_is_vouched_for_in_the_metadata(make_config, sessions, plain_pusher):
    with session_scope(sessions) as session:
        seed(session)
    with session_scope(sessions) as session:
        merchant = session.execute(select(Merchant).where(Merchant.merchant_number == "822100000000001")).scalar_one()
        bind_openid(session, OPENID, merchant)
    dialogue = Dialogue()
    async with serving(WeChatInput(make_config(), sessions), dialogue) as endpoint:
        await endpoint.push(plain_pusher, plain_pusher.text(OPENID, "我的申请审核到哪了"))
        await endpoint.push(plain_pusher, plain_pusher.text("oSomeoneElse", "我的申请审核到哪了"))
    assert dialogue.messages[0].metadata == verified_metadata("822100000000001")
    assert dialogue.messages[1].metadata == {}


async def test_the_output_channel_reaches_followers_outside_a_turn(make_config, sessions, fake_wechat):
    channel = WeChatInput(make_config(), sessions)
    output = channel.get_output_channel()
    try:
        await output.send_response(wechat_conversation_id(OPENID), {"text": "人工客服已为您处理完毕。"})
        await output.send_response("rest-user", {"text": "不是微信会话"})
    finally:
        await channel.client.close()
    assert fake_wechat.messages_to(OPENID) == ["人工客服已为您处理完毕。"]
    assert output.failures == 1
