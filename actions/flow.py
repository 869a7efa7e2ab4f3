"""The steps between the forms: start, pre-checks, confirmation, signing, filing, status, handoff,
cancel and corrections. Each action reads slots, calls `bot/`, utters responses by name."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    CHANGE_SLOTS, announce_code, change_details, channel_of, current_merchant, database, hand_off,
    identified_by_channel, is_identified, typed_merchant,
)
from bot.change_requests import documents
from bot.agents import handoff
from bot import channel_trust
from bot.change_requests import status
from bot.codes import verification
from bot.db.models import MerchantKind, VerificationPurpose
from bot.dialogue.corrections import field_named, is_correction
from bot.change_requests.filing import FilingRefused, file_change_request, missing_documents, same_name
from bot.change_requests.prechecks import run_prechecks
from bot.codes.qr import grouped_secret, qr_svg_data_uri

DomainDict = Dict[Text, Any]

# The rules (data/stories/change_account.yml) continue each step with the usual next form, as the
# test stories expect; an action that stops the flow says so by ending the turn explicitly.
ACTION_LISTEN = "action_listen"


def _reset_change() -> List[EventType]:
    return [SlotSet(slot, None) for slot in CHANGE_SLOTS]


def _prechecks_then_change(dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
    with database() as session:
        merchant = current_merchant(session, tracker)
        result = run_prechecks(session, merchant)
        if not result.ok:
            dispatcher.utter_message(response=result.reason.response, **result.details)
            return [SlotSet("pending_goal", None), FollowupAction(ACTION_LISTEN)]
    return [SlotSet("pending_goal", None), FollowupAction("change_form")]


class ActionStartChange(Action):
    """change_account: identify first (unless this conversation already did), then pre-checks."""

    def name(self) -> Text:
        return "action_start_change"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if not is_identified(tracker):
            return [SlotSet("pending_goal", "change"), FollowupAction("identify_form")]
        identified = identified_by_channel(dispatcher, tracker)
        return identified + _reset_change() + _prechecks_then_change(dispatcher, tracker)


class ActionAfterIdentify(Action):
    def name(self) -> Text:
        return "action_after_identify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if not tracker.get_slot("merchant_verified"):
            return [SlotSet("pending_goal", None), FollowupAction(ACTION_LISTEN)]
        _remember_wechat_follower(tracker)
        if tracker.get_slot("pending_goal") == "enable_2fa":
            return [SlotSet("pending_goal", None)] + _start_enrolment(dispatcher, tracker)
        if tracker.get_slot("pending_goal") == "status":
            told = tell_status(dispatcher, tracker)
            return [SlotSet("pending_goal", None)] + told + [FollowupAction(ACTION_LISTEN)]
        return _reset_change() + _prechecks_then_change(dispatcher, tracker)


class ActionAfterChangeForm(Action):
    """Offline route: what to bring. Online: send the signing code, then the signing form."""

    def name(self) -> Text:
        return "action_after_change_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        with database() as session:
            merchant = current_merchant(session, tracker)
            if merchant is None:
                return _reset_change() + [FollowupAction(ACTION_LISTEN)]
            if tracker.get_slot("route") == "offline":
                hint = "" if merchant.kind == MerchantKind.MICRO.value else "、营业执照"
                dispatcher.utter_message(response="utter_offline_route", licence_hint=hint)
                return _reset_change() + [FollowupAction(ACTION_LISTEN)]
            if not tracker.get_slot("change_confirmed"):
                return [FollowupAction(ACTION_LISTEN)]
            details = change_details(tracker)
            sent = verification.send_code(session, merchant, VerificationPurpose.SIGN_CHANGE,
                                          conversation_id=tracker.sender_id, change=details)
            with_authenticator = verification.totp_enabled(session, merchant)
        announce_code(dispatcher, sent, "utter_sign_code_sent", bank=details.bank_name, last4=details.last4)
        return [SlotSet("totp_enabled", with_authenticator), FollowupAction("sign_form")]


class ActionFileRequest(Action):
    def name(self) -> Text:
        return "action_file_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.get_slot("sign_code") != "verified":
            return []
        events: List[EventType] = []
        with database() as session:
            merchant = current_merchant(session, tracker)
            # Photos sent during the conversation count: the request is not filed as awaiting them.
            details = replace(change_details(tracker), documents=documents.documents_sent(session, tracker.sender_id))
            try:
                filed = file_change_request(session, merchant, details, tracker.get_slot("idempotency_key"),
                                            channel_of(tracker), tracker.sender_id)
            except FilingRefused as refused:
                dispatcher.utter_message(response=refused.reason.response, **refused.details)
                return _reset_change()
            documents.attach_conversation_documents(session, tracker.sender_id, filed.request)
            view = status.view(filed.request, merchant)
            dispatcher.utter_message(response="utter_request_filed", reference=filed.reference,
                                     bank=details.bank_name, last4=details.last4, due_date=view.due_date_text)
            missing = missing_documents(merchant, details)
            if missing:
                dispatcher.utter_message(response="utter_request_missing_documents",
                                         missing="、".join(document.label for document in missing))
            different_name = merchant.kind != MerchantKind.COMPANY.value and not same_name(merchant, details.account_name)
        if different_name:
            events += hand_off(tracker, handoff.DIFFERENT_NAME_AUTHORISATION,
                               collected={"reference": filed.reference, "bank": details.bank_name,
                                          "account_last4": details.last4, "account_name": details.account_name})
            dispatcher.utter_message(response="utter_handoff")
        else:
            dispatcher.utter_message(response="utter_anything_else")
        return _reset_change() + events


def tell_status(dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
    reference = next(tracker.get_latest_entity_values("request_id"), None)
    with database() as session:
        merchant = current_merchant(session, tracker)
        found = status.request_status(session, merchant, reference)
        if found is None:
            dispatcher.utter_message(response="utter_no_request")
            if not tracker.active_loop_name:
                dispatcher.utter_message(response="utter_anything_else")
            return []
        variables = found.response_variables()
        dispatcher.utter_message(response="utter_status", reference=found.reference, bank=found.bank_name,
                                 last4=found.card_last4, status_label=found.status_label,
                                 due_date=found.due_date_text)
        if found.missing_documents:
            dispatcher.utter_message(response="utter_status_missing", missing=variables["missing_documents"])
        if found.overdue:
            status.escalate_if_overdue(session, merchant, found.reference)
            dispatcher.utter_message(response="utter_status_overdue", reference=found.reference,
                                     due_date=found.due_date_text)
    if not tracker.active_loop_name:
        dispatcher.utter_message(response="utter_anything_else")
    return []


class ActionCheckStatus(Action):
    def name(self) -> Text:
        return "action_check_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if not is_identified(tracker):
            return [SlotSet("pending_goal", "status"), FollowupAction("identify_form")]
        return identified_by_channel(dispatcher, tracker) + tell_status(dispatcher, tracker)


class ActionHandoff(Action):
    """request_human / complain: a ticket for the agents with the masked context; pause the bot."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        reason = handoff.COMPLAINT if intent == "complain" else handoff.MERCHANT_REQUEST
        resume = tracker.active_loop_name or (tracker.get_slot("handoff") or {}).get("resume")
        events = hand_off(tracker, reason, resume_form=resume)
        dispatcher.utter_message(response="utter_handoff")
        return events


