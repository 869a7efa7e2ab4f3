"""Who a channel vouches for, and the conversation ids each channel owns.

A channel that authenticated the merchant itself (the web chat's signed portal token, a WeChat
OpenID bound after a verified code) puts the merchant number into the message metadata under
VERIFIED_MERCHANT_KEY. The actions trust it only from those channels (TRUSTED_CHANNELS): the REST
channel passes no metadata and may not use their conversation ids (`reserved_conversation_id`),
so nobody can speak as, or read, a web or WeChat conversation through it.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

VERIFIED_MERCHANT_KEY = "verified_merchant_number"
WEBCHAT = "webchat"
WECHAT = "wechat"
TRUSTED_CHANNELS = (WEBCHAT, WECHAT)
CONVERSATION_PREFIXES = {WEBCHAT: "webchat-", WECHAT: "wechat-"}


def is_merchant_number(value: object) -> bool:
    """15 ASCII digits: the shape of a merchant number a channel may vouch for."""
    return isinstance(value, str) and len(value) == 15 and value.isascii() and value.isdigit()


def webchat_conversation_id(merchant_number: str) -> str:
    return CONVERSATION_PREFIXES[WEBCHAT] + merchant_number


def wechat_conversation_id(openid: str) -> str:
    return CONVERSATION_PREFIXES[WECHAT] + openid


def reserved_conversation_id(conversation_id: str) -> bool:
    """True for ids only the web chat or WeChat channel may use."""
    return conversation_id.startswith(tuple(CONVERSATION_PREFIXES.values()))


def verified_metadata(merchant_number: str) -> dict:
    return {VERIFIED_MERCHANT_KEY: merchant_number}


def vouched_merchant_number(channel: Optional[str], metadata: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The merchant number a trusted channel vouched for in this message's metadata, if any."""
    if channel not in TRUSTED_CHANNELS or not isinstance(metadata, Mapping):
        return None
    number = metadata.get(VERIFIED_MERCHANT_KEY)
    return number if is_merchant_number(number) else None
