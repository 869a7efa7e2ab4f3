"""What every action needs: a database session off the event loop, the identified merchant, the
conversation context.

rasa_sdk runs every action on one asyncio event loop, shared by all conversations. Database work
(SQLite's write lock can take seconds) and SMS sending (a provider may take seconds, with retries)
must never run on it, or one slow SMS stalls every conversation: an action that needs either is a
`BlockingAction`, whose synchronous `act` runs in a worker thread. Actions keep no per-call state on
their instance (rasa_sdk shares one instance between all conversations).
"""
from __future__ import annotations

import abc
import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Text, TypeVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from bot.agents import handoff, service_hours
from bot import channel_trust
from bot import codes
from bot.db.engine import session_scope
from bot.db.models import Merchant, VerificationPurpose
from bot.change_requests.filing import ChangeDetails
from bot.dialogue.turns import Message
from bot.change_requests.prechecks import find_merchant
from bot.validation import banks
from bot.validation.errors import Invalid


T = TypeVar("T")
DomainDict = Dict[Text, Any]

# Threads for the actions' blocking work. Enough for every conversation that may wait on a slow SMS
# provider at once (a send takes up to 3 attempts x 10 s) without queueing the quick turns behind them.
WORKER_THREADS = int(os.environ.get("ACTION_WORKER_THREADS", "32"))
_workers = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="action-work")


