"""Is the trained model older than the data, and how should `make model` bring it up to date? The
questions scripts/train-if-stale.sh answers before training, asked without training: the trainer's
page says "run `make model`" when the model is stale, and the script asks `decide` whether to
fine-tune or train from scratch.

The fingerprint is the script's, computed the same way (its `inputs` and `wanted` lines): the
SHA-256 of `sha256sum`'s listing of every .yml, .yaml, .py, .lock and .csv file under the model's
inputs, paths sorted byte-wise, first 16 hex digits. models/current.fingerprint holds the one the
current model was trained from. tests/training/test_model_state.py runs the script's own lines
against this module, so the two cannot drift apart unnoticed.

A fine-tune (`rasa train --finetune`) continues the current model's training on the new data for a
fraction of the epochs: about a quarter of a full training's time. It is only valid when nothing
but the examples changed, so beside the fingerprint the script records (models/current.*):
- base-fingerprint: the same fingerprint without data/nlu/ (its `base` line): domain, config,
  stories, rules, components and pins as the model was trained;
- labels-fingerprint: the intents and FAQ sub-intents of data/nlu/. Rasa refuses a fine-tune that
  adds or drops an intent, but not one that adds or drops a `faq/<topic>`, whose answers the
  ResponseSelector would then not know;
- finetunes: how many fine-tunes in a row since the last training from scratch.

    python -m bot.training.model_state decide [--full] [--root PROJECT]
        one line: `up-to-date|finetune|full <reason>`
    python -m bot.training.model_state labels [--root PROJECT]
        the labels fingerprint of the data as it is now
"""
from __future__ import annotations

import argparse
import enum
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

# scripts/train-if-stale.sh `inputs`: everything the trained model depends on.
MODEL_INPUTS = ("config.yml", "domain.yml", "data", "bot/rasa/nlu", "bot/validation", "bot/extraction",
                "requirements.lock")
FINGERPRINTED_SUFFIXES = (".yml", ".yaml", ".py", ".lock", ".csv")
# The inputs a fine-tune may see changed: the NLU examples (scripts/train-if-stale.sh `base`).
NLU_EXAMPLES = "data/nlu"
MODEL = Path("models/current.tar.gz")
MODEL_FINGERPRINT = Path("models/current.fingerprint")
BASE_FINGERPRINT = Path("models/current.base-fingerprint")
LABELS_FINGERPRINT = Path("models/current.labels-fingerprint")
FINETUNES = Path("models/current.finetunes")
# Each fine-tune starts from the last model, not from scratch. Every fine-tune sees all the data, so
# the model does not forget the older examples, but what it learnt first weighs more than in a fresh
# training (make bench: held-out accuracy 0.979 after one fine-tune, 0.986 trained from scratch).
# A training from scratch every so often bounds that drift; 5 NLU edits are about a week of a
# trainer's labelling.
MAX_FINETUNES_IN_A_ROW = 5


class ModelState(enum.Enum):
    CURRENT = "current"  # trained from the data as it is now
    STALE = "stale"  # data, domain, config or components changed since
    MISSING = "missing"  # no model trained yet


def _input_files(project_dir: Path, without: Optional[str] = None) -> list[str]:
    """Paths as `find` prints them from the project directory (`data/nlu/faq.yml`), sorted as
    `LC_ALL=C sort` sorts them (bytes); `without`: a folder left out (`find -not -path 'data/nlu/*'`)."""
    found = []
    for name in MODEL_INPUTS:
        top = project_dir / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        found += [path.relative_to(project_dir).as_posix() for path in candidates
                  if path.is_file() and path.name.endswith(FINGERPRINTED_SUFFIXES)]
    if without:
        found = [path for path in found if not path.startswith(f"{without}/")]
    return sorted(found, key=lambda path: path.encode())


def _fingerprint(project_dir: Path, paths: Sequence[str]) -> str:
    """`xargs sha256sum | sha256sum | cut -c1-16` of `paths`."""
    listing = "".join(f"{hashlib.sha256((project_dir / path).read_bytes()).hexdigest()}  {path}\n"
                      for path in paths)
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def data_fingerprint(project_dir: Path) -> str:
    """The fingerprint train-if-stale.sh would compute for the project as it is now."""
    return _fingerprint(project_dir, _input_files(project_dir))


