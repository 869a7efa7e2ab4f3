"""Each interruption a form may step aside for has a rule for that form, and nothing else does."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.forms import ValidateChangeForm, ValidateIdentifyForm, ValidateSignForm, ValidateTotpForm
from bot.settings import PROJECT_ROOT


def _rules() -> list:
    rules = []
    for path in (PROJECT_ROOT / "data" / "stories").glob("*.yml"):
        rules += (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("rules") or []
    return rules


def _intents_with_a_rule_inside(form: str) -> set:
    found = set()
    for rule in _rules():
        conditions = rule.get("condition") or []
        if {"active_loop": form} in conditions:
            found |= {step["intent"] for step in rule["steps"] if "intent" in step}
    return found


@pytest.mark.parametrize("form_class", [ValidateIdentifyForm, ValidateChangeForm, ValidateSignForm, ValidateTotpForm])
def test_every_interruption_has_its_rule(form_class):
    form = form_class().form_name()
    assert _intents_with_a_rule_inside(form) == set(form_class.interruptions), form
