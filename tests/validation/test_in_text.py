"""bot.validation.in_text and the number validators: words around a number never make it fail, two
numbers in one message are never glued together."""
from __future__ import annotations

import doctest

import pytest

from bot.validation import bank_card, corporate_account, identifiers, in_text, licence, phone, resident_id
from bot.validation.errors import Invalid, Reason


def test_doctests():
    assert doctest.testmod(in_text).failed == 0


@pytest.mark.parametrize(
    "validator, typed, value",
    [
        (identifiers.validate_otp, "验证码是 493817 谢谢", "493817"),
        (identifiers.validate_otp, "493 817", "493817"),
        (identifiers.validate_otp, "四九三八幺七", "493817"),
        (identifiers.validate_otp, "幺幺幺二二二", "111222"),
        (identifiers.validate_otp, "822100000000001 493817", "493817"),  # number then code, one run
        (identifiers.validate_merchant_id, "商户号是822100000000001", "822100000000001"),
        (identifiers.validate_merchant_id, "822100000000001 493817", "822100000000001"),
        (identifiers.validate_merchant_id, "我的商户编号：8221-0000-0000-001，麻烦了", "822100000000001"),
        (identifiers.validate_request_id, "我的申请CR20261125-7Q4K到哪了", "CR20261125-7Q4K"),
        (resident_id.validate, "身份证：3101 0119 8503 1712 33", "310101198503171233"),
        (resident_id.validate, "身份证号码是61010319880214567x。", "61010319880214567X"),
        (licence.validate, "执照号92310115MA1K3B4C59", "92310115MA1K3B4C59"),
        (phone.validate, "手机号是138-0000-0001", "13800000001"),
        (corporate_account.validate, "对公账号 1219 0000 0000 001", "121900000000001"),
    ],
)
def test_found_among_words(validator, typed, value):
    assert validator(typed) == value


def test_card_among_words_and_other_numbers():
    assert bank_card.validate("卡号是6222 0210 0000 0000 124").number == "6222021000000000124"
    assert bank_card.validate("新卡6222021000000000124，身份证310101198503171233").number == "6222021000000000124"
    assert bank_card.validate("卡号是六二二二零二一零零零零零零零零零一二四").number == "6222021000000000124"


def test_the_failure_of_the_number_is_reported_not_the_words():
    with pytest.raises(Invalid) as caught:
        bank_card.validate("卡号是6222021000000000125")
    assert caught.value.reason is Reason.CARD_LUHN
    with pytest.raises(Invalid) as caught:
        resident_id.validate("身份证：310101198503171234")
    assert caught.value.reason is Reason.ID_CHECKSUM


def test_luhn_confirmation_and_current_card_work_with_words():
    card = bank_card.validate("6222021000000000125", previous="卡号是6222021000000000125")
    assert card.needs_review
    with pytest.raises(Invalid) as caught:
        bank_card.validate("卡号6228485000000000781", current="6228485000000000781")
    assert caught.value.reason is Reason.CARD_SAME_AS_CURRENT


def test_two_different_valid_values_are_ambiguous():
    with pytest.raises(Invalid) as caught:
        identifiers.validate_otp("验证码493817，不对是493818")
    assert caught.value.reason is Reason.OTP_FORMAT


def test_numbers_in():
    assert in_text.numbers_in("商户号822100000000001，验证码 493 817") == ["822100000000001", "493817"]
    assert in_text.numbers_in(None) == []
