"""Canned replies: the short answers an agent sends often, in `canned_replies.yml` at the
repository root, which trainers edit (read on every page view, so a saved edit shows at the next
reload, no restart).

The file is a list under `replies:` of `{title, text}`; `load` refuses anything else with the
entry that is wrong, so a trainer's typo fails the console's test instead of hiding a reply.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.agents.live import MAX_MESSAGE_CHARS
from bot.settings import PROJECT_ROOT

__all__ = ["CannedReply", "InvalidCannedReplies", "path", "load"]

TITLE_MAX = 20


class InvalidCannedReplies(ValueError):
    pass


@dataclass(frozen=True)
class CannedReply:
    title: str  # the button
    text: str  # what fills the reply box


def path() -> Path:
    """`CANNED_REPLIES` names another file (a deployment's own list)."""
    return Path(os.environ.get("CANNED_REPLIES") or PROJECT_ROOT / "canned_replies.yml")


def load(source: Path | None = None) -> list[CannedReply]:
    """The replies in file order; no file, no replies. Raises InvalidCannedReplies."""
    source = source or path()
    if not source.exists():
        return []
    document = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    entries = document.get("replies") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InvalidCannedReplies(f"{source}: expected a list under 'replies:'")
    replies = []
    for number, entry in enumerate(entries, 1):
        title = str((entry or {}).get("title") or "").strip() if isinstance(entry, dict) else ""
        text = str((entry or {}).get("text") or "").strip() if isinstance(entry, dict) else ""
        if not title or not text:
            raise InvalidCannedReplies(f"{source}: reply {number} needs a title and a text")
        if len(title) > TITLE_MAX or len(text) > MAX_MESSAGE_CHARS:
            raise InvalidCannedReplies(
                f"{source}: reply {number} ({title}): title at most {TITLE_MAX}, text at most "
                f"{MAX_MESSAGE_CHARS} characters")
        replies.append(CannedReply(title, text))
    return replies
