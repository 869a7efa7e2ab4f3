"""A PostgreSQL schema of its own for one test: created, named in DATABASE_URL, dropped afterwards."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.db.engine import temporary_schema

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


@contextmanager
def postgres_schema_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with fresh_schema() as url:
        monkeypatch.setenv("DATABASE_URL", url)
        yield url


@contextmanager
def fresh_schema() -> Iterator[str]:
    """The URL of a new schema (for servers a test starts, or fixtures wider than one test)."""
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed")
    with temporary_schema(POSTGRES_URL, "test") as url:
        yield url
