"""The lock-out: 5 wrong codes in a row (`Policy.max_attempts`) lock a merchant out of every code,
SMS or authenticator, for 30 minutes (`Policy.lock_duration`), audited.

Every wrong code a conversation that proved the phone types counts, whatever its kind and whether
or not an SMS code is live (`count_wrong_code`): a signing code (SMS or authenticator, one count per
entry whichever was meant), an expired or already used one, the authenticator's first code at
enrolment. So the authenticator cannot be guessed at leisure once the SMS code has expired: the
count is the merchant's, kept in `MerchantSecurity.wrong_codes`, and a right code clears it.

Identification codes (and the enrolment code asked for the same way), which anyone who types a
merchant number can ask for, lock the conversation that typed them instead: 5 wrong codes within
`Policy.lock_duration` lock that conversation out of codes for as long
(`count_conversation_wrong_code`, `conversation_locked_for`), counted the same for a number that
exists and one that does not (`bot.codes.identification`). Five wrong guesses by an anonymous
client must not lock a merchant out at will, and need not: each identification code verifies in
the conversation it was sent to only, void after 5 wrong entries, and a new one costs one of the
merchant number's few sends a day (`request_limits`), so guessing across conversations gains
nothing. The merchant's own lock-out still stops them (a lock-out after wrong signing codes
holds for identification too).

The state lives in the merchant's `MerchantSecurity` row (created the first time it is needed),
which also holds the authenticator's enrolment (`bot.codes.authenticator`).
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes import throttle
from bot.codes.outcomes import Outcome, VerifyResult, seconds_until
from bot.codes.policy import Policy
from bot.db.models import Merchant, MerchantSecurity, audit
from bot.workdays import to_local_iso, utcnow

logger = logging.getLogger(__name__)

__all__ = ["security_state", "locked_for", "lock_out", "lock_remaining", "count_wrong_code", "clear_wrong_codes",
           "conversation_locked_for", "conversation_wrong_codes", "count_conversation_wrong_code",
           "clear_conversation_wrong_codes"]

WRONG_IN_CONVERSATION = "wrong_code:conversation"
CONVERSATION_LOCKED = "locked:conversation"


def security_state(session: Session, merchant_id: int, create: bool = False) -> MerchantSecurity | None:
    """The merchant's verification state; with `create`, a new (pending) row when it has none."""
    state = session.execute(
        select(MerchantSecurity).where(MerchantSecurity.merchant_id == merchant_id)
    ).scalar_one_or_none()
    if state is None and create:
        state = MerchantSecurity(merchant_id=merchant_id, wrong_codes=0)
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


def count_wrong_code(
    session: Session,
    merchant: Merchant,
    state: MerchantSecurity,
    now: datetime,
    policy: Policy,
    *,
    code_attempts: int = 0,
    challenge_id: int | None = None,
    **detail: object,
) -> VerifyResult:
    """One more wrong code of the merchant's; commits. The `policy.max_attempts`th in a row (or of
    the SMS code tried, `code_attempts`) locks the merchant out (LOCKED); else WRONG_CODE with the
    attempts left. `detail` goes into the lock-out's audit event (method, purpose, ...)."""
    state.wrong_codes = (state.wrong_codes or 0) + 1
    wrong = max(state.wrong_codes, code_attempts)
    if wrong >= policy.max_attempts:
        state.wrong_codes = 0  # the lock-out is the consequence; afterwards the count starts again
        return lock_out(session, merchant, state, now, policy, challenge_id=challenge_id, attempts=wrong, **detail)
    session.commit()
    return VerifyResult(Outcome.WRONG_CODE, attempts_left=policy.max_attempts - wrong, challenge_id=challenge_id)


def clear_wrong_codes(state: MerchantSecurity | None) -> None:
    """A right code ends the run of wrong ones (the caller commits)."""
    if state is not None:
        state.wrong_codes = 0


# --- the conversation's lock-out (identification codes) -------------------------------------------


def conversation_locked_for(session: Session, conversation_id: str | None, now: datetime, policy: Policy) -> int | None:
    """Seconds of the conversation's lock-out left, or None when it is not locked out."""
    locked_at = throttle.last(session, CONVERSATION_LOCKED, conversation_id or "")
    if locked_at is not None and locked_at + policy.lock_duration > now:
        return seconds_until(locked_at + policy.lock_duration, now)
    return None


def conversation_wrong_codes(session: Session, conversation_id: str | None, now: datetime, policy: Policy) -> int:
    """Wrong identification codes of the conversation within `policy.lock_duration`, since its last lock-out."""
    key = conversation_id or ""
    since = now - policy.lock_duration
    locked_at = throttle.last(session, CONVERSATION_LOCKED, key)
    return throttle.count(session, WRONG_IN_CONVERSATION, key, max(since, locked_at) if locked_at else since)


def count_conversation_wrong_code(
    session: Session,
    conversation_id: str | None,
    now: datetime,
    policy: Policy,
    *,
    merchant: Merchant | None = None,
    code_attempts: int = 0,
    challenge_id: int | None = None,
    **detail: object,
) -> VerifyResult:
    """One more wrong identification code in the conversation; commits. The `policy.max_attempts`th
    within `policy.lock_duration` (or of the code tried, `code_attempts`) locks the conversation out
    (LOCKED, audited), else WRONG_CODE with the attempts left. The same whether `merchant` exists or not."""
    key = conversation_id or ""
    throttle.record(session, WRONG_IN_CONVERSATION, key, now)
    wrong = max(conversation_wrong_codes(session, conversation_id, now, policy), code_attempts)
    if wrong < policy.max_attempts:
        session.commit()
        return VerifyResult(Outcome.WRONG_CODE, attempts_left=policy.max_attempts - wrong, challenge_id=challenge_id)
    throttle.record(session, CONVERSATION_LOCKED, key, now)
    until = to_local_iso(now + policy.lock_duration)
    audit(session, "bot", "verification.conversation_locked", merchant=merchant, occurred_at=now,
          conversation_id=conversation_id, locked_until=until, attempts=wrong, challenge_id=challenge_id, **detail)
    session.commit()
    logger.warning("conversation locked out of one-time codes until %s", until)
    return VerifyResult(Outcome.LOCKED, retry_after=seconds_until(now + policy.lock_duration, now),
                        challenge_id=challenge_id)


def clear_conversation_wrong_codes(session: Session, conversation_id: str | None) -> None:
    """A right identification code ends the conversation's run of wrong ones (the caller commits)."""
    throttle.forget(session, WRONG_IN_CONVERSATION, conversation_id or "")
