"""Value extraction: spans of card numbers, banks, names, IDs, licence codes, phones, merchant
numbers, request references and one-time codes in a merchant's message, with normalised values.

How:
1. The text is normalised without changing its length (full-width to ASCII, Chinese digit runs
   to digits: `bot.validation.normalize.normalize_digits`), then the separators merchants put
   inside numbers (`6216-6040-0000`, `6222 0210`) are removed, keeping a map back to the original
   offsets. Spans are always reported in the ORIGINAL text.
2. A blank spaCy `zh` pipeline (jieba segmenter, no download) runs an entity ruler built in code:
   phrase patterns from the bank alias table (`bot.validation.banks`) and token patterns for
   number shapes and request references.
3. Each number is classified by the words just before it (商户号, 验证码, 身份证, 手机, 执照, 卡号 ...)
   and, without such a word, by its shape and checksums (an 18-character value that passes the
   resident-ID check is an ID, one with letters is a licence code ...).
4. Names come after 户名 / 持卡人 / 姓名 ...; a message that is only a name (2-4 Chinese characters
   starting with a common surname) is a name too, since that is how merchants answer "户名是？".

Extraction finds values; judging them (checksums, BIN, debit only) is `bot.validation`'s job, so
an invalid card number is still extracted as `card_number` and the bot can say what is wrong.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Tuple

import jieba
import spacy
from spacy.language import Language

from bot.validation import bank_card, banks, licence, resident_id
from bot.validation.normalize import normalize_digits

# Only the start of a message is searched: values come early, and hostile input stays cheap.
MAX_SCAN_CHARS = 1000

ENTITY_TYPES = ("card_number", "bank", "name", "id_number", "license_number", "phone",
                "merchant_id", "request_id", "otp_code")

_INNER_SEPARATOR = re.compile(r"(?<=[0-9])[ \t\u00a0\u3000\-\u2010-\u2015\u2212.]+(?=[0-9Xx](?![A-Za-z]))")
_CJK = "\u4e00-\u9fff"
# Words just before a number that say what it is (checked nearest-first within a short window).
_CONTEXT_WORDS: Tuple[Tuple[str, str], ...] = (
    ("商户编号", "merchant_id"), ("商户号", "merchant_id"), ("商户", "merchant_id"),
    ("验证码", "otp_code"), ("校验码", "otp_code"), ("动态码", "otp_code"), ("口令", "otp_code"),
    ("短信码", "otp_code"),
    ("身份证号码", "id_number"), ("身份证号", "id_number"), ("身份证", "id_number"),
    ("证件号", "id_number"),
    ("信用代码", "license_number"), ("执照", "license_number"),
    ("手机号码", "phone"), ("手机号", "phone"), ("手机", "phone"), ("电话", "phone"),
    ("申请编号", "request_id"), ("受理号", "request_id"),
    ("卡号", "card_number"), ("账号", "card_number"), ("帐号", "card_number"),
    ("账户", "card_number"), ("帐户", "card_number"), ("新卡", "card_number"), ("卡", "card_number"),
)
_CONTEXT_WINDOW = 8

_NAME_TRIGGER = re.compile(
    rf"(?:户名|持卡人(?:姓名)?|开户人|开户名|收款人|姓名|名字|法人)(?:是|叫|为|写|:|：|\s)*"
    rf"([{_CJK}][{_CJK}·・•]{{1,14}}?)(?=$|[\s，,。.！!？?；;、]|的|卡|身份|银行|开户|手机|电话|和|，)"
)
_BARE_NAME = re.compile(rf"^\s*([{_CJK}]{{2,4}})\s*[。.!！]?\s*$")
# The most common surnames (about 90% of the population) and the usual compound ones.
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
    "戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"
    "柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古"
    "吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫"
    "寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
                      "宇文", "司徒", "夏侯", "令狐", "端木", "澹台", "呼延", "南宫")
# Two-to-four-character replies that start like a surname but are not names.
_NOT_NAMES = {"好的", "好吧", "好滴", "是的", "明白", "谢谢", "没有", "没问题", "确定", "确认", "可以",
              "行吧", "对的", "对啊", "高兴", "金额", "安全", "和平", "常用", "文件", "于是", "成功",
              "管理", "关闭", "包括", "单位", "关于", "向上", "方便", "付款", "付钱", "白天", "连接"}


# Characters that end chat particles and phrases, never a name ("谢谢啊", "错了", "好的").
_NOT_NAME_ENDINGS = set("啊呀吧了吗呢哦的嘛啦么")


def _looks_like_name(name: str) -> bool:
    surname_ok = name[0] in _SURNAMES or name[:2] in _COMPOUND_SURNAMES
    # "谢谢你", "确认无误": a phrase that begins like one of the non-names is not a name either.
    phrase = any(name.startswith(word) for word in _NOT_NAMES)
    return surname_ok and not phrase and name[-1] not in _NOT_NAME_ENDINGS


@dataclass(frozen=True)
class ExtractedValue:
    entity: str
    start: int  # offsets in the original text
    end: int
    text: str  # the span as the merchant typed it
    value: str  # normalised value (digits only, upper-case X, full bank name ...)


def _compact(text: str) -> Tuple[str, List[int]]:
    """Text with separators inside numbers removed, and for each kept character its original index."""
    kept: List[int] = []
    pieces: List[str] = []
    position = 0
    for match in _INNER_SEPARATOR.finditer(text):
        pieces.append(text[position:match.start()])
        kept.extend(range(position, match.start()))
        position = match.end()
    pieces.append(text[position:])
    kept.extend(range(position, len(text)))
    return "".join(pieces), kept


def _build_pipeline() -> Language:
    aliases = banks.all_aliases(include_ambiguous=True)
    for alias in aliases:
        if re.search(f"[{_CJK}]", alias):
            jieba.add_word(alias, freq=200000)  # keep 工行 / 招商银行 whole in jieba's cut
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER", "validate": True})
    patterns: List[dict] = []
    for alias, bank in aliases.items():
        if alias in banks.AMBIGUOUS_ALIASES:
            # 工商 / 建设 / 平安 are everyday words: a bank only when 银行 / 卡 / 的卡 follows.
            for follower in ("银行", "卡", "的", "的卡", "借记卡", "储蓄卡"):
                patterns.append({"label": "bank_before_word", "id": bank.code,
                                 "pattern": [{"LOWER": alias.lower()}, {"TEXT": follower}]})
        else:
            patterns.append({"label": "bank", "id": bank.code, "pattern": alias.lower()})
    patterns += [
        {"label": "number", "pattern": [{"TEXT": {"REGEX": r"^[0-9]{6,30}$"}}]},
        {"label": "number", "pattern": [{"TEXT": {"REGEX": r"^[0-9]{17}[Xx]$"}}]},
        {"label": "licence_shape",
         "pattern": [{"TEXT": {"REGEX": r"^[0-9A-Za-z]{18}$"}, "IS_DIGIT": False}]},
        {"label": "request_id", "pattern": [{"LOWER": {"REGEX": r"^cr[0-9]{8}$"}}, {"TEXT": "-"},
                                            {"TEXT": {"REGEX": r"^[0-9A-Za-z]{4}$"}}]},
        {"label": "request_id", "pattern": [{"LOWER": {"REGEX": r"^cr[0-9]{8}-?[0-9a-z]{4}$"}}]},
    ]
    ruler.add_patterns(patterns)
    return nlp


@lru_cache(maxsize=1)
def _pipeline() -> Language:
    return _build_pipeline()


def _context_label(compact: str, start: int) -> Optional[str]:
    window = compact[max(0, start - _CONTEXT_WINDOW):start]
    best: Optional[Tuple[int, str]] = None
    for word, label in _CONTEXT_WORDS:
        at = window.rfind(word)
        if at >= 0:
            candidate = (at + len(word), label)  # nearest to the number wins; longer word on a tie
            if best is None or candidate[0] > best[0]:
                best = candidate
    return best[1] if best else None


def _shape_label(value: str) -> Optional[str]:
    digits = value.isdigit()
    if digits and len(value) == 6:
        return "otp_code"
    if digits and len(value) == 11 and re.match(r"^1[3-9]", value):
        return "phone"
    if digits and len(value) == 13 and re.match(r"^861[3-9]", value):
        return "phone"
    if len(value) == 18:
        if resident_id.is_valid(value):
            return "id_number"
        if licence.is_valid(value):
            return "license_number"
        if not value[:17].isdigit():
            return "license_number"
        if bank_card.lookup(value) is not None:
            return "card_number"
        return "id_number" if re.match(r"^\d{6}(19|20)\d{2}(0[1-9]|1[0-2])", value) else "card_number"
    if digits and len(value) == 15:
        row = bank_card.lookup(value)
        return "card_number" if row is not None and bank_card.luhn_ok(value) else "merchant_id"
    if digits and 8 <= len(value) <= 30:
        return "card_number"
    return None


def _normalised(label: str, value: str) -> str:
    value = value.upper()
    if label == "phone" and len(value) == 13 and value.startswith("86"):
        return value[2:]
    if label == "request_id":
        value = value.replace("-", "")
        return f"{value[:10]}-{value[10:]}"
    return value


class ValueExtractor:
    """Extracts `ExtractedValue`s from a message. One instance per process is enough."""

    def __init__(self) -> None:
        self.nlp = _pipeline()

    def extract(self, text: object) -> List[ExtractedValue]:
        if not isinstance(text, str) or not text.strip():
            return []
        original = text[:MAX_SCAN_CHARS]
        compact, index = _compact(normalize_digits(original))
        if not compact:
            return []
        found: List[ExtractedValue] = []

        def add(label: str, start: int, end: int, value: str) -> None:
            first, last = index[start], index[end - 1] + 1
            found.append(ExtractedValue(label, first, last, original[first:last], value))

        doc = self.nlp(compact)
        for span in doc.ents:
            if span.label_ == "bank":
                add("bank", span.start_char, span.end_char, banks.bank_name(span.ent_id_))
            elif span.label_ == "bank_before_word":
                alias = span[0]
                add("bank", alias.idx, alias.idx + len(alias.text), banks.bank_name(span.ent_id_))
            elif span.label_ == "request_id":
                add("request_id", span.start_char, span.end_char,
                    _normalised("request_id", span.text))
            elif span.label_ in ("number", "licence_shape"):
                value = span.text.upper()
                label = _context_label(compact, span.start_char) or _shape_label(value)
                if span.label_ == "licence_shape" and label not in ("license_number", "id_number"):
                    label = "license_number"  # letters inside: never a card or phone number
                if label:
                    add(label, span.start_char, span.end_char, _normalised(label, value))
        found.extend(self._names(original, compact, index))
        return sorted(found, key=lambda value: value.start)

    @staticmethod
    def _names(original: str, compact: str, index: List[int]) -> Iterable[ExtractedValue]:
        for match in _NAME_TRIGGER.finditer(compact):
            name = match.group(1)
            if not _looks_like_name(name):
                continue  # "户名写错了", "持卡人身份证号": a trigger word, but no name after it
            start, end = match.start(1), match.end(1)
            first, last = index[start], index[end - 1] + 1
            yield ExtractedValue("name", first, last, original[first:last],
                                 re.sub("[・•]", "·", name))
        bare = _BARE_NAME.match(compact)
        if bare and not _NAME_TRIGGER.search(compact):
            name = bare.group(1)
            if _looks_like_name(name) and not banks.is_valid(name):
                start, end = bare.start(1), bare.end(1)
                first, last = index[start], index[end - 1] + 1
                yield ExtractedValue("name", first, last, original[first:last], name)


@lru_cache(maxsize=1)
def _default_extractor() -> ValueExtractor:
    return ValueExtractor()


def extract_values(text: object) -> List[ExtractedValue]:
    """Values in `text` with a shared extractor (builds the spaCy pipeline on first use)."""
    return _default_extractor().extract(text)


def values_by_entity(text: object) -> Dict[str, str]:
    """{entity: value} of the first value of each kind: handy for tests and the agent console."""
    values: Dict[str, str] = {}
    for value in extract_values(text):
        values.setdefault(value.entity, value.value)
    return values
