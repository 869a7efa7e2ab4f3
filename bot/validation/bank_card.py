"""Bank cards for settlement: issuer from the BIN table, debit only, right length, Luhn.

The BIN table (data/bank-bins/, hexindai/bcbc v0.0.16, MIT licence) has rows `bin,bank,type,length`:
an issuer prefix of 3-10 digits, the bank's code, the card type (DC debit, CC credit, SCC
semi-credit, PC prepaid) and the card length for that prefix. A row is a (prefix, length) pair:
one prefix may have rows of several lengths.

Lookup policy (`BinTable.lookup`):

1. Among the rows whose prefix starts the number and whose length equals the number's length, the
   one with the LONGEST prefix wins.
2. A prefix listed twice with that same length (none in v0.0.16; kept as a rule for future data)
   resolves to its debit row, then to the first row in the file.
3. No such row: if the longest matching prefix is known with a length one digit away from the
   number's, a digit was dropped or doubled (`card_length`, with the lengths known for that
   prefix). Otherwise the table does not know this card (`card_unknown_bin`): no prefix matches,
   or only with lengths two or more digits away, which is another card product, not a typo
   (`9999991000000000005`: 999999 is listed for Hua Xia Bank with 16 digits only).

The twelve duplicated prefixes of v0.0.16 all differ in length, so rule 1 settles them by the
number's length: `621260` is a Ping An credit card with 16 digits and a Changshu rural bank debit
card with 19; `622309` is ICBC with 18 digits and China Zheshang Bank with 19.

Checks, in order (the first failure is raised; see `validate`): 15-19 digits; not the current
card; known issuer; length for that issuer; the bank the merchant named is the issuer; a debit
card; Luhn. Luhn comes last because it is the only soft failure: it holds for most Chinese debit
cards but not all (some ICBC, Bank of Communications 601428 17-digit and Bank of Jiangsu cards), so
a failure means "please re-check"; the same number entered again is accepted and marked for
manual review (`CardInfo.needs_review`).

>>> validate("6222 0210 0000 0000 124", bank="工行").bank_name
'中国工商银行'
>>> validate("卡号是6222 0210 0000 0000 124").last4
'0124'
>>> validate("6225751000000004")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: card_not_debit_credit (bank_name=招商银行)
>>> validate("6222021000000000125")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: card_luhn (last4=0125)
>>> validate("6222021000000000125", previous="6222021000000000125").needs_review
True
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from stdnum import luhn

from bot.masking import mask_card_spaced
from bot.validation import banks, in_text
from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import compact_number, too_long

__all__ = [
    "BinRow", "BinTable", "CardInfo", "compact", "lookup", "luhn_ok", "validate", "is_valid",
    "bin_table",
]

MIN_LENGTH, MAX_LENGTH = 15, 19
# A dropped or doubled digit changes the length by one; a bigger difference is not a typo.
TYPO_LENGTH_DIFFERENCE = 1
DEBIT, CREDIT, SEMI_CREDIT, PREPAID = "DC", "CC", "SCC", "PC"
_REFUSED_TYPES = {
    CREDIT: Reason.CARD_NOT_DEBIT_CREDIT,
    SEMI_CREDIT: Reason.CARD_NOT_DEBIT_SEMI_CREDIT,
    PREPAID: Reason.CARD_NOT_DEBIT_PREPAID,
}


@dataclass(frozen=True)
class BinRow:
    bin: str  # issuer prefix, 3-10 digits
    bank: str  # bank code (see banks.bank_name)
    type: str  # DC, CC, SCC or PC
    length: int  # card number length for this prefix


class BinTable:
    """Prefix -> rows, with the lookup policy of the module docstring."""

    def __init__(self, rows: Iterable[BinRow]) -> None:
        self._rows: Dict[str, List[BinRow]] = {}
        for row in rows:
            self._rows.setdefault(row.bin, []).append(row)
        self._longest = max((len(prefix) for prefix in self._rows), default=0)

    @classmethod
    def from_csv(cls, path: Path) -> "BinTable":
        with open(path, encoding="utf-8", newline="") as handle:
            return cls(
                BinRow(row["bin"].strip(), row["bank"].strip(), row["type"].strip(), int(row["length"]))
                for row in csv.DictReader(handle)
                if row.get("bin")
            )

    def rows(self, prefix: str) -> Tuple[BinRow, ...]:
        return tuple(self._rows.get(prefix, ()))

    def duplicated_prefixes(self) -> Dict[str, Tuple[BinRow, ...]]:
        return {prefix: tuple(rows) for prefix, rows in self._rows.items() if len(rows) > 1}

    def _matching(self, number: str) -> List[List[BinRow]]:
        """Row lists of every prefix of `number` in the table, longest prefix first."""
        top = min(len(number), self._longest)
        return [self._rows[number[:n]] for n in range(top, 0, -1) if number[:n] in self._rows]

    def lookup(self, number: str) -> Optional[BinRow]:
        """The issuer row for a number of digits, or None (see `expected_lengths` then)."""
        for rows in self._matching(number):
            fitting = [row for row in rows if row.length == len(number)]
            if fitting:
                return _preferred(fitting)
        return None

    def expected_lengths(self, number: str) -> Tuple[int, ...]:
        """Lengths the longest matching prefix allows; () when no prefix matches."""
        matching = self._matching(number)
        return tuple(sorted({row.length for row in matching[0]})) if matching else ()


def _preferred(rows: List[BinRow]) -> BinRow:
    """Debit first (what settlement needs), then file order."""
    return next((row for row in rows if row.type == DEBIT), rows[0])


@lru_cache(maxsize=1)
def bin_table() -> BinTable:
    return BinTable.from_csv(banks.DATA_DIR / "bin.csv")


@dataclass(frozen=True)
class CardInfo:
    """A card accepted for settlement. `repr` shows the masked number only."""

    number: str = field(repr=False)
    bank_code: str
    bank_name: str
    card_type: str
    length: int
    bin: str
    luhn_ok: bool
    needs_review: bool  # Luhn failed and the merchant confirmed the number: manual review

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def masked(self) -> str:
        return mask_card_spaced(self.number)


def compact(number: object) -> str:
    """Digits only: full-width and Chinese digits converted, spaces, dashes and dots removed."""
    return compact_number(number)


def lookup(number: object) -> Optional[BinRow]:
    """The issuer row for a card number (any typed form), or None."""
    digits = compact(number)
    return bin_table().lookup(digits) if digits.isascii() and digits.isdigit() else None


def luhn_ok(number: object) -> bool:
    digits = compact(number)
    return digits.isascii() and digits.isdigit() and luhn.is_valid(digits)


def validate(
    number: object,
    *,
    bank: object = None,
    current: object = None,
    previous: object = None,
) -> CardInfo:
    """Check a settlement card; returns CardInfo or raises Invalid naming the failed rule.

    bank: what the merchant said the bank is (alias, full name or code); must be the issuer.
    current: the merchant's current settlement card; the new one must differ.
    previous: the number entered before; the same number again accepts a Luhn failure
        (soft `card_luhn`) and marks the card for manual review.
    Words around the number (`卡号是6222 0210 0000 0000 124`) are fine (see `in_text`); so are
    `current` and `previous` as the merchant typed them.
    """
    return in_text.find(number, lambda typed: _validate_one(typed, bank, current, previous))


def _is(other: object, digits: str) -> bool:
    """True when `other` (a stored number or what the merchant typed) is the number `digits`."""
    return other is not None and digits in [compact(other)] + in_text.numbers_in(other)


def _validate_one(number: object, bank: object, current: object, previous: object) -> CardInfo:
    digits = compact(number)
    if too_long(number) or not (digits.isascii() and digits.isdigit()) or not (
        MIN_LENGTH <= len(digits) <= MAX_LENGTH
    ):
        raise Invalid(Reason.CARD_FORMAT)
    if _is(current, digits):
        raise Invalid(Reason.CARD_SAME_AS_CURRENT, last4=digits[-4:])
    table = bin_table()
    row = table.lookup(digits)
    if row is None:
        expected = table.expected_lengths(digits)
        if not any(abs(length - len(digits)) <= TYPO_LENGTH_DIFFERENCE for length in expected):
            raise Invalid(Reason.CARD_UNKNOWN_BIN)
        raise Invalid(
            Reason.CARD_LENGTH,
            expected_length="/".join(str(length) for length in expected),
            actual_length=len(digits),
        )
    issuer = banks.bank_name(row.bank)
    if bank is not None:
        named = banks.normalize_bank(bank)
        if not banks.same_bank(named.code, row.bank):
            raise Invalid(Reason.CARD_BANK_MISMATCH, bank_name=issuer, named_bank=named.name)
    if row.type != DEBIT:
        raise Invalid(_REFUSED_TYPES.get(row.type, Reason.CARD_NOT_DEBIT_CREDIT), bank_name=issuer)
    checksum_ok = luhn.is_valid(digits)
    confirmed = _is(previous, digits)
    if not checksum_ok and not confirmed:
        raise Invalid(Reason.CARD_LUHN, last4=digits[-4:])
    return CardInfo(
        number=digits,
        bank_code=row.bank,
        bank_name=issuer,
        card_type=row.type,
        length=len(digits),
        bin=row.bin,
        luhn_ok=checksum_ok,
        needs_review=not checksum_ok,
    )


def is_valid(
    number: object, *, bank: object = None, current: object = None, previous: object = None
) -> bool:
    """True when `validate` accepts the card (a soft Luhn failure counts as not valid)."""
    try:
        return bool(validate(number, bank=bank, current=current, previous=previous))
    except Invalid:
        return False
