"""One-time codes: an SMS code identifies the merchant or signs one change; an authenticator app
(TOTP) may sign instead for merchants who enrolled one (`enable_2fa`).

Rules (DOMAIN_RULES.md, the conventions of the big SMS providers; all in `Policy`):
- 6 digits, valid 5 minutes, single use, compared in constant time (`hmac.compare_digest`);
- 5 wrong entries for one challenge lock the merchant out of every code for 30 minutes (audited);
  a resend within the same conversation carries the wrong entries over, so resending does not
  buy more guesses;
- a new code for the same phone and purpose no sooner than 60 s after the last one; at most 5
  sends in any hour and 10 in any 24 hours per phone (rolling windows: the wait is exact, and
  there is no burst at midnight). The 60 s apply per purpose: the signing code usually follows
  the identification code within a minute in a fast conversation, and is a different code;
- the code goes to the merchant's registered phone, read from the database here: no function of
  this module takes a phone number;
- a code verifies only what it was sent for: the conversation, and for signing the exact change
  details (`ChangeDetails.signing_context`, bound by an HMAC keyed with the challenge's secret, so
  the stored digest reveals nothing about the card). Correcting a value after the code was sent
  makes the old code `no_challenge`: send a new one.

Why HOTP with a random secret per challenge rather than TOTP with a 300 s step: a TOTP step does
not start when the code is sent; a code sent at second 299 of a step would die a second later, or,
accepting the previous step too, live almost 10 minutes. Here each challenge has its own secret
(HOTP counter 0) and its validity is exactly `created_at + 5 min`, kept in the database
(`expires_at`), like the single use (`used_at`) and the wrong entries (`attempts`); the code itself
is never stored. TOTP (30 s steps, one step of drift either way) serves the authenticator app.

Every function is one unit of work: it commits (or rolls back) the session it is given, so a wrong
entry counts even when the caller fails afterwards; pass a session without other pending writes.
Writes for one merchant are serialised across processes (`bot.db.locks.lock_merchant`). SMS are
sent after the commit. Results are `Outcome`s with `retry_after` seconds where relevant, for the
bot to say the right sentence.
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import settings
from bot.db.locks import lock_merchant
from bot.db.models import Merchant, MerchantSecurity, VerificationChallenge, VerificationPurpose, audit
from bot.sms.gateway import SmsDeliveryError, SmsGateway, gateway_from_env, mask_phone
from bot.validation.errors import Invalid
from bot.validation.identifiers import validate_otp
from bot.workdays import to_local_iso, utcnow

if TYPE_CHECKING:
    from bot.change_requests.filing import ChangeDetails

logger = logging.getLogger(__name__)

__all__ = [
    "Policy", "DEFAULT_POLICY", "Outcome", "SendResult", "VerifyResult", "Enrolment", "NotVerified",
    "VerificationPurpose", "send_code", "verify_code", "pending_purpose", "lock_remaining", "code_text",
    "totp_enabled", "start_enrolment", "confirm_enrolment", "verify_totp",
]

CODE_DIGITS = 6
HOTP_COUNTER = 0  # one secret per challenge: the counter never needs to move
TOTP_VALID_WINDOW = 1  # steps of clock drift accepted either way (30 s each)
_SIX_DIGIT_RUN = re.compile(r"(?<!\d)\d{6}(?!\d)")


@dataclass(frozen=True)
class Policy:
    code_ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 5
    lock_duration: timedelta = timedelta(minutes=30)
    resend_interval: timedelta = timedelta(seconds=60)
    max_sends_per_hour: int = 5
    max_sends_per_day: int = 10
    # How recent the conversation's identification must be to enrol an authenticator.
    enrolment_window: timedelta = timedelta(minutes=30)


DEFAULT_POLICY = Policy()


class Outcome(str, enum.Enum):
    OK = "ok"
    WRONG_CODE = "wrong_code"  # attempts_left says how many remain
    EXPIRED = "expired"  # past 5 minutes (or an authenticator code already used): send a new one
    LOCKED = "locked"  # retry_after: seconds until the lock ends
    NO_CHALLENGE = "no_challenge"  # nothing sent for this (conversation, purpose, details), or used up
    TOO_SOON = "too_soon"  # retry_after: seconds until a resend is allowed
    RATE_LIMITED = "rate_limited"  # hourly or daily limit of the phone; retry_after seconds

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


class NotVerified(Exception):
    """Enrolling an authenticator needs an identification code verified in this conversation
    within `Policy.enrolment_window`, and no lock-out."""


@dataclass(frozen=True)
class Enrolment:
    """Show `provisioning_uri` as a QR code (web chat) or `secret` as text (WeChat)."""

    secret: str = field(repr=False)
    provisioning_uri: str = field(repr=False)
    replaces_existing: bool  # an authenticator was enabled already; confirming replaces it


# --- helpers ---------------------------------------------------------------------------------------


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def _context_digest(
    secret: str, purpose: VerificationPurpose, conversation_id: str | None, change: ChangeDetails | None
) -> str:
    payload: dict = {"purpose": purpose.value, "conversation_id": conversation_id or ""}
    if change is not None:
        payload["change"] = change.signing_context()
    message = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hmac.new(secret.encode("ascii"), message, hashlib.sha256).hexdigest()


def _hotp_code(secret: str) -> str:
    return pyotp.HOTP(secret, digits=CODE_DIGITS).at(HOTP_COUNTER)


def code_text(
    purpose: VerificationPurpose, code: str, change: ChangeDetails | None = None, policy: Policy = DEFAULT_POLICY
) -> str:
    """The SMS (Simplified Chinese). The code must be its only 6-digit run (CONTRACTS.md)."""
    brand = settings.brand()
    minutes = int(policy.code_ttl.total_seconds() // 60)
    if VerificationPurpose(purpose) is VerificationPurpose.IDENTIFY:
        doing = "您正在通过在线客服办理商户业务"
    else:
        if change is None:
            raise ValueError("a signing code needs the change details")
        doing = f"您正在将结算卡变更为{change.bank_name}尾号{change.last4}的账户"
    text = f"【{brand.name}】您的验证码是{code}，{minutes}分钟内有效。{doing}，请勿告诉他人。"
    if _SIX_DIGIT_RUN.findall(text) != [code]:
        raise ValueError("the SMS text holds a 6-digit run besides the code (check BRAND_NAME)")
    return text


def _normalized_code(code: object) -> str | None:
    try:
        return validate_otp(code)
    except Invalid:
        return None


def _merchant_contact(session: Session, merchant_id: int) -> tuple[str, str]:
    """(registered phone, merchant number) as stored: never an unsaved change to the object."""
    with session.no_autoflush:
        phone, number = session.execute(
            select(Merchant.phone, Merchant.merchant_number).where(Merchant.id == merchant_id)
        ).one()
    return phone, number


def _security(session: Session, merchant_id: int, create: bool = False) -> MerchantSecurity | None:
    state = session.execute(
        select(MerchantSecurity).where(MerchantSecurity.merchant_id == merchant_id)
    ).scalar_one_or_none()
    if state is None and create:
        state = MerchantSecurity(merchant_id=merchant_id, totp_failures=0)
        session.add(state)
    return state


def _locked_for(state: MerchantSecurity | None, now: datetime) -> int | None:
    if state is not None and state.locked_until is not None and state.locked_until > now:
        return _seconds_until(state.locked_until, now)
    return None


def _lock(
    session: Session,
    merchant: Merchant,
    state: MerchantSecurity,
    now: datetime,
    policy: Policy,
    challenge_id: int | None = None,
    **detail: object,
) -> VerifyResult:
    """Lock the merchant out of every code for `policy.lock_duration`; audited; commits."""
    state.locked_until = now + policy.lock_duration
    until = to_local_iso(state.locked_until)
    audit(session, "bot", "verification.locked", merchant=merchant, occurred_at=now, locked_until=until,
          challenge_id=challenge_id, **detail)
    session.commit()
    logger.warning("merchant %s locked out of one-time codes until %s", merchant.merchant_number, until)
    return VerifyResult(Outcome.LOCKED, retry_after=_seconds_until(state.locked_until, now), challenge_id=challenge_id)


def _locked_state(session: Session, merchant: Merchant, now: datetime) -> tuple[MerchantSecurity | None, int | None]:
    """Serialise this merchant's verifications (row lock), then read its state: (state, seconds
    of lock-out left or None)."""
    lock_merchant(session, merchant.id)
    state = _security(session, merchant.id)
    return state, _locked_for(state, now)


def lock_remaining(session: Session, merchant: Merchant, now: datetime | None = None) -> int | None:
    """Seconds until the merchant's lock-out ends, or None when not locked."""
    return _locked_for(_security(session, merchant.id), now or utcnow())


