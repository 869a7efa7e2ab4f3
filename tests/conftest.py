"""Fixtures shared by the whole suite: an isolated var/ directory and a migrated database in it."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.db.engine import make_engine, session_factory
from bot.db.migrate import upgrade


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh var/ for this test; the environment names no other database or key."""
    path = tmp_path / "var"
    path.mkdir()
    monkeypatch.setenv("BOT_VAR_DIR", str(path))
    for name in ("DATABASE_URL", "BOT_DATA_KEY", "SMS_OUTBOX"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def db_url(var_dir: Path) -> str:
    """URL of the test database (SQLite in var/; override the fixture to use another backend)."""
    return f"sqlite:///{var_dir / 'bot.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test database, migrated to the latest revision."""
    upgrade(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


# The demo merchants in a fresh database, the SMS outbox, a database per backend: the fixtures of
# the domain tests (change_requests, codes, agents, sms), kept in a module they import helpers from.
from domain_fixtures import demo, multi_db_url, outbox  # noqa: E402,F401
