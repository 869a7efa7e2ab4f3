"""Session start: fill the brand slots from configuration, and end a form left idle.

Rasa starts a new session after `session_expiration_time` (30 minutes, domain.yml) without a
message. A form still open then has expired: the merchant is told so, and neither the values it
collected nor the identification carry over (a code must be entered again). Nothing set before a
`restart` carries over either: a restart (an agent closing the conversation, bot/agents/handback.py)
ends everything, but Rasa sends the action every event of the session, the restarted ones too.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import CHANGE_SLOTS
from bot.settings import brand

# Slots that belong to one attempt at a change and never outlive its session.
NOT_CARRIED_OVER = set(CHANGE_SLOTS) | {"merchant_verified", "identify_code", "pending_goal", "requested_slot"}


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        if tracker.active_loop_name:
            dispatcher.utter_message(response="utter_form_expired")
        configured = brand()
        events: List[EventType] = [SessionStarted()]
        events += [
            SlotSet(event["name"], event["value"])
            for event in _since_restart(tracker.events)
            if event.get("event") == "slot" and event.get("name") not in NOT_CARRIED_OVER
        ]
        events += [
            SlotSet("brand_name", configured.name),
            SlotSet("service_hotline", configured.hotline),
            SlotSet("review_days", str(configured.review_days)),
            ActionExecuted("action_listen"),
        ]
        return events


def _since_restart(events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    restarts = [index for index, event in enumerate(events) if event.get("event") == "restart"]
    return events[restarts[-1] + 1:] if restarts else events
