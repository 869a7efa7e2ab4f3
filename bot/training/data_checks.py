"""The project's own checks of the training data, run by `make validate` after `rasa data validate`.

    python -m bot.training.data_checks [--root PROJECT]

Rasa's validator knows Rasa's rules (intents in the domain, story conflicts); these are the
project's, each failing with a message a trainer can act on (file:line, intent, the example with
any card or ID number masked):

1. every intent and FAQ sub-intent has at least `MIN_EXAMPLES` examples;
2. no example (ignoring case, width, spaces and punctuation) is under two intents, and no held-out
   example (tests/data/) is in the training data;
3. no example holds a real-looking card number (Luhn and a BIN of the card table) or resident ID
   number (valid check character) other than the documented test numbers;
4. every response in domain.yml is used somewhere (see `used_responses` for what counts);
5. every FAQ sub-intent has its answer (`utter_faq/<topic>`) and every answer its examples;
6. every question a form asks has a phrasing table, tests/phrasings/<slot>.yml.

Reads the files as plain YAML and Python source (no Rasa import), so it runs in about a second.
Exit code 1 when any check fails.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import yaml
from stdnum.cn import ric

from bot.masking import redact
from bot.validation import bank_card
from bot.validation.in_text import numbers_in

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Check 1. Today the smallest sub-intent, faq/one_machine_one_account, has 49 examples and the
# other intents 51 to 264 (data/nlu file headers: "about 50" per FAQ topic, 60 to 120 per intent).
# 40 leaves room to prune duplicates or weak examples without tripping the check, and still stops
# a new intent or FAQ topic added with a first handful of examples, which DIET and the
# ResponseSelector would learn poorly next to 50-example neighbours.
MIN_EXAMPLES = 40

# Intents no merchant types: channels and buttons send them, so they have no NLU examples.
SYNTHETIC_INTENTS = {
    "message_too_long": "the channels send it for an over-long message",
    "document_uploaded": "the web chat and WeChat channels send it after a photo was stored",
    "clarified_as_answer": "a clarification's button",
    "clarified_as_question": "a clarification's button",
}

# Check 2: sentences kept out of training so they measure the model (README, trainer's quick start).
HELD_OUT_FILES = ("tests/data/nlu_holdout.yml", "tests/data/nlu_dev.yml")

# Check 3: where the documented test numbers are written down. The demo data (bot.ops.demo, which
# tests/domain_fixtures.py's DEMO_SECRETS lists too) and the examples of the domain rules, read
# from the shared spec when it is there (a clone of the project alone has only the demo data).
DOMAIN_RULES_FILES = ("spec/DOMAIN_RULES.md", "../shared/spec/DOMAIN_RULES.md")
# The card and ID numbers DOMAIN_RULES.md gives as examples, copied here: CI and a clone of the
# project alone have no ../shared/ (a test checks the copy still covers the file where it exists).
DOMAIN_RULES_NUMBERS = (
    "11010519491231002X", "310101198503171233", "34052419800101001X", "440103199008224568",
    "440524188001010014", "61010319880214567X", "6216604000000000568", "6221886000000000914",
    "6222021000000000124", "6222021000000000125", "6225751000000004", "6225883000000005",
    "6227002000000000340", "6228485000000000781", "9999991000000000005",
)

# Check 4: Rasa's built-in actions utter these when the domain defines them.
RASA_DEFAULT_RESPONSES = {
    "utter_default": "action_default_fallback (RulePolicy's core fallback)",
    "utter_ask_rephrase": "action_default_ask_rephrase",
    "utter_restart": "action_restart",
    "utter_back": "action_back",
}
# Source read for response names (plain strings and f-string templates; comments and docstrings
# are not uses).
CODE_DIRS = ("actions", "bot")

# Check 6: a question whose answers are typed exactly like another's shares its table: totp_code
# (the authenticator's first code, totp_form) has sign_code's slot mappings and both are read by
# actions/forms.py `_typed_code` (identifiers.validate_otp), so sign_code.yml covers its phrasings.
SHARED_PHRASING_TABLES = {"totp_code": "sign_code"}
PHRASINGS_DIR = "tests/phrasings"

_ANNOTATION = re.compile(r"\[([^\]]+?)\](?:\([^)]*\)|\{[^}]*\})")
_BACKTICKED_NUMBER = re.compile(r"`([0-9]{15,19}|[0-9]{17}[0-9Xx])`")
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_RESPONSE_NAME = re.compile(r"utter_[A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)?")


@dataclass(frozen=True)
class Example:
    intent: str
    text: str
    file: str  # relative to the project
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def shown(self) -> str:
        """The example as a message may quote it: card, ID and phone numbers masked."""
        return f"“{redact(self.text)}”"


@dataclass(frozen=True)
class Problem:
    where: str  # file, or file:line
    message: str  # in Chinese, for the trainer

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def normalized(text: str) -> str:
    """What two examples must differ in to count as different: case, full-width forms, white
    space and punctuation do not count.

    >>> normalized("ＯＫ，好的！") == normalized("ok 好的")
    True
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(char for char in text if unicodedata.category(char)[0] not in "PZC")


