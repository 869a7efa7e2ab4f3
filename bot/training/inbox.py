"""The trainer inbox: merchants' real messages worth a trainer's look (issue 13, item 1).

Read from the tracker store (bot.training.tracker_events), a merchant's message is in the inbox when

- it fell back (`fallback`): the classifier was not sure enough (intent `nlu_fallback`), or the
  dialogue answered with a fallback (action_fallback, Rasa's default fallback or rephrase ask);
- it was classified below the threshold (`low_confidence`): TRAINER_LOW_CONFIDENCE, default 0.6.
  For a FAQ question, the lower of the intent's and the response selector's confidence;
- the merchant corrected the bot right after it (`corrected`): the next message says so ("不是这个
  意思", "你理解错了"), or denies or corrects (intents deny and correct_info, "不对") an answer that
  asked nothing, or rephrases a message that fell back. Inside a form "不对" and "卡号输错了"
  correct the merchant's own value, and after "还有其他需要吗？" a "不用了" is an answer: neither
  says the bot misunderstood;
- it came right before a handoff (`before_handoff`): the message after which the merchant asked for
  a person (request_human, complain: the bot did not help), or the one on which the bot gave up
  understanding (a second fallback in a row). Handoffs the bot opens for business reasons (an
  overdue request, a holder of another name, values refused three times) say nothing about
  understanding and are left out.

Not in it: what no trainer can label. Button and channel payloads (`/request_human`,
`/document_uploaded{...}`, `/message_too_long`, the clarification buttons), empty messages, and what
merchants write to an agent while handed off (the bot only acknowledges those).

Everything is redacted before it is grouped, shown or exported (`redact_for_training`). Messages
that differ only in punctuation, case, full-width forms, trailing particles (啊呀吧呢嘛哈) or the
numbers they contain are one group (`normalise`), and so are very similar ones (character-bigram
Jaccard >= 0.8); each group has a stable key, the digest of its normalised text.

A trainer's decisions (`dismiss`, `record_label`) live in the application database
(`training_inbox_decisions`, keyed by the group's key), not in the tracker store Rasa owns; a group
decided once stays out of the inbox, also when the same message comes again.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import InboxDecision, TrainingInboxDecision, audit
from bot.masking import MASK, redact
from bot.training import tracker_events
from bot.validation.normalize import CHINESE_DIGITS, SEPARATORS, WEAK_CHINESE_DIGITS, compact_number, normalize_digits
from bot.workdays import to_local_iso, utcnow

REASON_LABELS = {
    "fallback": "未识别（兜底）",
    "low_confidence": "置信度低",
    "corrected": "商户随后纠正",
    "before_handoff": "随后转人工",
}
DEFAULT_LOW_CONFIDENCE = 0.6
THRESHOLD_ENV = "TRAINER_LOW_CONFIDENCE"
MAX_EXAMPLES = 5
SIMILAR_JACCARD = 0.8

FALLBACK_INTENT = "nlu_fallback"
# What the dialogue runs or says when it did not understand (config.yml, data/stories/rules.yml,
# actions/flow.py ActionFallback, and Rasa's own fallbacks).
FALLBACK_ACTIONS = frozenset({"action_fallback", "action_default_fallback", "action_two_stage_fallback",
                              "action_default_ask_rephrase", "action_default_ask_affirmation"})
FALLBACK_RESPONSES = frozenset({"utter_default", "utter_ask_rephrase", "utter_fallback_handoff"})
# Intents only the channels and buttons send (domain.yml): no merchant typed them.
SYNTHETIC_INTENTS = frozenset({"document_uploaded", "message_too_long", "resume_bot",
                               "clarified_as_answer", "clarified_as_question"})
# The slot a handoff sets (bot/rasa/policies.py) and the action that opens one when the merchant
# asks for a person (request_human, complain; actions/flow.py ActionHandoff).
HANDOFF_SLOT = "handoff"
HANDOFF_ON_REQUEST = "action_handoff"
CORRECTION_INTENTS = frozenset({"deny", "correct_info"})
# Words that say the bot misunderstood, whatever the classifier made of them.
_MISUNDERSTOOD = re.compile(r"不是这个意思|不是那个意思|我不是问这个|不是问这个|答非所问|(?:你|您)?理解错了|"
                            r"(?:你|您)?没(?:听|看)?懂我|(?:你|您)?搞错了|我说的不是这个")
_BARE_DENIALS = frozenset({"不对", "不是", "错了", "不对不对", "不是的", "你错了"})
# Intents of a next message that is no rephrasing of a message that fell back.
_NOT_A_REPHRASING = frozenset({"request_human", "complain", "cancel", "greet", "goodbye", "thank",
                               "affirm", "deny"})


# --- redaction -------------------------------------------------------------------------------------

_CODE_WORDS = "验证码|校验码|动态码|动态口令|短信码|口令|密码"
# Digits named as a code (`验证码是 493 817`): 4 to 8 of them, a space or dash allowed between.
_NAMED_CODE = re.compile(rf"(?:{_CODE_WORDS})[^0-9]{{0,6}}?([0-9](?:[ -]?[0-9]){{3,7}})(?![0-9])")
# Six digits standing alone: not inside a longer number, a word (`iPhone15`, a licence code), a
# masked number, a date or a time (`2026-11-25`, `10:30`).
_SIX_DIGITS = re.compile(r"(?<![0-9A-Za-z*])(?<![0-9][-/.:])[0-9]{6}(?![0-9A-Za-z*])(?![-/.:][0-9])")
# ... unless a unit says it is a quantity (`100000元`, `202611月`).
_QUANTITY_AFTER = re.compile(r"\s*(?:年|月|日|号|元|块|万|千|百|天|个|张|台|次|笔|岁|%|小时|秒|米|斤)")
_BARE_NUMBER = re.compile("[" + re.escape("0123456789" + "".join(CHINESE_DIGITS) + "".join(WEAK_CHINESE_DIGITS)
                          + SEPARATORS) + r"\s]+")


def redact_for_training(text: str) -> str:
    """`text` as trainers may see and keep it: card, account, ID and phone numbers masked as
    everywhere (`bot.masking.redact`, `****0124`), and one-time codes masked whole (`******`).

    Why codes too, which `redact` leaves (a log line needs them to follow a conversation, and a
    code is worthless five minutes later): what the inbox shows is copied into data/nlu/, kept in
    git for years and read by people who never needed it; an example with real code digits also
    teaches the classifier those digits instead of the shape. A code is
    - digits named as one (`验证码493817`, `动态口令是 4938 17`), 4 to 8 of them;
    - a message that is nothing but 4 to 8 digits, in any form (`四九三八一七`): the answer to
      "请输入验证码";
    - 6 digits standing alone in a sentence (the project's codes are 6 digits), unless a unit follows
      (`100000元`) or they are part of a date, a time, a longer number or a word.
    Other short numbers stay readable: amounts, years, a card's last four (`尾号0124`) are what a
    trainer needs to understand the message.

    >>> redact_for_training("卡号6222021000000000124，验证码493817")
    '卡号****0124，验证码******'
    >>> redact_for_training("幺三八零零零零零零零一 收不到 123456")
    '****0001 收不到 ******'
    >>> redact_for_training("2026年押金5000元，尾号0124的卡")
    '2026年押金5000元，尾号0124的卡'
    """
    if not isinstance(text, str) or not text:
        return ""
    redacted = redact(text)
    if _BARE_NUMBER.fullmatch(redacted):
        digits = "".join(ch for ch in compact_number(redacted) if ch.isdigit())
        if 4 <= len(digits) <= 8:
            return MASK * len(digits)
    normalized = normalize_digits(redacted)  # same length: spans carry over to `redacted`
    spans = [match.span(1) for match in _NAMED_CODE.finditer(normalized)]
    spans += [match.span() for match in _SIX_DIGITS.finditer(normalized)
              if not _QUANTITY_AFTER.match(normalized, match.end())]
    if not spans:
        return redacted
    pieces, position = [], 0
    for start, end in sorted(spans):
        if start < position:  # the same digits found by both rules
            continue
        digits = sum(ch.isdigit() for ch in normalized[start:end])
        pieces += [redacted[position:start], MASK * digits]
        position = end
    pieces.append(redacted[position:])
    return "".join(pieces)


# --- grouping --------------------------------------------------------------------------------------

_MASKED_NUMBER = re.compile(r"\*+[0-9x]*")
NUMBER_TOKEN = "#"
_TRAILING_PARTICLES = "啊呀吧呢嘛哈哦啦呗嗯"
_LEADING_PARTICLES = "啊嗯哦呃额"  # not 哈 or 呀: 哈尔滨银行


def _separates(char: str) -> bool:
    return char != NUMBER_TOKEN and unicodedata.category(char)[0] in "PSZC"


def normalise(text: str) -> str:
    """The form near-duplicates share: NFKC, lower case, masked numbers as one `#`, no punctuation,
    symbols or white space, no particles at the start or end of a clause.

    >>> normalise("卡号 ****0124 不对啊！！")
    '卡号#不对'
    >>> normalise("ＰＯＳ机 坏了吧？")
    'pos机坏了'
    """
    folded = _MASKED_NUMBER.sub(NUMBER_TOKEN, unicodedata.normalize("NFKC", text or "").lower())
    clauses = ["".join(chars) for separator, chars in itertools.groupby(folded, key=_separates) if not separator]
    stripped = "".join(clause.rstrip(_TRAILING_PARTICLES).lstrip(_LEADING_PARTICLES) for clause in clauses)
    # A message of particles or punctuation only ("哈哈", "？？？") is its own group.
    return stripped or "".join(clauses) or folded.strip()


def group_key(normalised_text: str) -> str:
    """A group's stable key: the first 16 hex digits of the SHA-256 of its normalised text."""
    return hashlib.sha256(normalised_text.encode("utf-8")).hexdigest()[:16]


def _bigrams(text: str) -> frozenset[str]:
    return frozenset(text[i:i + 2] for i in range(len(text) - 1)) or frozenset({text})


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    return len(a & b) >= SIMILAR_JACCARD * len(a | b)


# --- reading the conversations ---------------------------------------------------------------------


@dataclass
class _Turn:
    """One merchant message and what the dialogue did with it, up to the next message."""

    conversation_id: str
    session: int  # Rasa session within the conversation (session_started, restart)
    timestamp: float
    text: str
    intent: str | None
    predicted: str | None  # `faq/fees` for a FAQ question
    confidence: float | None
    ranking: tuple[tuple[str, float], ...]
    in_form: bool  # a form was asking a question when the message came
    handed_off: bool  # an agent had the conversation: the bot only acknowledged
    actions: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)  # names of the responses the bot uttered
    last_bot_text: str = ""
    opened_handoff: bool = False

    @property
    def learnable(self) -> bool:
        text = self.text.strip()
        return (bool(text) and not text.startswith("/") and self.intent not in SYNTHETIC_INTENTS
                and not self.handed_off)

    @property
    def fell_back(self) -> bool:
        return (self.intent == FALLBACK_INTENT or any(action in FALLBACK_ACTIONS for action in self.actions)
                or any(response in FALLBACK_RESPONSES for response in self.responses))


