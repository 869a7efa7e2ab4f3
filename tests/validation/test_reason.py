"""bot.validation.reason: the change reason from free words, strong (a category) or weak (other)."""
from __future__ import annotations

import doctest

import pytest

from bot.validation import reason
from bot.validation.errors import Invalid, Reason
from bot.validation.reason import Category


def test_doctests():
    assert doctest.testmod(reason).failed == 0


@pytest.mark.parametrize(
    "typed, category",
    [
        # the buttons
        ("原卡丢失", Category.CARD_LOST), ("原卡已注销", Category.CARD_CANCELLED),
        ("更换开户银行", Category.SWITCH_BANK), ("商户名称变更", Category.NAME_CHANGED),
        # free words
        ("卡丢了", Category.CARD_LOST), ("找不到了", Category.CARD_LOST), ("卡被偷了", Category.CARD_LOST),
        ("销户了", Category.CARD_CANCELLED), ("原来那张卡注销了", Category.CARD_CANCELLED),
        ("原卡被冻结", Category.CARD_FROZEN), ("卡被止付了", Category.CARD_FROZEN),
        ("卡用不了了", Category.CARD_FROZEN),
        ("不想用这家银行了", Category.SWITCH_BANK), ("换个银行", Category.SWITCH_BANK),
        ("想换成招行的卡", Category.SWITCH_BANK),
        ("店名改了", Category.NAME_CHANGED), ("营业执照名称变更了", Category.NAME_CHANGED),
        ("店铺转让了", Category.OWNER_CHANGED), ("店铺转让给别人了", Category.OWNER_CHANGED),
        ("换老板了", Category.OWNER_CHANGED), ("转给别人了", Category.OWNER_CHANGED),
        # negation and order
        ("卡没丢，是被冻结了", Category.CARD_FROZEN), ("卡丢了，顺便换个银行", Category.CARD_LOST),
    ],
)
def test_strong_categories(typed, category):
    result = reason.validate(typed)
    assert result.category is category and result.strong
    assert result.value == reason.LABELS[category]


def test_other_button_is_a_strong_other():
    result = reason.validate("其他原因")
    assert result.category is Category.OTHER and result.strong and result.value == "其他原因"


def test_free_text_is_a_weak_other_reason_with_the_merchant_words():
    result = reason.validate("  店里要装修，先换张卡 ")
    assert (result.category, result.strong, result.words) == (Category.OTHER, False, "店里要装修，先换张卡")
    assert result.value == "其他原因：店里要装修，先换张卡"


def test_a_category_in_a_question_is_strong_and_flagged():
    result = reason.validate("卡丢了怎么办？")
    assert result.category is Category.CARD_LOST and result.strong and result.question


@pytest.mark.parametrize(
    "typed, code",
    [
        ("换", Reason.REASON_LENGTH), ("换" * 101, Reason.REASON_LENGTH), ("", Reason.REASON_LENGTH),
        ("ok", Reason.REASON_FORMAT), ("6222021000000000124", Reason.REASON_FORMAT),
        ("审核要几天？", Reason.REASON_QUESTION), ("为什么要填原因", Reason.REASON_QUESTION),
        ("你好", Reason.REASON_UNCLEAR), ("谢谢！", Reason.REASON_UNCLEAR), ("好的", Reason.REASON_UNCLEAR),
        ("转人工", Reason.REASON_UNCLEAR), ("卡号6222021000000000124", Reason.REASON_UNCLEAR),
    ],
)
def test_refused(typed, code):
    with pytest.raises(Invalid) as caught:
        reason.validate(typed)
    assert caught.value.reason is code
