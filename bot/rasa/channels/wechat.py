"""The WeChat Official Account (公众号) channel: `/webhooks/wechat/webhook`.

WeChat verifies the URL with a signed GET (we echo `echostr`) and pushes each follower's message
or event as a signed POST of XML, AES-encrypted in safe mode (when WECHAT_AES_KEY is set). It
waits 5 seconds and then retries, so the channel answers `success` at once and talks to the
dialogue in a background task; the bot's replies go out through the customer-service message API.

Guarantees, like the REST channel's (bot/rasa/channels/rest.py) and more:
- nothing is processed without a valid signature (403), a timestamp within 5 minutes (403) and
  one flat XML message without DTD or entities (400); without WECHAT_TOKEN every request is
  refused;
- a body is read whole up to 1 MB (`MAX_BODY_BYTES`, room for 100,000 Chinese characters in safe
  mode); a bigger one is read no further, and the follower (FromUserName at the start of the body,
  or the `openid` WeChat adds to the URL) gets the too-long message as the passive reply at once;
  413 only when nobody can be told, or beyond 16 MB (`MAX_READ_BYTES`), where reading stops;
- each push is processed once, whichever worker or process WeChat's retries reach (the database
  decides, `bot.wechat.store.record_inbound`);
- a message longer than MAX_MESSAGE_CHARS becomes the too-long intent; a failing dialogue gets the
  merchant a Chinese apology, and so does a message (text or photo) the dialogue left without any
  reply (bot.rasa.channels.safety_net); replies over 2048 bytes are split; buttons become numbered lines;
- what no merchant's message started (an agent's reply, the bot's words after a hand-back, a
  reviewer's decision) waits in the outbox (bot.agents.outbox); a poller in every replica
  (bot.rasa.channels.outbox_delivery) sends each once through the same customer-service API, an
  agent's reply after its name (`utter_agent_prefix`: "客服王芳：..."); the bot's delivered mark
  while an agent has the conversation (`utter_handoff_delivered`) sends nothing, and counts as a
  reply;
- voice, video, location and links get an immediate polite reply asking the merchant to type;
  photos are stored as uploaded documents (`bot.change_requests.documents`);
- a follower bound to a merchant (`bot.wechat.bind_openid`) is vouched for in the metadata,
  until the binding expires (WECHAT_BINDING_DAYS) or the follower unsubscribes, which ends it;
- more than RATE_LIMIT_SENDER_PER_MINUTE messages of one follower are answered at once, in the
  passive reply, that the message was not processed and when to send it again
  (`utter_rate_limited`). No limit per address: every push comes from WeChat's servers;
- logs never hold message text (it may hold card or ID numbers), only types and outcomes.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import weakref
from asyncio import CancelledError
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Coroutine, Dict, List, Mapping, Optional, Set, Text, TypeVar

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import sessionmaker

from bot.agents.outbox import Outgoing
from bot.rasa.channels.limits import rate_limited_text
from bot.rasa.channels.outbox_delivery import OutboxPoller
from bot.rasa.channels.rest import bound_message
from bot.rasa.channels.safety_net import apology_for_silence, is_delivered_mark
from bot.db.engine import in_session
from bot.change_requests.documents import MAX_UPLOAD_BYTES, UploadRefused, upload_for_dialogue
from bot.channel_trust import WECHAT, verified_metadata, wechat_conversation_id
from bot.ratelimit import RateLimiter, channel_limiter
from bot.responses import response_text
from bot.wechat import protocol, store
from bot.wechat.client import POOL_SIZE, MediaTooLarge, WeChatApiClient, WeChatApiError, WeChatUnavailable
from bot.wechat.config import WeChatConfig
from bot.wechat.protocol import InboundMessage, RequestRefused
from bot.wechat.replies import default_option_line, split_for_wechat, with_options
from bot.wechat.store import Outcome

logger = logging.getLogger(__name__)

SUCCESS = "success"  # what WeChat expects when we reply later (or not at all)
WELCOME_INTENT = "/greet"  # a new follower is greeted like someone who said hello
# How long a stopping server waits for conversations in progress to finish.
DRAIN_TIMEOUT_S = 10.0

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
T = TypeVar("T")


class WeChatInput(InputChannel):
    """Rasa input channel for a WeChat Official Account; configured from the environment."""

    @classmethod
    def name(cls) -> Text:
        return WECHAT

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeChatInput":
        return cls(WeChatConfig.from_sources(os.environ, credentials))

    def __init__(self, config: Optional[WeChatConfig] = None, sessions: Optional[sessionmaker] = None,
                 limiter: Optional[RateLimiter] = None) -> None:
        self.config = config or WeChatConfig.from_sources(os.environ)
        self.limiter = limiter or channel_limiter()  # per follower (the sender limit only)
        self._sessions = sessions  # None: the configured database (tests pass their own)
        self._problem = self.config.problem()
        if self._problem:
            logger.warning("WeChat channel refuses every request: %s", self._problem)
        self._crypto = (
            protocol.new_crypto(self.config.token, self.config.aes_key, self.config.app_id)
            if self.config.safe_mode and not self._problem
            else None
        )
        self.client = AsyncWeChatClient(WeChatApiClient(self.config, sessions))
        # Background turns, kept so they are not garbage-collected mid-way and can be awaited.
        self._tasks: Set[asyncio.Task] = set()
        # One turn at a time per follower in this process, so a photo being downloaded is not
        # overtaken by the text sent after it. Locks vanish when no turn holds them.
        self._follower_locks: "weakref.WeakValueDictionary[str, asyncio.Lock]" = weakref.WeakValueDictionary()
        self.outbox = OutboxPoller(WECHAT, self.deliver, sessions=sessions)

    # --- Rasa's interface ----------------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint("wechat_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify_url(request: Request) -> HTTPResponse:
            try:
                self._refuse_if_misconfigured()
                protocol.verify_signature(self.config.token, request.args)
                echo = protocol.query_value(request.args, "echostr")
            except RequestRefused as refused:
                return _refusal(refused, "URL verification")
            return response.text(echo)

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                self._refuse_if_misconfigured()
                self._verify_query(request.args)
                body = await _read_body(request, self.config.max_body_bytes, self.config.max_read_bytes)
                if not body.whole:
                    return self._too_long_at_once(body, request.args)
                message = self._authentic_message(body.head, request.args)
            except RequestRefused as refused:
                return _refusal(refused, "push")
            return await self._accept(message, on_new_message)

        @webhook.listener("before_server_start")
        async def start_delivery(*_: Any) -> None:
            if not self._problem:  # an account that cannot be configured cannot send either
                self.outbox.start()

        @webhook.listener("before_server_stop")
        async def finish_turns(*_: Any) -> None:
            await self.outbox.stop()
            await self.drain(DRAIN_TIMEOUT_S)
            await self.client.close()

        return webhook

    def get_output_channel(self) -> OutputChannel:
        """Lets Rasa's HTTP API (e.g. `trigger_intent` with `output_channel=wechat`) reach a follower."""
        return WeChatOutput(self.client)

    # --- the outbox ----------------------------------------------------------------------------

    async def deliver(self, message: Outgoing) -> None:
        """An outbox message to its follower; an agent's reply after the agent's name."""
        text = message.text
        if message.author_name:
            text = response_text("utter_agent_prefix", agent=message.author_name) + text
        await WeChatOutput(self.client).send_text_message(message.conversation_id, text)

    # --- receiving ------------------------------------------------------------------------------

    def _refuse_if_misconfigured(self) -> None:
        if self._problem:
            raise protocol.forbidden(self._problem)

    def _verify_query(self, query: Mapping[str, str]) -> None:
        """Signature, freshness and mode, checked before a byte of the body is read."""
        protocol.verify_signature(self.config.token, query)
        protocol.verify_fresh(protocol.query_value(query, "timestamp"), self.config.max_clock_skew_s)
        encrypted = query.get("encrypt_type", "raw") == "aes"
        if self.config.safe_mode and not encrypted:
            raise protocol.forbidden("plaintext push while in safe mode")
        if encrypted and not self.config.safe_mode:
            raise protocol.malformed("encrypted push but WECHAT_AES_KEY is not set")

    def _authentic_message(self, body: bytes, query: Mapping[str, str]) -> InboundMessage:
        """The push in a body read whole, once its shape (and in safe mode its `msg_signature`)
        is checked (RequestRefused if not)."""
        fields = protocol.parse_flat_xml(body)
        if self._crypto is not None:
            fields = protocol.parse_flat_xml(protocol.decrypt_push(self._crypto, fields, query))
        return protocol.inbound_message(fields)

    def _too_long_at_once(self, body: "_Body", query: Mapping[str, str]) -> HTTPResponse:
        """A body too large to read whole: only a text pasted at enormous length is that big, so
        the follower is told the message is too long, in the passive reply (WeChat delivers it to
        whoever sent the push, and nobody else can receive it). The dialogue never sees it, no
        retry record is kept (there is no MsgId to read), and the answer is immediate, so WeChat
        does not retry. Nobody to tell (no follower in the body's start or the URL): 413."""
        if body.cut_off:
            raise RequestRefused(413, f"body over {self.config.max_read_bytes} bytes: not read further")
        leading = protocol.leading_fields(body.head)
        openid = leading.get("FromUserName") or query.get("openid") or ""
        if not protocol.OPENID_PATTERN.match(openid):
            raise RequestRefused(413, f"body over {self.config.max_body_bytes} bytes from an unknown follower")
        logger.warning("WeChat push of %d bytes from %s is over %d bytes: answered that it is too long",
                       body.size, _short(openid), self.config.max_body_bytes)
        return self._passive_text(openid, leading.get("ToUserName", ""), response_text("utter_message_too_long"))

    async def _accept(self, message: InboundMessage, on_new_message: OnNewMessage) -> HTTPResponse:
        try:
            first_time = await self._in_db(store.record_inbound, message.dedup_key, message.openid, message.msg_type)
        except Exception as error:  # noqa: BLE001 - no stack trace to WeChat; it retries on errors
            logger.error("WeChat push not recorded (%s); WeChat will retry", type(error).__name__)
            return response.text("", status=503)
        if not first_time:
            logger.info("WeChat %s from %s is a retry or replay: ignored", message.msg_type, _short(message.openid))
            return response.text(SUCCESS)

        if message.msg_type != "event":
            wait_s = self.limiter.attempt(sender=message.openid)
            if wait_s:
                # Told at once, in the HTTP reply (WeChat waits 5 s): not processed, send again later.
                await self._finish(message, Outcome.LIMITED)
                return self._passive_text(message.openid, message.account, rate_limited_text(wait_s))

        if message.msg_type == "event":
            event = (message.event or "").lower()
            if event == "unsubscribe":
                await self._unsubscribed(message)
                return response.text(SUCCESS)
            if event != "subscribe":
                await self._finish(message, Outcome.IGNORED)
                return response.text(SUCCESS)
            self._in_background(message, self._converse(message, WELCOME_INTENT, on_new_message))
        elif message.msg_type == "text":
            text = bound_message(message.content or "")
            self._in_background(message, self._converse(message, text, on_new_message))
        elif message.msg_type == "image":
            self._in_background(message, self._receive_photo(message, on_new_message))
        else:
            # Voice, video, location, links...: answered at once in the HTTP reply itself.
            await self._finish(message, Outcome.REPLIED)
            return self._passive_text(message.openid, message.account, response_text("utter_please_type"))
        return response.text(SUCCESS)

    async def _unsubscribed(self, message: InboundMessage) -> None:
        """A follower who unsubscribes is no longer vouched for: the binding ends (audited). There
        is nobody to answer (WeChat delivers nothing to a former follower)."""
        try:
            ended = await self._in_db(store.unbind_openid, message.openid, "unsubscribe")
        except Exception as error:  # noqa: BLE001 - logged; WeChat's retry would be a duplicate
            logger.error("WeChat: binding of %s not ended on unsubscribe: %s",
                         _short(message.openid), type(error).__name__)
            await self._finish(message, Outcome.FAILED)
            return
        await self._finish(message, Outcome.UNBOUND if ended else Outcome.IGNORED)

    def _passive_text(self, openid: str, account: str, text: str) -> HTTPResponse:
        reply = protocol.render_text_reply(openid, account, text)
        if self._crypto is not None:
            reply = protocol.encrypt_reply(self._crypto, reply)
        return response.text(reply, content_type="application/xml; charset=utf-8")

    # --- background turns -----------------------------------------------------------------------

    def _in_background(self, message: InboundMessage, turn: Coroutine[Any, Any, str]) -> None:
        task = asyncio.get_running_loop().create_task(self._run_turn(message, turn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: Optional[float] = None) -> None:
        """Wait for the turns in progress (tests; a stopping server)."""
        while True:
            running = {task for task in self._tasks if not task.done()}
            if not running:
                return
            _, pending = await asyncio.wait(running, timeout=timeout)
            if pending:
                logger.warning("WeChat: %d turns still running after %s s", len(pending), timeout)
                return

    async def _run_turn(self, message: InboundMessage, turn: Coroutine[Any, Any, str]) -> None:
        lock = self._follower_locks.setdefault(message.openid, asyncio.Lock())
        outcome = Outcome.FAILED
        try:
            async with lock:
                outcome = await turn
        except CancelledError:
            logger.warning("WeChat %s from %s: turn cancelled", message.msg_type, _short(message.openid))
            raise
        except Exception as error:  # noqa: BLE001 - a background failure must end up in the log
            logger.error("WeChat %s from %s failed: %s (text withheld)",
                         message.msg_type, _short(message.openid), type(error).__name__)
        finally:
            await self._finish(message, outcome)

    async def _converse(self, message: InboundMessage, text: str, on_new_message: OnNewMessage) -> str:
        """One dialogue turn; its replies are sent as they come (WeChatOutput)."""
        conversation_id = wechat_conversation_id(message.openid)
        merchant_number = await self._in_db(store.bound_merchant_number, message.openid)
        output = WeChatOutput(self.client)
        user_message = UserMessage(
            text,
            output,
            conversation_id,
            input_channel=self.name(),
            metadata=verified_metadata(merchant_number) if merchant_number else {},
        )
        try:
            await on_new_message(user_message)
        except CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the merchant must always get an answer
            logger.error("WeChat turn failed: %s (text withheld)", type(error).__name__)
            await output.send_text_message(conversation_id, response_text("utter_technical_problem"))
            return Outcome.FAILED
        if not output.sent and not output.acknowledged and not output.failures:
            if message.msg_type == "event":
                # A new follower sent nothing to answer; the missing welcome is only logged.
                logger.warning("WeChat: no welcome for a new follower %s", _short(message.openid))
                return Outcome.FAILED
            await output.send_text_message(conversation_id, apology_for_silence("WeChat"))
            return Outcome.FAILED
        return Outcome.FAILED if output.failures else Outcome.REPLIED

    async def _receive_photo(self, message: InboundMessage, on_new_message: OnNewMessage) -> str:
        """Download the photo, store it as an uploaded document, and tell the dialogue."""
        conversation_id = wechat_conversation_id(message.openid)
        output = WeChatOutput(self.client)
        if not message.media_id:
            await output.send_text_message(conversation_id, response_text("utter_upload_empty"))
            return Outcome.FAILED
        try:
            data = await self.client.download_media(message.media_id, MAX_UPLOAD_BYTES)
        except MediaTooLarge:
            await output.send_text_message(conversation_id, response_text("utter_upload_too_large"))
            return Outcome.REPLIED
        except (WeChatUnavailable, WeChatApiError) as error:
            logger.error("WeChat photo from %s not downloaded: %s", _short(message.openid), error)
            await output.send_text_message(conversation_id, response_text("utter_technical_problem"))
            return Outcome.FAILED

        try:
            uploaded = await self._in_db(upload_for_dialogue, conversation_id, WECHAT, data)
        except UploadRefused as refused:
            await output.send_text_message(conversation_id, response_text(refused.response, **refused.variables))
            return Outcome.REPLIED
        return await self._converse(message, uploaded, on_new_message)

    async def _finish(self, message: InboundMessage, outcome: str) -> None:
        try:
            await self._in_db(store.finish_inbound, message.dedup_key, outcome)
        except Exception as error:  # noqa: BLE001 - bookkeeping only; the turn is over either way
            logger.error("WeChat outcome not recorded: %s", type(error).__name__)
        logger.info("WeChat %s from %s: %s", message.msg_type, _short(message.openid), outcome)

    async def _in_db(self, function: Callable[..., Any], *args: Any) -> Any:
        return await in_session(self._sessions, function, *args)


class WeChatOutput(OutputChannel):
    """Sends the bot's messages to a follower as customer-service text messages.

    Recipients are conversation ids (`wechat-<openid>`). A message that cannot be sent is logged
    and counted in `failures`, never raised into the dialogue. The delivered mark is counted in
    `acknowledged` and sent as nothing: the follower's own message is the record of it.
    """

    def __init__(self, client: AsyncWeChatClient) -> None:
        self.client = client
        self.sent = 0
        self.acknowledged = 0
        self.failures = 0

    @classmethod
    def name(cls) -> Text:
        return WECHAT

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        titles = [str(button.get("title") or "") for button in buttons]
        await self._send(recipient_id, with_options(text, titles, _option_line))

    async def send_quick_replies(
        self, recipient_id: Text, text: Text, quick_replies: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, image)  # a link the merchant can open

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        if is_delivered_mark(json_message):
            self.acknowledged += 1
            return
        logger.debug("WeChat: custom payload not sent (no WeChat equivalent)")

    async def _send(self, recipient_id: Text, text: Text) -> None:
        openid = store.openid_from_conversation_id(recipient_id)
        if openid is None:
            logger.error("WeChat reply for a conversation that is not a WeChat one: not sent")
            self.failures += 1
            return
        for piece in split_for_wechat(text or ""):
            try:
                await self.client.send_text(openid, piece)
            except (WeChatUnavailable, WeChatApiError, MediaTooLarge) as error:
                logger.error("WeChat reply to %s not sent: %s", _short(openid), error)
                self.failures += 1
                return
        self.sent += 1


class AsyncWeChatClient:
    """The WeChat API client (`bot.wechat.client`, which blocks) for the channel's async code.

    Each call runs in a thread of a pool of its own: the event loop never waits on WeChat, and
    while WeChat is down (a call can retry for most of a minute) the calls hold these threads,
    not asyncio's default ones, which the database work of every channel needs
    (`bot.db.engine.in_session`). One thread per kept connection (`POOL_SIZE`).
    """

    def __init__(self, client: WeChatApiClient) -> None:
        self.client = client
        self._threads: Optional[ThreadPoolExecutor] = None

    async def send_text(self, openid: str, content: str) -> None:
        await self._in_thread(self.client.send_text, openid, content)

    async def download_media(self, media_id: str, max_bytes: int) -> bytes:
        return await self._in_thread(self.client.download_media, media_id, max_bytes)

    async def close(self) -> None:
        """Let the threads end once their calls are over (a stopping server has drained its
        turns first) and close the connections; a later call starts again."""
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=False)
        self.client.close()

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="wechat-api")
        return await asyncio.get_running_loop().run_in_executor(self._threads, functools.partial(function, *args))


