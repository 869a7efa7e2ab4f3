"""What WeChat's servers send to our URL, built and signed the way the platform documents it:
`signature` = SHA-1 of the sorted token, timestamp and nonce; in safe mode the message is
AES-encrypted (with wechatpy's cipher) into `<Encrypt>` and signed again in `msg_signature`.

The signatures are computed here with hashlib, independently of the code under test.
"""
from __future__ import annotations

import hashlib
import itertools
import secrets
import time
from typing import Dict, Optional, Tuple
from xml.sax.saxutils import escape

from wechatpy.crypto import PrpCrypto, WeChatCrypto

ACCOUNT = "gh_0123456789ab"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them
TOKEN = "wechat-test-token"

_msg_ids = itertools.count(int(time.time()) * 1000)


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def flat_xml(**fields: object) -> str:
    """`<xml>` with one element per field; strings escaped (WeChat uses CDATA, both are XML)."""
    body = "".join(
        f"<{name}>{value}</{name}>" if isinstance(value, int) else f"<{name}>{escape(str(value))}</{name}>"
        for name, value in fields.items()
    )
    return f"<xml>{body}</xml>"


class Pusher:
    """Signs (and in safe mode encrypts) pushes for one Official Account."""

    def __init__(self, token: str = TOKEN, aes_key: Optional[str] = None, app_id: str = "wx0123456789abcdef",
                 account: str = ACCOUNT) -> None:
        self.token = token
        self.aes_key = aes_key
        self.app_id = app_id
        self.account = account

    # --- messages --------------------------------------------------------------------------------

    def text(self, openid: str, content: str, msg_id: Optional[int] = None, create_time: Optional[int] = None) -> str:
        return flat_xml(ToUserName=self.account, FromUserName=openid, CreateTime=create_time or int(time.time()),
                        MsgType="text", Content=content, MsgId=msg_id or next(_msg_ids))

    def image(self, openid: str, media_id: str, msg_id: Optional[int] = None) -> str:
        return flat_xml(ToUserName=self.account, FromUserName=openid, CreateTime=int(time.time()), MsgType="image",
                        PicUrl="http://mmbiz.qpic.cn/fake.jpg", MediaId=media_id, MsgId=msg_id or next(_msg_ids))

    def voice(self, openid: str) -> str:
        return flat_xml(ToUserName=self.account, FromUserName=openid, CreateTime=int(time.time()), MsgType="voice",
                        MediaId="voice-media", Format="amr", MsgId=next(_msg_ids))

    def location(self, openid: str) -> str:
        return flat_xml(ToUserName=self.account, FromUserName=openid, CreateTime=int(time.time()),
                        MsgType="location", Location_X="31.2304", Location_Y="121.4737", Scale=15,
                        Label="上海市", MsgId=next(_msg_ids))

    def event(self, openid: str, event: str, create_time: Optional[int] = None) -> str:
        return flat_xml(ToUserName=self.account, FromUserName=openid, CreateTime=create_time or int(time.time()),
                        MsgType="event", Event=event)

    # --- signing ---------------------------------------------------------------------------------

    def signed_query(self, timestamp: Optional[int] = None, nonce: Optional[str] = None) -> Dict[str, str]:
        timestamp_text = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        return {"signature": sha1_signature(self.token, timestamp_text, nonce), "timestamp": timestamp_text,
                "nonce": nonce}

    def verification(self, echostr: str = "echo-4815162342") -> Dict[str, str]:
        return {**self.signed_query(), "echostr": echostr}

    def push(self, xml: str, timestamp: Optional[int] = None, openid: str = "") -> Tuple[Dict[str, str], bytes]:
        """Query and body of the POST WeChat makes for `xml`: plaintext, or encrypted in safe mode."""
        query = self.signed_query(timestamp)
        if openid:
            query["openid"] = openid
        if not self.aes_key:
            return query, xml.encode("utf-8")
        encrypted = PrpCrypto(self._crypto().key).encrypt(xml, self.app_id).decode("ascii")
        query["encrypt_type"] = "aes"
        query["msg_signature"] = sha1_signature(self.token, query["timestamp"], query["nonce"], encrypted)
        body = flat_xml(ToUserName=self.account, Encrypt=encrypted)
        return query, body.encode("utf-8")

    def open_reply(self, body: str) -> str:
        """The plaintext XML of a passive reply (decrypted and its signature checked in safe mode)."""
        if not self.aes_key:
            return body
        from defusedxml.ElementTree import fromstring

        envelope = fromstring(body)
        encrypted = envelope.findtext("Encrypt")
        signature = sha1_signature(self.token, envelope.findtext("TimeStamp"), envelope.findtext("Nonce"), encrypted)
        assert signature == envelope.findtext("MsgSignature"), "passive reply signature does not match"
        return PrpCrypto(self._crypto().key).decrypt(encrypted, self.app_id)

    def _crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, self.aes_key, self.app_id)
