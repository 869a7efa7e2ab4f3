"""The demo data set itself: matches CONTRACTS.md and passes the checks of DOMAIN_RULES.md."""
from __future__ import annotations

import pytest

from bot.db.models import AccountKind, MerchantKind
from bot.demo import BANK_NAMES, DEMO_MERCHANTS, OVERDUE_NEW_CARD


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
