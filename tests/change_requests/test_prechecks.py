"""Pre-checks on the demo merchants (CONTRACTS.md) and the daily limit."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from bot.db.models import ChangeRequest, RequestStatus, new_reference
from bot.change_requests.prechecks import DAILY_REQUEST_LIMIT, PrecheckReason, find_merchant, local_day_start, run_prechecks
from bot.workdays import add_working_days

from domain_fixtures import NOW, merchant


@pytest.mark.parametrize(
    "number",
    ["822100000000001", "822100000000002", "822100000000003", "822100000000006", "822100000000007",
     "822100000000008", "822100000000009"],
)
def test_demo_merchants_pass(demo: Session, number: str) -> None:
    result = run_prechecks(demo, number, now=NOW)
    assert result.ok and result.reason is None and result.merchant.merchant_number == number


def test_inactive_terminal(demo: Session) -> None:
    result = run_prechecks(demo, "822100000000005", now=NOW)
    assert result.reason is PrecheckReason.TERMINAL_INACTIVE and not result.ok
    assert result.reason.response == "utter_precheck_terminal_inactive"


def test_open_request(demo: Session) -> None:
    result = run_prechecks(demo, "822100000000004")
    assert result.reason is PrecheckReason.OPEN_REQUEST
    assert result.open_request.reference.startswith("CR")
    assert result.details["reference"] == result.open_request.reference
    assert result.details["status_label"] == "审核中"


def test_unknown_merchant(demo: Session) -> None:
    assert run_prechecks(demo, "822100000000099").reason is PrecheckReason.MERCHANT_NOT_FOUND


def test_typed_merchant_number_is_found(demo: Session) -> None:
    assert find_merchant(demo, "8221 0000 0000 001").merchant_number == "822100000000001"
    assert find_merchant(demo, "８２２１００００００００００１").merchant_number == "822100000000001"


def add_request(session: Session, number: str, created, status=RequestStatus.CANCELLED) -> None:
    session.add(ChangeRequest(
        reference=new_reference(created), merchant=merchant(session, number), status=status, reason="原卡丢失",
        bank_code="ICBC", bank_name="中国工商银行", account_number="6222021000000000124", account_name="张伟",
        channel="rest", created_at=created, updated_at=created, due_at=add_working_days(created, 3),
    ))
    session.commit()


def test_daily_limit_counts_todays_requests_in_china_time(demo: Session) -> None:
    midnight = local_day_start(NOW)
    add_request(demo, "822100000000001", midnight - timedelta(seconds=1))  # yesterday in China
    for minute in range(DAILY_REQUEST_LIMIT - 1):
        add_request(demo, "822100000000001", midnight + timedelta(minutes=minute))
    assert run_prechecks(demo, "822100000000001", now=NOW).ok
    add_request(demo, "822100000000001", NOW - timedelta(minutes=1))
    result = run_prechecks(demo, "822100000000001", now=NOW)
    assert result.reason is PrecheckReason.DAILY_LIMIT
    assert result.details["daily_limit"] == "5" and result.requests_today == 5
    assert run_prechecks(demo, "822100000000001", now=midnight + timedelta(days=1)).ok
