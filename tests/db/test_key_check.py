"""The data key's check (bot/db/key_check.py): written once, proves the key later, follows a rotation."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session

from bot.db import crypto, key_check
from bot.db.models import KeyCheck
from bot.ops.demo import seed

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def fresh_keys(var_dir):
    crypto._cache.clear()
    yield
    crypto._cache.clear()


def test_written_once_then_matched(session: Session, monkeypatch) -> None:
    monkeypatch.setenv("BOT_DATA_KEY", OLD)
    assert key_check.confirm(session) is key_check.KeyCheckOutcome.WRITTEN
    stored = session.get(KeyCheck, key_check.CHECK_NAME).token
    assert key_check.KNOWN_PLAINTEXT not in stored
    assert key_check.confirm(session) is key_check.KeyCheckOutcome.MATCHES
    monkeypatch.setenv("BOT_DATA_KEY", NEW)
    with pytest.raises(key_check.KeyMismatch, match="not the key the stored data was written with"):
        key_check.confirm(session)


def test_rotation_then_the_old_key_can_go(session: Session, monkeypatch) -> None:
    monkeypatch.setenv("BOT_DATA_KEY", OLD)
    key_check.confirm(session)
    monkeypatch.setenv("BOT_DATA_KEY", f"{NEW},{OLD}")
    assert key_check.confirm(session, rotate=True) is key_check.KeyCheckOutcome.MATCHES  # bot db upgrade
    monkeypatch.setenv("BOT_DATA_KEY", NEW)
    assert key_check.confirm(session) is key_check.KeyCheckOutcome.MATCHES


def test_no_check_is_written_for_a_key_that_cannot_read_the_stored_data(session: Session, monkeypatch) -> None:
    monkeypatch.setenv("BOT_DATA_KEY", OLD)
    seed(session)
    session.flush()
    monkeypatch.setenv("BOT_DATA_KEY", NEW)
    with pytest.raises(key_check.KeyMismatch, match="does not decrypt the data already stored"):
        key_check.confirm(session)
    assert session.get(KeyCheck, key_check.CHECK_NAME) is None
    monkeypatch.setenv("BOT_DATA_KEY", OLD)
    assert key_check.confirm(session) is key_check.KeyCheckOutcome.WRITTEN
