"""The wire format of WeChat pushes: signatures, the flat XML messages, safe-mode encryption and
passive replies.

WeChat signs every request to our URL with the shared token (`signature` = SHA-1 of the sorted
token, timestamp and nonce). In safe mode the message itself travels AES-encrypted in an
`<Encrypt>` element, signed again in `msg_signature`, and passive replies go back encrypted.

Bodies are parsed with defusedxml and must be one flat `<xml>` element of text fields: a DOCTYPE
or entity declaration (XXE, billion laughs) is refused before anything is expanded.

    >>> message = parse_flat_xml(b"<xml><MsgType><![CDATA[text]]></MsgType><Content>hi</Content></xml>")
    >>> message["MsgType"], message["Content"]
    ('text', 'hi')
    >>> cdata("a]]>b")
    '<![CDATA[a]]]]><![CDATA[>b]]>'
"""
from __future__ import annotations

import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import Dict, Mapping, Optional
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, fromstring
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

# A WeChat message has about ten fields; anything much bigger is not one.
MAX_FIELDS = 40
MAX_FIELD_CHARS = 16 * 1024
# The follower's text (and, in safe mode, its ciphertext) is as long as the follower made it: it
# is bounded by the body size only, so that an over-long text reaches the channel, which answers
# it with the too-long message instead of a refusal the follower never sees.
TEXT_FIELDS = frozenset({"Content", "Encrypt"})
MAX_QUERY_VALUE_CHARS = 256
# OpenIDs are 28 URL-safe characters today; the pattern leaves room without letting odd
# characters into conversation ids and logs.
OPENID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_XML_ILLEGAL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class RequestRefused(Exception):
    """The request is not a genuine, well-formed WeChat push; `status` is the HTTP answer and the
    message says why, for the log (never the message text)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def forbidden(reason: str) -> RequestRefused:
    return RequestRefused(403, reason)


def malformed(reason: str) -> RequestRefused:
    return RequestRefused(400, reason)


def query_value(query: Mapping[str, str], name: str, required: bool = True) -> Optional[str]:
    """One query parameter, bounded in length; a missing required one is a forged request."""
    value = query.get(name)
    if value is None or value == "":
        if required:
            raise forbidden(f"query parameter {name} is missing")
        return None
    if len(value) > MAX_QUERY_VALUE_CHARS:
        raise forbidden(f"query parameter {name} is too long")
    return value


def verify_signature(token: str, query: Mapping[str, str]) -> None:
    """The `signature` of a request to our URL (GET verification and every POST)."""
    signature = query_value(query, "signature")
    timestamp = query_value(query, "timestamp")
    nonce = query_value(query, "nonce")
    try:
        check_signature(token, signature, timestamp, nonce)
    except InvalidSignatureException:
        raise forbidden("signature does not match") from None


def verify_fresh(timestamp: Optional[str], max_skew_s: int, now: Optional[float] = None) -> None:
    """Refuse a request signed more than `max_skew_s` seconds ago or ahead: a replay."""
    if timestamp is None or not timestamp.isdigit():
        raise forbidden("timestamp is not a number")
    skew = abs((now if now is not None else time.time()) - int(timestamp))
    if skew > max_skew_s:
        raise forbidden(f"timestamp is {int(skew)} s away from now")


def parse_flat_xml(body: bytes) -> Dict[str, str]:
    """The fields of a flat `<xml><Name>value</Name>...</xml>` message.

    Raises RequestRefused(400) for anything else: DTDs and entities (never expanded), nested
    elements, attributes, repeated fields, fields other than TEXT_FIELDS longer than
    MAX_FIELD_CHARS, non-UTF-8 or malformed XML.
    """
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise malformed(f"XML with {type(error).__name__}") from None
    except (ParseError, ValueError, UnicodeDecodeError):
        raise malformed("body is not well-formed XML") from None
    if root.tag != "xml" or root.attrib or (root.text or "").strip():
        raise malformed("root is not a bare <xml> element")
    fields: Dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str):  # comments and processing instructions
            raise malformed("XML holds something other than fields")
        if len(child) or child.attrib or (child.tail or "").strip():
            raise malformed("XML is not flat")
        if child.tag in fields:
            raise malformed("a field is repeated")
        value = child.text or ""
        if len(value) > MAX_FIELD_CHARS and child.tag not in TEXT_FIELDS:
            raise malformed("a field is too long")
        fields[child.tag] = value
        if len(fields) > MAX_FIELDS:
            raise malformed("too many fields")
    return fields


def leading_fields(head: bytes) -> Dict[str, str]:
    """The fields complete within `head`, the first bytes of a body too large to be read whole.

    Only to know whom to tell that the message is too long (FromUserName and ToUserName come first
    in every push): nothing else is read from a body that was not read whole. Parsed as it streams
    in, with the same refusals of DTDs and entities; fields are cut to MAX_FIELD_CHARS, and
    whatever cannot be parsed ends the reading (the rest of the head is ignored).
    """
    collector = _LeadingFields()
    parser = DefusedXMLParser(target=collector, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(head)
    except (DefusedXmlException, ParseError, ValueError, UnicodeDecodeError, _EnoughFields):
        pass
    return collector.fields


class _EnoughFields(Exception):
    """Stops reading a head once it stops looking like a push."""


class _LeadingFields:
    """An ElementTree parser target that keeps the flat fields under <xml>, bounded."""

    def __init__(self) -> None:
        self.fields: Dict[str, str] = {}
        self._depth = 0
        self._tag: Optional[str] = None
        self._text: list = []
        self._length = 0

    def start(self, tag: str, _attrib: Mapping[str, str]) -> None:
        self._depth += 1
        if self._depth > 2 or (self._depth == 1 and tag != "xml"):
            raise _EnoughFields()
        if self._depth == 2:
            self._tag, self._text, self._length = tag, [], 0

    def data(self, text: str) -> None:
        if self._tag is not None and self._length < MAX_FIELD_CHARS:
            self._text.append(text[: MAX_FIELD_CHARS - self._length])
            self._length += len(self._text[-1])

    def end(self, _tag: str) -> None:
        if self._depth == 2 and self._tag is not None:
            self.fields.setdefault(self._tag, "".join(self._text))
            self._tag = None
            if len(self.fields) >= MAX_FIELDS:
                raise _EnoughFields()
        self._depth -= 1

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class InboundMessage:
    """One message or event a follower sent, as WeChat pushed it."""

    account: str  # ToUserName: our Official Account's id (gh_...)
    openid: str  # FromUserName: the follower, unique per account
    create_time: int
    msg_type: str  # text, image, voice, video, shortvideo, location, link, event, ...
    msg_id: Optional[str] = None
    content: Optional[str] = None  # text messages
    media_id: Optional[str] = None  # image, voice, video
    event: Optional[str] = None  # subscribe, unsubscribe, CLICK, ...

    @property
    def dedup_key(self) -> str:
        """What identifies this push across WeChat's retries: the MsgId, or for events (which have
        none) the sender and second it was sent."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"event:{self.openid}:{self.create_time}"


