"""bot.validation.route: online or offline from the merchant's own words, negations included."""
from __future__ import annotations

import doctest

import pytest

from bot.validation import route
from bot.validation.errors import Invalid, Reason


def test_doctests():
    assert doctest.testmod(route).failed == 0


@pytest.mark.parametrize("typed", ["线上", "线上办理", "网上办", "手机上弄", "就在这办", "在网上弄就行", "在线",
                                   "这里办", "微信上", "直接在这里办吧", "ONLINE", "不想去银行", "不用去网点",
                                   "懒得跑银行", "别去柜台了，网上吧"])
def test_online(typed):
    assert route.validate(typed) == "online"


@pytest.mark.parametrize("typed", ["线下", "去网点办理", "去银行办", "网点", "柜台", "营业厅", "当面", "现场",
                                   "在线下办理", "不在网上办", "我要去柜台办", "还是去银行跑一趟吧"])
def test_offline(typed):
    assert route.validate(typed) == "offline"


@pytest.mark.parametrize("typed", ["", "你好", "线上还是线下？", "6222021000000000124", "随便", "嗯"])
def test_unknown(typed):
    with pytest.raises(Invalid) as caught:
        route.validate(typed)
    assert caught.value.reason is Reason.ROUTE_UNKNOWN
    assert not route.is_valid(typed)
