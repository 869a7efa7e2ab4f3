"""The signed token with which the merchant portal opens the web chat page for one merchant.

A JWT signed with HS256 and the shared secret `WEBCHAT_JWT_SECRET`:

    {"sub": "822100000000001", "iat": 1764000000, "exp": 1764007200}

`sub` is the 15-digit merchant number the portal logged in; `exp` is required and may lie at most
MAX_LIFETIME after `iat`, so a leaked link stops working within hours. Without the variable
(development), a random secret is generated once into `<var_dir>/webchat_jwt.secret` and the page
offers a demo login for the demo merchants; with it, the demo login is off unless
`WEBCHAT_DEMO_LOGIN=1`. Outside development (`BOT_ENV`) the variable is required and the demo
login is always off.
"""
from __future__ import annotations

import os
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Optional

import jwt

from bot.channel_trust import is_merchant_number
from bot.settings import is_development, var_dir

ALGORITHM = "HS256"
MAX_LIFETIME = timedelta(hours=12)
DEMO_LIFETIME = timedelta(hours=2)
MIN_SECRET_CHARS = 32
# Clocks of the portal and the bot may differ a little.
LEEWAY_S = 30
SECRET_FILE_NAME = "webchat_jwt.secret"


class InvalidWebToken(Exception):
    """The token is missing, malformed, badly signed, expired or names no merchant."""


class WebTokenConfigError(RuntimeError):
    """WEBCHAT_JWT_SECRET is set but too short to be a safe HMAC key."""


def configured_secret() -> Optional[str]:
    return os.environ.get("WEBCHAT_JWT_SECRET") or None


def secret() -> str:
    """The signing secret: WEBCHAT_JWT_SECRET, else the development secret under var/."""
    configured = configured_secret()
    if configured is not None:
        if len(configured) < MIN_SECRET_CHARS:
            raise WebTokenConfigError(
                f"WEBCHAT_JWT_SECRET must be at least {MIN_SECRET_CHARS} characters"
            )
        return configured
    if not is_development():
        raise WebTokenConfigError("WEBCHAT_JWT_SECRET must be set outside development")
    return _development_secret(var_dir() / SECRET_FILE_NAME)


def _development_secret(path: Path) -> str:
    if not path.exists():
        # O_EXCL: when two processes start at once, one creates the file and both read it.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def demo_login_enabled() -> bool:
    """Development only: without a configured secret, or explicitly allowed with WEBCHAT_DEMO_LOGIN=1.
    Outside development (`BOT_ENV`) never, whatever WEBCHAT_DEMO_LOGIN says."""
    if not is_development():
        return False
    return configured_secret() is None or os.environ.get("WEBCHAT_DEMO_LOGIN") == "1"


def issue_token(merchant_number: str, signing_secret: str,
                lifetime: timedelta = DEMO_LIFETIME, now: Optional[float] = None) -> str:
    """A token for `merchant_number` (what the portal does; here for the demo login and tests)."""
    if not is_merchant_number(merchant_number):
        raise ValueError("a merchant number has 15 digits")
    issued = int(now if now is not None else time.time())
    claims = {"sub": merchant_number, "iat": issued, "exp": issued + int(lifetime.total_seconds())}
    return jwt.encode(claims, signing_secret, algorithm=ALGORITHM)


def verify_token(token: object, signing_secret: str) -> tuple[str, int]:
    """The merchant number the token names and its expiry (Unix time); raises InvalidWebToken."""
    if not isinstance(token, str) or not token:
        raise InvalidWebToken("no token")
    try:
        claims = jwt.decode(
            token,
            signing_secret,
            algorithms=[ALGORITHM],  # never what the token's header says ("none", RS256 ...)
            options={"require": ["sub", "iat", "exp"]},
            leeway=LEEWAY_S,
        )
    except jwt.PyJWTError as error:
        raise InvalidWebToken(type(error).__name__) from None
    issued, expires = claims["iat"], claims["exp"]
    if not (_is_time(issued) and _is_time(expires)):
        raise InvalidWebToken("iat and exp must be numbers")
    if expires - issued > MAX_LIFETIME.total_seconds():
        raise InvalidWebToken("lifetime too long")
    if not is_merchant_number(claims["sub"]):
        raise InvalidWebToken("sub is not a merchant number")
    return claims["sub"], int(expires)


def _is_time(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
