"""Filing a settlement-account change request, once, and cancelling it (CONVERSATION.md §3 step 9).

`file_change_request` is one unit of work: it commits the session it is given (pass one without
other pending writes) and then sends the notice SMS, so a notice never announces a request that
was rolled back. Submitting twice files once: the caller passes an idempotency key that stays the
same for one confirmed set of values (`new_idempotency_key()` when the confirmation is shown,
kept in a slot, replaced when a value is corrected); the same key returns the request already
filed, also when two submissions race (the unique constraint decides, the loser reads the winner).

The pre-checks of `bot.change_requests.prechecks` run again under the merchant's lock: two conversations of the
same merchant cannot both file, and the daily limit holds. A refusal raises `FilingRefused`.

Filing needs the change signed: a signing code verified in this conversation for exactly these
details (`bot.codes.signatures`), unused. It is used up in the transaction that files, before the
pre-checks (an unsigned call learns nothing about the merchant); without one `NotSigned` is raised
and nothing is filed, whatever the caller believes. Only the replay of a key that filed already
needs none: it files nothing new and returns that request.

What is decided here:
- status: `awaiting_documents` while a required document is missing (photos could not be sent in
  the channel), else `under_review`;
- manual review: a card whose Luhn check failed and whose number the merchant confirmed
  (`CardInfo.needs_review`), or a holder name that is not the merchant's (非同名, needs the
  authorisation letter);
- due date: `settings.brand().review_days` working days after filing.
"""
from __future__ import annotations

import enum
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import settings
from bot.codes.signatures import use_signature
from bot.db.locks import lock_merchant
from bot.db.models import ChangeRequest, Merchant, MerchantKind, RequestStatus, audit, new_reference
from bot.masking import last4
from bot.change_requests.prechecks import PrecheckReason, check_merchant, open_request
from bot.sms.gateway import SmsGateway, gateway_from_env, mask_phone
from bot.sms.texts import cancel_text, notice_text
from bot.workdays import add_working_days, utcnow

logger = logging.getLogger(__name__)

REFERENCE_ATTEMPTS = 5  # 31^4 suffixes a day: a collision is rare, five in a row impossible


class Document(str, enum.Enum):
    ID_FRONT = "id_front"
    ID_BACK = "id_back"
    CARD_FRONT = "card_front"
    LICENCE = "licence"
    AUTHORISATION_LETTER = "authorisation_letter"

    @property
    def label(self) -> str:
        return DOCUMENT_LABELS[self]


DOCUMENT_LABELS = {
    Document.ID_FRONT: "身份证人像面照片",
    Document.ID_BACK: "身份证国徽面照片",
    Document.CARD_FRONT: "新结算卡正面照片",
    Document.LICENCE: "营业执照照片",
    Document.AUTHORISATION_LETTER: "清算授权书",
}


@dataclass(frozen=True)
class ChangeDetails:
    """The values the merchant confirmed. `repr` never shows the full numbers."""

    reason: str
    bank_code: str  # e.g. ICBC (CardInfo.bank_code)
    bank_name: str  # full name, e.g. 中国工商银行
    account_number: str = field(repr=False)  # card or corporate account, digits only
    account_name: str  # holder name on the new account
    holder_id_number: str | None = field(default=None, repr=False)
    opening_branch: str | None = None
    documents: frozenset[Document] = frozenset()  # what the merchant has sent (photos, letter)
    luhn_confirmed: bool = False  # CardInfo.needs_review: Luhn failed, number confirmed

    @property
    def last4(self) -> str:
        return last4(self.account_number)

    def signing_context(self) -> dict[str, str]:
        """What a signing code is bound to (bot.codes.challenges): correcting any of these values after
        the code was sent voids it. Only ever hashed, never stored."""
        return {
            "reason": self.reason,
            "bank_code": self.bank_code,
            "account_number": self.account_number,
            "account_name": self.account_name,
            "holder_id_number": self.holder_id_number or "",
            "opening_branch": self.opening_branch or "",
        }


