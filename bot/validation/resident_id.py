"""Resident ID numbers (居民身份证号码, GB 11643-1999), checked with python-stdnum's `stdnum.cn.ric`.

18 characters: address code (6), birth date YYYYMMDD (8), sequence (3, odd for men), check
character (ISO 7064 MOD 11-2, `X` for 10). stdnum checks the check character, the date and that the
address code was a county in the birth year; this module adds what it does not: a birth date in the
future is refused, the old 15-digit numbers are refused with their own reason (void since
2013-01-01), and stdnum's stray `KeyError` on some unknown address codes becomes `id_region`.

>>> validate("11010519491231002x")
'11010519491231002X'
>>> validate("身份证：3101 0119 8503 1712 33")
'310101198503171233'
>>> validate("11010519491231002X"[:17] + "3")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: id_checksum
>>> get_sex("310101198503171233"), get_birth_date("310101198503171233").isoformat()
('male', '1985-03-17')
"""
from __future__ import annotations

import datetime
import re

from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from bot.validation import in_text
from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import compact_number, too_long

__all__ = ["compact", "validate", "is_valid", "get_birth_date", "get_sex", "get_birth_place"]

LENGTH = 18
LEGACY_LENGTH = 15
_CHARSET = re.compile(r"[0-9X]+")
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


def compact(number: object) -> str:
    """Half-width, separators removed, upper-case X."""
    return compact_number(number)


def _today(today: datetime.date | None) -> datetime.date:
    return today or datetime.date.today()


def validate(number: object, *, today: datetime.date | None = None) -> str:
    """The ID number in its stored form (18 characters, upper-case X); raises Invalid. Words
    around the number (`身份证：310101198503171233`) are fine (see `in_text`)."""
    return in_text.find(number, lambda value: _validate_one(value, today))


def _validate_one(number: object, today: datetime.date | None) -> str:
    value = compact(number)
    if too_long(number) or not _CHARSET.fullmatch(value):
        raise Invalid(Reason.ID_FORMAT)
    if len(value) == LEGACY_LENGTH and value.isdigit():
        raise Invalid(Reason.ID_LEGACY_15)
    if len(value) != LENGTH:
        raise Invalid(Reason.ID_LENGTH, actual_length=len(value))
    if not _SHAPE.fullmatch(value):
        raise Invalid(Reason.ID_FORMAT)
    if value[-1] != ric.calc_check_digit(value):
        raise Invalid(Reason.ID_CHECKSUM)
    try:
        birth_date = ric.get_birth_date(value)
    except StdnumError:
        raise Invalid(Reason.ID_BIRTH_DATE) from None
    if birth_date > _today(today):
        raise Invalid(Reason.ID_BIRTH_FUTURE)
    try:
        ric.get_birth_place(value)
    except (StdnumError, KeyError, ValueError):
        # KeyError: stdnum 2.2 on a province it knows without the county (34052419800101001X)
        raise Invalid(Reason.ID_REGION) from None
    return value


def is_valid(number: object, *, today: datetime.date | None = None) -> bool:
    try:
        return bool(validate(number, today=today))
    except Invalid:
        return False


def get_birth_date(number: object) -> datetime.date:
    """Birth date of a valid ID number; raises Invalid for an invalid one."""
    return ric.get_birth_date(validate(number))


def get_sex(number: object) -> str:
    """'male' or 'female' (odd or even sequence number) of a valid ID number."""
    return "male" if int(validate(number)[16]) % 2 else "female"


def get_birth_place(number: object) -> dict:
    """stdnum's place record of a valid ID number: {'province': ..., 'county': ...}."""
    return ric.get_birth_place(validate(number))
