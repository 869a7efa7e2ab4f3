"""The opening branch of the new card (开户支行), as merchants write it.

Merchants answer with or without the bank's name (`上海分行营业部`, `浦东支行`, `工行张江支行`,
`中国银行上海市徐汇支行`, `农商行张江分理处`) and often with a lead-in (`开户行是…`, `在…`). A branch
name must hold a branch word (`BRANCH_WORDS`: 支行, 分行, 营业部, 分理处, 储蓄所, 营业所, 信用社,
营业室, 网点 ...) after at least two characters of place or bank: `今天天气怎么样` is no branch, and
neither is `支行`.

Many merchants do not know their branch (`不知道支行`, `忘了`, `查不到`): `is_unknown` recognises it,
and `validate` refuses it with its own reason (`branch_not_known`) whose answer says where to find
it, instead of "that is not a branch".

>>> validate("开户行是上海分行营业部")
'上海分行营业部'
>>> validate("在 工行 张江支行")
'工行张江支行'
>>> is_unknown("不知道支行")
True
>>> validate("今天天气怎么样")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: branch_format
"""
from __future__ import annotations

import re
import unicodedata

from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import too_long

__all__ = ["BRANCH_WORDS", "validate", "is_valid", "is_unknown"]

MAX_LENGTH = 50
# Recorded when the merchant leaves the branch for later ("先跳过"): the reviewer checks it with the bank.
NOT_GIVEN = "未提供（由审核人员向银行核实）"
_MIN_PLACE = 2  # characters of place or bank before the branch word
BRANCH_WORDS = ("支行", "分行", "营业部", "分理处", "储蓄所", "营业所", "信用社", "信用分社", "营业室",
                "网点", "分社", "信用联社", "营业厅")
_BRANCH = re.compile("|".join(BRANCH_WORDS))
_HAN = re.compile(r"[\u4e00-\u9fff]")
_SPACES = re.compile(r"\s+")
# Lead-ins: "开户行是", "新卡的开户支行：", "开在", "在", "是", "就是".
_LEAD_IN = re.compile(
    r"^(?:(?:新卡|卡|我的卡|新卡的|卡的|我的)?(?:开户支行|开户行|开户网点|开户银行|开户地|支行)(?:是|在|为|叫|名称是|名字是)?[:：]?"
    r"|(?:我的|新)?卡?(?:就是|是)?(?:开户在|开在|办在|在)|我的是|就是|是)"
)
_TAIL = re.compile(r"(?:开的卡|开的|办的卡|办的|开户的|的)?(?:[，,]?(?:谢谢|谢了|好了|吧|啊|呀))?[。.！!~～]*$")
_QUESTION = re.compile(r"[?？]|[吗呢么嘛]$|怎么|什么|为什么|哪里|哪个|哪儿|如何|多少|几")
_UNKNOWN = re.compile(
    r"不知道|不清楚|忘了|忘记|查不到|不记得|记不清|记不得|不晓得|没印象|不确定|搞不清|找不到|看不到|没注意|不太清楚|"
    r"不懂|不了解|没查|查不了"
)


def _fold(text: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


def is_unknown(text: object) -> bool:
    """True for an answer saying the merchant does not know the branch (`不知道支行`, `忘了`)."""
    if not isinstance(text, str) or too_long(text):
        return False
    return bool(_UNKNOWN.search(_fold(text)))


def validate(text: object) -> str:
    """The branch as the merchant named it (spaces and lead-ins removed); raises
    Invalid(branch_not_known), Invalid(branch_length) or Invalid(branch_format)."""
    if not isinstance(text, str) or too_long(text):
        raise Invalid(Reason.BRANCH_LENGTH, max_length=MAX_LENGTH)
    folded = _fold(text)
    if is_unknown(folded):
        raise Invalid(Reason.BRANCH_NOT_KNOWN)
    value = _TAIL.sub("", _LEAD_IN.sub("", folded, count=1))
    if _QUESTION.search(folded) or not _HAN.search(value):
        raise Invalid(Reason.BRANCH_FORMAT)
    if len(value) > MAX_LENGTH:
        raise Invalid(Reason.BRANCH_LENGTH, max_length=MAX_LENGTH)
    words = list(_BRANCH.finditer(value))
    # the branch word must follow a place or bank name: "浦东支行" yes, "支行" or "网点吧" no
    if not words or words[-1].start() < _MIN_PLACE:
        raise Invalid(Reason.BRANCH_FORMAT)
    return value


def is_valid(text: object) -> bool:
    try:
        return bool(validate(text))
    except Invalid:
        return False
