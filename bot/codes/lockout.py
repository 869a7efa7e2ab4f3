"""The lock-out: 5 wrong entries (`Policy.max_attempts`) lock a merchant out of every code, SMS or
authenticator, for 30 minutes (`Policy.lock_duration`), audited.

The state lives in the merchant's `MerchantSecurity` row (created the first time it is needed),
which also holds the authenticator's enrolment (`bot.codes.authenticator`).
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes.outcomes import Outcome, VerifyResult, seconds_until
from bot.codes.policy import Policy
from bot.db.models import Merchant, MerchantSecurity, audit
from bot.workdays import to_local_iso, utcnow

logger = logging.getLogger(__name__)

__all__ = ["security_state", "locked_for", "lock_out", "lock_remaining"]


def security_state(session: Session, merchant_id: int, create: bool = False) -> MerchantSecurity | None:
    """The merchant's verification state; with `create`, a new (pending) row when it has none."""
    state = session.execute(
        select(MerchantSecurity).where(MerchantSecurity.merchant_id == merchant_id)
    ).scalar_one_or_none()
    if state is None and create:
        state = MerchantSecurity(merchant_id=merchant_id, totp_failures=0)
        session.add(state)
    return state


def locked_for(state: MerchantSecurity | None, now: datetime) -> int | None:
    """Seconds of lock-out left, or None when not locked."""
    if state is not None and state.locked_until is not None and state.locked_until > now:
        return seconds_until(state.locked_until, now)
    return None


def lock_remaining(session: Session, merchant: Merchant, now: datetime | None = None) -> int | None:
    """Seconds until the merchant's lock-out ends, or None when not locked."""
    return locked_for(security_state(session, merchant.id), now or utcnow())


def lock_out(
    session: Session,
    merchant: Merchant,
    state: MerchantSecurity,
    now: datetime,
    policy: Policy,
    challenge_id: int | None = None,
    **detail: object,
) -> VerifyResult:
    """Lock the merchant out of every code for `policy.lock_duration`; audited; commits.
    `detail` goes into the audit event (method, attempts, ...)."""
    state.locked_until = now + policy.lock_duration
    until = to_local_iso(state.locked_until)
    audit(session, "bot", "verification.locked", merchant=merchant, occurred_at=now, locked_until=until,
          challenge_id=challenge_id, **detail)
    session.commit()
    logger.warning("merchant %s locked out of one-time codes until %s", merchant.merchant_number, until)
    return VerifyResult(Outcome.LOCKED, retry_after=seconds_until(state.locked_until, now), challenge_id=challenge_id)
