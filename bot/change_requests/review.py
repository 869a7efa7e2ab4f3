"""Reviewing filed change requests (issue 11): the reviewers' queue, what a reviewer sees of one
request, and the decisions.

Transitions (`TRANSITIONS`; any other raises `NotAllowed`, nothing changes):

    decision             from                                        to
    approve              under_review, escalated                     approved
    reject(reason)       under_review, escalated, awaiting_documents rejected
    ask_for_documents    under_review, escalated, awaiting_documents awaiting_documents
    complete             approved                                    completed

- A request still waiting for documents cannot be approved: ask for other ones, or reject it.
- `approved` is the decision, `completed` the switch: the new account becomes the merchant's current
  settlement account (the old one stays on record, no longer current). The acquirer's settlement
  system carries the switch out; the reviewer confirms it in the console (完成切换), which records it
  here. Until then the old card keeps receiving the money and `approved` stays an open status, so
  the merchant cannot file a second change that would race with it (bot.db.models).
- `rejected`, `completed` and `cancelled` are final: no decision on them.
- Asking for documents sets the list still missing (what was missing already, plus the reviewer's);
  the merchant sends them in the chat (bot.change_requests.documents), which puts the request back
  `under_review` once the list is empty. The due date does not move: a request coming back is
  already due, and so first in the queue.

Each decision is one unit of work, under the merchant's lock (a cancel in the merchant's chat waits,
then finds the request decided, and the other way round): the status, `decided_by` / `decided_at`
/ `decision_reason` (a rejection's code, `bot.change_requests.rejections`), an audit event (who,
what, when), the chat message (bot.agents.outbox) when the request was filed in a chat, then the
commit. The SMS to the registered phone (bot.sms.texts) goes after the commit, so a decision rolled
back is never announced; an SMS that fails is audited and the decision stands.

What the merchant reads in the chat is a domain response (`RequestView.response`, the same
sentence that answers 我的申请审核到哪了 afterwards); full card and ID numbers never leave this
module: the checks compare them here and return words.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Optional, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from bot.channel_trust import WEBCHAT, WECHAT
from bot.agents import outbox
from bot.change_requests import status
from bot.change_requests.documents import CONTENT_TYPE_LABELS, OTHER_LABEL, read_upload
from bot.change_requests.filing import Document, same_name
from bot.change_requests.rejections import REJECTION_LABELS, RejectionReason, rejection_reason
from bot.db.locks import lock_merchant
from bot.db.models import (
    AccountKind,
    AuditEvent,
    ChangeRequest,
    Merchant,
    MerchantKind,
    RequestStatus,
    SettlementAccount,
    UploadedDocument,
    audit,
)
from bot.masking import mask_number, redact
from bot.responses import response_text
from bot.sms import texts
from bot.sms.gateway import SmsGateway, gateway_from_env, mask_phone
from bot.validation import bank_card, banks
from bot.validation.errors import Invalid
from bot.workdays import to_local_iso, utcnow

logger = logging.getLogger(__name__)

__all__ = [
    "Decision", "TRANSITIONS", "QUEUE_STATUSES", "REJECTION_REASONS", "RejectionReason", "RequestNotFound",
    "NotAllowed", "QueueRow", "ReviewDetail", "DecisionResult", "queue", "awaiting_switch", "detail", "find",
    "rejection_reason",
    "approve", "reject", "ask_for_documents", "complete", "open_document",
]

# What the reviewers have to decide, shown oldest due date first.
QUEUE_STATUSES = (RequestStatus.UNDER_REVIEW, RequestStatus.ESCALATED, RequestStatus.AWAITING_DOCUMENTS)
REJECTION_REASONS = tuple(RejectionReason)
# The channels that deliver a message nobody asked for (bot.agents.outbox); others get the SMS only.
CHAT_CHANNELS = frozenset({WEBCHAT, WECHAT, "rest"})
NOTE_MAX_CHARS = 200


class Decision(str, enum.Enum):
    APPROVE = "approve"
    REJECT = "reject"
    ASK_FOR_DOCUMENTS = "ask_for_documents"
    COMPLETE = "complete"


_REVIEWABLE = frozenset({RequestStatus.UNDER_REVIEW, RequestStatus.ESCALATED})
TRANSITIONS: dict[Decision, tuple[frozenset[RequestStatus], RequestStatus]] = {
    Decision.APPROVE: (_REVIEWABLE, RequestStatus.APPROVED),
    Decision.REJECT: (_REVIEWABLE | {RequestStatus.AWAITING_DOCUMENTS}, RequestStatus.REJECTED),
    Decision.ASK_FOR_DOCUMENTS: (_REVIEWABLE | {RequestStatus.AWAITING_DOCUMENTS}, RequestStatus.AWAITING_DOCUMENTS),
    Decision.COMPLETE: (frozenset({RequestStatus.APPROVED}), RequestStatus.COMPLETED),
}

# Audit actions of a request, as the reviewer's page names them.
ACTION_LABELS = {
    "change_request.filed": "商户提交申请",
    "change_request.notice_failed": "受理短信发送失败",
    "change_request.document_received": "收到商户材料",
    "change_request.documents_complete": "材料齐全，进入审核",
    "change_request.escalated": "超期升级",
    "change_request.cancelled": "申请已撤销",
    "change_request.approved": "审核通过",
    "change_request.rejected": "审核驳回",
    "change_request.documents_requested": "要求补充材料",
    "change_request.completed": "结算账户已切换",
    "change_request.decision_sms_failed": "审核结果短信发送失败",
    "change_request.document_viewed": "审核员查看材料照片",
    "change_request.decision_refused": "审核操作被拒绝（状态不允许）",
}
# Opening the (masked) page is audited too, but not listed in the page's trail: every reload would.
UNLISTED_ACTIONS = frozenset({"change_request.viewed"})
MERCHANT_KIND_LABELS = {MerchantKind.MICRO: "个人/小微商户", MerchantKind.SOLE_TRADER: "个体工商户",
                        MerchantKind.COMPANY: "企业"}


class RequestNotFound(LookupError):
    pass


class NotAllowed(Exception):
    """This decision is not allowed in the request's status (decided, cancelled, or not ready)."""

    def __init__(self, decision: Decision, current: RequestStatus) -> None:
        super().__init__(f"{decision.value} is not allowed on a request {current.value}")
        self.decision = decision
        self.current = current


