"""How often a phone may get a code: the resend interval and the hourly and daily limits.

- a new code for the same phone and purpose no sooner than `Policy.resend_interval` (60 s) after
  the last one. Per purpose: the signing code usually follows the identification code within a
  minute in a fast conversation, and is a different code;
- at most `Policy.max_sends_per_hour` (5) sends in any hour and `max_sends_per_day` (10) in any
  24 hours per phone, every purpose together. Rolling windows: the wait is exact, and there is no
  burst at midnight.

Counted per phone, not per merchant: the limits protect the phone's owner from SMS bombing, and
the provider applies its own per-number limits the same way. Every challenge row is a send: a
code the gateway did not deliver has its row deleted, one whose delivery is unknown keeps it
(it may have arrived; `sms_codes._deliver`).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes.outcomes import seconds_until
from bot.codes.policy import Policy
from bot.db.models import VerificationChallenge, VerificationPurpose

__all__ = ["resend_wait", "limit_wait"]


def resend_wait(
    session: Session, phone: str, purpose: VerificationPurpose, now: datetime, policy: Policy
) -> int | None:
    """Seconds until `phone` may get another `purpose` code, or None when it may now."""
    last = session.execute(
        select(VerificationChallenge.created_at)
        .where(VerificationChallenge.phone == phone, VerificationChallenge.purpose == purpose)
        .order_by(VerificationChallenge.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is not None and last + policy.resend_interval > now:
        return seconds_until(last + policy.resend_interval, now)
    return None


def limit_wait(session: Session, phone: str, now: datetime, policy: Policy) -> int | None:
    """Seconds until `phone` is under both its hourly and daily limits again, or None when it is now."""
    waits = []
    limits = ((timedelta(hours=1), policy.max_sends_per_hour), (timedelta(days=1), policy.max_sends_per_day))
    for window, limit in limits:
        times = _send_times(session, phone, now - window)
        if len(times) >= limit:
            # Allowed again when the oldest of the last `limit` sends leaves the window.
            waits.append(seconds_until(times[len(times) - limit] + window, now))
    return max(waits) if waits else None


def _send_times(session: Session, phone: str, since: datetime) -> list[datetime]:
    return list(
        session.execute(
            select(VerificationChallenge.created_at)
            .where(VerificationChallenge.phone == phone, VerificationChallenge.created_at > since)
            .order_by(VerificationChallenge.created_at)
        ).scalars()
    )
