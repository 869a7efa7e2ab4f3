"""Form validation for the change-account conversation.

One pattern, solved once (`ValidatedForm`), for every form and every question:

- **The answer to the question just asked wins.** Each message that arrives while a form asks for
  a slot is checked as that slot's value (`check_<slot>`), whatever intent the classifier guessed;
  `bot.dialogue.turns.decide` then says whether it is the answer, an interruption (the form steps
  aside by rejecting itself, the rule for the intent runs, and the form asks again), a message to
  clarify with two buttons, or a value to refuse.
- **Refusals are counted per slot**: 1st, the specific reason (e.g. `utter_invalid_card_luhn`);
  2nd, the reason and an offer of a human agent; 3rd, a handoff with the refused inputs attached
  (masked): the form closes with its values kept, and the bot asks nothing more until the merchant
  comes back to it (bot/rasa/policies.py).
- Values collected earlier are not checked again when a form starts again (after a correction or a
  handoff): they were checked when they were given.

The slot-specific rules stay in the small `check_<slot>` methods below; the rules themselves live in
`bot/`. A check returns the value (or a dict of slots), `Weak(value)` for a value that any text could
pass (free words, a plain name), or raises `Refused`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecutionRejected, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.common import (
    announce_code, bank_named_in_change, change_details, current_merchant, database, hand_off,
    identification_purpose, incoming_message, off_the_loop, requester_of, tell_when_an_agent_answers,
)
from bot import codes
from bot.agents import handoff
from bot.change_requests import account_holder
from bot.change_requests.filing import new_idempotency_key
from bot.change_requests.prechecks import needs_licence
from bot.db.models import MerchantKind
from bot.dialogue import turns
from bot.dialogue.turns import Checked, Decision, without_question_tail
from bot.masking import mask_number
from bot.validation import (
    bank_card, banks, branch, confirmation, corporate_account, identifiers, licence, reason, resident_id, route,
)
from bot.validation.errors import Invalid, Reason
from bot.validation.messages import response_for

MAX_FAILURES = 3
PENDING_CLARIFICATION = "pending_clarification"

# Intents every form can step aside for: each has a rule "<intent> inside <form>" in
# data/stories/change_account.yml (tests/actions/test_interruptions.py checks both lists agree).
COMMON_INTERRUPTIONS: FrozenSet[str] = frozenset({
    "faq", "bot_challenge", "out_of_scope", "greet", "thank", "goodbye", "request_human", "complain",
    "cancel", "resend_code", "repeat_question", "skip_for_later", "clarified_as_question", "document_uploaded",
})


class Refused(Exception):
    """A value the merchant gave was not accepted; carries the response explaining why."""

    def __init__(self, response: str, **variables: Any) -> None:
        super().__init__(response)
        self.response = response
        self.variables = {key: str(value) for key, value in variables.items()}
        self.counts = True  # False for outcomes that are not the merchant's typing (e.g. locked)

    def not_counted(self) -> "Refused":
        self.counts = False
        return self


@dataclass(frozen=True)
class Weak:
    """An accepted value that any text could pass: it loses against a confident question or small talk."""

    value: Any


def refused_by(error: Invalid) -> Refused:
    response, variables = response_for(error)
    return Refused(response, **variables)


@dataclass
class _Turn:
    """What one run of a form's validation decided (kept per call, never on the shared action)."""

    rejected: bool = False
    events: List[EventType] = field(default_factory=list)
    closed: bool = False  # handed off: the form closes, nothing more is asked