def allowed_decisions(current: RequestStatus) -> frozenset[Decision]:
    return frozenset(decision for decision, (sources, _) in TRANSITIONS.items() if current in sources)


# --- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    reference: str
    merchant_masked: str  # ****0001
    merchant_name: str
    bank_name: str
    card_last4: str
    status: RequestStatus
    status_label: str
    due_at: str  # local ISO time
    overdue: bool
    needs_manual_review: bool


def _merchant_name(merchant: Merchant) -> str:
    return merchant.business_name or merchant.legal_person_name


def _queue_rows(session: Session, statuses: Iterable[RequestStatus], now: datetime) -> list[QueueRow]:
    rows = session.execute(
        select(ChangeRequest, Merchant)
        # Lists never need the full numbers: they are not even decrypted.
        .options(defer(ChangeRequest.account_number), defer(ChangeRequest.holder_id_number),
                 defer(Merchant.holder_id_number))
        .join(Merchant, ChangeRequest.merchant_id == Merchant.id)
        .where(ChangeRequest.status.in_([status_.value for status_ in statuses]))
        .order_by(ChangeRequest.due_at, ChangeRequest.id)
    ).all()
    return [
        QueueRow(reference=request.reference, merchant_masked=mask_number(merchant.merchant_number),
                 merchant_name=_merchant_name(merchant), bank_name=request.bank_name, card_last4=request.card_last4,
                 status=RequestStatus(request.status), status_label=RequestStatus(request.status).label,
                 due_at=to_local_iso(request.due_at), overdue=request.is_overdue(now),
                 needs_manual_review=bool(request.needs_manual_review))
        for request, merchant in rows
    ]


def queue(session: Session, now: datetime | None = None) -> list[QueueRow]:
    """Requests waiting for a reviewer (`QUEUE_STATUSES`), oldest due date first."""
    return _queue_rows(session, QUEUE_STATUSES, now or utcnow())


