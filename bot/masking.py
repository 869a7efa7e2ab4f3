"""Masked forms of card, account, ID and phone numbers: the only forms that may be shown, logged or exported.

>>> mask_number("6222021000000000124")
'****0124'
>>> mask_card_spaced("6222 0210 0000 0000 124")
'6222 02** **** ***0 124'
>>> redact("卡号6222.0210.0000.0000.124，手机 138-0000-0001，验证码 493817")
'卡号****0124，手机 ****0001，验证码 493817'
>>> redact("卡号六二二二 零二一零 ０００００００００１２４")
'卡号****0124'

`redact` reads numbers exactly as the validators do (`bot.validation.normalize`, `in_text`):
full-width and Chinese digits (〇零一二…, 两 and 幺 inside a number), any of the separators merchants
type inside a number (spaces, dashes of every kind, dots), an ID's final X. It masks

- every number of 12 digits or more: cards (15-19), resident IDs (18, the old ones 15), corporate
  accounts, merchant numbers;
- every mobile number (`1[3-9]` and 9 digits), with or without +86;
- a number of 8 to 11 digits named as an account or ID just before it (`对公账号：12345678`).

A bare 8-11 digit number stays: it is far more often a date (`2026-11-25`), an amount or a hotline
than a short corporate account, and corporate accounts reach tickets under their slot's name
(masked whatever their length, bot.agents.handoff). Log output also goes through `redact_log`,
which reads the `\\uXXXX` escapes of JSON log lines (Rasa's structlog), and `install_redaction`
puts it in front of every logger, warning and uncaught exception of a process.
"""
from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
import warnings
from typing import Any, Collection

from bot.validation.normalize import (
    CHINESE_DIGITS,
    SEPARATORS,
    TEXT_MAX_CHARS,
    VALUE_MAX_CHARS,
    WEAK_CHINESE_DIGITS,
    compact_number,
    normalize_digits,
    to_halfwidth,
)

MASK = "*"

# What may stand between the digits of one number: the validators' separators, any white space and
# the brackets of `(0086)138 0000 0001` (bot.validation.phone), so a number is masked whole.
_GAP = "[" + re.escape(SEPARATORS + "()[]") + r"\s]"
# One number in normalised text (same offsets as the original): digits with gaps, an ID's final X.
_NUMBER = re.compile(rf"[0-9](?:{_GAP}*[0-9])*(?:{_GAP}*[Xx](?![A-Za-z]))?")
_MIN_LONG_DIGITS = 12
_MIN_NAMED_DIGITS = 8
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Words that name the number right after them an account or ID (`账号是 12345678`, `身份证号：…`).
_NAMED_BEFORE = re.compile(r"(?:卡号|账号|帐号|账户|帐户|身份证号?|证件号)码?\s*(?:是|为)?\s*:?\s*$")
_NAME_WINDOW = 12
_REFERENCE_DIGITS = re.compile(r"[0-9]{8}[\s\-]?[0-9]{4}")
# Characters that can be part of a number once normalised: where normalising long text may not cut.
_NUMBER_CHARS = frozenset("0123456789" + "".join(CHINESE_DIGITS) + "".join(WEAK_CHINESE_DIGITS) + SEPARATORS + "()[]")
# A message that is nothing but a number: its Chinese digits all count, however few (`compact_number`).
_BARE_NUMBER = re.compile("[" + re.escape("0123456789" + "".join(CHINESE_DIGITS) + "".join(WEAK_CHINESE_DIGITS)
                          + SEPARATORS) + r"\s]+")
_ALL_CHINESE_DIGITS = str.maketrans({**CHINESE_DIGITS, **WEAK_CHINESE_DIGITS})


def _compact(value: str) -> str:
    """Digits (and an ID's X) only, normalised like the validators do (`６２２２-0210` -> `62220210`,
    `六二二二` -> `6222`)."""
    return "".join(ch for ch in compact_number(value) if ch.isascii() and ch.isalnum()).upper()


def last4(value: str) -> str:
    """Last four characters of the number, ignoring separators; '' for a value shorter than that."""
    compact = _compact(value)
    return compact[-4:] if len(compact) >= 4 else ""


