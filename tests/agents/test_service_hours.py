"""Service hours and what a merchant is told at handoff (bot/agents/service_hours.py), clock injected."""
from __future__ import annotations

import doctest
import logging
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from bot.agents import accounts, service_hours
from bot.agents.service_hours import Availability, ServiceHours, handoff_notice
from bot.db.models import StaffRole
from bot.workdays import LOCAL_TZ

HOURS = ServiceHours.parse("09:00-18:00")
PASSWORD = "correct horse battery"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of the week of Monday 23 November 2026, China time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=LOCAL_TZ)


def test_doctests() -> None:
    assert doctest.testmod(service_hours).failed == 0


@pytest.mark.parametrize("moment, open_", [
    (local(25, 8, 59), False), (local(25, 9, 0), True), (local(25, 17, 59), True), (local(25, 18, 0), False),
    (local(28, 10, 0), False),  # Saturday
    (local(29, 10, 0), False),  # Sunday
])
def test_open_on_working_days_inside_the_hours(moment: datetime, open_: bool) -> None:
    assert HOURS.is_open(moment) is open_


def test_an_utc_clock_is_read_in_china_time() -> None:
    # 01:30 UTC on Wednesday is 09:30 in China: open.
    assert HOURS.is_open(datetime(2026, 11, 25, 1, 30, tzinfo=timezone.utc))
    assert not HOURS.is_open(datetime(2026, 11, 25, 10, 30, tzinfo=timezone.utc))  # 18:30 in China


@pytest.mark.parametrize("moment, opening, text", [
    (local(25, 7, 0), local(25, 9), "今天 9:00"),
    (local(25, 21, 30), local(26, 9), "明天（11月26日 周四）9:00"),
    (local(27, 18, 0), local(30, 9), "11月30日（周一）9:00"),  # Friday evening: Monday
    (local(28, 11, 0), local(30, 9), "11月30日（周一）9:00"),  # Saturday: the day after tomorrow
    (local(29, 23, 0), local(30, 9), "明天（11月30日 周一）9:00"),  # Sunday night
])
def test_the_next_opening_as_a_merchant_reads_it(moment: datetime, opening: datetime, text: str) -> None:
    assert HOURS.next_opening(moment) == opening
    assert service_hours.opening_text(opening, moment) == text


@pytest.mark.parametrize("text", ["", "9-18", "18:00-09:00", "09:00-09:00", "25:00-26:00", "09:00 to 18:00"])
def test_bad_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ServiceHours.parse(text)


def test_hours_come_from_the_environment_and_a_typo_falls_back_to_the_default(monkeypatch, caplog) -> None:
    monkeypatch.setenv("AGENT_SERVICE_HOURS", "8:30-20:00")
    assert service_hours.configured_hours().text() == "工作日 8:30-20:00"
    monkeypatch.setenv("AGENT_SERVICE_HOURS", "8:30 till late")
    with caplog.at_level(logging.ERROR):
        assert service_hours.configured_hours() == HOURS
    assert "AGENT_SERVICE_HOURS" in caplog.text
    monkeypatch.delenv("AGENT_SERVICE_HOURS")
    assert service_hours.configured_hours() == HOURS


def _agent_signs_in(session: Session, now: datetime, name: str = "wang", role: StaffRole = StaffRole.AGENT) -> str:
    accounts.create_account(session, name, PASSWORD, role, "王芳")
    return accounts.sign_in(session, name, PASSWORD, now=now).token


def test_inside_the_hours_with_an_agent_signed_in_an_agent_answers(session: Session) -> None:
    now = local(25, 10)
    _agent_signs_in(session, now - timedelta(minutes=5))
    notice = handoff_notice(session, now, HOURS)
    assert notice.answers_now and notice.availability is Availability.AGENT_ANSWERS
    assert notice.response is None


def test_inside_the_hours_with_nobody_signed_in(session: Session) -> None:
    now = local(25, 10)
    _agent_signs_in(session, now, "li", StaffRole.REVIEWER)  # a reviewer does not answer merchants
    token = _agent_signs_in(session, now - timedelta(hours=1), "wang")
    accounts.end_session(session, token, now=now - timedelta(minutes=1))
    notice = handoff_notice(session, now, HOURS)
    assert not notice.answers_now
    assert (notice.response, notice.variables) == ("utter_handoff_no_agent", {"service_hours": "工作日 9:00-18:00"})


def test_outside_the_hours_even_a_signed_in_agent_does_not_count(session: Session) -> None:
    now = local(25, 21, 30)
    _agent_signs_in(session, now)
    notice = handoff_notice(session, now, HOURS)
    assert notice.availability is Availability.AFTER_HOURS and notice.next_opening == local(26, 9)
    assert notice.response == "utter_handoff_after_hours"
    assert notice.variables == {"service_hours": "工作日 9:00-18:00", "opening": "明天（11月26日 周四）9:00"}


def test_the_clock_defaults_to_now_and_the_hours_to_the_configuration(session: Session, monkeypatch) -> None:
    monkeypatch.setenv("AGENT_SERVICE_HOURS", "00:00-23:59")
    notice = handoff_notice(session)
    assert notice.hours == ServiceHours.parse("00:00-23:59")
    assert notice.availability in (Availability.NO_AGENT_SIGNED_IN, Availability.AFTER_HOURS)  # weekends close
