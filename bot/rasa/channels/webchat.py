"""The web chat page of the merchant portal, and its socket.io channel.

Routes (Rasa mounts them under /webhooks/webchat/):

    GET  /                  the page (bot/webchat/page/index.html); assets under /static/
    GET  /config            what the page needs: demo login on or off, length and size limits
    POST /demo-login        {"merchant": "822100000000001"} -> {"token": ...}; development only
    GET  /history           Bearer token -> the messages of this merchant's current session
    POST /upload            Bearer token, multipart `file` (+ `kind`) -> stored, told to the bot
    socket.io (/socket.io)  connect with auth {"token": ...}; emit user_uttered {"message": ...};
                            receive bot_uttered (Rasa's format) and turn_complete

Who speaks is decided by the server, never by the page: the portal's signed token (bot.webchat.portal_token)
names the merchant, the conversation id is `webchat-<merchant number>`, every message carries
metadata vouching for that merchant (bot.channel_trust), and whatever session id, sender or metadata a
client sends is ignored. The socket joins only its conversation's room, so every open tab of the
merchant sees the bot's answers, and Rasa's HTTP API can push into the conversation
(`?output_channel=webchat`). Like the REST channel, it bounds message length, limits the rate
of each merchant and each address (RATE_LIMIT_*: the merchant is told the message was not
processed and when to send it again, `utter_rate_limited`; uploads count as messages), and
never leaves the merchant without an answer (a turn that raised gets `utter_technical_problem`,
one that ended without any reply `utter_internal_error`: bot.rasa.channels.safety_net), for
typed messages, buttons and uploads alike; logs never hold message text (card and ID numbers).

What no merchant's message started (an agent's reply, the bot's words after a hand-back, a
reviewer's decision) waits in the outbox (bot.agents.outbox): each replica polls it for the
conversations with a page connected to it (bot.rasa.channels.outbox_delivery) and pushes what it
wins to the conversation's room as `bot_uttered` with the message's `outbox_id` and, for an
agent's reply, the agent's display name (`{"text": ..., "agent": "王芳", "outbox_id": 7}`). A
message posted while no page is open waits and goes out when one connects.

`WebChatInput.blueprint` only wires the routes and events to a `MountedWebChat`, which holds what
they share; what the page redraws lives in webchat_history, reading and storing an upload in
webchat_upload. Database, file and tracker store work runs in worker threads, off the event loop.
"""
from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer
from socketio.exceptions import ConnectionRefusedError as SocketRefused

from bot.agents.outbox import Outgoing
from bot.change_requests import documents
from bot.change_requests.filing import DOCUMENT_LABELS, Document
from bot.channel_trust import WEBCHAT, address_metadata, verified_metadata, webchat_conversation_id
from bot.masking import mask_number
from bot.ops.demo import DEMO_MERCHANTS
from bot.rasa.channels.limits import client_ip, rate_limited_text
from bot.rasa.channels.outbox_delivery import OutboxPoller
from bot.rasa.channels.rest import bound_message, json_body
from bot.rasa.channels.safety_net import apology_for_silence
from bot.rasa.channels.webchat_history import conversation_history, outbox_entry
from bot.rasa.channels.webchat_upload import UploadNotAccepted, receive_upload
from bot.ratelimit import RateLimiter, channel_limiter
from bot.responses import response_text
from bot.settings import MAX_MESSAGE_CHARS, brand
from bot.webchat import portal_token

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parents[2] / "webchat" / "page"
TURN_COMPLETE_EVT = "turn_complete"
SESSION_EXPIRED_EVT = "session_expired"

# The page may talk to this server only; images the bot sends may come from https sites.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data: https:; "
                               "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # the first URL carries the token
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
HttpHandler = Callable[..., Awaitable[HTTPResponse]]


def shared_rooms() -> Optional[AsyncRedisManager]:
    """Several Rasa replicas behind one address: socket.io rooms shared through Redis
    (WEBCHAT_SOCKETIO_REDIS_URL), so an answer or an agent's push reaches the merchant's page
    whichever replica holds its socket. None: rooms live in this process (one replica).
    WEBCHAT_SOCKETIO_REDIS_CHANNEL separates deployments sharing one Redis."""
    url = os.environ.get("WEBCHAT_SOCKETIO_REDIS_URL")
    channel = os.environ.get("WEBCHAT_SOCKETIO_REDIS_CHANNEL", "webchat")
    return AsyncRedisManager(url, channel=channel) if url else None


