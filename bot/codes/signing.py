"""The code that signs a change: the SMS signing code just sent (`sms_codes`), or, for merchants
who enabled an authenticator app, its current code instead (`authenticator`).

One entry field, two kinds of code: an authenticator code is accepted only when it matches (each
once); anything else is judged, and counted, as an SMS code, so a wrong code costs one attempt
whichever the merchant meant, and trying both kinds does not double the guesses. It counts
whether or not an SMS code is live (`lockout`). An authenticator enabled less than a day ago
does not sign: its right code is answered AUTHENTICATOR_TOO_NEW and the SMS code is asked for.

A right code records the signature of these change details in this conversation
(`bot.codes.signatures`): filing requires it, whatever the conversation's slots say. It is written
just after the code's own unit of work; should that fail, the code is used and nothing is signed,
so the merchant is asked to sign again, never the other way round.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.codes.authenticator import accept_authenticator_code, too_new_to_sign
from bot.codes.outcomes import Outcome, VerifyResult
from bot.codes.policy import DEFAULT_POLICY, Policy, typed_code
from bot.codes.signatures import sign_change
from bot.codes.sms_codes import verify_code
from bot.db.models import Merchant, VerificationPurpose
from bot.workdays import utcnow

if TYPE_CHECKING:
    from bot.change_requests.filing import ChangeDetails

__all__ = ["verify_signing_code"]


def verify_signing_code(
    session: Session,
    merchant: Merchant,
    code: object,
    *,
    conversation_id: str | None,
    change: ChangeDetails | None = None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> VerifyResult:
    """Check the code the merchant typed to sign `change`: the authenticator's current code, else
    the SMS signing code of this conversation, bound to these change details. A right code records
    the signature filing needs (none without `change` or a conversation)."""
    now = now or utcnow()
    typed = typed_code(code)
    too_new = too_new_to_sign(session, merchant, typed, now, policy) if typed is not None else None
    if too_new is not None:  # right, but a new authenticator may not sign for its first day
        return too_new
    if typed is not None and accept_authenticator_code(session, merchant, typed, conversation_id, now, policy):
        return _signed(session, merchant, conversation_id, change, "totp", now, VerifyResult(Outcome.OK))
    result = verify_code(session, merchant, VerificationPurpose.SIGN_CHANGE, code, conversation_id=conversation_id,
                         change=change, now=now, policy=policy)
    return _signed(session, merchant, conversation_id, change, "sms", now, result) if result.ok else result


def _signed(session: Session, merchant: Merchant, conversation_id: str | None, change: ChangeDetails | None,
            method: str, now: datetime, result: VerifyResult) -> VerifyResult:
    if change is not None and conversation_id:
        sign_change(session, merchant, conversation_id=conversation_id, change=change, method=method, now=now)
    return result
