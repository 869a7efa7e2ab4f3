"""Who may call the REST channel, and whose conversation a message goes to (issue 12, finding 3).

Development (`BOT_ENV` unset or `development`): anyone who reaches the port, exactly as Rasa's REST
channel (spec/CONTRACTS.md); credentials are not looked at, and the merchant identifies in the
conversation (merchant number, SMS code).

Outside development, only a trusted caller, proven one of two ways:

- **a signed request** from the acquirer's backend, with the secret it shares with the assistant,
  `REST_HMAC_SECRET` (32+ characters):

      X-Bot-Timestamp: 1764000000        (Unix seconds; refused 5 minutes away from the server's clock)
      X-Bot-Signature: sha256=<hex>      (HMAC-SHA256, key REST_HMAC_SECRET, of "<timestamp>." + the raw body)

  `signature(secret, timestamp, body)` computes it. A backend that has authenticated its merchant
  names them in the signed body, `{"sender": ..., "message": ..., "merchant": "822100000000001"}`;
  without `merchant` the conversation is the backend's `sender`, and the merchant identifies with
  an SMS code as in development (each of the backend's users must then get senders of their own);
- **the merchant portal's token**, the same JWT as the web chat's (bot.webchat.portal_token):
  `Authorization: Bearer <token>`.

Anything else is refused with 401 before the body is looked at, the Chinese `utter_unauthorized`
in the channel's JSON, and an `error` code for the developer (`missing_credentials`,
`invalid_token`, `stale_timestamp`, `invalid_signature`, `signatures_not_configured`).

A merchant authenticated either way talks in conversations of their own: the id is
`rest-<merchant number>-<sender>` (bot.channel_trust), and each message vouches for the merchant
like the web chat's, so another merchant, or anyone else, sending the same `sender` reaches a
different conversation and inherits nothing (no identification, no authenticator, no signing).
The answer's `recipient_id` stays the client's `sender`.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Union

from bot.channel_trust import is_merchant_number, rest_conversation_id
from bot.settings import is_development
from bot.webchat import portal_token

SECRET_ENV = "REST_HMAC_SECRET"
TIMESTAMP_HEADER = "X-Bot-Timestamp"
SIGNATURE_HEADER = "X-Bot-Signature"
SIGNATURE_PREFIX = "sha256="
MAX_SKEW_S = 300
# The sender part of a merchant's conversation id: the id fits the 100-character columns.
MAX_BOUND_SENDER_CHARS = 64


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Bot-Signature` of a request: what the backend sends, what the channel expects."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


@dataclass(frozen=True)
class Caller:
    """Whoever sent the request: the merchant they are authenticated as, if any."""

    merchant: Optional[str] = None
    how: str = "open"  # open (development), signature, portal_token

    def conversation_id(self, sender: str) -> Optional[str]:
        """The conversation this caller's `sender` names; None when the sender is too long to bind."""
        if self.merchant is None:
            return sender
        if len(sender) > MAX_BOUND_SENDER_CHARS:
            return None
        return rest_conversation_id(self.merchant, sender)


@dataclass(frozen=True)
class Refused:
    """Not admitted: 401 unless the caller proved itself but sent something malformed (400)."""

    error: str
    status: int = 401


OPEN = Caller()


class RestGate:
    """Admits REST requests: everyone in development, trusted callers only outside it."""

    def __init__(self, required: bool, hmac_secret: Optional[str] = None, token_secret: Optional[str] = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.required = required
        self._hmac_secret = hmac_secret
        self._token_secret = token_secret
        self._clock = clock

    @classmethod
    def from_env(cls) -> "RestGate":
        """The gate for this deployment, built when the channel is mounted: outside development
        the portal token's secret must be configured (portal_token.secret() raises otherwise)."""
        if is_development():
            return cls(required=False)
        return cls(required=True, hmac_secret=os.environ.get(SECRET_ENV, "").strip() or None,
                   token_secret=portal_token.secret())

    def admit(self, headers: Mapping[str, str], body: bytes, payload: Optional[Mapping[str, Any]]) -> Union[Caller, Refused]:
        if not self.required:
            return OPEN
        authorization = headers.get("authorization") or ""
        if authorization:
            return self._by_token(authorization)
        if headers.get(SIGNATURE_HEADER.lower()) or headers.get(TIMESTAMP_HEADER.lower()):
            return self._by_signature(headers, body, payload)
        return Refused("missing_credentials")

    def _by_token(self, authorization: str) -> Union[Caller, Refused]:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or self._token_secret is None:
            return Refused("invalid_token")
        try:
            merchant, _expires = portal_token.verify_token(token.strip(), self._token_secret)
        except portal_token.InvalidWebToken:
            return Refused("invalid_token")
        return Caller(merchant=merchant, how="portal_token")

    def _by_signature(self, headers: Mapping[str, str], body: bytes,
                      payload: Optional[Mapping[str, Any]]) -> Union[Caller, Refused]:
        if self._hmac_secret is None:
            return Refused("signatures_not_configured")
        timestamp = headers.get(TIMESTAMP_HEADER.lower()) or ""
        if not (timestamp.isascii() and timestamp.isdigit()) or abs(self._clock() - int(timestamp)) > MAX_SKEW_S:
            return Refused("stale_timestamp")
        given = (headers.get(SIGNATURE_HEADER.lower()) or "").strip().lower()
        if not given.startswith(SIGNATURE_PREFIX):
            given = SIGNATURE_PREFIX + given  # the bare hex digest is accepted too
        expected = signature(self._hmac_secret, timestamp, body)
        if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
            return Refused("invalid_signature")
        merchant = payload.get("merchant") if isinstance(payload, Mapping) else None
        if merchant is None:
            return Caller(how="signature")
        if not is_merchant_number(merchant):
            return Refused("invalid_merchant", status=400)
        return Caller(merchant=merchant, how="signature")