class ValidatedForm:
    """Decides each message for the requested slot, checks values, counts refusals.

    A mixin before `FormValidationAction` (not a subclass of it): rasa-sdk registers every Action
    subclass as an action, and this base is not one."""

    interruptions: FrozenSet[str] = COMMON_INTERRUPTIONS
    # Slots whose check has effects (a code sent or consumed): a valid value is never questioned.
    final_values: FrozenSet[str] = frozenset()
    # Slots the merchant may leave for later, and what is recorded then.
    skippable: Dict[str, str] = {}

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if not _runs_on_a_message(tracker):
            # The form starts again (after a correction, a handoff, an interruption): values
            # collected earlier were checked when they were given; ask for the first missing one.
            next_slot = await self.next_requested_slot(dispatcher, tracker, domain)
            return [next_slot] if next_slot else []
        turn = _Turn()
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        # The checks read the database and may send a code by SMS: never on the event loop.
        events = await off_the_loop(self._take_all, required, dispatcher, tracker, turn)
        if turn.rejected:
            # Rasa then runs the rule for the interruption and comes back to this form.
            return [ActionExecutionRejected(self.form_name())] + events
        tracker.add_slots(events + turn.events)
        if turn.closed:
            return events + turn.events
        next_slot = await self.next_requested_slot(dispatcher, tracker, domain)
        return events + turn.events + ([next_slot] if next_slot else [])

    def _take_all(self, required: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker,
                  turn: _Turn) -> List[EventType]:
        events: List[EventType] = []
        for slot, value in tracker.slots_to_validate().items():
            if slot in required and hasattr(self, "check_" + slot):
                events += self._take(slot, value, dispatcher, tracker, turn)
        return events

    def _take(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
              turn: _Turn) -> List[EventType]:
        message = incoming_message(tracker)
        pending = tracker.get_slot(PENDING_CLARIFICATION) or {}
        clear_pending = [SlotSet(PENDING_CLARIFICATION, None)] if pending else []
        chosen = message.intent == "clarified_as_answer"
        if chosen:
            if pending.get("slot") != slot:  # an old button: just ask again
                return [SlotSet(slot, None)] + clear_pending
            value, message = pending["text"], turns.Message(pending["text"], "inform")
        elif message.intent == "skip_for_later" and slot in self.skippable:
            dispatcher.utter_message(response=f"utter_{slot}_skipped")
            return [SlotSet(slot, self.skippable[slot])] + clear_pending
        if message.intent == "clarified_as_question" and "clarified_as_question" in self.interruptions:
            turn.rejected = True
            return [SlotSet(slot, None)]  # undo the raw text the slot mapping put there

        checked_by = CollectingDispatcher()  # what the check says is only said if the value is taken
        refusal: Optional[Refused] = None
        accepted: Any = None
        try:
            accepted = getattr(self, "check_" + slot)(value, checked_by, tracker)
            checked = Checked.WEAK if isinstance(accepted, Weak) else Checked.STRONG
        except Refused as refused:
            refusal, checked = refused, Checked.INVALID

        if refusal is not None and not refusal.counts:
            # An answer to this question that cannot be taken as it is (a wrong code, "不知道支行"):
            # what the check says about it is the reply, whatever the classifier heard.
            decision = Decision.REFUSE
        elif chosen and refusal is None:
            decision = Decision.ANSWER
        else:
            decision = turns.decide(message, slot, checked, value_is_final=slot in self.final_values)
        if decision is Decision.INTERRUPT and message.intent not in self.interruptions:
            decision = Decision.REFUSE if refusal is not None else Decision.ANSWER
        if decision is Decision.INTERRUPT:
            turn.rejected = True
            return [SlotSet(slot, None)]  # undo the raw text the slot mapping put there
        if decision is Decision.CLARIFY:
            understood = accepted.value if isinstance(accepted, Weak) else accepted
            if isinstance(understood, dict):
                understood = understood.get(slot)
            return [SlotSet(slot, None),
                    SlotSet(PENDING_CLARIFICATION, _clarification(slot, value, understood, message, tracker))]
        dispatcher.messages.extend(checked_by.messages)
        if refusal is not None:
            return self._refuse(slot, value, refusal, dispatcher, tracker, turn) + clear_pending
        if isinstance(accepted, Weak):
            accepted = accepted.value
        if not isinstance(accepted, dict):
            accepted = {slot: accepted}
        failures: Dict[str, List[str]] = dict(tracker.get_slot("failed_attempts") or {})
        failures.pop(slot, None)
        return [SlotSet(key, item) for key, item in {**accepted, "failed_attempts": failures}.items()] + clear_pending

    def _refuse(self, slot: str, value: Any, refusal: Refused, dispatcher: CollectingDispatcher,
                tracker: Tracker, turn: _Turn) -> List[EventType]:
        dispatcher.utter_message(response=refusal.response, **refusal.variables)
        if not refusal.counts:
            return [SlotSet(slot, None)]
        failures: Dict[str, List[str]] = dict(tracker.get_slot("failed_attempts") or {})
        refused = failures.get(slot, []) + [mask_number(str(value)) if value else ""]
        failures[slot] = refused
        if len(refused) == 2:
            dispatcher.utter_message(response="utter_offer_human")
        elif len(refused) >= MAX_FAILURES:
            dispatcher.utter_message(response="utter_too_many_failures")
            turn.closed = True
            turn.events += hand_off(tracker, handoff.REPEATED_VALIDATION_FAILURE, resume_form=self.form_name(),
                                    failed_inputs={slot: refused})
            tell_when_an_agent_answers(dispatcher)
        return [SlotSet(slot, None), SlotSet("failed_attempts", failures)]


