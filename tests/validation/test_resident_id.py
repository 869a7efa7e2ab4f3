"""bot.validation.resident_id: resident ID numbers via stdnum.cn.ric, and what it leaves out."""
from __future__ import annotations

import datetime
import doctest
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import numdb
from stdnum.cn import ric

from bot.validation import resident_id
from bot.validation.errors import Invalid, Reason

TODAY = datetime.date.today()


def reason_of(number, **kwargs) -> Reason:
    with pytest.raises(Invalid) as caught:
        resident_id.validate(number, **kwargs)
    return caught.value.reason


def with_check(first17: str) -> str:
    return first17 + ric.calc_check_digit(first17 + "0")


def test_doctests():
    assert doctest.testmod(resident_id).failed == 0


# DOMAIN_RULES.md: valid examples (all checks)
@pytest.mark.parametrize(
    "number", ["11010519491231002X", "310101198503171233", "440103199008224568", "61010319880214567X"]
)
def test_domain_rules_valid_examples(number):
    assert resident_id.validate(number) == number
    assert resident_id.is_valid(number)


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("11010519491231002x", "11010519491231002X"),  # lower-case x stored upper-case
        ("110105 19491231 002X", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),
        ("六一〇一〇三一九八八〇二一四五六七X", "61010319880214567X"),
    ],
)
def test_typed_forms_are_normalised(typed, stored):
    assert resident_id.validate(typed) == stored


def test_domain_rules_right_check_digit_wrong_place_for_the_birth_year():
    assert ric.calc_check_digit("440524188001010014") == "4"  # the check digit itself is right
    assert reason_of("440524188001010014") is Reason.ID_REGION


def test_stdnum_key_error_is_wrapped():
    """stdnum 2.2 raises a bare KeyError on an address code it knows only at province level."""
    with pytest.raises(KeyError):
        ric.validate("34052419800101001X")
    assert reason_of("34052419800101001X") is Reason.ID_REGION


def test_domain_rules_15_digit_numbers_are_refused_as_expired():
    assert reason_of("110105491231002") is Reason.ID_LEGACY_15


@pytest.mark.parametrize("number", ["1101051949123100", "11010519491231002XX", "1"])
def test_length(number):
    with pytest.raises(Invalid) as caught:
        resident_id.validate(number)
    assert caught.value.reason is Reason.ID_LENGTH
    assert caught.value.details == {"actual_length": len(number)}


@pytest.mark.parametrize("number", ["", "   ", "1101051949123100A2", "X10105194912310021", "身份证"])
def test_format(number):
    assert reason_of(number) is Reason.ID_FORMAT


def test_checksum():
    assert reason_of("11010519491231002Y"[:17] + "1") is Reason.ID_CHECKSUM


def test_birth_date_must_be_a_calendar_date():
    assert reason_of(with_check("11010519490230002")) is Reason.ID_BIRTH_DATE  # 30 February


def test_birth_date_not_in_the_future():
    tomorrow = TODAY + datetime.timedelta(days=1)
    number = with_check(f"110105{tomorrow:%Y%m%d}002")
    assert reason_of(number) is Reason.ID_BIRTH_FUTURE
    assert resident_id.validate(number, today=tomorrow) == number


def test_birth_date_sex_and_place():
    assert resident_id.get_birth_date("11010519491231002X") == datetime.date(1949, 12, 31)
    assert resident_id.get_sex("11010519491231002X") == "female"
    assert resident_id.get_sex("310101198503171233") == "male"
    assert resident_id.get_birth_place("440103199008224568")["province"] == "广东省"
    with pytest.raises(Invalid):
        resident_id.get_sex("11010519491231002Y")


# ---- property-based: generated valid numbers pass, every single substitution is caught ----

_RANGE = re.compile(r"^\[(\d*)-(\d*)\](.*)$")
FIRST_YEAR = 1900


def _regions():
    """(address code, first year, last year) for every county of stdnum's table, per period."""
    regions = []
    for _, province, _, _, counties in numdb.get("cn/loc").prefixes:
        for _, county, _, props, _ in counties:
            for period in props["county"].split(","):
                match = _RANGE.match(period)
                start, end = (match.group(1), match.group(2)) if match else ("", "")
                first = max(int(start) if start else FIRST_YEAR, FIRST_YEAR)
                last = min(int(end) if end else TODAY.year, TODAY.year)
                if first <= last:
                    regions.append((province + county, first, last))
    return regions


REGIONS = _regions()


@st.composite
def valid_ids(draw):
    code, first, last = draw(st.sampled_from(REGIONS))
    year = draw(st.integers(first, last))
    birth = draw(
        st.dates(datetime.date(year, 1, 1), min(datetime.date(year, 12, 31), TODAY))
    )
    sequence = draw(st.integers(0, 999))
    return with_check(f"{code}{birth:%Y%m%d}{sequence:03d}")


@settings(max_examples=300, deadline=None)
@given(valid_ids())
def test_generated_ids_pass(number):
    assert resident_id.validate(number) == number
    assert resident_id.validate(number.lower()) == number


@settings(max_examples=100, deadline=None)
@given(valid_ids(), st.data())
def test_every_single_substitution_is_caught_by_the_check_character(number, data):
    position = data.draw(st.integers(0, 17))
    alphabet = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != number[position]]))
    changed = number[:position] + replacement + number[position + 1 :]
    assert reason_of(changed) is Reason.ID_CHECKSUM


def test_every_substitution_of_one_example_is_caught():
    number = "11010519491231002X"
    for position in range(18):
        for replacement in "0123456789X"[: 11 if position == 17 else 10]:
            if replacement != number[position]:
                changed = number[:position] + replacement + number[position + 1 :]
                assert reason_of(changed) is Reason.ID_CHECKSUM, changed


def domain_rules_check_character(first17: str) -> str:
    """DOMAIN_RULES.md's formula: ISO 7064 MOD 11-2 with the published weights."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


@settings(max_examples=200, deadline=None)
@given(valid_ids())
def test_check_character_is_the_published_formula(number):
    assert number[-1] == domain_rules_check_character(number[:17])
