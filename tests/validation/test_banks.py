"""bot.validation.banks: bank names and aliases to the bank's code and full name."""
from __future__ import annotations

import doctest

import pytest

from bot.validation import banks
from bot.validation.banks import AMBIGUOUS_ALIASES, SHORT_NAMES, Bank
from bot.validation.errors import Invalid, Reason


def test_doctests():
    assert doctest.testmod(banks).failed == 0


@pytest.mark.parametrize(
    "aliases, code, name",
    [
        (["工行", "工商", "工商银行", "中国工商银行", "ICBC", "icbc", "Icbc"], "ICBC", "中国工商银行"),
        (["建行", "建设银行", "中国建设银行", "CCB", "ccb"], "CCB", "中国建设银行"),
        (["农行", "农业银行", "中国农业银行", "ABC"], "ABC", "中国农业银行"),
        (["中行", "中国银行", "BOC", "boc"], "BOC", "中国银行"),
        (["交行", "交通银行", "BOCOM", "COMM", "bocom"], "COMM", "交通银行"),
        (["招行", "招商", "招商银行", "CMB"], "CMB", "招商银行"),
        (["邮储", "邮政", "邮储银行", "邮政储蓄银行", "中国邮政储蓄银行", "PSBC"], "PSBC", "中国邮政储蓄银行"),
        (["浦发", "浦发银行", "上海浦东发展银行", "SPDB"], "SPDB", "上海浦东发展银行"),
        (["民生", "民生银行", "中国民生银行", "CMBC"], "CMBC", "中国民生银行"),
        (["兴业", "兴业银行", "CIB"], "CIB", "兴业银行"),
        (["中信", "中信银行", "CITIC"], "CITIC", "中信银行"),
        (["光大", "光大银行", "中国光大银行", "CEB"], "CEB", "中国光大银行"),
        (["华夏", "华夏银行", "HXB"], "HXBANK", "华夏银行"),
        (["广发", "广发银行", "CGB"], "GDB", "广东发展银行"),
        (["平安", "平安银行", "PAB"], "SPABANK", "平安银行"),
        (["北京银行"], "BJBANK", "北京银行"),
        (["上海银行"], "SHBANK", "上海银行"),
        (["江苏银行"], "JSBANK", "江苏银行"),
    ],
)
def test_aliases(aliases, code, name):
    for alias in aliases:
        assert banks.normalize_bank(alias) == Bank(code, name), alias
        assert banks.normalize_bank(alias) == (code, name)


@pytest.mark.parametrize(
    "text, code",
    [
        (" 工 行 ", "ICBC"),
        ("ＩＣＢＣ", "ICBC"),
        ("中行的", "BOC"),
        ("工行卡", "ICBC"),
        ("招行储蓄卡", "CMB"),
        ("建设银行的卡", "CCB"),
        ("中国招商银行", "CMB"),  # a 中国 that is not part of the name
        ("工商银行股份有限公司", "ICBC"),
        ("中国工商银行上海市分行", "ICBC"),
        ("招商银行上海分行徐汇支行", "CMB"),
        ("工行北京分行", "ICBC"),
        ("花旗银行", "CITI"),  # table name 花旗银行（中国）
    ],
)
def test_tolerated_forms(text, code):
    assert banks.normalize_bank(text).code == code


@pytest.mark.parametrize(
    "text", ["", "   ", "火星银行", "银行", "北京分行", "农业发展银行", "中国农业发展银行北京分行", None, 42]
)
def test_unknown(text):
    with pytest.raises(Invalid) as caught:
        banks.normalize_bank(text)
    assert caught.value.reason is Reason.BANK_UNKNOWN
    assert not banks.is_valid(text)


def test_every_table_bank_is_found_by_its_full_name_and_code():
    for code, name in banks._names().items():
        assert banks.same_bank(banks.normalize_bank(name).code, code), name
        assert banks.normalize_bank(code).name == name, code


def test_short_names_point_at_table_banks():
    for code in SHORT_NAMES:
        assert banks.bank_name(code)


def test_all_aliases_for_the_entity_ruler():
    aliases = banks.all_aliases()
    assert aliases["工行"] == Bank("ICBC", "中国工商银行")
    assert aliases["ICBC"].code == "ICBC"
    assert aliases["民生银行"].code == "CMBC"
    assert set(banks._names().values()) <= set(aliases)
    assert "工商" in aliases
    unambiguous = banks.all_aliases(include_ambiguous=False)
    assert "工商" not in unambiguous and "平安" not in unambiguous
    assert "工行" in unambiguous
    assert AMBIGUOUS_ALIASES <= set(aliases)
    for alias, bank in aliases.items():
        assert banks.normalize_bank(alias) == bank, alias


def test_same_bank_for_codes_the_table_gives_one_name():
    assert banks.same_bank("ICBC", "ICBC")
    assert not banks.same_bank("ICBC", "CCB")
    luoyang = [code for code, name in banks._names().items() if name == "洛阳银行"]
    assert len(luoyang) == 2 and banks.same_bank(*luoyang)


def test_bank_name():
    assert banks.bank_name("CMB") == "招商银行"
    with pytest.raises(Invalid):
        banks.bank_name("NOPE")


@pytest.mark.parametrize(
    "typed, code",
    [
        ("工行", "ICBC"), ("建行", "CCB"), ("招行", "CMB"), ("邮储", "PSBC"), ("中国银行", "BOC"),
        ("宁波银行", "NBBANK"),
        # typos of the input method (航 for 行) and traditional characters
        ("招商银航", "CMB"), ("建设银杭", "CCB"), ("中國銀行", "BOC"), ("中國農業銀行", "ABC"),
        # rural banks: the usual short forms, and the two kinds without a place
        ("上海农商银行", "SHRCB"), ("上海农商行", "SHRCB"), ("深圳农商行", "SRCB"), ("浙江农信", "ZJNX"),
        ("浙江省农信社", "ZJNX"), ("农信社", "RURAL_CREDIT"), ("农村信用社", "RURAL_CREDIT"),
        ("农商行", "RURAL_COMMERCIAL"),
        # words around the name
        ("是工行的", "ICBC"), ("开在建行", "CCB"), ("我的卡是招行的", "CMB"),
    ],
)
def test_what_merchants_type(typed, code):
    assert banks.normalize_bank(typed).code == code


def test_a_group_matches_any_of_its_banks():
    assert banks.same_bank("RURAL_CREDIT", "ZJNX") and banks.same_bank("ZJNX", "RURAL_CREDIT")
    assert banks.same_bank("RURAL_COMMERCIAL", "SHRCB")
    assert not banks.same_bank("RURAL_CREDIT", "ICBC") and not banks.same_bank("RURAL_COMMERCIAL", "ZJNX")
    assert banks.bank_name("RURAL_CREDIT") == "农村信用社"


@pytest.mark.parametrize("typed", ["火星银行", "银行", "在", "农业发展银行", "是"])
def test_still_unknown(typed):
    assert not banks.is_valid(typed)
