"""Normalisation of the values merchants type: full-width forms, Chinese digits, separators.

Two levels:

- `to_halfwidth` and `normalize_digits` work on whole messages and keep their length: one character
  in, one character out, so a span found in the result has the same offsets in the original text
  (the entity extractor relies on this).
- `compact_number` works on one value (a card, ID, phone number ...): it also removes the separators
  merchants put inside numbers, strips the ends and upper-cases letters (an ID's final `x`).

>>> normalize_digits("卡号６２２２，验证码三五七九二一")
'卡号6222,验证码357921'
>>> compact_number(" 6222 0210-0000.0000 124 ")
'6222021000000000124'
>>> compact_number("11010519491231002x")
'11010519491231002X'
>>> compact_number("幺三八 两零零零 零零零一")
'13820000001'
>>> compact_number("幺幺幺二二二")
'111222'

Chinese digits count only inside a run of at least four of them (〇零一二三四五六七八九, ASCII digits,
separators between): "一张卡" and "三五天" stay text, "六二二二零二一" becomes digits. 两 and 幺
(spoken 2 and 1) convert only inside such a run and do not count towards the four. A value that is
nothing but digits (`compact_number("幺幺幺二二二")`, a code read out) converts whatever its count:
alone, it cannot be prose.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["to_halfwidth", "normalize_digits", "compact_number", "too_long"]

# Longest value a validator looks at; real values are under 40 characters, anything longer is
# refused by length before any other work (keeps every check O(small) on hostile input).
VALUE_MAX_CHARS = 200
# Longest part of a message the text-level functions transform; the rest is returned unchanged
# (same length), so even a 100,000-character message costs almost nothing.
TEXT_MAX_CHARS = 2000

CHINESE_DIGITS = {
    "〇": "0", "零": "0", "一": "1", "二": "2", "三": "3", "四": "4",
    "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
}
# Spoken forms: 两 (2) and 幺 (1, as in phone numbers read aloud); too common in prose to count.
WEAK_CHINESE_DIGITS = {"两": "2", "幺": "1"}
_ALL_CHINESE_DIGITS = {**CHINESE_DIGITS, **WEAK_CHINESE_DIGITS}
_MIN_RUN_DIGITS = 4

# What merchants type between groups of digits: spaces, dashes of every kind, dots.
SEPARATORS = " \t\u00a0\u3000-\u2010\u2011\u2012\u2013\u2014\u2015\u2212.\uff0e"
_SEP = "[" + re.escape(SEPARATORS) + "]"
_DIGIT_CHARS = "0-9" + "".join(_ALL_CHINESE_DIGITS)
_DIGIT_RUN = re.compile(f"[{_DIGIT_CHARS}](?:{_SEP}*[{_DIGIT_CHARS}])*")
_ONLY_DIGITS = re.compile(f"{_SEP}*{_DIGIT_RUN.pattern}{_SEP}*")
# Separators with a digit on one side and a digit or ASCII letter on the other.
_INNER_SEPARATORS = re.compile(
    f"(?<=[0-9]){_SEP}+(?=[0-9A-Za-z])|(?<=[A-Za-z]){_SEP}+(?=[0-9])"
)


def _as_text(value: object) -> str:
    """The string to work on: '' for None and other non-strings (integers become their digits)."""
    if isinstance(value, str):
        return value
    # huge integers: str() may refuse them (int_max_str_digits), and no real value is that long
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() < 1000:
        return str(value)
    return ""


@lru_cache(maxsize=4096)
def _halfwidth_char(char: str) -> str:
    folded = unicodedata.normalize("NFKC", char)
    return folded if len(folded) == 1 else char


def to_halfwidth(text: object) -> str:
    """NFKC character by character (`６` -> `6`, `Ｘ` -> `X`, `：` -> `:`, ideographic space ->
    space); characters whose NFKC form is longer than one character (`⑩`) are kept, so the length
    never changes."""
    text = _as_text(text)
    head, tail = text[:TEXT_MAX_CHARS], text[TEXT_MAX_CHARS:]
    if head.isascii():
        return text
    return "".join(_halfwidth_char(char) for char in head) + tail


def _convert_run(match: re.Match) -> str:
    run = match.group()
    counted = sum(1 for char in run if (char.isascii() and char.isdigit()) or char in CHINESE_DIGITS)
    if counted < _MIN_RUN_DIGITS:
        return run
    return "".join(_ALL_CHINESE_DIGITS.get(char, char) for char in run)


def normalize_digits(text: object) -> str:
    """Half-width text with the Chinese digits of number runs made ASCII; same length as the input."""
    text = to_halfwidth(text)
    head, tail = text[:TEXT_MAX_CHARS], text[TEXT_MAX_CHARS:]
    if not any(char in _ALL_CHINESE_DIGITS for char in head):
        return text
    return _DIGIT_RUN.sub(_convert_run, head) + tail


def compact_number(value: object) -> str:
    """One value in its compact form: digits normalised, separators inside numbers removed, ends
    stripped, letters upper-case. Looks at the first VALUE_MAX_CHARS characters only."""
    text = normalize_digits(_as_text(value)[:VALUE_MAX_CHARS])
    if _ONLY_DIGITS.fullmatch(text):
        text = "".join(_ALL_CHINESE_DIGITS.get(char, char) for char in text)
    return _INNER_SEPARATORS.sub("", text).strip(SEPARATORS + "\r\n\v\f").upper()


def too_long(value: object) -> bool:
    """True for a value longer than any real one: validators refuse it before doing any work."""
    return len(_as_text(value)) > VALUE_MAX_CHARS
