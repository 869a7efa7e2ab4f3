"""A stored conversation's events, made fit for a test story: only the events a story holds, and no
merchant's data in them.

What a test story holds (what Rasa's own story writer writes): the merchant's messages (text,
intent, entities), the actions, slots and active loops. Everything else is left out here: the
bot's sentences, `user_featurization`, `followup` (the action it names is the next `action:` step,
as in the project's test stories), `action_execution_rejected` (rasa test core replays a form's
rejection by itself), reminders, pauses, rewinds, and the built-in slot `session_started_metadata`
(the channel's metadata: the client's address, the merchant a channel vouched for). The events
kept are rebuilt with their story fields only, so message ids, metadata and confidence rankings
never leave the tracker store.

Redaction (`redact_conversation`): every card, ID, licence, phone and merchant number, one-time
code, request reference and person's or business name becomes a test value of the same kind and
shape (`bot.training.test_values`), the same real value everywhere the same test value: in the
message text, its entities and the slots. The values are found as the NLU finds them (the
rule-based extractor `bot.extraction`, which the model runs), in the slots that hold them
(`SENSITIVE_SLOTS`), and wherever a value already found appears again; what is left that
`bot.masking.redact` would mask (a long number the extractor did not read as a value) is masked.
A message whose values were replaced this way reads to the NLU as the original did: same intent,
same entities at the same places (the e2e test checks it with `rasa test core --e2e`).

>>> events = [
...     {"event": "user", "text": "卡号 6222 0210 0000 0000 124", "parse_data": {
...         "intent": {"name": "inform", "confidence": 0.99},
...         "entities": [{"entity": "card_number", "start": 3, "end": 26, "value": "6222021000000000124"}]}},
...     {"event": "slot", "name": "new_account_number", "value": "6222021000000000124"},
... ]
>>> redacted = redact_conversation(events)
>>> redacted[0]["text"], redacted[0]["parse_data"]["entities"]
('卡号 6222 0210 0000 0000 215', [{'entity': 'card_number', 'start': 3, 'end': 26, 'value': '6222021000000000215'}])
>>> redacted[1]["value"]
'6222021000000000215'
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from bot.extraction.values import extract_values
from bot.masking import redact
from bot.training.test_values import KINDS, TestValues, number_key
from bot.validation.normalize import CHINESE_DIGITS, SEPARATORS, WEAK_CHINESE_DIGITS, normalize_digits

# Entities whose values identify someone (the extractor's names for them are the kinds' names).
SENSITIVE_ENTITIES = frozenset(KINDS)
# Slots that hold such a value once an action has checked it (domain.yml), and its kind.
SENSITIVE_SLOTS = {
    "merchant_number": "merchant_id",
    "identify_code": "otp_code",
    "sign_code": "otp_code",
    "totp_code": "otp_code",
    "holder_id_number": "id_number",
    "license_number": "license_number",
    "new_account_number": "card_number",
    "luhn_pending": "card_number",
    "holder_name": "name",
}
LEFT_OUT_SLOTS = frozenset({"session_started_metadata"})
STORY_EVENTS = frozenset({"user", "action", "slot", "active_loop", "session_started", "restart"})
SESSION_START_ACTION = "action_session_start"
EXTERNAL_PREFIX = "EXTERNAL: "  # Rasa's text of an intent triggered over the HTTP API (a hand-back)
KNOWN_CHANNELS = ("webchat", "wechat", "rest")

_ONE_NUMBER = re.compile("[0-9A-Za-z+()" + re.escape(SEPARATORS) + r"\s]+")
_RUN = re.compile("[0-9A-Za-z](?:[" + re.escape(SEPARATORS) + "]*[0-9A-Za-z])*")
# Shorter known values (codes) are replaced only as a whole run of digits, never inside a longer
# number, where six digits are as likely to be a coincidence as the code.
_MIN_KEY_INSIDE_RUN = 8


def masked_conversation_id(conversation_id: str) -> str:
    """The conversation named without who it is: the channel, then a digest of the id
    (`webchat-822100000000001` -> `webchat-5c3c0f3b21`). The same id always gives the same name."""
    digest = hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()[:10]
    channel = conversation_id.split("-", 1)[0]
    return f"{channel if channel in KNOWN_CHANNELS else 'conversation'}-{digest}"


def is_external(event: Dict[str, Any]) -> bool:
    """A message no merchant typed: an intent triggered over Rasa's HTTP API (an agent's hand-back)."""
    return bool((event.get("metadata") or {}).get("is_external")) or str(event.get("text") or "").startswith(EXTERNAL_PREFIX)


def sessions(events: Sequence[Dict[str, Any]]) -> List[List[Dict[str, Any]]]:
    """The events cut where Rasa starts a session (`action_session_start`) or the conversation was
    restarted (an agent closing it): each part begins as a fresh tracker does, so each can be a
    test story of its own. Parts without a merchant message are left out."""
    parts: List[List[Dict[str, Any]]] = [[]]
    for event in events:
        starts_session = event.get("event") == "action" and event.get("name") == SESSION_START_ACTION
        if (starts_session or event.get("event") == "restart") and parts[-1]:
            parts.append([])
        parts[-1].append(event)
    return [part for part in parts if any(event.get("event") == "user" for event in part)]


def redact_conversation(events: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The events a test story holds (see the module docstring), each value replaced by its test
    value. The events given are not changed."""
    kept = [event for event in events if event.get("event") in STORY_EVENTS
            and not (event.get("event") == "slot" and event.get("name") in LEFT_OUT_SLOTS)]
    found = list(_real_values(kept))
    values = TestValues(avoid=[value for _, value in found])
    for kind, value in found:  # in the order they came: the first card gets the first test card
        values.substitute(kind, value)
    redactor = _Redactor(values)
    return [redactor.event(event, by_action) for event, by_action in _checked_by_action(kept)]