def awaiting_switch(session: Session, now: datetime | None = None) -> list[QueueRow]:
    """Approved requests whose account switch is not confirmed yet, oldest due date first."""
    return _queue_rows(session, (RequestStatus.APPROVED,), now or utcnow())


@dataclass(frozen=True)
class Check:
    """One check the bot made, in the reviewer's words; `ok` None: nothing to check."""

    label: str
    ok: Optional[bool]
    text: str


@dataclass(frozen=True)
class AuditRow:
    occurred_at: str
    actor: str
    action: str
    label: str
    detail: str


@dataclass(frozen=True)
class DocumentRow:
    public_id: str
    label: str
    content_type: str
    content_label: str
    is_image: bool
    size_kb: int
    uploaded_at: str


@dataclass(frozen=True)
class ReviewDetail:
    """Everything the reviewer's page shows of one request: masked, no full number anywhere."""

    reference: str
    status: RequestStatus
    status_label: str
    reason: str  # why the merchant changes the card
    bank_name: str
    card_masked: str  # ****0124
    account_name: str
    holder_id_masked: str  # ****1233, '' when not given
    opening_branch: str
    channel: str
    created_at: str
    due_at: str
    overdue: bool
    needs_manual_review: bool
    missing_documents: tuple[str, ...]  # labels
    decided_by: str
    decided_at: str
    decision_reason: str  # the rejection's label
    merchant_masked: str
    merchant_name: str
    merchant_kind: str
    legal_person_name: str
    licence_code: str
    phone_masked: str
    current_account: str  # 中国农业银行 ****0781
    checks: tuple[Check, ...]
    bot_notes: tuple[str, ...]
    audit_trail: tuple[AuditRow, ...]
    documents: tuple[DocumentRow, ...]
    allowed: frozenset[Decision]


def find(session: Session, reference: str) -> ChangeRequest | None:
    return session.execute(
        select(ChangeRequest).where(ChangeRequest.reference == (reference or "").strip().upper())
    ).scalar_one_or_none()


def _find(session: Session, reference: str) -> ChangeRequest:
    request = find(session, reference)
    if request is None:
        raise RequestNotFound(reference)
    return request


def _checks(request: ChangeRequest, merchant: Merchant) -> tuple[Check, ...]:
    """The bot's checks, redone on the stored values (decrypted here, never returned)."""
    checks = []
    number = request.account_number
    row = bank_card.lookup(number)
    if row is None:
        checks.append(Check("卡BIN与开户行", None, f"卡BIN表中无此账号（对公账户或未收录的卡），请人工核对开户行：{request.bank_name}"))
    else:
        try:
            issuer = banks.bank_name(row.bank)
        except Invalid:
            issuer = row.bank
        card_type = "借记卡" if row.type == bank_card.DEBIT else f"非借记卡（{row.type}）"
        matches = banks.same_bank(row.bank, request.bank_code)
        checks.append(Check("卡BIN与开户行", matches and row.type == bank_card.DEBIT,
                            f"卡BIN识别为{issuer}{card_type}；商户所填开户行：{request.bank_name}"
                            + ("，一致" if matches else "，不一致")))
        if bank_card.luhn_ok(number):
            checks.append(Check("卡号校验位（Luhn）", True, "通过"))
        else:
            checks.append(Check("卡号校验位（Luhn）", False, "未通过；商户两次确认卡号无误，转人工审核"))
    if same_name(merchant, request.account_name):
        checks.append(Check("同名结算", True, f"户名“{request.account_name}”与商户登记的名称一致（同名结算）"))
    else:
        checks.append(Check("同名结算", False, f"非同名结算：户名“{request.account_name}”，商户法人/经营者"
                                              f"“{merchant.legal_person_name}”；需清算授权书"))
    if not request.holder_id_number:
        checks.append(Check("持卡人身份证", None, "未提供"))
    elif request.holder_id_number == merchant.holder_id_number:
        checks.append(Check("持卡人身份证", True, f"与商户登记的身份证一致（{mask_number(request.holder_id_number)}）"))
    else:
        checks.append(Check("持卡人身份证", False, f"与商户登记的身份证（{mask_number(merchant.holder_id_number)}）"
                                                 f"不是同一号码（{mask_number(request.holder_id_number)}）"))
    if MerchantKind(merchant.kind) is MerchantKind.MICRO or not merchant.license_code:
        checks.append(Check("营业执照", None, "小微商户无营业执照，不适用"))
    else:
        # The dialogue files only after the licence number matched the registered one
        # (bot.change_requests.account_holder.check_licence).
        checks.append(Check("营业执照", True, f"对话中已核对与商户登记的统一社会信用代码 {merchant.license_code} 一致"))
    checks.append(Check("人工审核", None, "机器人标记需人工审核" if request.needs_manual_review else "机器人未标记异常"))
    return tuple(checks)


