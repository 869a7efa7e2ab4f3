"""Codes to a merchant number typed in the chat, without telling which numbers exist (issue 12,
finding 4: enumeration). Identification codes, and the enrolment code the enrolment asks for the
same way.

Before a code is verified nobody learns anything about a number typed, not even whether it is a
merchant's:
- the answer to any well-formed number is the same: `OK`, without the masked phone (the bot says
  "如果该商户编号已登记，验证码已发送至其预留手机号"). For a merchant's number a code goes to its
  registered phone (`sms_codes.send_code`); for any other number nothing is sent;
- the limits are counted per number typed, known or not (`request_limits.admit_request`), so "too soon"
  and "limit reached" come alike; a conversation locked out is locked out for every number;
- a code typed for a number that is no merchant's is wrong like any wrong code: the same attempts
  left, counted towards the conversation's lock-out (`lockout`), "expired" once 5 minutes have
  passed since the request, "no code" when none was asked for in this conversation.

What still tells, and why that is accepted:
- a merchant locked out after 5 wrong signing codes is told so (LOCKED) when a code is asked for
  its number. Only a conversation that proved the registered phone can cause that lock-out, so it
  cannot be caused to find out;
- an SMS provider that refuses to deliver says so (NOT_DELIVERED), for a merchant's number only;
- the time to answer: a real SMS takes the provider's time. A number that is no merchant's is
  answered no sooner than the usual time of a real send, as measured in this process
  (`_SendTimes`): the answers' times overlap rather than match.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes import throttle
from bot.codes.lockout import conversation_locked_for, conversation_wrong_codes, count_conversation_wrong_code
from bot.codes.outcomes import Outcome, SendResult, VerifyResult
from bot.codes.policy import DEFAULT_POLICY, Policy, typed_code
from bot.codes.request_limits import Requester, admit_request, release_request
from bot.codes.send_limits import IDENTIFICATION, budget_of
from bot.codes.sms_codes import send_code, verify_code
from bot.db.models import Merchant, VerificationPurpose, audit
from bot.sms.gateway import SmsGateway
from bot.workdays import utcnow

__all__ = ["send_identification_code", "verify_identification_code"]


def send_identification_code(
    session: Session,
    merchant_number: str,
    purpose: VerificationPurpose | str,
    requester: Requester,
    *,
    gateway: SmsGateway | None = None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> SendResult:
    """Send a `purpose` code (identification or enrolment) to the phone registered for
    `merchant_number`, if it is a merchant's; answer alike either way (OK without the phone, or the
    limits' refusals). Commits."""
    purpose = _identification(purpose)
    started = time.monotonic()
    now = now or utcnow()
    refusal = admit_request(session, requester, purpose, merchant_number=merchant_number, now=now, policy=policy)
    if refusal is not None:
        return refusal
    _remember_request(session, requester.conversation_id, merchant_number, purpose, now)
    merchant = _merchant(session, merchant_number)
    if merchant is None:
        audit(session, "bot", "verification.unknown_number", occurred_at=now, purpose=purpose.value,
              number_last4=merchant_number[-4:], conversation_id=requester.conversation_id)
        session.commit()
        _SEND_TIMES.wait_like_a_send(started)
        return SendResult(Outcome.OK, expires_at=now + policy.code_ttl)
    sent = send_code(session, merchant, purpose, conversation_id=requester.conversation_id, gateway=gateway,
                     now=now, policy=policy)
    if sent.ok:
        _SEND_TIMES.add(time.monotonic() - started)
    elif sent.outcome is Outcome.NOT_DELIVERED:  # nothing counts: "resend" may be asked for at once
        release_request(session, requester, purpose, merchant_number=merchant_number, now=now, policy=policy)
    return replace(sent, phone_masked=None)


def verify_identification_code(
    session: Session,
    merchant_number: str | None,
    code: object,
    purpose: VerificationPurpose | str,
    *,
    conversation_id: str | None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> VerifyResult:
    """Check a code typed for `merchant_number` in this conversation: `sms_codes.verify_code` for a
    merchant's number; for any other, what a wrong code would get. Commits."""
    purpose = _identification(purpose)
    merchant = _merchant(session, merchant_number) if merchant_number else None
    if merchant is not None:
        return verify_code(session, merchant, purpose, code, conversation_id=conversation_id, now=now, policy=policy)
    now = now or utcnow()
    locked = conversation_locked_for(session, conversation_id, now, policy)
    if locked is not None:
        return VerifyResult(Outcome.LOCKED, retry_after=locked)
    asked = throttle.last(session, _REQUESTED, _request_key(conversation_id, merchant_number or "", purpose))
    refusal = (VerifyResult(Outcome.NO_CHALLENGE) if asked is None
               else VerifyResult(Outcome.EXPIRED) if asked + policy.code_ttl <= now else None)
    if typed_code(code) is None:
        wrong = conversation_wrong_codes(session, conversation_id, now, policy)
        return refusal or VerifyResult(Outcome.WRONG_CODE, attempts_left=policy.max_attempts - wrong)
    counted = count_conversation_wrong_code(session, conversation_id, now, policy, purpose=purpose.value,
                                            method="sms", number_last4=(merchant_number or "")[-4:])
    return refusal if refusal is not None and counted.outcome is not Outcome.LOCKED else counted


# --- what a number that is no merchant's needs to be answered like one ---------------------------

_REQUESTED = "requested:conversation_number"


def _request_key(conversation_id: str | None, merchant_number: str, purpose: VerificationPurpose) -> str:
    return f"{purpose.value}\n{conversation_id or ''}\n{merchant_number}"


def _remember_request(session: Session, conversation_id: str | None, merchant_number: str,
                      purpose: VerificationPurpose, now: datetime) -> None:
    """When this conversation last asked for a code for this number: a code typed later is
    "expired" after 5 minutes, as a real one would be (the caller commits)."""
    throttle.record(session, _REQUESTED, _request_key(conversation_id, merchant_number, purpose), now)


def _identification(purpose: VerificationPurpose | str) -> VerificationPurpose:
    purpose = VerificationPurpose(purpose)
    if budget_of(purpose) != IDENTIFICATION:
        raise ValueError("a signing code is sent to an identified merchant, never to a number typed")
    return purpose


def _merchant(session: Session, merchant_number: str) -> Merchant | None:
    return session.execute(
        select(Merchant).where(Merchant.merchant_number == merchant_number)
    ).scalar_one_or_none()


class _SendTimes:
    """How long the last real sends took in this process; a number that is no merchant's is
    answered no sooner than their median (at most `MAX_S`), so the time to answer overlaps."""

    KEPT = 50
    MAX_S = 3.0

    def __init__(self) -> None:
        self._times: deque[float] = deque(maxlen=self.KEPT)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._times.append(seconds)

    def typical(self) -> float:
        with self._lock:
            return min(self.MAX_S, statistics.median(self._times)) if self._times else 0.0

    def wait_like_a_send(self, started: float) -> None:
        """Sleep (in the action's worker thread, never on an event loop) until a typical send's time has passed."""
        remaining = self.typical() - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)


_SEND_TIMES = _SendTimes()
