"""bot.validation.confirmation: yes or no to the summary, whatever the words."""
from __future__ import annotations

import doctest

import pytest

from bot.validation import confirmation
from bot.validation.errors import Invalid, Reason


def test_doctests():
    assert doctest.testmod(confirmation).failed == 0


@pytest.mark.parametrize("typed", ["确认", "确认无误", "没问题", "对的", "信息无误，提交吧", "是的没错", "可以提交",
                                   "OK", "都对", "嗯嗯", "对，没问题"])
def test_yes(typed):
    assert confirmation.validate(typed) is True


@pytest.mark.parametrize("typed", ["不对", "有错误要修改", "卡号错了", "不是", "不确认", "等一下", "户名要改一下"])
def test_no(typed):
    assert confirmation.validate(typed) is False


@pytest.mark.parametrize("typed", ["", "你好", "确认后几天到账？", "没问题但是卡号不对"])
def test_unclear(typed):
    with pytest.raises(Invalid) as caught:
        confirmation.validate(typed)
    assert caught.value.reason is Reason.CONFIRMATION_UNCLEAR
