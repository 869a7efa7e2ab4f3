"""The action server as `bot serve` starts it (command and environment from bot.ops.devserver), on
a port of its own, with its state (the demo data) in a temporary folder and a known secret."""
from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from bot.ops import action_access, devserver
from bot.settings import PROJECT_ROOT

SECRET = "action-server-test-secret-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ActionServer:
    def __init__(self, port: int, var_dir: Path, env: dict) -> None:
        self.port, self.var_dir, self.env = port, var_dir, env

    def request(self, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def call(self, body: dict, secret: str | None = SECRET) -> tuple[int, dict]:
        """POST /webhook as Rasa does (with the secret), or with another secret, or none."""
        headers = {} if secret is None else {action_access.SECRET_HEADER: secret}
        return self.request("/webhook", body, headers)

    def requests_of(self, merchant_number: str) -> int:
        with sqlite3.connect(self.var_dir / "bot.db") as db:
            return db.execute("SELECT count(*) FROM change_requests JOIN merchants ON merchants.id = merchant_id "
                              "WHERE merchant_number = ?", (merchant_number,)).fetchone()[0]

    def sms_to(self, phone: str) -> list[str]:
        outbox = self.var_dir / "sms_outbox.jsonl"
        lines = outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []
        return [json.loads(line)["text"] for line in lines if json.loads(line)["to"] == phone]


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActionServer]:
    var_dir = tmp_path_factory.mktemp("var-actions")
    args = devserver.parse_args(["--rasa-port", str(free_port()), "--action-port", str(free_port()),
                                 "--console-port", str(free_port())])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BOT_VAR_DIR", str(var_dir))
        patch.setenv(action_access.SECRET_ENV, SECRET)
        patch.delenv("DATABASE_URL", raising=False)
        patch.delenv(action_access.HOST_ENV, raising=False)
        patch.setenv("BOT_BIND_HOST", "0.0.0.0")  # the public servers' address is not the action server's
        env = devserver.child_environment(args)
        [actions] = [child for child in devserver.build_children(args) if child.name == "action server"]
    subprocess.run([sys.executable, "-m", "bot", "demo", "seed"], env=env, cwd=PROJECT_ROOT, check=True,
                   capture_output=True)
    actions.start(env)
    try:
        deadline = time.monotonic() + 120
        while not _health(args.action_port):
            if actions.exited() is not None or time.monotonic() > deadline:
                pytest.fail(f"the action server did not start:\n{actions.log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield ActionServer(args.action_port, var_dir, env)
    finally:
        actions.stop(grace_s=10)
