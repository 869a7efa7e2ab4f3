"""The same store tests on PostgreSQL, each in a schema of its own that is dropped afterwards.

Runs when TEST_POSTGRES_URL names a database, e.g.
`TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test pytest -m postgres`.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from .store_cases import StoreCases

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set (PostgreSQL tests need a database)"),
]


@pytest.fixture
def db_url(var_dir, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed")
    schema = f"test_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL, future=True)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    # libpq's `options` puts every connection of the test (migrations included) in the new schema.
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    url_text = url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url_text)
    try:
        yield url_text
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


class TestStorePostgres(StoreCases):
    pass
