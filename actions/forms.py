"""Form validation for the change-account conversation.

One pattern, solved once (`ValidatedForm`): every `validate_<slot>` method returns either the
normalised value or raises `Refused` with the Chinese response naming the rule that failed. The
base class then counts failures per slot:
- 1st failure: the specific reason (e.g. `utter_invalid_card_luhn`), and the form asks again;
- 2nd failure on the same slot: the reason, then an offer of a human agent;
- 3rd failure: a handoff to an agent with the refused inputs attached (masked), and the
  conversation pauses until the agent hands it back.
The slot-specific rules (which validator, what "same name" means for this merchant) stay in the
small `validate_<slot>` methods below; the rules themselves live in `bot/`.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.common import announce_code, channel_of, current_merchant, database, transcript, typed_merchant
from bot import handoff, verification
from bot.db.models import MerchantKind, VerificationPurpose
from bot.filing import same_name
from bot.masking import mask_number
from bot.prechecks import find_merchant
from bot.validation import bank_card, banks, corporate_account, identifiers, licence, person_name, resident_id
from bot.validation.errors import Invalid
from bot.validation.messages import response_for

MAX_FAILURES = 3
CODE_LOCK_MINUTES = 30


class Refused(Exception):
    """A value the merchant gave was not accepted; carries the response explaining why."""

    def __init__(self, response: str, **variables: Any) -> None:
        super().__init__(response)
        self.response = response
        self.variables = {key: str(value) for key, value in variables.items()}
        self.counts = True  # False for outcomes that are not the merchant's typing (e.g. locked)


def refused_by(error: Invalid) -> Refused:
    response, variables = response_for(error)
    return Refused(response, **variables)


class ValidatedForm:
    """Runs each `check_<slot>` and turns refusals into specific messages, offers and handoffs.

    A mixin before `FormValidationAction` (not a subclass of it): rasa-sdk registers every Action
    subclass as an action, and this base is not one."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        self._extra_events: List[EventType] = []
        events = await super().run(dispatcher, tracker, domain)
        return events + self._extra_events

    def __getattr__(self, name: str) -> Any:
        # rasa-sdk looks up validate_<slot>; route them all through one failure-counting wrapper.
        if name.startswith("validate_") and name != "validate_" and hasattr(type(self), "check_" + name[9:]):
            slot = name[len("validate_"):]

            async def validate(value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
                return self._validate(slot, value, dispatcher, tracker)

            return validate
        raise AttributeError(name)

    def _validate(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[Text, Any]:
        failures: Dict[str, List[str]] = dict(tracker.get_slot("failed_attempts") or {})
        try:
            accepted = getattr(self, "check_" + slot)(value, dispatcher, tracker)
        except Refused as refusal:
            dispatcher.utter_message(response=refusal.response, **refusal.variables)
            if not refusal.counts:
                return {slot: None}
            refused = failures.get(slot, []) + [mask_number(str(value)) if value else ""]
            failures[slot] = refused
            if len(refused) == 2:
                dispatcher.utter_message(response="utter_offer_human")
            elif len(refused) >= MAX_FAILURES:
                self._hand_off(dispatcher, tracker, handoff.REPEATED_VALIDATION_FAILURE, {slot: refused})
                return {slot: None, "failed_attempts": failures, "requested_slot": None}
            return {slot: None, "failed_attempts": failures}
        if not isinstance(accepted, dict):
            accepted = {slot: accepted}
        failures.pop(slot, None)
        return {**accepted, "failed_attempts": failures}

    def _hand_off(self, dispatcher: CollectingDispatcher, tracker: Tracker, reason: str,
                  failed_inputs: Optional[Dict[str, List[str]]] = None) -> None:
        with database() as session:
            merchant = current_merchant(session, tracker) or typed_merchant(session, tracker)
            handoff.open_handoff(
                session, tracker.sender_id, channel_of(tracker), reason, merchant=merchant,
                collected_values={slot: tracker.get_slot(slot) for slot in _COLLECTED if tracker.get_slot(slot)},
                transcript=transcript(tracker), failed_inputs=failed_inputs,
            )
        dispatcher.utter_message(response="utter_too_many_failures")
        self._extra_events.append(ConversationPaused())


_COLLECTED = ("merchant_number", "route", "change_reason", "holder_id_number", "license_number",
              "new_bank", "new_account_number", "holder_name", "opening_branch")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _typed_code(value: Any) -> str:
    """Six digits (full-width and Chinese digits normalised), or the refusal saying what a code is."""
    try:
        return identifiers.validate_otp(_text(value))
    except Invalid as error:
        raise refused_by(error)


def _verification_refusal(result: verification.VerifyResult) -> Refused:
    """Wrong codes follow the verification policy (5 tries, then a 30-minute lock), not the
    generic three-failures handoff, so they are not counted here."""
    outcome = result.outcome
    if outcome is verification.Outcome.WRONG_CODE:
        refusal = Refused("utter_code_wrong", attempts_left=result.attempts_left or 0)
    elif outcome is verification.Outcome.LOCKED:
        refusal = Refused("utter_code_locked", minutes=max(1, (result.retry_after or 60) // 60))
    else:
        refusal = Refused("utter_code_expired")
    refusal.counts = False
    return refusal


class ValidateIdentifyForm(ValidatedForm, FormValidationAction):
    def name(self) -> Text:
        return "validate_identify_form"

    def check_merchant_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        try:
            number = identifiers.validate_merchant_id(_text(value))
        except Invalid as error:
            raise refused_by(error)
        with database() as session:
            merchant = find_merchant(session, number)
            if merchant is None:
                raise Refused("utter_merchant_unknown", last4=number[-4:])
            sent = verification.send_code(session, merchant, VerificationPurpose.IDENTIFY,
                                          conversation_id=tracker.sender_id)
        announce_code(dispatcher, sent)
        return {"merchant_number": number, "merchant_verified": False}

    def check_identify_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        code = _typed_code(value)
        with database() as session:
            merchant = typed_merchant(session, tracker)
            result = verification.verify_code(session, merchant, VerificationPurpose.IDENTIFY, code,
                                               conversation_id=tracker.sender_id)
        if not result.ok:
            raise _verification_refusal(result)
        dispatcher.utter_message(response="utter_identified")
        return {"identify_code": "verified", "merchant_verified": True}


ROUTES = {"online": ("线上", "在线", "这里", "网上", "聊天", "online"),
          "offline": ("线下", "网点", "柜台", "当面", "营业厅", "offline")}


class ValidateChangeForm(ValidatedForm, FormValidationAction):
    def name(self) -> Text:
        return "validate_change_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        if tracker.get_slot("route") == "offline":
            return ["route"]
        with database() as session:
            merchant = current_merchant(session, tracker)
            needs_licence = merchant is not None and merchant.kind != MerchantKind.MICRO.value
        # Only sole traders and companies have a business licence.
        return [slot for slot in domain_slots if needs_licence or slot != "license_number"]

    def check_route(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        text = _text(value).lower()
        for route, words in ROUTES.items():
            if any(word in text for word in words):
                return route
        raise Refused("utter_route_unknown")

    def check_change_reason(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        text = _text(value).strip()
        if not 2 <= len(text) <= 100:
            raise Refused("utter_reason_invalid")
        return text

    def check_holder_id_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        try:
            return resident_id.validate(_text(value))
        except Invalid as error:
            raise refused_by(error)

    def check_license_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        try:
            code = licence.validate(_text(value))
        except Invalid as error:
            raise refused_by(error)
        with database() as session:
            merchant = current_merchant(session, tracker)
            if merchant is not None and merchant.license_code and merchant.license_code != code:
                raise Refused("utter_licence_mismatch")
        return code

    def check_new_bank(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        try:
            return banks.normalize_bank(_text(value)).name
        except Invalid as error:
            raise refused_by(error)

    def check_new_account_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        with database() as session:
            merchant = current_merchant(session, tracker)
            account = merchant.current_account if merchant is not None else None
            current = account.account_number if account is not None else None
            company = merchant is not None and merchant.kind == MerchantKind.COMPANY.value
        try:
            if company:
                number = corporate_account.validate(_text(value), current=current)
                return {"new_account_number": number, "luhn_pending": None}
            card = bank_card.validate(_text(value), bank=tracker.get_slot("new_bank"), current=current,
                                      previous=tracker.get_slot("luhn_pending"))
        except Invalid as error:
            if error.soft:
                # Luhn: the same number typed again is accepted for manual review (not a failure).
                response, variables = response_for(error)
                dispatcher.utter_message(response=response, **variables)
                return {"new_account_number": None, "luhn_pending": bank_card.compact(_text(value))}
            raise refused_by(error)
        if card.needs_review:
            dispatcher.utter_message(response="utter_luhn_accepted")
        return {"new_account_number": card.number, "luhn_pending": None,
                "account_needs_review": bool(card.needs_review)}

    def check_holder_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        with database() as session:
            merchant = current_merchant(session, tracker)
            if merchant is not None and merchant.kind == MerchantKind.COMPANY.value:
                name = _text(value).strip()
                if name != merchant.business_name:
                    raise Refused("utter_corporate_name_mismatch", business_name=merchant.business_name)
                return name
            try:
                name = person_name.validate(_text(value))
            except Invalid as error:
                raise refused_by(error)
            if merchant is not None and not same_name(merchant, name):
                dispatcher.utter_message(response="utter_different_name")
        return name

    def check_opening_branch(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        text = re.sub(r"\s+", "", _text(value))
        if not 2 <= len(text) <= 50 or not re.search(r"[\u4e00-\u9fff]", text):
            raise Refused("utter_branch_invalid")
        return text

    def check_change_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        if value is True:
            from bot.filing import new_idempotency_key

            return {"change_confirmed": True, "idempotency_key": new_idempotency_key()}
        dispatcher.utter_message(response="utter_which_field")
        return {"change_confirmed": None}


class ValidateSignForm(ValidatedForm, FormValidationAction):
    def name(self) -> Text:
        return "validate_sign_form"

    def check_sign_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        from actions.common import change_details

        code = _typed_code(value)
        with database() as session:
            merchant = current_merchant(session, tracker)
            result = verification.verify_signing_code(session, merchant, code, conversation_id=tracker.sender_id,
                                                      change=change_details(tracker))
        if not result.ok:
            raise _verification_refusal(result)
        return "verified"


class ValidateTotpForm(ValidatedForm, FormValidationAction):
    """The first code of the authenticator app being enrolled confirms the enrolment."""

    def name(self) -> Text:
        return "validate_totp_form"

    def check_totp_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str:
        code = _typed_code(value)
        with database() as session:
            merchant = current_merchant(session, tracker)
            result = verification.confirm_enrolment(session, merchant, code)
        if not result.ok:
            raise _verification_refusal(result)
        dispatcher.utter_message(response="utter_totp_enabled")
        return "verified"
