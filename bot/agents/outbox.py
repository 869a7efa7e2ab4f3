"""Messages for a merchant that no Rasa turn produced (an agent's reply, the bot's question after a
hand-back, a reviewer's decision), and their delivery by the merchant's channel.

Anyone may `post` (the console, a reviewer's decision); each channel delivers its own:
- web chat and WeChat poll `undelivered(channel)` in the Rasa server (every replica), send, and
  `mark_delivered`, whose single conditional UPDATE lets exactly one replica win a message;
- REST returns `take_for_conversation` with the merchant's next message.
A message posted while the merchant's page is closed waits, and is delivered when it opens.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.agents.handoff import mask_text
from bot.db.models import OutboundMessage
from bot.workdays import utcnow

__all__ = ["Outgoing", "post", "undelivered", "mark_delivered", "take_for_conversation"]

BATCH = 100


@dataclass(frozen=True)
class Outgoing:
    id: int
    conversation_id: str
    channel: str
    text: str
    author_name: str | None  # None: the assistant itself


def _outgoing(row: OutboundMessage) -> Outgoing:
    return Outgoing(row.id, row.conversation_id, row.channel, row.text, row.author_name)


def post(session: Session, conversation_id: str, channel: str, text: str, author_name: str | None = None,
         now: datetime | None = None) -> Outgoing:
    """Queue one message for the merchant (long numbers masked: nobody sends a full card number);
    flushed, committed by the caller."""
    row = OutboundMessage(conversation_id=conversation_id, channel=channel, text=mask_text(text),
                          author_name=author_name, created_at=now or utcnow())
    session.add(row)
    session.flush()
    return _outgoing(row)


def undelivered(session: Session, channel: str, conversation_ids: Iterable[str] | None = None) -> list[Outgoing]:
    """The oldest undelivered messages of a channel (only these conversations, if given)."""
    query = select(OutboundMessage).where(OutboundMessage.channel == channel, OutboundMessage.delivered_at.is_(None))
    if conversation_ids is not None:
        ids = list(conversation_ids)
        if not ids:
            return []
        query = query.where(OutboundMessage.conversation_id.in_(ids))
    rows = session.execute(query.order_by(OutboundMessage.id).limit(BATCH)).scalars().all()
    return [_outgoing(row) for row in rows]


def mark_delivered(session: Session, message_id: int, now: datetime | None = None) -> bool:
    """Claim a message for delivery; False when another worker claimed it first. Commits."""
    result = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message_id, OutboundMessage.delivered_at.is_(None))
        .values(delivered_at=now or utcnow())
    )
    session.commit()
    return result.rowcount == 1


def take_for_conversation(session: Session, conversation_id: str, now: datetime | None = None) -> list[Outgoing]:
    """Every undelivered message of one conversation, marked delivered (REST: returned with the
    merchant's next message). Commits."""
    rows = session.execute(
        select(OutboundMessage)
        .where(OutboundMessage.conversation_id == conversation_id, OutboundMessage.delivered_at.is_(None))
        .order_by(OutboundMessage.id)
    ).scalars().all()
    taken = [_outgoing(row) for row in rows if mark_delivered(session, row.id, now)]
    return taken
