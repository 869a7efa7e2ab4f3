"""bot.validation.branch: the opening branch with or without the bank, lead-ins, "I don't know"."""
from __future__ import annotations

import doctest

import pytest

from bot.validation import branch
from bot.validation.errors import Invalid, Reason


def test_doctests():
    assert doctest.testmod(branch).failed == 0


@pytest.mark.parametrize(
    "typed, value",
    [
        ("上海分行营业部", "上海分行营业部"), ("浦东支行", "浦东支行"), ("工行张江支行", "工行张江支行"),
        ("中国银行上海市徐汇支行", "中国银行上海市徐汇支行"), ("农商行张江分理处", "农商行张江分理处"),
        ("开户行是上海分行营业部", "上海分行营业部"), ("在浦东支行", "浦东支行"),
        ("开户支行：徐汇支行。", "徐汇支行"), ("我的卡是在浦东支行办的", "浦东支行"),
        ("工商银行 上海 浦东支行", "工商银行上海浦东支行"), ("建设银行张江储蓄所", "建设银行张江储蓄所"),
        ("奉贤农村信用社", "奉贤农村信用社"), ("招行南山营业室", "招行南山营业室"),
    ],
)
def test_accepted(typed, value):
    assert branch.validate(typed) == value
    assert branch.is_valid(typed)


@pytest.mark.parametrize("typed", ["不知道支行", "不清楚", "忘了", "查不到", "我也不记得是哪个支行了"])
def test_not_known(typed):
    assert branch.is_unknown(typed)
    with pytest.raises(Invalid) as caught:
        branch.validate(typed)
    assert caught.value.reason is Reason.BRANCH_NOT_KNOWN


@pytest.mark.parametrize("typed", ["今天天气怎么样", "支行", "网点", "浦东", "支行是什么意思？", "6222021000000000124",
                                   "你好"])
def test_not_a_branch(typed):
    assert not branch.is_unknown(typed)
    with pytest.raises(Invalid) as caught:
        branch.validate(typed)
    assert caught.value.reason is Reason.BRANCH_FORMAT


def test_too_long():
    with pytest.raises(Invalid) as caught:
        branch.validate("浦东" * 30 + "支行")
    assert caught.value.reason is Reason.BRANCH_LENGTH and caught.value.details == {"max_length": 50}
