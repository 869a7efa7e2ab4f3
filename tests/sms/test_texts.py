"""The SMS wording (bot.sms.texts): exactly the templates registered with the provider, the code
as the only 6-digit run, the brand and hotline from configuration, never more of a card than its
bank and last four digits."""
from __future__ import annotations

import doctest
import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from bot.change_requests.filing import ChangeDetails, Document
from bot.db.models import RequestStatus, VerificationPurpose
from bot.sms import texts
from bot.change_requests.rejections import RejectionReason
from bot.sms.texts import (
    approved_text, cancel_text, code_text, completed_text, documents_requested_text, enrolment_notice_text,
    notice_text, rejected_text,
)
from sms.conftest import TEMPLATES

IDENTIFY, SIGN = VerificationPurpose.IDENTIFY, VerificationPurpose.SIGN_CHANGE
FIVE_MINUTES = timedelta(minutes=5)
SIX_DIGIT_RUN = re.compile(r"(?<!\d)\d{6}(?!\d)")
NEW_CARD = ChangeDetails(
    reason="原卡丢失",
    bank_code="ICBC",
    bank_name="中国工商银行",
    account_number="6222021000000000124",
    account_name="张伟",
    holder_id_number="310101198503171233",
    opening_branch="上海分行营业部",
)
# The filing notices as they would be registered (the fake Yunpian's TEMPLATES hold the code texts).
FILING_TEMPLATES = [
    "【结算助手】已受理您的结算卡变更申请，编号#reference#，新卡#bank#尾号#last4#，预计#date#前完成审核。"
    "如非本人操作请立即致电#hotline#。",
    "【结算助手】已受理您的结算卡变更申请，编号#reference#，新卡#bank#尾号#last4#，预计#date#前完成审核，"
    "请按客服提示补充材料。如非本人操作请立即致电#hotline#。",
    "【结算助手】您的结算卡变更申请#reference#已撤销，结算卡保持不变。如非本人操作请立即致电#hotline#。",
]
# The reviewer's decisions (bot.change_requests.review).
DECISION_TEMPLATES = [
    "【结算助手】您的结算卡变更申请#reference#已审核通过，新卡#bank#尾号#last4#将在账户切换完成后生效，届时另行短信通知。"
    "如非本人操作请立即致电#hotline#。",
    "【结算助手】您的结算卡变更申请#reference#未通过审核，原因：#reason#。#next_step#原结算卡继续有效，如有疑问请致电#hotline#。",
    "【结算助手】您的结算卡变更申请#reference#需补充材料：#documents#。请通过在线客服发送，材料齐全后继续审核。"
    "如非本人操作请立即致电#hotline#。",
    "【结算助手】您的结算卡已变更为#bank#尾号#last4#的账户（申请#reference#），此后的交易款项将结算至该账户。"
    "如非本人操作请立即致电#hotline#。",
]


def registered(text: str, templates: list[str]) -> bool:
    """Matches one template the way the provider does: each #variable# stands for some text."""
    for template in templates:
        pattern = "(.+?)".join(re.escape(piece) for piece in re.split(r"#\w+#", template))
        if re.fullmatch(pattern, text, re.DOTALL):
            return True
    return False


def request(status: RequestStatus = RequestStatus.UNDER_REVIEW) -> SimpleNamespace:
    """What the notices read of a ChangeRequest."""
    return SimpleNamespace(reference="CR20261125-7Q4K", bank_name="中国工商银行", card_last4="0124", status=status,
                           due_at=datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc))


# --- codes ---------------------------------------------------------------------------------------


def test_identification_code_text() -> None:
    assert code_text(IDENTIFY, "493817", valid_for=FIVE_MINUTES) == (
        "【结算助手】您的验证码是493817，5分钟内有效。您正在通过在线客服办理商户业务，请勿告诉他人。"
    )


def test_signing_sms_names_bank_and_last_four_only() -> None:
    text = code_text(SIGN, "771204", NEW_CARD, valid_for=FIVE_MINUTES)
    assert text == "【结算助手】您的验证码是771204，5分钟内有效。您正在将结算卡变更为中国工商银行尾号0124的账户，请勿告诉他人。"
    assert NEW_CARD.account_number not in text and "0210000" not in text
    assert NEW_CARD.holder_id_number not in text and NEW_CARD.account_name not in text
    with pytest.raises(ValueError):
        code_text(SIGN, "771204", None, valid_for=FIVE_MINUTES)


def test_enrolment_code_text_says_an_authenticator_is_being_added() -> None:
    text = code_text(VerificationPurpose.ENROL, "493817", valid_for=FIVE_MINUTES)
    assert text == "【结算助手】您的验证码是493817，5分钟内有效。您正在为商户账户开启动态口令（绑定身份验证器），请勿告诉他人。"
    assert registered(text, TEMPLATES)


def test_the_lifetime_is_said_in_minutes() -> None:
    assert "10分钟内有效" in code_text(IDENTIFY, "493817", valid_for=timedelta(minutes=10))


