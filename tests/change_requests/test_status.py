"""Status of a change request, overdue detection and escalation (demo merchant 4 is overdue)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import AuditEvent, RequestStatus
from bot.change_requests.filing import ChangeDetails, Document, file_change_request, new_idempotency_key
from bot.change_requests.status import escalate_if_overdue, request_status

from domain_fixtures import NOW, merchant, signed

OVERDUE = "822100000000004"


def test_demo_overdue_request(demo: Session) -> None:
    view = request_status(demo, merchant(demo, OVERDUE))
    assert view.status is RequestStatus.UNDER_REVIEW and view.status_label == "审核中"
    assert view.overdue and view.working_days_late == 3
    assert view.bank_name == "中国工商银行" and view.card_masked == "****0124"
    assert view.missing_documents == ()
    variables = view.response_variables()
    assert variables["due_date"] == view.due_date_text and variables["reference"] == view.reference
    assert "6222021000000000124" not in repr(view)


def test_escalation_happens_once(demo: Session) -> None:
    owner = merchant(demo, OVERDUE)
    reference = request_status(demo, owner).reference
    assert escalate_if_overdue(demo, owner, reference)
    assert not escalate_if_overdue(demo, owner, reference)
    view = request_status(demo, owner, reference)
    assert view.status is RequestStatus.ESCALATED and view.status_label == "已升级处理"
    events = demo.execute(select(AuditEvent).where(AuditEvent.action == "change_request.escalated")).scalars().all()
    assert len(events) == 1 and events[0].detail["reference"] == reference


def test_lookup_by_reference_is_limited_to_the_merchant(demo: Session) -> None:
    reference = request_status(demo, merchant(demo, OVERDUE)).reference
    other = merchant(demo, "822100000000001")
    assert request_status(demo, other, reference) is None
    assert request_status(demo, other) is None  # no request of their own
    assert not escalate_if_overdue(demo, other, reference)
    typed = reference.lower().replace("-", " ")
    assert request_status(demo, merchant(demo, OVERDUE), typed).reference == reference
    assert request_status(demo, merchant(demo, OVERDUE), "not a reference") is None


def test_fresh_request_is_not_overdue_and_shows_missing_documents(demo: Session) -> None:
    owner = merchant(demo, "822100000000001")
    details = ChangeDetails(reason="原卡丢失", bank_code="ICBC", bank_name="中国工商银行",
                            account_number="6222021000000000124", account_name="张伟",
                            documents=frozenset({Document.ID_FRONT}))
    signed(demo, owner.merchant_number, "c", details, NOW)
    filed = file_change_request(demo, owner, details, new_idempotency_key(), "rest", "c", now=NOW).request
    view = request_status(demo, owner, now=NOW + timedelta(hours=1))
    assert view.reference == filed.reference and view.status is RequestStatus.AWAITING_DOCUMENTS
    assert view.missing_labels == ("身份证国徽面照片", "新结算卡正面照片")
    assert view.response_variables()["missing_documents"] == "身份证国徽面照片、新结算卡正面照片"
    assert view.due_date_text == "2026年11月30日" and not view.overdue
    # Waiting for documents, review has not started: never overdue, never escalated.
    assert not escalate_if_overdue(demo, owner, filed.reference, now=NOW + timedelta(days=30))
