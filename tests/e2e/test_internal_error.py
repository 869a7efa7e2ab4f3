"""The action server going down mid-form, for real (issue 9, "internal error").

`bot serve` runs the assistant (the sandbox one: this test disturbs it). The test stops the
action server's process group (its pid from var/run/serve.json) while the change form waits for
the holder's ID number. The merchant's answer then gets the channels' apology, never silence, and
the tracker keeps what was filled in. `bot serve` starts the action server again by itself; the
same answer, sent again, fills the slot and the form goes on to its next question.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Callable

import pytest

from bot.ops.demo import LOAD_TEST_ID_NUMBER, load_test_merchant
from bot.settings import PROJECT_ROOT
from e2e.conftest import Assistant, is_apology
from e2e.test_change_conversation import Merchant

pytestmark = pytest.mark.servers

ACTION_SERVER = "action server"
MERCHANT_INDEX = 901  # a load-test merchant of this test's own (bot/ops/demo.py)


def _own_merchant(assistant: Assistant) -> Merchant:
    # Seeded by the CLI in the assistant's var/: its data key, not this process's, encrypts the row.
    env = {**os.environ, "BOT_VAR_DIR": str(assistant.var_dir), "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "bot", "demo", "seed-load-test", "--count", "1",
                    "--start", str(MERCHANT_INDEX)], env=env, cwd=PROJECT_ROOT, check=True, capture_output=True)
    merchant = load_test_merchant(MERCHANT_INDEX)
    return Merchant(assistant, merchant.number, merchant.phone)


def _action_server_answers(assistant: Assistant) -> bool:
    url = f"http://localhost:{assistant.run_info()['action_port']}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def _wait_until(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.2)


def _form_state(assistant: Assistant, sender: str) -> dict:
    tracker = assistant.rasa_api(f"/conversations/{sender}/tracker")
    return {"active_loop": (tracker.get("active_loop") or {}).get("name"), **tracker["slots"]}


def test_the_action_server_down_mid_form_gets_the_apology_and_the_form_resumes(sandbox_assistant):
    assistant = sandbox_assistant
    chat = _own_merchant(assistant)
    chat.identify()
    chat.say("线上办理")
    assert "身份证" in chat.say("原卡丢失")
    before = _form_state(assistant, chat.sender)
    assert before["active_loop"] == "change_form" and before["requested_slot"] == "holder_id_number"
    assert before["route"] and before["change_reason"]

    stopped = assistant.run_info()["children"][ACTION_SERVER]
    os.killpg(stopped, signal.SIGTERM)  # the group: `rasa run actions` and whatever it started
    _wait_until(lambda: not _action_server_answers(assistant), "the action server stopping", 30)

    # bot serve waits a second before starting it again, and starting takes several more.
    replies = assistant.say(chat.sender, LOAD_TEST_ID_NUMBER, expect_apology=True)
    assert is_apology(replies)
    during = _form_state(assistant, chat.sender)
    kept = ("active_loop", "requested_slot", "route", "change_reason")
    assert {key: during[key] for key in kept} == {key: before[key] for key in kept}

    _wait_until(lambda: assistant.run_info()["children"][ACTION_SERVER] != stopped
                and _action_server_answers(assistant), "bot serve starting the action server again", 180)

    # The merchant sends the message again, as the apology asks: the form takes it and goes on.
    chat.say(LOAD_TEST_ID_NUMBER)
    after = _form_state(assistant, chat.sender)
    assert after["holder_id_number"] == LOAD_TEST_ID_NUMBER
    assert (after["route"], after["change_reason"]) == (before["route"], before["change_reason"])
    assert after["active_loop"] == "change_form"
    assert after["requested_slot"] not in (None, "holder_id_number")
