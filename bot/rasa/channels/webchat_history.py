"""What the web chat page redraws after a reload: the current session of the merchant's
conversation, as the merchant saw it.

The channel's `GET /history` route (bot.rasa.channels.webchat) answers with
`conversation_history(tracker_store, conversation_id)`; `history_messages(events)` is the pure
part, the events turned into the page's messages.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, Iterable, List

from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.events import BotUttered, UserUttered

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
    return history_messages(tracker.events if tracker is not None else [])


def history_messages(events: Iterable[Any]) -> List[Dict[str, Any]]:
    """What the page redraws after a reload: the merchant's and the bot's messages, in order.

    A button's payload is shown as the button's title, as it was when clicked; the channel's own
    intent messages (upload, too long) are marked for the page to label; numbers the merchant
    typed are masked, like everywhere else the conversation is shown again.
    """
    messages: List[Dict[str, Any]] = []
    offered: List[Dict[str, Any]] = []  # buttons shown since the merchant's last message
    for event in events:
        if isinstance(event, UserUttered) and event.text:
            messages.extend(_user_entry(event.text, offered))
            offered = []
        elif isinstance(event, BotUttered) and (event.metadata or {}).get("utter_action") in SHOWN_ONCE:
            messages.append({"sender": "bot", "text": response_text("utter_secret_hidden")})
        elif isinstance(event, BotUttered):
            offered += (event.data or {}).get("buttons") or []
            messages.extend(_bot_entries(event))
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
