"""Masked forms of card, account and ID numbers (bot/masking.py)."""
from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.masking import RedactingFilter, last4, mask_card_spaced, mask_number, redact

digits = st.text(alphabet="0123456789", min_size=15, max_size=19)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6222021000000000124", "****0124"),
        ("6222 0210 0000 0000 124", "****0124"),
        ("６２２２０２１０００００００００１２４", "****0124"),
        ("61010319880214567x", "****567X"),
        ("12", "****"),
    ],
)
def test_mask_number(value: str, expected: str) -> None:
    assert mask_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6222021000000000124", "6222 02** **** ***0 124"),  # CONVERSATION.md's example
        ("6225883000000005", "6225 88** **** 0005"),
        ("121900000000001", "1219 00** ***0 001"),
        ("6222-0210-0000-0000-124", "6222 02** **** ***0 124"),
        ("123456789", "**** *678 9"),
    ],
)
def test_mask_card_spaced(value: str, expected: str) -> None:
    assert mask_card_spaced(value) == expected


def test_last4() -> None:
    assert last4("6216 6040 0000 0000 568") == "0568"
    assert last4("320502199211112340") == "2340"
    assert last4("123") == ""


@given(digits)
def test_masks_show_at_most_first_6_and_last_4(number: str) -> None:
    spaced = mask_card_spaced(number)
    visible = spaced.replace(" ", "")
    assert len(visible) == len(number)
    assert visible.startswith(number[:6]) and visible.endswith(number[-4:])
    assert visible.count("*") == len(number) - 10
    assert number not in spaced and number not in mask_number(number)
    assert mask_number(number) == "****" + number[-4:]


@given(st.text(max_size=20), digits, st.text(max_size=20))
def test_redact_removes_long_numbers_from_any_text(before: str, number: str, after: str) -> None:
    assert number not in redact(f"{before} {number} {after}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的卡号是6222021000000000124，谢谢", "我的卡号是****0124，谢谢"),
        ("卡号 6222 0210 0000 0000 124", "卡号 ****0124"),
        ("身份证61010319880214567X", "身份证****567X"),
        ("６２２２０２１０００００００００１２４", "****0124"),
        ("手机13800000001，验证码 123456", "手机13800000001，验证码 123456"),
        ("申请 CR20261125-7Q4K", "申请 CR20261125-7Q4K"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_logging_filter_masks_formatted_messages(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.masking")
    redacting = RedactingFilter()
    logger.addFilter(redacting)
    try:
        with caplog.at_level(logging.INFO, logger="test.masking"):
            logger.info("card %s for %s", "6222021000000000124", "赵敏")
    finally:
        logger.removeFilter(redacting)
    assert caplog.messages == ["card ****0124 for 赵敏"]
