"""bot.validation.licence: unified social credit codes via stdnum.cn.uscc, and the entity type."""
from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc

from bot.validation import licence
from bot.validation.errors import Invalid, Reason
from bot.validation.licence import EntityType

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def reason_of(code) -> Reason:
    with pytest.raises(Invalid) as caught:
        licence.validate(code)
    return caught.value.reason


def test_doctests():
    assert doctest.testmod(licence).failed == 0


# DOMAIN_RULES.md: valid examples
@pytest.mark.parametrize(
    "code, entity_type",
    [
        ("91110108551385082Q", EntityType.ENTERPRISE),
        ("91310110666007217T", EntityType.ENTERPRISE),
        ("91310115591693856A", EntityType.ENTERPRISE),
        ("91110000600037341L", EntityType.ENTERPRISE),
        ("92310115MA1K3B4C59", EntityType.SOLE_TRADER),
    ],
)
def test_domain_rules_valid_examples(code, entity_type):
    assert licence.validate(code) == code
    assert licence.is_valid(code)
    assert licence.get_entity_type(code) is entity_type


def test_other_entity_types():
    assert licence.get_entity_type("93310115MA1K3B4C56") is EntityType.FARMERS_COOPERATIVE
    assert licence.get_entity_type("12100000400000624D") is EntityType.OTHER  # not the market regulator


@pytest.mark.parametrize(
    "typed", ["92310115ma1k3b4c59", "9231 0115 MA1K 3B4C 59", "92310115-MA1K3B4C5-9", "９２３１０１１５ＭＡ１Ｋ３Ｂ４Ｃ５９"]
)
def test_typed_forms_are_normalised(typed):
    assert licence.validate(typed) == "92310115MA1K3B4C59"


def test_length():
    with pytest.raises(Invalid) as caught:
        licence.validate("9231011")
    assert caught.value.reason is Reason.LICENCE_LENGTH
    assert caught.value.details == {"actual_length": 7}


@pytest.mark.parametrize(
    "code",
    [
        "",
        "执照号码",
        "9231011MMA1K3B4C59",  # letter among the first 8
        "92310115MA1K3B4CI9",  # I is not in the alphabet
    ],
)
def test_format(code):
    assert reason_of(code) is Reason.LICENCE_FORMAT


def test_punctuation_ends_the_code():
    # "!" is not part of the code (merchants end sentences with it): what was typed is 17 characters
    assert reason_of("92310115MA1K3B4C5!") is Reason.LICENCE_LENGTH
    assert licence.validate("92310115MA1K3B4C59!") == "92310115MA1K3B4C59"


def test_checksum():
    assert reason_of("92310115MA1K3B4C58") is Reason.LICENCE_CHECKSUM


# ---- property-based ----

@st.composite
def valid_codes(draw):
    authority = draw(st.sampled_from("123456789"))
    entity = draw(st.sampled_from("123"))
    area = draw(st.text("0123456789", min_size=6, max_size=6))
    organisation = draw(st.text(ALPHABET, min_size=9, max_size=9))
    body = authority + entity + area + organisation
    return body + uscc.calc_check_digit(body)


@settings(max_examples=300, deadline=None)
@given(valid_codes())
def test_generated_codes_pass(code):
    assert licence.validate(code) == code
    assert licence.validate(code.lower()) == code


@settings(max_examples=300, deadline=None)
@given(valid_codes(), st.data())
def test_every_single_substitution_is_caught_by_the_check_character(code, data):
    position = data.draw(st.integers(0, 17))
    alphabet = "0123456789" if position < 8 else ALPHABET
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != code[position]]))
    changed = code[:position] + replacement + code[position + 1 :]
    assert reason_of(changed) is Reason.LICENCE_CHECKSUM


def domain_rules_check_character(first17: str) -> str:
    """DOMAIN_RULES.md's formula: weighted sum of alphabet indexes, MOD 31."""
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, weights))
    return ALPHABET[(31 - total % 31) % 31]


@settings(max_examples=200, deadline=None)
@given(valid_codes())
def test_check_character_is_the_published_formula(code):
    assert code[-1] == domain_rules_check_character(code[:17])
