"""scripts/train-if-stale.sh itself, in a copy of the project, in seconds: what it runs, prints and
records for a first training, an NLU-only edit (a fine-tune), FULL=1 and a fine-tune Rasa refuses.

`rasa train` is a stand-in here (a real training takes minutes; the fine-tune was run for real in a
copy of the project, and `make bench` runs both through this script, scripts/bench.py
`measure_retraining`): it logs its arguments, writes the model as Rasa does, and refuses a
fine-tune the way Rasa's FinetuningValidator does when told to. Python is the project's venv.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.training import model_state
from bot.training.labelling import append_example

PROJECT = Path(__file__).resolve().parents[2]

STAND_IN_RASA = """#!/usr/bin/env bash
# `rasa train` as train-if-stale.sh sees it: arguments logged, the model written, Rasa's summary.
echo "$*" >> rasa-calls.log
if [ -n "${REFUSE_FINETUNE:-}" ] && [[ " $* " == *" --finetune "* ]]; then
  echo "InvalidConfigException: Cannot finetune because NLU training data contains new labels or does not contain any examples for some known labels. Please make sure ..."
  exit 1
fi
echo "model trained by the stand-in" > models/current.tar.gz
echo "Your Rasa model is trained and saved at 'models/current.tar.gz'."
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The model's inputs, the script, bot/ (the script runs `python -m bot.training.model_state`)
    and a .venv whose python is the project's and whose rasa is the stand-in."""
    root = tmp_path / "project"
    root.mkdir()
    for name in (*model_state.MODEL_INPUTS, "bot", "scripts/train-if-stale.sh"):
        source, target = PROJECT / name, root / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        elif source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (root / "models").mkdir()
    bin_dir = root / ".venv/bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "rasa").write_text(STAND_IN_RASA)
    for program in bin_dir.iterdir():
        program.chmod(0o755)
    return root


def train(project: Path, **env: str) -> str:
    """The script's output (it must succeed)."""
    done = subprocess.run([str(project / "scripts/train-if-stale.sh")], cwd=project, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "FULL": "", **env})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def rasa_calls(project: Path) -> list[str]:
    log = project / "rasa-calls.log"
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def recorded(project: Path, name: str) -> str:
    return (project / "models" / f"current.{name}").read_text().strip()


FULL_TRAINING = "train --fixed-model-name current --out models"
FINE_TUNE = FULL_TRAINING + " --finetune models/current.tar.gz --epoch-fraction 0.2"


def test_first_training_then_up_to_date_then_a_fine_tune_after_an_nlu_edit(project: Path) -> None:
    output = train(project)
    assert output.startswith("[train] no trained model yet: training models/current.tar.gz from scratch")
    assert "[train] Your Rasa model is trained" in output and "[train] done in" in output
    assert rasa_calls(project) == [FULL_TRAINING]
    assert recorded(project, "fingerprint") == model_state.data_fingerprint(project)
    assert recorded(project, "base-fingerprint") == model_state.base_fingerprint(project)
    assert recorded(project, "labels-fingerprint") == model_state.labels_fingerprint(project)
    assert recorded(project, "finetunes") == "0"

    assert train(project) == "[train] model is up to date (models/current.tar.gz)\n"
    assert rasa_calls(project) == []

    append_example(project, "这是一句全新的换卡问法", "change_account")
    output = train(project)
    assert output.startswith("[train] only examples in data/nlu/ changed: fine-tuning models/current.tar.gz "
                             "(about a quarter of a full training; make model FULL=1 trains from scratch)\n")
    assert rasa_calls(project) == [FINE_TUNE]
    assert recorded(project, "fingerprint") == model_state.data_fingerprint(project)
    assert recorded(project, "finetunes") == "1"
    assert train(project) == "[train] model is up to date (models/current.tar.gz)\n"

    output = train(project, FULL="1")  # the fine-tuned model, replaced by one trained from scratch
    assert output.startswith("[train] FULL=1: training models/current.tar.gz from scratch")
    assert rasa_calls(project) == [FULL_TRAINING]
    assert recorded(project, "finetunes") == "0"
    assert train(project, FULL="1") == "[train] model is up to date (models/current.tar.gz)\n"


def test_a_fine_tune_rasa_refuses_falls_back_to_a_training_from_scratch(project: Path) -> None:
    train(project)
    rasa_calls(project)
    append_example(project, "这是一句全新的换卡问法", "change_account")
    output = train(project, REFUSE_FINETUNE="1")
    assert ("[train] the fine-tune failed (Cannot finetune because NLU training data contains new labels or "
            "does not contain any examples for some known labels): training from scratch instead\n") in output
    assert rasa_calls(project) == [FINE_TUNE, FULL_TRAINING]
    assert recorded(project, "fingerprint") == model_state.data_fingerprint(project)
    assert recorded(project, "finetunes") == "0"


def test_a_failed_training_says_where_the_log_is(project: Path) -> None:
    (project / ".venv/bin/rasa").write_text("#!/bin/sh\necho 'error: the data are broken'\nexit 1\n")
    done = subprocess.run([str(project / "scripts/train-if-stale.sh")], cwd=project, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "[train] error: the data are broken" in done.stdout
    assert done.stderr == "train: training failed; the full log is var/logs/train.log\n"
    assert not (project / "models/current.fingerprint").exists()
