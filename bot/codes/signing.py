"""The code that signs a change: the SMS signing code just sent (`sms_codes`), or, for merchants
who enabled an authenticator app, its current code instead (`authenticator`).

One entry field, two kinds of code: an authenticator code is accepted only when it matches (each
once); anything else is judged, and counted, as an SMS code, so a wrong code costs one attempt
whichever the merchant meant, and trying both kinds does not double the guesses.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.codes.authenticator import accept_authenticator_code
from bot.codes.outcomes import Outcome, VerifyResult
from bot.codes.policy import DEFAULT_POLICY, Policy, typed_code
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
    the SMS signing code of this conversation, bound to these change details."""
    now = now or utcnow()
    typed = typed_code(code)
    if typed is not None and accept_authenticator_code(session, merchant, typed, conversation_id, now):
        return VerifyResult(Outcome.OK)
    return verify_code(session, merchant, VerificationPurpose.SIGN_CHANGE, code, conversation_id=conversation_id,
                       change=change, now=now, policy=policy)
