"""Command line of the assistant's back office: `bot <command>` (or `python -m bot <command>`).

    bot db upgrade                                   apply database migrations
    bot demo seed                                    migrate, then add the demo merchants
    bot demo seed-load-test [--count N] [--start I]  migrate, then add load-test merchants (bench)
    bot requests list [--merchant NUMBER] [--json]   change requests, newest first
    bot handoffs list [--json]                       conversations handed to agents
    bot agents add NAME --role ROLE [--display-name N] console account (password: prompt or stdin)
    bot agents list [--json]                         console accounts: name, role, locked or not
    bot trainer inbox [--json] [--threshold X] [--all]  real messages to learn from, redacted, newest first
    bot trainer dismiss KEY [--threshold X]          take a group of messages out of the inbox
    bot trainer check                                the project's own checks of data/ and domain.yml (make validate)
    bot trainer story CONVERSATION_ID [--out FILE]   a real conversation as a redacted test story (tests/stories/)
    bot trainer story --key KEY [--out FILE]         the same, of the latest conversation of an inbox group
    bot serve [...]                                  development server (bot.ops.devserver)

`--json` prints exactly one JSON list on stdout, for scripts. Bad input and an unusable database
give a one-line message on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Callable, NoReturn

from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot import settings
from bot.db.crypto import DataKeyError
from bot.db.engine import display_url, make_engine, session_factory, session_scope, sqlite_path
from bot.db.models import StaffRole
from bot.masking import install_redaction, redact

EXIT_USAGE = 2
MERCHANT_NUMBER = re.compile(r"[0-9]{15}")


class CliError(Exception):
    """A problem the user can fix; shown as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see `{self.prog} --help`)")


# --- database access -------------------------------------------------------------------------------


