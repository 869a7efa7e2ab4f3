"""The code tests run on SQLite, and on PostgreSQL too when TEST_POSTGRES_URL is set."""
from __future__ import annotations

import pytest


@pytest.fixture
def db_url(multi_db_url: str) -> str:
    return multi_db_url
