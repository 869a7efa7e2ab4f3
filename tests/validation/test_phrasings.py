"""Every phrasing of the tables in tests/phrasings/ gives its expected value through the validator
of its question (the same values the form must keep; tests/e2e/test_phrasings_rest.py checks them
over REST against the real assistant)."""
from __future__ import annotations

import doctest
import re
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

import phrasings
from bot.validation import (
    bank_card,
    banks,
    branch,
    confirmation,
    identifiers,
    licence,
    person_name,
    reason,
    resident_id,
    route,
)
from bot.validation.errors import Invalid, Reason
from phrasings import Phrasing, Table

DATA = Path(__file__).resolve().parents[2] / "data"
CURRENT_CARD = "6228485000000000781"  # merchant 822100000000001's current card (ABC)
MIN_PHRASINGS = 8


def _code(table: Table, phrasing: Phrasing) -> Any:
    return identifiers.validate_otp(phrasings.render(phrasing.text)), phrasings.render(str(phrasing.value))


def _reason(table: Table, phrasing: Phrasing) -> Any:
    result = reason.validate(phrasing.text)
    assert result.strong is not phrasing.flag("weak"), "strong category expected" if result.strong else "weak"
    return result.value, phrasing.value


def _card(table: Table, phrasing: Phrasing) -> Any:
    card = bank_card.validate(phrasing.text, current=CURRENT_CARD)
    assert card.card_type == bank_card.DEBIT and card.luhn_ok
    return card.number, phrasing.value


def _holder(table: Table, phrasing: Phrasing) -> Any:
    if phrasing.flag("self_reference"):
        assert person_name.is_self_reference(phrasing.text)
        return table.operator, phrasing.value
    assert not person_name.is_self_reference(phrasing.text)
    return person_name.validate(phrasing.text), phrasing.value


def _branch(table: Table, phrasing: Phrasing) -> Any:
    if phrasing.flag("unknown"):
        assert branch.is_unknown(phrasing.text)
        with pytest.raises(Invalid) as caught:
            branch.validate(phrasing.text)
        assert caught.value.reason is Reason.BRANCH_NOT_KNOWN
        return None, phrasing.value
    return branch.validate(phrasing.text), phrasing.value


def _plain(validator: Callable[[str], Any]) -> Callable[[Table, Phrasing], Any]:
    return lambda table, phrasing: (validator(phrasing.text), phrasing.value)


# question -> (table, phrasing) -> (what the validator made of it, what the table expects)
CHECKS: Dict[str, Callable[[Table, Phrasing], Any]] = {
    "merchant_number": _plain(identifiers.validate_merchant_id),
    "identify_code": _code,
    "route": _plain(route.validate),
    "change_reason": _reason,
    "holder_id_number": _plain(resident_id.validate),
    "license_number": _plain(licence.validate),
    "new_account_number": _card,
    "new_bank": _plain(lambda text: banks.normalize_bank(text).name),
    "holder_name": _holder,
    "opening_branch": _branch,
    "change_confirmed": _plain(confirmation.validate),
    "sign_code": _code,
}

CASES = [
    pytest.param(question, phrasing, id=f"{question}-{phrasing.text}")
    for question in phrasings.QUESTIONS
    for phrasing in phrasings.load(question).phrasings
]


def test_every_question_has_its_table():
    assert set(CHECKS) == set(phrasings.QUESTIONS)
    assert {path.stem for path in phrasings.HERE.glob("*.yml")} == set(phrasings.QUESTIONS)


@pytest.mark.parametrize("question", phrasings.QUESTIONS)
def test_at_least_eight_phrasings_each_said_once(question):
    table = phrasings.load(question)
    texts = [phrasing.text for phrasing in table.phrasings]
    assert len(texts) >= MIN_PHRASINGS and len(set(texts)) == len(texts)
    assert table.slot == question


@pytest.mark.parametrize("question, phrasing", CASES)
def test_phrasing_gives_its_value(question, phrasing):
    found, expected = CHECKS[question](phrasings.load(question), phrasing)
    assert found == expected


def test_retargeting_doctests():
    assert doctest.testmod(phrasings).failed == 0


def test_every_merchant_number_phrasing_can_name_another_merchant():
    for phrasing in phrasings.load("merchant_number").phrasings:
        retargeted = phrasings.retarget_merchant_number(phrasing.text, "822100000000517")
        assert identifiers.validate_merchant_id(retargeted) == "822100000000517"


def _training_examples() -> set:
    examples = set()
    for path in DATA.rglob("*.yml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s*- (.*)$", line)
            if match:  # annotated entities "[工行](bank)" count as their text
                examples.add(re.sub(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}",
                                    lambda m: m.group(1) or m.group(2), match.group(1)).strip())
        assert "TEST DATA ONLY" not in path.read_text(encoding="utf-8"), f"a phrasing table was copied into {path}"
    return examples


def test_the_tables_are_not_training_data():
    """Button titles and one-word answers (确认, 工行) are in the training data anyway; a table of
    which most phrasings are there was copied, and measures nothing any more."""
    examples = _training_examples()
    for question in phrasings.QUESTIONS:
        texts = [phrasing.text for phrasing in phrasings.load(question).phrasings]
        copied = [text for text in texts if text in examples]
        assert len(copied) <= 0.7 * len(texts), f"{question}: {copied} are training examples"
