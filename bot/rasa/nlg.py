"""Rasa's responses (the domain's templates), with card, account, ID and phone numbers masked in
what the merchant reads.

The actions pass masked values (`account_masked`, `last4` ...), but some responses say back the
merchant's own words: the change reason and the opening branch in the summary, the answer and the
question a clarification offers (`您是在回答“{answer}”，还是想问“{question}”？`). A merchant who typed a card
number among those words must not read it back in full, nor find it in the web chat's history
(the tracker's `BotUttered` keeps what was generated here). Texts and button titles are masked
(`bot.masking.redact`); payloads, images (the enrolment QR code) and custom payloads stay as
they are.

Configured in endpoints.yml: `nlg: {type: bot.rasa.nlg.MaskingResponseGenerator}`.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from bot.masking import redact

_CHOICES = ("buttons", "quick_replies")


def masked_response(response: Optional[Dict[Text, Any]]) -> Optional[Dict[Text, Any]]:
    """A generated response with its text and its choices' titles masked (in place; returned)."""
    if not response:
        return response
    if isinstance(response.get("text"), str):
        response["text"] = redact(response["text"])
    for key in _CHOICES:
        choices: List[Any] = response.get(key) or []
        for choice in choices:
            if isinstance(choice, dict) and isinstance(choice.get("title"), str):
                choice["title"] = redact(choice["title"])
    return response


class MaskingResponseGenerator(TemplatedNaturalLanguageGenerator):
    """Rasa's template generator (the domain's responses, slots and variables filled in), masked."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, domain: Optional[Domain] = None) -> None:
        # Rasa gives the domain's responses again once the model is loaded (Agent.load_model).
        super().__init__(domain.responses if domain else {})

    def generate_from_slots(
        self,
        utter_action: Text,
        filled_slots: Dict[Text, Any],
        output_channel: Text,
        **kwargs: Any,
    ) -> Optional[Dict[Text, Any]]:
        return masked_response(super().generate_from_slots(utter_action, filled_slots, output_channel, **kwargs))
