"""`bot agents add|list` and the demo console accounts, run as scripts run them (a separate process),
plus the terminal prompt in-process (getpass needs a terminal)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.agents import accounts
from bot.db.engine import make_engine, session_factory
from bot.db.models import StaffAccount, StaffRole
from bot.ops import cli
from bot.settings import PROJECT_ROOT

PASSWORD = "correct horse battery"


def run(var: Path, *args: str, stdin: str | None = "", **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_DATA_KEY", "DATABASE_URL", "SMS_OUTBOX", "BOT_ENV")}
    env.update(BOT_VAR_DIR=str(var), DATABASE_URL=f"sqlite:///{var / 'bot.db'}", PYTHONIOENCODING="utf-8")
    env.update(extra_env)
    result = subprocess.run([sys.executable, "-m", "bot", *args], cwd=PROJECT_ROOT, env=env, input=stdin,
                            capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert PASSWORD not in result.stdout + result.stderr  # never printed, not even in an error
    return result


def assert_usage_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bot: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def stored(var: Path) -> dict[str, StaffAccount]:
    engine = make_engine(f"sqlite:///{var / 'bot.db'}")
    try:
        with session_factory(engine)() as session:
            return {account.username: account for account in session.execute(select(StaffAccount)).scalars()}
    finally:
        engine.dispose()


@pytest.fixture
def var(tmp_path: Path) -> Path:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    return tmp_path


def test_add_reads_the_password_from_stdin_and_hashes_it(var: Path) -> None:
    result = run(var, "agents", "add", "wang", "--role", "agent", "--display-name", "王芳", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert "wang" in result.stdout and "agent" in result.stdout
    account = stored(var)["wang"]
    assert (account.role, account.display_name) == (StaffRole.AGENT, "王芳")
    assert account.password_hash.startswith("$argon2id$")
    engine = make_engine(f"sqlite:///{var / 'bot.db'}")
    with session_factory(engine)() as session:
        assert accounts.sign_in(session, "wang", PASSWORD).role is StaffRole.AGENT  # the line ending is not part of it
    engine.dispose()


def test_list_shows_name_role_and_lock_never_the_hash(var: Path) -> None:
    for name, role in (("wang", "agent"), ("li", "reviewer")):
        assert run(var, "agents", "add", name, "--role", role, stdin=PASSWORD).returncode == 0
    engine = make_engine(f"sqlite:///{var / 'bot.db'}")
    with session_factory(engine)() as session:
        for _ in range(accounts.MAX_FAILED_LOGINS):
            with pytest.raises(accounts.LoginRefused):
                accounts.sign_in(session, "li", "wrong password")
    engine.dispose()
    table = run(var, "agents", "list")
    assert table.returncode == 0 and "$argon2" not in table.stdout
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["name", "display"]
    assert any(line.startswith("wang") and "agent" in line and "active" in line for line in lines)
    assert any(line.startswith("li") and "reviewer" in line and "locked until" in line for line in lines)
    rows = {row["username"]: row for row in json.loads(run(var, "agents", "list", "--json").stdout)}
    assert (rows["wang"]["locked"], rows["li"]["locked"]) == (False, True)
    assert rows["li"]["locked_until"].endswith("+08:00")
    assert not any("hash" in key for row in rows.values() for key in row)


@pytest.mark.parametrize("args, stdin, words", [
    (["agents", "add", "wang", "--role", "agent"], "short\n", ["at least 10 characters"]),
    (["agents", "add", "wang", "--role", "agent"], "", ["at least 10 characters"]),
    (["agents", "add", "wang", "--role", "boss"], PASSWORD, ["--role", "boss", "agent", "reviewer", "trainer"]),
    (["agents", "add", "wang"], PASSWORD, ["--role"]),
    (["agents", "add", "a b", "--role", "agent"], PASSWORD, ["without spaces"]),
    (["agents", "remove", "wang"], "", ["invalid choice"]),
])
def test_bad_input_is_one_line_and_exit_2(var: Path, args: list[str], stdin: str, words: list[str]) -> None:
    assert_usage_error(run(var, *args, stdin=stdin), *words)
    assert stored(var) == {}


def test_an_existing_name_is_refused_and_keeps_its_password(var: Path) -> None:
    assert run(var, "agents", "add", "wang", "--role", "agent", stdin=PASSWORD).returncode == 0
    before = stored(var)["wang"].password_hash
    assert_usage_error(run(var, "agents", "add", "wang", "--role", "reviewer", stdin="another password"),
                       "wang", "exists already")
    assert stored(var)["wang"].password_hash == before and stored(var)["wang"].role is StaffRole.AGENT


def test_without_a_database_nothing_is_created(tmp_path: Path) -> None:
    assert_usage_error(run(tmp_path, "agents", "list"), "no database")
    assert_usage_error(run(tmp_path, "agents", "add", "wang", "--role", "agent", stdin=PASSWORD), "no database")
    assert not (tmp_path / "bot.db").exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_password_is_asked_twice(var_dir: Path, engine, monkeypatch, capsys) -> None:
    answers = iter([PASSWORD, PASSWORD, PASSWORD, "a typo in it"])
    prompts: list[str] = []
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt: prompts.append(prompt) or next(answers))
    monkeypatch.setattr(sys, "stdin", _Terminal())
    assert cli.main(["agents", "add", "wang", "--role", "trainer"]) == 0
    assert cli.main(["agents", "add", "zhou", "--role", "agent"]) == 2
    assert len(prompts) == 4
    output = capsys.readouterr()
    assert "differ" in output.err and PASSWORD not in output.out + output.err
    with session_factory(engine)() as session:
        assert [a.username for a in session.execute(select(StaffAccount)).scalars()] == ["wang"]


# --- demo accounts (`bot demo seed`, the `make run` step) -------------------------------------------


def test_demo_seed_creates_the_demo_accounts_once_in_development(tmp_path: Path) -> None:
    first = run(tmp_path, "demo", "seed")
    assert first.returncode == 0, first.stderr
    kept = json.loads((tmp_path / "demo_accounts.json").read_text())
    assert set(kept) == {"agent", "reviewer", "trainer"}
    assert (tmp_path / "demo_accounts.json").stat().st_mode & 0o077 == 0
    for name, password in kept.items():
        assert f"{name} / {password}" in first.stdout  # printed with its password
    assert {name: account.role.value for name, account in stored(tmp_path).items()} == {
        "agent": "agent", "reviewer": "reviewer", "trainer": "trainer"}
    again = run(tmp_path, "demo", "seed")
    assert "0 added" in again.stdout and f"agent / {kept['agent']}" in again.stdout
    assert json.loads((tmp_path / "demo_accounts.json").read_text()) == kept
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    with session_factory(engine)() as session:
        assert accounts.sign_in(session, "reviewer", kept["reviewer"]).role is StaffRole.REVIEWER
    engine.dispose()


def test_demo_passwords_differ_between_installations(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for var in (one, two):
        var.mkdir()
        assert run(var, "demo", "seed").returncode == 0
    assert json.loads((one / "demo_accounts.json").read_text()) != json.loads((two / "demo_accounts.json").read_text())


def test_outside_development_no_demo_account_is_created(tmp_path: Path) -> None:
    # Nor any demo merchant (issue 12): the demo data set is refused outside development.
    result = run(tmp_path, "demo", "seed", BOT_ENV="production")
    assert result.returncode == 2 and "development only" in result.stderr and "bot db upgrade" in result.stderr
    assert "Console demo accounts" not in result.stdout
    assert not (tmp_path / "bot.db").exists() and not (tmp_path / "demo_accounts.json").exists()