def read_examples(path: Path, root: Path) -> List[Example]:
    """The intent examples of a Rasa NLU file, with their line numbers (entity annotations
    `[text](entity)` reduced to their text)."""
    relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    document = yaml.compose(path.read_text(encoding="utf-8"))
    examples: List[Example] = []
    if document is None:
        return examples
    top = {key.value: value for key, value in document.value}
    for item in getattr(top.get("nlu"), "value", []):
        fields = {key.value: value for key, value in item.value}
        if "intent" not in fields or "examples" not in fields:
            continue
        block = fields["examples"]
        first_line = block.start_mark.line + (2 if block.style == "|" else 1)  # 1-based
        for offset, line in enumerate(str(block.value).splitlines()):
            line = line.strip()
            if line.startswith("- "):
                text = _ANNOTATION.sub(r"\1", line[2:].strip())
                examples.append(Example(str(fields["intent"].value), text, relative, first_line + offset))
    return examples


def read_dev_set(path: Path, root: Path) -> List[Example]:
    """The shared development set's own format: `intents: {intent: [text, ...]}`, and the texts
    of its `entities` cases (labelled `entities`)."""
    relative = path.relative_to(root).as_posix()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    lines = path.read_text(encoding="utf-8").splitlines()
    examples = []
    for intent, texts in (data.get("intents") or {}).items():
        line = next((number for number, text in enumerate(lines, 1) if text.strip().startswith(f"{intent}:")), 0)
        examples += [Example(intent, str(text), relative, line) for text in texts]
    for case in data.get("entities") or []:
        line = next((number for number, text in enumerate(lines, 1) if str(case["text"]) in text), 0)
        examples.append(Example("entities", str(case["text"]), relative, line))
    return examples


def number_kind(number: str) -> Optional[str]:
    """'卡号' for a card number (a BIN of the card table with its length, Luhn), '身份证号' for a
    resident ID number (18 characters, valid check character), else None. `number` is compact."""
    if number.isdigit() and len(number) in bank_card.bin_table().expected_lengths(number) \
            and bank_card.luhn_ok(number):
        return "卡号"
    if _ID_SHAPE.fullmatch(number) and ric.calc_check_digit(number) == number[-1]:  # GB 11643's check character
        return "身份证号"
    return None


def real_looking_numbers(text: str) -> List[str]:
    """The card and ID numbers (`number_kind`) in `text`, compact, however they were typed.

    >>> real_looking_numbers("卡号 6222 0210 0000 0000 124，身份证 310101198503171233")
    ['6222021000000000124', '310101198503171233']
    >>> real_looking_numbers("卡号 6222021000000000125，单号 123456789012345678")
    []
    """
    return [number.upper() for number in numbers_in(text) if number_kind(number.upper())]


def documented_test_numbers(root: Path) -> Dict[str, str]:
    """The card and ID numbers tests and examples may use, with where each is documented: the
    demo data set and the examples of DOMAIN_RULES.md."""
    from bot.ops import demo  # imports the database models: only when check 3 runs

    numbers = {}
    for merchant in demo.DEMO_MERCHANTS:
        numbers[merchant.account_number] = f"演示商户 {merchant.number} 的结算卡"
        numbers[merchant.id_number.upper()] = f"演示商户 {merchant.number} 的身份证"
    for name in dir(demo):
        value = getattr(demo, name)
        if name.isupper() and isinstance(value, str) and real_looking_numbers(value) == [value.upper()]:
            numbers.setdefault(value.upper(), f"bot/ops/demo.py {name}")
    for number in DOMAIN_RULES_NUMBERS:
        numbers.setdefault(number, "DOMAIN_RULES.md 的示例")
    for candidate in DOMAIN_RULES_FILES:
        path = (root / candidate).resolve()
        if path.is_file():
            for number in _BACKTICKED_NUMBER.findall(path.read_text(encoding="utf-8")):
                numbers.setdefault(number.upper(), "DOMAIN_RULES.md 的示例")
            break
    return numbers


