"""Is the trained model older than the data? The question scripts/train-if-stale.sh answers before
training, asked without training: the trainer's page says "run `make model`" when it is.

The fingerprint is the script's, computed the same way (its `inputs` and `wanted` lines): the
SHA-256 of `sha256sum`'s listing of every .yml, .yaml, .py, .lock and .csv file under the model's
inputs, paths sorted byte-wise, first 16 hex digits. models/current.fingerprint holds the one the
current model was trained from. tests/training/test_model_state.py runs the script's own lines
against this module, so the two cannot drift apart unnoticed.
"""
from __future__ import annotations

import enum
import hashlib
from pathlib import Path

# scripts/train-if-stale.sh `inputs`: everything the trained model depends on.
MODEL_INPUTS = ("config.yml", "domain.yml", "data", "bot/rasa/nlu", "bot/validation", "bot/extraction",
                "requirements.lock")
FINGERPRINTED_SUFFIXES = (".yml", ".yaml", ".py", ".lock", ".csv")
MODEL = Path("models/current.tar.gz")
MODEL_FINGERPRINT = Path("models/current.fingerprint")


class ModelState(enum.Enum):
    CURRENT = "current"  # trained from the data as it is now
    STALE = "stale"  # data, domain, config or components changed since
    MISSING = "missing"  # no model trained yet


def _input_files(project_dir: Path) -> list[str]:
    """Paths as `find` prints them from the project directory (`data/nlu/faq.yml`), sorted as
    `LC_ALL=C sort` sorts them (bytes)."""
    found = []
    for name in MODEL_INPUTS:
        top = project_dir / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        found += [path.relative_to(project_dir).as_posix() for path in candidates
                  if path.is_file() and path.name.endswith(FINGERPRINTED_SUFFIXES)]
    return sorted(found, key=lambda path: path.encode())


def data_fingerprint(project_dir: Path) -> str:
    """The fingerprint train-if-stale.sh would compute for the project as it is now."""
    listing = "".join(f"{hashlib.sha256((project_dir / path).read_bytes()).hexdigest()}  {path}\n"
                      for path in _input_files(project_dir))
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def trained_fingerprint(project_dir: Path) -> str | None:
    """The fingerprint the current model was trained from; None without a model."""
    model, fingerprint = project_dir / MODEL, project_dir / MODEL_FINGERPRINT
    if not model.is_file() or not fingerprint.is_file():
        return None
    return fingerprint.read_text().strip() or None


def model_state(project_dir: Path) -> ModelState:
    trained = trained_fingerprint(Path(project_dir))
    if trained is None:
        return ModelState.MISSING
    return ModelState.CURRENT if trained == data_fingerprint(Path(project_dir)) else ModelState.STALE
