"""The project's own identifiers: merchant numbers, one-time codes, change-request references.

- merchant number (商户编号): 15 digits;
- one-time code (验证码): 6 digits;
- request reference: `CR` + filing date YYYYMMDD (a real date) + `-` + 4 characters of the
  reference alphabet (no 0/O, 1/I/L: merchants read them out). Lower case, a missing or spaced
  dash are accepted; the stored form is upper case with the dash.

>>> validate_merchant_id("8221 0000 0000 001")
'822100000000001'
>>> validate_otp("３５７９２１")
'357921'
>>> validate_otp("验证码是 493817 谢谢")
'493817'
>>> validate_request_id("cr20261125 7q4k")
'CR20261125-7Q4K'
>>> validate_request_id("CR20261131-7Q4K")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: request_id_format
"""
from __future__ import annotations

import datetime
import re

from bot.db.models import REFERENCE_ALPHABET
from bot.validation import in_text
from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import compact_number, too_long

__all__ = [
    "validate_merchant_id", "is_valid_merchant_id",
    "validate_otp", "is_valid_otp",
    "compact_request_id", "validate_request_id", "is_valid_request_id",
]

MERCHANT_ID_LENGTH = 15
OTP_LENGTH = 6
_REQUEST_ID = re.compile(f"CR([0-9]{{8}})[\\s\\-]?([{REFERENCE_ALPHABET}]{{4}})")


def _digits(value: object, length: int, reason: Reason) -> str:
    digits = compact_number(value)
    if too_long(value) or len(digits) != length or not (digits.isascii() and digits.isdigit()):
        raise Invalid(reason)
    return digits


def validate_merchant_id(value: object) -> str:
    """The 15-digit merchant number; raises Invalid(merchant_id_format). Words around it
    (`商户号是822100000000001`) are fine (see `in_text`)."""
    return in_text.find(value, lambda typed: _digits(typed, MERCHANT_ID_LENGTH, Reason.MERCHANT_ID_FORMAT))


def validate_otp(value: object) -> str:
    """The 6-digit one-time code; raises Invalid(otp_format). Words around it (`验证码是 493817
    谢谢`) are fine, and a code typed after the merchant number is found (see `in_text`)."""
    return in_text.find(value, lambda typed: _digits(typed, OTP_LENGTH, Reason.OTP_FORMAT))


def compact_request_id(value: object) -> str:
    """Half-width, upper case, ends stripped (the dash is kept: it is part of the reference)."""
    return compact_number(value)


def validate_request_id(value: object) -> str:
    """The reference as stored (`CR20261125-7Q4K`); raises Invalid(request_id_format)."""
    return in_text.find(value, _validate_request_id_one)


def _validate_request_id_one(value: object) -> str:
    match = _REQUEST_ID.fullmatch(compact_request_id(value))
    if too_long(value) or match is None:
        raise Invalid(Reason.REQUEST_ID_FORMAT)
    day, suffix = match.groups()
    try:
        datetime.date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        raise Invalid(Reason.REQUEST_ID_FORMAT) from None
    return f"CR{day}-{suffix}"


def _is_valid(validator, value: object) -> bool:
    try:
        return bool(validator(value))
    except Invalid:
        return False


def is_valid_merchant_id(value: object) -> bool:
    return _is_valid(validate_merchant_id, value)


def is_valid_otp(value: object) -> bool:
    return _is_valid(validate_otp, value)


def is_valid_request_id(value: object) -> bool:
    return _is_valid(validate_request_id, value)