def _strings(tree: ast.AST) -> Iterator[ast.AST]:
    """String constants and f-strings of a module, except those standing alone as statements
    (docstrings)."""
    standalone = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    inside_fstring = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    for node in ast.walk(tree):
        if id(node) in standalone or id(node) in inside_fstring:
            continue
        if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            yield node


@dataclass
class Project:
    """The files the checks read, loaded once."""

    root: Path

    @cached_property
    def domain(self) -> dict:
        return yaml.safe_load((self.root / "domain.yml").read_text(encoding="utf-8")) or {}

    @cached_property
    def examples(self) -> List[Example]:
        return [example for path in sorted((self.root / "data" / "nlu").glob("*.yml"))
                for example in read_examples(path, self.root)]

    @cached_property
    def held_out(self) -> List[Example]:
        examples = []
        for name in HELD_OUT_FILES:
            path = self.root / name
            if not path.is_file():
                continue
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            examples += read_examples(path, self.root) if "nlu" in data else read_dev_set(path, self.root)
        return examples

    @cached_property
    def intents(self) -> List[str]:
        """The domain's intents (an entry may be a mapping `{intent: {use_entities: ...}}`)."""
        return [next(iter(intent)) if isinstance(intent, dict) else str(intent)
                for intent in self.domain.get("intents") or []]

    @cached_property
    def responses(self) -> Dict[str, list]:
        return self.domain.get("responses") or {}

    @cached_property
    def forms(self) -> Dict[str, List[str]]:
        return {name: list((form or {}).get("required_slots") or [])
                for name, form in (self.domain.get("forms") or {}).items()}

    @cached_property
    def retrieval_intents(self) -> Set[str]:
        return {example.intent.split("/")[0] for example in self.examples if "/" in example.intent}

    def example_counts(self) -> Counter:
        return Counter(example.intent for example in self.examples)

    def story_files(self) -> List[Path]:
        return sorted((self.root / "data").rglob("*.yml"))

    def code_files(self) -> List[Path]:
        this_file = Path(__file__).resolve()
        return [path for folder in CODE_DIRS for path in sorted((self.root / folder).rglob("*.py"))
                if path.resolve() != this_file]


# --- check 1 ---------------------------------------------------------------------------------

def check_example_counts(project: Project) -> List[Problem]:
    counts = project.example_counts()
    first_file = {}
    for example in project.examples:
        first_file.setdefault(example.intent, example.file)
    problems = []
    for intent in project.intents:
        if intent in SYNTHETIC_INTENTS or intent in project.retrieval_intents:
            continue
        if counts[intent] == 0:
            problems.append(Problem("domain.yml", f"意图 {intent} 在 data/nlu/ 里没有任何示例，至少需要 {MIN_EXAMPLES} 条"))
    for intent, count in sorted(counts.items()):
        if count < MIN_EXAMPLES:
            kind = "FAQ 子意图" if "/" in intent else "意图"
            problems.append(Problem(first_file[intent],
                                    f"{kind} {intent} 只有 {count} 条示例，至少需要 {MIN_EXAMPLES} 条（再补 {MIN_EXAMPLES - count} 条）"))
    return problems


# --- check 2 ---------------------------------------------------------------------------------

def _button_titles(project: Project) -> Set[str]:
    """What the bot's buttons say: merchants type these too (WeChat shows buttons as text), so a
    title may be in the training data and in a held-out set alike."""
    titles = set()
    for variations in project.responses.values():
        for variation in variations or []:
            for button in (variation or {}).get("buttons") or []:
                titles.add(normalized(str(button.get("title", ""))))
    return titles


def check_duplicates(project: Project) -> List[Problem]:
    problems = []
    trained: Dict[str, List[Example]] = defaultdict(list)
    for example in project.examples:
        trained[normalized(example.text)].append(example)
    for same in trained.values():
        if len({example.intent for example in same}) > 1:
            first, *others = same
            elsewhere = "，".join(f"{other.where} 的 {other.intent}" for other in others if other.intent != first.intent)
            problems.append(Problem(first.where, f"{first.shown} 在 {first.intent} 下，同一句话也在 {elsewhere} 下：只保留正确的一处"))
    buttons = _button_titles(project)
    for held in project.held_out:
        key = normalized(held.text)
        if key in trained and key not in buttons:
            example = trained[key][0]
            problems.append(Problem(example.where,
                                    f"{example.shown}（{example.intent}）是测试集 {held.file} 的句子（{held.intent}）："
                                    "测试集的句子不能放进训练数据，请从 data/nlu/ 删除或换一种说法"))
    return problems