def _merchant_needs_licence(tracker: Tracker) -> bool:
    with database() as session:
        merchant = current_merchant(session, tracker)
        return merchant is not None and needs_licence(merchant)


def _runs_on_a_message(tracker: Tracker) -> bool:
    """True when the form runs on the merchant's latest message, False when it (re)starts after
    another action. Rasa's form appends its own run (`action: <form>`) and the slots to validate to
    the tracker it sends; the action before that tells which case it is."""
    actions = [event.get("name") for event in tracker.events if event.get("event") == "action"]
    return len(actions) >= 2 and actions[-2] == "action_listen"


def _clarification(slot: str, value: Any, understood: Any, message: turns.Message,
                   tracker: Tracker) -> Dict[str, Any]:
    """What the clarification buttons need: the value as the check understood it (shown masked),
    the merchant's words (taken again if they choose the answer), and the other reading (a
    question to answer, or cancel / a human)."""
    latest = tracker.latest_message or {}
    faq = ((latest.get("response_selector") or {}).get("faq") or {}).get("response") or {}
    return {"slot": slot, "text": _text(value), "answer": answer_label(slot, _text(understood)),
            "intent": message.intent, "response_key": faq.get("intent_response_key"),
            "question": message.text[:40]}


def answer_label(slot: str, text: str) -> str:
    """How a value is shown back: numbers masked, routes by name."""
    if re.search(r"\d{6,}", text):
        return mask_number(text)
    return route.LABELS.get(text, text[:30])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _typed_code(value: Any) -> str:
    """Six digits (full-width and Chinese digits normalised), or the refusal saying what a code is."""
    try:
        return identifiers.validate_otp(_text(value))
    except Invalid as error:
        raise refused_by(error)


