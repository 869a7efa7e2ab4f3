"""Why the merchant changes the settlement card, from their own words: a category with a Chinese
label, or their words as an "other" reason.

Asked for the reason, merchants write `卡丢了`, `店铺转让给别人了`, `换老板了`, `原卡被冻结`,
`不想用这家银行了` far more often than they tap a button. `validate` returns a `ChangeReason`:

- **strong**: words of a category matched (`店铺转让了` -> 经营者变更/店铺转让). The dialogue lets a
  strong match beat the intent the classifier guessed (`店铺转让给别人了` is no security question).
- **weak**: no category, but the words can stand as an "other" reason (2-100 characters, some
  Chinese, not a question, not a greeting, thanks or a command, no long number). The dialogue
  takes a weak reason only when the message is not obviously something else.

A negation just before a category's words cancels them (`卡没丢，是被冻结了` is 冻结). Several
categories: the first mentioned wins (`卡丢了，顺便换个银行` is 原卡丢失). `question` says the
words also read as a question (`卡丢了怎么办？`): the dialogue may ask which was meant.

>>> validate("店铺转让给别人了").label
'经营者变更/店铺转让'
>>> reason = validate("店里要装修，先换张卡")
>>> reason.strong, reason.value
(False, '其他原因：店里要装修，先换张卡')
>>> validate("卡没丢，是被冻结了").category
<Category.CARD_FROZEN: 'card_frozen'>
>>> validate("你好")
Traceback (most recent call last):
    ...
bot.validation.errors.Invalid: reason_unclear
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import Dict, List, Optional, Tuple

from bot.validation.errors import Invalid, Reason
from bot.validation.normalize import normalize_digits, too_long

__all__ = ["Category", "ChangeReason", "LABELS", "classify", "validate", "is_valid"]

MIN_LENGTH, MAX_LENGTH = 2, 100


class Category(str, Enum):
    CARD_LOST = "card_lost"
    CARD_CANCELLED = "card_cancelled"
    CARD_FROZEN = "card_frozen"
    SWITCH_BANK = "switch_bank"
    NAME_CHANGED = "name_changed"
    OWNER_CHANGED = "owner_changed"
    OTHER = "other"


# What the merchant reads in the confirmation and the reviewer in the request (also the buttons).
LABELS: Dict[Category, str] = {
    Category.CARD_LOST: "原卡丢失",
    Category.CARD_CANCELLED: "原卡已注销",
    Category.CARD_FROZEN: "原卡被冻结/异常",
    Category.SWITCH_BANK: "更换开户银行",
    Category.NAME_CHANGED: "商户名称变更",
    Category.OWNER_CHANGED: "经营者变更/店铺转让",
    Category.OTHER: "其他原因",
}

_BANK = r"(?:银行|行|农信|信用社)"
# Each category's words as regular expressions; order within a category does not matter.
_WORDS: Dict[Category, Tuple[str, ...]] = {
    Category.CARD_LOST: (
        "丢", "遗失", "掉了", "弄没了", "找不到", "找不着", "不见了", "被偷", "被盗", "被抢", "偷了", "挂失",
    ),
    Category.CARD_CANCELLED: (
        "注销", "销户", "销卡", "销掉", "作废", "卡销了", "账户销了", "卡被销", "撤销",
    ),
    Category.CARD_FROZEN: (
        "冻结", "冻住", "止付", "用不了", "不能用", "没法用", "无法使用", "不好使", "异常", "被锁", "锁卡",
        "锁了", "坏了", "消磁", "受限", "限制", "过期", "到期", "收不到钱", "到不了账", "不到账", "停用",
        "睡眠户", "久悬", "管控",
    ),
    Category.SWITCH_BANK: (
        "更换开户银行", "换开户行", "开户行换", "换(?:个|一个|一家|家|张别的)?银行", f"换成.{{0,8}}{_BANK}",
        f"改成.{{0,8}}{_BANK}", f"换到.{{0,8}}{_BANK}", f"改用.{{0,8}}{_BANK}", f"转到.{{0,8}}{_BANK}",
        f"想用.{{0,8}}{_BANK}的卡", f"不想用(?:这|那|原来)[个家张]?{_BANK}?", f"不用(?:这|那|原来)[个家]{_BANK}?",
        f"(?:这|那)[个家]{_BANK}.{{0,6}}(?:不好|太差|太慢|麻烦|贵)", "手续费", "换一家",
    ),
    Category.NAME_CHANGED: (
        "名称变更", "名称变了", "名称改", "改名", "更名", "名字改", "名字变", "换名", "改了名", "店名",
        "换了名字", "换名字", "名字换",
    ),
    Category.OWNER_CHANGED: (
        "转让", "换老板", "老板换", "换了老板", "新老板", "转给", "盘给", "盘出去", "盘下", "卖给", "店卖了",
        "顶给", "法人变更", "换法人", "法人换", "经营者变更", "经营者换", "换经营者", "换了经营者", "过户",
        "接手", "转手",
    ),
}
# "其他原因" (the button) and its short forms: the category is chosen, the words are not a reason.
_OTHER_BUTTON = re.compile(r"(?:其他原因|其它原因|其他|其它)[。.!！]?")
_PATTERNS: List[Tuple[Category, re.Pattern]] = [
    (category, re.compile("|".join(words))) for category, words in _WORDS.items()
]
_NEGATION = re.compile(r"(?:没有?|没被|不是|并没有?|未|并非)$")
_CLAUSE = re.compile(r"[，,。.！!？?；;、\s]")
_QUESTION = re.compile(
    r"[?？]|[吗呢么嘛]$|怎么|什么|为什么|为啥|多久|几天|哪里|哪儿|哪个|哪家|能不能|可不可以|可以吗|是不是|"
    r"要不要|如何|多少|咋"
)
# Replies that are no reason at all: greetings, thanks, acknowledgements, commands of the service.
_UNCLEAR = re.compile(
    r"(?:你好|您好|在吗|在不在|hello|hi|谢谢|多谢|感谢|辛苦了|好的|好滴|好吧|嗯+|哦+|噢|ok|okay|收到|知道了|明白|"
    r"行|可以|是的|对|对的|没问题|随便|不知道|不清楚|没有|无|哈+|呵+|取消|算了|不办了|不改了|不换了|"
    r"转人工|人工|人工客服|客服|投诉|再见|拜拜|888?)[。.!！~～]*",
    re.IGNORECASE,
)
_LONG_NUMBER = re.compile(r"[0-9]{6,}")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class ChangeReason:
    """A reason the merchant gave. `value` is what the form stores and the confirmation shows."""

    category: Category
    words: str  # the merchant's words, trimmed
    strong: bool  # a category's words matched (or the "其他原因" button)
    question: bool = False  # the words also read as a question

    @property
    def label(self) -> str:
        return LABELS[self.category]

    @property
    def value(self) -> str:
        if self.category is Category.OTHER and not self.strong:
            return f"{self.label}：{self.words}"
        return self.label


def _folded(text: str) -> str:
    """For matching only: half-width punctuation and letters (the stored words keep the merchant's)."""
    return unicodedata.normalize("NFKC", text).strip()


def classify(text: object) -> Optional[Category]:
    """The category the words name, or None; the first mentioned wins, negated words do not count."""
    if not isinstance(text, str) or too_long(text):
        return None
    compacted = _folded(text)
    if _OTHER_BUTTON.fullmatch(compacted):
        return Category.OTHER
    found: List[Tuple[int, Category]] = []
    for category, pattern in _PATTERNS:
        for match in pattern.finditer(compacted):
            clause = _CLAUSE.split(compacted[max(0, match.start() - 4):match.start()])[-1]
            if not _NEGATION.search(clause):
                found.append((match.start(), category))
                break
    return min(found)[1] if found else None


def validate(text: object) -> ChangeReason:
    """A `ChangeReason` (strong or weak, see the module docstring); raises Invalid(reason_length),
    Invalid(reason_format), Invalid(reason_question) or Invalid(reason_unclear)."""
    if not isinstance(text, str) or too_long(text):
        raise Invalid(Reason.REASON_LENGTH, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    words = " ".join(text.split())
    folded = _folded(words)
    question = bool(_QUESTION.search(folded))
    category = classify(words)
    if category is not None:
        return ChangeReason(category, words, strong=True, question=question)
    if not MIN_LENGTH <= len(words) <= MAX_LENGTH:
        raise Invalid(Reason.REASON_LENGTH, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    if not _HAN.search(words):
        raise Invalid(Reason.REASON_FORMAT)
    if _UNCLEAR.fullmatch(folded) or _LONG_NUMBER.search(normalize_digits(folded)):
        raise Invalid(Reason.REASON_UNCLEAR)
    if question:
        raise Invalid(Reason.REASON_QUESTION)
    return ChangeReason(Category.OTHER, words, strong=False)


def is_valid(text: object) -> bool:
    try:
        return bool(validate(text))
    except Invalid:
        return False