# --- check 3 ---------------------------------------------------------------------------------

def check_sensitive_numbers(project: Project) -> List[Problem]:
    allowed = documented_test_numbers(project.root)
    problems = []
    for example in project.examples:
        for number in real_looking_numbers(example.text):
            if number not in allowed:
                problems.append(Problem(example.where,
                                        f"{example.intent} 的示例 {example.shown} 含有一个看起来真实的{number_kind(number)}"
                                        f"（尾号 {number[-4:]}）："
                                        "示例只能用文档里的测试号码（演示数据、DOMAIN_RULES.md），请换成其中一个"))
    return problems


# --- check 4 ---------------------------------------------------------------------------------

def _template(node: ast.JoinedStr) -> Optional[re.Pattern]:
    """`f"utter_invalid_{reason}"` -> a pattern whose groups are the holes; None if not a response."""
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(re.escape(str(value.value)))
        else:
            parts.append(r"([A-Za-z0-9_]+)")
    pattern = "".join(parts)
    return re.compile(pattern) if pattern.startswith("utter_") else None


def used_responses(project: Project) -> Dict[str, str]:
    """Every response name in use, with why. In use: a story or rule step (`action: utter_x`); a
    form's question (`utter_ask_<slot>`, `utter_ask_<form>_<slot>`); a name in the domain's
    `actions`; a name written in actions/ or bot/ source (a string, not a comment or docstring);
    a name an f-string there builds (`f"utter_invalid_{reason}"`) when each hole is filled by a
    word the project knows (a string of that source, or a slot, intent, entity or form name);
    Rasa's built-in actions' responses. FAQ answers are check 5's."""
    used: Dict[str, str] = {}
    for name, why in RASA_DEFAULT_RESPONSES.items():
        used.setdefault(name, f"Rasa 内置动作 {why}")
    for path in project.story_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for section in ("stories", "rules"):
            for story in data.get(section) or []:
                for step in story.get("steps") or []:
                    if isinstance(step, dict) and str(step.get("action", "")).startswith("utter_"):
                        used.setdefault(step["action"], f"{path.relative_to(project.root).as_posix()} 的步骤")
    for form, slots in project.forms.items():
        for slot in slots:
            used.setdefault(f"utter_ask_{slot}", f"表单 {form} 的问题")
            used.setdefault(f"utter_ask_{form}_{slot}", f"表单 {form} 的问题")
    for action in project.domain.get("actions") or []:
        if str(action).startswith("utter_"):
            used.setdefault(str(action), "domain.yml actions")
    known_words = {str(name) for key in ("slots", "entities", "forms") for name in (project.domain.get(key) or {})}
    known_words |= set(project.intents)
    templates: List[Tuple[re.Pattern, str]] = []
    for path in project.code_files():
        where = path.relative_to(project.root).as_posix()
        for node in _strings(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Constant):
                known_words.add(node.value)
                for name in _RESPONSE_NAME.findall(node.value):
                    used.setdefault(name, where)
            elif (pattern := _template(node)) is not None:
                templates.append((pattern, f"{where}:{node.lineno}"))
    for name in project.responses:
        for pattern, where in templates:
            match = pattern.fullmatch(name)
            if match and all(hole in known_words for hole in match.groups()):
                used.setdefault(name, where)
                break
    return used


def check_unused_responses(project: Project) -> List[Problem]:
    used = used_responses(project)
    lines = (project.root / "domain.yml").read_text(encoding="utf-8").splitlines()
    problems = []
    for name in project.responses:
        if name.split("/")[0].removeprefix("utter_") in project.retrieval_intents or name in used:
            continue
        line = next((number for number, text in enumerate(lines, 1) if text.strip() == f"{name}:"), 0)
        problems.append(Problem(f"domain.yml:{line}",
                                f"回复 {name} 没有任何地方用到（故事、规则、表单、actions/ 或 bot/ 的代码都没有）："
                                "删掉它，或在故事/规则里用上"))
    return problems


# --- check 5 ---------------------------------------------------------------------------------