def _prediction(parse_data: dict[str, Any]) -> tuple[str | None, str | None, float | None, tuple]:
    """(intent, what to show as the prediction, confidence, the real intents ranked)."""
    top = parse_data.get("intent") or {}
    intent = top.get("name")
    ranking = tuple((str(item["name"]), float(item.get("confidence") or 0.0))
                    for item in parse_data.get("intent_ranking") or []
                    if item.get("name") and item.get("name") != FALLBACK_INTENT)
    confidence = top.get("confidence")
    confidence = float(confidence) if isinstance(confidence, (int, float)) else None
    if intent == FALLBACK_INTENT:
        # Its confidence is the threshold; the intent it was not sure enough of says more.
        return intent, intent, (ranking[0][1] if ranking else None), ranking
    predicted = intent
    selected = ((parse_data.get("response_selector") or {}).get(intent) or {}).get("response") or {}
    if selected.get("intent_response_key") or top.get("full_retrieval_intent_name"):
        predicted = selected.get("intent_response_key") or top.get("full_retrieval_intent_name")
        if isinstance(selected.get("confidence"), (int, float)) and confidence is not None:
            confidence = min(confidence, float(selected["confidence"]))
    return intent, predicted, confidence, ranking


def _turns(events: Iterable[tracker_events.StoredEvent]) -> list[_Turn]:
    """The merchant messages of one conversation's events, in order."""
    turns: list[_Turn] = []
    current: _Turn | None = None
    session, active_loop, handoff = 0, None, None
    for event in events:
        data, kind = event.data, event.data.get("event", event.type_name)
        if kind == "user":
            intent, predicted, confidence, ranking = _prediction(data.get("parse_data") or {})
            current = _Turn(event.conversation_id, session, float(data.get("timestamp") or event.timestamp),
                            str(data.get("text") or ""), intent, predicted, confidence, ranking,
                            in_form=active_loop is not None, handed_off=bool(handoff))
            turns.append(current)
        elif kind in ("session_started", "restart"):
            # A new session starts from scratch (the slots it carries over are set again after
            # this); what comes before the next message belongs to no message.
            session, active_loop, handoff, current = session + 1, None, None, None
        elif kind == "active_loop":
            active_loop = data.get("name")
        elif kind == "slot" and data.get("name") == HANDOFF_SLOT:
            if data.get("value") and not handoff and current is not None:
                current.opened_handoff = True
            handoff = data.get("value")
        elif current is not None and kind == "action" and data.get("name"):
            current.actions.append(data["name"])
        elif current is not None and kind == "bot":
            response = (data.get("metadata") or {}).get("utter_action")
            if response:
                current.responses.append(response)
            current.last_bot_text = data.get("text") or current.last_bot_text
    return turns


