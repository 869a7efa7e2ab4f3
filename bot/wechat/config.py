"""How the WeChat Official Account channel is configured: the environment (the documented way,
spec/CONTRACTS.md "WeChat channel settings"), with the same keys in lower case from
credentials.yml as a fallback.

| environment | credentials.yml | meaning |
|---|---|---|
| WECHAT_TOKEN | token | the "Token" of the account's server configuration; required |
| WECHAT_APP_ID | app_id | AppID: for the access token, and the id inside encrypted messages |
| WECHAT_APP_SECRET | app_secret | AppSecret: for the access token |
| WECHAT_AES_KEY | aes_key | EncodingAESKey (43 characters): safe mode when set; required outside development |
| WECHAT_API_BASE | api_base | default https://api.weixin.qq.com; tests use a fake on loopback |
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from bot import settings

DEFAULT_API_BASE = "https://api.weixin.qq.com"

# WeChat waits 5 seconds for an answer and then retries; anything signed longer ago than this
# (or this far in the future) is a replay, not a retry.
MAX_CLOCK_SKEW_S = 300
# A push is read and parsed whole up to this size. Most are a few hundred bytes, but a follower
# may paste a long text: 100,000 Chinese characters are 300 KB of UTF-8 and 400 KB once encrypted
# in safe mode, and the flat-XML parser and the AES decryption take a few milliseconds for 1 MB.
# A bigger body is read no further (what follows is discarded as it arrives) and answered at once
# with the too-long reply (bot.rasa.channels.wechat), so memory stays bounded and nobody goes unanswered.
MAX_BODY_BYTES = 1024 * 1024
# What is read of a push at all. Even a pasted book is smaller, and WeChat itself sends nothing
# near it; a sender going on beyond (Sanic does not bound streamed bodies) is refused with 413.
MAX_READ_BYTES = 16 * 1024 * 1024

_KEYS = ("token", "app_id", "app_secret", "aes_key", "api_base")


@dataclass(frozen=True)
class WeChatConfig:
    token: Optional[str] = None
    app_id: Optional[str] = None
    app_secret: Optional[str] = None
    aes_key: Optional[str] = None
    api_base: str = DEFAULT_API_BASE
    # Calls to the WeChat API: per-request timeout, attempts for transient failures (timeouts,
    # connection errors, HTTP 5xx, "system busy") and the first backoff delay, doubled each time.
    request_timeout_s: float = 10.0
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    # The cached access token is renewed this long before WeChat says it expires.
    token_refresh_margin_s: int = 300
    max_clock_skew_s: int = MAX_CLOCK_SKEW_S
    max_body_bytes: int = MAX_BODY_BYTES
    max_read_bytes: int = MAX_READ_BYTES

    @classmethod
    def from_sources(
        cls, environ: Mapping[str, str], credentials: Optional[Mapping[str, Any]] = None, **overrides: Any
    ) -> "WeChatConfig":
        """The environment first (WECHAT_<KEY>), then credentials.yml (<key>), then the defaults."""
        credentials = credentials or {}
        values: dict[str, Any] = {}
        for key in _KEYS:
            value = environ.get(f"WECHAT_{key.upper()}") or credentials.get(key)
            if value is not None and str(value).strip():
                values[key] = str(value).strip()
        if "api_base" in values:
            values["api_base"] = values["api_base"].rstrip("/")
        return cls(**{**values, **overrides})

    @property
    def safe_mode(self) -> bool:
        """Safe mode (安全模式): pushes and passive replies are AES-encrypted."""
        return bool(self.aes_key)

    def problem(self) -> Optional[str]:
        """Why the channel cannot accept pushes with this configuration (for the log), or None."""
        if not self.token:
            return "WECHAT_TOKEN is not set"
        if not self.aes_key and not settings.is_development():
            # Plaintext mode signs the URL only: the body of a push could be anyone's.
            return "WECHAT_AES_KEY is not set: plaintext mode (明文模式) is refused outside development, use safe mode"
        if self.aes_key:
            if not self.app_id:
                return "WECHAT_AES_KEY is set but WECHAT_APP_ID is not (safe mode needs both)"
            if not valid_aes_key(self.aes_key):
                return "WECHAT_AES_KEY is not a 43-character EncodingAESKey"
        return None


def valid_aes_key(aes_key: str) -> bool:
    """An EncodingAESKey is 43 base64 characters encoding a 32-byte AES key."""
    if len(aes_key) != 43:
        return False
    try:
        return len(base64.b64decode(aes_key + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False
