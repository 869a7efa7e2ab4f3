"""What the web chat page redraws after a reload: the current session of the merchant's
conversation, as the merchant saw it.

The channel's `GET /history` route (bot.rasa.channels.webchat) answers with
`conversation_history(tracker_store, conversation_id)`; `history_messages(events, delivered)` is
the pure part, the events turned into the page's messages. What no Rasa turn said (an agent's
replies, a reviewer's decision: bot.agents.outbox) is not in the tracker: the outbox messages
delivered to the page during the session are merged in at the time they were delivered, marked
with their `outbox_id` (the page draws each once, whether from here or pushed).
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.constants import IS_EXTERNAL
from rasa.shared.core.events import BotUttered, UserUttered
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.engine import session_scope
from bot.db.models import OutboundMessage
from bot.masking import redact_normalized
from bot.rasa.channels.rest import TOO_LONG_INTENT
from bot.responses import response_text

UPLOAD_INTENT = "/document_uploaded"
HISTORY_LIMIT = 200
# An authenticator's secret is shown once, when it is sent: a reload, or whoever opens the page
# with a later token, sees that it was hidden.
SHOWN_ONCE = {"utter_enrol_qr", "utter_enrol_secret"}


async def conversation_history(tracker_store: TrackerStore, conversation_id: str) -> List[Dict[str, Any]]:
    """The messages of the conversation's current session, read in a worker thread.

    Rasa's SQL tracker store queries the database and decrypts every event (bot.rasa.tracker_store)
    synchronously inside its `async def retrieve`: on the event loop, that would hold up every
    other merchant's socket for as long as the database takes (SQLite's write lock can take
    seconds). Rasa's tracker stores keep no state tied to an event loop, so the retrieval runs
    on an event loop of its own in the thread.
    """
    return await asyncio.to_thread(_read_history, tracker_store, conversation_id)


def _read_history(tracker_store: TrackerStore, conversation_id: str) -> List[Dict[str, Any]]:
    tracker = asyncio.run(tracker_store.retrieve(conversation_id))
    events = list(tracker.events) if tracker is not None else []
    session_start = events[0].timestamp if events else None
    with session_scope() as session:
        delivered = delivered_outbox(session, conversation_id, session_start)
    return history_messages(events, delivered)


def delivered_outbox(session: Session, conversation_id: str,
                     since: Optional[float] = None) -> List[Tuple[float, Dict[str, Any]]]:
    """The outbox messages delivered to the conversation (since a Unix time): (when, page entry)."""
    query = select(OutboundMessage).where(OutboundMessage.conversation_id == conversation_id,
                                          OutboundMessage.delivered_at.is_not(None))
    if since is not None:
        query = query.where(OutboundMessage.delivered_at >= datetime.fromtimestamp(since, timezone.utc))
    rows = session.execute(
        query.order_by(OutboundMessage.delivered_at.desc(), OutboundMessage.id.desc()).limit(HISTORY_LIMIT)
    ).scalars().all()
    return [(row.delivered_at.timestamp(), outbox_entry(row.id, row.text, row.author_name)) for row in reversed(rows)]


def outbox_entry(outbox_id: int, text: str, author_name: Optional[str]) -> Dict[str, Any]:
    """An outbox message as the page draws it, pushed or redrawn: an agent's with the agent's name."""
    entry: Dict[str, Any] = {"sender": "bot", "text": text, "outbox_id": outbox_id}
    if author_name:
        entry["agent"] = author_name
    return entry


def history_messages(events: Iterable[Any],
                     delivered: Sequence[Tuple[float, Dict[str, Any]]] = ()) -> List[Dict[str, Any]]:
    """What the page redraws after a reload: the merchant's and the bot's messages, in order, with
    the outbox messages `delivered` ((time, entry), oldest first) where they came.

    A button's payload is shown as the button's title, as it was when clicked; the channel's own
    intent messages (upload, too long) are marked for the page to label, intents triggered through
    Rasa's HTTP API (`EXTERNAL: resume_bot`) left out; numbers the merchant
    typed are masked, like everywhere else the conversation is shown again.
    """
    messages: List[Dict[str, Any]] = []
    offered: List[Dict[str, Any]] = []  # buttons shown since the merchant's last message
    pushed = list(delivered)
    for event in events:
        while pushed and event.timestamp is not None and pushed[0][0] <= event.timestamp:
            messages.append(pushed.pop(0)[1])
        if isinstance(event, UserUttered) and (event.metadata or {}).get(IS_EXTERNAL):
            continue  # Rasa's HTTP API speaking (an agent's hand-back), not the merchant
        if isinstance(event, UserUttered) and event.text:
            messages.extend(_user_entry(event.text, offered))
            offered = []
        elif isinstance(event, BotUttered) and (event.metadata or {}).get("utter_action") in SHOWN_ONCE:
            messages.append({"sender": "bot", "text": response_text("utter_secret_hidden")})
        elif isinstance(event, BotUttered):
            offered += (event.data or {}).get("buttons") or []
            messages.extend(_bot_entries(event))
    messages.extend(entry for _, entry in pushed)
    return messages[-HISTORY_LIMIT:]


def _user_entry(text: str, offered: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    for button in offered:
        if button.get("payload") == text:
            return [{"sender": "user", "text": button.get("title") or ""}]
    if text.startswith(UPLOAD_INTENT):
        return [{"sender": "user", "kind": "upload"}]
    if text == TOO_LONG_INTENT:
        return [{"sender": "user", "kind": "too_long"}]
    if text.startswith("/"):
        return []  # another intent payload: nothing the merchant wrote
    return [{"sender": "user", "text": redact_normalized(text)}]


def _bot_entries(event: BotUttered) -> List[Dict[str, Any]]:
    data = event.data or {}
    buttons = data.get("buttons") or []
    # Split like the socket.io output does, so the redrawn chat looks as it did live.
    parts = (event.text or "").strip().split("\n\n")
    entries = [{"sender": "bot", "text": part} for part in parts if part]
    if buttons:
        entries = entries or [{"sender": "bot", "text": ""}]
        entries[-1]["buttons"] = [{"title": b.get("title"), "payload": b.get("payload")} for b in buttons]
    if data.get("image"):
        entries.append({"sender": "bot", "image": data["image"]})
    if data.get("custom") is not None:
        entries.append({"sender": "bot", "custom": data["custom"]})
    return entries