def test_brand_name_comes_from_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAND_NAME", "示例收单")
    assert code_text(IDENTIFY, "493817", valid_for=FIVE_MINUTES).startswith("【示例收单】您的验证码是")


def test_a_brand_with_a_six_digit_run_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAND_NAME", "收单123456")
    with pytest.raises(ValueError, match="BRAND_NAME"):
        code_text(IDENTIFY, "493817", valid_for=FIVE_MINUTES)


def test_the_code_is_the_only_six_digit_run() -> None:
    for text in (code_text(IDENTIFY, "000124", valid_for=FIVE_MINUTES),
                 code_text(SIGN, "493817", NEW_CARD, valid_for=FIVE_MINUTES)):
        assert len(SIX_DIGIT_RUN.findall(text)) == 1


# --- notices -------------------------------------------------------------------------------------


def test_enrolment_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert enrolment_notice_text() == "【结算助手】您的商户账户已开启动态口令验证。如非本人操作请立即致电400-000-0000。"
    monkeypatch.setenv("BRAND_HOTLINE", "95500")
    assert enrolment_notice_text().endswith("请立即致电95500。")


def test_filing_notice_names_the_reference_new_card_and_due_date_in_china() -> None:
    assert notice_text(request()) == (
        "【结算助手】已受理您的结算卡变更申请，编号CR20261125-7Q4K，新卡中国工商银行尾号0124，"
        "预计2026年11月30日前完成审核。如非本人操作请立即致电400-000-0000。"
    )
    late = request()
    late.due_at = datetime(2026, 11, 30, 17, 0, tzinfo=timezone.utc)  # 01:00 on 1 December in China
    assert "预计2026年12月1日前完成审核" in notice_text(late)


def test_filing_notice_asks_for_missing_documents() -> None:
    assert "完成审核，请按客服提示补充材料。如非本人操作" in notice_text(request(RequestStatus.AWAITING_DOCUMENTS))


def test_cancel_notice() -> None:
    assert cancel_text(request()) == (
        "【结算助手】您的结算卡变更申请CR20261125-7Q4K已撤销，结算卡保持不变。如非本人操作请立即致电400-000-0000。"
    )


def test_notices_hold_no_six_digit_run() -> None:
    # Codes are read from the outbox by that rule (CONTRACTS.md): a notice must never look like one.
    for text in (enrolment_notice_text(), notice_text(request()), cancel_text(request()),
                 notice_text(request(RequestStatus.AWAITING_DOCUMENTS))):
        assert not SIX_DIGIT_RUN.search(text), text


def decision_texts() -> list[str]:
    return ([approved_text(request()), completed_text(request()),
             documents_requested_text(request(), [Document.CARD_FRONT, Document.AUTHORISATION_LETTER])]
            + [rejected_text(request(), reason) for reason in RejectionReason])


def test_decision_notices() -> None:
    assert approved_text(request()) == (
        "【结算助手】您的结算卡变更申请CR20261125-7Q4K已审核通过，新卡中国工商银行尾号0124将在账户切换完成后生效，"
        "届时另行短信通知。如非本人操作请立即致电400-000-0000。"
    )
    assert rejected_text(request(), RejectionReason.NAME_MISMATCH) == (
        "【结算助手】您的结算卡变更申请CR20261125-7Q4K未通过审核，原因：户名与身份证不一致。"
        "请确认新卡户名与持卡人身份证姓名一致后重新申请。原结算卡继续有效，如有疑问请致电400-000-0000。"
    )
    assert "需补充材料：新结算卡正面照片、清算授权书。" in decision_texts()[2]
    for text in decision_texts():
        assert not SIX_DIGIT_RUN.search(text) and NEW_CARD.account_number not in text, text


# --- registered templates ------------------------------------------------------------------------


def test_every_text_matches_a_registered_template() -> None:
    assert registered(code_text(IDENTIFY, "493817", valid_for=FIVE_MINUTES), TEMPLATES)
    assert registered(code_text(SIGN, "493817", NEW_CARD, valid_for=FIVE_MINUTES), TEMPLATES)
    assert registered(enrolment_notice_text(), TEMPLATES)
    for text in (notice_text(request()), notice_text(request(RequestStatus.AWAITING_DOCUMENTS)),
                 cancel_text(request())):
        assert registered(text, FILING_TEMPLATES), text
    for text in decision_texts():
        assert registered(text, DECISION_TEMPLATES), text
    assert not registered("【结算助手】您的验证码是493817，请尽快使用。", TEMPLATES + FILING_TEMPLATES)


def test_the_module_lists_the_registered_templates() -> None:
    # bot.sms.texts tells the acquirer what to register: it must show the templates as registered
    # (variable names aside: the provider only sees where a variable is).
    def anonymous(text: str) -> str:
        return re.sub(r"#\w+#", "#…#", text)

    for template in TEMPLATES + FILING_TEMPLATES + DECISION_TEMPLATES:
        assert anonymous(template) in anonymous(texts.__doc__), template


def test_doctests() -> None:
    assert doctest.testmod(texts).failed == 0
