"""Handing a conversation to a human agent, bot side (CONVERSATION.md §5).

`open_handoff` records the ticket the agent console shows: reason, channel, conversation,
merchant, the values collected so far and the transcript, all masked before they are stored
(no full card, account or ID number ever reaches the row). While a handoff of a conversation is
`waiting` or `active`, `is_paused` is True: the bot stops answering and only tells the merchant an
agent will reply. One open handoff per conversation: a second call returns the open one.

The agent console drives the rest, and these are its API:
- `assign(session, handoff_id, agent)`: an agent takes the ticket (`waiting` -> `active`);
- `resolve_handoff(session, handoff_id, agent)`: hand the merchant back to the bot (`resolved`),
  after which `is_paused` is False and the bot answers again.
Each change is audited and committed.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Handoff, HandoffStatus, Merchant, audit
from bot.masking import mask_number, redact_normalized
from bot.workdays import utcnow

# Reasons (stored as they are; the console shows them).
MERCHANT_REQUEST = "merchant_request"
COMPLAINT = "complaint"
REPEATED_VALIDATION_FAILURE = "repeated_validation_failure"
REPEATED_FALLBACK = "repeated_fallback"
OVERDUE_REQUEST = "overdue_request"
DIFFERENT_NAME_AUTHORISATION = "different_name_authorisation"
REASONS = frozenset(
    {MERCHANT_REQUEST, COMPLAINT, REPEATED_VALIDATION_FAILURE, REPEATED_FALLBACK, OVERDUE_REQUEST,
     DIFFERENT_NAME_AUTHORISATION}
)

OPEN_STATUSES = (HandoffStatus.WAITING, HandoffStatus.ACTIVE)

# Slots whose values are card, account or ID numbers whatever their length (a mistyped 10-digit
# card is still a card): stored as their last four digits. Matched as part of the slot name, so
# `new_card_number` and `holder_id_number` are covered.
SENSITIVE_KEY_PARTS = ("card_number", "account_number", "id_number", "bank_card")
MAX_TRANSCRIPT_TURNS = 50


class HandoffNotFound(LookupError):
    pass


@dataclass(frozen=True)
class HandoffResult:
    handoff: Handoff
    created: bool  # False: the conversation already had an open handoff


def mask_text(text: str) -> str:
    """Free text with every long number masked, also numbers typed in Chinese or full-width digits."""
    return redact_normalized(text)


def _sensitive(key: str) -> bool:
    return any(part in key for part in SENSITIVE_KEY_PARTS)


def mask_value(key: str, value: Any) -> Any:
    """A collected slot value, masked: sensitive keys keep the last four digits only, any other
    text has its long numbers masked; lists and dicts are masked item by item."""
    if isinstance(value, Mapping):
        return {str(k): mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(key, item) for item in value]
    if isinstance(value, str):
        return mask_number(value) if _sensitive(key) and value.strip() else mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return mask_value(key, str(value))
    return value


def mask_transcript(transcript: Sequence[Mapping[str, Any] | str]) -> list[dict[str, Any]]:
    """The last turns, each a dict (any keys, e.g. `{"from": "merchant", "text": ...}`; a bare string
    is a merchant's message) with every string value masked."""
    turns = []
    for turn in list(transcript)[-MAX_TRANSCRIPT_TURNS:]:
        if isinstance(turn, str):
            turn = {"from": "merchant", "text": turn}
        turns.append({str(k): (mask_text(v) if isinstance(v, str) else v) for k, v in turn.items()})
    return turns


def open_handoff_for(session: Session, conversation_id: str) -> Handoff | None:
    """The conversation's waiting or active handoff, or None."""
    return session.execute(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id, Handoff.status.in_(list(OPEN_STATUSES)))
        .order_by(Handoff.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def is_paused(session: Session, conversation_id: str) -> bool:
    """True while a human agent has (or is about to take) the conversation."""
    return open_handoff_for(session, conversation_id) is not None


def open_handoff(
    session: Session,
    conversation_id: str,
    channel: str,
    reason: str,
    merchant: Merchant | None = None,
    collected_values: Mapping[str, Any] | None = None,
    transcript: Sequence[Mapping[str, Any] | str] = (),
    *,
    failed_inputs: Mapping[str, Sequence[str]] | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> HandoffResult:
    """Open (or return the open) handoff of a conversation, with masked context; commits.

    `failed_inputs`: the values refused per slot (repeated validation failures), masked like the rest.
    Rasa handles one message of a conversation at a time, so two opens of one conversation do not race.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown handoff reason {reason!r}")
    existing = open_handoff_for(session, conversation_id)
    if existing is not None:
        return HandoffResult(existing, created=False)
    now = now or utcnow()
    context: dict[str, Any] = {
        "collected_values": {str(k): mask_value(str(k), v) for k, v in (collected_values or {}).items()},
        "transcript": mask_transcript(transcript),
    }
    if failed_inputs:
        context["failed_inputs"] = {str(k): mask_value(str(k), list(v)) for k, v in failed_inputs.items()}
    if merchant is not None:
        context["merchant_number"] = merchant.merchant_number
        context["merchant_name"] = merchant.legal_person_name
    if note:
        context["note"] = mask_text(note)
    handoff = Handoff(
        conversation_id=conversation_id,
        channel=channel,
        reason=reason,
        status=HandoffStatus.WAITING,
        merchant=merchant,
        context=context,
        created_at=now,
        updated_at=now,
    )
    session.add(handoff)
    audit(session, "bot", "handoff.opened", merchant=merchant, occurred_at=now, reason=reason,
          channel=channel, conversation_id=conversation_id)
    session.flush()
    handoff_id = handoff.id
    session.commit()
    return HandoffResult(session.get(Handoff, handoff_id), created=True)


def _transition(
    session: Session, handoff_id: int, agent: str, status: HandoffStatus, action: str, now: datetime | None
) -> Handoff:
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise HandoffNotFound(f"no handoff {handoff_id}")
    now = now or utcnow()
    previous = HandoffStatus(handoff.status)
    handoff.status = status
    handoff.agent = agent
    handoff.updated_at = now
    audit(session, f"agent:{agent}", action, merchant=handoff.merchant, occurred_at=now, handoff_id=handoff.id,
          previous_status=previous.value, conversation_id=handoff.conversation_id)
    session.commit()
    return handoff


def assign(session: Session, handoff_id: int, agent: str, *, now: datetime | None = None) -> Handoff:
    """An agent takes the conversation (`active`)."""
    handoff = session.get(Handoff, handoff_id)
    if handoff is not None and HandoffStatus(handoff.status) is HandoffStatus.RESOLVED:
        raise ValueError(f"handoff {handoff_id} is resolved already")
    return _transition(session, handoff_id, agent, HandoffStatus.ACTIVE, "handoff.assigned", now)


def resolve_handoff(session: Session, handoff_id: int, agent: str, *, now: datetime | None = None) -> Handoff:
    """Hand the merchant back to the bot (`resolved`); resolving twice is harmless."""
    handoff = session.get(Handoff, handoff_id)
    if handoff is not None and HandoffStatus(handoff.status) is HandoffStatus.RESOLVED:
        return handoff
    return _transition(session, handoff_id, agent, HandoffStatus.RESOLVED, "handoff.resolved", now)


def withdraw_handoff(session: Session, conversation_id: str, *, now: datetime | None = None) -> Handoff | None:
    """The merchant stopped waiting ("不等了，继续自助办理"): the open handoff is resolved, audited as
    the merchant's doing; None when there was none."""
    handoff = open_handoff_for(session, conversation_id)
    if handoff is None:
        return None
    now = now or utcnow()
    previous = HandoffStatus(handoff.status)
    handoff.status = HandoffStatus.RESOLVED
    handoff.updated_at = now
    audit(session, "merchant", "handoff.withdrawn", merchant=handoff.merchant, occurred_at=now,
          handoff_id=handoff.id, previous_status=previous.value, conversation_id=conversation_id)
    session.commit()
    return handoff
