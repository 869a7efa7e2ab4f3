"""bot.validation.bank_card: BIN lookup, debit only, length, Luhn (soft), bank named, current card."""
from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn

from bot.settings import PROJECT_ROOT
from bot.validation import bank_card, banks
from bot.validation.bank_card import BinRow, BinTable
from bot.validation.errors import Invalid, Reason


def failure(number, **checks) -> Invalid:
    with pytest.raises(Invalid) as caught:
        bank_card.validate(number, **checks)
    return caught.value


def test_doctests():
    assert doctest.testmod(bank_card).failed == 0


# ---- DOMAIN_RULES.md examples ----

@pytest.mark.parametrize(
    "number, code, name",
    [
        ("6222021000000000124", "ICBC", "中国工商银行"),
        ("6227002000000000340", "CCB", "中国建设银行"),
        ("6225883000000005", "CMB", "招商银行"),
        ("6216604000000000568", "BOC", "中国银行"),
        ("6228485000000000781", "ABC", "中国农业银行"),
        ("6221886000000000914", "PSBC", "中国邮政储蓄银行"),
    ],
)
def test_domain_rules_valid_debit_cards(number, code, name):
    card = bank_card.validate(number)
    assert (card.bank_code, card.bank_name, card.card_type) == (code, name, "DC")
    assert card.length == len(number) and card.last4 == number[-4:]
    assert card.luhn_ok and not card.needs_review
    assert bank_card.validate(number, bank=name) == card  # the bank named matches


def test_domain_rules_credit_card_is_refused():
    error = failure("6225751000000004")
    assert error.reason is Reason.CARD_NOT_DEBIT_CREDIT
    assert error.details == {"bank_name": "招商银行"}


def test_domain_rules_unknown_issuer():
    """999999 is listed for Hua Xia Bank with 16 digits only: a 19-digit 999999 number is not a
    card the table knows (three digits away is not a typo), so the issuer is unknown."""
    assert bank_card.bin_table().rows("999999") == (BinRow("999999", "HXBANK", "DC", 16),)
    assert failure("9999991000000000005").reason is Reason.CARD_UNKNOWN_BIN
    assert failure("1234567890123456").reason is Reason.CARD_UNKNOWN_BIN  # no prefix at all


def test_domain_rules_luhn_typo_is_a_soft_failure():
    error = failure("6222021000000000125")
    assert error.reason is Reason.CARD_LUHN
    assert error.soft
    assert error.details == {"last4": "0125"}


def test_luhn_failure_accepted_when_the_same_number_is_entered_again():
    card = bank_card.validate("6222021000000000125", previous="6222 0210 0000 0000 125")
    assert card.bank_code == "ICBC"
    assert not card.luhn_ok and card.needs_review


def test_luhn_failure_with_a_different_previous_number_is_still_soft():
    error = failure("6222021000000000125", previous="6222021000000000126")
    assert error.reason is Reason.CARD_LUHN


def test_bank_of_communications_601428_card_failing_luhn_can_be_confirmed():
    number = "60142810000000006"  # 17 digits, check digit off by one
    assert not luhn.is_valid(number)
    assert failure(number).reason is Reason.CARD_LUHN
    assert bank_card.validate(number, previous=number).bank_code == "COMM"


# ---- the other refusals ----

@pytest.mark.parametrize(
    "number, reason, bank_name",
    [
        ("6228201000000007", Reason.CARD_NOT_DEBIT_SEMI_CREDIT, "中国农业银行"),  # 622820 ABC SCC
        ("6200191000000002", Reason.CARD_NOT_DEBIT_PREPAID, "中国银行"),  # 620019 BOC PC
    ],
)
def test_semi_credit_and_prepaid_cards_are_refused(number, reason, bank_name):
    assert luhn.is_valid(number)
    error = failure(number)
    assert error.reason is reason
    assert error.details == {"bank_name": bank_name}


@pytest.mark.parametrize("number", ["", "6222", "62220210000000001245", "6222O21000000000124", "卡号"])
def test_format(number):
    assert failure(number).reason is Reason.CARD_FORMAT


def test_length_one_digit_short_of_the_issuer_length():
    error = failure("622202100000000013")  # ICBC 622202 is 19 digits; Luhn-valid with 18
    assert error.reason is Reason.CARD_LENGTH
    assert error.details == {"expected_length": "19", "actual_length": 18}


def test_bank_named_must_be_the_issuer():
    assert bank_card.validate("6222021000000000124", bank="工行").bank_code == "ICBC"
    assert bank_card.validate("6222021000000000124", bank="ICBC").bank_code == "ICBC"
    error = failure("6222021000000000124", bank="建行")
    assert error.reason is Reason.CARD_BANK_MISMATCH
    assert error.details == {"bank_name": "中国工商银行", "named_bank": "中国建设银行"}
    assert failure("6222021000000000124", bank="火星银行").reason is Reason.BANK_UNKNOWN


def test_new_card_must_differ_from_the_current_one():
    error = failure("6228 4850 0000 0000 781", current="6228485000000000781")
    assert error.reason is Reason.CARD_SAME_AS_CURRENT
    assert error.details == {"last4": "0781"}
    assert bank_card.validate("6222021000000000124", current="6228485000000000781")


