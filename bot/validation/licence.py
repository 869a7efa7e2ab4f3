"""Unified social credit codes (统一社会信用代码, GB 32100-2015) on business licences, via `stdnum.cn.uscc`.

18 characters from `0123456789ABCDEFGHJKLMNPQRTUWXY`: registering authority (1), entity type (1),
area code (6), organisation code (9), check character (MOD 31). For codes registered by the market
regulator (first character 9) the second tells enterprise (1), sole trader 个体工商户 (2) or farmers'
cooperative (3): the settlement rules differ for each (see `get_entity_type`).

>>> validate("92310115ma1k3b4c59")
'92310115MA1K3B4C59'
>>> get_entity_type("92310115MA1K3B4C59")
<EntityType.SOLE_TRADER: 'sole_trader'>
>>> validate("91110108551385082A")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: licence_checksum
"""
from __future__ import annotations

from enum import Enum

from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError

from bot.validation import in_text
from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import compact_number, too_long

__all__ = ["EntityType", "compact", "validate", "is_valid", "get_entity_type"]

LENGTH = 18
MARKET_REGULATOR = "9"


class EntityType(str, Enum):
    ENTERPRISE = "enterprise"  # 企业
    SOLE_TRADER = "sole_trader"  # 个体工商户
    FARMERS_COOPERATIVE = "farmers_cooperative"  # 农民专业合作社
    OTHER = "other"  # other authorities (public institutions, social organisations ...)


_MARKET_ENTITY_TYPES = {
    "1": EntityType.ENTERPRISE,
    "2": EntityType.SOLE_TRADER,
    "3": EntityType.FARMERS_COOPERATIVE,
}


def compact(code: object) -> str:
    """Half-width, separators removed, upper-case."""
    return compact_number(code)


def validate(code: object) -> str:
    """The code in its stored form (18 upper-case characters); raises Invalid. Words around the
    code (`执照号是92310115MA1K3B4C59`) are fine (see `in_text`)."""
    return in_text.find(code, _validate_one)


def _validate_one(code: object) -> str:
    value = compact(code)
    if too_long(code) or not value or not value.isascii() or not value.isalnum():
        raise Invalid(Reason.LICENCE_FORMAT)
    if len(value) != LENGTH:
        raise Invalid(Reason.LICENCE_LENGTH, actual_length=len(value))
    try:
        return uscc.validate(value)
    except InvalidLength:
        raise Invalid(Reason.LICENCE_LENGTH, actual_length=len(value)) from None
    except InvalidChecksum:
        raise Invalid(Reason.LICENCE_CHECKSUM) from None
    except StdnumError:  # InvalidFormat: a letter in the first 8 or I, O, Z, S, V
        raise Invalid(Reason.LICENCE_FORMAT) from None


def is_valid(code: object) -> bool:
    try:
        return bool(validate(code))
    except Invalid:
        return False


def get_entity_type(code: object) -> EntityType:
    """Enterprise, sole trader or farmers' cooperative (market regulator codes), else OTHER."""
    value = validate(code)
    if value[0] != MARKET_REGULATOR:
        return EntityType.OTHER
    return _MARKET_ENTITY_TYPES.get(value[1], EntityType.OTHER)
