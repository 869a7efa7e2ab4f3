"""Handing a merchant back from a human agent to the bot: the API the agent console calls.

Two things happen, in this order: the handoff is marked `resolved` (audited) in the application
database, then the Rasa conversation is resumed through Rasa's HTTP API
(`POST /conversations/<id>/tracker/events` with a `resume` and an `action_listen` event), after which the bot
answers the merchant's next message again. The same request with `{"event": "pause"}` is what
pausing looks like from outside; the bot pauses itself with the `pause` event of its actions.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional

from sqlalchemy.orm import Session

from bot.db.models import Handoff
from bot.agents.handoff import resolve_handoff


class ResumeFailed(RuntimeError):
    """The handoff is resolved but Rasa could not be told; retrying is safe."""


def rasa_url() -> str:
    return os.environ.get("RASA_URL", f"http://localhost:{os.environ.get('RASA_PORT', '5005')}")


def resume_conversation(conversation_id: str, base_url: Optional[str] = None, timeout_s: float = 10) -> None:
    url = f"{(base_url or rasa_url()).rstrip('/')}/conversations/{urllib.parse.quote(conversation_id, safe='')}/tracker/events"
    if os.environ.get("RASA_API_TOKEN"):
        url += "?" + urllib.parse.urlencode({"token": os.environ["RASA_API_TOKEN"]})
    # action_listen closes the turn the pause interrupted, so the merchant's next message is a new
    # turn for the policies (not a continuation of the complaint that caused the handoff).
    # The handoff slot off: the bot answers again (bot/rasa/policies.py); `resume` undoes a pause
    # of conversations handed off before the handoff became a state.
    body = json.dumps([{"event": "resume"}, {"event": "slot", "name": "handoff", "value": None},
                       {"event": "action", "name": "action_listen"}]).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            if reply.status != 200:
                raise ResumeFailed(f"Rasa answered {reply.status}")
    except (urllib.error.URLError, OSError) as error:
        raise ResumeFailed(f"could not reach Rasa at {base_url or rasa_url()}: {error}") from error


def hand_back_to_bot(session: Session, handoff_id: int, agent: str, base_url: Optional[str] = None) -> Handoff:
    """Resolve the handoff and resume its conversation; idempotent."""
    handoff = resolve_handoff(session, handoff_id, agent)
    resume_conversation(handoff.conversation_id, base_url)
    return handoff