@pytest.mark.parametrize(
    "typed",
    [
        "6222 0210 0000 0000 124",
        "6222-0210-0000-0000-124",
        "６２２２０２１０００００００００１２４",
        "六二二二〇二一〇〇〇〇〇〇〇〇〇一二四",
        6222021000000000124,
    ],
)
def test_typed_forms(typed):
    assert bank_card.validate(typed).number == "6222021000000000124"


def test_card_info_never_shows_the_full_number():
    card = bank_card.validate("6222021000000000124")
    assert "6222021000000000124" not in repr(card)
    assert card.masked == "6222 02** **** ***0 124"


# ---- duplicated prefixes: the lookup policy ----

def test_the_twelve_duplicated_prefixes_differ_in_length():
    """The policy settles duplicates by length first; v0.0.16 needs nothing more."""
    duplicates = bank_card.bin_table().duplicated_prefixes()
    assert len(duplicates) == 12
    for prefix, rows in duplicates.items():
        assert len({row.length for row in rows}) == len(rows), prefix


def test_621260_credit_with_16_digits_debit_with_19():
    table = bank_card.bin_table()
    assert table.lookup("6212601000000000") == BinRow("621260", "SPABANK", "CC", 16)
    assert table.lookup("6212609000000000000") == BinRow("621260", "CSRCB", "DC", 19)
    assert failure("6212601000000000").reason is Reason.CARD_NOT_DEBIT_CREDIT
    number = "621260900000000000"
    number += luhn.calc_check_digit(number)
    card = bank_card.validate(number)
    assert (card.bank_code, card.card_type) == ("CSRCB", "DC")
    error = failure("62126090000000000")  # 17 digits: neither length
    assert error.reason is Reason.CARD_LENGTH
    assert error.details["expected_length"] == "16/19"


def test_622309_icbc_with_18_digits_zheshang_with_19():
    table = bank_card.bin_table()
    assert table.lookup("622309100000000000").bank == "ICBC"
    assert table.lookup("6223091000000000000").bank == "CZBANK"
    for number, code in (("62230910000000000", "ICBC"), ("622309100000000000", "CZBANK")):
        number += luhn.calc_check_digit(number)
        assert bank_card.validate(number).bank_code == code


def test_longest_prefix_wins():
    table = bank_card.bin_table()
    assert table.lookup("6212601020000000000").bin == "621260102"
    assert table.lookup("9558800000000000000").bin == "95588"
    assert table.lookup("9558100000000000000").bin == "9558"


def test_same_prefix_and_length_prefers_debit_then_file_order():
    table = BinTable(
        [BinRow("621999", "AAA", "CC", 16), BinRow("621999", "BBB", "DC", 16),
         BinRow("621999", "CCC", "DC", 16)]
    )
    assert table.lookup("6219990000000000").bank == "BBB"
    credit_only = BinTable([BinRow("621998", "AAA", "CC", 16), BinRow("621998", "BBB", "CC", 16)])
    assert credit_only.lookup("6219980000000000").bank == "AAA"


# ---- the data ships with the package, with its licence ----

def test_bin_data_and_licence_are_in_the_package():
    folder = banks.DATA_DIR
    assert folder.is_relative_to(PROJECT_ROOT / "bot" / "validation")
    assert "MIT License" in (folder / "LICENSE").read_text(encoding="utf-8")
    assert "hexindai/bcbc" in (folder / "README.md").read_text(encoding="utf-8")
    assert sum(1 for _ in open(folder / "bin.csv", encoding="utf-8")) == 1710
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "data/bank-bins/*" in pyproject


# ---- property-based ----

DEBIT_ROWS = sorted(
    (row for rows in bank_card.bin_table()._rows.values() for row in rows if row.type == "DC"),
    key=lambda row: (row.bin, row.length),
)


@st.composite
def debit_cards(draw):
    row = draw(st.sampled_from(DEBIT_ROWS))
    body = row.bin + draw(st.text("0123456789", min_size=row.length - len(row.bin) - 1,
                                  max_size=row.length - len(row.bin) - 1))
    return body + luhn.calc_check_digit(body)


@settings(max_examples=300, deadline=None)
@given(debit_cards())
def test_generated_debit_cards_pass(number):
    card = bank_card.validate(number)
    assert card.card_type == "DC" and card.length == len(number) and card.luhn_ok
    assert number.startswith(card.bin)


@settings(max_examples=300, deadline=None)
@given(debit_cards(), st.data())
def test_every_single_substitution_is_caught_by_the_check_digit(number, data):
    position = data.draw(st.integers(0, len(number) - 1))
    replacement = data.draw(st.sampled_from([c for c in "0123456789" if c != number[position]]))
    changed = number[:position] + replacement + number[position + 1 :]
    assert not bank_card.luhn_ok(changed)
    error = failure(changed)
    if position >= 10:  # beyond every prefix: same issuer, only the check digit can tell
        assert error.reason is Reason.CARD_LUHN
