"""Console accounts and sessions (bot/agents/accounts.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.agents import accounts
from bot.db.models import StaffAccount, StaffRole

from domain_fixtures import NOW

PASSWORD = "correct horse battery"


def test_a_password_is_stored_as_an_argon2_hash_and_signs_in(session: Session) -> None:
    accounts.create_account(session, "wang", PASSWORD, StaffRole.AGENT, "王客服")
    stored = session.execute(select(StaffAccount)).scalar_one()
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    signed_in = accounts.sign_in(session, "wang", PASSWORD, now=NOW)
    assert signed_in.role is StaffRole.AGENT and signed_in.display_name == "王客服"
    assert accounts.session_account(session, signed_in.token, now=NOW).username == "wang"


def test_wrong_password_unknown_name_and_lock_out_look_the_same(session: Session) -> None:
    accounts.create_account(session, "wang", PASSWORD, StaffRole.AGENT)
    with pytest.raises(accounts.LoginRefused):
        accounts.sign_in(session, "nobody", PASSWORD, now=NOW)
    for _ in range(accounts.MAX_FAILED_LOGINS):
        with pytest.raises(accounts.LoginRefused):
            accounts.sign_in(session, "wang", "wrong password", now=NOW)
    with pytest.raises(accounts.LoginRefused):
        accounts.sign_in(session, "wang", PASSWORD, now=NOW + timedelta(minutes=1))  # locked now
    assert accounts.sign_in(session, "wang", PASSWORD, now=NOW + timedelta(minutes=31))


def test_logout_and_idle_time_end_a_session(session: Session) -> None:
    accounts.create_account(session, "li", PASSWORD, StaffRole.REVIEWER)
    signed_in = accounts.sign_in(session, "li", PASSWORD, now=NOW)
    assert accounts.session_account(session, signed_in.token, now=NOW + accounts.SESSION_IDLE) is None
    again = accounts.sign_in(session, "li", PASSWORD, now=NOW)
    accounts.end_session(session, again.token, now=NOW)
    assert accounts.session_account(session, again.token, now=NOW) is None
    assert accounts.session_account(session, "forged", now=NOW) is None


def test_short_passwords_and_duplicate_names_are_refused(session: Session) -> None:
    with pytest.raises(ValueError):
        accounts.create_account(session, "zhao", "short", StaffRole.TRAINER)
    accounts.create_account(session, "zhao", PASSWORD, StaffRole.TRAINER)
    with pytest.raises(accounts.AccountExists):
        accounts.create_account(session, "zhao", PASSWORD, StaffRole.TRAINER)
