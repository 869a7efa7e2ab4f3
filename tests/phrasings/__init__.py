"""The phrasing tables (tests/phrasings/<question>.yml): what merchants type for each question of
the change conversation, with the value the form must keep. Test data only, never training data.

`load(question)` reads one table; `render(text, code)` fills the code placeholders of the code
questions; `retarget_merchant_number(text, number)` makes a merchant-number phrasing name another
merchant in the same typed style (over REST each phrasing needs a merchant of its own, because of
the SMS limits).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

HERE = Path(__file__).resolve().parent
QUESTIONS = ("merchant_number", "identify_code", "route", "change_reason", "holder_id_number",
             "license_number", "new_account_number", "new_bank", "holder_name", "opening_branch",
             "change_confirmed", "sign_code")
CODE_QUESTIONS = ("identify_code", "sign_code")
EXAMPLE_CODE = "493817"

_CHINESE = "零一二三四五六七八九"
_FULLWIDTH = "０１２３４５６７８９"


@dataclass(frozen=True)
class Phrasing:
    text: str
    value: Any  # the normalised value (None for an answer that gives none, e.g. "不知道支行")
    flags: Dict[str, Any] = field(default_factory=dict)  # weak, self_reference, unknown

    def flag(self, name: str) -> bool:
        return bool(self.flags.get(name))


@dataclass(frozen=True)
class Table:
    question: str
    slot: str
    merchant: str
    phrasings: List[Phrasing]
    operator: Optional[str] = None  # the operator's name, what "就是我本人" stands for
    slot_value: Optional[str] = None  # what the slot holds instead of the value (codes: "verified")


@lru_cache(maxsize=None)
def load(question: str) -> Table:
    data = yaml.safe_load((HERE / f"{question}.yml").read_text(encoding="utf-8"))
    phrasings = []
    for row in data["phrasings"]:
        row = dict(row)
        phrasings.append(Phrasing(str(row.pop("text")), row.pop("value"), row))
    return Table(data["question"], data["slot"], str(data["merchant"]), phrasings,
                 data.get("operator"), data.get("slot_value"))


def code_forms(code: str) -> Dict[str, str]:
    """The ways merchants retype a 6-digit code."""
    return {
        "code": code,
        "code_spaced": f"{code[:3]} {code[3:]}",
        "code_dashed": f"{code[:3]}-{code[3:]}",
        "code_fullwidth": code.translate(str.maketrans("0123456789", _FULLWIDTH)),
        "code_chinese": "".join(_CHINESE[int(digit)] for digit in code),
        "code_spoken": "".join("幺" if digit == "1" else _CHINESE[int(digit)] for digit in code),
    }


def render(text: str, code: str = EXAMPLE_CODE) -> str:
    """A phrasing with its code placeholders filled (texts without placeholders are unchanged)."""
    return text.format(**code_forms(code)) if "{" in text else text


def _digit_value(char: str) -> Optional[int]:
    if char in _CHINESE:
        return _CHINESE.index(char)
    if char == "幺":
        return 1
    if char.isdigit():
        return unicodedata.digit(char, None)
    return None


def _same_style(old: str, digit: str) -> str:
    if old in _CHINESE or old == "幺":
        return _CHINESE[int(digit)]
    if old in _FULLWIDTH:
        return _FULLWIDTH[int(digit)]
    return digit


def retarget_merchant_number(text: str, number: str) -> str:
    """`text` names merchant `number` instead, typed the same way: the digits of the one number in
    it (ASCII, full-width or Chinese, separators kept) are replaced one by one.

    >>> retarget_merchant_number("商户编号：8221 0000 0000 001，麻烦了", "822100000000517")
    '商户编号：8221 0000 0000 517，麻烦了'
    >>> retarget_merchant_number("八二二一零零零零零零零零零零一", "822100000000517")
    '八二二一零零零零零零零零五一七'
    """
    from bot.validation.normalize import normalize_digits

    normalized = normalize_digits(text)  # same length: digits of number runs become ASCII
    positions = [index for index, char in enumerate(normalized) if char.isascii() and char.isdigit()]
    if len(positions) != len(number):
        raise ValueError(f"{text!r} does not hold one {len(number)}-digit number")
    chars = list(text)
    for index, digit in zip(positions, number):
        assert _digit_value(chars[index]) is not None
        chars[index] = _same_style(chars[index], digit)
    return "".join(chars)
