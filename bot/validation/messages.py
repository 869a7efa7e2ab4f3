"""From a validation failure to what the bot says: the domain response and its variables.

Every `Reason` has a response `utter_invalid_<reason>` in domain.yml (Simplified Chinese, edited by
trainers); the failure's details fill its `{variables}`. An action does:

    try:
        card = bank_card.validate(value, bank=bank)
    except Invalid as error:
        response, variables = response_for(error)
        dispatcher.utter_message(response=response, **variables)

>>> from bot.validation.errors import Invalid, Reason
>>> response_for(Invalid(Reason.CARD_LENGTH, expected_length="19", actual_length=18))
('utter_invalid_card_length', {'expected_length': '19', 'actual_length': '18'})
"""
from __future__ import annotations

from typing import Dict, Tuple

from bot.validation.errors import Invalid

__all__ = ["response_for"]



def response_for(error: Invalid) -> Tuple[str, Dict[str, str]]:
    """(response name, template variables as strings) for a failure."""
    return error.reason.response, {key: str(value) for key, value in error.details.items()}