def _checked_by_action(events: Sequence[Dict[str, Any]]) -> Iterator[Tuple[Dict[str, Any], bool]]:
    """Each event, and for a slot whether an action set it (True) or the slot mapping copied it
    from the message just received (False: the text or an entity, redacted like them)."""
    after_message = False
    for event in events:
        kind = event.get("event")
        if kind == "user":
            after_message = True
        elif kind == "action":
            after_message = False
        yield event, not after_message


def _real_values(events: Sequence[Dict[str, Any]]) -> Iterator[Tuple[str, str]]:
    """(kind, value) of every sensitive value of the conversation, in order."""
    for event, by_action in _checked_by_action(events):
        kind = event.get("event")
        if kind == "user" and not is_external(event):
            text = event.get("text") or ""
            if not text.startswith("/"):
                yield from _values_in(text)
            for entity in (event.get("parse_data") or {}).get("entities") or []:
                if entity.get("entity") in SENSITIVE_ENTITIES and isinstance(entity.get("value"), str):
                    yield entity["entity"], entity["value"]
        elif kind == "slot":
            value = event.get("value")
            slot_kind = SENSITIVE_SLOTS.get(event.get("name"))
            if by_action and slot_kind and isinstance(value, str) and _is_one_value(slot_kind, value):
                yield slot_kind, value
            elif not by_action:  # the message's text or entity, copied: its values as the message's
                for text in _strings(value):
                    yield from _values_in(text)


def _is_one_value(kind: str, value: str) -> bool:
    """The slot holds one value of its kind (`6222021000000000124`, `张伟`), not a status
    (`verified`) or a sentence."""
    return bool(value.strip()) if kind == "name" else is_one_number(value)


def is_one_number(value: str) -> bool:
    """`value` is a number (or code) alone, in any typed form: `6222 0210…`, `+86 138…`, `六二二二…`."""
    return bool(_ONE_NUMBER.fullmatch(normalize_digits(value))) and any(ch.isdigit() for ch in number_key(value))


def _values_in(text: str) -> Iterator[Tuple[str, str]]:
    for value in extract_values(text):
        if value.entity in SENSITIVE_ENTITIES:
            yield value.entity, value.value


def typed_like(typed: str, value: str) -> str:
    """`value` written the way the merchant typed the value it replaces: the same separators,
    full-width or Chinese digits, lower-case x, and a phone's country code, so the NLU meets the
    same kind of writing (a misunderstanding caused by how a number was typed stays in the test).
    The value as it is when the typed form has another number of characters.

    >>> typed_like("6222 0210 0000 0000 124", "6222021000000000215")
    '6222 0210 0000 0000 215'
    >>> typed_like("六二二二零二一零零零零零零零零零一二四", "6222021000000000215")
    '六二二二零二一零零零零零零零零零二一五'
    >>> typed_like("+86 138-0000-0001", "13800000002"), typed_like("１３８０００００００１", "13800000002")
    ('+86 138-0000-0002', '１３８０００００００２')
    """
    prefix = _typed_prefix(typed, value)
    typed = typed[len(prefix):]
    normalized = normalize_digits(typed)
    if len(normalized) != len(typed) or sum(char.isalnum() for char in normalized) != len(value):
        return prefix + value
    characters = iter(value)
    written = []
    for original, read in zip(typed, normalized):
        written.append(_written_as(original, next(characters)) if read.isalnum() else original)
    result = "".join(written)
    return prefix + (result if _alnum(result) == _alnum(value) else value)


