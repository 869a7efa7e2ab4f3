"""Fixtures shared by the whole suite: an isolated var/ directory and a migrated database in it."""
from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.db.engine import make_engine, session_factory
from bot.db.migrate import upgrade


# The process-wide hooks as they are before any test imports `bot.rasa` or `actions`, which install
# the log redaction (bot.masking.install_redaction) as the servers need it.
_PLAIN_HOOKS = (logging.getLogRecordFactory(), warnings.showwarning, sys.excepthook, threading.excepthook)


@pytest.fixture(autouse=True)
def plain_logging() -> Iterator[None]:
    """Each test sees what the code logs, not what the redaction would hide: the tests that check
    that no number is logged check the code, and the redaction's own tests install it themselves."""
    hooks = (logging.getLogRecordFactory(), warnings.showwarning, sys.excepthook, threading.excepthook)
    logging.setLogRecordFactory(_PLAIN_HOOKS[0])
    warnings.showwarning, sys.excepthook, threading.excepthook = _PLAIN_HOOKS[1:]
    yield
    logging.setLogRecordFactory(hooks[0])
    warnings.showwarning, sys.excepthook, threading.excepthook = hooks[1:]


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
