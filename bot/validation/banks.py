"""Bank names: what merchants call their bank (工行, 招商, ICBC ...) to the bank's code and full name.

Names come from the BIN table's `name.csv` (data/bank-bins/, hexindai/bcbc, MIT licence); the
common short names and English abbreviations of the big banks are listed here. Shorter forms are
derived from the table: `中国民生银行` is also `民生银行`, `花旗银行（中国）` also `花旗银行`.
English is matched case-insensitively, full-width forms and spaces are ignored, and a trailing
`的` / `卡` / `借记卡` or a branch (`上海分行`, `徐汇支行`) does not hide the bank.

>>> normalize_bank("工行")
Bank(code='ICBC', name='中国工商银行')
>>> normalize_bank(" icbc ").name
'中国工商银行'
>>> normalize_bank("招商银行上海分行").code
'CMB'
>>> normalize_bank("火星银行")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: bank_unknown
"""
from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, NamedTuple

from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import to_halfwidth, too_long

__all__ = ["Bank", "normalize_bank", "validate", "is_valid", "bank_name", "same_bank", "all_aliases"]

DATA_DIR = Path(__file__).resolve().parent / "data" / "bank-bins"


class Bank(NamedTuple):
    code: str  # the BIN table's bank code, e.g. ICBC
    name: str  # full Chinese name, e.g. 中国工商银行


# Short names and English abbreviations merchants use for the big banks (code -> aliases).
SHORT_NAMES: Dict[str, tuple] = {
    "ICBC": ("工行", "工商", "工商银行", "中国工商", "ICBC"),
    "CCB": ("建行", "建设", "建设银行", "中国建设", "CCB"),
    "ABC": ("农行", "农业", "农业银行", "中国农业", "ABC"),
    "BOC": ("中行", "中银", "BOC"),
    "COMM": ("交行", "交通", "交通银行", "BOCOM", "COMM", "BCM"),
    "CMB": ("招行", "招商", "招商银行", "CMB"),
    "PSBC": ("邮储", "邮政", "邮储银行", "邮政银行", "邮政储蓄", "中国邮政", "PSBC"),
    "SPDB": ("浦发", "浦发银行", "浦东发展银行", "SPDB"),
    "CMBC": ("民生", "CMBC"),
    "CIB": ("兴业", "CIB"),
    "CITIC": ("中信", "CITIC"),
    "CEB": ("光大", "CEB"),
    "HXBANK": ("华夏", "HXB", "HXBANK"),
    "GDB": ("广发", "广发银行", "CGB", "GDB"),
    "SPABANK": ("平安", "PAB", "PINGAN"),
    "BJBANK": ("BOB",),
    "SHBANK": ("BOSC",),
    "CZBANK": ("浙商", "CZB"),
    "EGBANK": ("恒丰",),
    "BOHAIB": ("渤海", "CBHB"),
    "HSBANK": ("徽商",),
    "NBBANK": ("NBCB",),
}

# Aliases that are also everyday words or parts of them (个体工商户, 建设, 平安, 交通 ...): an entity
# ruler should only take them next to 银行 / 卡 or when the bank is being asked for.
AMBIGUOUS_ALIASES = frozenset(
    {"工商", "建设", "农业", "交通", "招商", "邮政", "民生", "兴业", "中信", "光大", "华夏",
     "平安", "浙商", "恒丰", "渤海", "徽商", "中银", "ABC", "BOB"}
)

_FILLER_SUFFIXES = ("借记卡", "储蓄卡", "银行卡", "的卡", "卡", "的")
_COMPANY_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司")
_BRANCH_SUFFIXES = ("分行", "支行", "营业部", "分理处", "储蓄所")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _names() -> Dict[str, str]:
    """Bank code -> full name from name.csv (which has blank lines)."""
    with open(DATA_DIR / "name.csv", encoding="utf-8", newline="") as handle:
        return {
            row["bank"].strip(): row["name"].strip()
            for row in csv.DictReader(handle)
            if row.get("bank") and row.get("name")
        }