def base_fingerprint(project_dir: Path) -> str:
    """The same without the NLU examples: what must not change for a fine-tune."""
    return _fingerprint(project_dir, _input_files(project_dir, without=NLU_EXAMPLES))


def labels(project_dir: Path) -> list[str]:
    """The intents and FAQ sub-intents (`faq/<topic>`) the NLU examples teach, sorted."""
    from bot.training.data_checks import read_examples  # reads YAML only, no Rasa

    nlu = project_dir / NLU_EXAMPLES
    files = sorted(path for path in nlu.rglob("*") if path.is_file() and path.suffix in (".yml", ".yaml"))
    return sorted({example.intent for path in files for example in read_examples(path, project_dir)})


def labels_fingerprint(project_dir: Path) -> Optional[str]:
    """First 16 hex digits of the SHA-256 of `labels`, one a line; None when data/nlu/ is not valid
    YAML (then Rasa's training says where)."""
    import yaml

    try:
        found = labels(project_dir)
    except yaml.YAMLError:
        return None
    return hashlib.sha256("".join(f"{label}\n" for label in found).encode()).hexdigest()[:16]


def _recorded(project_dir: Path, name: Path) -> Optional[str]:
    path = project_dir / name
    return (path.read_text().strip() or None) if path.is_file() else None


def trained_fingerprint(project_dir: Path) -> str | None:
    """The fingerprint the current model was trained from; None without a model."""
    if not (project_dir / MODEL).is_file():
        return None
    return _recorded(project_dir, MODEL_FINGERPRINT)


def model_state(project_dir: Path) -> ModelState:
    trained = trained_fingerprint(Path(project_dir))
    if trained is None:
        return ModelState.MISSING
    return ModelState.CURRENT if trained == data_fingerprint(Path(project_dir)) else ModelState.STALE


def finetunes_in_a_row(project_dir: Path) -> Optional[int]:
    """Fine-tunes since the model was last trained from scratch; None when not recorded."""
    recorded = _recorded(project_dir, FINETUNES)
    return int(recorded) if recorded and recorded.isdigit() else None


@dataclass(frozen=True)
class Decision:
    action: str  # "up-to-date", "finetune" or "full"
    reason: str  # why, for the script's progress line

    def __str__(self) -> str:
        return f"{self.action} {self.reason}"


def decide(project_dir: Path, full_requested: bool = False) -> Decision:
    """What `make model` does now: nothing, a fine-tune of the current model, or a training from
    scratch (always without a model: a clean clone, CI; and with `full_requested`, FULL=1, unless
    the model already is a training from scratch on the data as they are)."""
    project_dir = Path(project_dir)
    trained = trained_fingerprint(project_dir)
    if trained is None:
        return Decision("full", "no trained model yet")
    finetunes = finetunes_in_a_row(project_dir)
    if trained == data_fingerprint(project_dir) and not (full_requested and finetunes != 0):
        return Decision("up-to-date", "the model was trained from the data as they are")
    if full_requested:
        return Decision("full", "FULL=1")
    if _recorded(project_dir, BASE_FINGERPRINT) is None or finetunes is None:
        return Decision("full", "the model has no record of what a fine-tune needs (trained before fine-tuning)")
    if _recorded(project_dir, BASE_FINGERPRINT) != base_fingerprint(project_dir):
        return Decision("full", "domain, config, stories, rules or components changed")
    if _recorded(project_dir, LABELS_FINGERPRINT) != labels_fingerprint(project_dir):
        return Decision("full", "intents or FAQ sub-intents were added or removed")
    if finetunes >= MAX_FINETUNES_IN_A_ROW:
        return Decision("full", f"{finetunes} fine-tunes in a row since the last training from scratch")
    return Decision("finetune", "only examples in data/nlu/ changed")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="how make model brings models/current.tar.gz up to date")
    parser.add_argument("command", choices=["decide", "labels"])
    parser.add_argument("--full", action="store_true", help="decide: train from scratch (FULL=1)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project folder (default: the current one)")
    args = parser.parse_args(argv)
    if args.command == "decide":
        print(decide(args.root, args.full))
    else:
        print(labels_fingerprint(args.root) or "unreadable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