def _detail_text(detail: dict[str, Any] | None) -> str:
    parts = []
    for key, value in (detail or {}).items():
        if value is None or value == [] or value == "":
            continue
        if isinstance(value, list):
            value = "、".join(str(item) for item in value)
        parts.append(f"{key}={value}")
    # Card and ID numbers are masked when written (bot.db.models.audit); merchant numbers are not
    # (in actors and conversation ids): the page masks every long number, as it does the merchant's.
    return redact("；".join(parts))


def _audit_trail(session: Session, request: ChangeRequest) -> tuple[AuditRow, ...]:
    events = session.execute(
        select(AuditEvent).where(AuditEvent.change_request_id == request.id,
                                 AuditEvent.action.not_in(UNLISTED_ACTIONS))
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    ).scalars()
    return tuple(AuditRow(occurred_at=to_local_iso(event.occurred_at), actor=redact(event.actor), action=event.action,
                          label=ACTION_LABELS.get(event.action, event.action), detail=_detail_text(event.detail))
                 for event in events)


def _documents(session: Session, request: ChangeRequest) -> tuple[DocumentRow, ...]:
    rows = session.execute(
        select(UploadedDocument).where(UploadedDocument.change_request_id == request.id)
        .order_by(UploadedDocument.created_at, UploadedDocument.id)
    ).scalars()
    documents = []
    for row in rows:
        kind = _document(row.kind)
        documents.append(DocumentRow(public_id=row.public_id, label=kind.label if kind else OTHER_LABEL,
                                     content_type=row.content_type,
                                     content_label=CONTENT_TYPE_LABELS.get(row.content_type, "文件"),
                                     is_image=row.content_type.startswith("image/"),
                                     size_kb=max(1, round(row.size_bytes / 1024)),
                                     uploaded_at=to_local_iso(row.created_at)))
    return tuple(documents)


def _document(code: str | None) -> Document | None:
    try:
        return Document(code) if code else None
    except ValueError:
        return None


def detail(session: Session, reference: str, now: datetime | None = None) -> ReviewDetail:
    """The reviewer's view of one request; raises RequestNotFound."""
    request = _find(session, reference)
    merchant = session.get(Merchant, request.merchant_id)
    current = RequestStatus(request.status)
    view = status.view(request, merchant, now)
    reason = rejection_reason(request.decision_reason)
    account = merchant.current_account
    return ReviewDetail(
        reference=request.reference, status=current, status_label=current.label, reason=request.reason,
        bank_name=request.bank_name, card_masked=mask_number(request.card_last4), account_name=request.account_name,
        holder_id_masked=mask_number(request.holder_id_last4) if request.holder_id_last4 else "",
        opening_branch=request.opening_branch or "", channel=request.channel,
        created_at=to_local_iso(request.created_at), due_at=to_local_iso(request.due_at), overdue=view.overdue,
        needs_manual_review=bool(request.needs_manual_review), missing_documents=view.missing_labels,
        decided_by=request.decided_by or "", decided_at=to_local_iso(request.decided_at) or "",
        decision_reason=reason.label if reason else "",
        merchant_masked=mask_number(merchant.merchant_number), merchant_name=_merchant_name(merchant),
        merchant_kind=MERCHANT_KIND_LABELS[MerchantKind(merchant.kind)], legal_person_name=merchant.legal_person_name,
        licence_code=merchant.license_code or "", phone_masked=mask_phone(merchant.phone),
        current_account=f"{account.bank_name} {mask_number(account.account_last4)}" if account else "",
        checks=_checks(request, merchant),
        bot_notes=tuple(line for line in (request.review_notes or "").splitlines() if line.strip()),
        audit_trail=_audit_trail(session, request), documents=_documents(session, request),
        allowed=allowed_decisions(current),
    )


