"""Fixtures of the domain tests (tests/change_requests, codes, agents, sms): the demo data in a fresh database, the SMS outbox, a clock.

`multi_db_url` runs a test module on SQLite and, when TEST_POSTGRES_URL names a database, on
PostgreSQL too (in a schema of its own, dropped afterwards); a module opts in by defining
`db_url` from it.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.change_requests.filing import ChangeDetails
from bot.codes.signatures import sign_change
from bot.db.models import Merchant
from postgres_schema import POSTGRES_URL, postgres_schema_url
from bot.ops.demo import DEMO_MERCHANTS, OVERDUE_NEW_CARD, seed


# A Wednesday, 21:30 in China: "now" of the tests that inject a clock.
NOW = datetime(2026, 11, 25, 13, 30, tzinfo=timezone.utc)

DEMO_SECRETS = [d.account_number for d in DEMO_MERCHANTS] + [d.id_number for d in DEMO_MERCHANTS] + [OVERDUE_NEW_CARD]


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set"),
            ],
        ),
    ]
)
def multi_db_url(request: pytest.FixtureRequest, var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{var_dir / 'bot.db'}"
        return
    with postgres_schema_url(monkeypatch) as url:
        yield url


@pytest.fixture
def demo(session: Session) -> Session:
    """The session, on a database holding the demo data set."""
    seed(session)
    session.commit()
    return session


def merchant(session: Session, number: str) -> Merchant:
    return session.execute(select(Merchant).where(Merchant.merchant_number == number)).scalar_one()


def signed(session: Session, number: str, conversation_id: str, details: ChangeDetails,
           at: datetime | None = None) -> None:
    """What a right signing code records (bot.codes.signatures): filing these details in this
    conversation needs it. Commits."""
    sign_change(session, merchant(session, number), conversation_id=conversation_id, change=details, method="sms",
                now=at)


class Outbox:
    """The development SMS gateway's file, as the acceptance checks read it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def last(self) -> dict:
        messages = self.messages()
        assert messages, "no SMS was sent"
        return messages[-1]


@pytest.fixture
def outbox(var_dir: Path) -> Outbox:
    return Outbox(var_dir / "sms_outbox.jsonl")
