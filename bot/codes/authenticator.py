"""The authenticator app (TOTP, `enable_2fa`): enrolment, and its codes, which may sign a change
instead of an SMS code (`bot.codes.signing`).

- Enrolling needs a fresh SMS code sent for that (purpose `enrol`, its SMS says an authenticator
  is being added) and verified in this conversation within `Policy.enrolment_window` (5 min), and
  no lock-out: adding a second factor is itself a change that needs the registered phone, now, not
  an identification earlier in the conversation (a second client that took over a verified
  conversation must not enrol its own authenticator). `start_enrolment` draws the secret (shown
  as a QR code or as text), `confirm_enrolment` with the app's first code enables it and notifies
  the registered phone.
- A new authenticator may not sign a change for `Policy.authenticator_signs_after` (24 hours):
  the notice gives the merchant a day to object should it not be theirs. Meanwhile the SMS code
  signs (`authenticator_signs` says which to ask for), and the new authenticator's right code is
  answered AUTHENTICATOR_TOO_NEW, not counted as wrong.
- Codes: 30 s steps, one step of clock drift accepted either way, each step accepted once (a
  replay is `expired`), compared in constant time. Wrong codes count towards the same lock-out as
  SMS codes (`lockout.count_wrong_code`): 5 wrong codes in a row, any mix, lock the merchant out
  of every code.

The secrets are encrypted at rest (`MerchantSecurity`). Each function is one unit of work (`unit_of_work`).
"""
from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import settings
from bot.codes.lockout import clear_wrong_codes, count_wrong_code, locked_for, security_state
from bot.codes.outcomes import Outcome, VerifyResult, seconds_until
from bot.codes.policy import CODE_DIGITS, DEFAULT_POLICY, Policy, typed_code
from bot.codes.unit_of_work import merchant_transaction
from bot.db.models import Merchant, MerchantSecurity, VerificationChallenge, VerificationPurpose, audit
from bot.sms.gateway import SmsGateway, gateway_from_env, mask_phone
from bot.sms.texts import enrolment_notice_text
from bot.workdays import utcnow

logger = logging.getLogger(__name__)

__all__ = ["Enrolment", "NotVerified", "totp_enabled", "authenticator_signs", "start_enrolment", "confirm_enrolment",
           "verify_totp", "accept_authenticator_code", "too_new_to_sign"]

TOTP_VALID_WINDOW = 1  # steps of clock drift accepted either way (30 s each)


class NotVerified(Exception):
    """Enrolling an authenticator needs an enrolment code verified in this conversation within
    `Policy.enrolment_window`, and no lock-out."""


@dataclass(frozen=True)
class Enrolment:
    """Show `provisioning_uri` as a QR code (web chat) or `secret` as text (WeChat)."""

    secret: str = field(repr=False)
    provisioning_uri: str = field(repr=False)
    replaces_existing: bool  # an authenticator was enabled already; confirming replaces it


def totp_enabled(session: Session, merchant: Merchant) -> bool:
    state = security_state(session, merchant.id)
    return state is not None and state.totp_secret is not None


def authenticator_signs(session: Session, merchant: Merchant, now: datetime | None = None,
                        policy: Policy = DEFAULT_POLICY) -> bool:
    """The merchant's authenticator may sign a change now (enabled, and for long enough): the
    signing step offers it; otherwise it asks for the SMS code only."""
    return _signing_wait(security_state(session, merchant.id), now or utcnow(), policy) == 0


def _signing_wait(state: MerchantSecurity | None, now: datetime, policy: Policy) -> int | None:
    """Seconds until the authenticator may sign (0: it may now), None without one."""
    if state is None or state.totp_secret is None:
        return None
    if state.totp_enabled_at is None:  # enabled before the enabling time was kept: long ago
        return 0
    signs_from = state.totp_enabled_at + policy.authenticator_signs_after
    return 0 if signs_from <= now else seconds_until(signs_from, now)


# --- enrolment -----------------------------------------------------------------------------------