def open_document(session: Session, reference: str, public_id: str, reviewer: str) -> tuple[UploadedDocument, bytes]:
    """A document photo of this request, decrypted for a reviewer; the view is audited (commits).
    Raises RequestNotFound (also for a document of another request)."""
    request = _find(session, reference)
    document = session.execute(
        select(UploadedDocument).where(UploadedDocument.public_id == public_id,
                                       UploadedDocument.change_request_id == request.id)
    ).scalar_one_or_none()
    if document is None:
        raise RequestNotFound(f"{reference}/{public_id}")
    data = read_upload(document)
    audit(session, _actor(reviewer), "change_request.document_viewed", merchant=request.merchant,
          change_request=request, reference=request.reference, document=public_id, kind=document.kind)
    session.commit()
    return document, data


# --- deciding --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionResult:
    request: ChangeRequest
    sms_sent: bool
    chat_posted: bool  # a message was queued for the chat the request was filed in


def _actor(reviewer: str) -> str:
    return f"staff:{reviewer}"


def _begin(session: Session, reference: str, decision: Decision) -> tuple[ChangeRequest, Merchant, RequestStatus]:
    """The request, under its merchant's lock, re-read; raises NotAllowed (rolled back) when the
    decision does not apply to its status now."""
    request = _find(session, reference)
    lock_merchant(session, request.merchant_id)
    session.refresh(request)  # what another reviewer or the merchant committed before the lock
    current = RequestStatus(request.status)
    if current not in TRANSITIONS[decision][0]:
        session.rollback()
        raise NotAllowed(decision, current)
    return request, session.get(Merchant, request.merchant_id), current


def _decided(request: ChangeRequest, decision: Decision, reviewer: str, now: datetime,
             reason: RejectionReason | None = None) -> None:
    request.status = TRANSITIONS[decision][1]
    request.updated_at = now
    if decision is not Decision.COMPLETE:  # the switch is not a decision: who decided stays on record
        request.decided_by = reviewer
        request.decided_at = now
        request.decision_reason = reason.value if reason else None


def _post_to_chat(session: Session, request: ChangeRequest, merchant: Merchant, response: str,
                  now: datetime) -> bool:
    if not request.conversation_id or request.channel not in CHAT_CHANNELS:
        return False
    variables = status.view(request, merchant, now).response_variables()
    outbox.post(session, request.conversation_id, request.channel, response_text(response, **variables), now=now)
    return True


def _finish(session: Session, request: ChangeRequest, merchant: Merchant, reviewer: str, action: str,
            response: str, sms_text: str, gateway: SmsGateway | None, now: datetime, **detail: Any) -> DecisionResult:
    """Audit, the chat message, commit; then the SMS (a failure audited, not raised)."""
    audit(session, _actor(reviewer), action, merchant=merchant, change_request=request, occurred_at=now,
          reference=request.reference, **detail)
    posted = _post_to_chat(session, request, merchant, response, now)
    session.commit()
    try:
        (gateway or gateway_from_env()).send(merchant.phone, sms_text)
        sent = True
    except Exception as error:  # noqa: BLE001 - any provider error means "not sent"
        logger.exception("decision SMS to %s not sent", mask_phone(merchant.phone))
        audit(session, "bot", "change_request.decision_sms_failed", merchant=merchant, change_request=request,
              reference=request.reference, decision=action, error=type(error).__name__)
        session.commit()
        sent = False
    return DecisionResult(request, sms_sent=sent, chat_posted=posted)


def _note(note: str | None) -> str | None:
    note = (note or "").strip()
    return note[:NOTE_MAX_CHARS] or None