def mask_number(value: str) -> str:
    """`****0124`: the form for ID numbers, and for card numbers in lists and logs."""
    return MASK * 4 + last4(value)


def mask_card_spaced(value: str) -> str:
    """`6222 02** **** ***0 124`: first 6 (the BIN, names the bank) and last 4 digits, in groups of 4.

    The merchant recognises their card by these; numbers too short to hide anything with that rule
    keep only the last 4.
    """
    compact = _compact(value)
    if len(compact) < 14:  # 6 + 4 visible must leave at least 4 hidden
        visible = MASK * max(len(compact) - 4, 4) + compact[-4:]
    else:
        visible = compact[:6] + MASK * (len(compact) - 10) + compact[-4:]
    return " ".join(visible[i : i + 4] for i in range(0, len(visible), 4))


def _normalized(text: str) -> str:
    """`normalize_digits` over the whole text (it transforms only the first TEXT_MAX_CHARS
    characters): pieces cut where no number can run across the cut. Same length as `text`."""
    if len(text) <= VALUE_MAX_CHARS:
        normalized = normalize_digits(text)
        return normalized.translate(_ALL_CHINESE_DIGITS) if _BARE_NUMBER.fullmatch(normalized) else normalized
    if len(text) <= TEXT_MAX_CHARS:
        return normalize_digits(text)
    pieces, start = [], 0
    while start < len(text):
        end = min(start + TEXT_MAX_CHARS, len(text))
        if end < len(text):
            cut = end
            while cut > start + 1 and to_halfwidth(text[cut - 1]) in _NUMBER_CHARS:
                cut -= 1
            end = cut if cut > start + 1 else end  # hostile: a number longer than a piece is cut
        pieces.append(normalize_digits(text[start:end]))
        start = end
    return "".join(pieces)


def _is_request_reference(number: str, before: str) -> bool:
    """The digits of a change request's reference (`CR20261201-6332`, bot.db.models): 8 digits of
    date and a 4-character suffix, which is all digits about one time in 200. Twelve digits would
    otherwise be masked like an account, and the merchant could not read their own reference."""
    return before.upper().endswith("CR") and bool(_REFERENCE_DIGITS.fullmatch(number))


def _is_number_to_mask(digits: str, before: str) -> bool:
    count = sum(ch.isdigit() for ch in digits)
    return (count >= _MIN_LONG_DIGITS or bool(_MOBILE.fullmatch(digits))
            or (count >= _MIN_NAMED_DIGITS and bool(_NAMED_BEFORE.search(before))))


def redact(text: str, keep: Collection[str] = ()) -> str:
    """`text` with every card, account, ID and phone number replaced by `****` and its last four
    (see the module docstring for which numbers); the rest of the text is left exactly as it was.

    `keep`: numbers (in any typed form) left readable, e.g. the merchant numbers of the back
    office's own lists.

    >>> redact("卡号六二二二零二一零零零零零零零零零一二四，谢谢")
    '卡号****0124，谢谢'
    >>> redact("商户 822100000000001，账号：12345678，日期 2026-11-25", keep=["822100000000001"])
    '商户 822100000000001，账号：****5678，日期 2026-11-25'
    """
    if not isinstance(text, str) or not text:
        return text
    normalized = _normalized(text)  # same length as `text`, so spans carry over
    kept = {_compact(number) for number in keep}
    pieces, position = [], 0
    for match in _NUMBER.finditer(normalized):
        digits = "".join(ch for ch in match.group() if ch.isalnum()).upper()
        before = normalized[max(0, match.start() - _NAME_WINDOW):match.start()]
        if digits in kept or not _is_number_to_mask(digits, before) or _is_request_reference(match.group(), before):
            continue
        pieces += [text[position:match.start()], MASK * 4 + digits[-4:]]
        position = match.end()
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def redact_normalized(text: str) -> str:
    """`redact` (the name of the days when `redact` did not read Chinese or full-width digits)."""
    return redact(text)


