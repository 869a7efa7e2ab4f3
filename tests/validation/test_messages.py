"""bot.validation.messages and the domain: every reason code has its Chinese response, and every
failure fills that response's variables without showing a full number."""
from __future__ import annotations

import doctest
import re

import pytest
import yaml

from bot.responses import DOMAIN_FILE, response_text
from bot.validation import (
    bank_card,
    banks,
    branch,
    confirmation,
    corporate_account,
    identifiers,
    licence,
    messages,
    person_name,
    phone,
    reason,
    resident_id,
    route,
)
from bot.change_requests import account_holder
from bot.db.models import Merchant, MerchantKind
from bot.validation.errors import Invalid, Reason
from bot.validation.messages import response_for

# One input per reason code, through the public validators (so every reason is reachable).
SAMPLES = {
    Reason.ID_FORMAT: lambda: resident_id.validate("1101051949123100A2"),
    Reason.ID_LENGTH: lambda: resident_id.validate("1101051949123100"),
    Reason.ID_LEGACY_15: lambda: resident_id.validate("110105491231002"),
    Reason.ID_CHECKSUM: lambda: resident_id.validate("110105194912310021"),
    Reason.ID_BIRTH_DATE: lambda: resident_id.validate("110105194902300020"),
    Reason.ID_BIRTH_FUTURE: lambda: resident_id.validate("110105209901010020"),
    Reason.ID_REGION: lambda: resident_id.validate("440524188001010014"),
    Reason.LICENCE_FORMAT: lambda: licence.validate("92310115MA1K3B4CI9"),
    Reason.LICENCE_LENGTH: lambda: licence.validate("92310115MA1K3B4C5"),
    Reason.LICENCE_CHECKSUM: lambda: licence.validate("92310115MA1K3B4C58"),
    Reason.CARD_FORMAT: lambda: bank_card.validate("6222"),
    Reason.CARD_SAME_AS_CURRENT: lambda: bank_card.validate(
        "6228485000000000781", current="6228485000000000781"
    ),
    Reason.CARD_UNKNOWN_BIN: lambda: bank_card.validate("9999991000000000005"),
    Reason.CARD_LENGTH: lambda: bank_card.validate("622202100000000013"),
    Reason.CARD_BANK_MISMATCH: lambda: bank_card.validate("6222021000000000124", bank="建行"),
    Reason.CARD_NOT_DEBIT_CREDIT: lambda: bank_card.validate("6225751000000004"),
    Reason.CARD_NOT_DEBIT_SEMI_CREDIT: lambda: bank_card.validate("6228201000000007"),
    Reason.CARD_NOT_DEBIT_PREPAID: lambda: bank_card.validate("6200191000000002"),
    Reason.CARD_LUHN: lambda: bank_card.validate("6222021000000000125"),
    Reason.ACCOUNT_FORMAT: lambda: corporate_account.validate("1234"),
    Reason.ACCOUNT_SAME_AS_CURRENT: lambda: corporate_account.validate(
        "121900000000001", current="121900000000001"
    ),
    Reason.BANK_UNKNOWN: lambda: banks.normalize_bank("火星银行"),
    Reason.PHONE_FORMAT: lambda: phone.validate("12800000001"),
    Reason.NAME_LENGTH: lambda: person_name.validate("周"),
    Reason.NAME_FORMAT: lambda: person_name.validate("张3"),
    Reason.MERCHANT_ID_FORMAT: lambda: identifiers.validate_merchant_id("8221"),
    Reason.OTP_FORMAT: lambda: identifiers.validate_otp("12345"),
    Reason.REQUEST_ID_FORMAT: lambda: identifiers.validate_request_id("CR20261131-7Q4K"),
    Reason.NAME_SELF_REFERENCE: lambda: person_name.validate("就是我本人"),
    Reason.ROUTE_UNKNOWN: lambda: route.validate("线上线下有什么区别"),
    Reason.REASON_LENGTH: lambda: reason.validate("换" * 101),
    Reason.REASON_FORMAT: lambda: reason.validate("ok?"),
    Reason.REASON_QUESTION: lambda: reason.validate("审核要几天？"),
    Reason.REASON_UNCLEAR: lambda: reason.validate("谢谢"),
    Reason.BRANCH_FORMAT: lambda: branch.validate("今天天气怎么样"),
    Reason.BRANCH_LENGTH: lambda: branch.validate("浦东" * 30 + "支行"),
    Reason.BRANCH_NOT_KNOWN: lambda: branch.validate("不知道支行"),
    Reason.CONFIRMATION_UNCLEAR: lambda: confirmation.validate("你好"),
    # Rules that need the merchant on record (bot/change_requests/account_holder.py).
    Reason.LICENCE_NOT_MERCHANTS: lambda: account_holder.check_licence(
        Merchant(kind=MerchantKind.COMPANY.value, license_code="91310115MA1K3B4C5X"), "92310115MA1K3B4C57"),
    Reason.CORPORATE_NAME_MISMATCH: lambda: account_holder.check_holder_name(
        Merchant(kind=MerchantKind.COMPANY.value, business_name="上海好运来餐饮有限公司"), "张伟"),
}

PLACEHOLDER = re.compile(r"{(\w+)}")
LONG_NUMBER = re.compile(r"\d{8,}")


def domain_responses() -> dict:
    with open(DOMAIN_FILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)["responses"]


def test_doctests():
    assert doctest.testmod(messages).failed == 0


def test_every_reason_code_has_its_response_in_the_domain():
    responses = domain_responses()
    missing = [reason.response for reason in Reason if reason.response not in responses]
    assert not missing


def test_no_validation_response_without_a_reason_code():
    names = {name for name in domain_responses() if name.startswith("utter_invalid_")}
    assert names == {reason.response for reason in Reason}


def test_every_reason_code_is_reachable():
    assert set(SAMPLES) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason), ids=lambda reason: reason.value)
def test_failure_fills_its_response(reason):
    with pytest.raises(Invalid) as caught:
        SAMPLES[reason]()
    error = caught.value
    assert error.reason is reason
    name, variables = response_for(error)
    assert name == f"utter_invalid_{reason.value}"
    text = domain_responses()[name][0]["text"]
    assert set(PLACEHOLDER.findall(text)) <= set(variables), "a {variable} the failure does not give"
    rendered = response_text(name, **variables)
    assert "{" not in rendered
    assert re.search(r"[\u4e00-\u9fff]", rendered)
    assert not LONG_NUMBER.search(rendered.replace("CR20261125-7Q4K", "")), "full number shown"
    assert all(isinstance(value, str) for value in variables.values())


def test_details_never_hold_a_full_number():
    for sample in SAMPLES.values():
        with pytest.raises(Invalid) as caught:
            sample()
        for value in caught.value.details.values():
            assert not LONG_NUMBER.search(str(value))
