"""How often a phone may get a code: the resend interval and the hourly and daily limits.

- a new code for the same phone and purpose no sooner than `Policy.resend_interval` (60 s) after
  the last one. Per purpose: the signing code usually follows the identification code within a
  minute in a fast conversation, and is a different code;
- at most `Policy.max_sends_per_hour` (5) sends in any hour and `max_sends_per_day` (10) in any
  24 hours per phone and budget. Rolling windows: the wait is exact, and there is no burst at
  midnight.

Two budgets (`budget_of`): identification codes (and the enrolment code, which the enrolment
asks for the same way) can be asked for by anyone who types a merchant number; signing codes only
by a conversation that identified the merchant. Separate budgets keep ten anonymous requests from
using up the merchant's signing codes (issue 12, finding 4). The phone may get up to twice the
numbers a day: both budgets stay within what the SMS providers allow per number.

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

__all__ = ["IDENTIFICATION", "SIGNING", "budget_of", "resend_wait", "limit_wait"]

IDENTIFICATION = "identification"
SIGNING = "signing"
_BUDGETS = {
    IDENTIFICATION: (VerificationPurpose.IDENTIFY, VerificationPurpose.ENROL),
    SIGNING: (VerificationPurpose.SIGN_CHANGE,),
}


def budget_of(purpose: VerificationPurpose) -> str:
    """The budget a code of `purpose` is counted in.

    >>> budget_of(VerificationPurpose.ENROL), budget_of(VerificationPurpose.SIGN_CHANGE)
    ('identification', 'signing')
    """
    return next(budget for budget, purposes in _BUDGETS.items() if VerificationPurpose(purpose) in purposes)


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


def limit_wait(
    session: Session, phone: str, purpose: VerificationPurpose, now: datetime, policy: Policy
) -> int | None:
    """Seconds until `phone` is under both its hourly and daily limits of `purpose`'s budget again,
    or None when it is now."""
    waits = []
    limits = ((timedelta(hours=1), policy.max_sends_per_hour), (timedelta(days=1), policy.max_sends_per_day))
    purposes = _BUDGETS[budget_of(purpose)]
    for window, limit in limits:
        times = _send_times(session, phone, purposes, now - window)
        if len(times) >= limit:
            # Allowed again when the oldest of the last `limit` sends leaves the window.
            waits.append(seconds_until(times[len(times) - limit] + window, now))
    return max(waits) if waits else None


def _send_times(
    session: Session, phone: str, purposes: tuple[VerificationPurpose, ...], since: datetime
) -> list[datetime]:
    return list(
        session.execute(
            select(VerificationChallenge.created_at)
            .where(VerificationChallenge.phone == phone, VerificationChallenge.purpose.in_(purposes),
                   VerificationChallenge.created_at > since)
            .order_by(VerificationChallenge.created_at)
        ).scalars()
    )
