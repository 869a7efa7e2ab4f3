"""`bot serve` runs the agent console as its third child: the command, readiness, logs, the ready
message with the demo accounts (development only), a restart after a crash."""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from bot.ops import demo_accounts, devserver
from bot.settings import CONSOLE_DEFAULT_PORT
from console.app import DEFAULT_PORT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _args(tmp_path: Path, console_port: int) -> argparse.Namespace:
    credentials = tmp_path / "credentials.yml"
    credentials.write_text("rest:\n")
    return argparse.Namespace(rasa_port=5005, action_port=5055, console_port=console_port,
                              model=tmp_path / "model.tar.gz", endpoints=tmp_path / "endpoints.yml",
                              credentials=credentials)


def _console(args: argparse.Namespace) -> devserver.Child:
    [console] = [child for child in devserver.build_children(args) if child.name == "agent console"]
    return console


def test_the_console_is_the_third_child_on_the_bind_host_and_its_port(tmp_path, var_dir, monkeypatch) -> None:
    monkeypatch.setenv("BOT_BIND_HOST", "0.0.0.0")
    console = _console(_args(tmp_path, 5999))
    assert console.command[1:] == ["-m", "console", "--host", "0.0.0.0", "--port", "5999"]
    assert console.ready_url == "http://localhost:5999/login"
    assert console.log_path == var_dir / "logs" / "console.log"
    assert [child.name for child in devserver.build_children(_args(tmp_path, 5999))] == [
        "action server", "Rasa server", "agent console"]


def test_the_port_comes_from_console_port(monkeypatch) -> None:
    monkeypatch.delenv("CONSOLE_PORT", raising=False)
    assert devserver.parse_args([]).console_port == DEFAULT_PORT == CONSOLE_DEFAULT_PORT == 5080
    monkeypatch.setenv("CONSOLE_PORT", "6080")
    assert devserver.parse_args([]).console_port == 6080
    assert devserver.parse_args(["--console-port", "7080"]).console_port == 7080


def test_the_ready_message_names_the_console_and_in_development_the_demo_accounts(tmp_path, engine, session,
                                                                                    monkeypatch) -> None:
    monkeypatch.delenv("BOT_ENV", raising=False)
    logins = demo_accounts.seed_demo_accounts(session)
    message = devserver._where_things_are(_args(tmp_path, 5080), 12)
    assert "agent console  http://localhost:5080/" in message
    for login in logins:
        assert f"{login.username} / {login.password}" in message
    monkeypatch.setenv("BOT_ENV", "production")
    message = devserver._where_things_are(_args(tmp_path, 5080), 12)
    assert "http://localhost:5080/" in message and "bot agents add" in message
    assert not any(login.password in message for login in logins)


def test_the_console_starts_answers_and_is_started_again_after_a_crash(tmp_path, engine, monkeypatch) -> None:
    monkeypatch.setattr(devserver, "RESTART_DELAY_S", 0.05)
    port = _free_port()
    console = _console(_args(tmp_path, port))
    env = devserver.child_environment(_args(tmp_path, port))
    console.start(env)
    try:
        _wait_ready(console)
        first = console.process.pid
        parent = os.getppid()
        # Supervision ends (as when the parent goes away) once the console answers under a new pid.
        monkeypatch.setattr(devserver.os, "getppid",
                            lambda: -1 if console.process.pid != first and console.is_ready() else parent)
        os.killpg(first, signal.SIGKILL)
        assert devserver._supervise(_args(tmp_path, port), [console], env, parent) == 0
        assert console.is_ready() and console.process.pid != first
        assert json.loads(devserver.run_file().read_text())["console_port"] == port
        assert "Serving on" in console.log_path.read_text()
    finally:
        console.stop(grace_s=5)
    assert not console.is_ready()


def _wait_ready(child: devserver.Child, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not child.is_ready():
        if child.exited() is not None or time.monotonic() > deadline:
            pytest.fail(f"the console did not start:\n{child.log_path.read_text()}")
        time.sleep(0.2)