def _option_line(number: int, title: str) -> str:
    """One button as a line of text; the wording is the domain's `utter_wechat_option` when the
    trainers defined it."""
    try:
        return response_text("utter_wechat_option", number=str(number), title=title)
    except KeyError:
        return default_option_line(number, title)


@dataclass(frozen=True)
class _Body:
    head: bytes  # the body, or its first `max_bytes` bytes when it is longer
    size: int  # bytes received
    whole: bool  # head is the whole body
    cut_off: bool = False  # reading stopped at `max_read` bytes: the sender was still going


async def _read_body(request: Request, max_bytes: int, max_read: int) -> _Body:
    """The body, keeping no more than its first `max_bytes` bytes: the rest is counted and dropped
    as it arrives, up to `max_read` bytes (declared or received) where reading stops. Reading to
    the end rather than answering early lets the sender, WeChat's servers included, read our
    answer once it has finished sending (and Sanic would read the rest anyway)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_read:
        return _Body(b"", 0, whole=False, cut_off=True)
    head = bytearray()
    size = 0
    while True:
        try:
            chunk = await request.stream.read()
        except PayloadTooLarge:  # Sanic's own REQUEST_MAX_SIZE, if set lower
            return _Body(bytes(head[:max_bytes]), size, whole=False, cut_off=True)
        if chunk is None:
            break
        size += len(chunk)
        if len(head) <= max_bytes:
            head += chunk[: max_bytes + 1 - len(head)]
        if size > max_read:
            return _Body(bytes(head[:max_bytes]), size, whole=False, cut_off=True)
    return _Body(bytes(head[:max_bytes]), size, whole=size <= max_bytes)


def _refusal(refused: RequestRefused, what: str) -> HTTPResponse:
    logger.warning("WeChat %s refused (%d): %s", what, refused.status, refused.reason)
    return response.text("", status=refused.status)


def _short(openid: str) -> str:
    """Enough of an OpenID to follow one follower through the log."""
    return openid[:6] + "…"
