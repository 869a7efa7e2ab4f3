"""bot.validation.person_name: Chinese personal names, 间隔号 allowed."""
from __future__ import annotations

import doctest

import pytest

from bot.validation import person_name
from bot.validation.errors import Invalid, Reason


def test_doctests():
    assert doctest.testmod(person_name).failed == 0


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("周强", "周强"),
        ("张伟", "张伟"),
        (" 李 娜 ", "李娜"),
        ("欧阳娜娜", "欧阳娜娜"),
        ("阿卜杜拉·买买提", "阿卜杜拉·买买提"),
        ("阿卜杜拉・买买提", "阿卜杜拉·买买提"),  # katakana middle dot
        ("阿卜杜拉･买买提", "阿卜杜拉·买买提"),  # half-width katakana middle dot
        ("阿卜杜拉•买买提", "阿卜杜拉·买买提"),  # bullet
        ("阿卜杜拉.买买提", "阿卜杜拉·买买提"),
        ("阿卜杜拉 · 买买提", "阿卜杜拉·买买提"),
        ("王〇", "王〇"),
        ("𠇔强", "𠇔强"),  # extension B character
        ("买" * 15, "买" * 15),
    ],
)
def test_valid(typed, stored):
    assert person_name.validate(typed) == stored
    assert person_name.is_valid(typed)


@pytest.mark.parametrize("typed", ["周", "买" * 16, "阿卜杜拉·买买提" * 2])
def test_length(typed):
    with pytest.raises(Invalid) as caught:
        person_name.validate(typed)
    assert caught.value.reason is Reason.NAME_LENGTH
    assert caught.value.details == {"min_length": 2, "max_length": 15}


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "张3", "Zhang Wei", "张wei", "·周强", "周强·", "阿卜杜拉··买买提", "周强！", "周-强", "😀周强"],
)
def test_format(typed):
    with pytest.raises(Invalid) as caught:
        person_name.validate(typed)
    assert caught.value.reason is Reason.NAME_FORMAT


@pytest.mark.parametrize(
    "typed, name",
    [
        ("阿卜杜·热合曼", "阿卜杜·热合曼"), ("阿卜杜・热合曼", "阿卜杜·热合曼"), ("阿卜杜•热合曼", "阿卜杜·热合曼"),
        ("阿卜杜‧热合曼", "阿卜杜·热合曼"), ("阿卜杜。热合曼", "阿卜杜·热合曼"), ("阿卜杜.热合曼", "阿卜杜·热合曼"),
        ("户名是张伟", "张伟"), ("持卡人：张伟", "张伟"), ("我叫张伟", "张伟"), ("张伟。", "张伟"),
        ("新卡户名为阿卜杜·热合曼", "阿卜杜·热合曼"),
    ],
)
def test_what_merchants_type(typed, name):
    assert person_name.validate(typed) == name


@pytest.mark.parametrize("typed", ["就是我本人", "我本人", "是我自己", "我的卡", "本人", "是我本人的卡", "用我自己的",
                                   "是的，就是我本人"])
def test_self_reference(typed):
    assert person_name.is_self_reference(typed)
    with pytest.raises(Invalid) as caught:
        person_name.validate(typed)
    assert caught.value.reason is Reason.NAME_SELF_REFERENCE


@pytest.mark.parametrize("typed", ["张伟", "不是我", "我老婆的卡", "是", "", None])
def test_not_self_reference(typed):
    assert not person_name.is_self_reference(typed)
