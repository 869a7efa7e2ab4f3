"""Personal names as on the resident ID: 2-15 Chinese characters, 间隔号 `·` between name parts.

Minority names use the 间隔号 (`阿卜杜拉·买买提`); merchants type it as `·`, `・`, `•`, `.` and other
look-alikes, all stored as `·` (U+00B7). Spaces are dropped. Digits, Latin letters and other
symbols are refused.

>>> validate(" 周 强 ")
'周强'
>>> validate("阿卜杜拉・买买提")
'阿卜杜拉·买买提'
>>> validate("张3")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: name_format
"""
from __future__ import annotations

import re
import unicodedata

from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import VALUE_MAX_CHARS, too_long

__all__ = ["compact", "validate", "is_valid"]

MIN_LENGTH, MAX_LENGTH = 2, 15
SEPARATOR = "\u00b7"  # · MIDDLE DOT, the 间隔号 of GB/T 15834 as typed on computers
_SEPARATOR_VARIANTS = "\u00b7\u30fb\uff65\u2022\u2027\u2219\u22c5\u2024\u0387\u16eb\u2e31.\uff0e"
_SEPARATORS = re.compile("[" + re.escape(_SEPARATOR_VARIANTS) + "]")
_SPACES = re.compile(r"\s+")
# CJK unified ideographs (basic, extension A, extensions B-H) and 〇, used in some names.
_HAN = "\u3007\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f"
_NAME = re.compile(f"[{_HAN}]+(?:{SEPARATOR}[{_HAN}]+)*")


def compact(name: object) -> str:
    """NFKC, spaces removed, every 间隔号 look-alike as `·`."""
    if not isinstance(name, str):
        return ""
    text = unicodedata.normalize("NFKC", name[:VALUE_MAX_CHARS])
    return _SEPARATORS.sub(SEPARATOR, _SPACES.sub("", text))


def validate(name: object) -> str:
    """The name in its stored form; raises Invalid(name_format) or Invalid(name_length)."""
    value = compact(name)
    if too_long(name) or not _NAME.fullmatch(value):
        raise Invalid(Reason.NAME_FORMAT)
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        raise Invalid(Reason.NAME_LENGTH, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    return value


def is_valid(name: object) -> bool:
    try:
        return bool(validate(name))
    except Invalid:
        return False
