"""Documented test values that stand in for a real conversation's card, ID, licence, phone and
merchant numbers, codes, request references and names, when a conversation becomes a test story.

A test story must hold no merchant's data, yet still pass `rasa test core` on the model that had
the conversation: the NLU reads the story's sentences again (`--e2e`), and the rule-based extractor
(`bot.extraction`) must find the same kinds of values at the same places. So each real value is
replaced by a test value of the same kind and shape, never masked: a card by a card of the same
bank, card type, length and Luhn result; an ID by an ID that is valid (or not) like it; a code by
a code. `TestValues` hands them out: the same real value always gets the same test value, two
real values never share one, and no test value equals a real value of the same conversation
(the e2e tests type documented numbers themselves).

Where the values come from, in order of preference:

1. the documented test numbers: the demo data (bot.ops.demo, spec/CONTRACTS.md) and the examples
   of spec/DOMAIN_RULES.md, which are the only numbers the project's tests and examples use;
2. when none of those has the real value's shape (an unusual bank, length or prefix), a number
   made like them: the real value's first six digits (the BIN, which masked cards show anyway),
   zeros, a counter, and the check digit the real value has (or lacks);
3. codes: `000000`, `000001`, ...; request references: `CR20260101-TEST`, `CR20260101-TST2`, ...

>>> values = TestValues(avoid=["6222021000000000124"])
>>> values.substitute("card_number", "6222 0210 0000 0000 124")
'6222021000000000215'
>>> values.substitute("card_number", "6222021000000000124")
'6222021000000000215'
>>> values.substitute("otp_code", "551143"), values.substitute("otp_code", "771204")
('000000', '000001')
>>> values.substitute("name", "张伟")
'李娜'
"""
from __future__ import annotations

import itertools
import re
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

from stdnum import luhn
from stdnum.cn import ric, uscc

from bot.extraction.values import extract_values
from bot.validation import bank_card, licence, resident_id
from bot.validation.normalize import compact_number

# The examples of spec/DOMAIN_RULES.md (the shared spec is not always beside a clone: copied here).
DOMAIN_RULES_CARDS = (
    "6222021000000000124", "6227002000000000340", "6225883000000005", "6216604000000000568",
    "6228485000000000781", "6221886000000000914",  # debit, Luhn-valid
    "6225751000000004",  # credit card (refused)
    "9999991000000000005",  # unknown issuer
    "6222021000000000125",  # Luhn fails (a typo)
)
DOMAIN_RULES_IDS = (
    "11010519491231002X", "310101198503171233", "440103199008224568", "61010319880214567X",
    "440524188001010014",  # check digit right, place wrong for the birth year
)
DOMAIN_RULES_LICENCES = (
    "91110108551385082Q", "91310110666007217T", "91310115591693856A", "91110000600037341L",
    "92310115MA1K3B4C59",
)
# Names for people and businesses: the demo's first (spec/CONTRACTS.md), then made-up ones of
# other lengths, each starting with a common surname as the extractor's names do.
EXTRA_PERSON_NAMES = ("张晓明", "李晓红", "王建国", "刘建华", "陈志强", "杨秀英", "欧阳晓明", "司马晓红")
EXTRA_BUSINESS_NAMES = ("示例商贸有限公司", "示例餐饮店")
CODE_FORMAT = "{:06d}"
REQUEST_REFERENCES = ("CR20260101-TEST",)
REQUEST_REFERENCE_FORMAT = "CR20260101-TST{}"
_REFERENCE_SUFFIXES = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # bot.db.models.REFERENCE_ALPHABET

NUMBER_KINDS = ("card_number", "id_number", "license_number", "phone", "merchant_id", "otp_code", "request_id")
KINDS = NUMBER_KINDS + ("name",)

# How many made-up candidates to try for one value before settling for a less similar one.
_MAX_GENERATED = 500


def value_key(kind: str, value: str) -> str:
    """What makes two typed forms the same value: for numbers their letters and digits as the
    validators read them (`6222 0210…`, `６２２２０２１０…` and `六二二二…` are one card), for names
    the name itself."""
    if kind == "name":
        return value.strip()
    return number_key(value)


def number_key(value: str) -> str:
    key = re.sub(r"[^0-9A-Z]", "", compact_number(value))
    return key[-11:] if _MOBILE_WITH_COUNTRY_CODE.fullmatch(key) else key  # +86 138… is 138…


_MOBILE_WITH_COUNTRY_CODE = re.compile(r"(?:0086|86)1[3-9][0-9]{9}")


def _demo():
    from bot.ops import demo  # imports the database models: only when test values are needed

    return demo


def _documented(kind: str) -> Tuple[str, ...]:
    demo = _demo()
    merchants = demo.DEMO_MERCHANTS
    if kind == "card_number":
        return DOMAIN_RULES_CARDS + tuple(m.account_number for m in merchants)
    if kind == "id_number":
        return DOMAIN_RULES_IDS + tuple(m.id_number for m in merchants)
    if kind == "license_number":
        return DOMAIN_RULES_LICENCES
    if kind == "phone":
        return tuple(m.phone for m in merchants) + tuple(demo.load_test_merchant(i).phone for i in range(10, 1000))
    if kind == "merchant_id":
        return tuple(m.number for m in merchants) + tuple(demo.load_test_merchant(i).number for i in range(10, 1000))
    if kind == "request_id":
        return REQUEST_REFERENCES
    if kind == "name":
        people = tuple(dict.fromkeys(m.name for m in merchants))
        businesses = tuple(m.business_name for m in merchants if m.business_name)
        return people + EXTRA_PERSON_NAMES + businesses + EXTRA_BUSINESS_NAMES
    return ()