class FilingRefused(Exception):
    """The merchant may not file now; `reason` is the pre-check that failed."""

    def __init__(self, reason: PrecheckReason, details: dict[str, str] | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.details = details or {}


class NotSigned(Exception):
    """No unused signature of this conversation for exactly these details: nothing was filed."""

    response = "utter_request_not_signed"


@dataclass(frozen=True)
class FilingResult:
    request: ChangeRequest
    created: bool  # False: the idempotency key found a request filed before
    notice_sent: bool = False

    @property
    def reference(self) -> str:
        return self.request.reference


def new_idempotency_key() -> str:
    """A fresh key for one confirmation of the values (store it in a slot while confirming)."""
    return "cf_" + secrets.token_urlsafe(16)


def _clean_name(name: str | None) -> str:
    return "".join((name or "").split()).replace("·", "").replace("•", "")


def same_name(merchant: Merchant, account_name: str) -> bool:
    """Same-name settlement (同名结算): the account is in the operator's / legal person's name, or,
    for sole traders and companies, in the business's name."""
    names = {_clean_name(merchant.legal_person_name)}
    if merchant.kind in (MerchantKind.SOLE_TRADER, MerchantKind.COMPANY) and merchant.business_name:
        names.add(_clean_name(merchant.business_name))
    return _clean_name(account_name) in names


def required_documents(merchant: Merchant, details: ChangeDetails) -> tuple[Document, ...]:
    documents = [Document.ID_FRONT, Document.ID_BACK, Document.CARD_FRONT]
    if merchant.kind in (MerchantKind.SOLE_TRADER, MerchantKind.COMPANY):
        documents.append(Document.LICENCE)
    if not same_name(merchant, details.account_name):
        documents.append(Document.AUTHORISATION_LETTER)
    return tuple(documents)


def missing_documents(merchant: Merchant, details: ChangeDetails) -> tuple[Document, ...]:
    provided = {Document(document) for document in details.documents}
    return tuple(document for document in required_documents(merchant, details) if document not in provided)


def _review_notes(merchant: Merchant, details: ChangeDetails) -> list[str]:
    notes = []
    if details.luhn_confirmed:
        notes.append("Luhn check failed; the merchant confirmed the number twice")
    if not same_name(merchant, details.account_name):
        notes.append(f"different holder name (非同名): {details.account_name}; authorisation letter required")
    return notes


def _by_key(session: Session, idempotency_key: str) -> ChangeRequest | None:
    return session.execute(
        select(ChangeRequest).where(ChangeRequest.idempotency_key == idempotency_key)
    ).scalar_one_or_none()


def _replayed(request: ChangeRequest, merchant_id: int) -> FilingResult:
    if request.merchant_id != merchant_id:
        # Keys are random per confirmation; this is a bug or an attack, not a retry.
        raise ValueError("idempotency key already used by another merchant's request")
    return FilingResult(request, created=False)


def _notify(gateway: SmsGateway | None, phone: str, text: str) -> bool:
    """Send a notice; a failure is logged, never raised: the request stands either way."""
    try:
        (gateway or gateway_from_env()).send(phone, text)
        return True
    except Exception:  # noqa: BLE001 - any provider error means "not sent"
        logger.exception("notice SMS to %s not sent", mask_phone(phone))
        return False


def file_change_request(
    session: Session,
    merchant: Merchant,
    details: ChangeDetails,
    idempotency_key: str,
    channel: str,
    conversation_id: str | None,
    *,
    gateway: SmsGateway | None = None,
    now: datetime | None = None,
) -> FilingResult:
    """File the signed change (or return the one this key filed before); commits; sends the notice.

    Raises NotSigned when no signing code of this conversation signed these details (unused), and
    FilingRefused when a pre-check fails now (terminal inactive, open request, daily limit).
    """
    if not idempotency_key:
        raise ValueError("an idempotency key is required")
    now = now or utcnow()
    result = _file_once(session, merchant.id, details, idempotency_key, channel, conversation_id, now)
    if result.created:
        result = _send_notice(session, result, gateway)
    return result


def _file_once(session: Session, merchant_id: int, details: ChangeDetails, idempotency_key: str, channel: str,
               conversation_id: str | None, now: datetime) -> FilingResult:
    """The request this key filed, or a new one, committed. A reference drawn twice on one day is
    drawn again; the same key filed concurrently by another worker is read back."""
    for _ in range(REFERENCE_ATTEMPTS):
        try:
            return _file_under_lock(session, merchant_id, details, idempotency_key, channel, conversation_id, now)
        except IntegrityError:
            # Either the same key filed concurrently (then it exists now) or a reference collision.
            session.rollback()
            existing = _by_key(session, idempotency_key)
            if existing is not None:
                return _replayed(existing, merchant_id)
    raise RuntimeError("could not draw an unused reference")


def _file_under_lock(session: Session, merchant_id: int, details: ChangeDetails, idempotency_key: str,
                     channel: str, conversation_id: str | None, now: datetime) -> FilingResult:
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return _replayed(existing, merchant_id)
    lock_merchant(session, merchant_id)
    existing = _by_key(session, idempotency_key)  # filed while we waited for the lock
    if existing is not None:
        session.rollback()
        return _replayed(existing, merchant_id)
    signature = use_signature(session, merchant_id, conversation_id, details, now)
    if signature is None:
        session.rollback()
        raise NotSigned()
    owner = session.get(Merchant, merchant_id)
    check = check_merchant(session, owner, now)  # the pre-checks again, under the lock
    if not check.ok:
        session.rollback()  # the signature stays unused
        raise FilingRefused(check.reason, check.details)
    request = _new_request(session, owner, details, idempotency_key, channel, conversation_id, now)
    signature.change_request = request
    session.commit()
    return FilingResult(request, created=True, notice_sent=False)


def _send_notice(session: Session, filed: FilingResult, gateway: SmsGateway | None) -> FilingResult:
    """The notice SMS, after the commit: it never announces a request that was rolled back."""
    request = filed.request
    owner = session.get(Merchant, request.merchant_id)
    notice_sent = _notify(gateway, owner.phone, notice_text(request))
    if not notice_sent:
        audit(session, "bot", "change_request.notice_failed", merchant=owner, change_request=request,
              reference=request.reference)
        session.commit()
    return FilingResult(request, created=True, notice_sent=notice_sent)


def _new_request(
    session: Session,
    merchant: Merchant,
    details: ChangeDetails,
    idempotency_key: str,
    channel: str,
    conversation_id: str | None,
    now: datetime,
) -> ChangeRequest:
    missing = missing_documents(merchant, details)
    notes = _review_notes(merchant, details)
    request = ChangeRequest(
        reference=new_reference(now),
        merchant=merchant,
        status=RequestStatus.AWAITING_DOCUMENTS if missing else RequestStatus.UNDER_REVIEW,
        reason=details.reason,
        bank_code=details.bank_code,
        bank_name=details.bank_name,
        account_number=details.account_number,
        account_name=details.account_name,
        holder_id_number=details.holder_id_number,
        opening_branch=details.opening_branch,
        channel=channel,
        conversation_id=conversation_id,
        needs_manual_review=bool(notes),
        review_notes="\n".join(notes) or None,
        idempotency_key=idempotency_key,
        missing_documents=[document.value for document in missing],
        created_at=now,
        updated_at=now,
        due_at=add_working_days(now, settings.brand().review_days),
    )
    session.add(request)
    audit(
        session,
        f"merchant:{merchant.merchant_number}",
        "change_request.filed",
        merchant=merchant,
        change_request=request,
        occurred_at=now,
        reference=request.reference,
        status=RequestStatus(request.status).value,
        bank_code=details.bank_code,
        card_last4=details.last4,
        holder_id_last4=last4(details.holder_id_number) if details.holder_id_number else None,
        needs_manual_review=bool(notes),
        missing_documents=[document.value for document in missing],
        channel=channel,
        conversation_id=conversation_id,
    )
    session.flush()
    return request


# --- cancelling ------------------------------------------------------------------------------------


class CancelOutcome(str, enum.Enum):
    CANCELLED = "cancelled"
    NOT_FOUND = "not_found"  # no such request of this merchant
    NOT_CANCELLABLE = "not_cancellable"  # approved (switch under way) or already closed


# Approved is left out: the account switch is under way, the merchant calls the hotline instead.
CANCELLABLE_STATUSES = frozenset(
    {RequestStatus.AWAITING_DOCUMENTS, RequestStatus.UNDER_REVIEW, RequestStatus.ESCALATED}
)


@dataclass(frozen=True)
class CancelResult:
    outcome: CancelOutcome
    request: ChangeRequest | None = None


def cancel_request(
    session: Session,
    merchant: Merchant,
    reference: str | None = None,
    *,
    actor: str | None = None,
    gateway: SmsGateway | None = None,
    now: datetime | None = None,
) -> CancelResult:
    """Cancel the merchant's request `reference` (default: their open one); commits, then notifies
    the registered phone. `actor` defaults to the merchant (`agent:<name>` when an agent does it)."""
    now = now or utcnow()
    lock_merchant(session, merchant.id)
    if reference is None:
        request = open_request(session, merchant.id)
    else:
        request = session.execute(
            select(ChangeRequest).where(
                ChangeRequest.reference == reference.strip().upper(), ChangeRequest.merchant_id == merchant.id
            )
        ).scalar_one_or_none()
    if request is None:
        session.rollback()
        return CancelResult(CancelOutcome.NOT_FOUND)
    if RequestStatus(request.status) not in CANCELLABLE_STATUSES:
        session.rollback()
        return CancelResult(CancelOutcome.NOT_CANCELLABLE, request)
    previous = RequestStatus(request.status)
    request.status = RequestStatus.CANCELLED
    request.updated_at = now
    owner = session.get(Merchant, merchant.id)
    audit(
        session,
        actor or f"merchant:{owner.merchant_number}",
        "change_request.cancelled",
        merchant=owner,
        change_request=request,
        occurred_at=now,
        reference=request.reference,
        previous_status=previous.value,
    )
    session.commit()
    _notify(gateway, owner.phone, cancel_text(request))
    return CancelResult(CancelOutcome.CANCELLED, request)
