"""The `bot` command line, run as scripts run it: `python -m bot ...` in a separate process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.ops import cli
from bot.db.engine import make_engine, session_factory
from bot.db.models import Handoff
from bot.settings import PROJECT_ROOT

SECRETS = [
    "6228485000000000781", "6227002000000000340", "121900000000001", "6216604000000000568",
    "6221886000000000914", "6222021000000000215", "6227002000000000522", "6216604000000000717",
    "6228485000000000930", "6222021000000000124", "310101198503171233", "440103199008224568",
    "110108197806057895", "320502199211112340", "61010319880214567X", "420106198709093215",
    "330102199501206548", "370202198307189877", "210102199103032469",
]
REQUEST_KEYS = {"reference", "merchant_id", "status", "bank", "card_last4", "account_name", "reason", "created_at"}


def run(var: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_DATA_KEY", "DATABASE_URL", "SMS_OUTBOX")}
    env.update(BOT_VAR_DIR=str(var), DATABASE_URL=f"sqlite:///{var / 'bot.db'}", PYTHONIOENCODING="utf-8")
    env.update(extra_env)
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        encoding="utf-8", timeout=120,
    )
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
    return result


def assert_usage_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bot: "), result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    var = tmp_path_factory.mktemp("var")
    result = run(var, "demo", "seed")
    assert result.returncode == 0, result.stderr
    assert "9 merchants (9 added)" in result.stdout and "1 change request" in result.stdout
    return var


def test_seed_again_adds_nothing(seeded: Path) -> None:
    result = run(seeded, "demo", "seed")
    assert result.returncode == 0 and "all present already" in result.stdout and "0 change request" in result.stdout


def test_no_full_number_anywhere_under_var(seeded: Path) -> None:
    leaks = [(p.name, s) for p in seeded.rglob("*") if p.is_file() for s in SECRETS if s.encode() in p.read_bytes()]
    assert leaks == []


def test_requests_list_json(seeded: Path) -> None:
    result = run(seeded, "requests", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and len(rows) == 1
    [row] = rows
    assert REQUEST_KEYS <= row.keys()
    assert (row["merchant_id"], row["status"], row["bank"], row["card_last4"], row["account_name"]) == (
        "822100000000004", "under_review", "中国工商银行", "0124", "赵敏")
    assert row["created_at"].endswith("+08:00") and row["overdue"] is True
    assert "中国工商银行" in result.stdout  # ensure_ascii=False


def test_requests_list_by_merchant(seeded: Path) -> None:
    assert len(json.loads(run(seeded, "requests", "list", "--merchant", "822100000000004", "--json").stdout)) == 1
    assert json.loads(run(seeded, "requests", "list", "--merchant", "822100000000001", "--json").stdout) == []


def test_requests_list_table(seeded: Path) -> None:
    result = run(seeded, "requests", "list")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split()[:3] == ["reference", "merchant", "status"]
    for text in ("822100000000004", "审核中", "逾期", "中国工商银行", "****0124", "赵敏"):
        assert text in row
    assert header.index("merchant") == row.index("822100000000004")  # aligned


def test_handoffs_list(seeded: Path) -> None:
    assert json.loads(run(seeded, "handoffs", "list", "--json").stdout) == []
    assert run(seeded, "handoffs", "list").stdout.strip() == "(no handoffs)"
    engine = make_engine(f"sqlite:///{seeded / 'bot.db'}")
    with session_factory(engine).begin() as session:
        session.add(Handoff(conversation_id="conv-42", channel="wechat", reason="complain"))
    engine.dispose()
    [row] = json.loads(run(seeded, "handoffs", "list", "--json").stdout)
    assert {"id", "conversation_id", "channel", "reason", "status", "created_at"} <= row.keys()
    assert (row["conversation_id"], row["channel"], row["status"]) == ("conv-42", "wechat", "waiting")
    table = run(seeded, "handoffs", "list").stdout
    assert "conv-42" in table and "等待接入" in table


def test_wechat_prune_forgets_old_push_records_only(seeded: Path) -> None:
    from datetime import timedelta

    from bot.db.models import WeChatInboundMessage
    from bot.workdays import utcnow

    engine = make_engine(f"sqlite:///{seeded / 'bot.db'}")
    with session_factory(engine).begin() as session:
        session.add(WeChatInboundMessage(dedup_key="msg:1", openid="oOld", msg_type="text",
                                         received_at=utcnow() - timedelta(hours=30)))
        session.add(WeChatInboundMessage(dedup_key="msg:2", openid="oNew", msg_type="text"))
    assert run(seeded, "wechat", "prune").stdout.strip() == "removed 1 WeChat push records older than 24 h"
    with session_factory(engine).begin() as session:
        assert [row.dedup_key for row in session.query(WeChatInboundMessage)] == ["msg:2"]
    engine.dispose()
    assert_usage_error(run(seeded, "wechat", "prune", "--hours", "0"), "at least 1")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["requests", "list", "--merchant", "82210000000000"], ["15 digits"]),
        (["requests", "list", "--merchant", "6222021000000000124"], ["15 digits", "****0124"]),
        (["requests", "list", "--merchant", "822100000000099"], ["822100000000099"]),
        (["requests", "frobnicate"], ["invalid choice"]),
        ([], ["required"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(seeded: Path, args: list[str], words: list[str]) -> None:
    assert_usage_error(run(seeded, *args), *words)


def test_missing_database(tmp_path: Path) -> None:
    assert_usage_error(run(tmp_path, "requests", "list", "--json"), "no database", "bot demo seed")
    assert_usage_error(run(tmp_path, "handoffs", "list"), "no database")
    assert not (tmp_path / "bot.db").exists()  # looking did not create one


def test_database_without_tables(tmp_path: Path) -> None:
    (tmp_path / "bot.db").write_bytes(b"")
    assert_usage_error(run(tmp_path, "requests", "list"), "bot db upgrade")


def test_unreachable_server_database(tmp_path: Path) -> None:
    result = run(tmp_path, "requests", "list", DATABASE_URL="postgresql://nobody:secret@127.0.0.1:1/none")
    assert_usage_error(result, "cannot open database")
    assert "secret" not in result.stderr


def test_db_upgrade_then_list(tmp_path: Path) -> None:
    result = run(tmp_path, "db", "upgrade")
    assert result.returncode == 0 and "up to date" in result.stdout
    assert json.loads(run(tmp_path, "requests", "list", "--json").stdout) == []


def test_wrong_data_key_is_reported_not_a_traceback(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    assert run(tmp_path, "demo", "seed", BOT_DATA_KEY=key).returncode == 0
    assert_usage_error(run(tmp_path, "demo", "seed", BOT_DATA_KEY="nonsense"), "BOT_DATA_KEY")
    # Listing needs no key at all: it never decrypts.
    listed = run(tmp_path, "requests", "list", "--json", BOT_DATA_KEY=Fernet.generate_key().decode())
    assert len(json.loads(listed.stdout)) == 1


def test_serve_hands_the_rest_of_the_command_line_to_devserver(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[list[str]] = []
    fake = types.ModuleType("bot.ops.devserver")
    fake.main = lambda argv: received.append(argv) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bot.ops.devserver", fake)
    monkeypatch.setattr("bot.ops.devserver", fake, raising=False)
    assert cli.main(["serve", "--rasa-port", "15005", "--json"]) == 0
    assert received == [["--rasa-port", "15005", "--json"]]


def test_failed_migration_is_reported(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00d'")
    engine.dispose()
    assert_usage_error(run(tmp_path, "db", "upgrade"), "migration failed", "f00d")
