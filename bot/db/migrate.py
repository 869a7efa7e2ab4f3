"""Bring the database schema up to date (`alembic upgrade head`) from Python."""
from __future__ import annotations

from alembic import command
from alembic.config import Config

from bot import settings

ALEMBIC_INI = settings.PROJECT_ROOT / "alembic.ini"


def alembic_config(url: str | None = None) -> Config:
    """The project's alembic configuration, aimed at `url` (default: the configured database)."""
    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = url or settings.database_url()
    # Leave the caller's logging alone (alembic.ini's logging section is for the alembic command).
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