def approve(session: Session, reference: str, reviewer: str, *, note: str | None = None,
            gateway: SmsGateway | None = None, now: datetime | None = None) -> DecisionResult:
    """under_review / escalated -> approved. Raises RequestNotFound, NotAllowed."""
    now = now or utcnow()
    request, merchant, previous = _begin(session, reference, Decision.APPROVE)
    _decided(request, Decision.APPROVE, reviewer, now)
    return _finish(session, request, merchant, reviewer, "change_request.approved", "utter_status_approved",
                   texts.approved_text(request), gateway, now, previous_status=previous.value, note=_note(note))


def reject(session: Session, reference: str, reviewer: str, reason: RejectionReason | str, *,
           note: str | None = None, gateway: SmsGateway | None = None, now: datetime | None = None) -> DecisionResult:
    """-> rejected with a reason of the fixed list (ValueError for another). `note` is for the
    audit trail only: the merchant reads the reason's label and next step."""
    reason = RejectionReason(reason)
    now = now or utcnow()
    request, merchant, previous = _begin(session, reference, Decision.REJECT)
    _decided(request, Decision.REJECT, reviewer, now, reason)
    return _finish(session, request, merchant, reviewer, "change_request.rejected", "utter_status_rejected",
                   texts.rejected_text(request, reason), gateway, now, previous_status=previous.value,
                   reason=reason.value, note=_note(note))


def ask_for_documents(session: Session, reference: str, reviewer: str, documents: Sequence[Document | str], *,
                      note: str | None = None, gateway: SmsGateway | None = None,
                      now: datetime | None = None) -> DecisionResult:
    """-> awaiting_documents, these documents added to those still missing (ValueError: none, or
    an unknown one)."""
    asked = tuple(dict.fromkeys(Document(document) for document in documents))
    if not asked:
        raise ValueError("name at least one document")
    now = now or utcnow()
    request, merchant, previous = _begin(session, reference, Decision.ASK_FOR_DOCUMENTS)
    missing = list(request.missing_documents or []) if previous is RequestStatus.AWAITING_DOCUMENTS else []
    missing += [document.value for document in asked if document.value not in missing]
    request.missing_documents = missing  # a new list: SQLAlchemy sees the change of a JSON column
    _decided(request, Decision.ASK_FOR_DOCUMENTS, reviewer, now)
    return _finish(session, request, merchant, reviewer, "change_request.documents_requested",
                   "utter_review_documents_requested",
                   texts.documents_requested_text(request, [Document(code) for code in missing]), gateway, now,
                   previous_status=previous.value, documents=[document.value for document in asked],
                   missing_documents=missing, note=_note(note))


def complete(session: Session, reference: str, reviewer: str, *, gateway: SmsGateway | None = None,
             now: datetime | None = None) -> DecisionResult:
    """approved -> completed: the new account becomes the current settlement account."""
    now = now or utcnow()
    request, merchant, previous = _begin(session, reference, Decision.COMPLETE)
    old = merchant.current_account
    if old is not None:
        old.is_current = False
    session.flush()  # one current account at any moment
    merchant.accounts.append(SettlementAccount(
        bank_code=request.bank_code, bank_name=request.bank_name, account_kind=_account_kind(request),
        account_number=request.account_number, holder_name=request.account_name, is_current=True, created_at=now))
    _decided(request, Decision.COMPLETE, reviewer, now)
    return _finish(session, request, merchant, reviewer, "change_request.completed", "utter_status_completed",
                   texts.completed_text(request), gateway, now, previous_status=previous.value,
                   old_account_last4=old.account_last4 if old else None, new_account_last4=request.card_last4)


def _account_kind(request: ChangeRequest) -> AccountKind:
    """A card the BIN table knows is a debit card (only those pass filing); anything else is a
    corporate account number (对公账户)."""
    return AccountKind.DEBIT_CARD if bank_card.lookup(request.account_number) else AccountKind.CORPORATE_ACCOUNT


REJECTION_CHOICES = tuple((reason.value, REJECTION_LABELS[reason], reason.next_step) for reason in RejectionReason)
DOCUMENT_CHOICES = tuple((document.value, document.label) for document in Document)
