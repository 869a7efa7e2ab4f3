"""Starts the real assistant (`bot serve`: action server + Rasa server) once for the e2e tests,
on ports of its own and with its state in a temporary folder.

`Assistant.say` fails on silence: every merchant message of every e2e conversation must get a
reply from the dialogue, neither nothing nor the channels' apology for a turn that produced none
(bot/rasa/channels/safety_net.py), unless the test says it expects that apology."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List

import pytest

from bot.rasa.channels.safety_net import INTERNAL_ERROR_RESPONSE
from bot.responses import response_text
from bot.settings import PROJECT_ROOT

# TEST_MODEL: run against another trained model (e.g. one copied aside while data/ is being edited).
MODEL = Path(os.environ.get("TEST_MODEL") or PROJECT_ROOT / "models" / "current.tar.gz")


def _free_port() -> int:
    """A port nobody listens on now, so test runs (a developer's and CI's) never meet."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


RASA_PORT = int(os.environ.get("TEST_RASA_PORT") or _free_port())
ACTION_PORT = int(os.environ.get("TEST_ACTION_PORT") or _free_port())


@dataclass
class Assistant:
    base_url: str
    var_dir: Path
    process: subprocess.Popen
    console_url: str = ""  # the agent console `bot serve` runs beside the two servers

    def post(self, path: str, body: Any, raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            self.base_url + path, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def say(self, sender: str, message: str, expect_apology: bool = False) -> List[dict]:
        """The replies to one merchant message over REST; fails when the dialogue gave none (or,
        with `expect_apology`, when it did)."""
        status, replies = self.post("/webhooks/rest/webhook", {"sender": sender, "message": message})
        assert status == 200, replies
        apologised = is_apology(replies)
        if expect_apology:
            assert apologised, f"{message!r} was expected to get the internal-error apology, got {replies}"
        else:
            assert replies, f"no reply at all to {message!r}"
            assert not apologised, f"the dialogue gave no reply to {message!r} (the channel apologised instead)"
        return replies

    def rasa_api(self, path: str) -> Any:
        """GET on Rasa's HTTP API (enabled by `bot serve`; no token in tests)."""
        with urllib.request.urlopen(self.base_url + path, timeout=30) as reply:
            return json.loads(reply.read())

    def run_info(self) -> dict:
        """var/run/serve.json: pids of `bot serve` and of its children, as they are now."""
        return json.loads((self.var_dir / "run" / "serve.json").read_text())


def is_apology(replies: List[dict]) -> bool:
    """The replies are the channels' apology for a turn the dialogue left unanswered."""
    return [reply.get("text") for reply in replies] == [response_text(INTERNAL_ERROR_RESPONSE)]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def start_assistant(var_dir: Path, rasa_port: int = RASA_PORT, action_port: int = ACTION_PORT,
                    env: dict | None = None, console_port: int | None = None) -> Assistant:
    """`bot serve` with its state in var_dir (seeded with the demo data when new); waits until ready.
    `env` adds settings (e.g. a channel's) to the servers' environment."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make test`, which trains it first")
    extra = env or {}
    console_port = console_port or _free_port()
    # The channels' rate limits (and the per-address limits on code requests) are off unless a test
    # sets them (tests/e2e/test_limits.py): every test talks from 127.0.0.1, and scripted merchants
    # type faster than real ones.
    env = {"RATE_LIMIT_SENDER_PER_MINUTE": "0", "RATE_LIMIT_IP_PER_MINUTE": "0",
           "CODE_REQUESTS_PER_ADDRESS_HOUR": "0", "CODE_REQUESTS_PER_ADDRESS_DAY": "0",
           **os.environ, "BOT_VAR_DIR": str(var_dir), "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    env.pop("DATABASE_URL", None)
    env.update(extra)
    subprocess.run([sys.executable, "-m", "bot", "demo", "seed"], env=env, check=True,
                   cwd=PROJECT_ROOT, capture_output=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--model", str(MODEL),
         "--rasa-port", str(rasa_port), "--action-port", str(action_port), "--console-port", str(console_port)],
        env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 240
    while not (_ready(f"http://localhost:{rasa_port}/") and _ready(f"http://localhost:{action_port}/health")
               and _ready(f"http://localhost:{console_port}/login")):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            logs = "\n".join(p.read_text()[-3000:] for p in (var_dir / "logs").glob("*.log"))
            pytest.fail(f"servers did not start:\n{process.stdout.read()}\n{logs}")
        time.sleep(1)
    return Assistant(f"http://localhost:{rasa_port}", var_dir, process, f"http://localhost:{console_port}")


def stop_assistant(assistant: Assistant) -> None:
    """SIGTERM stops both servers and leaves no process behind."""
    children = json.loads((assistant.var_dir / "run" / "serve.json").read_text())["children"]
    assistant.process.send_signal(signal.SIGTERM)
    assert assistant.process.wait(timeout=60) == 0
    for name, pid in children.items():
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"{name} outlived bot serve"
    assert not _ready(assistant.base_url + "/")


@pytest.fixture(scope="session")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    running = start_assistant(tmp_path_factory.mktemp("var"))
    yield running
    stop_assistant(running)


@pytest.fixture(scope="session")
def sandbox_assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """A second assistant for tests that disturb it: its action server stopped mid-form, demo
    merchants locked by the test stories' wrong codes. The other tests never see those effects."""
    running = start_assistant(tmp_path_factory.mktemp("sandbox-var"), rasa_port=_free_port(),
                              action_port=_free_port())
    yield running
    stop_assistant(running)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True

