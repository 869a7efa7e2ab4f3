"""SMS codes: send a code to the merchant's registered phone (to identify them, or to sign one
change), check the code the merchant types, and tell which code a "resend" is for.

The rules, in the order `send_code` and `verify_code` apply them (numbers in `Policy`):
- the code goes to the merchant's registered phone, read from the database here: no function of
  this module takes a phone number;
- no code while the merchant is locked out, nor an identification code to a conversation locked
  out (`lockout`), sooner than the resend interval or beyond
  the phone's hourly and daily limits, identification and signing codes each their own
  (`send_limits`);
- each code is a new challenge (`challenges`), audited and committed, then handed to the gateway
  outside the transaction. A gateway failure deletes the challenge again and answers
  `NOT_DELIVERED`: nothing counts against the merchant. A delivery the gateway cannot confirm
  keeps it (see `_deliver`);
- a typed code is checked against the conversation's latest challenge for the purpose: bound to
  what it was sent for, valid 5 minutes, single use, compared in constant time. Every wrong code
  counts, live or not: 5 wrong signing codes lock the merchant out, 5 wrong identification codes
  the conversation (`lockout`: anyone may ask for those); a code is void after 5 wrong entries,
  and a resend carries them over, so resending does not buy more guesses.

Each function is one unit of work (`unit_of_work`).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.codes.challenges import add_challenge, code_matches, hotp_code, is_bound_to, latest_challenge, new_secret
from bot.codes.lockout import (
    clear_conversation_wrong_codes, clear_wrong_codes, conversation_locked_for, conversation_wrong_codes,
    count_conversation_wrong_code, count_wrong_code, locked_for, security_state,
)
from bot.codes.outcomes import Outcome, SendResult, VerifyResult
from bot.codes.policy import DEFAULT_POLICY, Policy, typed_code
from bot.codes.send_limits import IDENTIFICATION, budget_of, limit_wait, resend_wait
from bot.codes.unit_of_work import merchant_transaction, rolled_back_on_error
from bot.db.models import Merchant, MerchantSecurity, VerificationChallenge, VerificationPurpose, audit
from bot.sms.gateway import SmsGateway, delivery_unknown, gateway_from_env, mask_phone
from bot.sms.texts import code_text
from bot.workdays import utcnow

if TYPE_CHECKING:
    from bot.change_requests.filing import ChangeDetails

logger = logging.getLogger(__name__)

__all__ = ["send_code", "verify_code", "pending_purpose"]


# --- sending -------------------------------------------------------------------------------------


def send_code(
    session: Session,
    merchant: Merchant,
    purpose: VerificationPurpose | str,
    *,
    conversation_id: str | None,
    change: ChangeDetails | None = None,
    gateway: SmsGateway | None = None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> SendResult:
    """Send a new code to the merchant's registered phone (also what "resend" does).

    `change` is required to sign a change: the SMS names its bank and last four digits, and the
    code will verify those details only. Answers OK, or LOCKED / TOO_SOON / RATE_LIMITED with
    `retry_after`, or NOT_DELIVERED when the gateway failed (nothing is counted then). OK with
    `delivery_unknown` when the gateway could not tell whether the SMS went out.
    """
    purpose = VerificationPurpose(purpose)
    if purpose is VerificationPurpose.SIGN_CHANGE and change is None:
        raise ValueError("a signing code needs the change details")
    now = now or utcnow()
    with merchant_transaction(session, merchant.id):
        phone, number = _merchant_contact(session, merchant.id)
        refusal = _send_refusal(session, merchant.id, phone, purpose, conversation_id, now, policy)
        if refusal is not None:
            session.rollback()
            return refusal
        challenge_id, text = _create_challenge(session, merchant.id, phone, purpose, conversation_id, change, now,
                                               policy)
        _audit_code_sent(session, merchant.id, number, phone, purpose, challenge_id, conversation_id, change, now)
        session.commit()
    sent = SendResult(Outcome.OK, challenge_id=challenge_id, phone_masked=mask_phone(phone),
                      expires_at=now + policy.code_ttl)
    return _deliver(session, gateway, merchant.id, phone, text, purpose, sent, now)


def _merchant_contact(session: Session, merchant_id: int) -> tuple[str, str]:
    """(registered phone, merchant number) as stored: never an unsaved change to the object."""
    with session.no_autoflush:
        phone, number = session.execute(
            select(Merchant.phone, Merchant.merchant_number).where(Merchant.id == merchant_id)
        ).one()
    return phone, number


def _send_refusal(
    session: Session, merchant_id: int, phone: str, purpose: VerificationPurpose, conversation_id: str | None,
    now: datetime, policy: Policy,
) -> SendResult | None:
    """LOCKED, TOO_SOON or RATE_LIMITED (checked in that order) when no code may go out now."""
    locked = locked_for(security_state(session, merchant_id), now)
    if locked is None and budget_of(purpose) == IDENTIFICATION:
        locked = conversation_locked_for(session, conversation_id, now, policy)
    if locked is not None:
        return SendResult(Outcome.LOCKED, retry_after=locked)
    wait = resend_wait(session, phone, purpose, now, policy)
    if wait is not None:
        return SendResult(Outcome.TOO_SOON, retry_after=wait)
    wait = limit_wait(session, phone, purpose, now, policy)
    if wait is not None:
        return SendResult(Outcome.RATE_LIMITED, retry_after=wait)
    return None


def _create_challenge(
    session: Session,
    merchant_id: int,
    phone: str,
    purpose: VerificationPurpose,
    conversation_id: str | None,
    change: ChangeDetails | None,
    now: datetime,
    policy: Policy,
) -> tuple[int, str]:
    """(challenge id, SMS text) of a new code. The text is written before the row is added: a
    wording that cannot carry the code (a brand name with digits) raises before anything is stored."""
    secret = new_secret()
    text = code_text(purpose, hotp_code(secret), change, valid_for=policy.code_ttl)
    challenge = add_challenge(session, merchant_id=merchant_id, phone=phone, purpose=purpose,
                              conversation_id=conversation_id, change=change, secret=secret, now=now, policy=policy)
    return challenge.id, text


def _audit_code_sent(
    session: Session,
    merchant_id: int,
    number: str,
    phone: str,
    purpose: VerificationPurpose,
    challenge_id: int,
    conversation_id: str | None,
    change: ChangeDetails | None,
    now: datetime,
) -> None:
    detail: dict = {"purpose": purpose.value, "phone": mask_phone(phone), "challenge_id": challenge_id,
                    "conversation_id": conversation_id}
    if change is not None:
        detail.update(bank_code=change.bank_code, card_last4=change.last4)
    audit(session, f"merchant:{number}", "verification.code_sent", merchant=session.get(Merchant, merchant_id),
          occurred_at=now, **detail)


def _deliver(
    session: Session,
    gateway: SmsGateway | None,
    merchant_id: int,
    phone: str,
    text: str,
    purpose: VerificationPurpose,
    sent: SendResult,
    now: datetime,
) -> SendResult:
    """Hand the committed code to the gateway: after the commit, so the challenge exists before the
    SMS can arrive and a slow provider holds no lock. Answers `sent`, or what became of it."""
    try:
        (gateway or gateway_from_env()).send(phone, text)
    except Exception as error:  # noqa: BLE001 - any provider error means "not sent" (unless it says unknown)
        # Delivery unknown (the provider may have taken the SMS and only its answer was lost: a
        # timeout, or a 502/504, after sending; bot.sms.yunpian never retries those): the code may
        # well be on the merchant's phone. Deleting its challenge would leave a code that arrives
        # and cannot verify, and allow an immediate resend, i.e. two codes of which the first is
        # dead. So the challenge stays: it verifies if it arrived, it counts towards the resend
        # interval and the limits like any send (the provider counts it too), and the answer is
        # OK, flagged `delivery_unknown`. If it never arrives, the merchant asks for a resend
        # after the usual 60 s, and that resend is their request, never a silent second code.
        if delivery_unknown(error):
            _record_unknown_delivery(session, merchant_id, phone, purpose, sent.challenge_id, now)
            return replace(sent, delivery_unknown=True)
        _record_failed_delivery(session, merchant_id, phone, purpose, sent.challenge_id, now, error)
        return SendResult(Outcome.NOT_DELIVERED, phone_masked=sent.phone_masked)
    return sent


def _record_failed_delivery(
    session: Session,
    merchant_id: int,
    phone: str,
    purpose: VerificationPurpose,
    challenge_id: int | None,
    now: datetime,
    error: Exception,
) -> None:
    """Not sent: the challenge goes, so it neither verifies nor counts towards the phone's
    resend interval and limits; audited. The log names the masked phone and the error's type
    only: a provider's message may quote the text, and so the code."""
    logger.warning("code SMS to %s not sent (%s)", mask_phone(phone), type(error).__name__)
    with rolled_back_on_error(session):
        unsent = session.get(VerificationChallenge, challenge_id)
        if unsent is not None:
            session.delete(unsent)
        audit(session, "bot", "verification.send_failed", merchant=session.get(Merchant, merchant_id),
              occurred_at=now, purpose=purpose.value, phone=mask_phone(phone), challenge_id=challenge_id,
              error=type(error).__name__)
        session.commit()


