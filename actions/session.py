"""Session start: fill the brand slots from configuration so responses name the deploying acquirer."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import brand


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        configured = brand()
        events: List[EventType] = [SessionStarted()]
        # Carry the previous session's slots over, as Rasa's default session start does.
        events += [
            SlotSet(event["name"], event["value"])
            for event in tracker.events
            if event.get("event") == "slot"
        ]
        events += [
            SlotSet("brand_name", configured.name),
            SlotSet("service_hotline", configured.hotline),
            SlotSet("review_days", str(configured.review_days)),
            ActionExecuted("action_listen"),
        ]
        return events
