"""`bot serve` supervising its children: a dead one is started again, a crash loop stops it all."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from bot.ops import devserver
from bot.ops.devserver import Child

ARGS = argparse.Namespace(rasa_port=5005, action_port=5055, console_port=5080)


def _child(tmp_path: Path, code: str) -> Child:
    # Nobody listens on port 9 of loopback: the child is never "ready", which the loop tolerates.
    return Child("action server", [sys.executable, "-c", code], "http://127.0.0.1:9/", tmp_path / "logs" / "a.log")


@pytest.fixture
def quick_restarts(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devserver, "RESTART_DELAY_S", 0.05)


def test_a_dead_child_is_started_again_and_the_run_file_names_it(tmp_path, quick_restarts, monkeypatch, capsys):
    child = _child(tmp_path, "import time; time.sleep(60)")
    child.start(dict(os.environ))
    first = child.process.pid
    parent = os.getppid()
    # Supervision ends (as when the parent goes away) once the child runs under a new pid.
    monkeypatch.setattr(devserver.os, "getppid", lambda: parent if child.process.pid == first else -1)
    try:
        os.kill(first, signal.SIGTERM)
        started = time.monotonic()
        assert devserver._supervise(ARGS, [child], dict(os.environ), parent) == 0
        assert time.monotonic() - started < 10
        assert child.process.pid != first and child.exited() is None
        assert json.loads(devserver.run_file().read_text())["children"] == {"action server": child.process.pid}
        assert "starting it again" in capsys.readouterr().err
    finally:
        child.stop(grace_s=5)


def test_a_child_dying_again_and_again_stops_bot_serve(tmp_path, quick_restarts, monkeypatch, capsys):
    monkeypatch.setattr(devserver, "MAX_RESTARTS", 2)
    child = _child(tmp_path, "raise SystemExit(3)")
    child.start(dict(os.environ))
    assert devserver._supervise(ARGS, [child], dict(os.environ), os.getppid()) == 1
    assert len(child.restarts) == 2
    assert "stopped (exit code 3) 3 times" in capsys.readouterr().err


def test_restarts_back_off_and_old_ones_are_forgotten(tmp_path):
    child = _child(tmp_path, "pass")
    assert child.restart_delay(now=1000.0) == devserver.RESTART_DELAY_S
    child.restarts = [995.0, 998.0]
    assert child.restart_delay(now=1000.0) == devserver.RESTART_DELAY_S * 4
    child.restarts = [10.0] * devserver.MAX_RESTARTS
    assert child.restart_delay(now=1000.0) == devserver.RESTART_DELAY_S  # outside the window
    child.restarts = [999.0] * devserver.MAX_RESTARTS
    assert child.restart_delay(now=1000.0) is None