def _latest_challenge(
    session: Session, merchant_id: int, purpose: VerificationPurpose, conversation_id: str | None
) -> VerificationChallenge | None:
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


def _send_times(session: Session, phone: str, since: datetime) -> list[datetime]:
    return list(
        session.execute(
            select(VerificationChallenge.created_at)
            .where(VerificationChallenge.phone == phone, VerificationChallenge.created_at > since)
            .order_by(VerificationChallenge.created_at)
        ).scalars()
    )


def _send_refusal(
    session: Session, phone: str, purpose: VerificationPurpose, now: datetime, policy: Policy
) -> SendResult | None:
    """TOO_SOON or RATE_LIMITED when the phone may not get a code now."""
    last = session.execute(
        select(VerificationChallenge.created_at)
        .where(VerificationChallenge.phone == phone, VerificationChallenge.purpose == purpose)
        .order_by(VerificationChallenge.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is not None and last + policy.resend_interval > now:
        return SendResult(Outcome.TOO_SOON, retry_after=_seconds_until(last + policy.resend_interval, now))
    waits = []
    limits = ((timedelta(hours=1), policy.max_sends_per_hour), (timedelta(days=1), policy.max_sends_per_day))
    for window, limit in limits:
        times = _send_times(session, phone, now - window)
        if len(times) >= limit:
            # Allowed again when the oldest of the last `limit` sends leaves the window.
            waits.append(_seconds_until(times[len(times) - limit] + window, now))
    if waits:
        return SendResult(Outcome.RATE_LIMITED, retry_after=max(waits))
    return None


# --- SMS codes -------------------------------------------------------------------------------------


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
    code will verify those details only. Raises SmsDeliveryError when the gateway fails (nothing
    is counted against the merchant then).
    """
    purpose = VerificationPurpose(purpose)
    if purpose is VerificationPurpose.SIGN_CHANGE and change is None:
        raise ValueError("a signing code needs the change details")
    now = now or utcnow()
    try:
        lock_merchant(session, merchant.id)
        phone, number = _merchant_contact(session, merchant.id)
        locked = _locked_for(_security(session, merchant.id), now)
        if locked is not None:
            session.rollback()
            return SendResult(Outcome.LOCKED, retry_after=locked)
        refusal = _send_refusal(session, phone, purpose, now, policy)
        if refusal is not None:
            session.rollback()
            return refusal
        previous = _latest_challenge(session, merchant.id, purpose, conversation_id)
        carried = 0
        if previous is not None and previous.used_at is None and previous.expires_at > now:
            carried = previous.attempts  # a resend does not reset the wrong entries
        secret = pyotp.random_base32()
        code = _hotp_code(secret)
        text = code_text(purpose, code, change, policy)
        challenge = VerificationChallenge(
            merchant_id=merchant.id,
            phone=phone,
            purpose=purpose,
            conversation_id=conversation_id,
            secret=secret,
            context_digest=_context_digest(secret, purpose, conversation_id, change),
            attempts=carried,
            created_at=now,
            expires_at=now + policy.code_ttl,
        )
        session.add(challenge)
        session.flush()
        challenge_id = challenge.id
        detail: dict = {"purpose": purpose.value, "phone": mask_phone(phone), "challenge_id": challenge_id,
                        "conversation_id": conversation_id}
        if change is not None:
            detail.update(bank_code=change.bank_code, card_last4=change.last4)
        audit(session, f"merchant:{number}", "verification.code_sent", merchant=session.get(Merchant, merchant.id),
              occurred_at=now, **detail)
        session.commit()
    except BaseException:
        session.rollback()
        raise

    try:
        (gateway or gateway_from_env()).send(phone, text)
    except Exception as exc:  # noqa: BLE001 - any provider error means "not sent"
        logger.exception("code SMS to %s not sent", mask_phone(phone))
        # Not delivered: it must not count towards the phone's limits nor verify.
        unsent = session.get(VerificationChallenge, challenge_id)
        if unsent is not None:
            session.delete(unsent)
        audit(session, "bot", "verification.send_failed", merchant=session.get(Merchant, merchant.id),
              occurred_at=now, purpose=purpose.value, phone=mask_phone(phone))
        session.commit()
        raise SmsDeliveryError(f"code SMS to {mask_phone(phone)} not sent") from exc
    return SendResult(Outcome.OK, challenge_id=challenge_id, phone_masked=mask_phone(phone),
                      expires_at=now + policy.code_ttl)


def pending_purpose(
    session: Session, merchant: Merchant, conversation_id: str | None, now: datetime | None = None
) -> VerificationPurpose | None:
    """What the conversation's latest unused code was sent for ("没收到验证码": resend that one)."""
    now = now or utcnow()
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
    without counting as an attempt: it is a typo, not a guess.
    """
    purpose = VerificationPurpose(purpose)
    now = now or utcnow()
    typed = _normalized_code(code)
    try:
        state, locked = _locked_state(session, merchant, now)
        if locked is not None:
            session.rollback()
            return VerifyResult(Outcome.LOCKED, retry_after=locked)
        challenge = _latest_challenge(session, merchant.id, purpose, conversation_id)
        if challenge is None or challenge.used_at is not None or challenge.attempts >= policy.max_attempts:
            session.rollback()
            return VerifyResult(Outcome.NO_CHALLENGE)
        secret, challenge_id = challenge.secret, challenge.id
        if not hmac.compare_digest(challenge.context_digest, _context_digest(secret, purpose, conversation_id, change)):
            session.rollback()  # sent for other details: they were corrected since
            return VerifyResult(Outcome.NO_CHALLENGE, challenge_id=challenge_id)
        if challenge.expires_at <= now:
            session.rollback()
            return VerifyResult(Outcome.EXPIRED, challenge_id=challenge_id)
        if typed is None:
            attempts_left = policy.max_attempts - challenge.attempts
            session.rollback()
            return VerifyResult(Outcome.WRONG_CODE, attempts_left=attempts_left, challenge_id=challenge_id)
        owner = session.get(Merchant, merchant.id)
        if hmac.compare_digest(_hotp_code(secret), typed):
            challenge.used_at = now
            audit(session, f"merchant:{owner.merchant_number}", "verification.verified", merchant=owner,
                  occurred_at=now, purpose=purpose.value, method="sms", challenge_id=challenge.id,
                  conversation_id=conversation_id)
            session.commit()
            return VerifyResult(Outcome.OK, challenge_id=challenge.id)
        challenge.attempts += 1
        if challenge.attempts >= policy.max_attempts:
            return _lock(session, owner, state or _security(session, merchant.id, create=True), now, policy,
                         purpose=purpose.value, method="sms", challenge_id=challenge.id,
                         attempts=challenge.attempts, conversation_id=conversation_id)
        attempts_left = policy.max_attempts - challenge.attempts
        session.commit()
        return VerifyResult(Outcome.WRONG_CODE, attempts_left=attempts_left, challenge_id=challenge.id)
    except BaseException:
        session.rollback()
        raise


# --- authenticator app (TOTP) ----------------------------------------------------------------------


def totp_enabled(session: Session, merchant: Merchant) -> bool:
    state = _security(session, merchant.id)
    return state is not None and state.totp_secret is not None


def _totp_match(secret: str, code: str, now: datetime, last_step: int | None) -> tuple[int | None, bool]:
    """(matching time step, replayed): a step at or before the last accepted one is a replay."""
    totp = pyotp.TOTP(secret, digits=CODE_DIGITS)
    current = totp.timecode(now)
    for step in range(current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if last_step is not None and step <= last_step:
                return None, True
            return step, False
    return None, False


def _accepted_totp(session: Session, owner: Merchant, state: MerchantSecurity, step: int, now: datetime,
                   purpose: VerificationPurpose, conversation_id: str | None) -> None:
    """Record an accepted authenticator code: its step can never be used again; audited; committed."""
    state.totp_last_step = step
    state.totp_failures = 0
    audit(session, f"merchant:{owner.merchant_number}", "verification.verified", merchant=owner,
          occurred_at=now, purpose=purpose.value, method="totp", conversation_id=conversation_id)
    session.commit()


def _totp_failure(
    session: Session, merchant: Merchant, state: MerchantSecurity, now: datetime, policy: Policy, action: str
) -> VerifyResult:
    state.totp_failures = (state.totp_failures or 0) + 1
    if state.totp_failures >= policy.max_attempts:
        attempts = state.totp_failures
        state.totp_failures = 0
        return _lock(session, merchant, state, now, policy, method="totp", step=action, attempts=attempts)
    attempts_left = policy.max_attempts - state.totp_failures
    session.commit()
    return VerifyResult(Outcome.WRONG_CODE, attempts_left=attempts_left)


def start_enrolment(
    session: Session,
    merchant: Merchant,
    *,
    conversation_id: str | None,
    now: datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> Enrolment:
    """Begin enrolling an authenticator app; `confirm_enrolment` with its first code finishes.

    Raises NotVerified unless an identification code was verified in this conversation within the
    last `policy.enrolment_window` (also on web chat, where the portal session names the merchant:
    adding a second factor is itself a change that needs the registered phone).
    """
    now = now or utcnow()
    try:
        lock_merchant(session, merchant.id)
        state = _security(session, merchant.id, create=True)
        identified = session.execute(
            select(VerificationChallenge.id)
            .where(
                VerificationChallenge.merchant_id == merchant.id,
                VerificationChallenge.purpose == VerificationPurpose.IDENTIFY,
                VerificationChallenge.conversation_id == conversation_id,
                VerificationChallenge.used_at >= now - policy.enrolment_window,
            )
            .limit(1)
        ).first()
        if identified is None or _locked_for(state, now) is not None:
            session.rollback()
            raise NotVerified("verify an identification code in this conversation first")
        secret = pyotp.random_base32()
        state.totp_pending_secret = secret
        replaces = state.totp_secret is not None
        owner = session.get(Merchant, merchant.id)
        audit(session, f"merchant:{owner.merchant_number}", "totp.enrolment_started", merchant=owner,
              occurred_at=now, conversation_id=conversation_id, replaces_existing=replaces)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    uri = pyotp.TOTP(secret, digits=CODE_DIGITS).provisioning_uri(
        name=owner.merchant_number, issuer_name=settings.brand().name
    )
    return Enrolment(secret=secret, provisioning_uri=uri, replaces_existing=replaces)


def enrolment_notice_text() -> str:
    brand = settings.brand()
    return f"【{brand.name}】您的商户账户已开启动态口令验证。如非本人操作请立即致电{brand.hotline}。"


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
    typed = _normalized_code(code)
    try:
        state, locked = _locked_state(session, merchant, now)
        if locked is not None:
            session.rollback()
            return VerifyResult(Outcome.LOCKED, retry_after=locked)
        if state is None or state.totp_pending_secret is None:
            session.rollback()
            return VerifyResult(Outcome.NO_CHALLENGE)
        owner = session.get(Merchant, merchant.id)
        step = _totp_match(state.totp_pending_secret, typed, now, None)[0] if typed else None
        if step is None:
            if typed is None:
                session.rollback()
                return VerifyResult(Outcome.WRONG_CODE, attempts_left=policy.max_attempts - state.totp_failures)
            return _totp_failure(session, owner, state, now, policy, "confirm_enrolment")
        state.totp_secret = state.totp_pending_secret
        state.totp_pending_secret = None
        state.totp_enabled_at = now
        state.totp_last_step = step
        state.totp_failures = 0
        audit(session, f"merchant:{owner.merchant_number}", "totp.enabled", merchant=owner, occurred_at=now)
        phone = owner.phone
        session.commit()
    except BaseException:
        session.rollback()
        raise
    try:
        (gateway or gateway_from_env()).send(phone, enrolment_notice_text())
    except Exception:  # noqa: BLE001 - the enrolment stands; the notice is best effort
        logger.exception("enrolment notice to %s not sent", mask_phone(phone))
    return VerifyResult(Outcome.OK)


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
    typed = _normalized_code(code)
    try:
        state, locked = _locked_state(session, merchant, now)
        if locked is not None:
            session.rollback()
            return VerifyResult(Outcome.LOCKED, retry_after=locked)
        if state is None or state.totp_secret is None:
            session.rollback()
            return VerifyResult(Outcome.NO_CHALLENGE)
        if typed is None:
            session.rollback()
            return VerifyResult(Outcome.WRONG_CODE, attempts_left=policy.max_attempts - state.totp_failures)
        owner = session.get(Merchant, merchant.id)
        step, replayed = _totp_match(state.totp_secret, typed, now, state.totp_last_step)
        if replayed:
            session.rollback()
            return VerifyResult(Outcome.EXPIRED)
        if step is None:
            return _totp_failure(session, owner, state, now, policy, "verify")
        _accepted_totp(session, owner, state, step, now, purpose, conversation_id)
        return VerifyResult(Outcome.OK)
    except BaseException:
        session.rollback()
        raise


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
    """The code that signs a change: the SMS code just sent, or for merchants who enabled an
    authenticator, its current code instead. An authenticator code is accepted only when it
    matches (each once); anything else is judged, and counted, as an SMS code, so a wrong code
    costs one attempt whichever the merchant meant."""
    now = now or utcnow()
    typed = _normalized_code(code)
    if typed is not None and _accept_totp(session, merchant, typed, conversation_id, now):
        return VerifyResult(Outcome.OK)
    return verify_code(session, merchant, VerificationPurpose.SIGN_CHANGE, code, conversation_id=conversation_id,
                       change=change, now=now, policy=policy)


def _accept_totp(session: Session, merchant: Merchant, typed: str, conversation_id: str | None,
                 now: datetime) -> bool:
    try:
        state, locked = _locked_state(session, merchant, now)
        if state is None or state.totp_secret is None or locked is not None:
            session.rollback()
            return False
        step, _ = _totp_match(state.totp_secret, typed, now, state.totp_last_step)
        if step is None:
            session.rollback()
            return False
        _accepted_totp(session, session.get(Merchant, merchant.id), state, step, now,
                       VerificationPurpose.SIGN_CHANGE, conversation_id)
        return True
    except BaseException:
        session.rollback()
        raise
