"""Bank names: what merchants call their bank (工行, 招商, ICBC ...) to the bank's code and full name.

Names come from the BIN table's `name.csv` (data/bank-bins/, hexindai/bcbc, MIT licence); the
common short names and English abbreviations of the big banks are listed here. Shorter forms are
derived from the table: `中国民生银行` is also `民生银行`, `花旗银行（中国）` also `花旗银行`.
English is matched case-insensitively, full-width forms and spaces are ignored, and a trailing
`的` / `卡` / `借记卡` or a branch (`上海分行`, `徐汇支行`) does not hide the bank.

What merchants type besides: the rural banks by their usual short forms (`上海农商行` for
上海农村商业银行, `浙江农信` for 浙江省农村信用社联合社); the two kinds of rural bank without a
place (`农信社`, `农商行`), which name a group of banks (`RURAL_GROUPS`: any card of the group
matches it); homophone typos of 行 after 银 (`招商银航`), and traditional characters (`中國銀行`).
Words around the name (`是工行的`, `开在建行`) are dropped.

>>> normalize_bank("招商银航").name
'招商银行'
>>> normalize_bank("农信社")
Bank(code='RURAL_CREDIT', name='农村信用社')
>>> same_bank("RURAL_CREDIT", "ZJNX")
True

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

# Groups of banks merchants name by their kind, not their place: code -> (name, aliases, what a
# member's full name contains). A card of any member matches the group.
RURAL_GROUPS: Dict[str, tuple] = {
    "RURAL_CREDIT": ("农村信用社", ("农信社", "农村信用社", "信用社", "农村信用合作社", "农信", "信合",
                                    "农村信用联社", "信用联社"),
                     ("信用社", "信用联社", "信用联合社", "农信", "信合")),
    "RURAL_COMMERCIAL": ("农村商业银行", ("农商行", "农商银行", "农村商业银行", "农商"),
                         ("农村商业银行", "农商银行", "农商行")),
}

_FILLER_SUFFIXES = ("借记卡", "储蓄卡", "银行卡", "的卡", "卡", "的")
_FILLER_PREFIXES = ("我的卡是", "新卡是", "开户行是", "开户银行是", "银行是", "我用的是", "我用", "用的是",
                    "开在", "办在", "是在", "在", "就是", "是")
# Homophones merchants' input methods produce for 行 in 银行 (yín háng).
_HANG_TYPOS = re.compile("银[航杭吭沆绗桁珩衡恒形型]")
# Traditional characters of bank names (Hong Kong, Taiwan and older keyboards).
_TRADITIONAL = str.maketrans("國銀農業設發東廣華興儲郵聯匯滙開戶", "国银农业设发东广华兴储邮联汇汇开户")
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
    key = _SPACES.sub("", to_halfwidth(text)).casefold().translate(_TRADITIONAL)
    return _HANG_TYPOS.sub("银行", key)


def _derived_names(name: str) -> list:
    """Shorter forms of a full name that still name only this bank."""
    forms = []
    for suffix in ("（中国）", "(中国)") + _COMPANY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 2:
            forms.append(name[: -len(suffix)])
    if name.startswith("中国") and name.endswith("银行") and len(name) > len("中国银行"):
        forms.append(name[len("中国"):])
    # 上海农村商业银行 is called 上海农商银行 and 上海农商行
    if name.endswith("农村商业银行") and len(name) > len("农村商业银行"):
        place = name[: -len("农村商业银行")]
        forms += [place + "农商银行", place + "农商行"]
    if name.endswith("农商银行") and len(name) > len("农商银行"):
        forms.append(name[: -len("银行")] + "行")
    # 浙江省农村信用社联合社 is called 浙江农信社, 浙江省农信, 浙江农信 ...
    for suffix in ("农村信用社联合社", "农村信用联合社", "农村信用社", "农村信用联社"):
        if name.endswith(suffix) and len(name) > len(suffix):
            place = name[: -len(suffix)]
            places = {place, place[:-1]} if place.endswith("省") and len(place) > 2 else {place}
            for where in sorted(places):
                forms += [where + "农信社", where + "农信", where + "农村信用社", where + "信用社"]
            break
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
    for code, (name, aliases, _) in RURAL_GROUPS.items():
        for alias in aliases:
            table.setdefault(alias, Bank(code, name))
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


def _strip_prefixes(key: str) -> str:
    for prefix in _FILLER_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix) + 1:
            return key[len(prefix):]
    return key


def _find(key: str) -> Bank | None:
    bank = _find_name(key)
    stripped = _strip_prefixes(key)
    if bank is None and stripped != key:
        bank = _find_name(stripped)
    return bank


def _find_name(key: str) -> Bank | None:
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
    """Full Chinese name for a table bank code (or a RURAL_GROUPS code); raises Invalid(bank_unknown)."""
    if isinstance(code, str) and code in RURAL_GROUPS:
        return RURAL_GROUPS[code][0]
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
    for group, member in ((code_a, code_b), (code_b, code_a)):
        if group in RURAL_GROUPS:
            return any(word in names.get(member, "") for word in RURAL_GROUPS[group][2])
    return code_a in names and names.get(code_a) == names.get(code_b)
