"""Pre-checks before a settlement-account change (CONVERSATION.md §3 step 2): may this merchant
file one now?

In order: the merchant exists; a terminal of theirs is active; no change request of theirs is
open (awaiting documents, under review, approved or escalated); fewer than 5 requests filed today
(China date; cancelled ones count too, or filing and cancelling would get round the limit). Each
failure is a `PrecheckReason` whose value names the domain response `utter_precheck_<reason>`;
`PrecheckResult.details` fills its variables.

`bot.change_requests.filing` runs the same checks again when filing, under the merchant's lock, so two
conversations of one merchant cannot both file.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.models import (
    OPEN_REQUEST_STATUSES,
    ChangeRequest,
    Merchant,
    MerchantKind,
    RequestStatus,
    Terminal,
    TerminalStatus,
)
from bot.validation.normalize import compact_number
from bot.workdays import LOCAL_TZ, utcnow

# WeChat Pay's merchant API allows 5 settlement-account change requests a day (DOMAIN_RULES.md).
DAILY_REQUEST_LIMIT = 5


class PrecheckReason(str, enum.Enum):
    MERCHANT_NOT_FOUND = "merchant_not_found"
    TERMINAL_INACTIVE = "terminal_inactive"
    OPEN_REQUEST = "open_request"
    DAILY_LIMIT = "daily_limit"

    @property
    def response(self) -> str:
        return f"utter_precheck_{self.value}"


@dataclass(frozen=True)
class PrecheckResult:
    reason: PrecheckReason | None  # None: all checks passed
    merchant: Merchant | None = None
    open_request: ChangeRequest | None = None  # set with OPEN_REQUEST
    requests_today: int = 0

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def details(self) -> dict[str, str]:
        """Variables for the response: the open request's reference and status, the limit."""
        details = {"daily_limit": str(DAILY_REQUEST_LIMIT), "requests_today": str(self.requests_today)}
        if self.open_request is not None:
            details["reference"] = self.open_request.reference
            details["status_label"] = RequestStatus(self.open_request.status).label
        return details


def needs_licence(merchant: Merchant) -> bool:
    """Only sole traders and companies have a business licence (micro merchants have none)."""
    return merchant.kind != MerchantKind.MICRO.value


def find_merchant(session: Session, merchant_number: str) -> Merchant | None:
    """The merchant with this number (typed forms accepted: spaces, full-width digits), or None."""
    number = compact_number(merchant_number)
    return session.execute(select(Merchant).where(Merchant.merchant_number == number)).scalar_one_or_none()


def has_active_terminal(session: Session, merchant_id: int) -> bool:
    query = select(Terminal.id).where(Terminal.merchant_id == merchant_id, Terminal.status == TerminalStatus.ACTIVE)
    return session.execute(query.limit(1)).first() is not None


def open_request(session: Session, merchant_id: int) -> ChangeRequest | None:
    """The merchant's open change request (the newest, should there be several), or None."""
    query = (
        select(ChangeRequest)
        .where(ChangeRequest.merchant_id == merchant_id, ChangeRequest.status.in_(list(OPEN_REQUEST_STATUSES)))
        .order_by(ChangeRequest.created_at.desc(), ChangeRequest.id.desc())
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none()


def local_day_start(now: datetime) -> datetime:
    """Midnight of `now`'s China date, as UTC."""
    local = now.astimezone(LOCAL_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


def requests_filed_today(session: Session, merchant_id: int, now: datetime | None = None) -> int:
    now = now or utcnow()
    query = select(func.count(ChangeRequest.id)).where(
        ChangeRequest.merchant_id == merchant_id, ChangeRequest.created_at >= local_day_start(now)
    )
    return session.execute(query).scalar_one()


def check_merchant(session: Session, merchant: Merchant, now: datetime | None = None) -> PrecheckResult:
    """The checks after identification: terminal, open request, daily limit."""
    if not has_active_terminal(session, merchant.id):
        return PrecheckResult(PrecheckReason.TERMINAL_INACTIVE, merchant)
    pending = open_request(session, merchant.id)
    if pending is not None:
        return PrecheckResult(PrecheckReason.OPEN_REQUEST, merchant, open_request=pending)
    today = requests_filed_today(session, merchant.id, now)
    if today >= DAILY_REQUEST_LIMIT:
        return PrecheckResult(PrecheckReason.DAILY_LIMIT, merchant, requests_today=today)
    return PrecheckResult(None, merchant, requests_today=today)


def run_prechecks(session: Session, merchant: Merchant | str, now: datetime | None = None) -> PrecheckResult:
    """All pre-checks for a merchant (object or merchant number); the first failure wins."""
    if isinstance(merchant, str):
        found = find_merchant(session, merchant)
        if found is None:
            return PrecheckResult(PrecheckReason.MERCHANT_NOT_FOUND)
        merchant = found
    return check_merchant(session, merchant, now)
