"""The web chat channel on a real Sanic server (tests/webchat/conftest.py): the page, the token
deciding the conversation, rooms and pushes, history, uploads, and never leaving the merchant
without an answer."""
from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
import requests
import socketio
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select

from bot.change_requests import documents
from bot.webchat import portal_token
from bot.rasa.channels.webchat_history import history_messages
from bot.db.models import UploadedDocument
from bot.channel_trust import verified_metadata, webchat_conversation_id
from bot.responses import response_text
from bot.settings import MAX_MESSAGE_CHARS, PROJECT_ROOT

from .conftest import FAIL, SILENT
from .images import png_image

MERCHANT, OTHER = "822100000000001", "822100000000002"
CONVERSATION = webchat_conversation_id(MERCHANT)
WEB = PROJECT_ROOT / "bot" / "webchat" / "page"


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# ---- the page --------------------------------------------------------------------------------

def test_page_is_served_for_phones_with_its_own_assets(server):
    page = requests.get(server.url + "/webhooks/webchat/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'name="viewport"' in page.text and 'lang="zh-CN"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"  # the first URL carries the token
    # Everything the page loads comes from this server: no CDN at runtime.
    sources = [source for source in re.findall(r'(?:src|href)="([^"]+)"', page.text) if source != "data:,"]
    assert sources and all(source.startswith("static/") for source in sources), sources
    for source in sources:
        assert requests.get(server.url + "/webhooks/webchat/" + source).status_code == 200, source
    client = requests.get(server.url + "/webhooks/webchat/static/vendor/socket.io.min.js")
    assert "Socket.IO v4" in client.text[:200]
    assert "MIT License" in (WEB / "vendor" / "socket.io-client.LICENSE").read_text()


def test_page_address_without_slash_redirects_so_relative_assets_resolve(server):
    reply = requests.get(server.url + "/webhooks/webchat?x=1", allow_redirects=False)
    assert reply.status_code in (301, 302) and reply.headers["location"] == "/webhooks/webchat/?x=1"


def test_static_files_stay_inside_the_web_folder(server):
    for path in ("static/../../channels/webchat.py", "static/%2e%2e/%2e%2e/settings.py"):
        assert requests.get(server.url + "/webhooks/webchat/" + path).status_code == 404


def test_page_script_sets_text_never_html():
    script = (WEB / "app.js").read_text(encoding="utf-8")
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "http://" not in script and "https://" not in script


def test_config_offers_the_demo_merchants_in_development(server):
    config = requests.get(server.url + "/webhooks/webchat/config").json()
    assert config["demo_login"] is True
    assert {"merchant": MERCHANT, "name": "张伟", "masked": "****0001"} in config["demo_merchants"]
    assert config["max_message_chars"] == MAX_MESSAGE_CHARS
    assert config["max_upload_bytes"] == 5 * 1024 * 1024
    assert [kind["kind"] for kind in config["document_kinds"]] == [
        "id_front", "id_back", "card_front", "licence", "authorisation_letter"]


def test_demo_login_gives_a_token_for_demo_merchants_only(server):
    reply = requests.post(server.url + "/webhooks/webchat/demo-login", json={"merchant": MERCHANT})
    assert reply.status_code == 200
    assert portal_token.verify_token(reply.json()["token"], portal_token.secret())[0] == MERCHANT
    for body in ({"merchant": "822100000000099"}, {"merchant": 822100000000001}, {}, []):
        refused = requests.post(server.url + "/webhooks/webchat/demo-login", json=body)
        assert refused.status_code == 400 and "格式" in refused.json()["text"]


def test_demo_login_is_off_with_a_configured_secret_unless_allowed(server, monkeypatch):
    monkeypatch.setenv("WEBCHAT_JWT_SECRET", "x" * 40)
    url = server.url + "/webhooks/webchat/demo-login"
    assert requests.post(url, json={"merchant": MERCHANT}).status_code == 404
    config = requests.get(server.url + "/webhooks/webchat/config").json()
    assert config["demo_login"] is False and config["demo_merchants"] == []
    monkeypatch.setenv("WEBCHAT_DEMO_LOGIN", "1")
    assert requests.post(url, json={"merchant": MERCHANT}).status_code == 200


# ---- connecting: the token decides -----------------------------------------------------------

@pytest.mark.parametrize("token", ["missing", "expired", "forged", "garbage"])
def test_connection_without_a_valid_token_is_refused(server, chat_client, token):
    tokens = {
        "missing": None,
        "expired": portal_token.issue_token(MERCHANT, portal_token.secret(), now=time.time() - 7200,
                                        lifetime=timedelta(hours=1)),
        "forged": portal_token.issue_token(MERCHANT, "not-the-secret-but-long-enough-1234567890"),
        "garbage": "abc.def.ghi",
    }
    client = chat_client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(tokens[token])
    assert client.received["connect_error"] == [{"message": "unauthorized"}]  # the page: 登录已过期


def test_the_server_decides_the_conversation_and_vouches_for_the_merchant(server, chat_client):
    client = chat_client()
    client.connect(server.token(MERCHANT))
    client.emit("session_request", {"session_id": webchat_conversation_id(OTHER)})
    assert client.wait_for("session_confirm") == [CONVERSATION]
    client.emit("user_uttered", {
        "message": "我要修改结算卡",
        "session_id": webchat_conversation_id(OTHER),
        "sender": webchat_conversation_id(OTHER),
        "metadata": verified_metadata(OTHER),
    })
    assert client.wait_for("bot_uttered") == [{"text": "收到1"}]
    client.wait_for("turn_complete")
    [message] = server.agent.received
    assert message.text == "我要修改结算卡"
    assert message.sender_id == CONVERSATION
    assert message.input_channel == "webchat"
    # The merchant vouched for, and the page's address the limits on codes count (bot.codes.request_limits).
    assert message.metadata == {**verified_metadata(MERCHANT), "client_address": "127.0.0.1"}


def test_over_long_message_becomes_the_too_long_intent(server, chat_client):
    client = chat_client()
    client.connect(server.token())
    client.emit("user_uttered", {"message": "卡" * (MAX_MESSAGE_CHARS + 1)})
    client.wait_for("turn_complete")
    assert server.agent.received[-1].text == "/message_too_long"


def test_failing_dialogue_gets_the_apology_never_silence(server, chat_client, caplog):
    client = chat_client()
    client.connect(server.token())
    client.emit("user_uttered", {"message": FAIL})
    client.wait_for("turn_complete")
    assert client.texts() == [response_text("utter_technical_problem")]
    assert FAIL not in caplog.text  # the log names the failure, never the message


def test_a_turn_without_any_reply_gets_the_internal_error_apology(server, chat_client, caplog):
    # A custom action failing (action server down) makes Rasa log it and listen: no exception.
    first, second = chat_client(), chat_client()
    first.connect(server.token())
    second.connect(server.token())  # another tab of the merchant sees it too
    first.emit("user_uttered", {"message": SILENT})
    first.wait_for("turn_complete")
    second.wait_for("bot_uttered")
    assert first.texts() == second.texts() == [response_text("utter_internal_error")]
    assert "no reply" in caplog.text and SILENT not in caplog.text
    first.emit("user_uttered", {"message": "你好"})  # a turn with a reply gets no apology
    first.wait_for("turn_complete", count=2)
    assert first.texts() == [response_text("utter_internal_error"), "收到2"]


@pytest.mark.parametrize("data", ["你好", {}, {"message": 5}, {"message": "   "}, None])
def test_malformed_message_gets_a_chinese_answer(server, chat_client, data):
    client = chat_client()
    client.connect(server.token())
    client.emit("user_uttered", data)
    client.wait_for("turn_complete")
    assert client.texts() == [response_text("utter_bad_request")]
    assert server.agent.received == []


def test_every_tab_of_the_merchant_gets_the_answers_and_pushes_others_do_not(server, chat_client):
    tab_one, tab_two, stranger = chat_client(), chat_client(), chat_client()
    tab_one.connect(server.token(MERCHANT))
    tab_two.connect(server.token(MERCHANT))
    stranger.connect(server.token(OTHER))
    tab_one.emit("user_uttered", {"message": "你好"})
    tab_two.wait_for("bot_uttered")
    output = server.channel.get_output_channel()  # what Rasa's API uses for ?output_channel=webchat
    server.run(output.send_text_message(CONVERSATION, "客服：您好，我来帮您"))
    server.run(output.send_custom_json(CONVERSATION, {"kind": "notice"}))
    for tab in (tab_one, tab_two):
        messages = tab.wait_for("bot_uttered", count=3)
        assert messages == [{"text": "收到1"}, {"text": "客服：您好，我来帮您"}, {"custom": {"kind": "notice"}}]
    time.sleep(0.2)
    assert stranger.received["bot_uttered"] == []


def test_a_token_expiring_while_the_page_is_open_ends_the_session(server, chat_client, monkeypatch):
    monkeypatch.setattr(portal_token, "LEEWAY_S", 0)
    client = chat_client()
    client.connect(portal_token.issue_token(MERCHANT, portal_token.secret(), lifetime=timedelta(seconds=2)))
    time.sleep(2.5)
    client.emit("user_uttered", {"message": "你好"})
    client.wait_for("session_expired")
    assert server.agent.received == []


# ---- history ---------------------------------------------------------------------------------

def _save_conversation(server, conversation_id: str, events: list) -> None:
    tracker = DialogueStateTracker.from_events(conversation_id, events)
    server.run(server.agent.tracker_store.save(tracker))


def test_history_needs_a_valid_token_and_shows_only_its_own_conversation(server):
    _save_conversation(server, webchat_conversation_id(OTHER), [UserUttered("李娜的消息")])
    url = server.url + "/webhooks/webchat/history"
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer abc.def.ghi"}).status_code == 401
    forged = portal_token.issue_token(OTHER, "not-the-secret-but-long-enough-1234567890")
    assert requests.get(url, headers=_bearer(forged)).status_code == 401
    mine = _bearer(server.token(MERCHANT))
    asked = requests.get(url, params={"conversation_id": webchat_conversation_id(OTHER)}, headers=mine)
    assert asked.status_code == 403
    own = requests.get(url, headers=mine).json()
    assert own == {"conversation_id": CONVERSATION, "merchant": "****0001", "messages": []}


def test_history_redraws_the_chat_as_the_merchant_saw_it(server):
    route_buttons = [{"title": "线上办理", "payload": '/inform{"route": "online"}'},
                     {"title": "去网点办理", "payload": '/inform{"route": "offline"}'}]
    _save_conversation(server, CONVERSATION, [
        UserUttered("我要修改结算卡"),
        BotUttered("已识别商户。\n\n您想怎么办理？", data={"buttons": route_buttons}),
        UserUttered('/inform{"route": "online"}'),
        BotUttered("请输入新结算卡的卡号"),
        UserUttered("6222 0210 0000 0000 124"),
        UserUttered('/document_uploaded{"document_id": "abc"}'),
        UserUttered("/message_too_long"),
        UserUttered("/restart"),
        BotUttered(data={"image": "https://example.com/card.png"}),
    ])
    reply = requests.get(server.url + "/webhooks/webchat/history", headers=_bearer(server.token()))
    assert reply.json()["messages"] == [
        {"sender": "user", "text": "我要修改结算卡"},
        {"sender": "bot", "text": "已识别商户。"},
        {"sender": "bot", "text": "您想怎么办理？", "buttons": route_buttons},
        {"sender": "user", "text": "线上办理"},
        {"sender": "bot", "text": "请输入新结算卡的卡号"},
        {"sender": "user", "text": "****0124"},
        {"sender": "user", "kind": "upload"},
        {"sender": "user", "kind": "too_long"},
        {"sender": "bot", "image": "https://example.com/card.png"},
    ]


def _loop_thread(server) -> int:
    async def ident() -> int:
        return threading.get_ident()
    return server.run(ident())


def test_history_is_read_off_the_event_loop(server, monkeypatch):
    # Rasa's SQL tracker store queries and decrypts synchronously inside its async `retrieve`.
    store, threads = server.agent.tracker_store, []
    retrieve = store.retrieve

    async def recorded(conversation_id):
        threads.append(threading.get_ident())
        return await retrieve(conversation_id)

    monkeypatch.setattr(store, "retrieve", recorded)
    _save_conversation(server, CONVERSATION, [UserUttered("你好")])
    reply = requests.get(server.url + "/webhooks/webchat/history", headers=_bearer(server.token()))
    assert reply.json()["messages"] == [{"sender": "user", "text": "你好"}]
    assert threads and _loop_thread(server) not in threads


def test_history_keeps_the_latest_messages_only():
    events = [UserUttered(f"消息{i}") for i in range(300)]
    messages = history_messages(events)
    assert len(messages) == 200 and messages[-1]["text"] == "消息299"


def test_history_never_shows_an_authenticator_secret_again():
    events = [UserUttered("开启动态口令"),
              BotUttered("请用身份验证器App扫描下面的二维码。", {"image": "data:image/svg+xml;base64,AAAA"},
                         metadata={"utter_action": "utter_enrol_qr", "qr": "data:image/svg+xml;base64,AAAA"}),
              BotUttered("密钥：JBSW Y3DP EHPK 3PXP（基于时间）",
                         metadata={"utter_action": "utter_enrol_secret", "secret": "JBSW Y3DP EHPK 3PXP"}),
              BotUttered("添加好以后，请输入动态口令", metadata={"utter_action": "utter_ask_totp_code"})]
    shown = str(history_messages(events))
    assert "JBSW" not in shown and "base64" not in shown
    assert shown.count(response_text("utter_secret_hidden")) == 2 and "添加好以后" in shown


# ---- uploads ---------------------------------------------------------------------------------

def _upload(server, data: bytes, token: str | None = "own", kind: str | None = None, name: str = "photo.png"):
    headers = _bearer(server.token() if token == "own" else token) if token else {}
    fields = {"kind": kind} if kind else None
    return requests.post(server.url + "/webhooks/webchat/upload", headers=headers,
                         files={"file": (name, data, "image/png")}, data=fields)


def test_photo_is_stored_and_the_bot_is_told_in_the_merchants_conversation(server, chat_client, session):
    tab = chat_client()
    tab.connect(server.token())
    reply = _upload(server, png_image(), kind="id_front")
    assert reply.status_code == 200 and reply.json() == {"ok": True}
    [document] = session.execute(select(UploadedDocument)).scalars().all()
    assert (document.conversation_id, document.channel, document.kind, document.content_type) == (
        CONVERSATION, "webchat", "id_front", "image/png")
    [message] = server.agent.received
    assert message.text == '/document_uploaded{"document_id": "%s"}' % document.public_id
    assert message.sender_id == CONVERSATION
    assert message.metadata == {**verified_metadata(MERCHANT), "client_address": "127.0.0.1"}
    assert tab.wait_for("bot_uttered") == [{"text": "收到1"}]  # the bot's answer reaches the page


def test_upload_is_stored_off_the_event_loop(server, session, monkeypatch):
    # Encrypting and writing the file and the database row must not hold up other merchants.
    threads = []
    store = documents.upload_for_dialogue

    def recorded(*args):
        threads.append(threading.get_ident())
        return store(*args)

    monkeypatch.setattr(documents, "upload_for_dialogue", recorded)
    assert _upload(server, png_image(), kind="id_front").status_code == 200
    assert threads and _loop_thread(server) not in threads


def test_an_upload_the_dialogue_leaves_unanswered_gets_the_apology(server, chat_client, session):
    # The page sends the upload's message itself: the merchant still sent something to answer.
    tab = chat_client()
    tab.connect(server.token())
    server.agent.silent = True
    assert _upload(server, png_image(), kind="id_front").status_code == 200
    tab.wait_for("turn_complete")
    assert tab.texts() == [response_text("utter_internal_error")]


def test_file_that_is_not_a_photo_is_refused_with_the_reason(server, session):
    reply = _upload(server, b"just some text, renamed to look like a photo", name="photo.png")
    assert reply.status_code == 400
    assert reply.json()["text"] == response_text("utter_upload_wrong_type")
    assert session.execute(select(UploadedDocument)).first() is None
    assert server.agent.received == []


def test_oversized_upload_gets_413_with_the_chinese_reason(server):
    big = b"\x89PNG\r\n\x1a\n" + b"0" * (5 * 1024 * 1024)
    reply = _upload(server, big)
    assert reply.status_code == 413 and reply.json()["text"] == response_text("utter_upload_too_large")

    def chunks():  # no Content-Length: the size is checked while reading
        for _ in range(7):
            yield b"0" * (1024 * 1024)

    form_headers = {**_bearer(server.token()), "Content-Type": "multipart/form-data; boundary=x"}
    streamed = requests.post(server.url + "/webhooks/webchat/upload", data=chunks(), headers=form_headers)
    assert streamed.status_code == 413 and "5MB" in streamed.json()["text"]
    assert server.agent.received == []


def test_upload_refusals(server):
    assert _upload(server, png_image(), token=None).status_code == 401
    assert _upload(server, png_image(), token="abc.def.ghi").status_code == 401
    assert _upload(server, png_image(), kind="passport").status_code == 400
    empty = _upload(server, b"")
    assert empty.status_code == 400 and empty.json()["text"] == response_text("utter_upload_empty")
    not_a_form = requests.post(server.url + "/webhooks/webchat/upload", json={"file": "x"},
                               headers=_bearer(server.token()))  # JSON, not multipart
    assert not_a_form.status_code == 400 and not_a_form.json()["text"]
    assert server.agent.received == []


def test_storage_failure_gets_the_apology(server, monkeypatch):
    def broken(*_args):
        raise OSError("disk full")

    monkeypatch.setattr("bot.change_requests.documents.upload_for_dialogue", broken)
    reply = _upload(server, png_image())
    assert reply.status_code == 500 and reply.json()["text"] == response_text("utter_technical_problem")
