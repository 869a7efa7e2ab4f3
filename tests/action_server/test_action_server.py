"""The action server answers Rasa only (issue 12): on loopback unless configured otherwise, and
every call but /health must carry the shared secret Rasa sends (bot/ops/action_access.py,
bot/rasa/action_server.py). That Rasa's own calls carry it is shown by every e2e conversation
(tests/e2e: `bot serve` gives both servers the same secret)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.ops import action_access, devserver
from bot.settings import PROJECT_ROOT

from action_server.conftest import SECRET, ActionServer
from action_server.test_forged_filing import forged_filing


# --- the settings (no server) ----------------------------------------------------------------------

def test_only_loopback_may_go_without_a_secret() -> None:
    assert action_access.problem("127.0.0.1", None) is None
    assert action_access.problem("::1", None) is None
    for host in ("0.0.0.0", "::", "10.0.0.5", "actions.internal"):
        assert action_access.SECRET_ENV in action_access.problem(host, None)
        assert action_access.problem(host, SECRET) is None
    assert "too short" in action_access.problem("127.0.0.1", "short-secret")


def test_a_secret_is_drawn_per_run_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(action_access.SECRET_ENV, raising=False)
    first, second = action_access.secret_for_run("127.0.0.1"), action_access.secret_for_run("127.0.0.1")
    assert first != second and len(first) >= 32
    with pytest.raises(ValueError):
        action_access.secret_for_run("0.0.0.0")
    monkeypatch.setenv(action_access.SECRET_ENV, SECRET)
    assert action_access.secret_for_run("0.0.0.0") == SECRET


def test_the_secret_must_match_exactly() -> None:
    assert action_access.secret_matches(SECRET, SECRET)
    for presented in (None, "", SECRET[:-1], SECRET + "x", SECRET.upper()):
        assert not action_access.secret_matches(presented, SECRET)


def _args(tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(rasa_port=5005, action_port=5055, console_port=5080, model=tmp_path / "model.tar.gz",
                              endpoints=PROJECT_ROOT / "endpoints.yml", credentials=PROJECT_ROOT / "credentials.yml")


def test_bot_serve_keeps_the_action_server_on_loopback_and_gives_rasa_its_secret(
        tmp_path: Path, var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_BIND_HOST", "0.0.0.0")  # the Rasa server and the console face the proxy
    monkeypatch.delenv(action_access.HOST_ENV, raising=False)
    monkeypatch.delenv(action_access.SECRET_ENV, raising=False)
    actions, rasa, _console = devserver.build_children(_args(tmp_path))
    assert actions.command[1:4] == ["-m", "bot.rasa.action_server", "--actions"]
    assert actions.command[actions.command.index("--host") + 1] == "127.0.0.1"
    assert rasa.command[rasa.command.index("--interface") + 1] == "0.0.0.0"
    env = devserver.child_environment(_args(tmp_path))
    assert env["ACTION_SERVER_URL"] == "http://localhost:5055/webhook"
    assert len(env[action_access.SECRET_ENV]) >= 32  # drawn for the run, the same for both servers
    monkeypatch.setenv(action_access.HOST_ENV, "10.1.2.3")
    monkeypatch.setenv(action_access.SECRET_ENV, SECRET)
    actions = devserver.build_children(_args(tmp_path))[0]
    assert actions.command[actions.command.index("--host") + 1] == "10.1.2.3"
    env = devserver.child_environment(_args(tmp_path))
    assert env["ACTION_SERVER_URL"] == "http://10.1.2.3:5055/webhook" and env[action_access.SECRET_ENV] == SECRET


def _without_secret(**settings: str) -> dict:
    env = {**os.environ, **settings}
    env.pop(action_access.SECRET_ENV, None)
    return env


def test_neither_starts_elsewhere_than_loopback_without_a_secret(tmp_path: Path, var_dir: Path) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    env = _without_secret(**{action_access.HOST_ENV: "0.0.0.0", "BOT_VAR_DIR": str(var_dir)})
    served = subprocess.run([sys.executable, "-m", "bot", "serve", "--model", str(model)], env=env,
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert served.returncode == 2
    [line] = served.stderr.strip().splitlines()
    assert line.startswith("serve: action server listening on 0.0.0.0") and action_access.SECRET_ENV in line
    assert not (var_dir / "logs").exists()  # nothing was started
    alone = subprocess.run([sys.executable, "-m", "bot.rasa.action_server", "--host", "0.0.0.0", "--port", "9"],
                           env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert alone.returncode == 2
    [line] = alone.stderr.strip().splitlines()
    assert line.startswith("action server: listening on 0.0.0.0") and action_access.SECRET_ENV in line


# --- the running server ----------------------------------------------------------------------------

pytest_servers = pytest.mark.servers


@pytest_servers
def test_it_listens_on_loopback_only(action_server: ActionServer) -> None:
    listening = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    local = {fields[1] for fields in listening if fields[3] == "0A"}  # LISTEN
    assert f"0100007F:{action_server.port:04X}" in local  # 127.0.0.1
    assert f"00000000:{action_server.port:04X}" not in local  # not 0.0.0.0


@pytest_servers
@pytest.mark.parametrize("secret", [None, "", "wrong-secret-0123456789", SECRET[:-1]])
def test_a_call_without_the_secret_is_refused_and_runs_nothing(action_server: ActionServer, secret) -> None:
    status, body = action_server.call(forged_filing("no-secret"), secret=secret)
    assert status == 401 and body == {"error": "unauthorized"}
    status, _ = action_server.request("/actions", headers={} if secret is None else
                                      {action_access.SECRET_HEADER: secret})
    assert status == 401
    assert action_server.requests_of("822100000000001") == 0


@pytest_servers
def test_health_stays_open_and_the_secret_opens_the_rest(action_server: ActionServer) -> None:
    assert action_server.request("/health") == (200, {"status": "ok"})
    status, actions = action_server.request("/actions", headers={action_access.SECRET_HEADER: SECRET})
    assert status == 200 and {"name": "action_file_request"} in actions
