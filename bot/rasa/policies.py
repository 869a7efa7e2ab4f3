"""A handoff is a state, not a sentence.

Once a conversation is handed to a human agent (slot `handoff` set by the action that opened the
ticket), the bot asks nothing more: every later message gets a short acknowledgement
(`action_handoff_waiting`: an agent will answer, the service hours, and the way back), and
`resume_bot` ("不等了，继续自助办理") returns to the bot at the question where the form stopped
(`action_resume_bot`). An agent handing the merchant back clears the slot (bot/agents/handback.py).

Rasa's own `pause` event makes the bot silent instead, and a merchant who gets no answer cannot
tell whether anyone is there; this policy keeps every message answered. It outranks the rule
policy only while the slot is set, and abstains otherwise.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

HANDOFF_SLOT = "handoff"
ACTION_WAITING = "action_handoff_waiting"
ACTION_RESUME = "action_resume_bot"
RESUME_INTENT = "resume_bot"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class HandoffPolicy(Policy):
    """While handed off: acknowledge each message, or go back to the bot when asked."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # Above RulePolicy (6): while handed off, no rule may start asking questions again.
        return {"priority": 7}

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        return self._resource  # nothing to learn

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: Optional[Dict[Text, Any]] = None,
                                     **kwargs: Any) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        action = next_action_while_handed_off(tracker)
        if action is not None:
            probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities)


def next_action_while_handed_off(tracker: DialogueStateTracker) -> Optional[str]:
    """The action to run now, or None when the conversation is not handed off (the policy abstains)."""
    if not tracker.get_slot(HANDOFF_SLOT):
        return None
    if tracker.latest_action_name != ACTION_LISTEN_NAME:
        return ACTION_LISTEN_NAME  # one answer per message
    intent = (tracker.latest_message.intent or {}).get("name") if tracker.latest_message else None
    return ACTION_RESUME if intent == RESUME_INTENT else ACTION_WAITING