class ActionCancel(Action):
    def name(self) -> Text:
        return "action_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.active_loop_name:
            dispatcher.utter_message(response="utter_cancelled")
        else:
            dispatcher.utter_message(response="utter_nothing_to_cancel")
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("pending_goal", None)] + _reset_change()


# How the confirmation names each field when it asks for it again.
FIELD_LABELS = {"opening_branch": "开户支行", "new_account_number": "卡号", "new_bank": "银行", "holder_name": "户名",
                "holder_id_number": "身份证号", "license_number": "统一社会信用代码", "change_reason": "变更原因"}


class ActionCorrectField(Action):
    """'卡号输错了': clear just that value (and the confirmation) so the form asks for it again."""

    def name(self) -> Text:
        return "action_correct_field"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        text = tracker.latest_message.get("text") or ""
        slot = next(tracker.get_latest_entity_values("field"), None)  # a button naming the field
        if slot not in FIELD_LABELS:
            if not is_correction(text):
                # "户名是张伟" read as a correction: it is the value itself; the form validates it.
                return []
            slot = field_named(text)
        if slot is None:
            dispatcher.utter_message(response="utter_which_field")
            return [SlotSet("change_confirmed", None)]
        dispatcher.utter_message(response="utter_reask_field", field=FIELD_LABELS[slot])
        events = [SlotSet(slot, None), SlotSet("change_confirmed", None), SlotSet("sign_code", None)]
        if slot in ("new_bank", "new_account_number"):
            # The card names its bank: a wrong bank means the card is asked again, and the other way round.
            events += [SlotSet("new_account_number", None), SlotSet("new_bank", None), SlotSet("bin_bank", None),
                       SlotSet("named_bank", None)]
        if tracker.active_loop_name == "sign_form":
            events += [ActiveLoop(None), FollowupAction("change_form")]
        return events