class WebChatOutput(SocketIOOutput):
    """Rasa's socket.io output to the conversation's room, with custom payloads that arrive."""

    def __init__(self, sio: AsyncServer, bot_message_evt: Text) -> None:
        super().__init__(sio, bot_message_evt)
        self.sent = 0  # messages emitted: none after a turn means the dialogue said nothing

    @classmethod
    def name(cls) -> Text:
        return WEBCHAT

    async def _send_message(self, socket_id: Text, response: Any) -> None:
        # Every kind of message (text, buttons, image, custom) goes out through here.
        self.sent += 1
        await super()._send_message(socket_id, response)

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        # Rasa's version passes the payload's keys as arguments of emit(), which loses them.
        await self._send_message(recipient_id, {"custom": json_message})


class WebChatInput(SocketIOInput):
    """The merchant portal's chat page: socket.io for the dialogue, HTTP for history and uploads."""

    @classmethod
    def name(cls) -> Text:
        return WEBCHAT

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WebChatInput":
        credentials = credentials or {}
        return cls(cors_allowed_origins=credentials.get("cors_allowed_origins"))

    def __init__(self, cors_allowed_origins: Optional[Any] = None) -> None:
        # Rasa's options that let the client choose its session, trust its metadata or rename the
        # events are not offered: the token decides. Origins: None allows the page's own only.
        super().__init__(socketio_path="/socket.io")
        self.cors_allowed_origins = cors_allowed_origins
        self.limiter = channel_limiter()  # per merchant and per address, for messages and uploads

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Where Rasa's HTTP API sends pushes (`?output_channel=webchat`): the conversation's room."""
        if self.sio is None:
            return None
        return WebChatOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: OnNewMessage) -> SocketBlueprint:
        # Each app Rasa mounts the channel on gets its own socket.io server and shared state;
        # pushes go to the latest one's rooms, as in Rasa's socket.io channel.
        signing_secret = portal_token.secret()  # fails at start-up on a weak configured secret
        # The first read of domain.yml's responses takes tens of milliseconds: here, at start-up,
        # rather than on the event loop when the first merchant needs a refusal or an apology.
        response_text("utter_technical_problem")
        self.sio = AsyncServer(async_mode="sanic", cors_allowed_origins=self.cors_allowed_origins,
                               client_manager=shared_rooms())
        chat = MountedWebChat(self.sio, signing_secret, on_new_message, self.bot_message_evt,
                              limiter=self.limiter)
        webchat = SocketBlueprint(self.sio, self.socketio_path, "webchat", __name__)
        webchat.static("/static", str(WEB_DIR), name="webchat_static")
        webchat.add_route(page, "/", methods=["GET"])
        webchat.add_route(config, "/config", methods=["GET"])
        webchat.add_route(_routable(chat.demo_login), "/demo-login", methods=["POST"])
        webchat.add_route(_routable(chat.history), "/history", methods=["GET"])
        webchat.add_route(_routable(chat.upload), "/upload", methods=["POST"], stream=True)
        self.sio.on("connect", chat.connect)
        self.sio.on("disconnect", chat.disconnect)
        self.sio.on("session_request", chat.session_request)
        self.sio.on(self.user_message_evt, chat.user_uttered)
        webchat.listener("before_server_start")(chat.start_delivery)
        webchat.listener("before_server_stop")(chat.stop_delivery)
        return webchat


def _routable(method: HttpHandler) -> HttpHandler:
    """A route handler method as Sanic can route it: Sanic marks the functions it routes
    (their blueprint, streaming), which a bound method refuses, so a function stands in for it."""

    @functools.wraps(method)
    async def handler(request: Request) -> HTTPResponse:
        return await method(request)

    return handler


async def page(request: Request) -> HTTPResponse:
    """GET /: the chat page, with headers that keep it to this server and keep its token private."""
    if not request.path.endswith("/"):
        # The page's links are relative to its folder (static/..., history): keep the slash.
        query = f"?{request.query_string}" if request.query_string else ""
        return response.redirect(request.path + "/" + query)
    return await response.file(WEB_DIR / "index.html", headers=PAGE_HEADERS)


async def config(_: Request) -> HTTPResponse:
    """GET /config: what the page needs before login (brand, demo merchants, limits, document kinds)."""
    demo = portal_token.demo_login_enabled()
    return response.json({
        "brand_name": brand().name,
        "demo_login": demo,
        "demo_merchants": [
            {"merchant": merchant.number, "name": merchant.name, "masked": mask_number(merchant.number)}
            for merchant in DEMO_MERCHANTS
        ] if demo else [],
        "max_message_chars": MAX_MESSAGE_CHARS,
        "max_upload_bytes": documents.MAX_UPLOAD_BYTES,
        "document_kinds": [{"kind": kind.value, "label": DOCUMENT_LABELS[kind]} for kind in Document],
    })


def _for_bearer_merchant(handler: HttpHandler) -> HttpHandler:
    """A route only for the merchant whom the request's bearer token names, who is passed on to
    the handler after the request; 401 without a valid token."""

    @functools.wraps(handler)
    async def with_merchant(chat: "MountedWebChat", request: Request) -> HTTPResponse:
        merchant = chat.bearer_merchant(request)
        if merchant is None:
            return _refusal(401, "unauthorized")
        return await handler(chat, request, merchant)

    return with_merchant


@dataclass
class MountedWebChat:
    """One web chat as mounted on one Rasa app: its route and socket.io event handlers and what
    they share."""

    sio: AsyncServer  # its per-socket sessions remember the merchant the token named
    signing_secret: str = field(repr=False)  # of the portal's tokens
    on_new_message: OnNewMessage  # Rasa's entry to the dialogue
    bot_message_evt: Text
    # The conversation of each socket connected to this process: where its outbox poller delivers.
    connected: Dict[Text, str] = field(default_factory=dict)
    outbox: Optional[OutboxPoller] = None
    limiter: RateLimiter = field(default_factory=channel_limiter)

    # ---- HTTP routes ------------------------------------------------------------------------

    async def demo_login(self, request: Request) -> HTTPResponse:
        """POST /demo-login: a token for one of the demo merchants, in development only."""
        if not portal_token.demo_login_enabled():
            return _refusal(404, "not_found")
        body = json_body(request)
        number = body.get("merchant") if body else None
        if number not in {merchant.number for merchant in DEMO_MERCHANTS}:
            return _error(400, "not_a_demo_merchant", "utter_bad_request")
        return response.json({"token": portal_token.issue_token(number, self.signing_secret)})

    @_for_bearer_merchant
    async def history(self, request: Request, merchant: str) -> HTTPResponse:
        """GET /history: the merchant's current session, for the page to redraw after a reload."""
        conversation_id = webchat_conversation_id(merchant)
        asked = request.args.get("conversation_id")
        if asked is not None and asked != conversation_id:
            return _refusal(403, "forbidden")
        messages = await conversation_history(request.app.ctx.agent.tracker_store, conversation_id)
        return response.json({
            "conversation_id": conversation_id,
            "merchant": mask_number(merchant),
            "messages": messages,
        })

    @_for_bearer_merchant
    async def upload(self, request: Request, merchant: str) -> HTTPResponse:
        """POST /upload: a document stored for the merchant's conversation, then told to the bot.
        Streamed: bot.rasa.channels.webchat_upload checks the size while it reads."""
        wait_s = self.limiter.attempt(sender=merchant, ip=client_ip(request))
        if wait_s:
            return response.json({"ok": False, "error": "rate_limited", "text": rate_limited_text(wait_s)},
                                 status=429, headers={"Retry-After": str(wait_s)})
        try:
            text = await receive_upload(request, webchat_conversation_id(merchant))
        except UploadNotAccepted as refusal:
            return _error(refusal.status, refusal.error, refusal.response, **refusal.variables)
        await self.run_turn(text, merchant, client_ip(request))
        return response.json({"ok": True})

    def bearer_merchant(self, request: Request) -> Optional[str]:
        """The merchant the `Authorization: Bearer` token names; None without a valid one."""
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            return portal_token.verify_token(token.strip(), self.signing_secret)[0]
        except portal_token.InvalidWebToken:
            return None

    # ---- socket.io events -------------------------------------------------------------------

    async def connect(self, sid: Text, environ: Dict, auth: Optional[Dict]) -> None:
        """A page's socket: accepted with a valid token only, into its merchant's room."""
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            merchant, expires_at = portal_token.verify_token(token, self.signing_secret)
        except portal_token.InvalidWebToken as error:
            logger.info("web chat connection refused: %s", error)
            raise SocketRefused("unauthorized")
        request = environ.get("sanic.request")  # python-engineio's environ says 127.0.0.1 for all
        ip = client_ip(request) if request is not None else None
        await self.sio.save_session(sid, {"merchant": merchant, "expires_at": expires_at, "ip": ip})
        await self.sio.enter_room(sid, webchat_conversation_id(merchant))
        self.connected[sid] = webchat_conversation_id(merchant)

    async def disconnect(self, sid: Text) -> None:
        self.connected.pop(sid, None)

    async def session_request(self, sid: Text, _data: Any = None) -> None:
        # For clients written for Rasa's socket.io channel: the session is the token's.
        merchant = (await self.sio.get_session(sid)).get("merchant")
        await self.sio.emit("session_confirm", webchat_conversation_id(merchant), to=sid)

    async def user_uttered(self, sid: Text, data: Any = None) -> None:
        """A message typed or a button clicked, from the merchant the socket's token named."""
        session = await self.sio.get_session(sid)
        if time.time() > session["expires_at"] + portal_token.LEEWAY_S:
            # The token has run out while the page stayed open: the portal must sign again.
            await self.sio.emit(SESSION_EXPIRED_EVT, {}, to=sid)
            await self.sio.disconnect(sid)
            return
        text = data.get("message") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            await self._say(response_text("utter_bad_request"), to=sid)
            await self._end_turn(to=sid)
            return
        wait_s = self.limiter.attempt(sender=session["merchant"], ip=session.get("ip"))
        if wait_s:
            # Said to this page only: the message never reached the conversation the others show.
            await self._say(rate_limited_text(wait_s), to=sid)
            await self._end_turn(to=sid)
            return
        await self.run_turn(bound_message(text), session["merchant"], session.get("ip"))

    # ---- the dialogue -----------------------------------------------------------------------

    async def run_turn(self, text: str, merchant: str, address: Optional[str] = None) -> None:
        """One message of the merchant through the dialogue; answers reach every open tab. The
        page's address goes along for the limits on codes (bot.codes.request_limits)."""
        conversation_id = webchat_conversation_id(merchant)
        output = WebChatOutput(self.sio, self.bot_message_evt)
        message = UserMessage(text, output, conversation_id, input_channel=WEBCHAT,
                              metadata={**verified_metadata(merchant), **address_metadata(address)})
        try:
            await self.on_new_message(message)
            if not output.sent:
                await self._say(apology_for_silence("web chat"), to=conversation_id)
        except Exception as error:  # noqa: BLE001 - the merchant must always get an answer
            logger.error("web chat turn failed: %s (text withheld)", type(error).__name__)
            await self._say(response_text("utter_technical_problem"), to=conversation_id)
        finally:
            await self._end_turn(to=conversation_id)

    async def _say(self, text: str, to: str) -> None:
        """A text from the channel itself, in Rasa's bot_uttered format, to a socket or a room."""
        await self.sio.emit(self.bot_message_evt, {"text": text}, to=to)

    async def _end_turn(self, to: str) -> None:
        await self.sio.emit(TURN_COMPLETE_EVT, {}, to=to)

    # ---- the outbox -------------------------------------------------------------------------

    async def start_delivery(self, *_: Any) -> None:
        """With the server: poll the outbox for the conversations connected here."""
        self.outbox = OutboxPoller(WEBCHAT, self.deliver, lambda: set(self.connected.values()))
        self.outbox.start()

    async def stop_delivery(self, *_: Any) -> None:
        if self.outbox is not None:
            await self.outbox.stop()

    async def deliver(self, message: Outgoing) -> None:
        """An outbox message to every open page of its conversation (through Redis when shared)."""
        entry = outbox_entry(message.id, message.text, message.author_name)
        entry.pop("sender")
        await self.sio.emit(self.bot_message_evt, entry, to=message.conversation_id)


def _refusal(status: int, error: str) -> HTTPResponse:
    """A refusal the page handles itself (it logs in again, or it asked for what it may not)."""
    return response.json({"error": error}, status=status)


def _error(status: int, error: str, response_name: str, **variables: str) -> HTTPResponse:
    """An error the page shows as it is: a code for the page, the domain's Chinese text for the merchant."""
    return response.json({"ok": False, "error": error, "text": response_text(response_name, **variables)},
                         status=status)
