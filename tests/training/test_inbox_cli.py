"""`bot trainer inbox` and `bot trainer dismiss`, run as scripts run them (`python -m bot ...`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT
from bot.training.inbox import group_key, normalise

from .tracker_script import Conversation, store

CARD = "6222021000000000124"
PHONE = "13800000001"
CODE = "493817"


def bot(var: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("BOT_DATA_KEY", "DATABASE_URL", "TRACKER_DATABASE_URL", "TRAINER_LOW_CONFIDENCE")}
    env.update(BOT_VAR_DIR=str(var), PYTHONIOENCODING="utf-8", **extra_env)
    result = subprocess.run([sys.executable, "-m", "bot", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, encoding="utf-8", timeout=120)
    for secret in (CARD, PHONE, CODE):
        assert secret not in result.stdout + result.stderr
    return result


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2 and result.stdout == "", result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bot: "), result.stderr
    for word in words:
        assert word in lines[0]


def test_a_fresh_var_dir_has_an_empty_inbox(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    result = bot(var, "trainer", "inbox", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert list(var.iterdir()) == []  # reading created no database
    table = bot(var, "trainer", "inbox")
    assert table.returncode == 0 and "inbox is empty" in table.stdout


def test_help_lists_the_trainer_commands(tmp_path: Path) -> None:
    result = bot(tmp_path, "trainer", "--help")
    assert result.returncode == 0
    assert "inbox" in result.stdout and "dismiss" in result.stdout


@pytest.fixture
def var_with_conversations(var_dir: Path) -> Path:
    """A var/ whose tracker store holds a fallback (with a card number), a low-confidence question
    (with a phone number and a code), asked twice, and a confident greeting; written with the key
    of this var/, as the assistant would."""
    store(f"sqlite:///{var_dir / 'rasa_tracker.db'}",
          Conversation("m1").user("你好", "greet").answered("utter_greet")
          .user(f"卡号{CARD}绑不上", "nlu_fallback", 0.2).answered("utter_default", action="action_fallback"),
          Conversation(f"wechat-{PHONE}", start=1_800_000_100.0)
          .user(f"手机{PHONE}没收到{CODE}", "resend_code", 0.55).answered("action_resend_code", action="action_resend_code"),
          Conversation("m3", start=1_800_000_200.0)
          .user(f"手机{PHONE}没收到{CODE}！", "resend_code", 0.5).answered("action_resend_code", action="action_resend_code"))
    return var_dir


def test_inbox_json_lists_redacted_groups_newest_first(var_with_conversations: Path) -> None:
    result = bot(var_with_conversations, "trainer", "inbox", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(row["text"], row["count"], row["reasons"]) for row in rows] == [
        ("手机****0001没收到******！", 2, ["low_confidence"]),
        ("卡号****0124绑不上", 1, ["fallback"]),
    ]
    assert rows[0]["key"] == group_key(normalise("手机****0001没收到******"))
    assert rows[0]["conversations"] == ["m3", "wechat-****0001"]
    assert rows[0]["reason_labels"] == ["置信度低"] and rows[1]["predicted_intent"] == "nlu_fallback"
    assert rows[0]["last_seen"].endswith("+08:00")

    only_fallbacks = json.loads(bot(var_with_conversations, "trainer", "inbox", "--json", "--threshold", "0.1").stdout)
    assert [row["reasons"] for row in only_fallbacks] == [["fallback"]]
    everything = json.loads(bot(var_with_conversations, "trainer", "inbox", "--json",
                                TRAINER_LOW_CONFIDENCE="0.999").stdout)
    assert "你好" in [row["text"] for row in everything]


def test_inbox_table_in_chinese(var_with_conversations: Path) -> None:
    result = bot(var_with_conversations, "trainer", "inbox")
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[:3] == ["key", "count", "reasons"]
    assert "置信度低" in lines[0] and "手机****0001没收到******！" in lines[0] and " 2 " in lines[0]
    assert "未识别（兜底）" in lines[1] and "nlu_fallback" in lines[1]


def test_dismiss_takes_a_group_out(var_with_conversations: Path) -> None:
    var = var_with_conversations
    rows = json.loads(bot(var, "trainer", "inbox", "--json").stdout)
    key = rows[1]["key"]

    one_line_error(bot(var, "trainer", "dismiss", key), "bot db upgrade")  # no application database yet
    assert bot(var, "db", "upgrade").returncode == 0
    result = bot(var, "trainer", "dismiss", key)
    assert result.returncode == 0, result.stderr
    assert key in result.stdout and "卡号****0124绑不上" in result.stdout
    assert bot(var, "trainer", "dismiss", key).returncode == 0  # again: nothing changes

    assert [row["key"] for row in json.loads(bot(var, "trainer", "inbox", "--json").stdout)] == [rows[0]["key"]]
    everything = json.loads(bot(var, "trainer", "inbox", "--json", "--all").stdout)
    assert [(row["key"], row["decision"]) for row in everything] == [(rows[0]["key"], None), (key, "dismissed")]


@pytest.mark.parametrize("args, words", [
    (["trainer", "dismiss", "not-a-key"], ["16 hex digits"]),
    (["trainer", "dismiss", "0123456789abcdef"], ["no group", "0123456789abcdef"]),
    (["trainer", "dismiss", "6222021000000000"], ["****"]),
    (["trainer", "inbox", "--threshold", "2"], ["--threshold"]),
    (["trainer", "inbox", "--threshold", "x"], ["invalid float"]),
    (["trainer"], ["ACTION"]),
])
def test_bad_input_is_one_line_and_exit_2(var_with_conversations: Path, args: list[str], words: list[str]) -> None:
    assert bot(var_with_conversations, "db", "upgrade").returncode == 0
    one_line_error(bot(var_with_conversations, *args), *words)


def test_a_bad_threshold_setting_is_one_line(var_with_conversations: Path) -> None:
    one_line_error(bot(var_with_conversations, "trainer", "inbox", "--json", TRAINER_LOW_CONFIDENCE="high"),
                   "TRAINER_LOW_CONFIDENCE")
