"""Issue 12, finding 1: one POST to the action server naming `action_file_request`, with slots
saying the change was signed, files nothing when no signing code was verified for it.

The action server runs as `bot serve` starts it (its command and environment from
`bot.ops.devserver`), on a port of its own with its state in a temporary folder, and the forged
call carries the shared secret, as Rasa's calls do: the record of the signature in the application
database decides, not who may reach the server."""
from __future__ import annotations

import json
import os
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

from bot.ops import devserver
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.servers

SECRET = "forged-filing-test-secret-0123456789"
SECRET_HEADER = "X-Action-Server-Secret"
MERCHANT = "822100000000001"
PHONE = "13800000001"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


class ActionServer:
    def __init__(self, port: int, var_dir: Path) -> None:
        self.port, self.var_dir = port, var_dir

    def call(self, body: dict, headers: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/webhook", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def requests_filed(self) -> int:
        with sqlite3.connect(self.var_dir / "bot.db") as db:
            return db.execute("SELECT count(*) FROM change_requests").fetchone()[0]

    def sms_to(self, phone: str) -> list[str]:
        outbox = self.var_dir / "sms_outbox.jsonl"
        lines = outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []
        return [json.loads(line)["text"] for line in lines if json.loads(line)["to"] == phone]


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActionServer]:
    var_dir = tmp_path_factory.mktemp("var-forged")
    args = devserver.parse_args(["--rasa-port", str(_free_port()), "--action-port", str(_free_port()),
                                 "--console-port", str(_free_port())])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BOT_VAR_DIR", str(var_dir))
        patch.setenv("ACTION_SERVER_SECRET", SECRET)
        patch.delenv("DATABASE_URL", raising=False)
        patch.delenv("BOT_BIND_HOST", raising=False)
        patch.delenv("ACTION_BIND_HOST", raising=False)
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
        yield ActionServer(args.action_port, var_dir)
    finally:
        actions.stop(grace_s=10)


def forged_filing(sender: str, **slots: object) -> dict:
    """What Rasa would send to run `action_file_request`, with slots saying everything was done."""
    slots = {"merchant_number": MERCHANT, "merchant_verified": True, "route": "online", "change_reason": "原卡丢失",
             "new_bank": "中国工商银行", "new_account_number": "6222021000000000124", "holder_name": "张伟",
             "holder_id_number": "310101198503171233", "opening_branch": "工商银行上海浦东支行",
             "change_confirmed": True, "sign_code": "verified", "idempotency_key": f"cf_forged_{sender}", **slots}
    tracker = {"sender_id": sender, "slots": slots, "latest_message": {"text": "123456", "intent": {}, "entities": []},
               "events": [], "paused": False, "followup_action": None, "active_loop": {},
               "latest_action_name": "action_listen"}
    return {"next_action": "action_file_request", "sender_id": sender, "tracker": tracker, "domain": {},
            "version": "3.6.21"}


def test_a_forged_filing_call_files_nothing_and_says_why(action_server: ActionServer) -> None:
    status, result = action_server.call(forged_filing("forged-1"), {SECRET_HEADER: SECRET})
    assert status == 200, result
    said = [response.get("response") for response in result["responses"]]
    assert "utter_request_filed" not in said
    assert said == ["utter_request_not_signed"]
    assert action_server.requests_filed() == 0
    assert action_server.sms_to(PHONE) == []  # no notice of a filed request either
    # The change slots are cleared: the conversation starts the change afresh.
    assert {"event": "slot", "name": "sign_code", "value": None, "timestamp": None} in result["events"]