def _existing_database(url: str) -> Engine:
    """An engine on a database that exists and is migrated; never creates one as a side effect."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise CliError(f"no database at {path}: run `bot demo seed` or `bot db upgrade` first")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            migrated = inspect(connection).has_table("change_requests")
    except SQLAlchemyError as exc:
        raise CliError(f"cannot open database {display_url(url)}: {_first_line(exc)}") from exc
    if not migrated:
        raise CliError(f"database {display_url(url)} has no tables yet: run `bot db upgrade`")
    return engine


@contextmanager
def _existing_session() -> Iterator[Session]:
    """A session (committed at the end) on the configured, existing database; the engine is
    disposed of afterwards, so a command leaves no connection behind."""
    engine = _existing_database(settings.database_url())
    try:
        with session_scope(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy errors carry the SQL statement and a help link on later lines.
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return redact(text[0]) if text else type(exc).__name__


# --- commands --------------------------------------------------------------------------------------


def _upgrade(url: str) -> None:
    # Imported here: alembic doubles the start-up time of the read-only commands.
    from alembic.util.exc import CommandError

    from bot.db.migrate import upgrade

    try:
        upgrade(url)
    except CommandError as exc:
        raise CliError(f"migration failed: {redact(str(exc))}") from exc
    _confirm_data_key(url)


def _confirm_data_key(url: str) -> None:
    """Write the data key's check (the first time) or prove the key decrypts it (bot.db.key_check).
    A mismatch stops the command outside development; in development, where the key lives in var/
    beside the database, it is only said."""
    from bot.db import key_check

    engine = make_engine(url)
    try:
        with session_scope(session_factory(engine)) as session:
            written = key_check.confirm(session, rotate=True) is key_check.KeyCheckOutcome.WRITTEN
        if written and not settings.is_development():
            print("Data key check written: `BOT_ENV=production bot serve` will start with this key only.")
    except key_check.KeyMismatch as exc:
        if not settings.is_development():
            raise
        print(f"bot: warning: {exc}", file=sys.stderr)
    finally:
        engine.dispose()


def _development_only(command: str) -> None:
    """Demo data sets are known to everyone (numbers, phones, ID numbers): never in production."""
    if not settings.is_development():
        raise CliError(f"`bot {command}` loads demo data, for development only (BOT_ENV is not "
                       "development); use `bot db upgrade`")


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    url = settings.database_url()
    _upgrade(url)
    print(f"Database schema is up to date: {display_url(url)}")
    return 0


def cmd_demo_seed(args: argparse.Namespace) -> int:
    from bot.ops.demo import seed
    from bot.ops.demo_accounts import describe, passwords_file, seed_demo_accounts

    _development_only("demo seed")
    url = settings.database_url()
    _upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(session_factory(engine)) as session:
            summary = seed(session)
        with session_scope(session_factory(engine)) as session:
            logins = seed_demo_accounts(session)  # development only: [] elsewhere
    finally:
        engine.dispose()
    added = f"{summary.merchants_created} added" if summary.merchants_created else "all present already"
    print(f"Demo data ready in {display_url(url)}: {summary.merchants_total} merchants ({added}), "
          f"{summary.requests_created} change request(s) added.")
    if logins:
        created = sum(login.created for login in logins)
        print(f"Console demo accounts ({created} added; development only, passwords kept in {passwords_file()}):")
        print("\n".join(describe(logins)))
    return 0


def cmd_demo_seed_load_test(args: argparse.Namespace) -> int:
    from bot.ops.demo import load_test_merchant, seed_load_test_merchants

    if args.count < 1 or args.start < 10 or args.start + args.count - 1 > 999:
        raise CliError("--start and --count must name load-test merchants 10-999")
    _development_only("demo seed-load-test")
    url = settings.database_url()
    _upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(session_factory(engine)) as session:
            summary = seed_load_test_merchants(session, args.count, start=args.start)
    finally:
        engine.dispose()
    first = load_test_merchant(args.start).number
    print(f"{summary.merchants_total} load-test merchants from {first} ready in {display_url(url)} "
          f"({summary.merchants_created} added).")
    return 0


def cmd_requests_list(args: argparse.Namespace) -> int:
    from bot.db.models import Merchant
    from bot.agents.views import list_requests

    number = args.merchant
    if number is not None and not MERCHANT_NUMBER.fullmatch(number):
        raise CliError(f"merchant number must be 15 digits, got {redact(number)!r}")
    with _existing_session() as session:
        if number is not None and session.execute(
            select(Merchant.id).where(Merchant.merchant_number == number)
        ).first() is None:
            raise CliError(f"no merchant with number {number}")
        rows = list_requests(session, merchant_number=number)
    if args.json:
        _print_json(rows)
    else:
        _print_table(
            rows,
            [
                ("reference", lambda r: r["reference"]),
                ("merchant", lambda r: r["merchant_id"]),
                ("status", lambda r: f"{r['status']} {r['status_label']}" + (" [逾期]" if r["overdue"] else "")),
                ("bank", lambda r: r["bank"]),
                ("card", lambda r: r["card_masked"]),
                ("holder", lambda r: r["account_name"]),
                ("reason", lambda r: r["reason"]),
                ("created", lambda r: _short_time(r["created_at"])),
                ("due", lambda r: _short_time(r["due_at"])),
            ],
            empty="(no change requests)",
        )
    return 0


def cmd_handoffs_list(args: argparse.Namespace) -> int:
    from bot.agents.views import list_handoffs

    with _existing_session() as session:
        rows = list_handoffs(session)
    if args.json:
        _print_json(rows)
    else:
        _print_table(
            rows,
            [
                ("id", lambda r: str(r["id"])),
                ("status", lambda r: f"{r['status']} {r['status_label']}"),
                ("channel", lambda r: r["channel"]),
                ("conversation", lambda r: r["conversation_id"]),
                ("merchant", lambda r: r["merchant_id"] or "-"),
                ("reason", lambda r: r["reason"]),
                ("agent", lambda r: r["agent"] or "-"),
                ("created", lambda r: _short_time(r["created_at"])),
            ],
            empty="(no handoffs)",
        )
    return 0


@contextmanager
def _staff_session() -> Iterator[Session]:
    """A session on the existing database, which must have the console's tables (migration 0004)."""
    with _existing_session() as session:
        if not inspect(session.connection()).has_table("staff_accounts"):
            raise CliError("the database has no console accounts table yet: run `bot db upgrade`")
        yield session


