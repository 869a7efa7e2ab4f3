"""Turning the bot's replies into WeChat text messages.

WeChat text cannot show buttons, so each button becomes a numbered line telling the merchant what
to type (the button titles are words the dialogue understands typed, too). A customer-service
text message carries at most 2048 bytes of UTF-8, so longer replies go out as several messages,
cut at line breaks where possible and never inside a character.

    >>> with_options("您想怎么办理？", ["线上办理", "去网点办理"])
    '您想怎么办理？\\n1. 回复“线上办理”\\n2. 回复“去网点办理”'
    >>> [len(part.encode()) for part in split_for_wechat("卡" * 1000)]
    [2046, 954]
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

MAX_TEXT_BYTES = 2048

# The default line for one option; trainers can override it with the domain response
# `utter_wechat_option` (variables {number} and {title}).
DEFAULT_OPTION_LINE = "{number}. 回复“{title}”"

# Where a long reply may be cut when there is no line break: after the end of a sentence.
_SENTENCE_ENDS = "。！？；!?;"


def default_option_line(number: int, title: str) -> str:
    return DEFAULT_OPTION_LINE.format(number=number, title=title)


def with_options(
    text: Optional[str],
    titles: Sequence[str],
    option_line: Callable[[int, str], str] = default_option_line,
) -> str:
    """The text followed by one numbered line per option."""
    lines = [text.strip()] if text and text.strip() else []
    lines += [option_line(number, title) for number, title in enumerate(titles, start=1) if title]
    return "\n".join(lines)


def split_for_wechat(text: str, max_bytes: int = MAX_TEXT_BYTES) -> List[str]:
    """`text` in pieces of at most `max_bytes` UTF-8 bytes each.

    A piece ends at the last line break in its second half if there is one (the break itself is
    dropped), else after the last sentence end in its second half, else at the last whole
    character that fits. Nothing but the line breaks at the cuts (and pieces of nothing but
    blank space) is left out.
    """
    if max_bytes < 4:
        raise ValueError("a piece must hold at least one character (4 bytes)")
    pieces: List[str] = []
    rest = text
    while len(rest.encode("utf-8")) > max_bytes:
        fits = _chars_fitting(rest, max_bytes)
        newline = rest.rfind("\n", 0, fits + 1)
        if newline >= fits // 2 and newline > 0:
            head, rest = rest[:newline], rest[newline + 1:]
        else:
            sentence_end = max(rest.rfind(mark, 0, fits) for mark in _SENTENCE_ENDS)
            cut = sentence_end + 1 if sentence_end >= fits // 2 else fits
            head, rest = rest[:cut], rest[cut:]
        if head.strip():
            pieces.append(head)
    if rest.strip():
        pieces.append(rest)
    return pieces


def _chars_fitting(text: str, max_bytes: int) -> int:
    """How many leading characters of `text` fit in `max_bytes` bytes of UTF-8."""
    used = 0
    for index, char in enumerate(text):
        used += len(char.encode("utf-8"))
        if used > max_bytes:
            return index
    return len(text)
