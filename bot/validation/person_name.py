"""Personal names as on the resident ID: 2-15 Chinese characters, 间隔号 `·` between name parts.

Minority names use the 间隔号 (`阿卜杜拉·买买提`); merchants type it as `·`, `・`, `•`, `‧`, `.`,
a full stop `。` and other look-alikes, all stored as `·` (U+00B7). Spaces are dropped. Digits,
Latin letters and other symbols are refused. The words merchants put before a name when asked for
the holder (`户名是`, `持卡人：`, `我叫`) are dropped.

Asked for the holder, many merchants answer `就是我本人`: `is_self_reference` recognises it, and the
dialogue then takes the operator's name it already knows.

>>> validate(" 周 强 ")
'周强'
>>> validate("阿卜杜拉・买买提")
'阿卜杜拉·买买提'
>>> validate("户名是阿卜杜。热合曼")
'阿卜杜·热合曼'
>>> is_self_reference("就是我本人")
True
>>> validate("张3")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: name_format
"""
from __future__ import annotations

import re
import unicodedata

from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import VALUE_MAX_CHARS, too_long

__all__ = ["compact", "validate", "is_valid", "is_self_reference"]

MIN_LENGTH, MAX_LENGTH = 2, 15
SEPARATOR = "\u00b7"  # · MIDDLE DOT, the 间隔号 of GB/T 15834 as typed on computers
_SEPARATOR_VARIANTS = "\u00b7\u30fb\uff65\u2022\u2027\u2219\u22c5\u2024\u0387\u16eb\u2e31.\uff0e\u3002\uff61"
_SEPARATORS = re.compile("[" + re.escape(_SEPARATOR_VARIANTS) + "]")
_SPACES = re.compile(r"\s+")
# What merchants write before the name: "户名是", "持卡人：", "新卡户名为", "我叫", "名字叫".
_LEAD_IN = re.compile(
    r"^(?:新卡的?|卡的?)?(?:户名|持卡人(?:姓名)?|开户人|开户名|收款人|姓名|名字|名)\s*(?:是|叫|为|写的是|写)?\s*[:：]?\s*"
    r"|^(?:我叫|叫|是)(?=\S{2})"
)
# "就是我本人", "我本人", "是我自己", "我的卡", "本人的", "用我自己的": the holder is the operator.
_SELF = re.compile(
    r"^(?:是的?|对|嗯)?[，,\s]*(?:就|也)?(?:是|用|写)?(?:我|本人|我本人|我自己|自己)(?:本人|自己)?(?:的)?"
    r"(?:卡|名字|名下的卡|名下|账户|户名)?(?:的)?[。.!！]?$"
)
# CJK unified ideographs (basic, extension A, extensions B-H) and 〇, used in some names.
_HAN = "\u3007\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f"
_NAME = re.compile(f"[{_HAN}]+(?:{SEPARATOR}[{_HAN}]+)*")


def compact(name: object) -> str:
    """NFKC, spaces removed, every 间隔号 look-alike as `·`."""
    if not isinstance(name, str):
        return ""
    text = unicodedata.normalize("NFKC", name[:VALUE_MAX_CHARS]).strip()
    text = _LEAD_IN.sub("", text, count=1)
    # a full stop typed at the end closes the sentence: it is no 间隔号 (one typed inside is)
    text = text[:-1] if text.endswith(("。", "\uff61")) else text
    return _SEPARATORS.sub(SEPARATOR, _SPACES.sub("", text))


def validate(name: object) -> str:
    """The name in its stored form; raises Invalid(name_format) or Invalid(name_length), and
    Invalid(name_self_reference) for `就是我本人` (see `is_self_reference`: the dialogue should
    take the operator's name instead of asking again)."""
    if is_self_reference(name):
        raise Invalid(Reason.NAME_SELF_REFERENCE)
    value = compact(name)
    if too_long(name) or not _NAME.fullmatch(value):
        raise Invalid(Reason.NAME_FORMAT)
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        raise Invalid(Reason.NAME_LENGTH, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    return value


def is_self_reference(text: object) -> bool:
    """True for an answer saying the holder is the merchant themself (`就是我本人`, `我的卡`)."""
    if not isinstance(text, str) or too_long(text):
        return False
    compacted = _SPACES.sub("", unicodedata.normalize("NFKC", text))
    return bool(compacted) and bool(_SELF.fullmatch(compacted)) and compacted not in ("是", "对", "嗯", "的")


def is_valid(name: object) -> bool:
    try:
        return bool(validate(name))
    except Invalid:
        return False
