"""Whose account it is, against the merchant on record (bot/change_requests/account_holder.py)."""
from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bot.change_requests.account_holder import HolderName, check_holder_name, check_licence
from bot.validation.errors import Invalid, Reason

from domain_fixtures import merchant

MICRO, SOLE_TRADER, COMPANY = "822100000000001", "822100000000002", "822100000000003"


def test_a_company_settles_only_to_an_account_in_its_own_name(demo: Session) -> None:
    company = merchant(demo, COMPANY)
    assert check_holder_name(company, " 上海示例科技有限公司 ") == HolderName("上海示例科技有限公司", True, False)
    with pytest.raises(Invalid) as refused:
        check_holder_name(company, "王磊")  # the legal person is not the company
    assert refused.value.reason is Reason.CORPORATE_NAME_MISMATCH
    assert refused.value.details["business_name"] == "上海示例科技有限公司"


def test_the_merchants_own_name_or_business_name_is_same_name(demo: Session) -> None:
    assert check_holder_name(merchant(demo, MICRO), "张 伟") == HolderName("张伟", True, False)
    assert check_holder_name(merchant(demo, SOLE_TRADER), "李娜") == HolderName("李娜", True, False)


def test_just_me_means_the_operator_on_record(demo: Session) -> None:
    assert check_holder_name(merchant(demo, MICRO), "就是我本人") == HolderName("张伟", True, False)


def test_another_persons_name_is_different_name_and_weak_unless_it_has_a_name_shape(demo: Session) -> None:
    micro = merchant(demo, MICRO)
    assert check_holder_name(micro, "王芳") == HolderName("王芳", certain=False, different_name=True)
    assert check_holder_name(micro, "阿卜杜拉・买买提") == HolderName("阿卜杜拉·买买提", True, True)


def test_without_a_merchant_on_record_only_the_name_format_is_checked() -> None:
    assert check_holder_name(None, "王芳") == HolderName("王芳", True, False)
    with pytest.raises(Invalid) as refused:
        check_holder_name(None, "张3")
    assert refused.value.reason is Reason.NAME_FORMAT


def test_the_licence_must_be_the_one_the_merchant_registered(demo: Session) -> None:
    sole_trader = merchant(demo, SOLE_TRADER)
    assert check_licence(sole_trader, "92310115MA1K3B4C59") == "92310115MA1K3B4C59"
    with pytest.raises(Invalid) as refused:
        check_licence(sole_trader, "91310110666007217T")
    assert refused.value.reason is Reason.LICENCE_NOT_MERCHANTS
    assert check_licence(merchant(demo, MICRO), "91310110666007217T") == "91310110666007217T"  # none on record
