"""Alembic environment of the request store.

The URL comes from `bot.settings.database_url()`; `bot.db.migrate.upgrade(url)` passes another one
in `config.attributes["url"]`, and tests may pass an open connection in `config.attributes["connection"]`.
"""
from __future__ import annotations

from logging.config import fileConfig
from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from bot import settings
from bot.db.crypto import EncryptedString
from bot.db.engine import is_sqlite, make_engine
from bot.db.models import StrEnumType, UtcDateTime, metadata

config = context.config

# Called from the application (bot db upgrade, startup), alembic must not reconfigure the
# application's logging; from the alembic command line it may.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render the project's column types as their plain SQL types, so migrations never import app code."""
    if type_ == "type":
        if isinstance(obj, EncryptedString):
            return "sa.Text()"
        if isinstance(obj, UtcDateTime):
            return "sa.DateTime(timezone=True)"
        if isinstance(obj, StrEnumType):
            return f"sa.String(length={obj.impl.length})"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=metadata,
        compare_type=True,
        render_item=render_item,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade head --sql`)."""
    url = config.attributes.get("url") or settings.database_url()
    _configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, render_as_batch=is_sqlite(url))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.attributes.get("url") or settings.database_url(), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # A batch migration copies and drops tables; with foreign keys on, dropping a parent
                # table would fail or cascade. The pragma only works outside a transaction.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
