"""Document photos and scans a merchant sends (web chat upload, WeChat image).

`store_upload` accepts JPEG, PNG and PDF up to 5 MB, judged by the content (the first bytes),
never by the file name or the client's content type, within the merchant's daily quota
(bot.change_requests.upload_quota). The file is stored Fernet-encrypted under
`var/uploads/` with a random name: ID and card photos show the full numbers.

The channel then hands the dialogue `upload_message(document)`, an intent message; the dialogue
calls `receive_document`, which decides which document it is (the merchant's choice, else the
next one still needed), attaches it to the open request waiting for documents, and says so.
Documents sent before filing stay with the conversation until `attach_conversation_documents`.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.crypto import fernet
from bot.db.models import ChangeRequest, Merchant, MerchantKind, RequestStatus, UploadedDocument, audit
from bot.change_requests import upload_quota
from bot.change_requests.filing import Document
from bot.settings import var_dir
from bot.workdays import utcnow

MAX_UPLOAD_BYTES = 5 * 1024 * 1024

# Magic numbers: what the content starts with decides the type.
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)
CONTENT_TYPE_LABELS = {"image/jpeg": "JPEG 图片", "image/png": "PNG 图片", "application/pdf": "PDF 文件"}

# The order in which the bot assumes photos arrive when the merchant does not say which one it is.
_USUAL_ORDER = (Document.ID_FRONT, Document.ID_BACK, Document.CARD_FRONT, Document.LICENCE,
                Document.AUTHORISATION_LETTER)
OTHER_LABEL = "补充材料"


class UploadRefused(Exception):
    """The file was not accepted; `response` names the domain response that tells the merchant
    why, `variables` fill it in."""

    def __init__(self, response: str, **variables: str) -> None:
        super().__init__(response)
        self.response = response
        self.variables = variables


def uploads_dir() -> Path:
    path = var_dir() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sniff_content_type(data: bytes) -> Optional[str]:
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    return None


def document_kind(value: Optional[str]) -> Optional[Document]:
    """The document a merchant said the file is, or None when unknown or not given."""
    try:
        return Document(value) if value else None
    except ValueError:
        return None


def store_upload(session: Session, *, conversation_id: str, channel: str, data: bytes,
                 kind: Optional[str] = None) -> UploadedDocument:
    """Check and store one file; raises UploadRefused (empty, too large, not JPEG/PNG/PDF, over
    the merchant's daily quota)."""
    if not data:
        raise UploadRefused("utter_upload_empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefused("utter_upload_too_large")
    content_type = sniff_content_type(data)
    if content_type is None:
        raise UploadRefused("utter_upload_wrong_type")
    over_quota = upload_quota.refusal(session, conversation_id, len(data))
    if over_quota is not None:
        raise UploadRefused(upload_quota.QUOTA_RESPONSE, **over_quota)
    stored_name = secrets.token_hex(16) + ".bin"
    (uploads_dir() / stored_name).write_bytes(fernet().encrypt(data))
    chosen = document_kind(kind)
    document = UploadedDocument(
        public_id=secrets.token_urlsafe(12),
        conversation_id=conversation_id,
        channel=channel,
        kind=chosen.value if chosen else None,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        stored_name=stored_name,
    )
    session.add(document)
    session.flush()
    return document


def read_upload(document: UploadedDocument) -> bytes:
    """The file's plaintext bytes (for an agent's review)."""
    return fernet().decrypt((uploads_dir() / document.stored_name).read_bytes())


def upload_message(document: UploadedDocument) -> str:
    """What the channel passes to the dialogue as the merchant's message after an upload."""
    return "/document_uploaded" + json.dumps({"document_id": document.public_id})


def upload_for_dialogue(session: Session, conversation_id: str, channel: str, data: bytes,
                        kind: Optional[str] = None) -> str:
    """What a channel does with a file: store it (UploadRefused if not acceptable) and return the
    message that tells the dialogue."""
    return upload_message(store_upload(session, conversation_id=conversation_id, channel=channel, data=data,
                                       kind=kind))


@dataclass(frozen=True)
class Received:
    """What the bot tells the merchant after an upload."""

    label: str  # which document, in Chinese
    content_label: str  # JPEG 图片, PDF 文件
    kind: Optional[Document]
    reference: Optional[str]  # the request it was attached to
    still_missing: tuple[Document, ...]  # of that request (empty when none or complete)


def receive_document(session: Session, conversation_id: str, public_id: str,
                     merchant: Optional[Merchant], already_received: Iterable[str] = ()) -> Optional[Received]:
    """Name the uploaded document and attach it where it belongs; None if it is not this
    conversation's (a payload typed by hand cannot claim someone else's file)."""
    document = session.execute(
        select(UploadedDocument).where(UploadedDocument.public_id == public_id,
                                       UploadedDocument.conversation_id == conversation_id)
    ).scalar_one_or_none()
    if document is None:
        return None
    request = _request_awaiting_documents(session, merchant) if merchant else None
    kind = document_kind(document.kind)
    if kind is None:
        if request is not None:
            wanted = [Document(code) for code in request.missing_documents or ()]
        else:
            received = set(already_received) | set(_kinds_in_conversation(session, conversation_id))
            wanted = [code for code in _USUAL_ORDER if code.value not in received
                      and not (code is Document.LICENCE and merchant and merchant.kind == MerchantKind.MICRO.value)
                      and code is not Document.AUTHORISATION_LETTER]
        kind = wanted[0] if wanted else None
    document.kind = kind.value if kind else None
    if merchant is not None:
        document.merchant_id = merchant.id
    still_missing: tuple[Document, ...] = ()
    reference = None
    if request is not None:
        document.change_request = request
        reference = request.reference
        still_missing = _mark_received(session, request, merchant, kind)
    session.flush()
    return Received(label=kind.label if kind else OTHER_LABEL,
                    content_label=CONTENT_TYPE_LABELS.get(document.content_type, "文件"),
                    kind=kind, reference=reference, still_missing=still_missing)


def documents_sent(session: Session, conversation_id: str) -> frozenset[Document]:
    """The documents this conversation sent that no request holds yet (what filing counts)."""
    kinds = session.execute(
        select(UploadedDocument.kind).where(UploadedDocument.conversation_id == conversation_id,
                                            UploadedDocument.change_request_id.is_(None),
                                            UploadedDocument.kind.is_not(None))
    ).scalars()
    return frozenset(document for document in map(document_kind, kinds) if document is not None)


def attach_conversation_documents(session: Session, conversation_id: str, request: ChangeRequest) -> int:
    """After filing: the documents this conversation sent before belong to the new request."""
    documents = session.execute(
        select(UploadedDocument).where(UploadedDocument.conversation_id == conversation_id,
                                       UploadedDocument.change_request_id.is_(None))
    ).scalars().all()
    for document in documents:
        document.change_request = request
        document.merchant_id = request.merchant_id
    session.flush()
    return len(documents)


def _kinds_in_conversation(session: Session, conversation_id: str) -> list[str]:
    return list(session.execute(
        select(UploadedDocument.kind).where(UploadedDocument.conversation_id == conversation_id,
                                            UploadedDocument.kind.is_not(None))
    ).scalars())


def _request_awaiting_documents(session: Session, merchant: Merchant) -> Optional[ChangeRequest]:
    return session.execute(
        select(ChangeRequest)
        .where(ChangeRequest.merchant_id == merchant.id,
               ChangeRequest.status == RequestStatus.AWAITING_DOCUMENTS.value)
        .order_by(ChangeRequest.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def _mark_received(session: Session, request: ChangeRequest, merchant: Merchant,
                   kind: Optional[Document]) -> tuple[Document, ...]:
    missing = [code for code in request.missing_documents or () if not kind or code != kind.value]
    request.missing_documents = missing  # a new list: SQLAlchemy sees the change of a JSON column
    audit(session, f"merchant:{merchant.merchant_number}", "change_request.document_received",
          merchant=merchant, change_request=request, document=kind.value if kind else None,
          still_missing=missing)
    if not missing:
        request.status = RequestStatus.UNDER_REVIEW
        request.updated_at = utcnow()
        audit(session, "bot", "change_request.documents_complete", merchant=merchant, change_request=request,
              reference=request.reference)
    return tuple(Document(code) for code in missing)
