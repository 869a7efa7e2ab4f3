"""bot.validation.corporate_account: 8-30 digits, no BIN rule."""
from __future__ import annotations

import doctest

import pytest

from bot.validation import corporate_account
from bot.validation.errors import Invalid, Reason


def test_doctests():
    assert doctest.testmod(corporate_account).failed == 0


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("121900000000001", "121900000000001"),  # the demo company's CMB account
        ("1219 0000 0000 001", "121900000000001"),
        ("12345678", "12345678"),
        ("1" * 30, "1" * 30),
        ("３１００－６６６６－０１０１", "310066660101"),
        ("9999991000000000005", "9999991000000000005"),  # no BIN, no Luhn rule for accounts
    ],
)
def test_valid(typed, stored):
    assert corporate_account.validate(typed) == stored
    assert corporate_account.is_valid(typed)


@pytest.mark.parametrize("typed", ["", "1234567", "1" * 31, "12190000000000A1", "账号"])
def test_format(typed):
    with pytest.raises(Invalid) as caught:
        corporate_account.validate(typed)
    assert caught.value.reason is Reason.ACCOUNT_FORMAT
    assert caught.value.details == {"min_length": 8, "max_length": 30}


def test_must_differ_from_the_current_account():
    with pytest.raises(Invalid) as caught:
        corporate_account.validate("1219 0000 0000 001", current="121900000000001")
    assert caught.value.reason is Reason.ACCOUNT_SAME_AS_CURRENT
    assert caught.value.details == {"last4": "0001"}
    assert corporate_account.validate("121900000000002", current="121900000000001")
