"""Is the model older than the data (bot/training/model_state.py): the fingerprint is the one
scripts/train-if-stale.sh computes (its own lines are run here, on a copy: the script itself would
train), and labelling an example makes a current model stale."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.training import model_state
from bot.training.labelling import append_example
from bot.training.model_state import ModelState

PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT / "scripts/train-if-stale.sh"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in model_state.MODEL_INPUTS:
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    (root / "models").mkdir()
    return root


def scripts_fingerprint(project: Path) -> str:
    """The fingerprint as train-if-stale.sh computes it: its `inputs=` and `wanted=` lines, run."""
    script = SCRIPT.read_text()
    inputs = re.search(r"^inputs=.*$", script, re.M).group(0)
    wanted = re.search(r"^wanted=(?:.*\\\n)*.*$", script, re.M).group(0)
    done = subprocess.run(["bash", "-c", f"set -euo pipefail\n{inputs}\n{wanted}\necho \"$wanted\""], cwd=project,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_fingerprint_is_the_scripts(project: Path) -> None:
    assert len(model_state.data_fingerprint(project)) == 16
    assert model_state.data_fingerprint(project) == scripts_fingerprint(project)
    (project / "data/nlu/zz_new.yml").write_text("version: \"3.1\"\n")
    (project / "data/nlu/notes.txt").write_text("not an input")  # the script hashes .yml, .py ... only
    assert model_state.data_fingerprint(project) == scripts_fingerprint(project)


def test_the_model_is_missing_then_current_then_stale_after_a_label(project: Path) -> None:
    assert model_state.model_state(project) is ModelState.MISSING
    (project / "models/current.fingerprint").write_text(model_state.data_fingerprint(project) + "\n")
    assert model_state.model_state(project) is ModelState.MISSING  # a fingerprint without its model
    (project / "models/current.tar.gz").write_bytes(b"model")
    assert model_state.model_state(project) is ModelState.CURRENT
    append_example(project, "这是一句全新的换卡问法", "change_account")
    assert model_state.model_state(project) is ModelState.STALE
