"""What the code functions answer: an `Outcome`, with the numbers the bot needs to say the right
sentence (seconds to wait, attempts left, the masked phone), in a `SendResult` or `VerifyResult`.

Refusals are outcomes, not exceptions: each one maps to one response in the domain
(`utter_code_too_soon`, `utter_code_locked`, `utter_code_not_delivered`, ...).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Outcome", "SendResult", "VerifyResult", "seconds_until"]


class Outcome(str, enum.Enum):
    OK = "ok"
    WRONG_CODE = "wrong_code"  # attempts_left says how many remain
    EXPIRED = "expired"  # past 5 minutes (or an authenticator code already used): send a new one
    LOCKED = "locked"  # retry_after: seconds until the lock ends
    NO_CHALLENGE = "no_challenge"  # nothing sent for this (conversation, purpose, details), or used up
    TOO_SOON = "too_soon"  # retry_after: seconds until a resend is allowed
    RATE_LIMITED = "rate_limited"  # hourly or daily limit of the phone; retry_after seconds
    # The SMS gateway refused or failed: no code went out and nothing counts against the merchant
    # (no challenge, no resend wait, no limit used), so "resend" may be asked for at once.
    NOT_DELIVERED = "not_delivered"
    # The code of an authenticator enabled less than `Policy.authenticator_signs_after` ago: right,
    # but it may not sign yet (retry_after: seconds until it may); the SMS code signs meanwhile.
    AUTHENTICATOR_TOO_NEW = "authenticator_too_new"

    @property
    def ok(self) -> bool:
        return self is Outcome.OK


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    retry_after: int | None = None
    challenge_id: int | None = None
    phone_masked: str | None = None  # 138****0001, for "验证码已发送至…"
    expires_at: datetime | None = None
    # OK, but the gateway could not tell whether the SMS went out (its answer was lost): the code
    # verifies if it arrives, and a resend waits the usual interval (see `sms_codes.send_code`).
    delivery_unknown: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome.ok


@dataclass(frozen=True)
class VerifyResult:
    outcome: Outcome
    retry_after: int | None = None
    attempts_left: int | None = None
    challenge_id: int | None = None  # the SMS challenge verified or tried

    @property
    def ok(self) -> bool:
        return self.outcome.ok


def seconds_until(moment: datetime, now: datetime) -> int:
    """A `retry_after`: whole seconds, rounded up and at least 1, so "retry now" is never said too early."""
    return max(1, math.ceil((moment - now).total_seconds()))
