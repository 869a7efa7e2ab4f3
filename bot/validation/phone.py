"""Mainland China mobile numbers: `1[3-9]` and nine more digits, after `+86` / `0086` and separators.

>>> validate("+86 138-0000-0001")
'13800000001'
>>> validate("(0086)13800000001")
'13800000001'
>>> validate("12800000001")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: phone_format
"""
from __future__ import annotations

import re

from bot.validation import in_text
from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import compact_number, too_long

__all__ = ["compact", "validate", "is_valid"]

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_COUNTRY_CODE = re.compile(r"^(?:\+86|0086)")
_PUNCTUATION = re.compile(r"[\s\-()\[\].]+")


def compact(number: object) -> str:
    """Digits (and a leading +) with separators, brackets and the country code removed."""
    value = _PUNCTUATION.sub("", compact_number(number))
    return _COUNTRY_CODE.sub("", value)


def validate(number: object) -> str:
    """The 11-digit mobile number; raises Invalid(phone_format). Words around it are fine."""
    return in_text.find(number, _validate_one)


def _validate_one(number: object) -> str:
    value = compact(number)
    if too_long(number) or not value.isascii() or not _MOBILE.fullmatch(value):
        raise Invalid(Reason.PHONE_FORMAT)
    return value


def is_valid(number: object) -> bool:
    try:
        return bool(validate(number))
    except Invalid:
        return False
