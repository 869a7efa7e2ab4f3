"""What a production start needs: `BOT_ENV=production bot serve` refuses to start without it.

`problems()` returns one line per missing or unsafe setting, each starting with the variable to
set (or the database to fix), so the operator fixes them all in one go; an empty list means the
servers may start, e.g. without RASA_API_TOKEN:

    RASA_API_TOKEN is not set: Rasa's HTTP API reads and changes every conversation (web chat and WeChat ones too)

What is checked (README, "Production"):
- `BOT_DATA_KEY` is set and decrypts the database's key check (bot.db.key_check), which the first
  production start writes when `bot db upgrade` has not;
- `RASA_API_TOKEN`, `CONSOLE_SECRET_KEY`, `WEBCHAT_JWT_SECRET` (32+ characters: the demo login is
  then off) are set, and the database holds no demo merchants;
- `SMS_GATEWAY` names a real provider that can be built (its own settings, e.g. `YUNPIAN_APIKEY`);
- WeChat, when configured (any `WECHAT_*` set), runs in safe mode with a valid configuration;
- `BOT_CORS_ORIGINS` names origins, not `*` (bot serve passes `--cors "*"` in development only);
- `REST_HMAC_SECRET`, when set, has 32+ characters.

Development needs none of this: the defaults under var/ keep `make run` working out of the box.

Servers started without `bot serve` (Kubernetes, docs/DEPLOYMENT.md) run the same checks first:
`python -m bot.ops.production` prints the problems and exits 2, or exits 0 in silence.
"""
from __future__ import annotations

import os
import sys
from typing import List, Optional

from sqlalchemy import inspect, or_, select
from sqlalchemy.exc import SQLAlchemyError

from bot import settings
from bot.db import crypto, key_check
from bot.db.engine import display_url, make_engine, session_factory, session_scope, sqlite_path
from bot.db.models import Merchant
from bot.ops.demo import DEMO_MERCHANTS
from bot.sms import gateway
from bot.webchat import portal_token
from bot.wechat.config import WeChatConfig

CORS_ENV = "BOT_CORS_ORIGINS"
REST_SECRET_ENV = "REST_HMAC_SECRET"
MIN_SECRET_CHARS = 32
# The numbers of the demo and load-test merchants (bot.ops.demo): 822100000000001-999.
DEMO_NUMBER_PREFIX = "822100000000"
_WECHAT_KEYS = ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_AES_KEY")


def problems() -> List[str]:
    """Everything that stops a production start: the settings, then the database's key check."""
    return configuration_problems() + database_problems()


def configuration_problems() -> List[str]:
    """The settings alone (no database): one line per problem."""
    found: List[str] = []
    if not _env(crypto.KEY_ENV):
        found.append(f"{crypto.KEY_ENV} is not set: the Fernet key that encrypts card and ID numbers "
                     "(outside development it is never generated)")
    if not _env("RASA_API_TOKEN"):
        found.append("RASA_API_TOKEN is not set: Rasa's HTTP API reads and changes every conversation "
                     "(web chat and WeChat ones too)")
    found.extend(_portal_token_problems())
    found.extend(_sms_problems())
    found.extend(_wechat_problems())
    cors = cors_origins()
    if "*" in cors:
        found.append(f"{CORS_ENV} contains '*': any web page could read conversations through the browser; "
                     "name the origins (e.g. https://portal.example.com) or leave it unset")
    if not _env("CONSOLE_SECRET_KEY"):
        found.append("CONSOLE_SECRET_KEY is not set: it signs the agent console's session cookies")
    rest_secret = _env(REST_SECRET_ENV)
    if rest_secret and len(rest_secret) < MIN_SECRET_CHARS:
        found.append(f"{REST_SECRET_ENV} is shorter than {MIN_SECRET_CHARS} characters: too weak an HMAC key")
    return found


def database_problems() -> List[str]:
    """The key check (written here on the first production start) and the demo data, when the key
    itself is there to check."""
    if not _env(crypto.KEY_ENV):
        return []  # said already; nothing to decrypt with
    url = settings.database_url()
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return [f"{crypto.KEY_ENV} cannot be checked: no database at {path}; run `bot db upgrade` first"]
    engine = make_engine(url)
    try:
        with session_scope(session_factory(engine)) as session:
            if not key_check.has_key_check_table(session):
                return [f"{crypto.KEY_ENV} cannot be checked: the database {display_url(url)} is not up to date; "
                        "run `bot db upgrade`"]
            found = _key_problems(session)
            if _has_demo_merchants(session):
                found.append(f"DATABASE_URL: the database {display_url(url)} holds the demo merchants "
                             "(`bot demo seed` is for development); use a database without them")
            return found
    except SQLAlchemyError as error:
        return [f"DATABASE_URL: the database {display_url(url)} cannot be read ({type(error).__name__})"]
    finally:
        engine.dispose()


def cors_origins() -> List[str]:
    """The origins `BOT_CORS_ORIGINS` names (spaces or commas between them)."""
    return [origin for origin in _env(CORS_ENV).replace(",", " ").split() if origin]


def _key_problems(session) -> List[str]:
    try:
        key_check.confirm(session)
    except crypto.DataKeyError as error:
        return [str(error)]
    return []


def _has_demo_merchants(session) -> bool:
    """The demo's merchants or the load-test ones (`bot demo seed-load-test`): 822100000000NNN."""
    if not inspect(session.connection()).has_table(Merchant.__tablename__):
        return False
    numbers = [merchant.number for merchant in DEMO_MERCHANTS]
    query = select(Merchant.id).where(or_(Merchant.merchant_number.in_(numbers),
                                          Merchant.merchant_number.like(f"{DEMO_NUMBER_PREFIX}%"))).limit(1)
    return session.execute(query).first() is not None


def _portal_token_problems() -> List[str]:
    configured = portal_token.configured_secret()
    if configured is None:
        return ["WEBCHAT_JWT_SECRET is not set: the secret shared with the merchant portal (at least "
                f"{portal_token.MIN_SECRET_CHARS} characters); without it the web chat offers a demo login"]
    if len(configured) < portal_token.MIN_SECRET_CHARS:
        return [f"WEBCHAT_JWT_SECRET is shorter than {portal_token.MIN_SECRET_CHARS} characters"]
    return []


def _sms_problems() -> List[str]:
    spec = _env(gateway.GATEWAY_ENV)
    if not spec or spec == gateway.OUTBOX:
        return [f"{gateway.GATEWAY_ENV} is not set (or is '{gateway.OUTBOX}'): codes would go to a file on the "
                "server, not to merchants' phones; e.g. SMS_GATEWAY=bot.sms.yunpian:YunpianSmsGateway"]
    try:
        gateway.gateway_from_env()
    except Exception as error:  # noqa: BLE001 - whatever the provider's class raises is the reason
        return [f"{gateway.GATEWAY_ENV}={spec} cannot be used: {error}"]
    return []


def _wechat_problems() -> List[str]:
    if not any(_env(name) for name in _WECHAT_KEYS):
        return []  # WeChat not configured: the channel refuses every push
    problem: Optional[str] = WeChatConfig.from_sources(os.environ).problem()
    return [problem] if problem else []


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def main() -> int:
    found = problems()
    for problem in found:
        print(problem, file=sys.stderr)
    return 2 if found else 0


if __name__ == "__main__":
    sys.exit(main())
