"""`make run` / `make test` skip what is up to date: no reinstall, no retraining on a second run.

Runs after `make test` has set up and trained (scripts/test.sh runs pytest after both), so both
steps must now report that there is nothing to do, quickly.
"""
from __future__ import annotations

import subprocess
import time

from bot.settings import PROJECT_ROOT


def _run(script: str) -> tuple[str, float]:
    started = time.monotonic()
    result = subprocess.run([str(PROJECT_ROOT / "scripts" / script)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr, time.monotonic() - started


def test_setup_does_nothing_when_the_pins_did_not_change():
    output, _ = _run("setup.sh")
    assert "[setup]" not in output, output


def test_training_is_skipped_when_nothing_changed():
    output, _ = _run("train-if-stale.sh")
    assert "model is up to date" in output
    assert "training" not in output
