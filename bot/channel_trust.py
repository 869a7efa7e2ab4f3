"""Who a channel vouches for, and the conversation ids each channel owns.

A channel that authenticated the merchant itself (the web chat's signed portal token, a WeChat
OpenID bound after a verified code, outside development a REST caller with the portal's token or
a signed request naming the merchant) puts the merchant number into the message metadata under
VERIFIED_MERCHANT_KEY. The actions trust it only from the web chat and WeChat (TRUSTED_CHANNELS),
and from REST only in a conversation whose id the channel derived from that very merchant; the
REST channel also drops the key from whatever metadata a client sends (`without_vouching`). A REST
client may not use the conversation ids of the web chat, of WeChat, or of a merchant's
authenticated REST conversations (`rest-<merchant number>-<sender>`): `reserved_conversation_id`.
So nobody can speak as, or read, an authenticated conversation by knowing its id.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Optional

VERIFIED_MERCHANT_KEY = "verified_merchant_number"
# The client's address as the channel saw it (REST, the web chat's socket), for the limits on who
# asks for codes (bot.codes.request_limits); set by the channel, never taken from a client.
CLIENT_ADDRESS_KEY = "client_address"
WEBCHAT = "webchat"
WECHAT = "wechat"
REST = "rest"
TRUSTED_CHANNELS = (WEBCHAT, WECHAT)  # and REST, in a merchant's own conversations only
CONVERSATION_PREFIXES = {WEBCHAT: "webchat-", WECHAT: "wechat-"}
# A merchant's own REST conversations: `rest-<15-digit merchant number>-<the client's sender>`.
_REST_MERCHANT_ID = re.compile(r"rest-[0-9]{15}-")


def is_merchant_number(value: object) -> bool:
    """15 ASCII digits: the shape of a merchant number a channel may vouch for."""
    return isinstance(value, str) and len(value) == 15 and value.isascii() and value.isdigit()


def webchat_conversation_id(merchant_number: str) -> str:
    return CONVERSATION_PREFIXES[WEBCHAT] + merchant_number


def wechat_conversation_id(openid: str) -> str:
    return CONVERSATION_PREFIXES[WECHAT] + openid


def rest_conversation_id(merchant_number: str, sender: str) -> str:
    """The conversation of `sender` for a REST caller authenticated as `merchant_number`: another
    merchant, or an unauthenticated caller, using the same sender reaches a different one."""
    return f"rest-{merchant_number}-{sender}"


def reserved_conversation_id(conversation_id: str) -> bool:
    """True for ids a client may not name itself: the web chat's, WeChat's and the merchants' own
    REST conversations (the channel derives those from the authenticated merchant)."""
    return (conversation_id.startswith(tuple(CONVERSATION_PREFIXES.values()))
            or _REST_MERCHANT_ID.match(conversation_id) is not None)


def verified_metadata(merchant_number: str) -> dict:
    return {VERIFIED_MERCHANT_KEY: merchant_number}


def without_vouching(metadata: Any) -> Optional[dict]:
    """A client's metadata as a channel may pass it on: never with a merchant vouched for, nor an
    address the channel did not see."""
    if not isinstance(metadata, Mapping):
        return None
    return {key: value for key, value in metadata.items() if key not in (VERIFIED_MERCHANT_KEY, CLIENT_ADDRESS_KEY)}


def address_metadata(address: Optional[str]) -> dict:
    """The client's address as the channel saw it (none for a backend that speaks for many)."""
    return {CLIENT_ADDRESS_KEY: address} if address else {}


def client_address(metadata: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The address a channel put in this message's metadata, if any."""
    address = metadata.get(CLIENT_ADDRESS_KEY) if isinstance(metadata, Mapping) else None
    return address if isinstance(address, str) and address else None


def vouched_merchant_number(channel: Optional[str], metadata: Optional[Mapping[str, Any]],
                            conversation_id: Optional[str] = None) -> Optional[str]:
    """The merchant number a trusted channel vouched for in this message's metadata, if any: the
    web chat and WeChat in any of their conversations, REST in the merchant's own only."""
    if not isinstance(metadata, Mapping):
        return None
    number = metadata.get(VERIFIED_MERCHANT_KEY)
    if not is_merchant_number(number):
        return None
    if channel in TRUSTED_CHANNELS:
        return number
    if channel == REST and (conversation_id or "").startswith(rest_conversation_id(number, "")):
        return number
    return None