def _read_password(stdin: Any = None) -> str:
    """Twice with getpass on a terminal; else one line of stdin (`echo pw | bot agents add ...`)."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise CliError("the two passwords differ; no account was created")
        return password
    return stdin.readline().rstrip("\r\n")


def cmd_agents_add(args: argparse.Namespace) -> int:
    from bot.agents import accounts

    with _staff_session() as session:
        # Checked before asking for the password, so a taken name costs no typing.
        if any(row["username"] == args.name.strip() for row in accounts.list_accounts(session)):
            raise CliError(f"the account {args.name.strip()} exists already")
        password = _read_password()
        try:
            account = accounts.create_account(session, args.name, password, args.role, args.display_name)
        except ValueError as exc:  # a bad name, a short password, a name taken meanwhile
            raise CliError(f"{exc}; no account was created") from exc
        print(f"Created the {account.role.value} account {account.username} ({account.display_name}).")
    return 0


def cmd_agents_list(args: argparse.Namespace) -> int:
    from bot.agents.accounts import list_accounts

    with _staff_session() as session:
        rows = list_accounts(session)
    if args.json:
        _print_json(rows)
    else:
        _print_table(
            rows,
            [
                ("name", lambda r: r["username"]),
                ("display name", lambda r: r["display_name"]),
                ("role", lambda r: r["role"]),
                ("state", lambda r: "disabled" if r["disabled"]
                 else f"locked until {_short_time(r['locked_until'])}" if r["locked"] else "active"),
                ("created", lambda r: _short_time(r["created_at"])),
            ],
            empty="(no console accounts: add one with `bot agents add NAME --role agent`)",
        )
    return 0


def cmd_wechat_prune(args: argparse.Namespace) -> int:
    """Forget the records of WeChat pushes older than --hours (run daily, e.g. from cron): they
    only serve to recognise WeChat's retries, which come within seconds. Also deletes the
    followers' bindings past WECHAT_BINDING_DAYS (they vouch for nobody already; audited)."""
    from datetime import timedelta

    from bot.wechat.store import forget_expired_bindings, forget_inbound

    if args.hours < 1:
        raise CliError("--hours must be at least 1 (retries and replays are recognised by these records)")
    with _existing_session() as session:
        removed = forget_inbound(session, timedelta(hours=args.hours))
        expired = forget_expired_bindings(session)
    print(f"removed {removed} WeChat push records older than {args.hours} h")
    if expired:
        print(f"removed {expired} expired WeChat bindings")
    return 0


@contextmanager
def _session_if_database() -> Iterator[Session | None]:
    """A session on the configured database, or None where there is none yet (a fresh var/): for
    read-only commands that have something to show without it."""
    path = sqlite_path(settings.database_url())
    if path is not None and not path.exists():
        yield None
        return
    with _existing_session() as session:
        yield session


