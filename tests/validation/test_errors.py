"""bot.validation.errors: the one error type and its reason codes."""
from __future__ import annotations

import doctest
import pickle
import re

import pytest

from bot.validation import errors
from bot.validation.errors import Invalid, Reason


def test_doctests():
    assert doctest.testmod(errors).failed == 0


def test_reason_codes_are_short_snake_case_and_unique():
    values = [reason.value for reason in Reason]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{2,40}", value) for value in values)


def test_only_the_luhn_failure_is_soft():
    assert [reason for reason in Reason if reason.soft] == [Reason.CARD_LUHN]


def test_invalid_is_a_value_error_with_read_only_details():
    error = Invalid(Reason.CARD_LENGTH, expected_length="19", actual_length=18)
    assert isinstance(error, ValueError)
    assert str(error) == "card_length (actual_length=18, expected_length=19)"
    with pytest.raises(TypeError):
        error.details["expected_length"] = "16"  # type: ignore[index]


def test_invalid_survives_pickling():
    error = pickle.loads(pickle.dumps(Invalid(Reason.CARD_LUHN, last4="0125")))
    assert error.reason is Reason.CARD_LUHN and error.details == {"last4": "0125"}
