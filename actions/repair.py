"""Conversation repair, as Rasa Pro's patterns name it, for the open-source forms:

- asking (`action_ask_<slot>`): every form question goes through `AskForSlot`, which asks the
  pending clarification instead when there is one, and guards the loop: the same question asked a
  third time without progress (a refusal, a FAQ, small talk: whatever brought the form back to
  it) comes with the choices as buttons and a human;
- clarification: `action_answer_pending_question` answers the question side of "您是想……还是……？";
- repeat (`再说一遍`): the form asks its question again; outside a form the last answer is repeated;
- skip for later (`先跳过`): the forms accept it where a value may come later (the branch); elsewhere
  the bot says what may come later (document photos) or that the question cannot wait;
- handoff: `action_handoff_waiting` records every message for the agent and acknowledges it
  (waiting) or marks it delivered (an agent has claimed it); `action_resume_bot` comes back to the
  bot at the question where the form stopped.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import BlockingAction, DomainDict, current_merchant, database, incoming_message, is_identified
from actions.flow import tell_status
from bot.agents import handoff, live, service_hours
from bot.db.models import HandoffStatus, MerchantKind
from bot.masking import mask_card_spaced, mask_number

ACTION_LISTEN = "action_listen"
LOOP_GUARD_ASKS = 3
QUESTION_ASKED = "question_asked"
# The other reading of a clarification when it is no question: its button sends the intent itself.
INTENT_PAYLOADS = {"cancel": "/cancel", "request_human": "/request_human", "complain": "/complain",
                   "resend_code": "/resend_code", "repeat_question": "/repeat_question",
                   "skip_for_later": "/skip_for_later", "resume_bot": "/resume_bot"}


class AskForSlot(BlockingAction):
    """Asks the form's question for `slot` (the domain's `utter_ask_<slot>`). Blocking: some
    questions depend on the merchant on record (a company is asked for its corporate account)."""

    slot = ""

    def name(self) -> Text:
        return f"action_ask_{self.slot}"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        pending = tracker.get_slot("pending_clarification") or {}
        if pending.get("slot") == self.slot:
            _ask_clarification(dispatcher, pending)
            return []
        asked = tracker.get_slot(QUESTION_ASKED) or {}
        times = asked.get("times", 0) if asked.get("slot") == self.slot else 0
        if incoming_message(tracker).intent != "repeat_question" or not times:
            times += 1  # asked for "再说一遍" is not a lack of progress
        self.ask(dispatcher, tracker)
        if times >= LOOP_GUARD_ASKS:
            dispatcher.utter_message(response="utter_loop_guard")
        return [SlotSet(QUESTION_ASKED, {"slot": self.slot, "times": times})]

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        dispatcher.utter_message(response=f"utter_ask_{self.slot}")


def _ask_clarification(dispatcher: CollectingDispatcher, pending: Dict[str, Any]) -> None:
    intent = pending.get("intent") or ""
    if intent in INTENT_PAYLOADS:
        dispatcher.utter_message(response=f"utter_clarify_{intent}", answer=pending.get("answer") or "")
    else:
        dispatcher.utter_message(response="utter_clarify_question", answer=pending.get("answer") or "",
                                 question=pending.get("question") or "")


class AskNewAccountNumber(AskForSlot):
    slot = "new_account_number"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        with database() as session:
            merchant = current_merchant(session, tracker)
            company = merchant is not None and merchant.kind == MerchantKind.COMPANY.value
        dispatcher.utter_message(response="utter_ask_new_account_number_corporate" if company
                                 else "utter_ask_new_account_number")


class AskNewBank(AskForSlot):
    """Asked only when the BIN table does not name the card's bank (a corporate account), or when a
    bank the merchant named disagrees with the card's: then two buttons settle it."""

    slot = "new_bank"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        card_bank = tracker.get_slot("bin_bank")
        if card_bank and tracker.get_slot("new_account_number"):
            dispatcher.utter_message(response="utter_ask_new_bank_mismatch", bin_bank=card_bank,
                                     named_bank=tracker.get_slot("named_bank") or "",
                                     last4=(tracker.get_slot("new_account_number") or "")[-4:])
        else:
            dispatcher.utter_message(response="utter_ask_new_bank")


class AskChangeConfirmed(AskForSlot):
    """Shows every collected value, masked, and asks for confirmation."""

    slot = "change_confirmed"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        number = tracker.get_slot("new_account_number") or ""
        dispatcher.utter_message(
            response="utter_confirm_change",
            reason=tracker.get_slot("change_reason") or "",
            bank=tracker.get_slot("new_bank") or "",
            account_masked=mask_card_spaced(number),
            holder_name=tracker.get_slot("holder_name") or "",
            id_masked=mask_number(tracker.get_slot("holder_id_number") or ""),
            branch=tracker.get_slot("opening_branch") or "",
        )


