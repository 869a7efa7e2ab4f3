"""Submitting a signed change (bot/change_requests/submission.py): filed once, photos counted,
what is missing, and the different-name rule."""
from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.change_requests.filing import ChangeDetails, Document, new_idempotency_key
from bot.change_requests.submission import FilingRefused, document_list, needs_authorisation, submit_change
from bot.db.models import ChangeRequest, RequestStatus

from domain_fixtures import merchant, signed

DETAILS = ChangeDetails(reason="原卡丢失", bank_code="ICBC", bank_name="中国工商银行",
                        account_number="6222021000000000124", account_name="张伟",
                        holder_id_number="310101198503171233", opening_branch="上海分行营业部")


def submit(session: Session, number: str = "822100000000001", details: ChangeDetails = DETAILS, key: str = ""):
    signed(session, number, "conv-s", details)
    return submit_change(session, merchant(session, number), details, key or new_idempotency_key(), "rest", "conv-s")


def test_a_same_name_change_is_filed_and_says_which_photos_are_still_missing(demo: Session) -> None:
    submitted = submit(demo)
    assert submitted.reference.startswith("CR") and submitted.last4 == "0124"
    assert submitted.bank_name == "中国工商银行" and submitted.due_date_text
    assert submitted.missing == (Document.ID_FRONT, Document.ID_BACK, Document.CARD_FRONT)
    assert submitted.missing_text == "身份证人像面照片、身份证国徽面照片、新结算卡正面照片"
    assert not submitted.needs_authorisation
    request = demo.execute(select(ChangeRequest).where(ChangeRequest.reference == submitted.reference)).scalar_one()
    assert request.status is RequestStatus.AWAITING_DOCUMENTS


def test_submitting_twice_with_one_key_files_once(demo: Session) -> None:
    key = new_idempotency_key()
    first, again = submit(demo, key=key), submit(demo, key=key)
    assert first.reference == again.reference
    assert demo.execute(select(func.count(ChangeRequest.id))).scalar_one() == 2  # and the demo's overdue one


def test_a_card_in_another_persons_name_needs_an_agent(demo: Session) -> None:
    submitted = submit(demo, details=replace(DETAILS, account_name="王芳"))
    assert submitted.needs_authorisation and submitted.account_name == "王芳"
    assert Document.AUTHORISATION_LETTER in submitted.missing


def test_the_different_name_rule_spares_companies_and_same_names(demo: Session) -> None:
    assert needs_authorisation(merchant(demo, "822100000000001"), "王芳")
    assert not needs_authorisation(merchant(demo, "822100000000001"), "张 伟")
    assert not needs_authorisation(merchant(demo, "822100000000002"), "李娜便利店")  # the sole trader's business
    assert not needs_authorisation(merchant(demo, "822100000000003"), "王芳")  # the form refuses it earlier


def test_a_merchant_with_an_open_request_is_refused(demo: Session) -> None:
    with pytest.raises(FilingRefused):
        submit(demo, number="822100000000004")  # the demo's overdue request is still open


def test_document_list_is_a_chinese_enumeration() -> None:
    assert document_list([Document.LICENCE]) == "营业执照照片"
    assert document_list([]) == ""
