"""A handed-off conversation, live: the queue agents pick from, claiming one, what the merchant
and the agent say, internal notes.

- `queue`: waiting and active handoffs, oldest first, the merchant masked, with how long each has
  waited; `overdue` once it waited longer than `settings.handoff_overdue_minutes()`.
- `claim`: one conditional UPDATE (`waiting` -> `active`, the agent's name): two agents clicking
  at once, one wins, the other gets `AlreadyClaimed`.
- `record_merchant_message`: what the merchant writes while handed off (the action
  `action_handoff_waiting` records it); masked like the handoff's transcript.
- `reply`: the claiming agent's answer: in the transcript and in the channel's outbox
  (bot.agents.outbox), shown to the merchant with the agent's display name.
- `note`: for agents only, never sent.
- `messages_after`: what the console's live view has not shown yet.
Each write is audited (who, what, when) and committed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import settings
from bot.agents import outbox
from bot.agents.handoff import OPEN_STATUSES, HandoffNotFound, mask_text, open_handoff_for
from bot.db.models import Handoff, HandoffMessage, HandoffStatus, audit
from bot.masking import mask_number
from bot.workdays import to_local_iso, utcnow

__all__ = [
    "AlreadyClaimed", "NotYours", "QueueEntry", "queue", "claim", "record_merchant_message", "reply", "note",
    "messages_after", "conversation_view", "MAX_MESSAGE_CHARS",
]

MAX_MESSAGE_CHARS = 1000  # an agent's reply or note

MERCHANT, AGENT, NOTE, BOT = "merchant", "agent", "note", "bot"


class AlreadyClaimed(Exception):
    """Another agent took this conversation first (or it is closed)."""


class NotYours(Exception):
    """Only the agent who claimed the conversation writes in it."""


@dataclass(frozen=True)
class QueueEntry:
    id: int
    conversation_id: str
    channel: str
    reason: str
    status: str
    merchant_masked: str  # 8221****0001
    merchant_name: str
    agent: str | None
    waiting_since: str  # local ISO time
    waiting_seconds: int
    overdue: bool


def _actor(username: str) -> str:
    return f"staff:{username}"


def queue(session: Session, now: datetime | None = None) -> list[QueueEntry]:
    now = now or utcnow()
    overdue_after = settings.handoff_overdue_minutes() * 60
    rows = session.execute(
        select(Handoff).where(Handoff.status.in_(list(OPEN_STATUSES))).order_by(Handoff.created_at, Handoff.id)
    ).scalars().all()
    entries = []
    for handoff in rows:
        waited = max(0, int((now - handoff.created_at).total_seconds()))
        number = (handoff.context or {}).get("merchant_number") or ""
        entries.append(QueueEntry(
            id=handoff.id, conversation_id=handoff.conversation_id, channel=handoff.channel, reason=handoff.reason,
            status=HandoffStatus(handoff.status).value, merchant_masked=mask_number(number) if number else "",
            merchant_name=(handoff.context or {}).get("merchant_name") or "", agent=handoff.agent,
            waiting_since=to_local_iso(handoff.created_at), waiting_seconds=waited,
            overdue=HandoffStatus(handoff.status) is HandoffStatus.WAITING and waited > overdue_after,
        ))
    return entries


def _open(session: Session, handoff_id: int) -> Handoff:
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise HandoffNotFound(f"no handoff {handoff_id}")
    return handoff


def claim(session: Session, handoff_id: int, username: str, now: datetime | None = None) -> Handoff:
    now = now or utcnow()
    taken = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == HandoffStatus.WAITING.value)
        .values(status=HandoffStatus.ACTIVE.value, agent=username, updated_at=now)
    ).rowcount
    if taken != 1:
        session.rollback()
        handoff = _open(session, handoff_id)
        if HandoffStatus(handoff.status) is HandoffStatus.ACTIVE and handoff.agent == username:
            return handoff  # clicked twice
        raise AlreadyClaimed(f"handoff {handoff_id} is {HandoffStatus(handoff.status).value}, agent {handoff.agent}")
    handoff = _open(session, handoff_id)
    audit(session, _actor(username), "handoff.claimed", merchant=handoff.merchant, occurred_at=now,
          handoff_id=handoff_id, conversation_id=handoff.conversation_id)
    session.commit()
    return handoff


def _mine(session: Session, handoff_id: int, username: str) -> Handoff:
    handoff = _open(session, handoff_id)
    if HandoffStatus(handoff.status) is not HandoffStatus.ACTIVE or handoff.agent != username:
        raise NotYours(f"handoff {handoff_id} is not claimed by {username}")
    return handoff


def _clean(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValueError("empty message")
    return text[:MAX_MESSAGE_CHARS]


def record_merchant_message(session: Session, conversation_id: str, text: str,
                            now: datetime | None = None) -> Handoff | None:
    """The merchant's message while handed off; the open handoff (None: there is none). Commits."""
    handoff = open_handoff_for(session, conversation_id)
    if handoff is None or not (text or "").strip():
        return handoff
    session.add(HandoffMessage(handoff_id=handoff.id, sender=MERCHANT, text=mask_text(text)[:MAX_MESSAGE_CHARS],
                               created_at=now or utcnow()))
    session.commit()
    return handoff


