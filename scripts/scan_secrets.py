"""After the test suite: no card or ID number that a test typed is left in full in a log or in var/.

    scripts/scan_secrets.py [--number N ...] [PATH ...]
    scripts/scan_secrets.py --mask PATH ...

PATHs default to var/ (the servers' logs, databases, SMS outbox and reports, and var/pytest, where
scripts/test.sh keeps the temporary folders of its pytest run: the e2e assistants' var dirs with
their logs and databases) and every other `*.log` of the project; .venv/, models/ and .git/ are
never read, nor copies of the project's training data (`is_project_copy`). The numbers looked for:

- the demo merchants' card, account and ID numbers and the demo's new cards (bot.ops.demo);
- every card or ID number written anywhere in tests/ in any form (`6222 0210 …`, `六二二二…`):
  a run of 15-19 digits whose BIN the card table knows with that length (Luhn or not: a refused
  card is still a card the test typed), or 18 characters shaped like a resident ID;
- the `--number`s given (an e2e test's own).

Every file is read whole, as text (undecodable bytes skipped, so SQLite databases and their
journals are read too: encrypted columns are Fernet tokens, anything else is plain), JSON escapes
decoded (`\\u516d`), then normalised more eagerly than the bot does (NFKC, every Chinese digit, any
separators, white space or brackets between digits dropped), and searched for each number's
digits. Prints one line per file and number found (the number masked) and exits 1; exits 0 and
says how much it read when nothing is found.

`--mask` masks the strings of the JSON files under PATH instead (`bot.masking.redact`): Rasa's
evaluation reports quote the test sentences the model got wrong (`intent_errors.json`), held-out
examples with card numbers included; scripts/test.sh masks them as they are written.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Sequence

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bot.masking import mask_number, redact  # noqa: E402
from bot.ops import demo  # noqa: E402
from bot.validation import bank_card  # noqa: E402
from bot.validation.normalize import CHINESE_DIGITS, SEPARATORS, WEAK_CHINESE_DIGITS  # noqa: E402

NEVER_READ = {".venv", "models", ".git", "node_modules"}
TEST_SOURCES = ("*.py", "*.yml", "*.yaml", "*.json", "*.md", "*.txt", "*.csv")
MAX_FILE_BYTES = 512 * 1024 * 1024

_DIGITS = str.maketrans({**CHINESE_DIGITS, **WEAK_CHINESE_DIGITS})
_GAP = "[" + re.escape(SEPARATORS + "()[]") + r"\s]+"
_BETWEEN_DIGITS = re.compile(rf"(?<=[0-9]){_GAP}(?=[0-9Xx])")
_JSON_ESCAPE = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|\\u([0-9a-f]{4})", re.IGNORECASE)
_RUN = re.compile(r"[0-9]+[Xx]?")
_ID_SHAPE = re.compile(r"[1-8][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]")


def _unescaped(match: re.Match) -> str:
    if match.group(1):
        return chr(0x10000 + ((int(match.group(1), 16) - 0xD800) << 10) + (int(match.group(2), 16) - 0xDC00))
    code = int(match.group(3), 16)
    return chr(code) if not 0xD800 <= code <= 0xDFFF else match.group()


def flattened(text: str) -> str:
    """The text as digits would be read from it by anyone: JSON escapes decoded, NFKC, every
    Chinese digit a digit, whatever separates digits removed."""
    text = _JSON_ESCAPE.sub(_unescaped, text) if "\\u" in text else text
    text = unicodedata.normalize("NFKC", text).translate(_DIGITS)
    return _BETWEEN_DIGITS.sub("", text)


def kind_of(number: str) -> str | None:
    """'card', 'ID' or None for a compact number."""
    if bank_card.MIN_LENGTH <= len(number) <= bank_card.MAX_LENGTH and number.isdigit() \
            and bank_card.lookup(number) is not None:
        return "card"
    if _ID_SHAPE.fullmatch(number):
        return "ID"
    return None


def demo_numbers() -> Dict[str, str]:
    numbers = {merchant.account_number: "demo account" for merchant in demo.DEMO_MERCHANTS}
    numbers.update({merchant.id_number.upper(): "demo ID" for merchant in demo.DEMO_MERCHANTS})
    for name in ("OVERDUE_NEW_CARD", "LOAD_TEST_NEW_CARD", "LOAD_TEST_CURRENT_CARD", "LOAD_TEST_ID_NUMBER"):
        if hasattr(demo, name):
            numbers.setdefault(str(getattr(demo, name)).upper(), "demo " + name.lower().replace("_", " "))
    return numbers


def test_numbers(tests_dir: Path) -> Dict[str, str]:
    """Every card or ID number written in the test sources, in whatever form."""
    numbers: Dict[str, str] = {}
    for pattern in TEST_SOURCES:
        for path in sorted(tests_dir.rglob(pattern)):
            if "__pycache__" in path.parts:
                continue
            for run in _RUN.findall(flattened(path.read_text(encoding="utf-8", errors="ignore"))):
                run = run.upper()
                kind = kind_of(run)
                if kind:
                    numbers.setdefault(run, f"{kind} in {path.relative_to(tests_dir.parent)}")
    return numbers


def default_paths() -> List[Path]:
    paths = [PROJECT / "var"]
    for path in PROJECT.rglob("*.log"):
        relative = path.relative_to(PROJECT)
        if relative.parts[0] not in NEVER_READ | {"var"}:
            paths.append(path)
    return paths


def is_project_copy(folder: Path) -> bool:
    """A copy of the project's training data (the trainer tools' tests write to one under
    var/pytest): it holds the documented test numbers of data/ and domain.yml by design, as the
    checkout does, and no log or database of a run."""
    return (folder / "domain.yml").is_file() and (folder / "data" / "nlu").is_dir()


def files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            copies = [folder for folder in path.rglob("data") if is_project_copy(folder.parent)]
            for found in sorted(path.rglob("*")):
                if (found.is_file() and not NEVER_READ & set(found.relative_to(path).parts)
                        and not any(copy.parent in found.parents for copy in copies)):
                    yield found


def scan(paths: Sequence[Path], numbers: Dict[str, str]) -> List[str]:
    """One line per (file, number) found."""
    if not numbers:
        return []
    wanted = re.compile("|".join(re.escape(number) for number in sorted(numbers, key=len, reverse=True)))
    findings = []
    for path in files(paths):
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                findings.append(f"{path}: too large to scan ({path.stat().st_size} bytes)")
                continue
            text = path.read_bytes().decode("utf-8", errors="ignore")
        except OSError as error:  # a file removed meanwhile (a server's journal)
            if path.exists():
                findings.append(f"{path}: unreadable ({error})")
            continue
        found = {match.group() for match in wanted.finditer(flattened(text).upper())}
        findings += [f"{path}: {mask_number(number)} ({numbers[number]})" for number in sorted(found)]
    return findings


def _masked(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def mask_json(paths: Iterable[Path]) -> int:
    """Mask the strings of every JSON file under `paths` in place; how many files changed."""
    changed = 0
    for path in files(paths):
        if path.suffix != ".json":
            continue
        original = json.loads(path.read_text(encoding="utf-8"))
        masked = _masked(original)
        if masked != original:
            path.write_text(json.dumps(masked, ensure_ascii=False, indent=2), encoding="utf-8")
            changed += 1
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: var/ and the project's *.log)")
    parser.add_argument("--number", action="append", default=[], help="another number to look for (any typed form)")
    parser.add_argument("--mask", action="store_true", help="mask the strings of the JSON files under PATHs instead")
    args = parser.parse_args(argv)
    if args.mask:
        changed = mask_json(args.paths)
        print(f"[test] numbers masked in {changed} report file(s) under {', '.join(map(str, args.paths))}")
        return 0
    numbers = {**test_numbers(PROJECT / "tests"), **demo_numbers()}
    for number in args.number:
        numbers[re.sub("[^0-9X]", "", flattened(number).upper())] = "given"
    paths = args.paths or default_paths()
    findings = scan(paths, numbers)
    if findings:
        print(f"scan_secrets: {len(findings)} full card or ID number(s) left in files:", file=sys.stderr)
        for line in findings:
            print(f"  {line}", file=sys.stderr)
        return 1
    count = sum(1 for _ in files(paths))
    print(f"[test] secrets scan: none of {len(numbers)} card and ID numbers in {count} files "
          f"({', '.join(str(path) for path in paths)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
