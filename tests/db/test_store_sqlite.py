"""The store on SQLite (the default setup), plus what only SQLite has: a file anyone can grep."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.ops.demo import seed

from .store_cases import DEMO_SECRETS, StoreCases


class TestStoreSqlite(StoreCases):
    def test_connections_enforce_foreign_keys_and_use_wal(self, engine: Engine) -> None:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_no_full_card_or_id_number_in_any_file_under_var(var_dir: Path, session: Session) -> None:
    seed(session)
    session.commit()
    # Read while the connection is open, so the WAL file (not yet checkpointed) is included.
    files = [path for path in var_dir.rglob("*") if path.is_file()]
    assert any(path.name == "bot.db" for path in files)
    leaks = [(path.name, secret) for path in files for secret in DEMO_SECRETS if secret.encode() in path.read_bytes()]
    assert leaks == []