_CHINESE_FOR_DIGIT = dict(zip("0123456789", "零一二三四五六七八九"))


def _written_as(original: str, char: str) -> str:
    """`char` (a digit or letter of the test value) in the script of the character it replaces."""
    if original.isascii():
        return char.lower() if original.islower() else char
    if original in CHINESE_DIGITS or original in WEAK_CHINESE_DIGITS:
        if char.isdigit():
            return "〇" if original == "〇" and char == "0" else _CHINESE_FOR_DIGIT[char]
        return char
    if "\uff01" <= original <= "\uff5e":  # full-width forms
        return chr(ord(char.lower() if original.islower() else char) + 0xFEE0)
    return char


def _typed_prefix(typed: str, value: str) -> str:
    """The country code the merchant typed before a phone number (`+86 ` of `+86 138…`), or ''."""
    excess = len(_alnum(typed)) - len(_alnum(value))
    if excess <= 0 or _alnum(typed)[:excess] not in ("86", "0086"):
        return ""
    for position, char in enumerate(normalize_digits(typed)):
        if char.isalnum():
            if excess == 0:
                return typed[:position]
            excess -= 1
    return ""


def _alnum(text: str) -> str:
    return "".join(char for char in normalize_digits(text) if char.isalnum()).upper()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


class _Redactor:
    """Rewrites events with the test values of one conversation."""

    def __init__(self, values: TestValues) -> None:
        self.values = values
        self.numbers = values.numbers  # number_key(real) -> test value
        self.names = values.names  # real name -> test name
        names = sorted(self.names, key=len, reverse=True)
        self._name_pattern = re.compile("|".join(map(re.escape, names))) if names else None
        # Test values `redact` must leave alone, also as a phone with its country code.
        self._keep = sorted(values.used | {prefix + value for value in values.used for prefix in ("86", "0086")})

    def event(self, event: Dict[str, Any], by_action: bool = True) -> Dict[str, Any]:
        """The event with its story fields only, redacted. `by_action`: for a slot, whether an
        action set it (False: the slot mapping copied it from the message)."""
        kind = event["event"]
        if kind == "user":
            return self._user(event)
        if kind == "slot":
            return {"event": "slot", "name": event.get("name"),
                    "value": self._slot_value(event.get("value"), from_message=not by_action)}
        if kind == "action":  # the policy that chose it tells a FollowupAction (`followup_action`)
            return {"event": kind, "name": event.get("name"), "policy": event.get("policy")}
        if kind == "active_loop":
            return {"event": kind, "name": event.get("name")}
        return {"event": kind}

    # --- messages ----------------------------------------------------------------------------

    def _user(self, event: Dict[str, Any]) -> Dict[str, Any]:
        parse_data = event.get("parse_data") or {}
        intent = {key: value for key, value in (parse_data.get("intent") or {}).items()
                  if key in ("name", "full_retrieval_intent_name")}
        entities = [entity for entity in parse_data.get("entities") or [] if isinstance(entity, dict)]
        if is_external(event):
            text: Optional[str] = None  # a story step with the intent only, as the API triggered it
            entities = [self._entity(entity, None) for entity in entities]
        else:
            text, entities = self.text(event.get("text") or "", entities)
        return {"event": "user", "text": text,
                "parse_data": {"intent": intent, "entities": entities, "text": text}}

    def text(self, text: str, entities: Sequence[Dict[str, Any]] = ()) -> Tuple[str, List[Dict[str, Any]]]:
        """The message with its values replaced, and its entities moved and replaced to match."""
        if text.startswith("/"):  # `/intent{"entity": "value"}`: the values are inside the JSON
            new_text = self._free_text(text)
            return new_text, [self._entity(entity, None) for entity in entities]
        spans: Dict[Tuple[int, int], Optional[str]] = {}  # (start, end) -> test value, or None to keep
        candidates = [(value.start, value.end, value.entity, value.value) for value in extract_values(text)]
        candidates += [(entity["start"], entity["end"], entity.get("entity"), entity.get("value"))
                       for entity in entities if isinstance(entity.get("start"), int) and isinstance(entity.get("end"), int)]
        for start, end, kind, value in candidates:
            if any(start < other_end and other_start < end for other_start, other_end in spans):
                continue  # the extractor's span first; a stored entity over it is the same value
            sensitive = kind in SENSITIVE_ENTITIES and isinstance(value, str)
            spans[(start, end)] = typed_like(text[start:end], self.values.substitute(kind, value)) \
                if sensitive else None
        pieces: List[str] = []
        moved: Dict[Tuple[int, int], Tuple[int, int]] = {}
        position = 0
        for start, end in sorted(spans):
            pieces.append(self._free_text(text[position:start]))
            new_start = sum(map(len, pieces))
            pieces.append(spans[(start, end)] if spans[(start, end)] is not None else text[start:end])
            moved[(start, end)] = (new_start, new_start + len(pieces[-1]))
            position = end
        pieces.append(self._free_text(text[position:]))
        return "".join(pieces), [self._entity(entity, moved) for entity in entities]

    def _entity(self, entity: Dict[str, Any], moved: Optional[Dict[Tuple[int, int], Tuple[int, int]]]) -> Dict[str, Any]:
        """The entity with its story fields only, its value replaced and its span moved."""
        result = {key: entity[key] for key in ("entity", "start", "end", "value", "role", "group") if key in entity}
        if moved is not None:
            if (entity.get("start"), entity.get("end")) in moved:
                result["start"], result["end"] = moved[(entity["start"], entity["end"])]
            else:  # overlapped by another value: no longer annotated in the text
                result.pop("start", None)
                result.pop("end", None)
        value = entity.get("value")
        if entity.get("entity") in SENSITIVE_ENTITIES and isinstance(value, str):
            result["value"] = self.values.substitute(entity["entity"], value)
        elif isinstance(value, str):
            result["value"] = self._free_text(value)
        return result

    def _free_text(self, text: str) -> str:
        """Text outside the values the extractor found: values found elsewhere replaced where they
        appear again, names too, and whatever `redact` still sees masked."""
        if not text:
            return text
        text = self._known_numbers(text)
        if self._name_pattern is not None:
            text = self._name_pattern.sub(lambda match: self.names[match.group()], text)
        return redact(text, keep=self._keep)

    def _known_numbers(self, text: str) -> str:
        normalized = normalize_digits(text)  # same offsets as text
        if len(normalized) != len(text):
            normalized = text
        edits: List[Tuple[int, int, str]] = []
        for run in _RUN.finditer(normalized):
            indices = [run.start() + i for i, ch in enumerate(run.group()) if ch.isalnum()]
            compact = "".join(normalized[i] for i in indices).upper()
            if len(compact) > 11 and compact[:-11] in ("86", "0086") and compact[-11:] in self.numbers:
                compact, indices = compact[-11:], indices[-11:]
            taken = [False] * len(compact)
            for key in sorted(self.numbers, key=len, reverse=True):
                if len(key) < _MIN_KEY_INSIDE_RUN and key != compact:
                    continue
                at = compact.find(key)
                while at >= 0:
                    if not any(taken[at:at + len(key)]):
                        taken[at:at + len(key)] = [True] * len(key)
                        start, end = indices[at], indices[at + len(key) - 1] + 1
                        edits.append((start, end, typed_like(text[start:end], self.numbers[key])))
                    at = compact.find(key, at + 1)
        for start, end, replacement in sorted(edits, reverse=True):
            text = text[:start] + replacement + text[end:]
        return text

    # --- slots -------------------------------------------------------------------------------

    def _slot_value(self, value: Any, from_message: bool) -> Any:
        """A value copied from the message is redacted as the message was; one an action set has
        its known values and names replaced, and whatever `redact` sees masked (an action's own
        values, such as the hotline, are no merchant's)."""
        if isinstance(value, str):
            if value.strip() in self.names:
                return self.names[value.strip()]
            known = self.values.known(value) if is_one_number(value) else None
            if known is not None:
                return known
            return self.text(value)[0] if from_message else self._free_text(value)
        if isinstance(value, dict):
            return {key: self._slot_value(item, from_message) for key, item in value.items()}
        if isinstance(value, list):
            return [self._slot_value(item, from_message) for item in value]
        return value
