"""Hostile input: every public function of bot.validation returns a value or raises Invalid, for
any string (100,000 characters, emoji, control characters, SQL and XML fragments, None-likes) and
for the non-strings a slot may hold, and stays fast on long input."""
from __future__ import annotations

import inspect
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.validation import (
    bank_card,
    banks,
    branch,
    confirmation,
    corporate_account,
    identifiers,
    licence,
    normalize,
    person_name,
    phone,
    reason,
    resident_id,
    route,
)
from bot.validation.errors import Invalid

MODULES = [normalize, resident_id, licence, banks, bank_card, corporate_account, phone, person_name,
           identifiers, route, reason, branch, confirmation]


def _value_parameters(function) -> list:
    """Parameters that take a merchant's value (annotated `object` or `str`)."""
    return [
        parameter for parameter in inspect.signature(function).parameters.values()
        if parameter.annotation in ("object", "str")
    ]


PUBLIC_FUNCTIONS = [
    pytest.param(getattr(module, name), id=f"{module.__name__.rsplit('.', 1)[1]}.{name}")
    for module in MODULES
    for name in module.__all__
    if inspect.isfunction(getattr(module, name)) and _value_parameters(getattr(module, name))
]

HOSTILE = [
    "", " ", "\t\n\r", "\x00", "\x00" * 20, "None", "none", "null", "NULL", "undefined", "NaN", "[]", "{}",
    "'; DROP TABLE merchants; --", "1' OR '1'='1", "6222021000000000124'; DELETE FROM cards;--",
    "<card>6222021000000000124</card>", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
    "<script>alert(1)</script>", "{{7*7}}", "${jndi:ldap://x}", "%s%s%s%n",
    "😀", "😀" * 50, "👨‍👩‍👧‍👦", "\u202e6222021000000000124", "\x1b[31m6222\x1b[0m", "\ufeff", "\u200b" * 10,
    "\ud800", "٦٢٢٢٠٢١٠٠٠٠٠٠٠٠٠١٢٤", "𝟔𝟐𝟐𝟐𝟎𝟐𝟏𝟎𝟎𝟎𝟎𝟎𝟎𝟎𝟎𝟎𝟏𝟐𝟒", "²³¹", "Ⅻ", "⑩⑪",
    "6" * 100_000, "一" * 100_000, "x" * 100_000, "６" * 100_000, "6222 " * 20_000, "·" * 100_000,
    "\n" * 100_000, "0" * 19, "-" * 300, "CR" + "2" * 200,
]
NON_STRINGS = [None, 0, -1, 6222021000000000124, 10**400, 10**5000, True, 3.14, float("nan"), b"6222", [], {}, object()]


def call(function, value):
    """Call with `value` for every value parameter; a value or Invalid is fine, anything else fails."""
    parameters = _value_parameters(function)
    positional = [value for p in parameters if p.kind is not p.KEYWORD_ONLY and p.default is p.empty]
    keywords = {p.name: value for p in parameters if p.kind is p.KEYWORD_ONLY}
    for kwargs in ({}, keywords):
        try:
            function(*positional, **kwargs)
        except Invalid:
            pass


@pytest.mark.parametrize("function", PUBLIC_FUNCTIONS)
def test_hostile_strings(function):
    for value in HOSTILE:
        started = time.perf_counter()
        call(function, value)
        assert time.perf_counter() - started < 0.5, f"slow on {value[:20]!r}..."


@pytest.mark.parametrize("function", PUBLIC_FUNCTIONS)
def test_non_strings(function):
    for value in NON_STRINGS:
        call(function, value)


@pytest.mark.parametrize("function", PUBLIC_FUNCTIONS)
@settings(max_examples=60, deadline=None)
@given(value=st.text())
def test_arbitrary_text(function, value):
    call(function, value)


@settings(max_examples=200, deadline=None)
@given(value=st.text(alphabet=st.sampled_from("0123456789 -.xX·一二三四五六七八九零两幺６Ｘ工行CR"), max_size=40))
def test_number_like_text_in_every_validator(value):
    for param in PUBLIC_FUNCTIONS:
        call(param.values[0], value)


def test_the_functions_under_test_cover_every_module():
    covered = {param.values[0].__module__ for param in PUBLIC_FUNCTIONS}
    assert covered == {module.__name__ for module in MODULES}