def _key(text: str) -> str:
    return _SPACES.sub("", to_halfwidth(text)).casefold()


def _derived_names(name: str) -> list:
    """Shorter forms of a full name that still name only this bank."""
    forms = []
    for suffix in ("（中国）", "(中国)") + _COMPANY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 2:
            forms.append(name[: -len(suffix)])
    if name.startswith("中国") and name.endswith("银行") and len(name) > len("中国银行"):
        forms.append(name[len("中国"):])
    return forms


@lru_cache(maxsize=1)
def _aliases() -> Dict[str, Bank]:
    """Every alias as written (display form) -> bank; earlier sources win on a clash."""
    names = _names()
    table: Dict[str, Bank] = {}
    for code, aliases in SHORT_NAMES.items():
        for alias in aliases:
            table.setdefault(alias, Bank(code, names[code]))
    for code, name in names.items():
        table.setdefault(name, Bank(code, name))
    for code, name in names.items():
        for form in _derived_names(name):
            table.setdefault(form, Bank(code, name))
    return table


@lru_cache(maxsize=1)
def _lookup() -> Dict[str, Bank]:
    """Matching keys (see `_key`) -> bank: all aliases, plus the table's codes."""
    names = _names()
    table = {_key(alias): bank for alias, bank in _aliases().items()}
    for code, name in names.items():
        table.setdefault(_key(code), Bank(code, name))
    return table


def all_aliases(include_ambiguous: bool = True) -> Dict[str, Bank]:
    """Alias as written -> bank, for an entity ruler: full names, derived and short names, English
    abbreviations (match English case-insensitively). The table's other codes are not included:
    many are arbitrary letter strings. `include_ambiguous=False` leaves out AMBIGUOUS_ALIASES."""
    return {
        alias: bank
        for alias, bank in _aliases().items()
        if include_ambiguous or alias not in AMBIGUOUS_ALIASES
    }


def _strip_fillers(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for suffix in _FILLER_SUFFIXES + _COMPANY_SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                key, changed = key[: -len(suffix)], True
    return key


def _find(key: str) -> Bank | None:
    table = _lookup()
    for candidate in (key, _strip_fillers(key)):
        bank = table.get(candidate)
        if bank is None and candidate.startswith("中国"):
            bank = table.get(candidate[len("中国"):])
        if bank is not None:
            return bank
    # "招商银行上海分行": the longest alias that starts the text, when the rest names a branch.
    stripped = _strip_fillers(key)
    if stripped.endswith(_BRANCH_SUFFIXES):
        for end in range(len(stripped) - 1, 1, -1):
            # only a name ending in 行 (工行, 招商银行): "农业发展银行" must not become "农业"
            bank = table.get(stripped[:end]) if stripped[end - 1] == "行" else None
            if bank is not None:
                return bank
    return None


def normalize_bank(text: object) -> Bank:
    """The bank a merchant named, as (code, full name); raises Invalid(bank_unknown)."""
    if not isinstance(text, str) or too_long(text):
        raise Invalid(Reason.BANK_UNKNOWN)
    bank = _find(_key(text))
    if bank is None:
        raise Invalid(Reason.BANK_UNKNOWN)
    return bank


validate = normalize_bank


def is_valid(text: object) -> bool:
    try:
        return bool(normalize_bank(text))
    except Invalid:
        return False


def bank_name(code: str) -> str:
    """Full Chinese name for a table bank code; raises Invalid(bank_unknown)."""
    name = _names().get(code) if isinstance(code, str) else None
    if name is None:
        raise Invalid(Reason.BANK_UNKNOWN)
    return name


def same_bank(code_a: str, code_b: str) -> bool:
    """True for one bank: the same code, or two codes the table gives the same name (洛阳银行 ...)."""
    if not (isinstance(code_a, str) and isinstance(code_b, str)):
        return False
    if code_a == code_b:
        return True
    names = _names()
    return code_a in names and names.get(code_a) == names.get(code_b)