def _verification_refusal(result: codes.VerifyResult) -> Refused:
    """Wrong codes follow the verification policy (5 tries, then a 30-minute lock), not the
    generic three-failures handoff, so they are not counted here."""
    outcome = result.outcome
    if outcome is codes.Outcome.WRONG_CODE:
        refusal = Refused("utter_code_wrong", attempts_left=result.attempts_left or 0)
    elif outcome is codes.Outcome.LOCKED:
        refusal = Refused("utter_code_locked", minutes=max(1, (result.retry_after or 60) // 60))
    elif outcome is codes.Outcome.AUTHENTICATOR_TOO_NEW:
        refusal = Refused("utter_authenticator_too_new", hours=max(1, math.ceil((result.retry_after or 3600) / 3600)))
    else:
        refusal = Refused("utter_code_expired")
    refusal.counts = False
    return refusal


class ValidateIdentifyForm(ValidatedForm, FormValidationAction):
    interruptions = COMMON_INTERRUPTIONS
    final_values = frozenset({"merchant_number", "identify_code"})

    def name(self) -> Text:
        return "validate_identify_form"

    def check_merchant_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        try:
            number = identifiers.validate_merchant_id(_text(value))
        except Invalid as error:
            raise refused_by(error)
        # Answered alike whether the number is a merchant's or not (no enumeration): the code
        # goes to the registered phone if there is one, and nothing here says which.
        with database() as session:
            sent = codes.send_identification_code(session, number, identification_purpose(tracker),
                                                  requester_of(tracker))
        announce_code(dispatcher, sent)
        return {"merchant_number": number, "merchant_verified": False}

    def check_identify_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        code = _typed_code(value)
        with database() as session:
            result = codes.verify_identification_code(session, tracker.get_slot("merchant_number"), code,
                                                      identification_purpose(tracker),
                                                      conversation_id=tracker.sender_id)
        if not result.ok:
            raise _verification_refusal(result)
        dispatcher.utter_message(response="utter_identified")
        return {"identify_code": "verified", "merchant_verified": True}


class ValidateChangeForm(ValidatedForm, FormValidationAction):
    interruptions = COMMON_INTERRUPTIONS | {"check_status", "correct_info"}
    skippable = {"opening_branch": branch.NOT_GIVEN}

    def name(self) -> Text:
        return "validate_change_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        if tracker.get_slot("route") == "offline":
            return ["route"]
        with_licence = await off_the_loop(_merchant_needs_licence, tracker)
        return [slot for slot in domain_slots if with_licence or slot != "license_number"]

    def check_route(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        try:
            return route.validate(_text(value))
        except Invalid as error:
            raise refused_by(error)

    def check_change_reason(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Any:
        try:
            given = reason.validate(without_question_tail(_text(value)))
        except Invalid as error:
            raise refused_by(error)
        return given.value if given.strong else Weak(given.value)

    def check_holder_id_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        try:
            return resident_id.validate(_text(value))
        except Invalid as error:
            raise refused_by(error)

    def check_license_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        try:
            code = licence.validate(_text(value))
            with database() as session:
                return account_holder.check_licence(current_merchant(session, tracker), code)
        except Invalid as error:
            raise refused_by(error)

    def check_new_account_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        """The card first: its BIN names the bank ("招商银行 借记卡，尾号0568"), so the bank is asked
        only when a bank the merchant named disagrees (two buttons), or for a corporate account."""
        with database() as session:
            merchant = current_merchant(session, tracker)
            account = merchant.current_account if merchant is not None else None
            current = account.account_number if account is not None else None
            company = merchant is not None and merchant.kind == MerchantKind.COMPANY.value
        try:
            if company:
                number = corporate_account.validate(_text(value), current=current)
                return {"new_account_number": number, "luhn_pending": None}
            card = bank_card.validate(_text(value), current=current, previous=tracker.get_slot("luhn_pending"))
        except Invalid as error:
            if error.soft:
                # Luhn: the same number typed again is accepted for manual review (not a failure).
                response, variables = response_for(error)
                dispatcher.utter_message(response=response, **variables)
                return {"new_account_number": None, "luhn_pending": bank_card.compact(_text(value))}
            raise refused_by(error)
        if card.needs_review:
            dispatcher.utter_message(response="utter_luhn_accepted")
        dispatcher.utter_message(response="utter_card_identified", bank=card.bank_name, last4=card.last4)
        slots = {"new_account_number": card.number, "luhn_pending": None,
                 "account_needs_review": bool(card.needs_review), "bin_bank": card.bank_name}
        named = bank_named_in_change(tracker)
        if named is not None and not banks.same_bank(named.code, card.bank_code):
            return {**slots, "new_bank": None, "named_bank": named.name}  # settled by two buttons
        return {**slots, "new_bank": card.bank_name}

    def check_new_bank(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        try:
            bank = banks.normalize_bank(_text(value))
        except Invalid as error:
            raise refused_by(error)
        number = tracker.get_slot("new_account_number")
        card_bank = tracker.get_slot("bin_bank")
        if number and card_bank and bank.name != card_bank:
            # Still not the card's bank: the same two buttons again (bank of the card / new card).
            raise Refused("utter_invalid_card_bank_mismatch", bank_name=card_bank, named_bank=bank.name)
        return bank.name

    def check_holder_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Any:
        try:
            with database() as session:
                holder = account_holder.check_holder_name(current_merchant(session, tracker), _text(value))
        except Invalid as error:
            raise refused_by(error)
        if holder.different_name:
            dispatcher.utter_message(response="utter_different_name")
        return holder.name if holder.certain else Weak(holder.name)

    def check_opening_branch(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        if branch.is_unknown(_text(value)):
            # Where to find it, and a button to leave it to the review: no failure of the merchant's.
            raise refused_by(Invalid(Reason.BRANCH_NOT_KNOWN)).not_counted()
        try:
            return branch.validate(without_question_tail(_text(value)))
        except Invalid as error:
            raise refused_by(error)

    def check_change_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        if not isinstance(value, bool):
            try:
                value = confirmation.validate(_text(value))
            except Invalid as error:
                raise refused_by(error)
        if value:
            return {"change_confirmed": True, "idempotency_key": new_idempotency_key()}
        dispatcher.utter_message(response="utter_which_field")
        return {"change_confirmed": None}


class ValidateSignForm(ValidatedForm, FormValidationAction):
    interruptions = COMMON_INTERRUPTIONS | {"check_status", "correct_info"}
    final_values = frozenset({"sign_code"})

    def name(self) -> Text:
        return "validate_sign_form"

    def check_sign_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        code = _typed_code(value)
        with database() as session:
            merchant = current_merchant(session, tracker)
            result = codes.verify_signing_code(session, merchant, code, conversation_id=tracker.sender_id,
                                                      change=change_details(tracker))
        if not result.ok:
            raise _verification_refusal(result)
        return "verified"


class ValidateTotpForm(ValidatedForm, FormValidationAction):
    """The first code of the authenticator app being enrolled confirms the enrolment."""

    final_values = frozenset({"totp_code"})

    def name(self) -> Text:
        return "validate_totp_form"

    def check_totp_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        code = _typed_code(value)
        with database() as session:
            merchant = current_merchant(session, tracker)
            result = codes.confirm_enrolment(session, merchant, code)
        if not result.ok:
            raise _verification_refusal(result)
        dispatcher.utter_message(response="utter_totp_enabled")
        return "verified"