def _record_unknown_delivery(
    session: Session, merchant_id: int, phone: str, purpose: VerificationPurpose, challenge_id: int | None,
    now: datetime,
) -> None:
    """The challenge stays (see `_deliver`); audited, so an operator can match it with the provider's records."""
    logger.warning("code SMS to %s: delivery unknown; the code stays valid", mask_phone(phone))
    with rolled_back_on_error(session):
        audit(session, "bot", "verification.delivery_unknown", merchant=session.get(Merchant, merchant_id),
              occurred_at=now, purpose=purpose.value, phone=mask_phone(phone), challenge_id=challenge_id)
        session.commit()


def pending_purpose(
    session: Session, merchant: Merchant, conversation_id: str | None, now: datetime | None = None
) -> VerificationPurpose | None:
    """What the conversation's latest unused code was sent for ("没收到验证码": resend that one)."""
    latest = session.execute(
        select(VerificationChallenge.purpose)
        .where(
            VerificationChallenge.merchant_id == merchant.id,
            VerificationChallenge.conversation_id == conversation_id,
            VerificationChallenge.used_at.is_(None),
        )
        .order_by(VerificationChallenge.created_at.desc(), VerificationChallenge.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if latest is None else VerificationPurpose(latest)


# --- verifying -----------------------------------------------------------------------------------


def verify_code(
    session: Session,
    merchant: Merchant,
    purpose: VerificationPurpose | str,
    code: object,
    *,
    conversation_id: str | None,
    change: ChangeDetails | None = None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> VerifyResult:
    """Check a code the merchant typed against the latest challenge of this conversation and purpose.

    Text that is not 6 digits (after normalising full-width and Chinese digits) is `wrong_code`
    without counting as an attempt: it is a typo, not a guess. Any 6 digits that do not verify
    count, also when the code has expired or none is live (the answer says so): a signing code
    towards the merchant's lock-out, an identification or enrolment code towards the
    conversation's (`lockout`).
    """
    purpose = VerificationPurpose(purpose)
    now = now or utcnow()
    typed = typed_code(code)
    anonymous = budget_of(purpose) == IDENTIFICATION
    with merchant_transaction(session, merchant.id):
        state = security_state(session, merchant.id)
        locked = conversation_locked_for(session, conversation_id, now, policy) if anonymous else None
        locked = locked or locked_for(state, now)
        if locked is not None:
            session.rollback()
            return VerifyResult(Outcome.LOCKED, retry_after=locked)
        challenge = latest_challenge(session, merchant.id, purpose, conversation_id)
        refusal = _challenge_refusal(challenge, purpose, conversation_id, change, now, policy)
        if typed is None:
            if refusal is None:
                wrong = (conversation_wrong_codes(session, conversation_id, now, policy) if anonymous
                         else state.wrong_codes if state is not None else 0)
                refusal = VerifyResult(Outcome.WRONG_CODE, challenge_id=challenge.id,
                                       attempts_left=policy.max_attempts - max(wrong, challenge.attempts))
            session.rollback()
            return refusal
        owner = session.get(Merchant, merchant.id)
        if refusal is None and code_matches(challenge, typed):
            return _accept(session, owner, challenge, state, purpose, conversation_id, now)
        tried = _one_more_on(None if refusal else challenge, purpose)
        if anonymous:
            counted = count_conversation_wrong_code(session, conversation_id, now, policy, merchant=owner, **tried)
        else:
            # Counted even with no live code: the merchant's authenticator may be what is guessed.
            counted = count_wrong_code(session, owner, state or security_state(session, owner.id, create=True), now,
                                       policy, conversation_id=conversation_id, **tried)
        return refusal if refusal is not None and counted.outcome is not Outcome.LOCKED else counted


def _challenge_refusal(
    challenge: VerificationChallenge | None,
    purpose: VerificationPurpose,
    conversation_id: str | None,
    change: ChangeDetails | None,
    now: datetime,
    policy: Policy,
) -> VerifyResult | None:
    """NO_CHALLENGE or EXPIRED when no code typed now could verify against `challenge`."""
    if challenge is None or challenge.used_at is not None or challenge.attempts >= policy.max_attempts:
        return VerifyResult(Outcome.NO_CHALLENGE)
    if not is_bound_to(challenge, purpose, conversation_id, change):
        # Sent for other details: they were corrected since.
        return VerifyResult(Outcome.NO_CHALLENGE, challenge_id=challenge.id)
    if challenge.expires_at <= now:
        return VerifyResult(Outcome.EXPIRED, challenge_id=challenge.id)
    return None


def _accept(
    session: Session,
    owner: Merchant,
    challenge: VerificationChallenge,
    state: MerchantSecurity | None,
    purpose: VerificationPurpose,
    conversation_id: str | None,
    now: datetime,
) -> VerifyResult:
    """The right code: used up now (single use); it ends the run of wrong codes it was counted in
    (the merchant's, or the conversation's); audited; commits."""
    challenge.used_at = now
    if budget_of(purpose) == IDENTIFICATION:
        clear_conversation_wrong_codes(session, conversation_id)
    else:
        clear_wrong_codes(state)
    audit(session, f"merchant:{owner.merchant_number}", "verification.verified", merchant=owner,
          occurred_at=now, purpose=purpose.value, method="sms", challenge_id=challenge.id,
          conversation_id=conversation_id)
    session.commit()
    return VerifyResult(Outcome.OK, challenge_id=challenge.id)


def _one_more_on(challenge: VerificationChallenge | None, purpose: VerificationPurpose) -> dict:
    """A wrong code is one more wrong entry on the live code tried, if any (it is void after 5);
    what the lock-out counters then take."""
    if challenge is not None:
        challenge.attempts += 1
    return {"code_attempts": challenge.attempts if challenge is not None else 0,
            "challenge_id": challenge.id if challenge is not None else None,
            "purpose": purpose.value, "method": "sms"}
