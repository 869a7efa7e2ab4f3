"""Reviewers' decisions on filed change requests: the queue, the allowed transitions, the audit rows,
the SMS and chat messages, what the merchant's status answer says afterwards (SQLite; PostgreSQL
too when TEST_POSTGRES_URL is set)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.agents import outbox as chat_outbox
from bot.change_requests import documents, review, status
from bot.change_requests.filing import ChangeDetails, Document, cancel_request, file_change_request, new_idempotency_key
from bot.change_requests.review import Decision, NotAllowed, RejectionReason, RequestNotFound
from bot.db.models import AuditEvent, ChangeRequest, OutboundMessage, RequestStatus
from bot.responses import response_text

from domain_fixtures import DEMO_SECRETS, NOW, Outbox, merchant, signed

ALL_PHOTOS = frozenset({Document.ID_FRONT, Document.ID_BACK, Document.CARD_FRONT})
DETAILS = ChangeDetails(reason="原卡丢失", bank_code="ICBC", bank_name="中国工商银行",
                        account_number="6222021000000000124", account_name="张伟",
                        holder_id_number="310101198503171233", opening_branch="上海分行营业部", documents=ALL_PHOTOS)
LATER = NOW + timedelta(hours=20)  # 2026-11-26 17:30 in China
MERCHANT_1, MERCHANT_6 = "822100000000001", "822100000000006"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def db_url(multi_db_url: str) -> str:
    return multi_db_url


def file(session: Session, number: str = MERCHANT_1, details: ChangeDetails = DETAILS, channel: str = "rest",
         conversation: str | None = "conv-1") -> ChangeRequest:
    signed(session, number, conversation or "conv-unsigned", details, NOW)
    request = file_change_request(session, merchant(session, number), details, new_idempotency_key(), channel,
                                  conversation or "conv-unsigned", now=NOW).request
    if conversation is None:  # as one filed outside a chat would be (an agent's)
        request.conversation_id = None
        session.commit()
    return request


def events(session: Session, request: ChangeRequest, action: str) -> list[AuditEvent]:
    return list(session.execute(
        select(AuditEvent).where(AuditEvent.change_request_id == request.id, AuditEvent.action == action)
    ).scalars())


def chat_messages(session: Session, conversation: str = "conv-1") -> list[OutboundMessage]:
    return list(session.execute(
        select(OutboundMessage).where(OutboundMessage.conversation_id == conversation).order_by(OutboundMessage.id)
    ).scalars())


def status_answer(session: Session, number: str = MERCHANT_1) -> str:
    """What the bot answers to 我的申请审核到哪了 (actions/flow.py tell_status), as text."""
    found = status.request_status(session, merchant(session, number), now=LATER)
    return response_text(found.response, **found.response_variables())


# --- the queue -------------------------------------------------------------------------------------


def test_the_queue_holds_what_waits_for_a_reviewer_oldest_due_first(demo: Session) -> None:
    waiting = file(demo)
    missing = file(demo, MERCHANT_6, ChangeDetails(**{**DETAILS.__dict__, "account_name": "刘洋",
                                                      "documents": frozenset()}))
    approved = file(demo, "822100000000007", ChangeDetails(**{**DETAILS.__dict__, "account_name": "孙丽"}))
    review.approve(demo, approved.reference, "alice", now=LATER)

    rows = review.queue(demo)
    references = [row.reference for row in rows]
    # Oldest due first. Merchant 4's demo request is overdue (filed six working days before the
    # seed ran, while this test files at its fixed NOW): in the queue, and in red.
    assert [row.due_at for row in rows] == sorted(row.due_at for row in rows)
    overdue = [row for row in rows if row.merchant_masked == "****0004"]
    assert len(overdue) == 1 and overdue[0].overdue and overdue[0].status is RequestStatus.UNDER_REVIEW
    assert set(references) == {overdue[0].reference, waiting.reference, missing.reference}
    assert approved.reference not in references
    assert [row.reference for row in review.awaiting_switch(demo)] == [approved.reference]
    row = next(row for row in rows if row.reference == waiting.reference)
    assert (row.merchant_masked, row.merchant_name, row.bank_name, row.card_last4, row.status_label) == (
        "****0001", "张伟", "中国工商银行", "0124", "审核中")
    assert not [secret for secret in DEMO_SECRETS if secret in repr(rows)]


# --- approve ---------------------------------------------------------------------------------------


def test_approve_moves_the_status_audits_sends_the_sms_and_tells_the_chat(demo: Session, outbox: Outbox) -> None:
    request = file(demo)
    result = review.approve(demo, request.reference, "alice", now=LATER)

    demo.expire_all()
    request = demo.get(ChangeRequest, request.id)
    assert request.status is RequestStatus.APPROVED and request.is_open  # the switch is still to come
    assert (request.decided_by, request.decided_at, request.decision_reason) == ("alice", LATER, None)
    [event] = events(demo, request, "change_request.approved")
    assert event.actor == "staff:alice" and event.occurred_at == LATER
    assert event.detail["reference"] == request.reference and event.detail["previous_status"] == "under_review"

    assert result.sms_sent and result.chat_posted
    assert outbox.last() == {**outbox.last(), "to": "13800000001", "text": (
        f"【结算助手】您的结算卡变更申请{request.reference}已审核通过，新卡中国工商银行尾号0124将在账户切换完成后生效，"
        "届时另行短信通知。如非本人操作请立即致电400-000-0000。")}
    [message] = chat_messages(demo)
    assert message.channel == "rest" and message.author_name is None and message.delivered_at is None
    assert message.text == (
        f"您的申请 {request.reference}（新卡 中国工商银行 尾号0124）已于 2026年11月26日 审核通过。"
        "新卡在结算账户切换完成后生效，届时会短信通知您；在此之前，交易款项仍结算至原卡。")
    assert [m.text for m in chat_outbox.take_for_conversation(demo, "conv-1")] == [message.text]  # REST delivers it
    assert status_answer(demo) == message.text  # 我的申请审核到哪了 says the same


def test_an_escalated_request_can_be_approved(demo: Session) -> None:
    overdue = review.queue(demo)[0]
    status.escalate_if_overdue(demo, merchant(demo, "822100000000004"), overdue.reference)
    assert review.approve(demo, overdue.reference, "alice").request.status is RequestStatus.APPROVED


# --- reject ----------------------------------------------------------------------------------------


def test_reject_with_a_reason_of_the_list(demo: Session, outbox: Outbox) -> None:
    request = file(demo)
    result = review.reject(demo, request.reference, "bob", RejectionReason.CARD_ABNORMAL, note="银行反馈卡已冻结",
                           now=LATER)

    demo.expire_all()
    request = demo.get(ChangeRequest, request.id)
    assert request.status is RequestStatus.REJECTED and not request.is_open
    assert (request.decided_by, request.decision_reason) == ("bob", "card_abnormal")
    [event] = events(demo, request, "change_request.rejected")
    assert event.actor == "staff:bob" and event.detail["reason"] == "card_abnormal"
    assert event.detail["note"] == "银行反馈卡已冻结"  # for the audit trail only

    assert result.sms_sent and outbox.last()["to"] == "13800000001"
    assert outbox.last()["text"] == (
        f"【结算助手】您的结算卡变更申请{request.reference}未通过审核，原因：银行卡状态异常。"
        "请向开户银行确认该卡状态正常后重新申请，或更换其他银行卡。原结算卡继续有效，如有疑问请致电400-000-0000。")
    [message] = chat_messages(demo)
    assert "银行卡状态异常" in message.text and "请向开户银行确认该卡状态正常后重新申请" in message.text
    assert "银行反馈卡已冻结" not in message.text + outbox.last()["text"]
    answer = status_answer(demo)
    assert answer == message.text
    assert "未通过审核，原因：银行卡状态异常。请向开户银行确认" in answer and "原结算卡继续有效" in answer


@pytest.mark.parametrize("reason", list(RejectionReason))
def test_every_reason_has_a_label_and_a_next_step(demo: Session, reason: RejectionReason, outbox: Outbox) -> None:
    request = file(demo)
    review.reject(demo, request.reference, "bob", reason.value)
    assert f"原因：{reason.label}。{reason.next_step}" in outbox.last()["text"]
    assert f"原因：{reason.label}。{reason.next_step}" in status_answer(demo)


def test_a_reason_outside_the_list_is_refused(demo: Session) -> None:
    request = file(demo)
    with pytest.raises(ValueError):
        review.reject(demo, request.reference, "bob", "looks_odd")
    assert demo.get(ChangeRequest, request.id).status is RequestStatus.UNDER_REVIEW


# --- more documents --------------------------------------------------------------------------------


def test_ask_for_documents_then_the_merchant_sends_them_and_review_goes_on(demo: Session, outbox: Outbox) -> None:
    request = file(demo, channel="webchat", conversation="webchat-822100000000001")
    review.ask_for_documents(demo, request.reference, "alice", [Document.CARD_FRONT], now=LATER)

    demo.expire_all()
    request = demo.get(ChangeRequest, request.id)
    assert request.status is RequestStatus.AWAITING_DOCUMENTS and request.missing_documents == ["card_front"]
    assert request.decided_by == "alice"
    [event] = events(demo, request, "change_request.documents_requested")
    assert event.detail["documents"] == ["card_front"] and event.actor == "staff:alice"
    assert outbox.last()["text"] == (
        f"【结算助手】您的结算卡变更申请{request.reference}需补充材料：新结算卡正面照片。请通过在线客服发送，"
        "材料齐全后继续审核。如非本人操作请立即致电400-000-0000。")
    [message] = chat_messages(demo, "webchat-822100000000001")
    assert message.channel == "webchat" and "需要补充材料：新结算卡正面照片" in message.text
    found = status.request_status(demo, merchant(demo, MERCHANT_1), now=LATER)
    assert found.response == "utter_status" and found.missing_labels == ("新结算卡正面照片",)

    upload = documents.store_upload(demo, conversation_id="webchat-822100000000001", channel="webchat", data=PNG,
                                    kind="card_front")
    documents.receive_document(demo, "webchat-822100000000001", upload.public_id, merchant(demo, MERCHANT_1))
    demo.commit()
    assert demo.get(ChangeRequest, request.id).status is RequestStatus.UNDER_REVIEW
    assert review.approve(demo, request.reference, "alice").request.status is RequestStatus.APPROVED


def test_asking_again_adds_to_what_is_still_missing(demo: Session) -> None:
    request = file(demo, details=ChangeDetails(**{**DETAILS.__dict__, "documents": frozenset({Document.ID_FRONT})}))
    assert request.missing_documents == ["id_back", "card_front"]
    review.ask_for_documents(demo, request.reference, "alice", ["card_front", "authorisation_letter"])
    assert demo.get(ChangeRequest, request.id).missing_documents == ["id_back", "card_front", "authorisation_letter"]


def test_asking_for_nothing_or_an_unknown_document_is_refused(demo: Session) -> None:
    request = file(demo)
    for asked in ([], ["selfie"]):
        with pytest.raises(ValueError):
            review.ask_for_documents(demo, request.reference, "alice", asked)
    assert demo.get(ChangeRequest, request.id).status is RequestStatus.UNDER_REVIEW


# --- complete: the switch --------------------------------------------------------------------------


def test_complete_switches_the_settlement_account(demo: Session, outbox: Outbox) -> None:
    request = file(demo)
    review.approve(demo, request.reference, "alice", now=LATER)
    result = review.complete(demo, request.reference, "carol", now=LATER + timedelta(days=1))

    demo.expire_all()
    request = demo.get(ChangeRequest, request.id)
    owner = merchant(demo, MERCHANT_1)
    assert request.status is RequestStatus.COMPLETED and not request.is_open
    assert request.decided_by == "alice"  # who approved stays on record; the switch is audited
    current = owner.current_account
    assert (current.bank_code, current.account_last4, current.holder_name) == ("ICBC", "0124", "张伟")
    assert current.account_number == DETAILS.account_number
    assert [account.is_current for account in owner.accounts] == [False, True]
    [event] = events(demo, request, "change_request.completed")
    assert event.actor == "staff:carol" and event.detail["old_account_last4"] == "0781"
    assert result.sms_sent and outbox.last()["text"] == (
        f"【结算助手】您的结算卡已变更为中国工商银行尾号0124的账户（申请{request.reference}），"
        "此后的交易款项将结算至该账户。如非本人操作请立即致电400-000-0000。")
    assert status_answer(demo) == chat_messages(demo)[-1].text == (
        f"您的申请 {request.reference} 已完成：结算卡已于 2026年11月27日 变更为 中国工商银行 尾号0124，此后的交易款项结算至新卡。")


# --- refused transitions ---------------------------------------------------------------------------


@pytest.mark.parametrize("decision", list(Decision))
def test_no_decision_on_a_cancelled_request(demo: Session, outbox: Outbox, decision: Decision) -> None:
    request = file(demo)
    cancel_request(demo, merchant(demo, MERCHANT_1), request.reference)
    sent = len(outbox.messages())
    with pytest.raises(NotAllowed) as refused:
        decide(demo, decision, request.reference)
    assert refused.value.current is RequestStatus.CANCELLED
    assert_untouched(demo, request, RequestStatus.CANCELLED)
    assert len(outbox.messages()) == sent


@pytest.mark.parametrize("first, second", [
    (Decision.APPROVE, Decision.APPROVE),  # two reviewers clicking at once: one decides
    (Decision.APPROVE, Decision.REJECT),
    (Decision.APPROVE, Decision.ASK_FOR_DOCUMENTS),
    (Decision.REJECT, Decision.APPROVE),
    (Decision.REJECT, Decision.COMPLETE),
    (Decision.REJECT, Decision.ASK_FOR_DOCUMENTS),
])
def test_a_decided_request_is_not_decided_again(demo: Session, first: Decision, second: Decision) -> None:
    request = file(demo)
    decide(demo, first, request.reference)
    after_first = demo.get(ChangeRequest, request.id).status
    with pytest.raises(NotAllowed):
        decide(demo, second, request.reference)
    assert demo.get(ChangeRequest, request.id).status is after_first


def test_documents_missing_means_no_approval_and_no_switch_before_approval(demo: Session) -> None:
    awaiting = file(demo, details=ChangeDetails(**{**DETAILS.__dict__, "documents": frozenset()}))
    with pytest.raises(NotAllowed):
        review.approve(demo, awaiting.reference, "alice")
    assert_untouched(demo, awaiting, RequestStatus.AWAITING_DOCUMENTS)
    under_review = file(demo, MERCHANT_6, ChangeDetails(**{**DETAILS.__dict__, "account_name": "刘洋"}))
    with pytest.raises(NotAllowed):
        review.complete(demo, under_review.reference, "alice")
    assert_untouched(demo, under_review, RequestStatus.UNDER_REVIEW)


def test_a_completed_request_is_final(demo: Session) -> None:
    request = file(demo)
    review.approve(demo, request.reference, "alice")
    review.complete(demo, request.reference, "alice")
    for decision in Decision:
        with pytest.raises(NotAllowed):
            decide(demo, decision, request.reference)


def test_an_unknown_reference_is_not_found(demo: Session) -> None:
    with pytest.raises(RequestNotFound):
        review.approve(demo, "CR20261125-ZZZZ", "alice")


def test_the_merchant_cannot_cancel_once_approved(demo: Session) -> None:
    request = file(demo)
    review.approve(demo, request.reference, "alice")
    assert cancel_request(demo, merchant(demo, MERCHANT_1), request.reference).outcome.value == "not_cancellable"


def decide(session: Session, decision: Decision, reference: str):
    if decision is Decision.APPROVE:
        return review.approve(session, reference, "alice")
    if decision is Decision.REJECT:
        return review.reject(session, reference, "alice", RejectionReason.OTHER)
    if decision is Decision.ASK_FOR_DOCUMENTS:
        return review.ask_for_documents(session, reference, "alice", [Document.CARD_FRONT])
    return review.complete(session, reference, "alice")


def assert_untouched(session: Session, request: ChangeRequest, expected: RequestStatus) -> None:
    session.expire_all()
    request = session.get(ChangeRequest, request.id)
    assert request.status is expected and request.decided_by is None
    decisions = [event for event in session.execute(
        select(AuditEvent).where(AuditEvent.change_request_id == request.id)).scalars()
        if event.actor.startswith("staff:")]
    assert decisions == [] and chat_messages(session) == []


# --- SMS and chat edge cases -----------------------------------------------------------------------


def test_a_failed_sms_is_audited_and_the_decision_stands(demo: Session) -> None:
    class Broken:
        def send(self, to: str, text: str) -> None:
            raise ConnectionError("provider down")

    request = file(demo)
    result = review.approve(demo, request.reference, "alice", gateway=Broken())
    assert not result.sms_sent and result.chat_posted
    demo.expire_all()
    assert demo.get(ChangeRequest, request.id).status is RequestStatus.APPROVED
    [failure] = events(demo, request, "change_request.decision_sms_failed")
    assert failure.detail["decision"] == "change_request.approved" and failure.actor == "bot"


def test_no_chat_message_without_a_chat(demo: Session, outbox: Outbox) -> None:
    by_agent = file(demo, channel="agent", conversation=None)
    result = review.reject(demo, by_agent.reference, "bob", RejectionReason.NAME_MISMATCH)
    assert result.sms_sent and not result.chat_posted
    assert demo.execute(select(func.count(OutboundMessage.id))).scalar_one() == 0


# --- what the reviewer sees ------------------------------------------------------------------------


def test_detail_shows_the_checks_masked(demo: Session) -> None:
    different_name = ChangeDetails(**{**DETAILS.__dict__, "account_name": "王芳",
                                      "holder_id_number": "440103199008224568"})
    request = file(demo, details=different_name)
    seen = review.detail(demo, request.reference)
    assert (seen.card_masked, seen.holder_id_masked, seen.merchant_masked) == ("****0124", "****4568", "****0001")
    checks = {check.label: check for check in seen.checks}
    assert checks["卡BIN与开户行"].ok and "中国工商银行借记卡" in checks["卡BIN与开户行"].text
    assert checks["卡号校验位（Luhn）"].ok
    assert checks["同名结算"].ok is False and "王芳" in checks["同名结算"].text
    assert checks["持卡人身份证"].ok is False
    assert checks["营业执照"].ok is None  # a micro merchant has no licence
    assert any("非同名" in note for note in seen.bot_notes)
    assert [row.action for row in seen.audit_trail] == ["change_request.filed"]
    assert seen.allowed == {Decision.REJECT, Decision.ASK_FOR_DOCUMENTS}  # the letter is missing
    assert not [secret for secret in DEMO_SECRETS + [DETAILS.account_number, "440103199008224568"]
                if secret in repr(seen)]


def test_a_sole_traders_licence_check(demo: Session) -> None:
    details = ChangeDetails(**{**DETAILS.__dict__, "account_name": "李娜", "bank_code": "CCB", "bank_name": "中国建设银行",
                               "account_number": "6227002000000000522", "holder_id_number": "440103199008224568",
                               "documents": ALL_PHOTOS | {Document.LICENCE}})
    seen = review.detail(demo, file(demo, "822100000000002", details).reference)
    checks = {check.label: check for check in seen.checks}
    assert checks["营业执照"].ok and "92310115MA1K3B4C59" in checks["营业执照"].text
    assert checks["同名结算"].ok and checks["持卡人身份证"].ok


def test_viewing_a_document_is_audited(demo: Session) -> None:
    request = file(demo, channel="webchat", conversation="webchat-822100000000001")
    upload = documents.store_upload(demo, conversation_id="webchat-822100000000001", channel="webchat", data=PNG,
                                    kind="card_front")
    documents.attach_conversation_documents(demo, "webchat-822100000000001", request)
    demo.commit()
    [row] = review.detail(demo, request.reference).documents
    assert row.public_id == upload.public_id and row.label == "新结算卡正面照片" and row.is_image

    document, data = review.open_document(demo, request.reference, upload.public_id, "alice")
    assert data == PNG and document.content_type == "image/png"
    [viewed] = events(demo, request, "change_request.document_viewed")
    assert viewed.actor == "staff:alice" and viewed.detail["document"] == upload.public_id

    other = file(demo, MERCHANT_6, ChangeDetails(**{**DETAILS.__dict__, "account_name": "刘洋"}))
    with pytest.raises(RequestNotFound):  # a document is only shown with its own request
        review.open_document(demo, other.reference, upload.public_id, "alice")


def test_no_full_number_in_decision_rows(demo: Session) -> None:
    request = file(demo)
    review.approve(demo, request.reference, "alice")
    review.complete(demo, request.reference, "alice")
    dump = repr([demo.execute(text(f"SELECT * FROM {table}")).all()
                 for table in ("change_requests", "audit_events", "outbound_messages")])
    assert not [secret for secret in DEMO_SECRETS if secret in dump]
