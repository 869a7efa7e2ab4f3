"""Read-only views of the store for people and scripts (`bot requests list`, the agent console).

Each row is a plain JSON-ready dict; card and ID numbers appear as last four digits or masked only,
never in full. Times are local ISO 8601 with offset (`2026-11-25T21:30:00+08:00`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from bot.db.models import ChangeRequest, Handoff, HandoffStatus, Merchant, RequestStatus
from bot.masking import mask_number
from bot.workdays import to_local_iso, utcnow


def request_row(request: ChangeRequest, merchant_number: str, now: datetime | None = None) -> dict[str, Any]:
    status = RequestStatus(request.status)
    return {
        "reference": request.reference,
        "merchant_id": merchant_number,  # the 15-digit merchant number, as merchants know it
        "status": status.value,
        "status_label": status.label,
        "bank": request.bank_name,
        "bank_code": request.bank_code,
        "card_last4": request.card_last4,
        "card_masked": mask_number(request.card_last4),
        "account_name": request.account_name,
        "holder_id_last4": request.holder_id_last4,
        "reason": request.reason,
        "channel": request.channel,
        "needs_manual_review": bool(request.needs_manual_review),
        "created_at": to_local_iso(request.created_at),
        "updated_at": to_local_iso(request.updated_at),
        "due_at": to_local_iso(request.due_at),
        "overdue": request.is_overdue(now),
    }


def list_requests(session: Session, merchant_number: str | None = None) -> list[dict[str, Any]]:
    """Change requests, newest first, optionally of one merchant (unknown number: empty list)."""
    query = (
        select(ChangeRequest, Merchant.merchant_number)
        # Lists never need the full numbers: they are not even decrypted (nor the key needed).
        .options(defer(ChangeRequest.account_number), defer(ChangeRequest.holder_id_number))
        .join(Merchant, ChangeRequest.merchant_id == Merchant.id)
        .order_by(ChangeRequest.created_at.desc(), ChangeRequest.id.desc())
    )
    if merchant_number is not None:
        query = query.where(Merchant.merchant_number == merchant_number)
    now = utcnow()
    return [request_row(request, number, now) for request, number in session.execute(query)]


def handoff_row(handoff: Handoff, merchant_number: str | None, include_context: bool = False) -> dict[str, Any]:
    status = HandoffStatus(handoff.status)
    row = {
        "id": handoff.id,
        "conversation_id": handoff.conversation_id,
        "channel": handoff.channel,
        "reason": handoff.reason,
        "status": status.value,
        "status_label": status.label,
        "merchant_id": merchant_number,
        "agent": handoff.agent,
        "created_at": to_local_iso(handoff.created_at),
        "updated_at": to_local_iso(handoff.updated_at),
    }
    if include_context:
        row["context"] = handoff.context  # masked by whoever created the handoff
    return row


def list_handoffs(session: Session, include_context: bool = False) -> list[dict[str, Any]]:
    """Handoffs, newest first."""
    query = (
        select(Handoff, Merchant.merchant_number)
        .outerjoin(Merchant, Handoff.merchant_id == Merchant.id)
        .order_by(Handoff.created_at.desc(), Handoff.id.desc())
    )
    return [handoff_row(handoff, number, include_context) for handoff, number in session.execute(query)]