def _asked_something(bot_text: str) -> bool:
    return "？" in bot_text or "?" in bot_text


def _corrects(turn: _Turn, following: _Turn) -> bool:
    """Says the message right after `turn` that the bot got `turn` wrong?"""
    if not following.learnable:
        return False
    if _MISUNDERSTOOD.search(following.text):
        return True
    if turn.fell_back:  # said again in other words
        return (following.intent not in _NOT_A_REPHRASING
                and normalise(redact_for_training(following.text)) != normalise(redact_for_training(turn.text)))
    denies = following.intent in CORRECTION_INTENTS or normalise(following.text) in _BARE_DENIALS
    return denies and not turn.in_form and not _asked_something(turn.last_bot_text)


def _same_session(turns: Sequence[_Turn], index: int) -> _Turn | None:
    following = turns[index + 1] if index + 1 < len(turns) else None
    return following if following is not None and following.session == turns[index].session else None


@dataclass
class _Flagged:
    turn: _Turn
    text: str  # redacted
    reasons: frozenset[str]
    suggested_intent: str | None  # what the merchant's rephrasing was understood as


def _flagged(turns: Sequence[_Turn], threshold: float) -> Iterable[_Flagged]:
    for index, turn in enumerate(turns):
        if not turn.learnable:
            continue
        following = _same_session(turns, index)
        reasons: set[str] = set()
        if turn.fell_back:
            reasons.add("fallback")
        elif turn.confidence is not None and turn.confidence < threshold:
            reasons.add("low_confidence")
        suggested = None
        if following is not None and _corrects(turn, following):
            reasons.add("corrected")
            if (turn.fell_back and not following.fell_back and following.confidence is not None
                    and following.confidence >= threshold):
                suggested = following.predicted
        asked_for_person = (following is not None and following.opened_handoff
                            and HANDOFF_ON_REQUEST in following.actions)
        if asked_for_person or (turn.opened_handoff and turn.fell_back):
            reasons.add("before_handoff")
        if reasons:
            yield _Flagged(turn, redact_for_training(turn.text.strip()), frozenset(reasons), suggested)


