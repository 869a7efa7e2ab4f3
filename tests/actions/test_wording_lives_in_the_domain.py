"""Every word a merchant reads comes from domain.yml (or bot/ and the SMS texts), none from actions/:
actions name responses, and every response they name exists."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.dialogue.corrections import CORRECTABLE
from bot.responses import DOMAIN_FILE

import yaml

ACTIONS = Path(__file__).resolve().parents[2] / "actions"
CHINESE = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
RESPONSES = set(yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))["responses"])


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_merchant_facing_chinese_in_actions() -> None:
    found = []
    for module in sorted(ACTIONS.glob("*.py")):
        for constant in _string_constants(ast.parse(module.read_text(encoding="utf-8"))):
            if CHINESE.search(constant.value):
                found.append(f"{module.name}:{constant.lineno}: {constant.value!r}")
    assert not found, "move these into domain.yml responses (or bot/):\n" + "\n".join(found)


def test_every_response_the_actions_name_exists() -> None:
    named = set()
    for module in sorted(ACTIONS.glob("*.py")):
        for constant in _string_constants(ast.parse(module.read_text(encoding="utf-8"))):
            if re.fullmatch(r"utter_[a-z0-9_]*[a-z0-9]", constant.value):  # f-string prefixes end in _
                named.add(constant.value)
    assert named and not named - RESPONSES, sorted(named - RESPONSES)


def test_every_correctable_field_has_its_reask_response() -> None:
    assert {f"utter_reask_{slot}" for slot in CORRECTABLE} <= RESPONSES
