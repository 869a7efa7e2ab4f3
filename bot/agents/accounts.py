"""The people who sign in to the agent console, and their sessions.

- Roles (`StaffRole`): agents take handed-off conversations, reviewers decide filed changes,
  trainers improve the NLU data. A page or action names the roles it admits.
- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
  setting); the hash is re-computed when the library's parameters change.
- Lock-out: `MAX_FAILED_LOGINS` wrong passwords in a row lock the account for `LOCK_DURATION`;
  the answer to a wrong password, an unknown name and a locked account is the same `LoginRefused`,
  so the login page tells an attacker nothing about which names exist.
- Sessions: the cookie holds a random token; the database keeps its SHA-256 only. A session ends
  at logout (`end_session`), after `SESSION_IDLE` without a request, or `SESSION_MAX` after login.

Every sign-in, failure, lock-out and sign-out is audited (actor `staff:<username>`).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import StaffAccount, StaffRole, StaffSession, audit
from bot.workdays import to_local_iso, utcnow

__all__ = [
    "StaffRole", "LoginRefused", "SignedIn", "create_account", "sign_in", "session_account", "end_session",
    "actor", "MAX_FAILED_LOGINS", "AccountExists", "list_accounts", "agents_signed_in", "PASSWORD_MIN",
]

MAX_FAILED_LOGINS = 10
LOCK_DURATION = timedelta(minutes=30)
SESSION_IDLE = timedelta(hours=2)
SESSION_MAX = timedelta(hours=12)
USERNAME_MAX = 50
PASSWORD_MIN = 10

_hasher = PasswordHasher()
# Compared against when the name is unknown, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginRefused(Exception):
    """Wrong name or password, or the account is locked or disabled: one answer for all."""


class AccountExists(ValueError):
    pass


@dataclass(frozen=True)
class SignedIn:
    token: str  # for the cookie; never stored
    account_id: int
    username: str
    display_name: str
    role: StaffRole


def actor(account: StaffAccount | SignedIn) -> str:
    return f"staff:{account.username}"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_account(session: Session, username: str, password: str, role: StaffRole | str,
                   display_name: str | None = None) -> StaffAccount:
    """A new account (committed). Raises ValueError for a bad name or a short password."""
    username = username.strip()
    if not username or len(username) > USERNAME_MAX or any(character.isspace() for character in username):
        raise ValueError(f"a username is 1-{USERNAME_MAX} characters without spaces")
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"a password has at least {PASSWORD_MIN} characters")
    if session.execute(select(StaffAccount.id).where(StaffAccount.username == username)).first():
        raise AccountExists(f"the account {username} exists already")
    account = StaffAccount(username=username, display_name=(display_name or username).strip()[:50],
                           role=StaffRole(role), password_hash=_hasher.hash(password), failed_logins=0,
                           disabled=False)
    session.add(account)
    audit(session, "cli", "staff.account_created", username=username, role=StaffRole(role).value)
    session.commit()
    return account


def sign_in(session: Session, username: str, password: str, now: datetime | None = None) -> SignedIn:
    """A new session for the right password (committed). Raises `LoginRefused`."""
    now = now or utcnow()
    account = session.execute(select(StaffAccount).where(StaffAccount.username == username.strip())).scalar_one_or_none()
    if account is None:
        _check_password(_DUMMY_HASH, password)
        raise LoginRefused()
    if account.disabled or (account.locked_until is not None and account.locked_until > now):
        audit(session, actor(account), "staff.login_refused_locked", occurred_at=now)
        session.commit()
        raise LoginRefused()
    if not _check_password(account.password_hash, password):
        _count_failure(session, account, now)
        raise LoginRefused()
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    account.failed_logins = 0
    account.locked_until = None
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=_token_hash(token), account_id=account.id, created_at=now,
                             last_seen_at=now, expires_at=now + SESSION_MAX))
    audit(session, actor(account), "staff.login", occurred_at=now)
    session.commit()
    return SignedIn(token, account.id, account.username, account.display_name, StaffRole(account.role))


def _check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _count_failure(session: Session, account: StaffAccount, now: datetime) -> None:
    account.failed_logins = (account.failed_logins or 0) + 1
    audit(session, actor(account), "staff.login_failed", occurred_at=now, failed_logins=account.failed_logins)
    if account.failed_logins >= MAX_FAILED_LOGINS:
        account.locked_until = now + LOCK_DURATION
        account.failed_logins = 0
        audit(session, actor(account), "staff.locked_out", occurred_at=now,
              minutes=int(LOCK_DURATION.total_seconds() // 60))
    session.commit()


def session_account(session: Session, token: str | None, now: datetime | None = None) -> SignedIn | None:
    """The account of a live session (its idle clock restarts), or None."""
    if not token:
        return None
    now = now or utcnow()
    row = session.execute(select(StaffSession).where(StaffSession.token_hash == _token_hash(token))).scalar_one_or_none()
    if row is None or row.ended_at is not None or row.expires_at <= now or row.last_seen_at + SESSION_IDLE <= now:
        return None
    account = row.account
    if account.disabled or (account.locked_until is not None and account.locked_until > now):
        return None
    if now - row.last_seen_at > timedelta(minutes=1):  # one write a minute at most per session
        row.last_seen_at = now
        session.commit()
    return SignedIn(token, account.id, account.username, account.display_name, StaffRole(account.role))


def end_session(session: Session, token: str | None, now: datetime | None = None) -> None:
    """Logout: the session's cookie is worth nothing from now on."""
    if not token:
        return
    now = now or utcnow()
    row = session.execute(select(StaffSession).where(StaffSession.token_hash == _token_hash(token))).scalar_one_or_none()
    if row is not None and row.ended_at is None:
        row.ended_at = now
        audit(session, actor(row.account), "staff.logout", occurred_at=now)
        session.commit()


def list_accounts(session: Session, now: datetime | None = None) -> list[dict[str, object]]:
    """Every account for `bot agents list`: name, role and state, never the hash."""
    now = now or utcnow()
    rows = session.execute(select(StaffAccount).order_by(StaffAccount.role, StaffAccount.username)).scalars()
    return [{
        "username": account.username,
        "display_name": account.display_name,
        "role": StaffRole(account.role).value,
        "locked": account.locked_until is not None and account.locked_until > now,
        "locked_until": to_local_iso(account.locked_until) if account.locked_until and account.locked_until > now else None,
        "disabled": bool(account.disabled),
        "created_at": to_local_iso(account.created_at),
    } for account in rows]


def agents_signed_in(session: Session, now: datetime | None = None) -> int:
    """Agents with a live session, seen within the idle time: is anyone there to answer?"""
    now = now or utcnow()
    rows = session.execute(
        select(StaffSession.account_id).join(StaffAccount)
        .where(StaffAccount.role == StaffRole.AGENT, StaffSession.ended_at.is_(None),
               StaffSession.expires_at > now, StaffSession.last_seen_at > now - SESSION_IDLE)
    ).scalars().all()
    return len(set(rows))
