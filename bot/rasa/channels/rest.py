"""Rasa's REST channel with the guarantees every channel here gives.

Same URL (`/webhooks/rest/webhook`) and JSON as Rasa's standard `rest` channel, plus:
- a message longer than MAX_MESSAGE_CHARS never reaches the NLU: it becomes the intent
  `message_too_long`, which the dialogue answers with a Chinese explanation;
- malformed requests get a 400 with a Chinese message instead of a stack trace;
- the conversation ids of the web chat and WeChat channels (`webchat-...`, `wechat-...`) are
  refused with a 403: REST clients cannot speak as, or read, an authenticated conversation;
- if the dialogue fails, the merchant gets a Chinese apology, never an empty answer, and the log
  records the failure without the message text (it may hold card or ID numbers); a turn that
  ended without any reply gets `utter_internal_error` (bot.rasa.channels.safety_net);
- REST cannot push, so what no message of the merchant started (an agent's reply, the bot's words
  after a hand-back, a reviewer's decision: bot.agents.outbox) comes with the merchant's next
  message, before the replies to it, in the same format; an agent's reply has one more key, the
  agent's display name: `{"recipient_id": ..., "text": ..., "agent": "王芳"}`;
- while an agent has the conversation the bot's answer is the delivered mark,
  `{"recipient_id": ..., "custom": {"delivered_to_agent": true, "label": "已送达客服"}}`;
- a body over REST_MAX_BODY_BYTES (64 KB) is refused with a 413 and `utter_request_too_large`
  before it is parsed; more than RATE_LIMIT_SENDER_PER_MINUTE messages of one sender, or
  RATE_LIMIT_IP_PER_MINUTE of one address, get a 429 (`Retry-After`) and `utter_rate_limited`,
  unprocessed (bot.ratelimit, bot.rasa.channels.limits);
- outside development only a trusted caller is admitted (a request signed with REST_HMAC_SECRET, or
  the portal's token), else 401 and `utter_unauthorized`; a merchant it authenticates gets
  conversations of their own, `rest-<merchant number>-<sender>`, vouched for like the web chat's
  (bot.rasa.channels.rest_auth); a client's metadata never vouches for anyone.
"""
from __future__ import annotations

import logging
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.agents import outbox
from bot.db.engine import in_session
from bot.rasa.channels.limits import REST_MAX_BODY_BYTES, client_ip, rate_limited_text, read_capped_body, too_large_text
from bot.rasa.channels.safety_net import apology_for_silence
from bot.ratelimit import RateLimiter, channel_limiter
from bot.channel_trust import address_metadata, reserved_conversation_id, verified_metadata, without_vouching
from bot.rasa.channels.rest_auth import Caller, Refused, RestGate
from bot.responses import response_text
from bot.settings import MAX_MESSAGE_CHARS

logger = logging.getLogger(__name__)

TOO_LONG_INTENT = "/message_too_long"
MAX_SENDER_CHARS = 128


