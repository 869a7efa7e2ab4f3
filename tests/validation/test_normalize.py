"""bot.validation.normalize: full-width forms, Chinese digits, separators."""
from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.validation import normalize
from bot.validation.normalize import (
    VALUE_MAX_CHARS,
    compact_number,
    normalize_digits,
    to_halfwidth,
    too_long,
)


def test_doctests():
    assert doctest.testmod(normalize).failed == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("６２２２０２１", "6222021"),
        ("ＡＢＣ：１２", "ABC:12"),
        ("a\u3000b", "a b"),  # ideographic space
        ("⑩", "⑩"),  # NFKC form is two characters: kept, length unchanged
        ("工商银行", "工商银行"),
    ],
)
def test_to_halfwidth(text, expected):
    assert to_halfwidth(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("六二二二零二一〇", "62220210"),
        ("卡号6222零二一〇", "卡号62220210"),
        ("验证码三五七九二一", "验证码357921"),
        ("幺三八两零零零零零零一", "13820000001"),  # 两 and 幺 inside a run
        ("六二二二 零二一〇", "6222 0210"),  # separators kept by the text-level function
        # prose stays prose: fewer than four digits, or only spoken forms
        ("我有一张卡", "我有一张卡"),
        ("三五天到账", "三五天到账"),
        ("三三两两", "三三两两"),
        ("两张卡", "两张卡"),
        ("一一核对", "一一核对"),
    ],
)
def test_normalize_digits(text, expected):
    assert normalize_digits(text) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("6222 0210 0000 0000 124", "6222021000000000124"),
        ("6222-0210-0000-0000-124", "6222021000000000124"),
        ("6222.0210.0000.0000.124", "6222021000000000124"),
        ("６２２２　０２１０－００００", "622202100000"),
        ("11010519491231002x", "11010519491231002X"),
        ("110105 19491231 002 x", "11010519491231002X"),
        ("9231 0115 MA1K 3B4C 59", "92310115MA1K3B4C59"),
        ("  6222  ", "6222"),
        ("-6222-", "6222"),
        ("卡号 6222", "卡号 6222"),  # a space after a word is not inside a number
        ("", ""),
        (None, ""),
        (6222021000000000124, "6222021000000000124"),
    ],
)
def test_compact_number(value, expected):
    assert compact_number(value) == expected


def test_values_are_capped():
    assert len(compact_number("1" * 100_000)) == VALUE_MAX_CHARS
    assert too_long("1" * (VALUE_MAX_CHARS + 1))
    assert not too_long("1" * VALUE_MAX_CHARS)
    assert not too_long(None)


def test_text_functions_keep_long_text_unchanged_beyond_the_cap():
    text = "６" * 100_000
    result = normalize_digits(text)
    assert len(result) == len(text)
    assert result.startswith("6666") and result.endswith("６")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_text_level_functions_keep_offsets(text):
    assert len(to_halfwidth(text)) == len(text)
    assert len(normalize_digits(text)) == len(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789 -.xX一二三四五六七八九零两幺六号卡６")))
def test_compact_number_is_idempotent(text):
    once = compact_number(text)
    assert compact_number(once) == once
