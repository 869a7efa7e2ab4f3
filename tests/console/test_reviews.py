"""The reviewers' pages (console/reviews.py) through Flask's test client: the queue, one request
with its checks, audit trail and document photos, the decisions; reviewers only; no full number
in any page."""
from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.agents import accounts
from bot.change_requests import documents, status
from bot.change_requests.filing import ChangeDetails, Document, file_change_request, new_idempotency_key
from bot.db.models import AuditEvent, ChangeRequest, OutboundMessage, RequestStatus, StaffRole
from bot.responses import response_text

from console.conftest import PASSWORD, csrf, signed_in
from domain_fixtures import DEMO_SECRETS, Outbox, merchant, signed

PHOTOS = frozenset({Document.ID_FRONT, Document.ID_BACK, Document.CARD_FRONT})
CARD_1 = ChangeDetails(reason="原卡丢失", bank_code="ICBC", bank_name="中国工商银行",
                       account_number="6222021000000000124", account_name="张伟",
                       holder_id_number="310101198503171233", opening_branch="上海分行营业部", documents=PHOTOS)
CARD_6 = ChangeDetails(reason="更换开户银行", bank_code="CCB", bank_name="中国建设银行",
                       account_number="6227002000000000340", account_name="刘洋",
                       holder_id_number="420106198709093215", documents=PHOTOS)