async def off_the_loop(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a worker thread: the event loop serves other conversations meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(_workers, functools.partial(function, *args))


class BlockingAction(Action, abc.ABC):
    """An action whose work touches the database or sends SMS: `act` runs in a worker thread.

    Abstract, so rasa_sdk does not register this base itself (it skips abstract classes)."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        return await off_the_loop(self.act, dispatcher, tracker, domain)

    @abc.abstractmethod
    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """The action's work, synchronous (database sessions, SMS)."""


@contextmanager
def database() -> Iterator[Session]:
    with session_scope() as session:
        yield session


def channel_of(tracker: Tracker) -> str:
    return (tracker.get_latest_input_channel() or "rest")


def vouched_merchant_number(tracker: Tracker) -> Optional[str]:
    """The merchant the channel itself authenticated for this message (web chat portal token,
    bound WeChat OpenID, outside development an authenticated REST caller in the merchant's own
    conversation); None otherwise, e.g. an open REST conversation."""
    return channel_trust.vouched_merchant_number(channel_of(tracker), (tracker.latest_message or {}).get("metadata"),
                                                 tracker.sender_id)


def is_identified(tracker: Tracker) -> bool:
    return bool(tracker.get_slot("merchant_verified") or vouched_merchant_number(tracker))


def identified_by_channel(dispatcher: Any, tracker: Tracker) -> List[Any]:
    """Slots recording a channel-vouched identity the first time it is used, with a word to the
    merchant; nothing when this conversation is already identified (or nobody vouched)."""
    number = vouched_merchant_number(tracker)
    if tracker.get_slot("merchant_verified") or not number:
        return []
    dispatcher.utter_message(response="utter_identified_by_channel", last4=number[-4:])
    return [SlotSet("merchant_number", number), SlotSet("merchant_verified", True)]


def current_merchant(session: Session, tracker: Tracker) -> Optional[Merchant]:
    """The merchant this conversation identified (never a number merely typed, unverified)."""
    number = tracker.get_slot("merchant_number") if tracker.get_slot("merchant_verified") else None
    number = number or vouched_merchant_number(tracker)
    return find_merchant(session, number) if number else None


def typed_merchant(session: Session, tracker: Tracker) -> Optional[Merchant]:
    """The merchant whose number was typed in this conversation (verification still pending)."""
    number = tracker.get_slot("merchant_number")
    return find_merchant(session, number) if number else None


def requester_of(tracker: Tracker) -> codes.Requester:
    """Who asks for a code: this conversation, and the client's address when the channel saw one
    (the limits of bot.codes.request_limits)."""
    return codes.Requester(tracker.sender_id, channel_trust.client_address((tracker.latest_message or {}).get("metadata")))


def identification_purpose(tracker: Tracker) -> VerificationPurpose:
    """What the identification form's code is for: the enrolment code when it runs for enable_2fa
    (its SMS says an authenticator is being added; enrolling needs that code, fresh), else identification."""
    if tracker.get_slot("pending_goal") == "enable_2fa":
        return VerificationPurpose.ENROL
    return VerificationPurpose.IDENTIFY


def change_details(tracker: Tracker) -> ChangeDetails:
    """The values collected by the change form, as the filing and signing services take them."""
    bank = banks.normalize_bank(tracker.get_slot("new_bank"))
    return ChangeDetails(
        reason=tracker.get_slot("change_reason") or "",
        bank_code=bank.code,
        bank_name=bank.name,
        account_number=tracker.get_slot("new_account_number") or "",
        account_name=tracker.get_slot("holder_name") or "",
        holder_id_number=tracker.get_slot("holder_id_number"),
        opening_branch=tracker.get_slot("opening_branch"),
        luhn_confirmed=bool(tracker.get_slot("account_needs_review")),
    )


def announce_code(dispatcher: Any, sent: codes.SendResult, response: str = "utter_code_sent",
                  **variables: str) -> None:
    """Say that a code went to the registered phone, or why none was sent (the SMS provider failed,
    too soon, locked, limit)."""
    if sent.ok:
        dispatcher.utter_message(response=response, phone_masked=sent.phone_masked or "", **variables)
    elif sent.outcome is codes.Outcome.NOT_DELIVERED:
        dispatcher.utter_message(response="utter_code_not_delivered")
    elif sent.outcome is codes.Outcome.TOO_SOON:
        dispatcher.utter_message(response="utter_code_too_soon", seconds=str(sent.retry_after or 60))
    elif sent.outcome is codes.Outcome.LOCKED:
        dispatcher.utter_message(response="utter_code_locked", minutes=str(max(1, (sent.retry_after or 60) // 60)))
    else:
        dispatcher.utter_message(response="utter_code_rate_limited")


def transcript(tracker: Tracker, limit: int = 50) -> List[Dict[str, Any]]:
    """The conversation's messages (the handoff service masks every long number in them); intents
    triggered through Rasa's HTTP API (an agent's hand-back: `EXTERNAL: resume_bot`) are nobody's."""
    lines = []
    for event in tracker.events:
        if event.get("event") == "user" and (event.get("metadata") or {}).get("is_external"):
            continue
        if event.get("event") == "user" and event.get("text"):
            lines.append({"from": "merchant", "text": event["text"]})
        elif event.get("event") == "bot" and event.get("text"):
            lines.append({"from": "bot", "text": event["text"]})
    return lines[-limit:]


CHANGE_SLOTS = ("route", "change_reason", "holder_id_number", "license_number", "new_bank",
                "new_account_number", "holder_name", "opening_branch", "change_confirmed",
                "sign_code", "luhn_pending", "account_needs_review", "idempotency_key",
                "failed_attempts", "bin_bank", "named_bank", "pending_clarification", "question_asked")
# What the agent sees of a handed-off change (masked by the handoff service).
COLLECTED_SLOTS = ("merchant_number", "route", "change_reason", "holder_id_number", "license_number",
                   "new_bank", "new_account_number", "holder_name", "opening_branch")


def incoming_message(tracker: Tracker) -> Message:
    """The merchant's latest message as the turn-taking rules see it (bot.dialogue.turns)."""
    latest = tracker.latest_message or {}
    intent = latest.get("intent") or {}
    ranking = [item.get("confidence") or 0.0 for item in latest.get("intent_ranking") or []]
    return Message(text=latest.get("text") or "", intent=intent.get("name") or "",
                   confidence=float(intent.get("confidence") or 0.0),
                   runner_up_confidence=float(ranking[1]) if len(ranking) > 1 else 0.0)


def bank_named_in_change(tracker: Tracker) -> Optional[banks.Bank]:
    """The bank the merchant last named since this change started ("换成招商银行的卡"), if any; the
    answer to the branch question names a bank too, but says where the account is, not which card."""
    named, asked = None, None
    for event in tracker.events:
        kind = event.get("event")
        if kind == "action" and event.get("name") in ("action_start_change", "action_after_identify"):
            named = None
        elif kind == "slot" and event.get("name") == "requested_slot":
            asked = event.get("value")
        elif kind == "user" and asked != "opening_branch":
            for entity in (event.get("parse_data") or {}).get("entities") or []:
                if entity.get("entity") == "bank":
                    try:
                        named = banks.normalize_bank(entity.get("value"))
                    except Invalid:
                        continue
    return named


def hand_off(tracker: Tracker, reason: str, *, resume_form: Optional[str] = None,
             failed_inputs: Optional[Dict[str, List[str]]] = None,
             collected: Optional[Dict[str, Any]] = None) -> List[EventType]:
    """Open the agents' ticket (masked context) and put the conversation in the handoff state: the
    form closes with its values kept, and `resume_form` is where "继续自助办理" comes back to."""
    with database() as session:
        merchant = current_merchant(session, tracker) or typed_merchant(session, tracker)
        values = collected if collected is not None else {
            slot: tracker.get_slot(slot) for slot in COLLECTED_SLOTS if tracker.get_slot(slot)}
        opened = handoff.open_handoff(session, tracker.sender_id, channel_of(tracker), reason, merchant=merchant,
                                      collected_values=values, transcript=transcript(tracker),
                                      failed_inputs=failed_inputs)
        ticket = opened.handoff.id
    return [SlotSet("handoff", {"id": ticket, "resume": resume_form}), ActiveLoop(None),
            SlotSet("requested_slot", None)]


def tell_when_an_agent_answers(dispatcher: Any) -> None:
    """After the handoff message: outside the service hours, or with no agent signed in, a second
    message says when an agent will answer (bot/agents/service_hours.py); nothing when one will now."""
    with database() as session:
        notice = service_hours.handoff_notice(session)
    if notice.response:
        dispatcher.utter_message(response=notice.response, **notice.variables)
