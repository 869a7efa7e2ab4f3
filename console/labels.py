"""How the console names what the bot stores: handoff reasons, channels, collected values.

The bot stores codes (`repeated_validation_failure`, `webchat`, `new_account_number`, `online`);
agents read Chinese. An unknown code is shown as it is rather than hidden.

>>> reason("complaint"), channel("wechat"), value_name("holder_id_number")
('商户投诉', '微信公众号', '身份证号')
>>> shown_value("route", "online"), shown_value("change_reason", "card_lost"), shown_value("x", True)
('线上办理', '原卡丢失', '是')
"""
from __future__ import annotations

from typing import Any

from bot.agents import handoff
from bot.validation import reason as change_reason
from bot.validation import route

__all__ = ["REASONS", "CHANNELS", "VALUE_NAMES", "reason", "channel", "value_name", "shown_value"]

REASONS = {
    handoff.MERCHANT_REQUEST: "商户要求人工",
    handoff.COMPLAINT: "商户投诉",
    handoff.REPEATED_VALIDATION_FAILURE: "多次输入未通过校验",
    handoff.REPEATED_FALLBACK: "多次未能理解商户",
    handoff.OVERDUE_REQUEST: "申请超期未办结",
    handoff.DIFFERENT_NAME_AUTHORISATION: "非同名账户需授权",
}

CHANNELS = {"webchat": "网页聊天", "wechat": "微信公众号", "rest": "REST接口"}

# The slots a handoff collects (actions/common.py COLLECTED_SLOTS) and the failed inputs' slots.
VALUE_NAMES = {
    "merchant_number": "商户编号",
    "route": "办理方式",
    "change_reason": "变更原因",
    "holder_id_number": "身份证号",
    "license_number": "营业执照号",
    "new_bank": "新开户银行",
    "new_account_number": "新结算卡号",
    "holder_name": "户名",
    "opening_branch": "开户支行",
    "sign_code": "短信验证码",
    "merchant_phone": "预留手机号",
}


def reason(code: str) -> str:
    return REASONS.get(code, code)


def channel(code: str) -> str:
    return CHANNELS.get(code, code)


def value_name(slot: str) -> str:
    return VALUE_NAMES.get(slot, slot)


def shown_value(slot: str, value: Any) -> str:
    """A collected value as the agent reads it (already masked by the handoff: never a full number)."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if slot == "route":
        return route.LABELS.get(value, str(value))
    if slot == "change_reason":
        try:
            return change_reason.LABELS[change_reason.Category(value)]
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, (list, tuple)):
        return "、".join(str(item) for item in value)
    return str(value)
