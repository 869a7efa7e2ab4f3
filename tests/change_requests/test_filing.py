"""Filing and cancelling change requests (SQLite; PostgreSQL too when TEST_POSTGRES_URL is set)."""
from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.change_requests import filing
from bot.db.engine import session_factory
from bot.db.models import AuditEvent, ChangeRequest, RequestStatus
from bot.change_requests.filing import (
    CancelOutcome,
    ChangeDetails,
    Document,
    FilingRefused,
    cancel_request,
    file_change_request,
    new_idempotency_key,
)
from bot.change_requests.prechecks import PrecheckReason
from bot.workdays import LOCAL_TZ, add_working_days

from domain_fixtures import DEMO_SECRETS, NOW, Outbox, merchant, signed

REFERENCE = re.compile(r"^CR\d{8}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}$")
SIX_DIGIT_RUN = re.compile(r"(?<!\d)\d{6}(?!\d)")
ALL_PHOTOS = frozenset({Document.ID_FRONT, Document.ID_BACK, Document.CARD_FRONT})
DETAILS = ChangeDetails(
    reason="原卡丢失",
    bank_code="ICBC",
    bank_name="中国工商银行",
    account_number="6222021000000000124",
    account_name="张伟",
    holder_id_number="310101198503171233",
    opening_branch="上海分行营业部",
    documents=ALL_PHOTOS,
)


@pytest.fixture
def db_url(multi_db_url: str) -> str:
    return multi_db_url


def file(session: Session, number: str = "822100000000001", details: ChangeDetails = DETAILS, key: str | None = None,
         at: datetime = NOW, **kwargs):
    """File as the conversation does: signed with a code first (bot.codes.signatures), then filed."""
    signed(session, number, "conv-1", details, at)
    return file_change_request(session, merchant(session, number), details, key or new_idempotency_key(), "rest",
                               "conv-1", now=at, **kwargs)


def count_requests(session: Session, number: str = "822100000000001") -> int:
    return session.execute(
        select(func.count(ChangeRequest.id)).where(ChangeRequest.merchant_id == merchant(session, number).id)
    ).scalar_one()


def test_filing_stores_the_request_with_reference_due_date_audit_and_notice(demo: Session, outbox: Outbox) -> None:
    result = file(demo)
    request = result.request
    assert result.created and result.notice_sent
    assert REFERENCE.match(request.reference) and request.reference.startswith("CR20261125-")
    assert request.status is RequestStatus.UNDER_REVIEW
    assert request.card_last4 == "0124" and request.holder_id_last4 == "1233"
    assert request.account_number == DETAILS.account_number  # decrypted for those allowed to see it
    assert not request.needs_manual_review and request.missing_documents == []
    assert request.due_at == add_working_days(NOW, 3) and request.channel == "rest"

    event = demo.execute(
        select(AuditEvent).where(AuditEvent.action == "change_request.filed",
                                 AuditEvent.change_request_id == request.id)
    ).scalar_one()
    assert event.actor == "merchant:822100000000001"
    assert event.detail["reference"] == request.reference and event.detail["card_last4"] == "0124"

    notice = outbox.last()
    assert notice["to"] == "13800000001"
    assert notice["text"] == (
        f"【结算助手】已受理您的结算卡变更申请，编号{request.reference}，新卡中国工商银行尾号0124，"
        "预计2026年11月30日前完成审核。如非本人操作请立即致电400-000-0000。"
    )
    assert not SIX_DIGIT_RUN.search(notice["text"])  # codes are read from the outbox by that rule


def test_reference_uses_the_china_date(demo: Session) -> None:
    late_evening_utc = datetime(2026, 11, 25, 17, 0, tzinfo=timezone.utc)  # 01:00 on the 26th in China
    assert file(demo, at=late_evening_utc).reference.startswith("CR20261126-")


def test_no_full_number_in_the_stored_rows(demo: Session) -> None:
    file(demo)
    dump = repr([demo.execute(text(f"SELECT * FROM {table}")).all() for table in ("change_requests", "audit_events")])
    assert not [secret for secret in DEMO_SECRETS if secret in dump]


