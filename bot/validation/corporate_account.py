"""Corporate (对公) account numbers: 8-30 digits, no issuer prefix or check digit rule.

Banks number corporate accounts their own way (CMB `121900000000001`, 15 digits; others up to 30),
so only the shape is checked; the bank is asked for separately.

>>> validate("1219 0000 0000 001")
'121900000000001'
>>> validate("12345")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: account_format (max_length=30, min_length=8)
"""
from __future__ import annotations

from bot.validation import in_text
from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import compact_number, too_long

__all__ = ["compact", "validate", "is_valid"]

MIN_LENGTH, MAX_LENGTH = 8, 30


def compact(number: object) -> str:
    """Digits only: full-width and Chinese digits converted, spaces, dashes and dots removed."""
    return compact_number(number)


def validate(number: object, *, current: object = None) -> str:
    """The account number as digits; raises Invalid. `current`: the current settlement account,
    which the new one must differ from. Words around the number are fine (see `in_text`)."""
    return in_text.find(number, lambda value: _validate_one(value, current))


def _validate_one(number: object, current: object) -> str:
    digits = compact(number)
    if too_long(number) or not (digits.isascii() and digits.isdigit()) or not (
        MIN_LENGTH <= len(digits) <= MAX_LENGTH
    ):
        raise Invalid(Reason.ACCOUNT_FORMAT, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    if current is not None and digits in [compact(current)] + in_text.numbers_in(current):
        raise Invalid(Reason.ACCOUNT_SAME_AS_CURRENT, last4=digits[-4:])
    return digits


def is_valid(number: object, *, current: object = None) -> bool:
    try:
        return bool(validate(number, current=current))
    except Invalid:
        return False
