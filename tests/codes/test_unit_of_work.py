"""Each code call is one unit of work (bot.codes.unit_of_work): a call that fails leaves nothing
pending in the caller's session and no lock held."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes import sms_codes
from bot.codes.unit_of_work import merchant_transaction
from bot.db.engine import session_factory
from bot.db.models import AuditEvent, audit

from codes.helpers import send
from domain_fixtures import Outbox, merchant


def test_a_failing_block_is_rolled_back(demo: Session) -> None:
    owner = merchant(demo, "822100000000001")
    with pytest.raises(RuntimeError):
        with merchant_transaction(demo, owner.id):
            audit(demo, "bot", "test.half_done", merchant=owner)
            demo.flush()
            raise RuntimeError("then something failed")
    assert not (demo.new or demo.dirty)
    assert demo.execute(select(AuditEvent).where(AuditEvent.action == "test.half_done")).first() is None


def test_a_failed_call_holds_no_lock(demo: Session, engine, outbox: Outbox, monkeypatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    with monkeypatch.context() as patch:
        patch.setattr(sms_codes, "limit_wait", broken)
        with pytest.raises(RuntimeError):
            send(demo)
    # Another session (another action server) can take the merchant's lock at once and send.
    with session_factory(engine)() as other:
        assert send(other).ok
