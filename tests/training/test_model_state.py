"""Is the model older than the data, and how does `make model` bring it up to date
(bot/training/model_state.py): the fingerprints are the ones scripts/train-if-stale.sh computes (its
own lines are run here, on a copy: the script itself would train), labelling an example makes a
current model stale, and `decide` fine-tunes only after an edit of the NLU examples alone.
tests/training/test_train_if_stale.py runs the script itself with a stand-in for `rasa train`."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
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


def scripts_fingerprint(project: Path, name: str = "wanted") -> str:
    """A fingerprint as train-if-stale.sh computes it: its `inputs=` and `wanted=` (or `base=`)
    lines, run."""
    script = SCRIPT.read_text()
    inputs = re.search(r"^inputs=.*$", script, re.M).group(0)
    line = re.search(rf"^{name}=(?:.*\\\n)*.*$", script, re.M).group(0)
    done = subprocess.run(["bash", "-c", f"set -euo pipefail\n{inputs}\n{line}\necho \"${name}\""], cwd=project,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_fingerprint_is_the_scripts(project: Path) -> None:
    assert len(model_state.data_fingerprint(project)) == 16
    assert model_state.data_fingerprint(project) == scripts_fingerprint(project)
    assert model_state.base_fingerprint(project) == scripts_fingerprint(project, "base")
    (project / "data/nlu/zz_new.yml").write_text("version: \"3.1\"\n")
    (project / "data/nlu/notes.txt").write_text("not an input")  # the script hashes .yml, .py ... only
    assert model_state.data_fingerprint(project) == scripts_fingerprint(project)
    assert model_state.base_fingerprint(project) == scripts_fingerprint(project, "base")


def test_the_base_fingerprint_leaves_out_only_the_nlu_examples(project: Path) -> None:
    data, base = model_state.data_fingerprint(project), model_state.base_fingerprint(project)
    assert data != base
    append_example(project, "这是一句全新的换卡问法", "change_account")
    assert model_state.data_fingerprint(project) != data
    assert model_state.base_fingerprint(project) == base
    (project / "data/stories/zz_new.yml").write_text("version: \"3.1\"\n")
    assert model_state.base_fingerprint(project) != base


def test_the_model_is_missing_then_current_then_stale_after_a_label(project: Path) -> None:
    assert model_state.model_state(project) is ModelState.MISSING
    (project / "models/current.fingerprint").write_text(model_state.data_fingerprint(project) + "\n")
    assert model_state.model_state(project) is ModelState.MISSING  # a fingerprint without its model
    (project / "models/current.tar.gz").write_bytes(b"model")
    assert model_state.model_state(project) is ModelState.CURRENT
    append_example(project, "这是一句全新的换卡问法", "change_account")
    assert model_state.model_state(project) is ModelState.STALE


def trained(project: Path, finetunes: int = 0) -> None:
    """What train-if-stale.sh leaves after a training: the model and its records."""
    (project / "models/current.tar.gz").write_bytes(b"model")
    (project / "models/current.fingerprint").write_text(model_state.data_fingerprint(project) + "\n")
    (project / "models/current.base-fingerprint").write_text(model_state.base_fingerprint(project) + "\n")
    (project / "models/current.labels-fingerprint").write_text(model_state.labels_fingerprint(project) + "\n")
    (project / "models/current.finetunes").write_text(f"{finetunes}\n")


def decided(project: Path, full: bool = False) -> str:
    return str(model_state.decide(project, full))


def test_without_a_model_it_trains_from_scratch(project: Path) -> None:  # a clean clone: CI
    assert decided(project) == "full no trained model yet"
    assert decided(project, full=True) == "full no trained model yet"


def test_after_an_nlu_only_edit_it_fine_tunes_unless_full_is_asked(project: Path) -> None:
    trained(project)
    assert decided(project) == "up-to-date the model was trained from the data as they are"
    assert decided(project, full=True).startswith("up-to-date")  # already trained from scratch on these data
    append_example(project, "这是一句全新的换卡问法", "change_account")
    assert decided(project) == "finetune only examples in data/nlu/ changed"
    assert decided(project, full=True) == "full FULL=1"
    trained(project, finetunes=1)  # as after the fine-tune
    assert decided(project).startswith("up-to-date")
    assert decided(project, full=True) == "full FULL=1"  # FULL=1 replaces a fine-tuned model


def test_a_new_faq_sub_intent_or_intent_needs_a_training_from_scratch(project: Path) -> None:
    trained(project)
    labels = model_state.labels(project)
    assert "faq/fees" in labels and "change_account" in labels
    examples = "".join(f"      - 新话题的第{number}种问法\n" for number in range(3))
    for label in ("faq/brand_new_topic", "brand_new_intent"):  # Rasa itself refuses only the intent
        with open(project / "data/nlu/zz_new.yml", "w", encoding="utf-8") as stream:
            stream.write(f'version: "3.1"\nnlu:\n  - intent: {label}\n    examples: |\n{examples}')
        assert label in model_state.labels(project)
        assert decided(project) == "full intents or FAQ sub-intents were added or removed"
    (project / "data/nlu/zz_new.yml").unlink()
    assert decided(project).startswith("up-to-date")


def test_a_change_outside_the_nlu_examples_needs_a_training_from_scratch(project: Path) -> None:
    trained(project)
    append_example(project, "这是一句全新的换卡问法", "change_account")
    with open(project / "domain.yml", "a", encoding="utf-8") as domain:
        domain.write("\n# a trainer's note\n")
    assert decided(project) == "full domain, config, stories, rules or components changed"


def test_after_five_fine_tunes_in_a_row_it_trains_from_scratch(project: Path) -> None:
    trained(project, finetunes=model_state.MAX_FINETUNES_IN_A_ROW - 1)
    append_example(project, "这是一句全新的换卡问法", "change_account")
    assert decided(project).startswith("finetune")
    trained(project, finetunes=model_state.MAX_FINETUNES_IN_A_ROW)
    append_example(project, "又一句全新的换卡问法", "change_account")
    assert decided(project) == "full 5 fine-tunes in a row since the last training from scratch"


def test_a_model_trained_before_fine_tuning_existed_is_trained_from_scratch(project: Path) -> None:
    (project / "models/current.tar.gz").write_bytes(b"model")  # only the fingerprint was recorded then
    (project / "models/current.fingerprint").write_text(model_state.data_fingerprint(project) + "\n")
    assert decided(project).startswith("up-to-date")
    append_example(project, "这是一句全新的换卡问法", "change_account")
    assert decided(project) == "full the model has no record of what a fine-tune needs (trained before fine-tuning)"


def test_the_command_line_prints_the_decision_and_the_labels(project: Path) -> None:
    trained(project)
    append_example(project, "这是一句全新的换卡问法", "change_account")
    command = [sys.executable, "-m", "bot.training.model_state"]
    decide = subprocess.run([*command, "decide", "--root", str(project)], cwd=PROJECT, capture_output=True,
                            text=True, check=True)
    assert decide.stdout == "finetune only examples in data/nlu/ changed\n"
    full = subprocess.run([*command, "decide", "--full", "--root", str(project)], cwd=PROJECT,
                          capture_output=True, text=True, check=True)
    assert full.stdout == "full FULL=1\n"
    labels = subprocess.run([*command, "labels", "--root", str(project)], cwd=PROJECT, capture_output=True,
                            text=True, check=True)
    assert labels.stdout == model_state.labels_fingerprint(project) + "\n"
    (project / "data/nlu/basics.yml").write_text("nlu: [unclosed\n")
    broken = subprocess.run([*command, "labels", "--root", str(project)], cwd=PROJECT, capture_output=True,
                            text=True, check=True)
    assert broken.stdout == "unreadable\n"
