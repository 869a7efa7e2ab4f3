"""The same store tests on PostgreSQL, each in a schema of its own that is dropped afterwards.

Runs when TEST_POSTGRES_URL names a database, e.g.
`TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test pytest -m postgres`.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from postgres_schema import POSTGRES_URL, postgres_schema_url

from .store_cases import StoreCases

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set (PostgreSQL tests need a database)"),
]


@pytest.fixture
def db_url(var_dir, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with postgres_schema_url(monkeypatch) as url:
        yield url


class TestStorePostgres(StoreCases):
    pass
