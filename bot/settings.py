"""Where the assistant keeps its state and how it is configured (environment variables only).

Everything of the default setup lives under `var/` in the project root, so deleting `var/` gives a
clean demo. Each value can be overridden from the environment for other deployments.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    path = Path(os.environ.get("BOT_VAR_DIR", PROJECT_ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """SQLAlchemy URL of the application database (SQLite under var/ unless DATABASE_URL is set)."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir() / 'bot.db'}"


def is_development() -> bool:
    """`BOT_ENV` unset or `development`: demo accounts and keys under var/, cookies without Secure.
    Any other value (`production`, `staging`) turns all of that off."""
    return os.environ.get("BOT_ENV", "development") == "development"


# The agent console's port (`bot serve` runs it beside the Rasa and action servers).
CONSOLE_DEFAULT_PORT = 5080


def console_port() -> int:
    return int(os.environ.get("CONSOLE_PORT", CONSOLE_DEFAULT_PORT))


def sms_outbox_path() -> Path:
    return Path(os.environ.get("SMS_OUTBOX", var_dir() / "sms_outbox.jsonl"))


@dataclass(frozen=True)
class Brand:
    """The acquirer deploying the assistant: configuration, never a real company hard-coded."""

    name: str
    hotline: str
    review_days: int


def brand() -> Brand:
    return Brand(
        name=os.environ.get("BRAND_NAME", "结算助手"),
        hotline=os.environ.get("BRAND_HOTLINE", "400-000-0000"),
        review_days=int(os.environ.get("BRAND_REVIEW_DAYS", "3")),
    )


# Longest message (in characters) that reaches the NLU. Merchants' real messages are far shorter;
# a stock pipeline needs 12 s for 20,000 characters and runs out of memory at 100,000.
MAX_MESSAGE_CHARS = int(os.environ.get("MAX_MESSAGE_CHARS", "500"))


def handoff_overdue_minutes() -> int:
    """A handoff waiting longer than this shows in red in the agents' queue."""
    return int(os.environ.get("HANDOFF_OVERDUE_MINUTES", "5"))