def _made_up(kind: str, real: str) -> Iterator[str]:
    """Candidates made like the documented ones, of the real value's length."""
    length = len(real)
    if kind == "otp_code":
        yield from (CODE_FORMAT.format(n) for n in range(10 ** 6))
    elif kind == "request_id":
        yield from (REQUEST_REFERENCE_FORMAT.format(c) for c in _REFERENCE_SUFFIXES)
    elif kind == "name":
        surname = "欧阳" if length >= 4 else "张"
        for given in itertools.product("甲乙丙丁戊己庚辛壬癸", repeat=max(1, length - len(surname))):
            yield surname + "".join(given)
    elif kind == "id_number" and length == 18:
        century = real[6:8] if real[6:8].isdigit() else "19"  # `18…` is no birth year: read as a card
        for n in range(1, 1000):
            body = f"110105{century}900101{n:03d}"
            check = ric.calc_check_digit(body)
            yield body + check
            yield body + ("0" if check == "X" else str((int(check) + 1) % 10))  # a wrong check digit
    elif kind == "license_number" and length == 18:
        prefix = real[:2] if re.fullmatch(r"9[1-3]", real[:2]) else "91"
        for n in range(1, 1000):
            body = f"{prefix}310000{n:09d}"
            yield body + uscc.calc_check_digit(body)
    elif real.isdigit():
        # A card keeps its BIN (bank and card type), a phone its network prefix.
        keep = real[:6] if length >= 15 else real[:3] if kind == "phone" else ""
        for n in itertools.count(1):
            counter = str(n)
            fill = length - 1 - len(keep) - len(counter)
            if fill < 0:
                return
            body = keep + "0" * fill + counter
            check = luhn.calc_check_digit(body)
            yield body + (check if luhn.is_valid(real) else str((int(check) + 1) % 10))


def _bare_kind(value: str) -> Optional[str]:
    """The kind the extractor gives the value typed alone ('card_number', 'otp_code', ...)."""
    found = extract_values(value)
    return found[0].entity if len(found) == 1 and found[0].start == 0 and found[0].end == len(value) else None


def _shape(kind: str, value: str) -> tuple:
    """What a test value must share with the real one so the bot and its NLU treat both alike."""
    if kind == "name":  # a person's name of the same length; any business name for a business
        return min(len(value), 5), _bare_kind(value)
    shape: tuple = (len(value), value.isdigit(), _bare_kind(value))
    if kind == "card_number":
        row = bank_card.lookup(value)
        shape += (row.bank if row else None, row.type if row else None, bank_card.luhn_ok(value))
    elif kind == "id_number":
        shape += (resident_id.is_valid(value),)
    elif kind == "license_number":
        shape += (licence.is_valid(value), value[:2])
    return shape


class TestValues:
    """Real value -> test value, the same one every time (see the module docstring).

    `avoid`: the conversation's real values (any typed form): no test value handed out equals one.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, avoid: Iterable[str] = ()) -> None:
        avoid = list(avoid)
        self._avoid_numbers: Set[str] = {key for key in map(number_key, avoid) if key}
        self._avoid_names: Set[str] = {value.strip() for value in avoid}
        self._numbers: Dict[str, str] = {}  # number_key(real) -> test value
        self._names: Dict[str, str] = {}  # real name -> test name
        self._used: Set[str] = set()

    def substitute(self, kind: str, real: str) -> str:
        """The test value for `real`, a value of `kind` (one of KINDS) as typed or stored."""
        table = self._names if kind == "name" else self._numbers
        key = value_key(kind, real)
        if key not in table:
            (self._avoid_names if kind == "name" else self._avoid_numbers).add(key)  # never itself
            table[key] = self._choose(kind, f"{key[:10]}-{key[10:]}" if kind == "request_id" else key)
            self._used.add(table[key])
        return table[key]

    def known(self, real: str) -> Optional[str]:
        """The test value already given for this number (any kind), or None."""
        return self._numbers.get(number_key(real))

    @property
    def numbers(self) -> Dict[str, str]:
        """number_key(real) -> test value, for every number substituted so far."""
        return dict(self._numbers)

    @property
    def names(self) -> Dict[str, str]:
        return dict(self._names)

    @property
    def used(self) -> Set[str]:
        """Every test value handed out."""
        return set(self._used)

    def _free(self, kind: str, candidate: str) -> bool:
        if candidate in self._used:
            return False
        if kind == "name":
            return candidate not in self._avoid_names
        return number_key(candidate) not in self._avoid_numbers

    def _choose(self, kind: str, real: str) -> str:
        wanted = _shape(kind, real)
        documented = [value for value in _documented(kind) if self._free(kind, value)]
        made_up = [value for value in itertools.islice(_made_up(kind, real), _MAX_GENERATED)
                   if self._free(kind, value)]
        for candidate in documented + made_up:
            if _shape(kind, candidate) == wanted:
                return candidate
        # Nothing of the very same shape: the same length at least, else anything of the kind.
        for candidate in documented + made_up:
            if len(candidate) == len(real):
                return candidate
        for candidate in documented + made_up:
            return candidate
        raise ValueError(f"no test value left for a {kind}")


def documented_values() -> Dict[str, List[str]]:
    """kind -> the documented test values of that kind (for checks and tests)."""
    return {kind: list(_documented(kind)) for kind in KINDS}
