"""The value extractor on realistic, mixed and hostile sentences: values and offsets."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.extraction.values import ENTITY_TYPES, extract_values, values_by_entity
from bot.settings import PROJECT_ROOT

OWN_SET = PROJECT_ROOT / "tests" / "data" / "entities.yml"
SHARED_DEV_SET = PROJECT_ROOT / "tests" / "data" / "nlu_dev.yml"


def _cases(path: Path) -> list:
    cases = []
    for case in yaml.safe_load(path.read_text(encoding="utf-8"))["entities"]:
        case = dict(case)
        cases.append(pytest.param(case.pop("text"), case, id=None))
    return cases


@pytest.mark.parametrize("text, expected", _cases(OWN_SET))
def test_own_entity_set(text, expected):
    assert values_by_entity(text) == expected


@pytest.mark.skipif(not SHARED_DEV_SET.exists(), reason="the shared dev set is outside this clone")
@pytest.mark.parametrize("text, expected", _cases(SHARED_DEV_SET) if SHARED_DEV_SET.exists() else [])
def test_shared_dev_entities(text, expected):
    assert values_by_entity(text) == expected


def test_offsets_point_at_the_original_text():
    text = "新卡 ６２１６-６０４０-0000-0000-568，中行的，户名周强，手机 138 0000 0001"
    found = {value.entity: value for value in extract_values(text)}
    for value in found.values():
        assert text[value.start:value.end] == value.text
    assert found["card_number"].text == "６２１６-６０４０-0000-0000-568"
    assert found["card_number"].value == "6216604000000000568"
    assert found["bank"].text == "中行" and found["bank"].value == "中国银行"
    assert found["name"].text == "周强"
    assert found["phone"].value == "13800000001"


def test_every_entity_type_is_produced_somewhere():
    produced = set()
    for case in yaml.safe_load(OWN_SET.read_text(encoding="utf-8"))["entities"]:
        produced |= set(values_by_entity(case["text"]))
    assert produced == set(ENTITY_TYPES)


@pytest.mark.parametrize(
    "text",
    [
        "6" * 100_000,
        "卡号" + "6222 " * 20_000,
        "😀" * 5_000 + "6222021000000000124",
        "\x00\x01\x02\x1b[31m\u200b\ufeff",
        "'; DROP TABLE change_requests; -- 6222021000000000124",
        "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a '&#x26;'>]><x>&a;户名张伟</x>",
        "户名" * 10_000,
        "",
        "   ",
    ],
)
def test_hostile_input_returns_a_clean_result(text):
    values = extract_values(text)
    assert isinstance(values, list)
    for value in values:
        assert value.entity in ENTITY_TYPES
        assert text[value.start:value.end] == value.text
        assert len(value.value) <= 40


def test_non_text_input_gives_nothing():
    assert extract_values(None) == []
    assert extract_values(12345678) == []


@pytest.mark.parametrize("text", ["谢谢你", "谢谢您", "确认无误", "好的好的", "没有问题"])
def test_polite_phrases_starting_like_a_surname_are_not_names(text):
    assert "name" not in values_by_entity(text)


@pytest.mark.parametrize("text, name", [("谢霆", "谢霆"), ("张伟", "张伟"), ("欧阳明", "欧阳明")])
def test_bare_names_still_are(text, name):
    assert values_by_entity(text)["name"] == name
