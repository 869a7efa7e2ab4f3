"""Why a reviewer rejects a change request: a fixed list, each reason with its code (kept in
`ChangeRequest.decision_reason`), its Chinese label and what the merchant should do next.

A fixed list, not free text, because the merchant reads both in the rejection SMS (variables of a
template registered with the SMS provider, bot.sms.texts), in the chat and in the status answer.

>>> RejectionReason("card_abnormal").label
'银行卡状态异常'
>>> rejection_reason("no_such_reason") is None
True
"""
from __future__ import annotations

import enum


class RejectionReason(str, enum.Enum):
    NAME_MISMATCH = "name_mismatch"
    CARD_PHOTO_UNCLEAR = "card_photo_unclear"
    NO_AUTHORISATION_LETTER = "no_authorisation_letter"
    CARD_ABNORMAL = "card_abnormal"
    OTHER = "other"

    @property
    def label(self) -> str:
        return REJECTION_LABELS[self]

    @property
    def next_step(self) -> str:
        """A whole sentence, ending with 。"""
        return NEXT_STEPS[self]


REJECTION_LABELS = {
    RejectionReason.NAME_MISMATCH: "户名与身份证不一致",
    RejectionReason.CARD_PHOTO_UNCLEAR: "银行卡照片不清晰",
    RejectionReason.NO_AUTHORISATION_LETTER: "非同名结算未提供授权书",
    RejectionReason.CARD_ABNORMAL: "银行卡状态异常",
    RejectionReason.OTHER: "其他",
}

# Every next step ends in a new application (a rejected request is closed, DOMAIN_RULES.md) or a
# word with the service: nothing here promises what the acquirer has not said.
NEXT_STEPS = {
    RejectionReason.NAME_MISMATCH: "请确认新卡户名与持卡人身份证姓名一致后重新申请。",
    RejectionReason.CARD_PHOTO_UNCLEAR: "请重新拍摄清晰、完整的银行卡正面照片后重新申请。",
    RejectionReason.NO_AUTHORISATION_LETTER: "请准备清算授权书后重新申请，或改用本人名下的银行卡。",
    RejectionReason.CARD_ABNORMAL: "请向开户银行确认该卡状态正常后重新申请，或更换其他银行卡。",
    RejectionReason.OTHER: "请联系客服了解详情。",
}


def rejection_reason(code: str | None) -> RejectionReason | None:
    """The reason of a stored or submitted code; None for no code or an unknown one."""
    try:
        return RejectionReason(code) if code else None
    except ValueError:
        return None
