"""bot.validation.identifiers: merchant numbers, one-time codes, request references."""
from __future__ import annotations

import doctest

import pytest

from bot.db.models import new_reference
from bot.validation import identifiers
from bot.validation.errors import Invalid, Reason


def test_doctests():
    assert doctest.testmod(identifiers).failed == 0


def reason_of(validator, value) -> Reason:
    with pytest.raises(Invalid) as caught:
        validator(value)
    return caught.value.reason


@pytest.mark.parametrize("typed", ["822100000000001", "8221 0000 0000 001", "８２２１００００００００００１"])
def test_merchant_id(typed):
    assert identifiers.validate_merchant_id(typed) == "822100000000001"
    assert identifiers.is_valid_merchant_id(typed)


@pytest.mark.parametrize("typed", ["", "82210000000000", "8221000000000011", "82210000000000A", "商户号"])
def test_merchant_id_format(typed):
    assert reason_of(identifiers.validate_merchant_id, typed) is Reason.MERCHANT_ID_FORMAT


@pytest.mark.parametrize("typed, code", [("357921", "357921"), ("357 921", "357921"), ("三五七九二一", "357921"),
                                         ("０１２３４５", "012345")])
def test_otp(typed, code):
    assert identifiers.validate_otp(typed) == code
    assert identifiers.is_valid_otp(typed)


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12345a", "验证码"])
def test_otp_format(typed):
    assert reason_of(identifiers.validate_otp, typed) is Reason.OTP_FORMAT


@pytest.mark.parametrize(
    "typed",
    ["CR20261125-7Q4K", "cr20261125-7q4k", "CR202611257Q4K", "CR20261125 7Q4K", " CR20261125－7Q4K "],
)
def test_request_id(typed):
    assert identifiers.validate_request_id(typed) == "CR20261125-7Q4K"
    assert identifiers.is_valid_request_id(typed)


@pytest.mark.parametrize(
    "typed",
    [
        "", "CR20261131-7Q4K",  # 31 November
        "CR20260229-7Q4K",  # 2026 is not a leap year
        "CR2026112-7Q4K", "CR20261125-7Q4", "CR20261125-7Q4KK",
        "CR20261125-7Q4O", "CR20261125-1Q4K", "CR20261125-IQ4K",  # ambiguous characters
        "XR20261125-7Q4K", "CR20261125_7Q4K",
    ],
)
def test_request_id_format(typed):
    assert reason_of(identifiers.validate_request_id, typed) is Reason.REQUEST_ID_FORMAT


def test_references_the_store_generates_are_valid():
    for _ in range(50):
        reference = new_reference()
        assert identifiers.validate_request_id(reference) == reference