def _threshold(value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise CliError(f"--threshold must be from 0 to 1, got {value}")
    return value


def cmd_trainer_inbox(args: argparse.Namespace) -> int:
    """Messages of real conversations the model got wrong or was unsure of (bot.training.inbox)."""
    from bot.training import inbox

    threshold = _threshold(args.threshold)
    with _session_if_database() as session:
        try:
            entries = inbox.read_inbox(session, threshold=threshold, include_decided=args.all)
        except ValueError as exc:  # TRAINER_LOW_CONFIDENCE is no number
            raise CliError(str(exc)) from exc
    rows = [entry.as_json() for entry in entries]
    if args.json:
        _print_json(rows, identifiers=["key"])
    else:
        _print_table(
            rows,
            [
                ("key", lambda r: r["key"]),
                ("count", lambda r: str(r["count"])),
                ("reasons", lambda r: "、".join(r["reason_labels"]) + (f" [{r['decision']}]" if r["decision"] else "")),
                ("predicted", lambda r: (r["predicted_intent"] or "-")
                 + (f" {r['confidence']:.2f}" if r["confidence"] is not None else "")),
                ("last seen", lambda r: _short_time(r["last_seen"])),
                ("text", lambda r: r["text"] if len(r["text"]) <= 40 else r["text"][:39] + "…"),
            ],
            empty="(the inbox is empty: no message fell back, was unsure or was corrected)",
            identifiers=["key"],
        )
    return 0


def cmd_trainer_dismiss(args: argparse.Namespace) -> int:
    from bot.db.models import TrainingInboxDecision
    from bot.training import inbox

    threshold = _threshold(args.threshold)
    with _existing_session() as session:
        if not inspect(session.connection()).has_table(TrainingInboxDecision.__tablename__):
            raise CliError("the database has no trainer decisions table yet: run `bot db upgrade`")
        try:
            entry = inbox.find_entry(session, inbox.checked_key(args.key), threshold=threshold)
            if entry is None:
                raise CliError(f"no group {redact(args.key)[:40]} in the inbox (keys: `bot trainer inbox`, "
                               "with the same --threshold)")
            inbox.dismiss(session, entry.key, actor="cli")
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    print(f"Dismissed {entry.key} ({entry.count} messages, e.g. {redact(entry.text)[:40]}): "
          "it no longer shows in the inbox.")
    return 0


def cmd_trainer_check(args: argparse.Namespace) -> int:
    """The project's own checks of the training data (bot.training.data_checks): 1 when any fails."""
    from bot.training import data_checks

    return data_checks.main([])


def cmd_trainer_story(args: argparse.Namespace) -> int:
    """A real conversation as a redacted test story (bot.rasa.story_export), on stdout or in a new
    file; exit code 1 when the tracker store has no such conversation, or no merchant message in it.
    With --key, the conversation of the inbox group's latest message (exit code 1 when the inbox has
    no such group): the inbox shows conversation ids masked, so its key is what a trainer can copy;
    that conversation's id is then named only as the story names it (a digest)."""
    import logging
    import os
    from pathlib import Path

    # The extractor's libraries (spaCy loads TensorFlow, jieba its dictionary) report loading on
    # stderr: the trainer reads only this command's own messages there.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import jieba

    jieba.setLogLevel(logging.WARNING)
    from bot.rasa.story_export import ConversationNotFound, NothingToExport, conversation_stories
    from bot.training import inbox
    from bot.training.story_redaction import masked_conversation_id
    from bot.training.tracker_events import tracker_database_url

    if args.threshold is not None and args.key is None:
        raise CliError("--threshold goes with --key only")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        raise CliError(f"{out} exists already; nothing was written (give a new file to --out)")
    if out is not None and not out.parent.is_dir():
        raise CliError(f"no folder {out.parent} for --out")
    url = tracker_database_url()
    conversation_id = args.conversation_id
    shown = repr(redact(conversation_id or ""))
    if args.key is not None:
        try:
            conversation_id = inbox.conversation_of(inbox.checked_key(args.key), url, _threshold(args.threshold))
        except ValueError as exc:  # not a key; TRAINER_LOW_CONFIDENCE is no number
            raise CliError(str(exc)) from exc
        if conversation_id is None:
            print(f"bot: no group {args.key} in the inbox (keys: `bot trainer inbox --all`, with the same "
                  "--threshold)", file=sys.stderr)
            return 1
        shown = f"{masked_conversation_id(conversation_id)} (the latest of inbox group {args.key})"
    try:
        text = conversation_stories(conversation_id, url)
    except ConversationNotFound:
        print(f"bot: no conversation {shown} in the tracker store {display_url(url)}", file=sys.stderr)
        return 1
    except NothingToExport:
        print(f"bot: conversation {shown} has no message of the merchant: no story to write", file=sys.stderr)
        return 1
    if out is None:
        sys.stdout.write(text)
        return 0
    out.write_text(text, encoding="utf-8")
    stories = text.count("\n- story: ")
    print(f"Wrote {stories} test {'story' if stories == 1 else 'stories'} of conversation {shown} to {out}.")
    if not out.name.startswith("test_"):
        print("Note: `rasa test --e2e` reads only files named test_*.yml.")
    return 0


def cmd_serve(argv: list[str]) -> int:
    try:
        from bot.ops import devserver
    except ModuleNotFoundError as exc:
        if exc.name != "bot.ops.devserver":
            raise
        raise CliError("`bot serve` is not available: bot/ops/devserver.py is missing") from exc
    result = devserver.main(argv)
    return result if isinstance(result, int) else 0


# --- output ----------------------------------------------------------------------------------------


def _masked(value: Any, keep: Sequence[str]) -> Any:
    if isinstance(value, str):
        return redact(value, keep=keep)
    if isinstance(value, dict):
        return {key: _masked(item, keep) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(item, keep) for item in value]
    return value


def _masked_rows(rows: list[dict[str, Any]], identifiers: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows as printed: card, account, ID and phone numbers masked in every value, whatever a view
    let through (a conversation id, free text); the merchant number stays, staff look merchants up by it,
    and so do the `identifiers` fields (digests such as an inbox key, which can hold 12 digits in a row)."""
    masked = []
    for row in rows:
        keep = [row["merchant_id"]] if isinstance(row.get("merchant_id"), str) else []
        masked.append({key: value if key == "merchant_id" or key in identifiers else _masked(value, keep)
                       for key, value in row.items()})
    return masked


def _print_json(rows: list[dict[str, Any]], identifiers: Sequence[str] = ()) -> None:
    print(json.dumps(_masked_rows(rows, identifiers), ensure_ascii=False, indent=2))


def _short_time(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "-"  # local time already; minutes are enough


def _width(text: str) -> int:
    # Chinese characters take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _print_table(
    rows: list[dict[str, Any]], columns: list[tuple[str, Callable[[dict[str, Any]], str]]], empty: str,
    identifiers: Sequence[str] = (),
) -> None:
    if not rows:
        print(empty)
        return
    cells = [[title for title, _ in columns]] + [[str(get(row)) for _, get in columns]
                                                 for row in _masked_rows(rows, identifiers)]
    widths = [max(_width(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(_pad(cell, widths[i]) for i, cell in enumerate(line)).rstrip())


# --- entry point -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bot", description="Back office of the settlement-account assistant.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="action", metavar="ACTION")
    db.required = True
    db.add_parser("upgrade", help="apply all migrations").set_defaults(handler=cmd_db_upgrade)

    demo = commands.add_parser("demo", help="demo data").add_subparsers(dest="action", metavar="ACTION")
    demo.required = True
    demo.add_parser("seed", help="migrate, then add the demo merchants").set_defaults(handler=cmd_demo_seed)
    load_test = demo.add_parser("seed-load-test", help="migrate, then add merchants for load tests (make bench)")
    load_test.add_argument("--count", type=int, default=8, help="how many merchants (default 8)")
    load_test.add_argument("--start", type=int, default=100, help="index of the first one (default 100)")
    load_test.set_defaults(handler=cmd_demo_seed_load_test)

    requests = commands.add_parser("requests", help="change requests").add_subparsers(dest="action", metavar="ACTION")
    requests.required = True
    list_requests = requests.add_parser("list", help="list change requests, newest first")
    list_requests.add_argument("--merchant", metavar="NUMBER", help="only this merchant (15 digits)")
    list_requests.add_argument("--json", action="store_true", help="print a JSON list")
    list_requests.set_defaults(handler=cmd_requests_list)

    handoffs = commands.add_parser("handoffs", help="handoffs to agents").add_subparsers(dest="action", metavar="ACTION")
    handoffs.required = True
    list_handoffs = handoffs.add_parser("list", help="list handoffs, newest first")
    list_handoffs.add_argument("--json", action="store_true", help="print a JSON list")
    list_handoffs.set_defaults(handler=cmd_handoffs_list)

    agents = commands.add_parser("agents", help="console accounts (agents, reviewers, trainers)").add_subparsers(
        dest="action", metavar="ACTION")
    agents.required = True
    add_agent = agents.add_parser(
        "add", help="add a console account; the password is asked twice on a terminal, else read from stdin")
    add_agent.add_argument("name", metavar="NAME", help="the sign-in name (no spaces)")
    add_agent.add_argument("--role", required=True, choices=[role.value for role in StaffRole],
                           help="agent: takes handoffs; reviewer: decides filed changes; trainer: NLU data")
    add_agent.add_argument("--display-name", metavar="NAME",
                           help="shown to merchants with an agent's replies, e.g. 王芳 (default: NAME)")
    add_agent.set_defaults(handler=cmd_agents_add)
    list_agents = agents.add_parser("list", help="list console accounts (name, role, locked or not)")
    list_agents.add_argument("--json", action="store_true", help="print a JSON list")
    list_agents.set_defaults(handler=cmd_agents_list)

    wechat = commands.add_parser("wechat", help="WeChat channel housekeeping").add_subparsers(
        dest="action", metavar="ACTION")
    wechat.required = True
    prune = wechat.add_parser("prune", help="delete the records of old pushes (kept only to recognise retries)")
    prune.add_argument("--hours", type=int, default=24, help="keep this many hours (default 24)")
    prune.set_defaults(handler=cmd_wechat_prune)

    trainer = commands.add_parser("trainer", help="trainer tools: learn from real conversations").add_subparsers(
        dest="action", metavar="ACTION")
    trainer.required = True
    trainer_inbox = trainer.add_parser(
        "inbox", help="real messages that fell back, were unsure, corrected or before a handoff (redacted)")
    trainer_inbox.add_argument("--json", action="store_true", help="print a JSON list")
    trainer_inbox.add_argument("--threshold", type=float, metavar="X",
                               help="low confidence below X (default TRAINER_LOW_CONFIDENCE or 0.6)")
    trainer_inbox.add_argument("--all", action="store_true", help="also the groups dismissed or labelled")
    trainer_inbox.set_defaults(handler=cmd_trainer_inbox)
    trainer_dismiss = trainer.add_parser("dismiss", help="take a group of messages out of the inbox (by its key)")
    trainer_dismiss.add_argument("key", metavar="KEY", help="the group's key, as `bot trainer inbox` shows it")
    trainer_dismiss.add_argument("--threshold", type=float, metavar="X", help="as given to `bot trainer inbox`")
    trainer_dismiss.set_defaults(handler=cmd_trainer_dismiss)
    trainer.add_parser("check", help="the project's own checks of data/ and domain.yml (also in make validate)") \
        .set_defaults(handler=cmd_trainer_check)
    trainer_story = trainer.add_parser(
        "story", help="a real conversation as a test story, card, ID, phone numbers, codes and names "
                      "replaced by test values (prints it, or writes --out FILE)")
    which_story = trainer_story.add_mutually_exclusive_group(required=True)
    which_story.add_argument("conversation_id", metavar="CONVERSATION_ID", nargs="?",
                             help="the conversation (sender) id")
    which_story.add_argument("--key", metavar="KEY",
                             help="instead: the latest conversation of this inbox group (`bot trainer inbox`)")
    trainer_story.add_argument("--threshold", type=float, metavar="X", help="with --key: as given to `bot trainer inbox`")
    trainer_story.add_argument("--out", metavar="FILE", help="write a new file, e.g. tests/stories/test_x.yml")
    trainer_story.set_defaults(handler=cmd_trainer_story)

    # Listed for --help only: main() hands everything after `serve` to bot.ops.devserver untouched.
    commands.add_parser("serve", help="run the development server (options: bot serve --help)")
    return parser


def _use_utf8_stdout() -> None:
    # The JSON output is UTF-8 (ensure_ascii=False) whatever the locale of the calling script.
    try:
        sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0, or 2 for a problem the user can fix)."""
    install_redaction()  # whatever this process (bot serve's too) logs or warns: numbers masked
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["serve"]:
            return cmd_serve(argv[1:])
        args = build_parser().parse_args(argv)
        _use_utf8_stdout()
        return args.handler(args)
    except (CliError, DataKeyError) as exc:
        message = str(exc)
    except SQLAlchemyError as exc:
        message = f"database error: {_first_line(exc)}"
    except KeyboardInterrupt:
        return 130
    print(f"bot: {message}", file=sys.stderr)
    return EXIT_USAGE