def _plain_ask(slot: str) -> type:
    return type(f"Ask_{slot}", (AskForSlot,), {"slot": slot, "__module__": __name__})


# One action per question the forms ask (rasa-sdk registers every Action subclass).
PLAIN_ASKS = [_plain_ask(slot) for slot in (
    "merchant_number", "identify_code", "route", "change_reason", "holder_id_number", "license_number",
    "holder_name", "opening_branch", "sign_code", "totp_code")]


class ActionAnswerPendingQuestion(BlockingAction):
    """The merchant chose "I was asking" in a clarification: answer that question."""

    def name(self) -> Text:
        return "action_answer_pending_question"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        pending = tracker.get_slot("pending_clarification") or {}
        intent = pending.get("intent")
        if intent == "faq" and pending.get("response_key"):
            dispatcher.utter_message(response=f"utter_{pending['response_key']}")
        elif intent == "check_status":
            tell_status(dispatcher, tracker)
        else:
            dispatcher.utter_message(response=ANSWERS.get(intent, "utter_default"))
        return [SlotSet("pending_clarification", None)]


ANSWERS = {"bot_challenge": "utter_iamabot", "out_of_scope": "utter_out_of_scope",
           "enable_2fa": "utter_enable_2fa_after_change"}


class ActionRepeatQuestion(Action):
    """'再说一遍': in a form, the form asks again (this says so); elsewhere, the last answer again."""

    def name(self) -> Text:
        return "action_repeat_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.active_loop_name:
            dispatcher.utter_message(response="utter_repeat_intro")
            return []
        last = _last_answer(tracker)
        if not last:
            dispatcher.utter_message(response="utter_nothing_to_repeat")
        for message in last:
            dispatcher.utter_message(text=message.get("text"), buttons=(message.get("data") or {}).get("buttons") or [])
        return []


def _last_answer(tracker: Tracker) -> List[Dict[str, Any]]:
    """The bot's messages of the turn before the merchant's latest message."""
    users_seen, messages = 0, []
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users_seen += 1
            if users_seen == 2:
                break
        elif event.get("event") == "bot" and users_seen == 1 and event.get("text"):
            messages.append(event)
    return list(reversed(messages))


class ActionSkipForLater(Action):
    """'先跳过' where the forms could not take it: photos may come later, questions cannot."""

    def name(self) -> Text:
        return "action_skip_for_later"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_cannot_skip" if tracker.active_loop_name else "utter_photos_later")
        return []


class ActionHandoffWaiting(BlockingAction):
    """Each merchant message while handed off: recorded for the agent (bot.agents.live), then
    - waiting for an agent: a short acknowledgement and the way back to the bot;
    - an agent has claimed it: only the mark `utter_handoff_delivered` (the agent answers, the bot
      does not chatter on every message; the channels show the mark discreetly or not at all)."""

    def name(self) -> Text:
        return "action_handoff_waiting"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        with database() as session:
            opened = live.record_merchant_message(session, tracker.sender_id, _as_the_agent_reads(tracker))
            status = HandoffStatus(opened.status) if opened is not None else None
        if status is None:  # closed by an agent without handing back through Rasa's API
            dispatcher.utter_message(response="utter_handoff_closed")
            return _back_to_bot(dispatcher, tracker)
        if status is HandoffStatus.ACTIVE:
            dispatcher.utter_message(response="utter_handoff_delivered")
        else:
            dispatcher.utter_message(response="utter_handoff_waiting",
                                     service_hours=service_hours.configured_hours().text())
        return []


def _as_the_agent_reads(tracker: Tracker) -> str:
    """The merchant's message for the agent's transcript: what was typed; for a button or an upload
    (an intent payload such as `/document_uploaded{...}`), the intent's name without its data."""
    text = ((tracker.latest_message or {}).get("text") or "").strip()
    return text.split("{", 1)[0] if text.startswith("/") else text


class ActionResumeBot(BlockingAction):
    """'不等了，继续自助办理': withdraw the handoff and ask the question where the form stopped."""

    def name(self) -> Text:
        return "action_resume_bot"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.get_slot("handoff"):
            with database() as session:
                handoff.withdraw_handoff(session, tracker.sender_id)
        return _back_to_bot(dispatcher, tracker)


def _back_to_bot(dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
    form = (tracker.get_slot("handoff") or {}).get("resume") or tracker.active_loop_name
    events: List[EventType] = [SlotSet("handoff", None), SlotSet("question_asked", None)]
    if form in ("change_form", "sign_form") and not is_identified(tracker):
        form = None  # the identification expired with the session: start again from the top
    if form:
        dispatcher.utter_message(response="utter_resumed")
        return events + [FollowupAction(form)]
    dispatcher.utter_message(response="utter_resumed_nothing")
    return events + [FollowupAction(ACTION_LISTEN)]