def test_missing_photos_file_as_awaiting_documents(demo: Session, outbox: Outbox) -> None:
    details = ChangeDetails(**{**DETAILS.__dict__, "documents": frozenset()})
    request = file(demo, details=details).request
    assert request.status is RequestStatus.AWAITING_DOCUMENTS
    assert request.missing_documents == ["id_front", "id_back", "card_front"]
    assert "请按客服提示补充材料" in outbox.last()["text"]


def test_sole_trader_needs_the_licence_photo(demo: Session) -> None:
    details = ChangeDetails(**{**DETAILS.__dict__, "account_name": "李娜", "bank_code": "CCB", "bank_name": "中国建设银行",
                               "account_number": "6227002000000000522"})
    request = file(demo, "822100000000002", details=details).request
    assert request.missing_documents == ["licence"] and request.status is RequestStatus.AWAITING_DOCUMENTS


def test_different_name_goes_to_manual_review_with_an_authorisation_letter(demo: Session) -> None:
    details = ChangeDetails(**{**DETAILS.__dict__, "account_name": "王芳"})
    request = file(demo, details=details).request
    assert request.needs_manual_review
    assert "非同名" in request.review_notes
    assert request.missing_documents == ["authorisation_letter"]
    assert request.status is RequestStatus.AWAITING_DOCUMENTS


def test_confirmed_luhn_failure_goes_to_manual_review(demo: Session) -> None:
    details = ChangeDetails(**{**DETAILS.__dict__, "account_number": "6222021000000000125", "luhn_confirmed": True})
    request = file(demo, details=details).request
    assert request.needs_manual_review and "Luhn" in request.review_notes
    assert request.status is RequestStatus.UNDER_REVIEW


def test_the_same_key_files_once(demo: Session, outbox: Outbox) -> None:
    key = new_idempotency_key()
    first = file(demo, key=key)
    second = file(demo, key=key, at=NOW + timedelta(seconds=3))
    assert first.created and not second.created
    assert second.reference == first.reference
    assert count_requests(demo) == 1
    assert len(outbox.messages()) == 1
    filed = demo.execute(select(func.count(AuditEvent.id)).where(AuditEvent.action == "change_request.filed",
                                                                 AuditEvent.change_request_id == first.request.id))
    assert filed.scalar_one() == 1


def test_racing_submissions_with_one_key_file_once(demo: Session, engine: Engine, outbox: Outbox) -> None:
    key = new_idempotency_key()
    factory = session_factory(engine)
    start = threading.Barrier(4)
    results, errors = [], []

    def submit() -> None:
        with factory() as session:
            start.wait()
            try:
                results.append(file(session, key=key))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len({result.reference for result in results}) == 1
    assert sum(result.created for result in results) == 1
    demo.expire_all()
    assert count_requests(demo) == 1
    assert len(outbox.messages()) == 1


def test_racing_submissions_with_different_keys_file_one_request(demo: Session, engine: Engine) -> None:
    # Two conversations of one merchant: the open-request rule holds under the merchant's lock.
    factory = session_factory(engine)
    start = threading.Barrier(3)
    outcomes = []

    def submit() -> None:
        with factory() as session:
            start.wait()
            try:
                outcomes.append(file(session).created)
            except FilingRefused as refused:
                outcomes.append(refused.reason)

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes.count(True) == 1 and outcomes.count(PrecheckReason.OPEN_REQUEST) == 2
    demo.expire_all()
    assert count_requests(demo) == 1


def test_a_key_of_another_merchant_is_refused(demo: Session) -> None:
    key = new_idempotency_key()
    file(demo, key=key)
    with pytest.raises(ValueError):
        file(demo, "822100000000006", key=key)


@pytest.mark.parametrize(
    ("number", "reason"),
    [("822100000000005", PrecheckReason.TERMINAL_INACTIVE), ("822100000000004", PrecheckReason.OPEN_REQUEST)],
)
def test_filing_runs_the_prechecks(demo: Session, outbox: Outbox, number: str, reason: PrecheckReason) -> None:
    before = count_requests(demo, number)
    with pytest.raises(FilingRefused) as refused:
        file(demo, number)
    assert refused.value.reason is reason
    assert count_requests(demo, number) == before and outbox.messages() == []


