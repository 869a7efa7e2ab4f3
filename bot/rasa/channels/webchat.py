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
(`?output_channel=webchat`). Like the REST channel, it bounds message length and never leaves
the merchant without an answer (a turn that raised gets `utter_technical_problem`, one that ended
without any reply `utter_internal_error`: bot.rasa.channels.safety_net), for typed messages, buttons
and uploads alike; logs never hold message text (card and ID numbers).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Text

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import response
from sanic.headers import parse_content_header
from sanic.request import Request, parse_multipart_form
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer
from socketio.exceptions import ConnectionRefusedError as SocketRefused

from bot.change_requests import documents
from bot.webchat import portal_token
from bot.rasa.channels.rest import TOO_LONG_INTENT, bound_message, json_body
from bot.rasa.channels.safety_net import apology_for_silence
from bot.db.engine import in_session
from bot.ops.demo import DEMO_MERCHANTS
from bot.change_requests.filing import DOCUMENT_LABELS, Document
from bot.channel_trust import WEBCHAT, verified_metadata, webchat_conversation_id
from bot.masking import mask_number, redact_normalized
from bot.responses import response_text
from bot.settings import MAX_MESSAGE_CHARS, brand

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parents[2] / "webchat" / "page"
UPLOAD_INTENT = "/document_uploaded"
# Room for the multipart boundaries and the `kind` field around a file of the largest size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
HISTORY_LIMIT = 200
# An authenticator's secret is shown once, when it is sent: a reload, or whoever opens the page
# with a later token, sees that it was hidden.
SHOWN_ONCE = {"utter_enrol_qr", "utter_enrol_secret"}
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

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Where Rasa's HTTP API sends pushes (`?output_channel=webchat`): the conversation's room."""
        if self.sio is None:
            return None
        return WebChatOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> SocketBlueprint:
        signing_secret = portal_token.secret()  # fails at start-up on a weak configured secret
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=self.cors_allowed_origins,
                          client_manager=shared_rooms())
        self.sio = sio
        webchat = SocketBlueprint(sio, self.socketio_path, "webchat", __name__)
        webchat.static("/static", str(WEB_DIR), name="webchat_static")

        async def run_turn(text: str, merchant_number: str) -> None:
            """One message of the merchant through the dialogue; answers reach every open tab."""
            conversation_id = webchat_conversation_id(merchant_number)
            output = WebChatOutput(sio, self.bot_message_evt)
            message = UserMessage(
                text,
                output,
                conversation_id,
                input_channel=self.name(),
                metadata=verified_metadata(merchant_number),
            )
            try:
                await on_new_message(message)
                if not output.sent:
                    await sio.emit(self.bot_message_evt, {"text": apology_for_silence("web chat")},
                                   room=conversation_id)
            except Exception as error:  # noqa: BLE001 - the merchant must always get an answer
                logger.error("web chat turn failed: %s (text withheld)", type(error).__name__)
                await sio.emit(self.bot_message_evt, {"text": response_text("utter_technical_problem")},
                               room=conversation_id)
            finally:
                await sio.emit(TURN_COMPLETE_EVT, {}, room=conversation_id)

        def bearer_merchant(request: Request) -> Optional[str]:
            scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
            if scheme.lower() != "bearer":
                return None
            try:
                return portal_token.verify_token(token.strip(), signing_secret)[0]
            except portal_token.InvalidWebToken:
                return None

        @webchat.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            if not request.path.endswith("/"):
                # The page's links are relative to its folder (static/..., history): keep the slash.
                query = f"?{request.query_string}" if request.query_string else ""
                return response.redirect(request.path + "/" + query)
            return await response.file(WEB_DIR / "index.html", headers=PAGE_HEADERS)

        @webchat.route("/config", methods=["GET"])
        async def config(_: Request) -> HTTPResponse:
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

        @webchat.route("/demo-login", methods=["POST"])
        async def demo_login(request: Request) -> HTTPResponse:
            if not portal_token.demo_login_enabled():
                return response.json({"error": "not_found"}, status=404)
            body = json_body(request)
            number = body.get("merchant") if body else None
            if number not in {merchant.number for merchant in DEMO_MERCHANTS}:
                return _error(400, "not_a_demo_merchant", "utter_bad_request")
            return response.json({"token": portal_token.issue_token(number, signing_secret)})

        @webchat.route("/history", methods=["GET"])
        async def history(request: Request) -> HTTPResponse:
            number = bearer_merchant(request)
            if number is None:
                return response.json({"error": "unauthorized"}, status=401)
            conversation_id = webchat_conversation_id(number)
            asked = request.args.get("conversation_id")
            if asked is not None and asked != conversation_id:
                return response.json({"error": "forbidden"}, status=403)
            tracker = await request.app.ctx.agent.tracker_store.retrieve(conversation_id)
            events = tracker.events if tracker is not None else []
            return response.json({
                "conversation_id": conversation_id,
                "merchant": mask_number(number),
                "messages": history_messages(events),
            })

        @webchat.route("/upload", methods=["POST"], stream=True)
        async def upload(request: Request) -> HTTPResponse:
            # Streamed: the size is checked before (Content-Length) and while the body is read,
            # so an oversized file is refused with the merchant's message, never buffered whole.
            number = bearer_merchant(request)
            if number is None:
                return response.json({"error": "unauthorized"}, status=401)
            limit = documents.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
            if _declared_length(request) > limit:
                return _error(413, "too_large", "utter_upload_too_large")
            body = await _read_body(request, limit)
            if body is None:
                return _error(413, "too_large", "utter_upload_too_large")
            form = _multipart(request, body)
            if form is None:
                return _error(400, "bad_request", "utter_bad_request")
            fields, files = form
            file = files.get("file")
            kind = fields.get("kind") or None
            if kind is not None and documents.document_kind(kind) is None:
                return _error(400, "bad_kind", "utter_bad_request")
            if file is None or not file.body:
                return _error(400, "empty", "utter_upload_empty")
            if len(file.body) > documents.MAX_UPLOAD_BYTES:
                return _error(413, "too_large", "utter_upload_too_large")
            conversation_id = webchat_conversation_id(number)
            try:
                text = await in_session(None, documents.upload_for_dialogue, conversation_id, WEBCHAT,
                                        file.body, kind)
            except documents.UploadRefused as refusal:
                return _error(400, "refused", refusal.response)
            except Exception as error:  # noqa: BLE001 - an apology, never a stack trace
                logger.error("web chat upload failed: %s", type(error).__name__)
                return _error(500, "failed", "utter_technical_problem")
            await run_turn(text, number)
            return response.json({"ok": True})

        @sio.on("connect")
        async def connect(sid: Text, _environ: Dict, auth: Optional[Dict]) -> None:
            token = auth.get("token") if isinstance(auth, dict) else None
            try:
                number, expires_at = portal_token.verify_token(token, signing_secret)
            except portal_token.InvalidWebToken as error:
                logger.info("web chat connection refused: %s", error)
                raise SocketRefused("unauthorized")
            await sio.save_session(sid, {"merchant": number, "expires_at": expires_at})
            await sio.enter_room(sid, webchat_conversation_id(number))

        @sio.on("session_request")
        async def session_request(sid: Text, _data: Any = None) -> None:
            # For clients written for Rasa's socket.io channel: the session is the token's.
            merchant = (await sio.get_session(sid)).get("merchant")
            await sio.emit("session_confirm", webchat_conversation_id(merchant), to=sid)

        @sio.on(self.user_message_evt)
        async def user_uttered(sid: Text, data: Any = None) -> None:
            session = await sio.get_session(sid)
            if time.time() > session["expires_at"] + portal_token.LEEWAY_S:
                # The token has run out while the page stayed open: the portal must sign again.
                await sio.emit(SESSION_EXPIRED_EVT, {}, to=sid)
                await sio.disconnect(sid)
                return
            text = data.get("message") if isinstance(data, dict) else None
            if not isinstance(text, str) or not text.strip():
                await sio.emit(self.bot_message_evt, {"text": response_text("utter_bad_request")}, to=sid)
                await sio.emit(TURN_COMPLETE_EVT, {}, to=sid)
                return
            await run_turn(bound_message(text), session["merchant"])

        return webchat


def history_messages(events: Iterable[Any]) -> List[Dict[str, Any]]:
    """What the page redraws after a reload: the merchant's and the bot's messages, in order.

    A button's payload is shown as the button's title, as it was when clicked; the channel's own
    intent messages (upload, too long) are marked for the page to label; numbers the merchant
    typed are masked, like everywhere else the conversation is shown again.
    """
    messages: List[Dict[str, Any]] = []
    offered: List[Dict[str, Any]] = []  # buttons shown since the merchant's last message
    for event in events:
        if isinstance(event, UserUttered) and event.text:
            messages.extend(_user_entry(event.text, offered))
            offered = []
        elif isinstance(event, BotUttered) and (event.metadata or {}).get("utter_action") in SHOWN_ONCE:
            messages.append({"sender": "bot", "text": response_text("utter_secret_hidden")})
        elif isinstance(event, BotUttered):
            data = event.data or {}
            buttons = data.get("buttons") or []
            offered += buttons
            # Split like the socket.io output does, so the redrawn chat looks as it did live.
            parts = (event.text or "").strip().split("\n\n")
            entries = [{"sender": "bot", "text": part} for part in parts if part]
            if buttons:
                entries = entries or [{"sender": "bot", "text": ""}]
                entries[-1]["buttons"] = [{"title": b.get("title"), "payload": b.get("payload")} for b in buttons]
            messages.extend(entries)
            if data.get("image"):
                messages.append({"sender": "bot", "image": data["image"]})
            if data.get("custom") is not None:
                messages.append({"sender": "bot", "custom": data["custom"]})
    return messages[-HISTORY_LIMIT:]


def _user_entry(text: str, offered: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    for button in offered:
        if button.get("payload") == text:
            return [{"sender": "user", "text": button.get("title") or ""}]
    if text.startswith(UPLOAD_INTENT):
        return [{"sender": "user", "kind": "upload"}]
    if text == TOO_LONG_INTENT:
        return [{"sender": "user", "kind": "too_long"}]
    if text.startswith("/"):
        return []  # another intent payload: nothing the merchant wrote
    return [{"sender": "user", "text": redact_normalized(text)}]


def _declared_length(request: Request) -> int:
    try:
        return int(request.headers.get("content-length") or 0)
    except ValueError:
        return 0


async def _read_body(request: Request, limit: int) -> Optional[bytes]:
    """The request body, or None as soon as it grows past `limit` bytes."""
    body = bytearray()
    if request.stream is None:
        return bytes(request.body or b"")
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            return None


def _multipart(request: Request, body: bytes) -> Optional[tuple]:
    content_type, parameters = parse_content_header(request.headers.get("content-type") or "")
    boundary = parameters.get("boundary")
    if content_type != "multipart/form-data" or not boundary:
        return None
    try:
        return parse_multipart_form(body, boundary.encode("utf-8"))
    except Exception:  # noqa: BLE001 - a malformed form is the client's error, not ours
        return None


def _error(status: int, error: str, response_name: str) -> HTTPResponse:
    """An error the page shows as it is: a code for the page, the domain's Chinese text for the merchant."""
    return response.json({"ok": False, "error": error, "text": response_text(response_name)}, status=status)