def check_faq_answers(project: Project) -> List[Problem]:
    problems = []
    sub_intents: Dict[str, Example] = {}
    for example in project.examples:
        if "/" in example.intent:
            sub_intents.setdefault(example.intent, example)
    for intent, example in sorted(sub_intents.items()):
        if f"utter_{intent}" not in project.responses:
            problems.append(Problem(example.where, f"FAQ 子意图 {intent} 有示例，但 domain.yml 里没有它的回答 utter_{intent}"))
    lines = (project.root / "domain.yml").read_text(encoding="utf-8").splitlines()
    for name in project.responses:
        base, _, topic = name.removeprefix("utter_").partition("/")
        if topic and f"{base}/{topic}" not in sub_intents:
            line = next((number for number, text in enumerate(lines, 1) if text.strip() == f"{name}:"), 0)
            problems.append(Problem(f"domain.yml:{line}",
                                    f"回答 {name} 没有对应的示例：请在 data/nlu/ 里加 intent: {base}/{topic} 的示例"))
    return problems


# --- check 6 ---------------------------------------------------------------------------------

def asked_slots(project: Project) -> Dict[str, str]:
    """Every slot the assistant asks for, with who asks: the forms' required slots, and slots with
    an `action_ask_<slot>` of their own in the domain."""
    asked = {slot: f"表单 {form}" for form, slots in project.forms.items() for slot in slots}
    slots = project.domain.get("slots") or {}
    for action in project.domain.get("actions") or []:
        slot = str(action).removeprefix("action_ask_")
        if str(action).startswith("action_ask_") and slot in slots:
            asked.setdefault(slot, f"动作 {action}")
    return asked


def check_phrasing_tables(project: Project) -> List[Problem]:
    folder = project.root / PHRASINGS_DIR
    problems = []
    asked = asked_slots(project)
    for slot, asker in sorted(asked.items()):
        table = SHARED_PHRASING_TABLES.get(slot, slot)
        path = folder / f"{table}.yml"
        if not path.is_file():
            problems.append(Problem(f"{PHRASINGS_DIR}/{table}.yml",
                                    f"{asker} 会问 {slot}，但没有它的说法表（商户会怎么回答这个问题）：请按其他说法表的格式新建"))
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if data.get("slot") != table or not data.get("phrasings"):
            problems.append(Problem(f"{PHRASINGS_DIR}/{table}.yml", f"说法表应写 slot: {table}，并至少有一条 phrasings"))
    shared = set(SHARED_PHRASING_TABLES.values())
    for path in sorted(folder.glob("*.yml")):
        if path.stem not in asked and path.stem not in shared:
            problems.append(Problem(f"{PHRASINGS_DIR}/{path.name}", f"没有表单或动作会问 {path.stem}：这个说法表多余了，或槽位改了名字"))
    return problems


CHECKS: Tuple[Tuple[str, Callable[[Project], List[Problem]]], ...] = (
    (f"每个意图和 FAQ 子意图至少 {MIN_EXAMPLES} 条示例", check_example_counts),
    ("同一句话不在两个意图下，测试集的句子不在训练数据里", check_duplicates),
    ("示例里没有测试号码以外的真实卡号或身份证号", check_sensitive_numbers),
    ("domain.yml 的每个回复都有用处", check_unused_responses),
    ("每个 FAQ 子意图都有回答，每个回答都有示例", check_faq_answers),
    ("表单问的每个问题都有说法表 tests/phrasings/<槽位>.yml", check_phrasing_tables),
)


def run(root: Path = PROJECT_ROOT) -> List[Tuple[str, List[Problem]]]:
    """Each check's title and its problems (empty: passed)."""
    project = Project(root)
    return [(title, check(project)) for title, check in CHECKS]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the project's own checks of the training data")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT, help="project folder (default: this project)")
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
    results = run(args.root)
    failed = 0
    print("[validate] 训练数据自查 (bot/training/data_checks.py)")
    for title, problems in results:
        print(f"  {'通过' if not problems else '未通过'}  {title}" + (f"（{len(problems)} 处）" if problems else ""))
        for problem in problems:
            print(f"      {problem}")
        failed += bool(problems)
    if failed:
        print(f"[validate] {failed} 项检查未通过：按上面的提示修改后再运行 make validate")
        return 1
    print(f"[validate] {len(results)} 项检查全部通过")
    return 0


if __name__ == "__main__":
    sys.exit(main())
