"""Signatures: the server's own record that a signing code was verified in one conversation for
exactly one set of change details. Filing requires one and uses it up (`bot.change_requests.filing`).

Why a record of its own: the action server learns what a conversation did from its slots
(`sign_code: verified`), and whoever can call the action server can write any slots. A right
signing code (`bot.codes.signing`, SMS or authenticator) records a signature; filing, under the
merchant's lock and in the transaction that files, takes the unused one of this merchant and
conversation whose details are those filed, and marks it used. A record for other details, of
another conversation or another merchant, already used or expired files nothing.

The details are kept as an HMAC keyed with a random secret of the row, encrypted at rest like the
challenges' secrets (`bot.codes.challenges`): the row tells which change was signed only to whoever
holds the data key. A signature lives `SIGNATURE_TTL`: the filing follows the code at once, and a
signature left unused (the merchant stopped) must not file later.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes.unit_of_work import merchant_transaction
from bot.db.models import ChangeSignature, Merchant
from bot.workdays import utcnow

if TYPE_CHECKING:
    from bot.change_requests.filing import ChangeDetails

__all__ = ["SIGNATURE_TTL", "sign_change", "record_signature", "use_signature", "details_digest"]

SIGNATURE_TTL = timedelta(minutes=30)
METHODS = ("sms", "totp")


def details_digest(secret: str, conversation_id: str, change: ChangeDetails) -> str:
    """What a signature is bound to (the conversation and the change details), as an HMAC keyed with its secret."""
    payload = {"conversation_id": conversation_id, "change": change.signing_context()}
    message = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hmac.new(secret.encode("ascii"), message, hashlib.sha256).hexdigest()


def record_signature(
    session: Session, merchant_id: int, conversation_id: str, change: ChangeDetails, method: str, now: datetime
) -> ChangeSignature:
    """Add (and flush) the signature of `change` in `conversation_id`; the caller commits."""
    if not conversation_id:
        raise ValueError("a signature belongs to a conversation")
    if method not in METHODS:
        raise ValueError(f"unknown signing method {method!r}")
    secret = secrets.token_urlsafe(32)
    signature = ChangeSignature(
        merchant_id=merchant_id,
        conversation_id=conversation_id,
        secret=secret,
        details_digest=details_digest(secret, conversation_id, change),
        method=method,
        signed_at=now,
        expires_at=now + SIGNATURE_TTL,
    )
    session.add(signature)
    session.flush()
    return signature


def sign_change(
    session: Session,
    merchant: Merchant,
    *,
    conversation_id: str,
    change: ChangeDetails,
    method: str,
    now: datetime | None = None,
) -> None:
    """Record that a code verified just now in `conversation_id` signed `change`. One unit of work
    (commits): call it only once the code was judged right."""
    now = now or utcnow()
    with merchant_transaction(session, merchant.id):
        record_signature(session, merchant.id, conversation_id, change, method, now)
        session.commit()


def use_signature(
    session: Session, merchant_id: int, conversation_id: str | None, change: ChangeDetails, now: datetime
) -> ChangeSignature | None:
    """The unused, unexpired signature of this merchant and conversation for exactly `change`, now
    marked used in the caller's transaction (hold the merchant's lock: `bot.db.locks`); None when
    there is none, and nothing may be filed."""
    if not conversation_id:
        return None
    candidates = session.execute(
        select(ChangeSignature)
        .where(
            ChangeSignature.merchant_id == merchant_id,
            ChangeSignature.conversation_id == conversation_id,
            ChangeSignature.used_at.is_(None),
            ChangeSignature.expires_at > now,
        )
        .order_by(ChangeSignature.signed_at.desc(), ChangeSignature.id.desc())
    ).scalars()
    for signature in candidates:
        expected = details_digest(signature.secret, conversation_id, change)
        if hmac.compare_digest(signature.details_digest, expected):
            signature.used_at = now
            return signature
    return None
