"""The running assistant writes no full card, ID or phone number anywhere (issue 12, findings 5
and 7): a merchant types them in every form, as plain words and as `/intent{...}` syntax (which Rasa
warns about with the whole line), goes through the change form and asks for a human; then every
file of the assistant's var dir (the three servers' logs, the databases, the SMS outbox) is
scanned by scripts/scan_secrets.py, and the replies and the `bot` command's lists are checked.

An assistant of its own, stopped before the scan: every log is complete, nothing else wrote there.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Iterator, List

import pytest

from bot.settings import PROJECT_ROOT
from bot.validation.normalize import normalize_digits

from .conftest import Assistant, _free_port, start_assistant, stop_assistant
from .test_change_conversation import Merchant

pytestmark = pytest.mark.servers

CARD = "6222021000000000124"  # ICBC debit: the demo's new card
HOLDER_ID = "310101198503171233"  # 张伟, merchant 822100000000001
OTHER_ID = "61010319880214567X"
PHONE = "13912345678"
NUMBERS = [CARD, HOLDER_ID, OTHER_ID, PHONE]

# Before the change form: Rasa parses these itself, and warns (unknown entity, unknown intent).
INTENT_SYNTAX = [
    '/inform{"x":"6222021000000000124"}',
    '/inform{"card_number":"6222 0210 0000 0000 124","id_number":"６１０１０３１９８８０２１４５６７Ｘ"}',
    '/nonexistent_intent{"a":"六二二二零二一零零零零零零零零零一二四"}',
    "/6222021000000000124",  # no such intent: Rasa warns, quoting the line
    '/inform{"phone":"13912345678"}',
]
# In the change form, typed as merchants type them.
TYPED = [
    "店里装修，新卡6222.0210.0000.0000.124",
    "身份证3101 0119 8503 1712 33",
    "六二二二 零二一零 〇〇〇〇 ００００ 一二四",
    "张伟",
    "北京分行，电话139-1234-5678",
    "卡号输错了",
    "6222\u20140210\u20130000\u22120000\u2010124",
    "身份证６１０１０３１９８８０２１４５６７ｘ，手机幺三九 一二三四 五六七八",
    "转人工",
    "我的卡号 6222 0210 0000 0000 124 麻烦快点",
]


def assert_no_number(text: str, where: str) -> None:
    runs = [re.sub(r"[^0-9X]", "", run) for run in
            re.findall(r"[0-9Xx][0-9Xx \-.\u2010-\u2015\u2212\t]*", normalize_digits(text).upper())]
    for number in NUMBERS:
        assert not any(number in run for run in runs), f"{number} in full in {where}: {text!r}"


@pytest.fixture(scope="module")
def stopped_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Assistant, List[str], List[str]]]:
    """(the assistant, every reply it gave, the `bot` command's output), stopped once the merchant is done."""
    assistant = start_assistant(tmp_path_factory.mktemp("var-no-numbers"), rasa_port=_free_port(),
                                action_port=_free_port())
    replies: List[str] = []
    try:
        for message in INTENT_SYNTAX:
            replies += [reply.get("text", "") for reply in assistant.say("e2e-no-numbers-intents", message)]
        # Rasa's HTTP API parses it too (its answer quotes the caller's own text: not a reply).
        assert assistant.post("/model/parse", {"text": INTENT_SYNTAX[0]})[0] == 200
        chat = Merchant(assistant, "822100000000001", "13800000001")
        replies.append(chat.identify())
        replies.append(chat.say("线上办理"))
        replies += [chat.say(message) for message in TYPED]
        env = {**os.environ, "BOT_VAR_DIR": str(assistant.var_dir)}
        env.pop("DATABASE_URL", None)
        lists = [subprocess.run([sys.executable, "-m", "bot", *command], cwd=PROJECT_ROOT, env=env,
                                capture_output=True, text=True, check=True).stdout
                 for command in (["handoffs", "list", "--json"], ["handoffs", "list"], ["requests", "list", "--json"])]
    finally:
        stop_assistant(assistant)
    yield assistant, replies, lists


def test_replies_never_say_a_number_back(stopped_assistant) -> None:
    _, replies, _ = stopped_assistant
    for reply in replies:
        assert_no_number(reply, "a reply")


def test_the_bot_command_lists_no_number(stopped_assistant) -> None:
    assistant, _, lists = stopped_assistant
    handoffs = json.loads(lists[0])
    assert any(row["merchant_id"] == "822100000000001" for row in handoffs), "the merchant asked for a human"
    for output in lists:
        assert_no_number(output, "bot handoffs/requests list")


def test_no_file_of_the_assistant_holds_a_number(stopped_assistant) -> None:
    assistant, _, _ = stopped_assistant
    logs = {path.name: path.read_text(encoding="utf-8", errors="replace") for path in (assistant.var_dir / "logs").glob("*.log")}
    assert {"rasa.log", "actions.log", "console.log"} <= logs.keys()
    # The warnings that quoted the whole message are there, masked.
    assert "Failed to parse arguments in line '/inform{\"x\":\"****0124\"}'" in logs["rasa.log"]
    assert "Failed to parse arguments in line '/****0124'" in logs["rasa.log"]  # an intent named as the card
    for name, text in logs.items():
        assert_no_number(text, name)
    scan = subprocess.run(
        [sys.executable, "scripts/scan_secrets.py", *(f"--number={number}" for number in NUMBERS), str(assistant.var_dir)],
        cwd=PROJECT_ROOT, capture_output=True, text=True,
    )
    assert scan.returncode == 0, scan.stderr
    assert "card and ID numbers in" in scan.stdout
