"""Redis for the lock store's tests: the server TEST_REDIS_URL names (CI sets it; the tests that
need it are skipped otherwise), and a key prefix of the test's own, deleted afterwards."""
from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest
import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    return REDIS_URL


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """Alphanumeric, as the store wants it; every key the test made under it is deleted."""
    prefix = f"locktest{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
