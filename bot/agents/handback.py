"""The end of a handoff, as the agent console does it: hand the merchant back to the bot, or close
the conversation. Framework-free (urllib and Rasa's HTTP API), so the console needs no Rasa.

- `hand_back_to_bot`: the handoff is resolved (audited), then the conversation resumes where the
  form stopped, with its values: Rasa's HTTP API triggers the intent `resume_bot`, the one the
  merchant's own "继续自助办理" sends, which the handoff policy answers with `action_resume_bot`
  while the `handoff` slot is set (bot/rasa/policies.py). What the bot then says ("好的，我们接着办理…"
  and the form's pending question) reaches the merchant's channel: the web chat's open pages
  directly (`output_channel=webchat`; the tracker keeps it, so a page opened later redraws it from
  the history), WeChat and REST through the outbox (bot.agents.outbox), buttons written out as
  numbered options as WeChat shows them.
- `close_conversation` ("resolve"): the handoff is resolved (audited) and the conversation ends:
  a `restart` event clears the form, its values, the identification and the handoff state (the
  transcript stays in the tracker store), and the merchant is told in their channel
  (`utter_conversation_closed`, through the outbox). The merchant's next message opens a new session
  and is answered as a first message is. Why not resume: an agent who resolves a case has dealt
  with it (done the change by hand, or explained why it cannot be done); half-collected values
  and a verified identity should not wait to be reused hours later, and asking the form's next
  question would reopen a closed case.

Both are idempotent: Rasa is told only while the conversation's `handoff` slot names this handoff
(a second click, or the merchant's own "继续自助办理" meanwhile, does nothing more). When Rasa cannot
be reached (or refuses), `RasaUnreachable` says so after the handoff is resolved: calling again
is safe and finishes the job. Until then, the merchant's next message finds the handoff closed and
the bot takes the conversation back by itself (`action_handoff_waiting`).
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Mapping, Optional

from sqlalchemy.orm import Session

from bot.agents import outbox
from bot.agents.handoff import OPEN_STATUSES, HandoffNotFound, resolve_handoff
from bot.channel_trust import WEBCHAT
from bot.db.models import Handoff, HandoffStatus, audit
from bot.responses import response_text
from bot.wechat.replies import default_option_line, with_options

__all__ = ["RasaUnreachable", "ResumeFailed", "hand_back_to_bot", "close_conversation", "rasa_url"]

RESUME_INTENT = "resume_bot"  # the merchant's "继续自助办理" (bot/rasa/policies.py)
HANDOFF_SLOT = "handoff"
CLOSED_RESPONSE = "utter_conversation_closed"


class RasaUnreachable(RuntimeError):
    """The handoff is resolved, but Rasa could not be reached or refused the call; retrying is safe."""


ResumeFailed = RasaUnreachable  # its first name


def rasa_url() -> str:
    return os.environ.get("RASA_URL", f"http://localhost:{os.environ.get('RASA_PORT', '5005')}")


class _RasaApi:
    """The few calls of Rasa's HTTP API a hand-back needs, with `?token=` when RASA_API_TOKEN is set."""

    def __init__(self, base_url: Optional[str], timeout_s: float) -> None:
        self.base_url = (base_url or rasa_url()).rstrip("/")
        self.timeout_s = timeout_s

    def tracker(self, conversation_id: str) -> Dict[str, Any]:
        return self._call("GET", conversation_id, "tracker", query={"include_events": "NONE"})

    def append(self, conversation_id: str, events: List[Dict[str, Any]]) -> None:
        self._call("POST", conversation_id, "tracker/events", body=events)

    def trigger_intent(self, conversation_id: str, intent: str, output_channel: Optional[str]) -> Dict[str, Any]:
        query = {"output_channel": output_channel} if output_channel else {}
        return self._call("POST", conversation_id, "trigger_intent", body={"name": intent}, query=query)

    def _call(self, method: str, conversation_id: str, path: str, body: Any = None,
              query: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        params = dict(query or {})
        if os.environ.get("RASA_API_TOKEN"):
            params["token"] = os.environ["RASA_API_TOKEN"]
        url = f"{self.base_url}/conversations/{urllib.parse.quote(conversation_id, safe='')}/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                return json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise RasaUnreachable(f"Rasa at {self.base_url} refused {method} .../{path}: {error.code}") from error
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise RasaUnreachable(f"could not reach Rasa at {self.base_url}: {error}") from error


def _resolve(session: Session, handoff_id: int, username: str, action: str) -> Handoff:
    """Resolve the handoff; the first time, also audit how it ended (`action`)."""
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise HandoffNotFound(f"no handoff {handoff_id}")
    was_open = HandoffStatus(handoff.status) in OPEN_STATUSES
    handoff = resolve_handoff(session, handoff_id, username)
    if was_open:
        audit(session, f"staff:{username}", action, merchant=handoff.merchant, handoff_id=handoff.id,
              conversation_id=handoff.conversation_id, channel=handoff.channel)
        session.commit()
    return handoff


def _still_handed_off(state: Mapping[str, Any], handoff_id: int) -> bool:
    """Rasa still has the conversation handed off to this handoff (or paused, as it was once done)."""
    slot = (state.get("slots") or {}).get(HANDOFF_SLOT)
    if isinstance(slot, Mapping):
        return slot.get("id") == handoff_id
    return bool(state.get("paused"))


def _option_line(number: int, title: str) -> str:
    try:
        return response_text("utter_wechat_option", number=str(number), title=title)
    except KeyError:
        return default_option_line(number, title)


def as_text(message: Mapping[str, Any]) -> str:
    """One of Rasa's collected messages as outbox text: its text, its buttons as numbered options."""
    titles = [str(button.get("title") or "") for button in message.get("buttons") or []]
    return with_options(message.get("text"), titles, _option_line)


def hand_back_to_bot(session: Session, handoff_id: int, username: str, base_url: Optional[str] = None,
                     timeout_s: float = 10) -> Handoff:
    """Resolve the handoff and resume its conversation where the form stopped; idempotent."""
    handoff = _resolve(session, handoff_id, username, "handoff.handed_back")
    rasa = _RasaApi(base_url, timeout_s)
    state = rasa.tracker(handoff.conversation_id)
    if not _still_handed_off(state, handoff.id):
        return handoff
    if state.get("paused"):
        rasa.append(handoff.conversation_id, [{"event": "resume"}])
    pushed = handoff.channel == WEBCHAT
    reply = rasa.trigger_intent(handoff.conversation_id, RESUME_INTENT, WEBCHAT if pushed else None)
    if not pushed:
        for message in reply.get("messages") or []:
            text = as_text(message)
            if text:
                outbox.post(session, handoff.conversation_id, handoff.channel, text)
        session.commit()
    return handoff


def close_conversation(session: Session, handoff_id: int, username: str, base_url: Optional[str] = None,
                       timeout_s: float = 10) -> Handoff:
    """Resolve the handoff and end its conversation; the merchant is told; idempotent."""
    handoff = _resolve(session, handoff_id, username, "handoff.closed")
    rasa = _RasaApi(base_url, timeout_s)
    if not _still_handed_off(rasa.tracker(handoff.conversation_id), handoff.id):
        return handoff
    rasa.append(handoff.conversation_id, [{"event": "restart"}])
    outbox.post(session, handoff.conversation_id, handoff.channel, response_text(CLOSED_RESPONSE))
    session.commit()
    return handoff