# --- the inbox -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxEntry:
    """One group of near-identical messages, as the console and `bot trainer inbox` show it."""

    key: str  # stable group key: first 16 hex of the SHA-256 of the group's normalised redacted text
    text: str  # redacted text of the group's latest message
    count: int  # messages in the group
    reasons: tuple[str, ...]  # sorted codes of REASON_LABELS
    predicted_intent: str | None  # for the latest message: intent, `faq/x`, or `nlu_fallback`
    confidence: float | None  # of that prediction (a fallback: of the best intent it was not sure of)
    conversations: tuple[str, ...]  # conversation ids, newest first, numbers masked
    last_seen: str  # local ISO 8601
    examples: tuple[str, ...]  # up to 5 distinct redacted texts of the group, newest first
    suggested_intent: str | None = None  # what the merchant's rephrasing right after was understood as
    ranking: tuple[tuple[str, float], ...] = ()  # the latest message's three likeliest intents
    decision: str | None = None  # dismissed / labelled (only with include_decided)
    labelled_intent: str | None = None

    @property
    def reason_labels(self) -> tuple[str, ...]:
        return tuple(REASON_LABELS[reason] for reason in self.reasons)

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "text": self.text,
            "count": self.count,
            "reasons": list(self.reasons),
            "reason_labels": list(self.reason_labels),
            "predicted_intent": self.predicted_intent,
            "confidence": self.confidence,
            "conversations": list(self.conversations),
            "last_seen": self.last_seen,
            "examples": list(self.examples),
            "suggested_intent": self.suggested_intent,
            "ranking": [{"intent": intent, "confidence": confidence} for intent, confidence in self.ranking],
            "decision": self.decision,
            "labelled_intent": self.labelled_intent,
        }


