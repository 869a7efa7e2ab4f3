"""The steps between the forms: start, pre-checks, confirmation, signing, filing, status, handoff,
cancel and corrections. Each action reads slots, calls `bot/`, utters responses by name."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    CHANGE_SLOTS, BlockingAction, DomainDict, announce_code, change_details, channel_of, current_merchant,
    database, hand_off, identification_purpose, identified_by_channel, is_identified, requester_of,
    tell_when_an_agent_answers,
)
from bot import channel_trust, codes
from bot.agents import handoff
from bot.change_requests import documents, status
from bot.change_requests.prechecks import needs_licence, run_prechecks
from bot.change_requests.submission import FilingRefused, NotSigned, document_list, submit_change
from bot.codes.qr import grouped_secret, qr_svg_data_uri
from bot.db.models import VerificationPurpose
from bot.dialogue.corrections import plan_correction

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


class ActionStartChange(BlockingAction):
    """change_account: identify first (unless this conversation already did), then pre-checks."""

    def name(self) -> Text:
        return "action_start_change"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if not is_identified(tracker):
            return [SlotSet("pending_goal", "change"), FollowupAction("identify_form")]
        identified = identified_by_channel(dispatcher, tracker)
        return identified + _reset_change() + _prechecks_then_change(dispatcher, tracker)


class ActionAfterIdentify(BlockingAction):
    def name(self) -> Text:
        return "action_after_identify"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if not tracker.get_slot("merchant_verified"):
            return [SlotSet("pending_goal", None), FollowupAction(ACTION_LISTEN)]
        _remember_wechat_follower(tracker)
        if tracker.get_slot("pending_goal") == "enable_2fa":
            return [SlotSet("pending_goal", None)] + _start_enrolment(dispatcher, tracker)
        if tracker.get_slot("pending_goal") == "status":
            told = tell_status(dispatcher, tracker)
            return [SlotSet("pending_goal", None)] + told + [FollowupAction(ACTION_LISTEN)]
        return _reset_change() + _prechecks_then_change(dispatcher, tracker)


class ActionAfterChangeForm(BlockingAction):
    """Offline route: what to bring. Online: send the signing code, then the signing form."""

    def name(self) -> Text:
        return "action_after_change_form"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        with database() as session:
            merchant = current_merchant(session, tracker)
            if merchant is None:
                return _reset_change() + [FollowupAction(ACTION_LISTEN)]
            if tracker.get_slot("route") == "offline":
                with_licence = needs_licence(merchant)
                dispatcher.utter_message(response="utter_offline_route_with_licence" if with_licence
                                         else "utter_offline_route")
                return _reset_change() + [FollowupAction(ACTION_LISTEN)]
            if not tracker.get_slot("change_confirmed"):
                return [FollowupAction(ACTION_LISTEN)]
            details = change_details(tracker)
            sent = codes.send_requested_code(session, merchant, VerificationPurpose.SIGN_CHANGE, requester_of(tracker),
                                             change=details)
            # The signing question offers the authenticator only when it may sign (not in its first day).
            with_authenticator = codes.authenticator_signs(session, merchant)
        announce_code(dispatcher, sent, "utter_sign_code_sent", bank=details.bank_name, last4=details.last4)
        return [SlotSet("totp_enabled", with_authenticator), FollowupAction("sign_form")]


class ActionFileRequest(BlockingAction):
    """File the signed change. The slot `sign_code` only saves a pointless call: the filing itself
    requires the signature the server recorded when the code was verified (a forged call, whatever
    its slots, files nothing)."""

    def name(self) -> Text:
        return "action_file_request"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.get_slot("sign_code") != "verified":
            return []
        with database() as session:
            merchant = current_merchant(session, tracker)
            try:
                submitted = submit_change(session, merchant, change_details(tracker),
                                          tracker.get_slot("idempotency_key"), channel_of(tracker), tracker.sender_id)
            except FilingRefused as refused:
                dispatcher.utter_message(response=refused.reason.response, **refused.details)
                return _reset_change()
            except NotSigned as unsigned:
                dispatcher.utter_message(response=unsigned.response)
                return _reset_change()
        dispatcher.utter_message(response="utter_request_filed", reference=submitted.reference,
                                 bank=submitted.bank_name, last4=submitted.last4, due_date=submitted.due_date_text)
        if submitted.missing:
            dispatcher.utter_message(response="utter_request_missing_documents", missing=submitted.missing_text)
        if not submitted.needs_authorisation:
            dispatcher.utter_message(response="utter_anything_else")
            return _reset_change()
        events = hand_off(tracker, handoff.DIFFERENT_NAME_AUTHORISATION,
                          collected={"reference": submitted.reference, "bank": submitted.bank_name,
                                     "account_last4": submitted.last4, "account_name": submitted.account_name})
        dispatcher.utter_message(response="utter_handoff")
        tell_when_an_agent_answers(dispatcher)
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
        dispatcher.utter_message(response=found.response, **variables)
        if found.missing_documents:
            dispatcher.utter_message(response="utter_status_missing", missing=variables["missing_documents"])
        if found.overdue:
            status.escalate_if_overdue(session, merchant, found.reference)
            dispatcher.utter_message(response="utter_status_overdue", reference=found.reference,
                                     due_date=found.due_date_text)
    if not tracker.active_loop_name:
        dispatcher.utter_message(response="utter_anything_else")
    return []


class ActionCheckStatus(BlockingAction):
    def name(self) -> Text:
        return "action_check_status"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if not is_identified(tracker):
            return [SlotSet("pending_goal", "status"), FollowupAction("identify_form")]
        return identified_by_channel(dispatcher, tracker) + tell_status(dispatcher, tracker)


class ActionHandoff(BlockingAction):
    """request_human / complain: a ticket for the agents with the masked context; pause the bot."""

    def name(self) -> Text:
        return "action_handoff"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        reason = handoff.COMPLAINT if intent == "complain" else handoff.MERCHANT_REQUEST
        resume = tracker.active_loop_name or (tracker.get_slot("handoff") or {}).get("resume")
        events = hand_off(tracker, reason, resume_form=resume)
        dispatcher.utter_message(response="utter_handoff")
        tell_when_an_agent_answers(dispatcher)
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


class ActionCorrectField(Action):
    """'卡号输错了': clear just that value (and the confirmation) so the form asks for it again."""

    def name(self) -> Text:
        return "action_correct_field"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        correction = plan_correction(tracker.latest_message.get("text") or "",
                                     next(tracker.get_latest_entity_values("field"), None))
        if correction is None:
            # "户名是张伟" read as a correction: it is the value itself; the form validates it.
            return []
        events: List[EventType] = [SlotSet(slot, None) for slot in correction.slots_to_clear]
        if correction.field is None:
            dispatcher.utter_message(response="utter_which_field")
            return events
        dispatcher.utter_message(response=f"utter_reask_{correction.field}")
        if tracker.active_loop_name == "sign_form":
            events += [ActiveLoop(None), FollowupAction("change_form")]
        return events


class ActionResendCode(BlockingAction):
    def name(self) -> Text:
        return "action_resend_code"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        loop = tracker.active_loop_name
        with database() as session:
            if loop == "identify_form" and tracker.get_slot("merchant_number"):
                sent = codes.send_identification_code(session, tracker.get_slot("merchant_number"),
                                                      identification_purpose(tracker), requester_of(tracker))
                announced = {}
            elif loop == "sign_form":
                merchant = current_merchant(session, tracker)
                details = change_details(tracker)
                sent = codes.send_requested_code(session, merchant, VerificationPurpose.SIGN_CHANGE,
                                                 requester_of(tracker), change=details)
                announced = {"response": "utter_sign_code_sent", "bank": details.bank_name, "last4": details.last4}
            else:
                dispatcher.utter_message(response="utter_no_code_pending")
                return []
        announce_code(dispatcher, sent, **announced)
        return []


class ActionFallback(BlockingAction):
    """The NLU was not sure: say so; the second time in a row, hand off to a human."""

    def name(self) -> Text:
        return "action_fallback"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        user_turns = [event for event in tracker.events if event.get("event") == "user"]
        previous = user_turns[-2] if len(user_turns) >= 2 else None
        repeated = previous is not None and ((previous.get("parse_data") or {}).get("intent") or {}).get("name") == "nlu_fallback"
        if not repeated:
            dispatcher.utter_message(response="utter_default")
            return []
        events = hand_off(tracker, handoff.REPEATED_FALLBACK, resume_form=tracker.active_loop_name, collected={})
        dispatcher.utter_message(response="utter_fallback_handoff")
        tell_when_an_agent_answers(dispatcher)
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


class ActionReceiveDocument(BlockingAction):
    """document_uploaded: say which document arrived and attach it to the request waiting for it."""

    def name(self) -> Text:
        return "action_receive_document"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
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
                                     missing=document_list(received.still_missing))
        elif received.reference:
            dispatcher.utter_message(response="utter_documents_complete", reference=received.reference)
        return []


class ActionStartEnrolment(BlockingAction):
    """enable_2fa: an authenticator app as second factor. Needs an SMS code verified in this
    conversation (also on web chat: adding a factor is itself a change), then shows the secret (a QR
    code on web chat, typed text elsewhere) and totp_form takes the app's first code."""

    def name(self) -> Text:
        return "action_start_enrolment"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
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
            enrolment = codes.start_enrolment(session, merchant, conversation_id=tracker.sender_id)
        except codes.NotVerified:
            locked = codes.lock_remaining(session, merchant)
            enrolment = None
    if enrolment is None and locked:
        dispatcher.utter_message(response="utter_code_locked", minutes=str(max(1, locked // 60)))
        return [FollowupAction(ACTION_LISTEN)]
    if enrolment is None:
        # No enrolment code verified in the last few minutes (identified by the channel, or by a
        # code for something else): an enrolment code to the registered phone now; the
        # identification form takes it and comes back here once it is verified.
        dispatcher.utter_message(response="utter_enrol_needs_code")
        with database() as session:
            merchant = current_merchant(session, tracker)
            sent = codes.send_requested_code(session, merchant, VerificationPurpose.ENROL, requester_of(tracker))
        announce_code(dispatcher, sent, "utter_enrol_code_sent")
        return [SlotSet("pending_goal", "enable_2fa"), SlotSet("merchant_number", number),
                SlotSet("merchant_verified", False), SlotSet("identify_code", None), FollowupAction("identify_form")]
    if enrolment.replaces_existing:
        dispatcher.utter_message(response="utter_enrol_replaces")
    if channel_of(tracker) == channel_trust.WEBCHAT:
        dispatcher.utter_message(response="utter_enrol_qr", qr=qr_svg_data_uri(enrolment.provisioning_uri))
    dispatcher.utter_message(response="utter_enrol_secret", secret=grouped_secret(enrolment.secret), last4=number[-4:])
    return [SlotSet("totp_code", None), FollowupAction("totp_form")]
