"""The wording of every SMS the bot sends, in one place.

These are the texts the acquirer registers as templates with the SMS provider (Yunpian matches
each message against the approved templates and refuses any other), so a change of wording here
is a change to register with the provider first. Registered form, with `#name#` variables:

- `code_text`, identification:
  `【结算助手】您的验证码是#code#，5分钟内有效。您正在通过在线客服办理商户业务，请勿告诉他人。`
- `code_text`, signing a change:
  `【结算助手】您的验证码是#code#，5分钟内有效。您正在将结算卡变更为#bank#尾号#last4#的账户，请勿告诉他人。`
- `code_text`, enrolling an authenticator app:
  `【结算助手】您的验证码是#code#，5分钟内有效。您正在为商户账户开启动态口令（绑定身份验证器），请勿告诉他人。`
- `enrolment_notice_text`: `【结算助手】您的商户账户已开启动态口令验证。如非本人操作请立即致电#hotline#。`
- `notice_text` (change filed), two templates, documents complete or missing:
  `【结算助手】已受理您的结算卡变更申请，编号#reference#，新卡#bank#尾号#last4#，预计#date#前完成审核。如非本人操作请立即致电#hotline#。`
  `【结算助手】已受理您的结算卡变更申请，编号#reference#，新卡#bank#尾号#last4#，预计#date#前完成审核，请按客服提示补充材料。如非本人操作请立即致电#hotline#。`
- `cancel_text` (change cancelled):
  `【结算助手】您的结算卡变更申请#reference#已撤销，结算卡保持不变。如非本人操作请立即致电#hotline#。`
- the reviewer's decisions (bot.change_requests.review), one template each:
  `approved_text`:
  `【结算助手】您的结算卡变更申请#reference#已审核通过，新卡#bank#尾号#last4#将在账户切换完成后生效，届时另行短信通知。如非本人操作请立即致电#hotline#。`
  `rejected_text` (reason and next step from bot.change_requests.rejections):
  `【结算助手】您的结算卡变更申请#reference#未通过审核，原因：#reason#。#next_step#原结算卡继续有效，如有疑问请致电#hotline#。`
  `documents_requested_text`:
  `【结算助手】您的结算卡变更申请#reference#需补充材料：#documents#。请通过在线客服发送，材料齐全后继续审核。如非本人操作请立即致电#hotline#。`
  `completed_text` (the account switched):
  `【结算助手】您的结算卡已变更为#bank#尾号#last4#的账户（申请#reference#），此后的交易款项将结算至该账户。如非本人操作请立即致电#hotline#。`

The brand name (`BRAND_NAME`) and hotline come from `bot.settings`. A code SMS holds exactly one
6-digit run, the code (CONTRACTS.md: tests and merchants' phones read the code that way), and the
notices hold none.

>>> from datetime import timedelta
>>> from bot.db.models import VerificationPurpose
>>> code_text(VerificationPurpose.IDENTIFY, "493817", valid_for=timedelta(minutes=5))
'【结算助手】您的验证码是493817，5分钟内有效。您正在通过在线客服办理商户业务，请勿告诉他人。'
>>> enrolment_notice_text()
'【结算助手】您的商户账户已开启动态口令验证。如非本人操作请立即致电400-000-0000。'
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Sequence

from bot import settings
from bot.db.models import RequestStatus, VerificationPurpose
from bot.workdays import LOCAL_TZ

if TYPE_CHECKING:
    from bot.change_requests.filing import ChangeDetails, Document
    from bot.change_requests.rejections import RejectionReason
    from bot.db.models import ChangeRequest

__all__ = ["code_text", "enrolment_notice_text", "notice_text", "cancel_text", "approved_text", "rejected_text",
           "documents_requested_text", "completed_text"]

_SIX_DIGIT_RUN = re.compile(r"(?<!\d)\d{6}(?!\d)")


def code_text(
    purpose: VerificationPurpose | str, code: str, change: ChangeDetails | None = None, *, valid_for: timedelta
) -> str:
    """The SMS carrying a one-time code: what it is for, and for signing the new card's bank and
    last four digits (never more of the number). `valid_for` is the code's lifetime
    (`Policy.code_ttl`), said in whole minutes.

    Raises ValueError when signing without the change, or when the text would hold a 6-digit run
    besides the code (a brand name with digits): nothing is sent then.
    """
    brand = settings.brand()
    minutes = int(valid_for.total_seconds() // 60)
    purpose = VerificationPurpose(purpose)
    if purpose is VerificationPurpose.IDENTIFY:
        doing = "您正在通过在线客服办理商户业务"
    elif purpose is VerificationPurpose.ENROL:
        # Says what the code allows: a second factor that may sign changes (after its first day).
        doing = "您正在为商户账户开启动态口令（绑定身份验证器）"
    else:
        if change is None:
            raise ValueError("a signing code needs the change details")
        doing = f"您正在将结算卡变更为{change.bank_name}尾号{change.last4}的账户"
    text = f"【{brand.name}】您的验证码是{code}，{minutes}分钟内有效。{doing}，请勿告诉他人。"
    if _SIX_DIGIT_RUN.findall(text) != [code]:
        raise ValueError("the SMS text holds a 6-digit run besides the code (check BRAND_NAME)")
    return text


def enrolment_notice_text() -> str:
    """Sent to the registered phone once an authenticator app is enabled, in case it was not them."""
    brand = settings.brand()
    return f"【{brand.name}】您的商户账户已开启动态口令验证。如非本人操作请立即致电{brand.hotline}。"


def notice_text(request: ChangeRequest) -> str:
    """Sent to the registered phone when a change request is filed: the notice is the merchant's
    chance to stop a change they did not make (DOMAIN_RULES.md, fraud controls)."""
    brand = settings.brand()
    documents = "，请按客服提示补充材料" if RequestStatus(request.status) is RequestStatus.AWAITING_DOCUMENTS else ""
    return (
        f"【{brand.name}】已受理您的结算卡变更申请，编号{request.reference}，新卡{request.bank_name}"
        f"尾号{request.card_last4}，预计{_format_date(request.due_at)}前完成审核{documents}。"
        f"如非本人操作请立即致电{brand.hotline}。"
    )


def cancel_text(request: ChangeRequest) -> str:
    """Sent to the registered phone when a change request is cancelled (by the merchant or an agent)."""
    brand = settings.brand()
    return (
        f"【{brand.name}】您的结算卡变更申请{request.reference}已撤销，结算卡保持不变。"
        f"如非本人操作请立即致电{brand.hotline}。"
    )


def approved_text(request: ChangeRequest) -> str:
    """A reviewer approved the change; the new card takes effect once the account is switched."""
    brand = settings.brand()
    return (
        f"【{brand.name}】您的结算卡变更申请{request.reference}已审核通过，新卡{request.bank_name}"
        f"尾号{request.card_last4}将在账户切换完成后生效，届时另行短信通知。如非本人操作请立即致电{brand.hotline}。"
    )


def rejected_text(request: ChangeRequest, reason: RejectionReason) -> str:
    """A reviewer rejected the change: the reason and what to do next, from the fixed list."""
    brand = settings.brand()
    return (
        f"【{brand.name}】您的结算卡变更申请{request.reference}未通过审核，原因：{reason.label}。"
        f"{reason.next_step}原结算卡继续有效，如有疑问请致电{brand.hotline}。"
    )


def documents_requested_text(request: ChangeRequest, documents: Sequence[Document]) -> str:
    """A reviewer asked for more documents (their labels, e.g. 新结算卡正面照片)."""
    brand = settings.brand()
    return (
        f"【{brand.name}】您的结算卡变更申请{request.reference}需补充材料：{'、'.join(d.label for d in documents)}。"
        f"请通过在线客服发送，材料齐全后继续审核。如非本人操作请立即致电{brand.hotline}。"
    )


def completed_text(request: ChangeRequest) -> str:
    """The new account is now the settlement account (the switch after approval)."""
    brand = settings.brand()
    return (
        f"【{brand.name}】您的结算卡已变更为{request.bank_name}尾号{request.card_last4}的账户（申请{request.reference}），"
        f"此后的交易款项将结算至该账户。如非本人操作请立即致电{brand.hotline}。"
    )


def _format_date(moment: datetime) -> str:
    """`2026年11月30日`, the date in China (a due date late in the UTC day is the next day there)."""
    local = moment.astimezone(LOCAL_TZ)
    return f"{local.year}年{local.month}月{local.day}日"