def low_confidence_threshold() -> float:
    """Below this confidence a message goes to the inbox: TRAINER_LOW_CONFIDENCE, default 0.6."""
    raw = os.environ.get(THRESHOLD_ENV, "").strip()
    if not raw:
        return DEFAULT_LOW_CONFIDENCE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{THRESHOLD_ENV} must be a number from 0 to 1, got {raw!r}")
    return value


@dataclass
class _Group:
    normalised: list[str]  # the first one names the group (its key)
    grams: frozenset[str]
    messages: list[_Flagged]


def _groups(flagged: Iterable[_Flagged]) -> list[_Group]:
    """Equal normalised texts first, then very similar ones, oldest first: a group keeps the key
    of its oldest message however many similar ones join it later."""
    exact: dict[str, list[_Flagged]] = {}
    for message in sorted(flagged, key=lambda m: m.turn.timestamp):
        exact.setdefault(normalise(message.text), []).append(message)
    groups: list[_Group] = []
    by_bigram: dict[str, list[int]] = {}
    for text, messages in exact.items():  # insertion order: oldest first
        grams = _bigrams(text)
        candidates = sorted({index for gram in grams for index in by_bigram.get(gram, ())})
        similar = next((index for index in candidates if _similar(grams, groups[index].grams)), None)
        if similar is None:
            groups.append(_Group([text], grams, list(messages)))
            for gram in grams:
                by_bigram.setdefault(gram, []).append(len(groups) - 1)
        else:
            groups[similar].normalised.append(text)
            groups[similar].messages.extend(messages)
    return groups


def _decisions(app_session: Session | None) -> dict[str, TrainingInboxDecision]:
    """Decisions by key; none where there is no application database (yet) or it is not migrated."""
    if app_session is None:
        return {}
    if not sa.inspect(app_session.connection()).has_table(TrainingInboxDecision.__tablename__):
        return {}
    return {row.key: row for row in app_session.scalars(sa.select(TrainingInboxDecision))}


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _entry(group: _Group, decision: TrainingInboxDecision | None) -> InboxEntry:
    newest_first = sorted(group.messages, key=lambda m: m.turn.timestamp, reverse=True)
    latest = newest_first[0]
    confidence = latest.turn.confidence
    return InboxEntry(
        key=group_key(group.normalised[0]),
        text=latest.text,
        count=len(newest_first),
        reasons=tuple(sorted(set().union(*(m.reasons for m in newest_first)))),
        predicted_intent=latest.turn.predicted,
        confidence=round(confidence, 4) if confidence is not None else None,
        conversations=tuple(_distinct(redact(m.turn.conversation_id) for m in newest_first)),
        last_seen=to_local_iso(datetime.fromtimestamp(latest.turn.timestamp, tz=timezone.utc)) or "",
        examples=tuple(_distinct(m.text for m in newest_first)[:MAX_EXAMPLES]),
        suggested_intent=next((m.suggested_intent for m in newest_first if m.suggested_intent), None),
        ranking=tuple((intent, round(value, 4)) for intent, value in latest.turn.ranking[:3]),
        decision=decision.decision.value if decision is not None else None,
        labelled_intent=decision.intent if decision is not None else None,
    )