def inbound_message(fields: Mapping[str, str]) -> InboundMessage:
    """Check the fields every push has and pick out the ones the channel uses."""
    openid = fields.get("FromUserName", "")
    if not OPENID_PATTERN.match(openid):
        raise malformed("FromUserName is missing or not an OpenID")
    msg_type = fields.get("MsgType", "").strip().lower()
    if not msg_type or len(msg_type) > 20 or not msg_type.isascii():
        raise malformed("MsgType is missing")
    create_time = fields.get("CreateTime", "").strip()
    if not create_time.isdigit() or len(create_time) > 12:
        raise malformed("CreateTime is missing")
    msg_id = fields.get("MsgId", "").strip() or None
    if msg_id is not None and (len(msg_id) > 64 or not msg_id.isdigit()):
        raise malformed("MsgId is not a number")
    if msg_type != "event" and msg_id is None:
        raise malformed("a message without MsgId")
    return InboundMessage(
        account=fields.get("ToUserName", ""),
        openid=openid,
        create_time=int(create_time),
        msg_type=msg_type,
        msg_id=msg_id,
        content=fields.get("Content"),
        media_id=fields.get("MediaId") or None,
        event=(fields.get("Event") or "").strip() or None,
    )


def new_crypto(token: str, aes_key: str, app_id: str) -> WeChatCrypto:
    return WeChatCrypto(token, aes_key, app_id)


def decrypt_push(crypto: WeChatCrypto, envelope: Mapping[str, str], query: Mapping[str, str]) -> bytes:
    """The inner XML of a safe-mode push, after checking `msg_signature`.

    The envelope was parsed with `parse_flat_xml` already: wechatpy is only handed the
    ciphertext, never XML to parse.
    """
    encrypted = envelope.get("Encrypt")
    if not encrypted:
        raise malformed("safe-mode body without <Encrypt>")
    msg_signature = query_value(query, "msg_signature")
    try:
        plaintext = crypto.decrypt_message(
            {"Encrypt": encrypted}, msg_signature, query_value(query, "timestamp"), query_value(query, "nonce")
        )
    except InvalidSignatureException:
        raise forbidden("msg_signature does not match") from None
    except InvalidAppIdException:
        raise forbidden("message was encrypted for another AppID") from None
    except Exception:  # noqa: BLE001 - bad base64, padding or UTF-8: wechatpy raises many kinds
        raise malformed("ciphertext cannot be decrypted") from None
    return plaintext.encode("utf-8")


def xml_safe(value: str) -> str:
    """`value` without the characters XML 1.0 cannot carry (WeChat would reject the reply)."""
    return _XML_ILLEGAL_CHARS.sub("", value)


def cdata(value: str) -> str:
    """`value` as CDATA. A `]]>` inside would end the section early and let the rest be read as
    markup, so it is split across two sections."""
    return "<![CDATA[" + xml_safe(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text_reply(to_openid: str, from_account: str, content: str, create_time: Optional[int] = None) -> str:
    """A passive text reply (被动回复) to a push: the XML answer to WeChat's POST itself."""
    created = int(create_time if create_time is not None else time.time())
    return (
        "<xml>"
        f"<ToUserName>{cdata(to_openid)}</ToUserName>"
        f"<FromUserName>{cdata(from_account)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        f"<MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(content)}</Content>"
        "</xml>"
    )


def encrypt_reply(crypto: WeChatCrypto, reply_xml: str, timestamp: Optional[int] = None) -> str:
    """A safe-mode passive reply: the reply XML encrypted and signed, with a fresh nonce.

    The nonce is ours (letters and digits) because wechatpy writes it into CDATA unescaped.
    """
    nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
    return crypto.encrypt_message(reply_xml, nonce, str(int(timestamp if timestamp is not None else time.time())))
