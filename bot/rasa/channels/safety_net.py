"""No silent turns: the last check of every channel after the dialogue has run.

When a custom action fails (the action server or the database down mid-form), Rasa logs the
exception, drops the action's events and predicts `action_listen`: the turn ends normally, with
no message and no exception a channel could catch, and the merchant would wait for an answer that
never comes. A conversation is never meant to be silent (a handed-off one acknowledges each
message), so a merchant's message that got no reply at all means something failed: the channel
sends `utter_internal_error` instead, which says that nothing filled in is lost (the tracker keeps
the slots; the form asks its question again when the message comes again), and logs a WARNING,
without the message text (it may hold card or ID numbers).

A turn that raised is not silent in this sense: the channels answer it with
`utter_technical_problem` where they catch the exception.

Nor is a turn answered with the delivered mark (`utter_handoff_delivered`, custom payload
`{"delivered_to_agent": true, ...}`): while an agent has the conversation, that mark is the bot's
whole answer, even where the channel shows nothing of it (WeChat).
"""
from __future__ import annotations

import logging

from typing import Any

from bot.responses import response_text

logger = logging.getLogger(__name__)

INTERNAL_ERROR_RESPONSE = "utter_internal_error"
DELIVERED_TO_AGENT = "delivered_to_agent"


def is_delivered_mark(custom: Any) -> bool:
    """The custom payload of `utter_handoff_delivered`: the merchant's message reached the agent."""
    return isinstance(custom, dict) and custom.get(DELIVERED_TO_AGENT) is True


def apology_for_silence(channel: str) -> str:
    """Log the silent turn (never the text) and return the apology the merchant reads."""
    logger.warning(
        "%s: the dialogue gave no reply to a merchant's message (a custom action probably failed; "
        "see the Rasa log); sent %s instead (text withheld)", channel, INTERNAL_ERROR_RESPONSE,
    )
    return response_text(INTERNAL_ERROR_RESPONSE)
