"""The demo data set itself: matches CONTRACTS.md and passes the checks of DOMAIN_RULES.md."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.models import AccountKind, Merchant, MerchantKind
from bot.ops.demo import (
    BANK_NAMES,
    DEMO_MERCHANTS,
    LOAD_TEST_NEW_CARD,
    OVERDUE_NEW_CARD,
    load_test_merchant,
    seed,
    seed_load_test_merchants,
)
from bot.change_requests.filing import same_name
from bot.change_requests.prechecks import run_prechecks


def test_nine_merchants_with_distinct_numbers_phones_and_accounts() -> None:
    assert [d.number for d in DEMO_MERCHANTS] == [f"82210000000000{i}" for i in range(1, 10)]
    assert [d.phone for d in DEMO_MERCHANTS] == [f"1380000000{i}" for i in range(1, 10)]
    assert len({d.account_number for d in DEMO_MERCHANTS} | {OVERDUE_NEW_CARD}) == 10
    assert [d.kind for d in DEMO_MERCHANTS].count(MerchantKind.MICRO) == 7
    assert set(BANK_NAMES) == {d.bank_code for d in DEMO_MERCHANTS}


def test_numbers_are_valid_by_the_domain_rules() -> None:
    ric = pytest.importorskip("stdnum.cn.ric")
    uscc = pytest.importorskip("stdnum.cn.uscc")
    luhn = pytest.importorskip("stdnum.luhn")
    for demo in DEMO_MERCHANTS:
        assert ric.is_valid(demo.id_number), demo.number
        if demo.license_code:
            assert uscc.is_valid(demo.license_code), demo.number
        if demo.account_kind is AccountKind.DEBIT_CARD:
            assert luhn.is_valid(demo.account_number), demo.number
    assert luhn.is_valid(OVERDUE_NEW_CARD)


def test_load_test_merchants_pass_the_prechecks_and_file_in_their_own_name(session: Session) -> None:
    seed(session)
    summary = seed_load_test_merchants(session, 8)
    assert (summary.merchants_created, summary.merchants_total) == (8, 8)
    numbers = [f"8221000000001{i:02d}" for i in range(8)]
    for number in numbers:
        result = run_prechecks(session, number)
        assert result.ok, (number, result.reason)
        assert result.merchant.phone == "139000001" + number[-2:]
        assert result.merchant.kind is MerchantKind.MICRO
        assert same_name(result.merchant, "张伟")
        [account] = result.merchant.accounts
        assert account.is_current and account.account_number != LOAD_TEST_NEW_CARD
    assert session.execute(select(func.count(Merchant.id))).scalar_one() == len(DEMO_MERCHANTS) + 8


def test_load_test_seed_is_idempotent_and_extends(session: Session) -> None:
    seed_load_test_merchants(session, 3)
    assert seed_load_test_merchants(session, 3).merchants_created == 0
    assert seed_load_test_merchants(session, 5).merchants_created == 2
    assert session.execute(select(func.count(Merchant.id))).scalar_one() == 5


def test_load_test_numbers_are_valid_and_never_the_demo_ones() -> None:
    ric = pytest.importorskip("stdnum.cn.ric")
    luhn = pytest.importorskip("stdnum.luhn")
    merchant = load_test_merchant(100)
    assert (merchant.number, merchant.phone) == ("822100000000100", "13900000100")
    assert ric.is_valid(merchant.id_number)
    assert luhn.is_valid(merchant.account_number) and luhn.is_valid(LOAD_TEST_NEW_CARD)
    with pytest.raises(ValueError):
        load_test_merchant(9)  # 822100000000009 is a demo merchant
