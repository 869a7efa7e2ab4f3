"""The wire format: signatures, freshness, the flat XML parser and its refusals, passive replies."""
from __future__ import annotations

import doctest
import time

import pytest

from bot.wechat import protocol, replies
from bot.wechat.protocol import RequestRefused
from wechat.pusher import AES_KEY, TOKEN, Pusher, flat_xml, sha1_signature

APP_ID = "wx0123456789abcdef"

XXE = (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       b"<xml><ToUserName>gh</ToUserName><Content>&xxe;</Content></xml>")
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE xml ['
    b'<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'.encode() for n in range(1, 10)
    )
    + b"]><xml><Content>&lol9;</Content></xml>"
)
ENTITY_WITHOUT_DTD = b"<xml><Content>&lol;</Content></xml>"


def test_module_examples_hold():
    for module in (protocol, replies):
        assert doctest.testmod(module).failed == 0


def test_signature_of_the_platform_is_accepted_and_any_change_refused():
    query = {"signature": sha1_signature(TOKEN, "1700000000", "n0nce"), "timestamp": "1700000000", "nonce": "n0nce"}
    protocol.verify_signature(TOKEN, query)
    for changed in ({"nonce": "other"}, {"timestamp": "1700000001"}, {"signature": "0" * 40}):
        with pytest.raises(RequestRefused) as refused:
            protocol.verify_signature(TOKEN, {**query, **changed})
        assert refused.value.status == 403
    with pytest.raises(RequestRefused):
        protocol.verify_signature("another-token", query)
    with pytest.raises(RequestRefused):
        protocol.verify_signature(TOKEN, {"timestamp": "1700000000", "nonce": "n0nce"})


@pytest.mark.parametrize("offset_s, fresh", [(0, True), (-299, True), (299, True), (-301, False), (301, False)])
def test_timestamps_more_than_five_minutes_away_are_replays(offset_s, fresh):
    now = 1_800_000_000
    if fresh:
        protocol.verify_fresh(str(now + offset_s), 300, now=now)
    else:
        with pytest.raises(RequestRefused) as refused:
            protocol.verify_fresh(str(now + offset_s), 300, now=now)
        assert refused.value.status == 403


@pytest.mark.parametrize("timestamp", [None, "", "soon", "-5", "1.5"])
def test_timestamps_that_are_not_numbers_are_refused(timestamp):
    with pytest.raises(RequestRefused):
        protocol.verify_fresh(timestamp, 300)


def test_a_flat_message_gives_its_fields():
    fields = protocol.parse_flat_xml(
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Content><![CDATA[卡号 <6222>]]></Content>"
        "<CreateTime>1700000000</CreateTime></xml>".encode("utf-8")
    )
    assert fields == {"ToUserName": "gh_1", "Content": "卡号 <6222>", "CreateTime": "1700000000"}


@pytest.mark.parametrize(
    "body",
    [XXE, BILLION_LAUGHS, ENTITY_WITHOUT_DTD,
     b'<!DOCTYPE xml><xml><A>1</A></xml>',
     b"<xml><A><B>nested</B></A></xml>",
     b'<xml><A kind="x">1</A></xml>',
     b'<xml lang="zh"><A>1</A></xml>',
     b"<message><A>1</A></message>",
     b"<xml><A>1</A><A>2</A></xml>",
     b"<xml>loose text<A>1</A></xml>",
     b"<xml><A>1</A>tail</xml>",
     b"<xml><A>1</A>",
     b"",
     b"not xml at all",
     "<xml><A>卡</A></xml>".encode("gbk"),
     b"<xml>" + b"".join(b"<F%d>x</F%d>" % (n, n) for n in range(50)) + b"</xml>"],
    ids=["xxe", "billion-laughs", "undeclared-entity", "doctype", "nested", "attribute", "root-attribute",
         "other-root", "repeated", "root-text", "tail-text", "unclosed", "empty", "garbage", "not-utf8",
         "too-many-fields"],
)
def test_anything_but_a_flat_message_is_refused_with_400(body):
    with pytest.raises(RequestRefused) as refused:
        protocol.parse_flat_xml(body)
    assert refused.value.status == 400


def test_the_text_may_be_long_but_no_other_field():
    # The channel answers an over-long text itself (issue 9: it used to be a 400 nobody read).
    long_text = "长" * (protocol.MAX_FIELD_CHARS + 1)
    assert protocol.parse_flat_xml(flat_xml(Content=long_text, MsgType="text").encode())["Content"] == long_text
    assert protocol.parse_flat_xml(flat_xml(Encrypt="A" * 200_000).encode())["Encrypt"] == "A" * 200_000
    with pytest.raises(RequestRefused) as refused:
        protocol.parse_flat_xml(flat_xml(FromUserName=long_text).encode())
    assert refused.value.status == 400


def test_the_leading_fields_of_a_body_cut_short_name_the_follower():
    head = Pusher().text("oFollower", "长" * 100_000).encode()[:50_000]
    fields = protocol.leading_fields(head)
    assert fields["FromUserName"] == "oFollower" and fields["ToUserName"] == "gh_0123456789ab"
    assert "Content" not in fields  # cut off: never read as if it were whole
    assert protocol.leading_fields(flat_xml(A="x" * 100_000, B="b").encode())["A"] == "x" * protocol.MAX_FIELD_CHARS


