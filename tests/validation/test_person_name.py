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
