"""What became of a merchant's change request (CONVERSATION.md §3 step 10, §4 "no answer long
after submitting").

`request_status` finds the request by reference (the merchant's own only: another merchant's
reference is "not found") or the merchant's latest, and returns a `RequestView`: status and its
Chinese label, the documents still missing, the expected date, and whether review is overdue
(past `due_at` and still under review); once a reviewer decided (bot.change_requests.review), the
decision's date and, for a rejection, the reason and what to do next. `RequestView.response`
names the domain response that tells it. `escalate_if_overdue` then marks an overdue request
`escalated`, once (audited); the bot apologises and offers a human agent.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db.models import ChangeRequest, Merchant, RequestStatus, audit
from bot.change_requests.filing import ChangeDetails, Document, required_documents
from bot.change_requests.rejections import RejectionReason, rejection_reason
from bot.masking import mask_number
from bot.validation.errors import Invalid
from bot.validation.identifiers import validate_request_id
from bot.workdays import LOCAL_TZ, utcnow, working_days_between


@dataclass(frozen=True)
class RequestView:
    """A request as the bot may show it: last four digits only."""

    reference: str
    status: RequestStatus
    status_label: str
    bank_name: str
    card_last4: str
    card_masked: str  # ****0124
    account_name: str
    created_at: datetime
    due_at: datetime
    due_date: date  # local (China) date
    missing_documents: tuple[Document, ...]
    overdue: bool
    working_days_late: int  # 0 unless overdue
    needs_manual_review: bool
    decided_at: datetime | None = None  # the reviewer's last decision
    rejection: RejectionReason | None = None  # rejected: why
    updated_at: datetime | None = None  # completed: when the account was switched

    @property
    def due_date_text(self) -> str:
        return _date_text(self.due_date)

    @property
    def response(self) -> str:
        """The domain response that tells this status (variables: `response_variables`)."""
        return DECIDED_RESPONSES.get(self.status, "utter_status")

    @property
    def missing_labels(self) -> tuple[str, ...]:
        return tuple(document.label for document in self.missing_documents)

    def response_variables(self) -> dict[str, str]:
        """Strings for the domain responses (`{reference}`, `{status_label}`, `{due_date}` ...)."""
        return {
            "reference": self.reference,
            "status": self.status.value,
            "status_label": self.status_label,
            "bank_name": self.bank_name,
            "card_last4": self.card_last4,
            "due_date": self.due_date_text,
            "missing_documents": "、".join(self.missing_labels),
            "bank": self.bank_name,
            "last4": self.card_last4,
            "decided_date": _date_text(_local_date(self.decided_at)),
            "completed_date": _date_text(_local_date(self.updated_at)),
            "rejection_reason": self.rejection.label if self.rejection else "",
            "next_step": self.rejection.next_step if self.rejection else "",
        }


# A decided request is told by a response of its own; every other status by `utter_status`, with
# `utter_status_missing` and `utter_status_overdue` after it when they apply.
DECIDED_RESPONSES = {
    RequestStatus.APPROVED: "utter_status_approved",
    RequestStatus.REJECTED: "utter_status_rejected",
    RequestStatus.COMPLETED: "utter_status_completed",
}


def _local_date(moment: datetime | None) -> date | None:
    return moment.astimezone(LOCAL_TZ).date() if moment else None


def _date_text(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else ""


def _missing(merchant: Merchant, request: ChangeRequest) -> tuple[Document, ...]:
    if RequestStatus(request.status) is not RequestStatus.AWAITING_DOCUMENTS:
        return ()
    if request.missing_documents is not None:
        return tuple(Document(code) for code in request.missing_documents)
    # Filed before the list was recorded: everything the rules require.
    details = ChangeDetails(reason=request.reason, bank_code=request.bank_code, bank_name=request.bank_name,
                            account_number=request.card_last4, account_name=request.account_name)
    return required_documents(merchant, details)


def view(request: ChangeRequest, merchant: Merchant, now: datetime | None = None) -> RequestView:
    now = now or utcnow()
    status = RequestStatus(request.status)
    overdue = request.is_overdue(now)
    return RequestView(
        reference=request.reference,
        status=status,
        status_label=status.label,
        bank_name=request.bank_name,
        card_last4=request.card_last4,
        card_masked=mask_number(request.card_last4),
        account_name=request.account_name,
        created_at=request.created_at,
        due_at=request.due_at,
        due_date=request.due_at.astimezone(LOCAL_TZ).date(),
        missing_documents=_missing(merchant, request),
        overdue=overdue,
        working_days_late=max(working_days_between(request.due_at, now), 0) if overdue else 0,
        needs_manual_review=bool(request.needs_manual_review),
        decided_at=request.decided_at,
        rejection=rejection_reason(request.decision_reason) if status is RequestStatus.REJECTED else None,
        updated_at=request.updated_at,
    )


def find_request(session: Session, merchant: Merchant, reference: str | None = None) -> ChangeRequest | None:
    """The merchant's request with this reference (typed forms accepted), else their latest one."""
    query = select(ChangeRequest).where(ChangeRequest.merchant_id == merchant.id)
    if reference is not None:
        try:
            reference = validate_request_id(reference)
        except Invalid:
            return None
        query = query.where(ChangeRequest.reference == reference)
    query = query.order_by(ChangeRequest.created_at.desc(), ChangeRequest.id.desc()).limit(1)
    return session.execute(query).scalar_one_or_none()


def request_status(
    session: Session, merchant: Merchant, reference: str | None = None, *, now: datetime | None = None
) -> RequestView | None:
    """The view of the merchant's request (by reference, or the latest); None when there is none."""
    request = find_request(session, merchant, reference)
    return None if request is None else view(request, merchant, now)


def escalate_if_overdue(
    session: Session, merchant: Merchant, reference: str, *, actor: str = "bot", now: datetime | None = None
) -> bool:
    """Mark the merchant's overdue request `escalated`; True only the first time (commits then).

    The status change is one conditional UPDATE, so two processes escalating at once escalate once.
    """
    now = now or utcnow()
    request = find_request(session, merchant, reference)
    if request is None or RequestStatus(request.status) is not RequestStatus.UNDER_REVIEW:
        return False
    if not request.is_overdue(now):
        return False
    table = ChangeRequest.__table__
    changed = session.execute(
        update(table)
        .where(table.c.id == request.id, table.c.status == RequestStatus.UNDER_REVIEW.value)
        .values(status=RequestStatus.ESCALATED.value, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        session.rollback()
        return False
    audit(
        session,
        actor,
        "change_request.escalated",
        merchant=session.get(Merchant, merchant.id),
        change_request=request,
        occurred_at=now,
        reference=request.reference,
        due_at=request.due_at.astimezone(LOCAL_TZ).isoformat(),
        working_days_late=max(working_days_between(request.due_at, now), 0),
    )
    session.commit()
    session.refresh(request)
    return True
