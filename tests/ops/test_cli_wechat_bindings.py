"""`bot wechat prune` also ends the WeChat bindings past WECHAT_BINDING_DAYS (audited)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.db.engine import make_engine, session_factory
from bot.db.models import AuditEvent, Merchant, WeChatBinding
from bot.workdays import utcnow
from ops.test_cli import run, seeded  # noqa: F401 - the module's seeded var/ fixture


def test_wechat_prune_ends_expired_bindings(seeded: Path) -> None:  # noqa: F811
    engine = make_engine(f"sqlite:///{seeded / 'bot.db'}")
    with session_factory(engine).begin() as session:
        # The id only: this process has not the CLI's data key (the merchant's phone is encrypted).
        merchant_id = session.execute(
            select(Merchant.id).where(Merchant.merchant_number == "822100000000001")).scalar_one()
        session.add(WeChatBinding(openid="oExpired", merchant_id=merchant_id, bound_at=utcnow() - timedelta(days=91)))
        session.add(WeChatBinding(openid="oCurrent", merchant_id=merchant_id, bound_at=utcnow() - timedelta(days=1)))
    result = run(seeded, "wechat", "prune")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "removed 1 expired WeChat bindings"
    with session_factory(engine).begin() as session:
        assert [row.openid for row in session.execute(select(WeChatBinding)).scalars()] == ["oCurrent"]
        [detail] = session.execute(
            select(AuditEvent.detail).where(AuditEvent.action == "wechat.unbound")).scalars().all()
        assert detail["reason"] == "expired"
    engine.dispose()