def _newest_groups_first(tracker_url: str | None, threshold: float | None) -> list[_Group]:
    threshold = low_confidence_threshold() if threshold is None else threshold
    events = tracker_events.read_events(tracker_url or tracker_events.tracker_database_url())
    flagged: list[_Flagged] = []
    for _, conversation in itertools.groupby(events, key=lambda event: event.conversation_id):
        flagged.extend(_flagged(_turns(conversation), threshold))
    return sorted(_groups(flagged), key=lambda group: max(m.turn.timestamp for m in group.messages), reverse=True)


def read_inbox(app_session: Session | None, tracker_url: str | None = None, threshold: float | None = None,
               include_decided: bool = False) -> list[InboxEntry]:
    """The inbox, newest group first. Groups a trainer dismissed or labelled are left out unless
    `include_decided`. `app_session` may be None where there is no application database yet (a
    fresh var/): then nothing is decided. A missing tracker store is an empty inbox."""
    decisions = _decisions(app_session)
    entries = []
    for group in _newest_groups_first(tracker_url, threshold):
        decision = next((decisions[key] for key in map(group_key, group.normalised) if key in decisions), None)
        if decision is None or include_decided:
            entries.append(_entry(group, decision))
    return entries


def find_entry(app_session: Session | None, key: str, tracker_url: str | None = None,
               threshold: float | None = None) -> InboxEntry | None:
    """The group with this key, decided or not; None when the inbox has no such group."""
    return next((entry for entry in read_inbox(app_session, tracker_url, threshold, include_decided=True)
                 if entry.key == key), None)


def conversation_of(key: str, tracker_url: str | None = None, threshold: float | None = None) -> str | None:
    """The real id of the conversation that holds the group's latest message, decided or not; None
    when the inbox has no such group. For tools that read that conversation back (`bot trainer
    story --key`): entries show conversation ids masked, and a masked id finds nothing. Never show
    what this returns."""
    for group in _newest_groups_first(tracker_url, threshold):
        if group_key(group.normalised[0]) == key:
            return max(group.messages, key=lambda message: message.turn.timestamp).turn.conversation_id
    return None


# --- decisions -------------------------------------------------------------------------------------

_KEY = re.compile(r"[0-9a-f]{16}")
_INTENT = re.compile(r"[a-z][a-z0-9_]*(?:/[a-z0-9_]+)?")


def checked_key(key: str) -> str:
    """`key` if it has the form of a group key (16 lower-case hex digits); else ValueError."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"not an inbox key (16 hex digits): {redact(str(key))[:40]!r}")
    return key


def _commit(app_session: Session) -> None:
    try:
        app_session.commit()
    except IntegrityError:  # another trainer decided this group at the same moment: theirs stands
        app_session.rollback()


def dismiss(app_session: Session, key: str, actor: str) -> None:
    """Take the group out of the inbox: nothing to learn from it. Idempotent (a group dismissed or
    labelled already stays as it is); audited and committed."""
    checked_key(key)
    if app_session.get(TrainingInboxDecision, key) is not None:
        return
    app_session.add(TrainingInboxDecision(key=key, decision=InboxDecision.DISMISSED, actor=actor,
                                          decided_at=utcnow()))
    audit(app_session, actor, "training.inbox_dismissed", key=key)
    _commit(app_session)


def record_label(app_session: Session, key: str, intent: str, actor: str) -> None:
    """The trainer labelled the group with `intent` (or a FAQ sub-intent, `faq/fees`): it leaves the
    inbox. Idempotent (the same label again changes nothing; another label replaces it, a dismissed
    group becomes labelled); audited and committed."""
    checked_key(key)
    if not isinstance(intent, str) or len(intent) > 100 or not _INTENT.fullmatch(intent) or intent == FALLBACK_INTENT:
        raise ValueError(f"not an intent name: {redact(str(intent))[:40]!r}")
    row = app_session.get(TrainingInboxDecision, key)
    if row is not None and row.decision is InboxDecision.LABELLED and row.intent == intent:
        return
    previous = row.intent if row is not None else None
    if row is None:
        row = TrainingInboxDecision(key=key)
        app_session.add(row)
    row.decision, row.intent, row.actor, row.decided_at = InboxDecision.LABELLED, intent, actor, utcnow()
    audit(app_session, actor, "training.inbox_labelled", key=key, intent=intent, previous_intent=previous)
    _commit(app_session)
