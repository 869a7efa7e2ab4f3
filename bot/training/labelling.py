"""Label a real message and keep it: append it to the training data as a trainer would by hand.

A trainer picks the intent (or FAQ sub-intent, `faq/<topic>`) of a message and may mark entity
values in it; `append_example` adds the line at the end of that intent's `examples: |` block in the
file of data/nlu/ that holds the intent, in the project's style (`      - text`, entities as
`[value](entity)`), and returns the unified diff. It inserts text: comments, order and layout of
the file stay exactly as they were (re-dumping the YAML would lose the comments).

What it refuses, writing nothing:
- `UnknownIntent`: not an intent trainers label (`label_choices`: the domain's intents that have
  examples in data/nlu/, FAQ sub-intents included; the synthetic ones the channels or buttons send,
  `message_too_long`, `document_uploaded`, `clarified_as_*`, have none);
- `AlreadyPresent`: the same text is already an example, under any intent, in data/nlu/ or in the
  measurement sets (tests/data/nlu_holdout.yml, tests/data/nlu_dev.yml), which must never be
  trained on. "The same" as `make validate`'s duplicate check sees it, reading the files with it
  (bot/training/data_checks.py: case, width, white space and punctuation aside, entity annotations
  stripped), so a labelled example never makes that check fail;
- `UnsafeExample`: the text holds a full card, ID or phone number, or a one-time code: the inbox's
  redaction (`inbox.redact_for_training`: `bot.masking.redact`, codes masked too) would change it.
  Training data is committed and shared;
- `InvalidExample`: empty or too long, characters YAML cannot hold, an entity value that is not in
  the text or an entity the domain does not have, or text Rasa would misread as an annotation.

Rasa reads an example line as everything after the leading `-`, stripped, and finds annotations
with one regular expression (`rasa.shared.nlu.training_data.entities_parser.ENTITY_REGEX`, copied
below: bot/ imports no Rasa). White space is collapsed to single spaces (a line break, or any of
the separators Python's `splitlines` splits on, would cut the example in two), and the line is read
back the way Rasa reads it before anything is written: if that gives other text or other entities
than meant (`请按[确认](xx)`), the example is refused. A leading `- ` needs nothing: Rasa removes only
the first `-` of the line.

>>> annotated("我的卡号是****0124，工商银行", [EntityMark("工商银行", "bank")])
'我的卡号是****0124，[工商银行](bank)'
"""
from __future__ import annotations

import contextlib
import difflib
import fcntl
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml

from bot.settings import MAX_MESSAGE_CHARS
from bot.training import data_checks
from bot.training.inbox import redact_for_training

__all__ = ["EntityMark", "AppendedExample", "AlreadyPresent", "UnknownIntent", "UnsafeExample", "InvalidExample",
           "label_choices", "entity_choices", "append_example", "annotated", "normalized"]

NLU_DIR = Path("data/nlu")
DOMAIN_FILE = Path("domain.yml")
RETRIEVAL_INTENT = "faq"
# Entities of the domain that are never in a merchant's words: set by the route buttons, the stored
# upload a document_uploaded message names, the field a correction button names (domain.yml).
NOT_IN_TEXT = frozenset({"route", "document_id", "field"})

# rasa.shared.nlu.training_data.entities_parser.ENTITY_REGEX (Rasa 3.6): `[text](entity)`,
# `[text](entity:synonym)`, `[text]{"entity": ...}`, `[text][{...}, {...}]`.
_RASA_ENTITY = re.compile(
    r"\[(?P<entity_text>[^\]]+?)\](\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)|\{(?P<entity_dict>[^}]+?)\}"
    r"|\[(?P<list_entity_dicts>.*?)\])")
_INTENT_LINE = re.compile(r"^(?P<indent> *)- intent:\s*(?P<quote>[\"']?)(?P<name>[^\"'#\s]+)(?P=quote)\s*(?:#.*)?$")
_EXAMPLES_KEY = re.compile(r"^(?P<indent> *)examples:\s*\|[-+]?[1-9]?\s*(?:#.*)?$")


@dataclass(frozen=True)
class EntityMark:
    value: str  # a substring of the example's text
    entity: str  # one of `entity_choices`


@dataclass(frozen=True)
class AppendedExample:
    path: Path  # the file written, relative to the project
    diff: str  # unified diff of that file, relative paths in its headers
    intent: str = ""
    line: str = ""  # the example as written, annotations included


class AlreadyPresent(Exception):
    """The example is already in the training data or in a measurement set."""

    def __init__(self, text: str, intent: str, path: Path) -> None:
        super().__init__(f"already an example of {intent} in {path}")
        self.text, self.intent, self.path = text, intent, path


class UnknownIntent(Exception):
    """Not an intent (or FAQ sub-intent) trainers label."""

    def __init__(self, intent: str) -> None:
        super().__init__(f"not an intent trainers label: {intent!r}")
        self.intent = intent