# JSON's escapes of non-ASCII characters (`\u516d` for 六, a surrogate pair for 𝟔): Rasa's
# structlog lines are JSON.
_JSON_ESCAPE = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|\\u([0-9a-f]{4})", re.IGNORECASE)


def _unescaped(match: re.Match) -> str:
    if match.group(1):
        high, low = int(match.group(1), 16), int(match.group(2), 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    code = int(match.group(3), 16)
    # ASCII (quotes, backslashes, control characters) and lone surrogates stay escaped: the JSON stays valid.
    return chr(code) if code >= 0x80 and not 0xD800 <= code <= 0xDFFF else match.group()


def redact_log(text: str) -> str:
    """`redact` for log output: also numbers written as JSON escapes (`"\\uff16\\uff12…"`). A line
    that holds one is written with those characters unescaped."""
    if not isinstance(text, str):
        return text
    if "\\u" in text:
        unescaped = _JSON_ESCAPE.sub(_unescaped, text)
        redacted = redact(unescaped)
        return redacted if redacted != unescaped else text
    return redact(text)


_TRACEBACKS = logging.Formatter()


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask the numbers of a log record in place: its message (formatted with its arguments), its
    traceback and stack. The record is left alone where nothing needs masking."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - arguments that do not fit: the handler reports it, as usual
        message = None
    if isinstance(message, str):
        redacted = redact_log(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = _TRACEBACKS.formatException(record.exc_info)
        redacted = redact_log(text)
        if redacted != text:
            record.exc_text = redacted  # formatters use it instead of formatting the traceback again
    elif record.exc_text:
        record.exc_text = redact_log(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_log(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """Logging filter that masks numbers in every record, whatever the caller formatted.

    `install_redaction` covers a whole process; the filter is for one handler or logger. Code
    should still log masked values in the first place.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_redaction() -> None:
    """Mask numbers in everything this process logs, for every logger, its own handlers or not:

    - every log record, as it is made (`logging.setLogRecordFactory`: whatever logger, handler or
      formatter comes later, Rasa's, Sanic's, structlog's and waitress's included);
    - warnings (Rasa reports a `/intent{...}` message it cannot parse with `warnings.warn`, the
      message's text included), written to stderr without the logging module;
    - uncaught exceptions, in the main thread and in others.

    Called where each process starts: the Rasa server (importing `bot.rasa`, which Rasa does for
    the channels, the tracker store and the NLU components), the action server (`actions`), the
    console (`python -m console`) and the `bot` command. Calling it again changes nothing.
    """
    previous_factory = logging.getLogRecordFactory()
    if not getattr(previous_factory, "redacting", False):
        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redact_record(previous_factory(*args, **kwargs))

        redacting_factory.redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(redacting_factory)

    previous_showwarning = warnings.showwarning
    if not getattr(previous_showwarning, "redacting", False):
        def redacting_showwarning(message: Any, category: Any, filename: str, lineno: int,
                                  file: Any = None, line: str | None = None) -> None:
            text = str(message)
            redacted = redact_log(text)
            previous_showwarning(redacted if redacted != text else message, category, filename, lineno, file, line)

        redacting_showwarning.redacting = True  # type: ignore[attr-defined]
        warnings.showwarning = redacting_showwarning

    previous_excepthook = sys.excepthook
    if not getattr(previous_excepthook, "redacting", False):
        def redacting_excepthook(kind: Any, value: Any, tb: Any) -> None:
            sys.stderr.write(redact_log("".join(traceback.format_exception(kind, value, tb))))

        redacting_excepthook.redacting = True  # type: ignore[attr-defined]
        sys.excepthook = redacting_excepthook

    previous_threading_hook = threading.excepthook
    if not getattr(previous_threading_hook, "redacting", False):
        def redacting_threading_hook(args: Any) -> None:
            if args.exc_type is SystemExit:
                return
            name = args.thread.name if args.thread is not None else threading.get_ident()
            text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
            sys.stderr.write(f"Exception in thread {name}:\n{redact_log(text)}")

        redacting_threading_hook.redacting = True  # type: ignore[attr-defined]
        threading.excepthook = redacting_threading_hook