def reply(session: Session, handoff_id: int, username: str, display_name: str, text: str,
          now: datetime | None = None) -> HandoffMessage:
    now = now or utcnow()
    handoff = _mine(session, handoff_id, username)
    text = mask_text(_clean(text))
    message = HandoffMessage(handoff_id=handoff.id, sender=AGENT, author=username, author_name=display_name,
                             text=text, created_at=now)
    session.add(message)
    outbox.post(session, handoff.conversation_id, handoff.channel, text, author_name=display_name, now=now)
    audit(session, _actor(username), "handoff.replied", merchant=handoff.merchant, occurred_at=now,
          handoff_id=handoff.id, characters=len(text))
    session.commit()
    return message


def note(session: Session, handoff_id: int, username: str, display_name: str, text: str,
         now: datetime | None = None) -> HandoffMessage:
    now = now or utcnow()
    handoff = _open(session, handoff_id)
    message = HandoffMessage(handoff_id=handoff.id, sender=NOTE, author=username, author_name=display_name,
                             text=mask_text(_clean(text)), created_at=now)
    session.add(message)
    audit(session, _actor(username), "handoff.noted", merchant=handoff.merchant, occurred_at=now,
          handoff_id=handoff.id)
    session.commit()
    return message


def _message_row(message: HandoffMessage) -> dict[str, Any]:
    return {"id": message.id, "from": message.sender, "author": message.author_name, "text": message.text,
            "at": to_local_iso(message.created_at)}


def messages_after(session: Session, handoff_id: int, after_id: int = 0) -> list[dict[str, Any]]:
    rows = session.execute(
        select(HandoffMessage).where(HandoffMessage.handoff_id == handoff_id, HandoffMessage.id > after_id)
        .order_by(HandoffMessage.id)
    ).scalars().all()
    return [_message_row(row) for row in rows]


def conversation_view(session: Session, handoff_id: int) -> dict[str, Any]:
    """Everything the agent's page shows: the ticket, the masked values collected by the bot, the
    transcript before the handoff and the messages since. Masked as the ticket is."""
    handoff = _open(session, handoff_id)
    context = handoff.context or {}
    number = context.get("merchant_number") or ""
    return {
        "id": handoff.id,
        "conversation_id": handoff.conversation_id,
        "channel": handoff.channel,
        "reason": handoff.reason,
        "status": HandoffStatus(handoff.status).value,
        "agent": handoff.agent,
        "merchant_masked": mask_number(number) if number else "",
        "merchant_name": context.get("merchant_name") or "",
        "collected_values": context.get("collected_values") or {},
        "failed_inputs": context.get("failed_inputs") or {},
        "transcript": context.get("transcript") or [],
        "messages": messages_after(session, handoff.id),
        "opened_at": to_local_iso(handoff.created_at),
    }
