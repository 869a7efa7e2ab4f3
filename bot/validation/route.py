"""How the merchant wants to make the change: `online` (here, in the chat) or `offline` (at a bank
branch or service outlet), from the words merchants use.

Merchants rarely tap the button: they write `网上办`, `在网上弄就行`, `就在这办`, `手机上弄`,
`去银行办`, `柜台`. Each word below votes for one route; a negation just before it (`不想去银行`,
`不在网上办`, `别去网点了`) turns the vote to the other route. One route with votes wins; votes for
both (`线上还是线下？`) or none is `route_unknown`, and the bot offers the two buttons again.

>>> validate("在网上弄就行")
'online'
>>> validate("不想去银行")
'online'
>>> validate("不在网上办")
'offline'
>>> validate("在线下办理")
'offline'
>>> validate("你好")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: route_unknown
"""
from __future__ import annotations

import re
import unicodedata
from typing import Dict

from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import VALUE_MAX_CHARS, too_long

__all__ = ["ONLINE", "OFFLINE", "validate", "is_valid"]

ONLINE, OFFLINE = "online", "offline"
# How a route is shown back to the merchant (a clarification's button).
LABELS = {ONLINE: "线上办理", OFFLINE: "去网点办理"}

# Longest first within each route so that one regex alternation takes the most specific word.
_WORDS: Dict[str, tuple] = {
    ONLINE: (
        "线上办理", "线上", "网上", "在线(?!下)", "手机上", "手机里", "手机办", "手机弄", "微信上", "微信里",
        "微信办", "公众号", "这里办", "这里弄", "这办", "这弄", "这儿", "这边", "这里", "在这", "聊天",
        "远程", "自助", "直接办", "online",
    ),
    OFFLINE: (
        "去网点办理", "线下", "网点", "柜台", "营业厅", "当面", "现场", "去银行", "到银行", "银行办",
        "银行柜台", "跑银行", "跑一趟", "实体店", "门店", "offline",
    ),
}
_OTHER = {ONLINE: OFFLINE, OFFLINE: ONLINE}
_ROUTE_OF = {}
for _route, _words in _WORDS.items():
    for _word in _words:
        _ROUTE_OF[_word.split("(")[0]] = _route
_PATTERN = re.compile(
    "|".join(sorted((word for words in _WORDS.values() for word in words), key=len, reverse=True)),
    re.IGNORECASE,
)
# A negation a few characters before a word: 不想去银行, 不在网上办, 别去网点, 没必要去柜台.
_NEGATION = re.compile(r"(?:不|别|没必要|不用|不要|不想|懒得|无需|不必)[想要用去在到了再愿意跑]{0,3}$")
# Text (punctuation) that ends a clause: a negation never reaches across it.
_CLAUSE_END = re.compile(r"[，,。.！!？?；;、]")


def _votes(text: str) -> Dict[str, int]:
    votes = {ONLINE: 0, OFFLINE: 0}
    for match in _PATTERN.finditer(text):
        route = _ROUTE_OF[match.group().lower()]
        before = _CLAUSE_END.split(text[max(0, match.start() - 6):match.start()])[-1]
        votes[_OTHER[route] if _NEGATION.search(before) else route] += 1
    return votes


def validate(text: object) -> str:
    """`online` or `offline`; raises Invalid(route_unknown) when the words say neither or both."""
    if not isinstance(text, str) or too_long(text):
        raise Invalid(Reason.ROUTE_UNKNOWN)
    compacted = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text[:VALUE_MAX_CHARS]))
    votes = _votes(compacted)
    chosen = [route for route, count in votes.items() if count]
    if len(chosen) != 1:
        raise Invalid(Reason.ROUTE_UNKNOWN)
    return chosen[0]


def is_valid(text: object) -> bool:
    try:
        return bool(validate(text))
    except Invalid:
        return False