class ActionResendCode(Action):
    def name(self) -> Text:
        return "action_resend_code"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        loop = tracker.active_loop_name
        with database() as session:
            if loop == "identify_form" and tracker.get_slot("merchant_number"):
                merchant = typed_merchant(session, tracker)
                sent = verification.send_code(session, merchant, VerificationPurpose.IDENTIFY,
                                              conversation_id=tracker.sender_id)
            elif loop == "sign_form":
                merchant = current_merchant(session, tracker)
                sent = verification.send_code(session, merchant, VerificationPurpose.SIGN_CHANGE,
                                              conversation_id=tracker.sender_id, change=change_details(tracker))
            else:
                dispatcher.utter_message(response="utter_no_code_pending")
                return []
        announce_code(dispatcher, sent)
        return []


class ActionFallback(Action):
    """The NLU was not sure: say so; the second time in a row, hand off to a human."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        user_turns = [event for event in tracker.events if event.get("event") == "user"]
        previous = user_turns[-2] if len(user_turns) >= 2 else None
        repeated = previous is not None and ((previous.get("parse_data") or {}).get("intent") or {}).get("name") == "nlu_fallback"
        if not repeated:
            dispatcher.utter_message(response="utter_default")
            return []
        events = hand_off(tracker, handoff.REPEATED_FALLBACK, resume_form=tracker.active_loop_name, collected={})
        dispatcher.utter_message(response="utter_fallback_handoff")
        return events


def _remember_wechat_follower(tracker: Tracker) -> None:
    """A WeChat follower who just proved to be this merchant (code to the registered phone) is
    recognised next time without typing the merchant number again."""
    if channel_of(tracker) != channel_trust.WECHAT:
        return
    from bot.wechat import bind_openid, openid_from_conversation_id  # the WeChat channel's store

    openid = openid_from_conversation_id(tracker.sender_id)
    if openid is None:
        return
    with database() as session:
        merchant = current_merchant(session, tracker)
        if merchant is not None:
            bind_openid(session, openid, merchant)


class ActionReceiveDocument(Action):
    """document_uploaded: say which document arrived and attach it to the request waiting for it."""

    def name(self) -> Text:
        return "action_receive_document"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        public_id = next(tracker.get_latest_entity_values("document_id"), None)
        with database() as session:
            received = documents.receive_document(session, tracker.sender_id, public_id or "",
                                                  current_merchant(session, tracker))
        if received is None:
            dispatcher.utter_message(response="utter_document_unknown")
            return []
        dispatcher.utter_message(response="utter_document_received", document=received.label,
                                 content=received.content_label)
        if received.reference and received.still_missing:
            dispatcher.utter_message(response="utter_document_attached_missing", reference=received.reference,
                                     missing="、".join(document.label for document in received.still_missing))
        elif received.reference:
            dispatcher.utter_message(response="utter_documents_complete", reference=received.reference)
        return []


class ActionStartEnrolment(Action):
    """enable_2fa: an authenticator app as second factor. Needs an SMS code verified in this
    conversation (also on web chat: adding a factor is itself a change), then shows the secret (a QR
    code on web chat, typed text elsewhere) and totp_form takes the app's first code."""

    def name(self) -> Text:
        return "action_start_enrolment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if not is_identified(tracker):
            return [SlotSet("pending_goal", "enable_2fa"), FollowupAction("identify_form")]
        return _start_enrolment(dispatcher, tracker)


def _start_enrolment(dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
    with database() as session:
        merchant = current_merchant(session, tracker)
        if merchant is None:
            return [FollowupAction(ACTION_LISTEN)]
        number, locked = merchant.merchant_number, None
        try:
            enrolment = verification.start_enrolment(session, merchant, conversation_id=tracker.sender_id)
        except verification.NotVerified:
            locked = verification.lock_remaining(session, merchant)
            enrolment = None
    if enrolment is None and locked:
        dispatcher.utter_message(response="utter_code_locked", minutes=str(max(1, locked // 60)))
        return [FollowupAction(ACTION_LISTEN)]
    if enrolment is None:
        # Identified by the channel, or too long ago: a code to the registered phone now; the
        # identification form takes it and comes back here once it is verified.
        dispatcher.utter_message(response="utter_enrol_needs_code")
        with database() as session:
            merchant = current_merchant(session, tracker)
            sent = verification.send_code(session, merchant, VerificationPurpose.IDENTIFY,
                                          conversation_id=tracker.sender_id)
        announce_code(dispatcher, sent)
        return [SlotSet("pending_goal", "enable_2fa"), SlotSet("merchant_number", number),
                SlotSet("merchant_verified", False), SlotSet("identify_code", None), FollowupAction("identify_form")]
    if enrolment.replaces_existing:
        dispatcher.utter_message(response="utter_enrol_replaces")
    if channel_of(tracker) == channel_trust.WEBCHAT:
        dispatcher.utter_message(response="utter_enrol_qr", qr=qr_svg_data_uri(enrolment.provisioning_uri))
    dispatcher.utter_message(response="utter_enrol_secret", secret=grouped_secret(enrolment.secret), last4=number[-4:])
    return [SlotSet("totp_code", None), FollowupAction("totp_form")]
