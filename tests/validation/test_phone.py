"""bot.validation.phone: mainland mobile numbers."""
from __future__ import annotations

import doctest

import pytest

from bot.validation import phone
from bot.validation.errors import Invalid, Reason


def test_doctests():
    assert doctest.testmod(phone).failed == 0


@pytest.mark.parametrize(
    "typed",
    [
        "13800000001",
        "+8613800000001",
        "+86 13800000001",
        "+86 138 0000 0001",
        "0086 138-0000-0001",
        "008613800000001",
        "(+86) 138 0000 0001",
        "138 0000 0001",
        "138-0000-0001",
        "１３８００００００01",
        "幺三八零零零零零零零一",
    ],
)
def test_domain_rules_formats(typed):
    assert phone.validate(typed) == "13800000001"
    assert phone.is_valid(typed)


@pytest.mark.parametrize("second", "3456789")
def test_second_digit_3_to_9(second):
    assert phone.validate(f"1{second}800000001") == f"1{second}800000001"


@pytest.mark.parametrize(
    "typed",
    [
        "", "12800000001", "10800000001", "23800000001", "1380000000", "138000000011",
        "+85213800000001", "021-12345678", "+86", "手机号", "1380000000a",
    ],
)
def test_refused(typed):
    with pytest.raises(Invalid) as caught:
        phone.validate(typed)
    assert caught.value.reason is Reason.PHONE_FORMAT
