"""Submitting the change the merchant signed (CONVERSATION.md §3 step 9): the use case behind
`action_file_request`, in the order the merchant experiences it.

1. the photos sent during the conversation count as provided (the request is not filed as
   awaiting them);
2. the request is filed once (`filing.file_change_request`: the signature recorded when the code was
   verified, used up; pre-checks again under the merchant's lock, idempotency key, notice SMS), or
   refused with `NotSigned` or `FilingRefused`;
3. the photos are attached to the request;
4. the due date and the documents still missing are worked out for the reply;
5. the different-name rule: a settlement account that is not in the merchant's own name (非同名)
   needs the merchant's authorisation, which a person checks, so the conversation goes to an agent.
   Companies settle only to their own corporate account (the form refuses other names), so the
   rule concerns individual and sole-trader merchants.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from sqlalchemy.orm import Session

from bot.change_requests import documents, status
from bot.change_requests.filing import (
    ChangeDetails, Document, FilingRefused, NotSigned, file_change_request, missing_documents, same_name,
)
from bot.db.models import Merchant, MerchantKind

__all__ = ["Submitted", "FilingRefused", "NotSigned", "submit_change", "needs_authorisation", "document_list"]


@dataclass(frozen=True)
class Submitted:
    """What the merchant is told once the request is filed."""

    reference: str
    bank_name: str
    last4: str
    account_name: str
    due_date_text: str
    missing: tuple[Document, ...]
    needs_authorisation: bool  # different name: an agent takes over

    @property
    def missing_text(self) -> str:
        return document_list(self.missing)


def document_list(kinds: Iterable[Document]) -> str:
    """Document names as a Chinese enumeration: 身份证人像面照片、银行卡正面照片."""
    return "、".join(kind.label for kind in kinds)


def needs_authorisation(merchant: Merchant, account_name: str) -> bool:
    """The different-name rule (DOMAIN_RULES.md): a card in another person's name goes to an agent."""
    return merchant.kind != MerchantKind.COMPANY.value and not same_name(merchant, account_name)


def submit_change(session: Session, merchant: Merchant, details: ChangeDetails, idempotency_key: str,
                  channel: str, conversation_id: str) -> Submitted:
    """File the signed change (once) and say what comes next. Raises `NotSigned`, `FilingRefused`."""
    details = replace(details, documents=documents.documents_sent(session, conversation_id))
    filed = file_change_request(session, merchant, details, idempotency_key, channel, conversation_id)
    documents.attach_conversation_documents(session, conversation_id, filed.request)
    view = status.view(filed.request, merchant)
    return Submitted(
        reference=filed.reference,
        bank_name=details.bank_name,
        last4=details.last4,
        account_name=details.account_name,
        due_date_text=view.due_date_text,
        missing=missing_documents(merchant, details),
        needs_authorisation=needs_authorisation(merchant, details.account_name),
    )