def bound_message(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """The text the dialogue sees: the message itself, or the too-long intent."""
    if len(text) > max_chars:
        return TOO_LONG_INTENT
    return text


class BoundedRestInput(RestInput):
    """Rasa's REST channel, bounded and never silent."""

    def __init__(self, limiter: Optional[RateLimiter] = None) -> None:
        self.limiter = limiter or channel_limiter()

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> Blueprint:
        webhook = Blueprint("bounded_rest_webhook", __name__)
        gate = RestGate.from_env()  # outside development: fails at start without the token secret

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"], stream=True)  # streamed: read up to the cap only
        async def receive(request: Request) -> HTTPResponse:
            if await read_capped_body(request, REST_MAX_BODY_BYTES) is None:
                return _reply(None, too_large_text(REST_MAX_BODY_BYTES), status=413)
            payload = json_body(request)
            caller = gate.admit(request.headers, request.body or b"", payload)
            if isinstance(caller, Refused):
                return _refused(caller)
            sender = payload.get("sender") if payload is not None else None
            text = payload.get("message") if payload is not None else None
            if sender is None:
                sender = "default"
            if not isinstance(sender, str) or not sender or len(sender) > MAX_SENDER_CHARS:
                return _reply(None, response_text("utter_bad_request"), status=400)
            if reserved_conversation_id(sender):
                # Web chat and WeChat conversations belong to an authenticated merchant or follower.
                return _reply(None, response_text("utter_bad_request"), status=403)
            if not isinstance(text, str):
                return _reply(sender, response_text("utter_bad_request"), status=400)
            conversation_id = caller.conversation_id(sender)
            if conversation_id is None:
                return _reply(None, response_text("utter_bad_request"), status=400)
            # A signing backend speaks for many merchants from one address: counted per conversation.
            address = None if caller.how == "signature" else client_ip(request)
            wait_s = self.limiter.attempt(sender=conversation_id, ip=address)
            if wait_s:
                reply = _reply(sender, rate_limited_text(wait_s), status=429)
                reply.headers["Retry-After"] = str(wait_s)
                return reply

            collector = CollectingOutputChannel()
            message = UserMessage(
                bound_message(text),
                collector,
                conversation_id,
                input_channel=self.name(),
                metadata=_metadata(caller, payload, address),
            )
            try:
                await on_new_message(message)
            except CancelledError:
                logger.error("REST turn for a conversation timed out (text withheld)")
                return _reply(sender, response_text("utter_technical_problem"))
            except Exception as error:  # noqa: BLE001 - the merchant must always get an answer
                logger.error(
                    "REST turn failed: %s (text withheld)", type(error).__name__
                )
                replies = [_message(sender, response_text("utter_technical_problem"))]
            else:
                replies = collector.messages or [_message(sender, apology_for_silence("REST"))]
            return response.json(_to_client(sender, await waiting_messages(conversation_id) + replies))

        return webhook


def json_body(request: Request) -> Optional[Dict[str, Any]]:
    """The JSON object of a request, or None when the body is not one (never an exception)."""
    try:
        body = request.json
    except Exception:  # noqa: BLE001 - sanic raises InvalidUsage on bad JSON
        return None
    return body if isinstance(body, dict) else None


async def waiting_messages(sender: str) -> List[Dict[str, Any]]:
    """The conversation's undelivered outbox messages, taken (a worker thread does the database
    work); none when the database fails: they wait for the next message."""
    try:
        taken = await in_session(None, outbox.take_for_conversation, sender)
    except Exception as error:  # noqa: BLE001 - the replies to this message still go out
        logger.error("REST: outbox not read: %s", type(error).__name__)
        return []
    return [_message(sender, message.text, agent=message.author_name) for message in taken]


def _message(recipient: Optional[str], text: str, agent: Optional[str] = None) -> Dict[str, Any]:
    message: Dict[str, Any] = {"recipient_id": recipient, "text": text}
    if agent:
        message["agent"] = agent
    return message


def _metadata(caller: Caller, payload: Optional[Dict[str, Any]], address: Optional[str]) -> Optional[Dict[str, Any]]:
    """The client's metadata, never vouching for anyone; the authenticated merchant, vouched for;
    the address the limits count (for the code limits too: bot.codes.request_limits)."""
    metadata = without_vouching(payload.get("metadata") if payload else None)
    ours = {**address_metadata(address), **(verified_metadata(caller.merchant) if caller.merchant else {})}
    return {**(metadata or {}), **ours} if ours else metadata


def _to_client(sender: str, messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Messages addressed as the client knows its conversation: its own `sender`."""
    return [{**message, "recipient_id": sender} for message in messages]


def _refused(refusal: Refused) -> HTTPResponse:
    """Not admitted: the channel's JSON with the Chinese sentence, and a code for the developer."""
    text = response_text("utter_unauthorized" if refusal.status == 401 else "utter_bad_request")
    reply = response.json([{"recipient_id": None, "text": text, "error": refusal.error}], status=refusal.status)
    if refusal.status == 401:
        reply.headers["WWW-Authenticate"] = 'Bearer realm="rest"'
    return reply


def _reply(recipient: Optional[str], text: str, status: int = 200) -> HTTPResponse:
    return response.json([_message(recipient, text)], status=status)
