"""A document the merchant uploads on the web chat page: the request read, checked and stored.

`POST /upload` (bot.rasa.channels.webchat) carries a multipart form: `file`, and optionally `kind`
(a bot.change_requests.filing.Document value the merchant picked). The route is streamed: the
size is checked before (Content-Length) and while the body is read, so an oversized file is
refused with the merchant's message, never buffered whole. `receive_upload` returns the message
that tells the dialogue, or raises UploadNotAccepted naming the HTTP status, the page's error
code and the domain response the merchant reads.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Tuple

from sanic.headers import parse_content_header
from sanic.request import Request, RequestParameters, parse_multipart_form

from bot.change_requests import documents
from bot.channel_trust import WEBCHAT
from bot.db.engine import in_session

logger = logging.getLogger(__name__)

# Room for the multipart boundaries and the `kind` field around a file of the largest size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class UploadNotAccepted(Exception):
    """The upload is refused: `status` for HTTP, `error` for the page, `response` (filled in with
    `variables`) for the merchant."""

    def __init__(self, status: int, error: str, response: str, **variables: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.response = response
        self.variables = variables


def _too_large() -> UploadNotAccepted:
    return UploadNotAccepted(413, "too_large", "utter_upload_too_large")


@dataclass(frozen=True)
class UploadForm:
    data: bytes
    kind: Optional[str]  # as the page sent it; None when the merchant did not say


async def receive_upload(request: Request, conversation_id: str) -> str:
    """Read the form, store the file for the conversation; the message that tells the dialogue."""
    form = await read_upload_form(request)
    return await _store(form, conversation_id)


async def read_upload_form(request: Request) -> UploadForm:
    """The uploaded file and its kind, checked in the order the page's messages expect."""
    limit = documents.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
    if _declared_length(request) > limit:
        raise _too_large()
    body = await _read_body(request, limit)
    if body is None:
        raise _too_large()
    form = _multipart(request, body)
    if form is None:
        raise UploadNotAccepted(400, "bad_request", "utter_bad_request")
    fields, files = form
    file = files.get("file")
    kind = fields.get("kind") or None
    if kind is not None and documents.document_kind(kind) is None:
        raise UploadNotAccepted(400, "bad_kind", "utter_bad_request")
    if file is None or not file.body:
        raise UploadNotAccepted(400, "empty", "utter_upload_empty")
    if len(file.body) > documents.MAX_UPLOAD_BYTES:
        raise _too_large()
    return UploadForm(file.body, kind)


async def _store(form: UploadForm, conversation_id: str) -> str:
    # Encrypting and writing the file and the database row run in a worker thread (in_session):
    # the event loop serves every other merchant meanwhile.
    try:
        return await in_session(None, documents.upload_for_dialogue, conversation_id, WEBCHAT,
                                form.data, form.kind)
    except documents.UploadRefused as refusal:
        raise UploadNotAccepted(400, "refused", refusal.response, **refusal.variables) from None
    except Exception as error:  # noqa: BLE001 - an apology, never a stack trace
        logger.error("web chat upload failed: %s", type(error).__name__)
        raise UploadNotAccepted(500, "failed", "utter_technical_problem") from None


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


def _multipart(request: Request, body: bytes) -> Optional[Tuple[RequestParameters, RequestParameters]]:
    """The form's fields and files; None when the body is not a multipart form."""
    content_type, parameters = parse_content_header(request.headers.get("content-type") or "")
    boundary = parameters.get("boundary")
    if content_type != "multipart/form-data" or not boundary:
        return None
    try:
        return parse_multipart_form(body, boundary.encode("utf-8"))
    except Exception:  # noqa: BLE001 - a malformed form is the client's error, not ours
        return None
