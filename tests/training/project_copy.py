"""A temporary copy of the project for the trainer tests that write to data/nlu/ (the console's
pages, the browser test): the data, domain and model inputs, with a stand-in model file marked as
trained from exactly them, so the pages say the model is up to date until a label changes the data."""
from __future__ import annotations

import shutil
from pathlib import Path

from bot.settings import PROJECT_ROOT
from bot.training import model_state

COPIED = ("data", "domain.yml", "config.yml", "tests/data/nlu_holdout.yml", "tests/data/nlu_dev.yml",
          *model_state.MODEL_INPUTS)


def copy_project(root: Path, model_bytes: bytes = b"stands for the model the servers run") -> Path:
    for name in COPIED:
        source, target = PROJECT_ROOT / name, root / name
        if target.exists() or not source.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    (root / "models").mkdir()
    (root / "models/current.tar.gz").write_bytes(model_bytes)
    (root / "models/current.fingerprint").write_text(model_state.data_fingerprint(root) + "\n")
    return root