FULL_NUMBERS = DEMO_SECRETS + [CARD_1.account_number, CARD_6.account_number, "310101198503171233",
                               "420106198709093215"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def zhao(app: Flask) -> FlaskClient:
    return signed_in(app.test_client(), "zhao")


@pytest.fixture
def wang(app: Flask) -> FlaskClient:
    return signed_in(app.test_client(), "wang")


def file(session: Session, number: str, details: ChangeDetails, channel: str = "webchat") -> str:
    signed(session, number, f"{channel}-{number}", details)
    return file_change_request(session, merchant(session, number), details, new_idempotency_key(), channel,
                               f"{channel}-{number}").request.reference


def decide(client: FlaskClient, reference: str, decision: str, token: str | None = None, **form):
    token = csrf(client, "/reviews") if token is None else token
    return client.post(f"/reviews/{reference}/{decision}", data={"csrf_token": token, **form})


def page(client: FlaskClient, path: str) -> str:
    reply = client.get(path)
    assert reply.status_code == 200, reply.status_code
    return reply.get_data(as_text=True)


def request_row(session: Session, reference: str) -> ChangeRequest:
    session.expire_all()
    return session.execute(select(ChangeRequest).where(ChangeRequest.reference == reference)).scalar_one()


def audited(session: Session, reference: str, actor: str = "staff:zhao") -> list[str]:
    session.expire_all()
    request = request_row(session, reference)
    return list(session.execute(select(AuditEvent.action).where(AuditEvent.change_request_id == request.id,
                                                                AuditEvent.actor == actor)
                                .order_by(AuditEvent.id)).scalars())


def no_full_number(html: str) -> None:
    assert not [number for number in FULL_NUMBERS if number in html]
    # Nor a long run of digits of any kind (a number shown with separators would still be one).
    assert not re.search(r"\d(?:[ -]?\d){14,}", html)


def test_a_reviewer_approves_one_request_and_rejects_another(staff: Session, zhao: FlaskClient,
                                                             outbox: Outbox) -> None:
    first, second = file(staff, "822100000000001", CARD_1), file(staff, "822100000000006", CARD_6)
    queue = page(zhao, "/reviews")
    assert first in queue and second in queue and "****0001" in queue and "****0124" in queue
    no_full_number(queue)

    approved = decide(zhao, first, "approve")
    assert approved.status_code == 303 and approved.headers["Location"].endswith(f"/reviews/{first}")
    assert "已审核通过" in page(zhao, f"/reviews/{first}")  # the flash on the request's page
    rejected = decide(zhao, second, "reject", reason="name_mismatch", note="户名与身份证照片不符")
    assert rejected.status_code == 303

    assert request_row(staff, first).status is RequestStatus.APPROVED
    assert request_row(staff, first).decided_by == "zhao"
    row = request_row(staff, second)
    assert row.status is RequestStatus.REJECTED and row.decision_reason == "name_mismatch"
    assert "change_request.approved" in audited(staff, first)
    assert "change_request.rejected" in audited(staff, second)

    sms = outbox.messages()[-2:]
    assert [message["to"] for message in sms] == ["13800000001", "13800000006"]
    assert f"变更申请{first}已审核通过" in sms[0]["text"]
    assert f"变更申请{second}未通过审核，原因：户名与身份证不一致。" in sms[1]["text"]
    chats = staff.execute(select(OutboundMessage).order_by(OutboundMessage.id)).scalars().all()
    assert [(message.conversation_id, message.channel) for message in chats] == [
        ("webchat-822100000000001", "webchat"), ("webchat-822100000000006", "webchat")]

    # 我的申请审核到哪了, for each merchant:
    for number, expected in (("822100000000001", "审核通过。新卡在结算账户切换完成后生效"),
                             ("822100000000006", "未通过审核，原因：户名与身份证不一致。请确认新卡户名")):
        found = status.request_status(staff, merchant(staff, number))
        assert expected in response_text(found.response, **found.response_variables())

    # The queue: both gone from the review list; the approved one waits for its switch.
    queue = page(zhao, "/reviews")
    assert queue.count(first) >= 1 and second not in queue


def test_the_detail_page_shows_masked_values_checks_and_the_audit_trail(staff: Session, zhao: FlaskClient) -> None:
    reference = file(staff, "822100000000001", ChangeDetails(**{**CARD_1.__dict__, "account_name": "王芳"}))
    html = page(zhao, f"/reviews/{reference}")
    assert "****0124" in html and "****1233" in html and "中国工商银行" in html
    assert "卡BIN与开户行" in html and "非同名结算" in html and "同名结算" in html
    assert "商户提交申请" in html  # the audit trail
    assert "户名与身份证不一致" in html and "非同名结算未提供授权书" in html  # the reasons to choose from
    assert 'name="csrf_token"' in html
    assert f'action="/reviews/{reference}/approve"' not in html  # the authorisation letter is missing
    no_full_number(html)
    assert audited(staff, reference) == ["change_request.viewed"]


def test_documents_are_shown_to_a_reviewer_and_each_view_is_audited(staff: Session, zhao: FlaskClient,
                                                                     wang: FlaskClient) -> None:
    reference = file(staff, "822100000000001", CARD_1)
    upload = documents.store_upload(staff, conversation_id="webchat-822100000000001", channel="webchat", data=PNG,
                                    kind="card_front")
    documents.attach_conversation_documents(staff, "webchat-822100000000001", request_row(staff, reference))
    staff.commit()
    path = f"/reviews/{reference}/documents/{upload.public_id}"
    assert f'src="{path}"' in page(zhao, f"/reviews/{reference}")

    for _ in range(2):
        reply = zhao.get(path)
        assert reply.status_code == 200 and reply.data == PNG and reply.mimetype == "image/png"
        assert "no-store" in reply.headers["Cache-Control"]
    assert audited(staff, reference).count("change_request.document_viewed") == 2

    assert wang.get(path).status_code == 403  # an agent: refused, not even decrypted
    assert zhao.get(f"/reviews/{reference}/documents/nope").status_code == 404
    assert audited(staff, reference).count("change_request.document_viewed") == 2


def test_agents_trainers_and_strangers_cannot_review(app: Flask, staff: Session, wang: FlaskClient) -> None:
    reference = file(staff, "822100000000001", CARD_1)
    token = csrf(wang, "/handoffs")
    assert wang.get("/reviews").status_code == 403
    assert wang.get(f"/reviews/{reference}").status_code == 403
    assert decide(wang, reference, "approve", token=token).status_code == 403
    assert decide(wang, reference, "reject", token=token, reason="other").status_code == 403

    accounts.create_account(staff, "sun", PASSWORD, StaffRole.TRAINER, "孙训练")
    trainer = signed_in(app.test_client(), "sun")
    assert trainer.get("/reviews").status_code == 403
    assert decide(trainer, reference, "approve", token=csrf(trainer, "/trainer")).status_code == 403

    stranger = app.test_client()
    assert stranger.get("/reviews").status_code == 302  # to the login page
    assert decide(stranger, reference, "approve", token=csrf(stranger, "/login")).status_code == 401
    assert request_row(staff, reference).status is RequestStatus.UNDER_REVIEW


def test_a_decision_without_the_csrf_token_is_refused(staff: Session, zhao: FlaskClient) -> None:
    reference = file(staff, "822100000000001", CARD_1)
    assert zhao.post(f"/reviews/{reference}/approve").status_code == 400
    assert decide(zhao, reference, "approve", token="forged").status_code == 400
    assert request_row(staff, reference).status is RequestStatus.UNDER_REVIEW


def test_a_refused_transition_is_said_and_audited(staff: Session, zhao: FlaskClient, outbox: Outbox) -> None:
    reference = file(staff, "822100000000001", CARD_1)
    decide(zhao, reference, "reject", reason="card_abnormal")
    sent = len(outbox.messages())
    reply = decide(zhao, reference, "approve")
    assert reply.status_code == 303
    assert "该申请当前状态为“已驳回”，不能审核通过。" in page(zhao, f"/reviews/{reference}")
    assert request_row(staff, reference).status is RequestStatus.REJECTED
    assert audited(staff, reference)[-2:] == ["change_request.decision_refused", "change_request.viewed"]
    assert len(outbox.messages()) == sent


def test_a_reason_or_documents_must_be_chosen(staff: Session, zhao: FlaskClient) -> None:
    reference = file(staff, "822100000000001", CARD_1)
    decide(zhao, reference, "reject", reason="looks_odd")
    assert "请选择驳回原因。" in page(zhao, f"/reviews/{reference}")
    decide(zhao, reference, "documents")
    assert "请至少选择一项需要补充的材料。" in page(zhao, f"/reviews/{reference}")
    assert request_row(staff, reference).status is RequestStatus.UNDER_REVIEW


def test_ask_for_documents_then_confirm_the_switch(staff: Session, zhao: FlaskClient, outbox: Outbox) -> None:
    reference = file(staff, "822100000000001", CARD_1)
    decide(zhao, reference, "documents", documents=["card_front", "id_front"])
    row = request_row(staff, reference)
    assert row.status is RequestStatus.AWAITING_DOCUMENTS and row.missing_documents == ["card_front", "id_front"]
    assert "需补充材料：新结算卡正面照片、身份证人像面照片" in outbox.last()["text"]
    html = page(zhao, f"/reviews/{reference}")
    assert "材料未齐，不能审核通过" in html and "新结算卡正面照片、身份证人像面照片" in html

    row.status, row.missing_documents = RequestStatus.UNDER_REVIEW, []  # the merchant sent them
    staff.commit()
    decide(zhao, reference, "approve")
    assert "确认已切换" in page(zhao, "/reviews")  # the approved list
    decide(zhao, reference, "complete")
    assert request_row(staff, reference).status is RequestStatus.COMPLETED
    assert merchant(staff, "822100000000001").current_account.account_last4 == "0124"
    assert "您的结算卡已变更为中国工商银行尾号0124的账户" in outbox.last()["text"]
    html = page(zhao, f"/reviews/{reference}")
    assert "无需再处理" in html and "结算账户已切换" in html
    no_full_number(html)


def test_an_unknown_request_is_not_found(zhao: FlaskClient) -> None:
    assert zhao.get("/reviews/CR20261125-ZZZZ").status_code == 404
    assert decide(zhao, "CR20261125-ZZZZ", "approve").status_code == 404
