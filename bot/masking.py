"""Masked forms of card, account and ID numbers: the only forms that may be shown, logged or exported.

>>> mask_number("6222021000000000124")
'****0124'
>>> mask_card_spaced("6222 0210 0000 0000 124")
'6222 02** **** ***0 124'
>>> redact("卡号6222021000000000124，手机13800000001")
'卡号****0124，手机13800000001'
"""
from __future__ import annotations

import logging
import re
import unicodedata

MASK = "*"

# Runs of 12+ digits (full-width too, spaces or dashes between them, an ID's trailing X): card,
# account and ID numbers. Phone numbers (11 digits) stay readable: they are needed to help a merchant.
_LONG_NUMBER = re.compile(r"(?<!\d)\d(?:[ \-－]?\d){11,}(?:[ \-－]?[Xx])?(?![\dXx])")


def _compact(value: str) -> str:
    """Digits and letters only, half-width (`６２２２-0210` -> `62220210`)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch.isalnum()).upper()


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


def redact(text: str) -> str:
    """Replace every long number in free text (transcripts, log lines) by its masked form."""
    return _LONG_NUMBER.sub(lambda match: mask_number(match.group()), text)


def redact_normalized(text: str) -> str:
    """`redact`, also catching numbers typed in Chinese digits (六二二二…) or with full-width
    separators; the rest of the text is left exactly as it was.

    >>> redact_normalized("卡号六二二二零二一零零零零零零零零零一二四，谢谢")
    '卡号****0124，谢谢'
    """
    # Imported here: masking is imported by the models, and must stay light for them.
    from bot.validation.normalize import normalize_digits

    normalized = normalize_digits(text)  # same length as `text`, so spans carry over
    if normalized == text:
        return redact(text)
    pieces, position = [], 0
    for match in _LONG_NUMBER.finditer(normalized):
        pieces += [text[position : match.start()], mask_number(match.group())]
        position = match.end()
    pieces.append(text[position:])
    return redact("".join(pieces))


class RedactingFilter(logging.Filter):
    """Logging filter that masks long numbers in every record, whatever the caller formatted.

    Attach it to handlers (`handler.addFilter(RedactingFilter())`) as a safety net; code should
    still log masked values in the first place.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
