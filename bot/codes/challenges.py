"""A challenge: one code sent by SMS, as the database keeps it (`VerificationChallenge`).

Why HOTP with a random secret per challenge rather than TOTP with a 300 s step: a TOTP step does
not start when the code is sent; a code sent at second 299 of a step would die a second later, or,
accepting the previous step too, live almost 10 minutes. Here each challenge has its own secret
(HOTP counter 0) and its validity is exactly `created_at + Policy.code_ttl`, kept in the database
(`expires_at`), like the single use (`used_at`) and the wrong entries (`attempts`); the code itself
is never stored, and the secret is encrypted at rest.

A code verifies only what it was sent for: the conversation, and for signing the exact change
details (`ChangeDetails.signing_context`), bound by an HMAC keyed with the challenge's secret
(`context_digest`), so the stored digest reveals nothing about the card. Correcting a value after
the code was sent makes the old code `no_challenge`: send a new one.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes.policy import CODE_DIGITS, Policy
from bot.db.models import VerificationChallenge, VerificationPurpose

if TYPE_CHECKING:
    from bot.change_requests.filing import ChangeDetails

__all__ = ["new_secret", "hotp_code", "context_digest", "latest_challenge", "add_challenge", "is_bound_to",
           "code_matches"]

HOTP_COUNTER = 0  # one secret per challenge: the counter never needs to move


def new_secret() -> str:
    return pyotp.random_base32()


def hotp_code(secret: str) -> str:
    """The one code a challenge's secret stands for."""
    return pyotp.HOTP(secret, digits=CODE_DIGITS).at(HOTP_COUNTER)


def context_digest(
    secret: str, purpose: VerificationPurpose, conversation_id: str | None, change: ChangeDetails | None
) -> str:
    """What a code is bound to (purpose, conversation, change details), as an HMAC keyed with its secret."""
    payload: dict = {"purpose": purpose.value, "conversation_id": conversation_id or ""}
    if change is not None:
        payload["change"] = change.signing_context()
    message = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hmac.new(secret.encode("ascii"), message, hashlib.sha256).hexdigest()


def latest_challenge(
    session: Session, merchant_id: int, purpose: VerificationPurpose, conversation_id: str | None
) -> VerificationChallenge | None:
    """The conversation's last code for `purpose`: only the latest one counts."""
    return session.execute(
        select(VerificationChallenge)
        .where(
            VerificationChallenge.merchant_id == merchant_id,
            VerificationChallenge.purpose == purpose,
            VerificationChallenge.conversation_id == conversation_id,
        )
        .order_by(VerificationChallenge.created_at.desc(), VerificationChallenge.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _carried_attempts(previous: VerificationChallenge | None, now: datetime) -> int:
    """The wrong entries a new code inherits: those of the live code it replaces, so resending
    does not buy more guesses."""
    if previous is not None and previous.used_at is None and previous.expires_at > now:
        return previous.attempts
    return 0


def add_challenge(
    session: Session,
    *,
    merchant_id: int,
    phone: str,
    purpose: VerificationPurpose,
    conversation_id: str | None,
    change: ChangeDetails | None,
    secret: str,
    now: datetime,
    policy: Policy,
) -> VerificationChallenge:
    """Add (and flush) the challenge of a code about to be sent to `phone`."""
    previous = latest_challenge(session, merchant_id, purpose, conversation_id)
    challenge = VerificationChallenge(
        merchant_id=merchant_id,
        phone=phone,
        purpose=purpose,
        conversation_id=conversation_id,
        secret=secret,
        context_digest=context_digest(secret, purpose, conversation_id, change),
        attempts=_carried_attempts(previous, now),
        created_at=now,
        expires_at=now + policy.code_ttl,
    )
    session.add(challenge)
    session.flush()
    return challenge


def is_bound_to(
    challenge: VerificationChallenge,
    purpose: VerificationPurpose,
    conversation_id: str | None,
    change: ChangeDetails | None,
) -> bool:
    """True when the code was sent for exactly this (purpose, conversation, change details)."""
    expected = context_digest(challenge.secret, purpose, conversation_id, change)
    return hmac.compare_digest(challenge.context_digest, expected)


def code_matches(challenge: VerificationChallenge, typed: str) -> bool:
    """Compared in constant time: the time taken says nothing about how close a guess was."""
    return hmac.compare_digest(hotp_code(challenge.secret), typed)