def test_filing_respects_the_daily_limit(demo: Session) -> None:
    owner = merchant(demo, "822100000000001")
    for minute in range(5):
        result = file(demo, at=NOW + timedelta(minutes=minute))
        cancelled = cancel_request(demo, owner, result.reference, now=NOW + timedelta(minutes=minute))
        assert cancelled.outcome is CancelOutcome.CANCELLED
    with pytest.raises(FilingRefused) as refused:
        file(demo, at=NOW + timedelta(minutes=6))
    assert refused.value.reason is PrecheckReason.DAILY_LIMIT
    next_day = datetime(2026, 11, 25, 16, 0, tzinfo=timezone.utc)  # 00:00 on the 26th in China
    assert file(demo, at=next_day).created


def test_a_reference_collision_draws_again(demo: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = file(demo).reference
    cancel_request(demo, merchant(demo, "822100000000001"), taken)
    drawn = iter([taken, "CR20261125-ABCD"])
    monkeypatch.setattr(filing, "new_reference", lambda now: next(drawn))
    assert file(demo).reference == "CR20261125-ABCD"


def test_a_failed_notice_does_not_undo_the_filing(demo: Session) -> None:
    class Broken:
        def send(self, to: str, text: str) -> None:
            raise ConnectionError("provider down")

    result = file(demo, gateway=Broken())
    assert result.created and not result.notice_sent
    assert demo.execute(select(AuditEvent).where(AuditEvent.action == "change_request.notice_failed")).scalar_one()


def test_cancel_request(demo: Session, outbox: Outbox) -> None:
    owner = merchant(demo, "822100000000001")
    assert cancel_request(demo, owner).outcome is CancelOutcome.NOT_FOUND
    reference = file(demo).reference
    other = merchant(demo, "822100000000006")
    assert cancel_request(demo, other, reference).outcome is CancelOutcome.NOT_FOUND  # not theirs

    result = cancel_request(demo, owner, reference.lower(), now=NOW + timedelta(minutes=1))
    assert result.outcome is CancelOutcome.CANCELLED and result.request.status is RequestStatus.CANCELLED
    assert outbox.last()["to"] == "13800000001" and reference in outbox.last()["text"]
    assert demo.execute(select(AuditEvent).where(AuditEvent.action == "change_request.cancelled")).scalar_one()
    assert cancel_request(demo, owner, reference).outcome is CancelOutcome.NOT_CANCELLABLE


def test_an_approved_request_is_not_cancelled(demo: Session) -> None:
    request = file(demo).request
    request.status = RequestStatus.APPROVED
    demo.commit()
    assert cancel_request(demo, merchant(demo, "822100000000001")).outcome is CancelOutcome.NOT_CANCELLABLE


def test_details_repr_hides_the_numbers() -> None:
    assert "6222021000000000124" not in repr(DETAILS) and "310101198503171233" not in repr(DETAILS)
    assert DETAILS.last4 == "0124"


def test_due_date_counts_working_days_in_china(demo: Session) -> None:
    friday_evening = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)  # Friday 20:00 in China
    request = file(demo, at=friday_evening).request
    assert request.due_at.astimezone(LOCAL_TZ).date().isoformat() == "2026-12-02"  # Wed


def test_the_unique_key_catches_what_the_lookup_missed(demo: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # The lookups before the insert miss (as a concurrent insert not yet visible would): the unique
    # constraint refuses the second row and the winner is returned.
    key = new_idempotency_key()
    first = file(demo, key=key)
    cancel_request(demo, merchant(demo, "822100000000001"), first.reference)  # so the pre-checks pass
    real = filing._by_key
    calls = []

    def missing_twice(session: Session, k: str):
        calls.append(k)
        return None if len(calls) <= 2 else real(session, k)

    monkeypatch.setattr(filing, "_by_key", missing_twice)
    again = file(demo, key=key)
    assert len(calls) == 3
    assert not again.created and again.reference == first.reference
    assert count_requests(demo) == 1
