"""The one value inside a merchant's sentence: `卡号是6222 0210 0000 0000 124`, `验证码是 493817 谢谢`.

Merchants rarely answer with the bare number: they put words around it, and sometimes two numbers
in one message (`822100000000001 493817`). Every number validator (`resident_id`, `licence`,
`bank_card`, `corporate_account`, `phone`, `identifiers`) goes through `find`, which tries, in order:

1. the whole message, compacted: what a bare answer is, with the validator's own failure reasons;
2. each run of digits and ASCII letters in the message (the separators merchants type inside
   numbers, spaces, dashes and dots, stay inside a run; words and other punctuation end it):
   exactly one distinct valid value wins;
3. for runs refused on their shape only (format or length): every stretch of consecutive groups
   of the run, so that two numbers typed one after the other with a space are not glued into one
   (`822100000000001 493817` holds a merchant number and a code); exactly one distinct valid
   value wins.

Nothing valid: the most telling failure is raised. A rule failure (checksum, BIN, Luhn, credit
card ...) says more than a length failure, which says more than a format failure; the whole
message's failure when nothing in it looks like a value. Two different valid values (`验证码
493817 不对是 493818`) are ambiguous: the whole message's failure is raised, the bot asks again.

>>> from bot.validation.identifiers import validate_otp
>>> find("验证码是 493817 谢谢", validate_otp)
'493817'
>>> find("822100000000001 493817", validate_otp)
'493817'
>>> numbers_in("卡号6222 0210 0000 0000 124，工行的")
['6222021000000000124']
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Tuple, TypeVar

from bot.validation.errors import Invalid
from bot.validation.normalize import SEPARATORS, compact_number, normalize_digits

__all__ = ["find", "numbers_in"]

T = TypeVar("T")

# A message longer than the channels let through (MAX_MESSAGE_CHARS) is not searched.
MAX_SCAN_CHARS = 500
# Runs of more groups than this are not split (12 groups: a card typed digit by digit is 19).
MAX_SPLIT_GROUPS = 24
_SEP = "[" + re.escape(SEPARATORS) + "]"
_RUN = re.compile(f"[0-9A-Za-z]+(?:{_SEP}+[0-9A-Za-z]+)*")
_GROUP_SPLIT = re.compile(f"{_SEP}+")


def _runs(text: str) -> List[Tuple[str, List[str]]]:
    """(run as typed after digit normalisation, its groups) for each run holding a digit."""
    normalized = normalize_digits(text[:MAX_SCAN_CHARS])
    found = []
    for match in _RUN.finditer(normalized):
        run = match.group()
        if any(char.isdigit() for char in run):
            found.append((run, _GROUP_SPLIT.split(run)))
    return found


def numbers_in(text: object) -> List[str]:
    """The compact form of every run of digits (and letters) in a message, in order."""
    if not isinstance(text, str):
        return []
    return [compact_number(run) for run, _ in _runs(text)]


def _telling(error: Invalid) -> int:
    """How much a failure says: format < length < any rule about the value itself."""
    name = error.reason.value
    if name.endswith("_format"):
        return 0
    if name.endswith("_length"):
        return 1
    return 2


def _stretches(groups: List[str]) -> List[str]:
    """Consecutive groups joined, longest first, the whole run excluded."""
    count = len(groups)
    return [
        "".join(groups[start:start + size])
        for size in range(count - 1, 0, -1)
        for start in range(0, count - size + 1)
    ]


def _only(valid: Dict[object, T]) -> T | None:
    return next(iter(valid.values())) if len(valid) == 1 else None


def find(value: object, check: Callable[[object], T]) -> T:
    """`check` (a validator of one value) applied to the value in `value`; see the module docstring."""
    try:
        return check(value)
    except Invalid as whole_error:
        if not isinstance(value, str) or len(value) > MAX_SCAN_CHARS:
            raise
        runs = _runs(value)
        if len(runs) == 1 and compact_number(runs[0][0]) == compact_number(value):
            candidates_failed = [(whole_error, runs[0])]
        else:
            candidates_failed = []
            valid: Dict[object, T] = {}
            for run in runs:
                try:
                    accepted = check(run[0])
                except Invalid as error:
                    candidates_failed.append((error, run))
                else:
                    valid.setdefault(accepted, accepted)
            if len(valid) > 1:
                raise whole_error from None
            if valid:
                return _only(valid)
        split_valid: Dict[object, T] = {}
        for error, (_, groups) in candidates_failed:
            if _telling(error) == 2 or not 1 < len(groups) <= MAX_SPLIT_GROUPS:
                continue
            for stretch in _stretches(groups):
                try:
                    accepted = check(stretch)
                except Invalid:
                    continue
                split_valid.setdefault(accepted, accepted)
        if len(split_valid) == 1:
            return _only(split_valid)
        if not candidates_failed or len(split_valid) > 1:
            raise whole_error from None
        best = max(candidates_failed, key=lambda failed: (_telling(failed[0]), len(failed[1][0])))[0]
        if _telling(best) >= _telling(whole_error):
            raise best from None
        raise whole_error from None
