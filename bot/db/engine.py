"""Database engines and sessions.

`make_engine()` builds a 2.0-style engine for `settings.database_url()` (SQLite under var/ by
default, PostgreSQL when DATABASE_URL says so); `session_scope()` is the unit of work callers use:

    with session_scope() as session:
        session.add(...)
"""
from __future__ import annotations

import asyncio
import functools
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.future import create_engine
from sqlalchemy.orm import Session, sessionmaker

from bot import settings


def _json_dumps(value: Any) -> str:
    # Readable Chinese in JSON columns when someone inspects the database by hand.
    return json.dumps(value, ensure_ascii=False)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys unless asked, per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the Rasa action server, the agent console and the CLI read while one of them writes;
    # busy_timeout makes a concurrent writer wait instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """File of a SQLite URL; None for other backends and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def display_url(url: str) -> str:
    """The URL with any password hidden, fit for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """A `future=True` engine; SQLite gets foreign keys, WAL and a busy timeout on every connection."""
    url = url or settings.database_url()
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("json_serializer", _json_dumps)
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)  # survive a restarted PostgreSQL
    engine = create_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: Engine | None = None) -> sessionmaker:
    """Sessions bound to `engine` (default: the configured database).

    `expire_on_commit=False` so objects read in a `session_scope()` stay usable after it closes.
    """
    return sessionmaker(bind=engine or default_engine(), future=True, expire_on_commit=False)


@functools.lru_cache(maxsize=None)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def default_engine() -> Engine:
    """One shared engine (and pool) per configured URL for the life of the process."""
    return _engine_for(settings.database_url())


@contextmanager
def session_scope(factory: sessionmaker | None = None) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back on any exception."""
    session: Session = (factory or session_factory())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


T = TypeVar("T")


async def in_session(factory: sessionmaker | None, function: Callable[..., T], *args: Any) -> T:
    """`function(session, *args)` in a worker thread, in one unit of work (committed when it
    returns): for async servers (the channels), whose event loop must never wait for the
    database (SQLite's write lock can take seconds) or for encryption."""

    def work() -> T:
        with session_scope(factory) as session:
            return function(session, *args)

    return await asyncio.to_thread(work)


@contextmanager
def temporary_schema(base_url: str, prefix: str) -> Iterator[str]:
    """A new PostgreSQL schema for a test or a benchmark run: yields `base_url` with the schema as
    every connection's search path (libpq's `options`, so migrations land there too); dropped
    afterwards. The admin engine pings its connection, so the schema is still dropped after a
    PostgreSQL restart (the cluster tests restart it)."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(base_url, pool_pre_ping=True)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