def start_enrolment(
    session: Session,
    merchant: Merchant,
    *,
    conversation_id: str | None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> Enrolment:
    """Begin enrolling an authenticator app; `confirm_enrolment` with its first code finishes.

    Raises NotVerified unless an enrolment code was verified in this conversation within the last
    `policy.enrolment_window` (also on web chat, where the portal session names the merchant:
    adding a second factor is itself a change that needs the registered phone).
    """
    now = now or utcnow()
    with merchant_transaction(session, merchant.id):
        state = security_state(session, merchant.id, create=True)
        verified = _enrolment_code_verified(session, merchant.id, conversation_id, now, policy)
        if not verified or locked_for(state, now) is not None:
            session.rollback()
            raise NotVerified("verify an enrolment code in this conversation first")
        secret = pyotp.random_base32()
        state.totp_pending_secret = secret
        replaces = state.totp_secret is not None
        owner = session.get(Merchant, merchant.id)
        audit(session, f"merchant:{owner.merchant_number}", "totp.enrolment_started", merchant=owner,
              occurred_at=now, conversation_id=conversation_id, replaces_existing=replaces)
        session.commit()
    uri = pyotp.TOTP(secret, digits=CODE_DIGITS).provisioning_uri(
        name=owner.merchant_number, issuer_name=settings.brand().name
    )
    return Enrolment(secret=secret, provisioning_uri=uri, replaces_existing=replaces)


def _enrolment_code_verified(
    session: Session, merchant_id: int, conversation_id: str | None, now: datetime, policy: Policy
) -> bool:
    """An enrolment code of this conversation was verified within the enrolment window."""
    return session.execute(
        select(VerificationChallenge.id)
        .where(
            VerificationChallenge.merchant_id == merchant_id,
            VerificationChallenge.purpose == VerificationPurpose.ENROL,
            VerificationChallenge.conversation_id == conversation_id,
            VerificationChallenge.used_at >= now - policy.enrolment_window,
        )
        .limit(1)
    ).first() is not None


def confirm_enrolment(
    session: Session,
    merchant: Merchant,
    code: object,
    *,
    gateway: SmsGateway | None = None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> VerifyResult:
    """Finish enrolment with the first code the app shows; then notify the registered phone."""
    now = now or utcnow()
    typed = typed_code(code)
    with merchant_transaction(session, merchant.id):
        state = security_state(session, merchant.id)
        locked = locked_for(state, now)
        if locked is not None:
            session.rollback()
            return VerifyResult(Outcome.LOCKED, retry_after=locked)
        if state is None or state.totp_pending_secret is None:
            session.rollback()
            return VerifyResult(Outcome.NO_CHALLENGE)
        owner = session.get(Merchant, merchant.id)
        step = _matching_step(state.totp_pending_secret, typed, now, None)[0] if typed else None
        if step is None:
            if typed is None:
                session.rollback()
                return VerifyResult(Outcome.WRONG_CODE, attempts_left=policy.max_attempts - state.wrong_codes)
            return _count_failure(session, owner, state, now, policy, "confirm_enrolment")
        phone = owner.phone
        _enable(session, owner, state, step, now)
    _notify_enabled(gateway, phone)
    return VerifyResult(Outcome.OK)


def _enable(session: Session, owner: Merchant, state: MerchantSecurity, step: int, now: datetime) -> None:
    """The pending secret becomes the merchant's authenticator (replacing any other); its first
    code's step is used up; audited; commits."""
    state.totp_secret = state.totp_pending_secret
    state.totp_pending_secret = None
    state.totp_enabled_at = now
    state.totp_last_step = step
    clear_wrong_codes(state)
    audit(session, f"merchant:{owner.merchant_number}", "totp.enabled", merchant=owner, occurred_at=now)
    session.commit()


def _notify_enabled(gateway: SmsGateway | None, phone: str) -> None:
    """Tell the registered phone, in case it was not the merchant: best effort, the enrolment stands."""
    try:
        (gateway or gateway_from_env()).send(phone, enrolment_notice_text())
    except Exception:  # noqa: BLE001 - the enrolment stands; the notice is best effort
        logger.exception("enrolment notice to %s not sent", mask_phone(phone))


# --- codes ---------------------------------------------------------------------------------------


def verify_totp(
    session: Session,
    merchant: Merchant,
    code: object,
    *,
    purpose: VerificationPurpose | str = VerificationPurpose.SIGN_CHANGE,
    conversation_id: str | None = None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> VerifyResult:
    """Check an authenticator code: `no_challenge` when none is enabled, `expired` when this code
    was used already (each works once), wrong entries count towards the same lock-out."""
    purpose = VerificationPurpose(purpose)
    now = now or utcnow()
    typed = typed_code(code)
    with merchant_transaction(session, merchant.id):
        state = security_state(session, merchant.id)
        locked = locked_for(state, now)
        if locked is not None:
            session.rollback()
            return VerifyResult(Outcome.LOCKED, retry_after=locked)
        if state is None or state.totp_secret is None:
            session.rollback()
            return VerifyResult(Outcome.NO_CHALLENGE)
        if typed is None:
            session.rollback()
            return VerifyResult(Outcome.WRONG_CODE, attempts_left=policy.max_attempts - state.wrong_codes)
        owner = session.get(Merchant, merchant.id)
        step, replayed = _matching_step(state.totp_secret, typed, now, state.totp_last_step)
        if replayed:
            session.rollback()
            return VerifyResult(Outcome.EXPIRED)
        if step is None:
            return _count_failure(session, owner, state, now, policy, "verify")
        _accept(session, owner, state, step, now, purpose, conversation_id)
        return VerifyResult(Outcome.OK)


def accept_authenticator_code(
    session: Session, merchant: Merchant, typed: str, conversation_id: str | None, now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> bool:
    """Accept `typed` (6 digits) as a signing code when it is the current, unused code of an
    authenticator that may sign (`authenticator_signs`); anything else (no authenticator, a new
    one, locked, no match) is False and costs nothing here: `verify_signing_code` then judges it."""
    with merchant_transaction(session, merchant.id):
        state = security_state(session, merchant.id)
        if _signing_wait(state, now, policy) != 0 or locked_for(state, now) is not None:
            session.rollback()
            return False
        step, _ = _matching_step(state.totp_secret, typed, now, state.totp_last_step)
        if step is None:
            session.rollback()
            return False
        _accept(session, session.get(Merchant, merchant.id), state, step, now, VerificationPurpose.SIGN_CHANGE,
                conversation_id)
        return True


def too_new_to_sign(
    session: Session, merchant: Merchant, typed: str, now: datetime, policy: Policy = DEFAULT_POLICY
) -> VerifyResult | None:
    """AUTHENTICATOR_TOO_NEW (with the seconds until it may sign) when `typed` is the current code
    of an authenticator that may not sign yet; else None. Reads only: a right code is no guess."""
    state = security_state(session, merchant.id)
    wait = _signing_wait(state, now, policy)
    session.rollback()
    if not wait or locked_for(state, now) is not None:
        return None
    step, replayed = _matching_step(state.totp_secret, typed, now, state.totp_last_step)
    if step is None and not replayed:
        return None
    return VerifyResult(Outcome.AUTHENTICATOR_TOO_NEW, retry_after=wait)


def _matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> tuple[int | None, bool]:
    """(matching time step, replayed): a step at or before the last accepted one is a replay."""
    totp = pyotp.TOTP(secret, digits=CODE_DIGITS)
    current = totp.timecode(now)
    for step in range(current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if last_step is not None and step <= last_step:
                return None, True
            return step, False
    return None, False


def _accept(session: Session, owner: Merchant, state: MerchantSecurity, step: int, now: datetime,
            purpose: VerificationPurpose, conversation_id: str | None) -> None:
    """Record an accepted authenticator code: its step can never be used again; audited; commits."""
    state.totp_last_step = step
    clear_wrong_codes(state)
    audit(session, f"merchant:{owner.merchant_number}", "verification.verified", merchant=owner,
          occurred_at=now, purpose=purpose.value, method="totp", conversation_id=conversation_id)
    session.commit()


def _count_failure(
    session: Session, merchant: Merchant, state: MerchantSecurity, now: datetime, policy: Policy, action: str
) -> VerifyResult:
    """A wrong authenticator code: one more wrong code of the merchant's (`lockout.count_wrong_code`); commits."""
    return count_wrong_code(session, merchant, state, now, policy, method="totp", step=action)
