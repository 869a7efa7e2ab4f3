"""A PostgreSQL schema of its own for one test: created, named in DATABASE_URL, dropped afterwards."""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

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
    schema = f"test_{secrets.token_hex(6)}"
    # pre_ping: the schema is still dropped after a test restarted PostgreSQL (tests/cluster/test_cluster_failures.py).
    admin = create_engine(POSTGRES_URL, future=True, pool_pre_ping=True)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    # libpq's `options` puts every connection of the test (migrations included) in the new schema.
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