@pytest.mark.parametrize("head", [XXE, BILLION_LAUGHS, b"<html><FromUserName>o1</FromUserName></html>",
                                  b"<xml><A><FromUserName>o1</FromUserName></A></xml>", b"\xff\xfe<<<", b""],
                         ids=["xxe", "billion-laughs", "other-root", "nested", "garbage", "empty"])
def test_the_leading_fields_of_anything_but_a_push_are_not_trusted(head):
    assert "FromUserName" not in protocol.leading_fields(head)


def test_billion_laughs_is_refused_before_any_expansion():
    started = time.perf_counter()
    with pytest.raises(RequestRefused):
        protocol.parse_flat_xml(BILLION_LAUGHS)
    assert time.perf_counter() - started < 0.5


def test_inbound_fields_are_checked_and_keyed_for_deduplication():
    text = protocol.inbound_message({"ToUserName": "gh", "FromUserName": "oUser_1-x", "CreateTime": "1700000000",
                                     "MsgType": "text", "Content": "你好", "MsgId": "6054768590064713728"})
    assert text.dedup_key == "msg:6054768590064713728"
    event = protocol.inbound_message({"ToUserName": "gh", "FromUserName": "oUser_1-x", "CreateTime": "1700000000",
                                      "MsgType": "event", "Event": "subscribe"})
    assert event.dedup_key == "event:oUser_1-x:1700000000"
    assert event.event == "subscribe"


@pytest.mark.parametrize(
    "changes",
    [{"FromUserName": ""}, {"FromUserName": "o user"}, {"FromUserName": "o]]>x"}, {"FromUserName": "o" * 65},
     {"MsgType": ""}, {"CreateTime": "yesterday"}, {"MsgId": ""}, {"MsgId": "12ab"}],
)
def test_inbound_messages_missing_what_every_push_has_are_refused(changes):
    fields = {"ToUserName": "gh", "FromUserName": "oUser", "CreateTime": "1700000000", "MsgType": "text",
              "MsgId": "1", **changes}
    with pytest.raises(RequestRefused) as refused:
        protocol.inbound_message(fields)
    assert refused.value.status == 400


@pytest.mark.parametrize("content", ["a]]>b", "]]>", "]]]]>", "x]]><![CDATA[y", "<b>&amp;</b>", "多行\n文字"])
def test_cdata_end_marker_in_a_reply_is_escaped(content):
    reply = protocol.render_text_reply("oUser", "gh_]]>account", content, create_time=1700000000)
    fields = protocol.parse_flat_xml(reply.encode("utf-8"))
    assert fields["Content"] == content
    assert fields["FromUserName"] == "gh_]]>account"
    assert fields["MsgType"] == "text" and fields["CreateTime"] == "1700000000"


def test_characters_xml_cannot_carry_are_dropped_from_replies():
    reply = protocol.render_text_reply("oUser", "gh", "a\x00b\x07c\td\ne")
    assert protocol.parse_flat_xml(reply.encode("utf-8"))["Content"] == "abc\td\ne"


def test_safe_mode_push_is_decrypted_after_its_signature_is_checked():
    pusher = Pusher(aes_key=AES_KEY, app_id=APP_ID)
    crypto = protocol.new_crypto(TOKEN, AES_KEY, APP_ID)
    query, body = pusher.push(pusher.text("oUser", "安全模式 ]]> 测试", msg_id=42))
    inner = protocol.parse_flat_xml(protocol.decrypt_push(crypto, protocol.parse_flat_xml(body), query))
    assert inner["Content"] == "安全模式 ]]> 测试" and inner["MsgId"] == "42"

    with pytest.raises(RequestRefused) as forged:
        protocol.decrypt_push(crypto, protocol.parse_flat_xml(body), {**query, "msg_signature": "0" * 40})
    assert forged.value.status == 403

    other_account = Pusher(aes_key=AES_KEY, app_id="wx_other_account")
    query, body = other_account.push(other_account.text("oUser", "hi"))
    with pytest.raises(RequestRefused) as foreign:
        protocol.decrypt_push(crypto, protocol.parse_flat_xml(body), query)
    assert foreign.value.status == 403

    garbage = "bm90IGEgY2lwaGVydGV4dA=="
    query = {**pusher.signed_query(), }
    query["msg_signature"] = sha1_signature(TOKEN, query["timestamp"], query["nonce"], garbage)
    with pytest.raises(RequestRefused) as undecryptable:
        protocol.decrypt_push(crypto, {"Encrypt": garbage}, query)
    assert undecryptable.value.status == 400


def test_encrypted_passive_reply_opens_with_the_account_key():
    pusher = Pusher(aes_key=AES_KEY, app_id=APP_ID)
    crypto = protocol.new_crypto(TOKEN, AES_KEY, APP_ID)
    sealed = protocol.encrypt_reply(crypto, protocol.render_text_reply("oUser", "gh", "请输入文字 ]]>"))
    assert "请输入" not in sealed
    assert protocol.parse_flat_xml(pusher.open_reply(sealed).encode("utf-8"))["Content"] == "请输入文字 ]]>"


def test_flat_xml_helper_of_the_tests_escapes_like_wechat():
    assert protocol.parse_flat_xml(flat_xml(A="<&]]>", B=5).encode()) == {"A": "<&]]>", "B": "5"}
