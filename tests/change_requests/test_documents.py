"""Uploaded documents: checked by content, stored encrypted, named and attached to the right request
(SQLite; PostgreSQL too when TEST_POSTGRES_URL is set)."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.change_requests import documents
from bot.db.models import AuditEvent, ChangeRequest, RequestStatus, UploadedDocument
from bot.change_requests.documents import MAX_UPLOAD_BYTES, UploadRefused
from bot.change_requests.filing import ChangeDetails, Document, file_change_request, new_idempotency_key

from domain_fixtures import NOW, merchant, signed


@pytest.fixture
def db_url(multi_db_url: str) -> str:
    return multi_db_url


def png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny, grey) PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CARD_TEXT = "身份证号 310101198503171233".encode("utf-8")


def store(session: Session, data: bytes, conversation: str = "webchat-822100000000001", kind: str | None = None):
    return documents.store_upload(session, conversation_id=conversation, channel="webchat", data=data, kind=kind)


@pytest.mark.parametrize("data, content_type", [(png(), "image/png"), (JPEG, "image/jpeg"), (PDF, "application/pdf")])
def test_jpeg_png_and_pdf_are_accepted_by_content(demo: Session, data: bytes, content_type: str) -> None:
    document = store(demo, data)
    assert document.content_type == content_type and document.size_bytes == len(data)


@pytest.mark.parametrize("data, response", [
    (b"", "utter_upload_empty"),
    (CARD_TEXT, "utter_upload_wrong_type"),
    (b"GIF89a" + b"\x00" * 20, "utter_upload_wrong_type"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "utter_upload_wrong_type"),
    (b"MZ\x90\x00" + b"\x00" * 100, "utter_upload_wrong_type"),  # a Windows program named photo.jpg
    (b"\xff\xd8\xff" + b"\x00" * MAX_UPLOAD_BYTES, "utter_upload_too_large"),
])
def test_anything_else_is_refused_with_the_reason(demo: Session, data: bytes, response: str) -> None:
    with pytest.raises(UploadRefused) as refused:
        store(demo, data)
    assert refused.value.response == response
    assert demo.execute(select(UploadedDocument)).first() is None


def test_exactly_five_megabytes_is_accepted(demo: Session) -> None:
    assert store(demo, JPEG[:3] + b"\x00" * (MAX_UPLOAD_BYTES - 3)).size_bytes == MAX_UPLOAD_BYTES


def test_files_are_stored_encrypted_under_random_names(demo: Session, var_dir: Path) -> None:
    image = png()
    first, second = store(demo, image), store(demo, image)
    assert first.stored_name != second.stored_name and first.public_id != second.public_id
    stored = (var_dir / "uploads" / first.stored_name).read_bytes()
    assert b"PNG" not in stored and image not in stored
    assert documents.read_upload(first) == image


def test_the_next_missing_document_is_assumed_when_the_merchant_does_not_say(demo: Session) -> None:
    zhang = merchant(demo, "822100000000001")  # micro merchant: no business licence
    labels = []
    for _ in range(4):
        received = documents.receive_document(demo, "conv-a", store(demo, png(), "conv-a").public_id, zhang)
        labels.append(received.label)
    assert labels == ["身份证人像面照片", "身份证国徽面照片", "新结算卡正面照片", "补充材料"]
    assert documents.documents_sent(demo, "conv-a") == {Document.ID_FRONT, Document.ID_BACK, Document.CARD_FRONT}


def test_a_sole_trader_is_asked_for_the_licence_too(demo: Session) -> None:
    li = merchant(demo, "822100000000002")
    kinds = [documents.receive_document(demo, "conv-b", store(demo, JPEG, "conv-b").public_id, li).kind
             for _ in range(4)]
    assert kinds[-1] is Document.LICENCE


def test_the_merchants_choice_wins(demo: Session) -> None:
    document = store(demo, JPEG, "conv-c", kind="card_front")
    received = documents.receive_document(demo, "conv-c", document.public_id, None)
    assert received.kind is Document.CARD_FRONT and received.content_label == "JPEG 图片"
    assert store(demo, JPEG, "conv-c", kind="../../etc/passwd").kind is None  # unknown choice: ignored


def test_another_conversations_upload_cannot_be_claimed(demo: Session) -> None:
    document = store(demo, JPEG, "webchat-822100000000002")
    assert documents.receive_document(demo, "webchat-822100000000001", document.public_id, None) is None
    assert documents.receive_document(demo, "webchat-822100000000001", "", None) is None


def test_photos_sent_before_filing_count_and_are_attached(demo: Session) -> None:
    zhang = merchant(demo, "822100000000001")
    for kind in ("id_front", "id_back", "card_front"):
        documents.receive_document(demo, "conv-d", store(demo, JPEG, "conv-d", kind=kind).public_id, zhang)
    details = ChangeDetails(reason="原卡丢失", bank_code="ICBC", bank_name="中国工商银行",
                            account_number="6222021000000000124", account_name="张伟",
                            holder_id_number="310101198503171233", opening_branch="上海分行营业部",
                            documents=documents.documents_sent(demo, "conv-d"))
    signed(demo, zhang.merchant_number, "conv-d", details, NOW)
    filed = file_change_request(demo, zhang, details, new_idempotency_key(), "webchat", "conv-d", now=NOW)
    assert filed.request.status is RequestStatus.UNDER_REVIEW
    assert documents.attach_conversation_documents(demo, "conv-d", filed.request) == 3
    assert documents.documents_sent(demo, "conv-d") == frozenset()


def test_a_photo_completes_a_request_awaiting_documents(demo: Session) -> None:
    zhang = merchant(demo, "822100000000001")
    details = ChangeDetails(reason="原卡丢失", bank_code="ICBC", bank_name="中国工商银行",
                            account_number="6222021000000000124", account_name="张伟",
                            holder_id_number="310101198503171233", opening_branch="上海分行营业部")
    signed(demo, zhang.merchant_number, "conv-e", details, NOW)
    request = file_change_request(demo, zhang, details, new_idempotency_key(), "webchat", "conv-e", now=NOW).request
    assert request.status is RequestStatus.AWAITING_DOCUMENTS
    first = documents.receive_document(demo, "conv-e", store(demo, png(), "conv-e").public_id, zhang)
    assert first.reference == request.reference and first.still_missing == (Document.ID_BACK, Document.CARD_FRONT)
    for _ in range(2):
        last = documents.receive_document(demo, "conv-e", store(demo, png(), "conv-e").public_id, zhang)
    demo.commit()
    assert last.still_missing == ()
    request = demo.get(ChangeRequest, request.id)
    assert request.status is RequestStatus.UNDER_REVIEW and request.missing_documents == []
    attached = demo.execute(select(UploadedDocument).where(UploadedDocument.change_request_id == request.id))
    assert len(attached.all()) == 3
    actions = demo.execute(select(AuditEvent.action).where(AuditEvent.change_request_id == request.id)).scalars()
    assert "change_request.documents_complete" in list(actions)
