"""Working-day arithmetic (Monday to Friday, local calendar) and local time display."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.workdays import LOCAL_TZ, add_working_days, is_working_day, to_local_iso, working_days_between

WED, FRI, SAT, SUN, MON = (date(2026, 11, d) for d in (25, 27, 28, 29, 30))
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))
counts = st.integers(min_value=-60, max_value=60)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (WED, 0, WED),
        (WED, 2, FRI),
        (FRI, 1, MON),
        (SAT, 1, MON),
        (SUN, -1, FRI),
        (MON, -1, FRI),
        (WED, 5, date(2026, 12, 2)),
        (date(2026, 11, 26), -6, date(2026, 11, 18)),
        (date(2026, 11, 18), 3, date(2026, 11, 23)),
    ],
)
def test_add_working_days(start: date, n: int, expected: date) -> None:
    assert add_working_days(start, n) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(WED, WED, 0), (WED, FRI, 2), (FRI, MON, 1), (SAT, MON, 0), (FRI, SAT, 1), (MON, FRI, -1), (WED, date(2026, 12, 9), 10)],
)
def test_working_days_between(start: date, end: date, expected: int) -> None:
    assert working_days_between(start, end) == expected


@given(days, counts)
def test_stepping_back_then_counting_gives_the_step(day: date, n: int) -> None:
    assert working_days_between(add_working_days(day, -abs(n)), day) == abs(n)


@given(days.filter(is_working_day), counts)
def test_from_a_working_day_counting_inverts_adding(day: date, n: int) -> None:
    assert working_days_between(day, add_working_days(day, n)) == n


@given(days, counts.filter(bool))
def test_result_is_always_a_working_day(day: date, n: int) -> None:
    assert is_working_day(add_working_days(day, n))


@given(days, days)
def test_between_is_antisymmetric(a: date, b: date) -> None:
    assert working_days_between(a, b) == -working_days_between(b, a)


def test_datetimes_use_the_local_calendar_and_keep_their_zone() -> None:
    # Thursday 17:00 UTC is already Friday 01:00 in China: the next working day there is Monday
    # (by the UTC calendar it would be Friday).
    instant = datetime(2026, 11, 26, 17, 0, tzinfo=timezone.utc)
    later = add_working_days(instant, 1)
    assert later.tzinfo == timezone.utc
    assert later.astimezone(LOCAL_TZ) == datetime(2026, 11, 30, 1, 0, tzinfo=LOCAL_TZ)
    assert working_days_between(instant, later) == 1
    naive = datetime(2026, 11, 27, 9, 30)  # naive: its own calendar, no conversion
    assert add_working_days(naive, 1) == datetime(2026, 11, 30, 9, 30)


def test_to_local_iso() -> None:
    assert to_local_iso(datetime(2026, 11, 25, 13, 30, 5, 123456, tzinfo=timezone.utc)) == "2026-11-25T21:30:05+08:00"
    assert to_local_iso(datetime(2026, 11, 25, 13, 30)) == "2026-11-25T21:30:00+08:00"  # naive means UTC
    assert to_local_iso(None) is None
    assert LOCAL_TZ.utcoffset(None) == timedelta(hours=8)
