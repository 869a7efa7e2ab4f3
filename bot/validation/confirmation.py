"""The merchant's answer to the summary of the change: yes (file it) or no (something is wrong).

Shown every value, merchants answer `确认`, `没问题`, `对的，提交吧`, `OK`, or `不对`, `有错误`,
`卡号错了`. `validate` returns True for yes and False for no; anything else (a question, words
that say both, or neither) is `confirmation_unclear`, and the bot asks again with its two buttons.
Yes-phrases that contain a negation character (`没问题`, `没错`, `无误`) are read as a whole first,
so that the `没` / `错` in them does not count as a no; likewise the `确认` of `不确认` is no yes.

>>> validate("信息无误，提交吧")
True
>>> validate("卡号不对")
False
>>> validate("确认后几天到账？")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: confirmation_unclear
"""
from __future__ import annotations

import re
import unicodedata

from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import too_long

__all__ = ["validate", "is_valid"]

# Yes-phrases holding a negation character, removed before the no-words are looked for.
_YES_WITH_NEGATION = re.compile(r"没有?问题|没毛病|没错|无误|不用改|不需要改|不用修改|都没错|都对")
_YES = re.compile(
    r"确认|确定|正确|对的|对滴|^对|是的|^是$|好的|^好|可以|提交|同意|^嗯+|^行|^ok|^okay|^yes|^y$|^1$|没问题|就这样|办吧|"
    r"都对|无误|没错|没毛病|准确",
    re.IGNORECASE,
)
_NO = re.compile(
    r"不对|错|有误|不正确|不准确|修改|要改|改一下|改下|重填|重新填|重新输|不确认|不确定|不提交|不同意|不行|不可以|不好|"
    r"^不是|^否|^no$|^n$|^2$|"
    r"等一?下|先别|别提交",
    re.IGNORECASE,
)
_QUESTION = re.compile(r"[?？]|[吗呢么嘛]$|怎么|什么|为什么|多久|几天|哪")


def validate(text: object) -> bool:
    """True (confirmed) or False (something to correct); raises Invalid(confirmation_unclear)."""
    if not isinstance(text, str) or too_long(text):
        raise Invalid(Reason.CONFIRMATION_UNCLEAR)
    folded = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).strip("。.!！~～,，")
    if not folded or _QUESTION.search(folded):
        raise Invalid(Reason.CONFIRMATION_UNCLEAR)
    rest = _YES_WITH_NEGATION.sub("", folded)
    no = bool(_NO.search(rest))
    # "不确认" is a no: the yes-word inside a no-phrase does not count
    yes = rest != folded or bool(_YES.search(_NO.sub("", rest)))
    if yes == no:
        raise Invalid(Reason.CONFIRMATION_UNCLEAR)
    return yes


def is_valid(text: object) -> bool:
    try:
        validate(text)
    except Invalid:
        return False
    return True
