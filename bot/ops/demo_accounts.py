"""Console accounts for the demo: one agent, one reviewer, one trainer, in development only.

`bot demo seed` (the `make run` step that loads the demo merchants) adds the missing ones when
`BOT_ENV` is unset or `development`, and prints them with their passwords; `bot serve` prints them
again beside the console's address. Outside development nothing is created.

The passwords are random, made once per `var/` and kept in `var/demo_accounts.json` (mode 0600),
not fixed words written in the README: a server started without `BOT_ENV=production` by mistake
must not open its console to a password anyone can read on the internet. Delete `var/` (`make
clean`) and the next `make run` makes new ones.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import settings
from bot.agents import accounts
from bot.db.models import StaffAccount, StaffRole

# (sign-in name, role, display name: what merchants see with an agent's replies)
DEMO_STAFF: tuple[tuple[str, StaffRole, str], ...] = (
    ("agent", StaffRole.AGENT, "王芳"),
    ("reviewer", StaffRole.REVIEWER, "李审核"),
    ("trainer", StaffRole.TRAINER, "周训练"),
)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: StaffRole
    display_name: str
    password: str | None  # None: the account was there before, with a password this var/ did not make
    created: bool = False


def passwords_file() -> Path:
    return settings.var_dir() / "demo_accounts.json"


def _known_passwords() -> dict[str, str]:
    try:
        return dict(json.loads(passwords_file().read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _keep_passwords(passwords: dict[str, str]) -> None:
    path = passwords_file()
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(passwords, ensure_ascii=False, indent=2), encoding="utf-8")


def seed_demo_accounts(session: Session) -> list[DemoLogin]:
    """Add the missing demo accounts (committed) in development; nothing, and [], elsewhere."""
    if not settings.is_development():
        return []
    passwords = _known_passwords()
    taken = set(session.execute(select(StaffAccount.username)).scalars())
    logins = []
    for username, role, display_name in DEMO_STAFF:
        created = username not in taken
        if created:
            passwords[username] = passwords.get(username) or secrets.token_urlsafe(12)
            _keep_passwords(passwords)  # before the account: a crash never leaves an unknown password
            accounts.create_account(session, username, passwords[username], role, display_name)
        logins.append(DemoLogin(username, role, display_name, passwords.get(username), created))
    return logins


def demo_logins() -> list[DemoLogin]:
    """The demo accounts as `bot demo seed` left them (in development), for `bot serve` to print."""
    if not settings.is_development():
        return []
    passwords = _known_passwords()
    return [DemoLogin(username, role, display_name, passwords[username])
            for username, role, display_name in DEMO_STAFF if username in passwords]


def describe(logins: list[DemoLogin], indent: str = "  ") -> list[str]:
    """Lines for the terminal: `  agent     agent / <password>  (王芳)`."""
    return [f"{indent}{login.role.value:<9} {login.username} / "
            + (login.password or "(made before; its password is not in demo_accounts.json)")
            + f"  ({login.display_name})" for login in logins]
