"""Which earlier value a correction names: "卡号输错了" -> the card number.

>>> field_to_correct("卡号输错了")
'new_account_number'
>>> field_to_correct("开户行写错了，要改")
'opening_branch'
>>> field_to_correct("户名是张伟") is None  # a value, not a correction
True
>>> names_other_field("卡号输错了", "opening_branch"), names_other_field("开户行是上海分行营业部", "opening_branch")
(True, False)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

# What merchants call each field, nearest words first (支行 before 银行: "开户银行支行" is the branch).
FIELD_WORDS: Tuple[Tuple[Tuple[str, ...], str], ...] = (
    (("开户行", "支行", "分行", "网点"), "opening_branch"),
    (("卡号", "账号", "帐号", "号码"), "new_account_number"),
    (("银行",), "new_bank"),
    (("户名", "名字", "姓名", "持卡人"), "holder_name"),
    (("身份证", "证件"), "holder_id_number"),
    (("执照", "信用代码"), "license_number"),
    (("原因",), "change_reason"),
)
# Words that make a sentence a correction rather than a value ("卡号是…" is a value).
CORRECTION_WORDS = ("错", "不对", "有误", "改", "重新", "更正", "不是", "修改")


def is_correction(text: str) -> bool:
    return any(word in text for word in CORRECTION_WORDS)


def field_named(text: str) -> Optional[str]:
    """The slot whose everyday name the text uses, if any."""
    for words, slot in FIELD_WORDS:
        if any(word in text for word in words):
            return slot
    return None


def field_to_correct(text: str) -> Optional[str]:
    """The slot a correction names; None when the text is no correction or names no field."""
    return field_named(text) if is_correction(text) else None


def names_other_field(text: str, asked_slot: str) -> bool:
    """A correction of another value than the one being asked for."""
    slot = field_to_correct(text)
    return slot is not None and slot != asked_slot


CORRECTABLE = frozenset(slot for _, slot in FIELD_WORDS)
# The card names its bank: a wrong bank means the card is asked again, and the other way round.
_CARD_AND_BANK = ("new_account_number", "new_bank", "bin_bank", "named_bank")


@dataclass(frozen=True)
class Correction:
    """What "卡号输错了" (or a button naming a field) changes in the collected values."""

    field: Optional[str]  # None: the merchant must say which field (the bot asks)
    slots_to_clear: Tuple[str, ...] = ()


def plan_correction(text: str, button_field: Optional[str] = None) -> Optional[Correction]:
    """None when the text is not a correction at all ("户名是张伟" is the value itself).

    >>> plan_correction("卡号输错了").slots_to_clear
    ('new_account_number', 'new_bank', 'bin_bank', 'named_bank', 'change_confirmed', 'sign_code')
    >>> plan_correction("写错了")
    Correction(field=None, slots_to_clear=('change_confirmed',))
    >>> plan_correction("户名是张伟") is None
    True
    """
    if button_field in CORRECTABLE:
        field = button_field
    elif is_correction(text):
        field = field_named(text)
    else:
        return None
    if field is None:
        return Correction(None, ("change_confirmed",))
    values = _CARD_AND_BANK if field in _CARD_AND_BANK else (field,)
    return Correction(field, values + ("change_confirmed", "sign_code"))