class UnsafeExample(Exception):
    """The text would put a full card, ID or phone number into the training data."""


class InvalidExample(ValueError):
    """The example cannot be written as asked; `reason` says why (one of the constants below)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    UNPRINTABLE = "unprintable"
    MARKUP = "markup"  # Rasa would read an annotation the trainer did not mean
    ENTITY_NOT_IN_TEXT = "entity_not_in_text"
    UNKNOWN_ENTITY = "unknown_entity"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def normalized(text: str) -> str:
    """White space collapsed to single spaces, none at either end: how an example is written
    (`str.split` splits on every separator `splitlines` breaks a line at).

    >>> normalized("  换卡\\u2028要 \\t 多久 ")
    '换卡 要 多久'
    """
    return " ".join(text.split())


# --- what trainers may choose ------------------------------------------------------------------------


def _domain(project_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((project_dir / DOMAIN_FILE).read_text(encoding="utf-8")) or {}


def _names(items: Sequence[Any]) -> list[str]:
    """Names of a domain list whose items are names or one-key mappings (`- greet`, `- greet: {...}`)."""
    return [item if isinstance(item, str) else next(iter(item)) for item in items or ()]


def _nlu_files(project_dir: Path) -> list[Path]:
    return sorted((project_dir / NLU_DIR).glob("*.yml"))


def _intent_blocks(path: Path) -> Iterator[str]:
    """The names on the `- intent:` lines of a data file, in order."""
    for line in path.read_text(encoding="utf-8").split("\n"):
        match = _INTENT_LINE.match(line.rstrip("\r"))
        if match:
            yield match.group("name")


def label_choices(project_dir: Path) -> list[str]:
    """The intents a trainer may label a message with, sorted: the domain's intents that have
    examples in data/nlu/ (so none the channels or buttons send), each FAQ sub-intent as
    `faq/<topic>` instead of the bare `faq`."""
    domain_intents = set(_names(_domain(project_dir).get("intents", [])))
    choices = set()
    for path in _nlu_files(project_dir):
        for name in _intent_blocks(path):
            if name.split("/", 1)[0] in domain_intents and name != RETRIEVAL_INTENT:
                choices.add(name)
    return sorted(choices)


def entity_choices(project_dir: Path) -> list[str]:
    """The domain's entities a merchant's words can hold (not those only buttons set), sorted."""
    return sorted(set(_names(_domain(project_dir).get("entities", []))) - NOT_IN_TEXT)


# --- the example line ----------------------------------------------------------------------------------


def _spans(text: str, entities: Sequence[EntityMark]) -> list[tuple[int, int, str]]:
    """(start, end, entity) of each mark: its first occurrence not taken by an earlier mark."""
    spans: list[tuple[int, int, str]] = []
    for mark in entities:
        value = normalized(mark.value)
        if not value:
            raise InvalidExample(InvalidExample.EMPTY, "entity value")
        start = text.find(value)
        while start >= 0 and any(start < end and begin < start + len(value) for begin, end, _ in spans):
            start = text.find(value, start + 1)
        if start < 0:
            raise InvalidExample(InvalidExample.ENTITY_NOT_IN_TEXT, mark.entity)
        spans.append((start, start + len(value), mark.entity))
    return sorted(spans)


def annotated(text: str, entities: Sequence[EntityMark] = ()) -> str:
    """The example line (without the leading `- `) for a normalised text and its marks."""
    pieces, position = [], 0
    for start, end, entity in _spans(text, entities):
        pieces += [text[position:start], f"[{text[start:end]}]({entity})"]
        position = end
    return "".join(pieces) + text[position:]


def _read_as_rasa(line: str) -> tuple[str, list[tuple[int, int, str]]]:
    """What Rasa makes of an example line: its text and (start, end, entity) of the annotations;
    an annotation of another form than `[text](entity)` gives entity '' (never what we meant)."""
    entities, offset = [], 0
    for match in _RASA_ENTITY.finditer(line):
        entity_text = match.group("entity_text")
        simple = match.group("entity") and not match.group("value")
        start = match.start() - offset
        entities.append((start, start + len(entity_text), match.group("entity") if simple else ""))
        offset += len(match.group(0)) - len(entity_text)
    return _RASA_ENTITY.sub(lambda match: match.group("entity_text"), line).strip(), entities


def _checked_line(project_dir: Path, text: str, entities: Sequence[EntityMark]) -> str:
    if not text:
        raise InvalidExample(InvalidExample.EMPTY)
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidExample(InvalidExample.TOO_LONG, f"{len(text)} > {MAX_MESSAGE_CHARS}")
    if any(unicodedata.category(ch) in ("Cc", "Cs") or ch in "\ufffe\uffff" for ch in text):
        raise InvalidExample(InvalidExample.UNPRINTABLE)
    if redact_for_training(text) != text:
        raise UnsafeExample("the text holds a full card, ID or phone number or a one-time code")
    known = set(entity_choices(project_dir))
    for mark in entities:
        if mark.entity not in known:
            raise InvalidExample(InvalidExample.UNKNOWN_ENTITY, mark.entity)
    line = annotated(text, entities)
    if _read_as_rasa(line) != (text, _spans(text, entities)):
        raise InvalidExample(InvalidExample.MARKUP, "Rasa would read other text or entities")
    return line


# --- what is already there -----------------------------------------------------------------------------


def _already_present(project_dir: Path, text: str) -> AlreadyPresent | None:
    """The example `make validate` would see as this one (bot/training/data_checks.py reads the
    files), in the training data first, then in the measurement sets."""
    project = data_checks.Project(project_dir)
    wanted = data_checks.normalized(text)
    for example in project.examples + project.held_out:
        if data_checks.normalized(example.text) == wanted:
            return AlreadyPresent(text, example.intent, Path(example.file))
    return None


# --- writing -------------------------------------------------------------------------------------------


def _insertion(lines: list[str], intent: str) -> tuple[int, str] | None:
    """(index to insert at, indentation of an example line) for the intent's examples block."""
    for number, line in enumerate(lines):
        match = _INTENT_LINE.match(line.rstrip("\r"))
        if not match or match.group("name") != intent:
            continue
        item_indent = len(match.group("indent"))
        for key_number in range(number + 1, len(lines)):
            key_line = lines[key_number].rstrip("\r")
            if key_line.strip() and len(key_line) - len(key_line.lstrip(" ")) <= item_indent:
                break  # the next item: this intent has no examples block of the `|` kind
            key = _EXAMPLES_KEY.match(key_line)
            if not key:
                continue
            key_indent = len(key.group("indent"))
            last, indent = key_number, " " * (key_indent + 2)
            for content_number in range(key_number + 1, len(lines)):
                content = lines[content_number].rstrip("\r")
                if not content.strip():
                    continue
                content_indent = len(content) - len(content.lstrip(" "))
                if content_indent <= key_indent:
                    break
                last, indent = content_number, " " * content_indent
            return last + 1, indent
        raise ValueError(f"intent {intent} has no `examples: |` block the labelling can append to")
    return None


@contextlib.contextmanager
def _data_locked(project_dir: Path) -> Iterator[None]:
    """One labelling at a time per project (threads of the console, processes): the duplicate
    check and the write must see each other."""
    descriptor = os.open(project_dir / NLU_DIR, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _write(path: Path, content: str) -> None:
    """Replace the file at once (a reader never sees half of it), keeping its permissions."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(content)
        os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _with_endings(content: str) -> list[str]:
    """Lines with their `\\n`, split only there (as the file is read, not at every separator)."""
    return [line for line in re.split(r"(?<=\n)", content) if line]


def _examples_block(content: str, intent: str) -> str:
    for item in (yaml.safe_load(content) or {}).get("nlu") or ():
        if isinstance(item, dict) and item.get("intent") == intent:
            return item.get("examples") or ""
    return ""


def append_example(project_dir: Path, text: str, intent: str,
                   entities: Sequence[EntityMark] = ()) -> AppendedExample:
    """Append `text` (white space normalised) as an example of `intent`, entities annotated;
    returns the file written and its diff. Raises (writing nothing) as the module docstring says."""
    project_dir = Path(project_dir)
    if intent not in label_choices(project_dir):
        raise UnknownIntent(intent)
    text = normalized(text)
    line = _checked_line(project_dir, text, entities)
    with _data_locked(project_dir):
        present = _already_present(project_dir, text)
        if present is not None:
            raise present
        for path in _nlu_files(project_dir):
            with open(path, encoding="utf-8", newline="") as stream:
                old = stream.read()
            lines = old.split("\n")
            found = _insertion(lines, intent)
            if found is None:
                continue
            index, indent = found
            ending = "\r" if index > 0 and lines[index - 1].endswith("\r") else ""
            new_lines = lines[:index] + [f"{indent}- {line}{ending}"] + lines[index:]
            new = "\n".join(new_lines)
            if _examples_block(new, intent).splitlines()[-1:] != [f"- {line}"]:
                raise RuntimeError(f"appending to {path} would not give the example back")  # a bug, not input
            _write(path, new)
            relative = path.relative_to(project_dir).as_posix()
            diff = "".join(difflib.unified_diff(_with_endings(old), _with_endings(new),
                                                fromfile=f"a/{relative}", tofile=f"b/{relative}"))
            return AppendedExample(Path(relative), diff, intent, line)
    raise UnknownIntent(intent)  # label_choices saw it, but no file has it any more
