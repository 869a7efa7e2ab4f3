"""Working days and local time of the service (China Standard Time).

Review deadlines ("at most 3 working days") are counted in working days, Monday to Friday, on the
service's local calendar. Public holidays and the make-up working weekends (调休) are not modelled yet:
a holiday calendar would slot into `is_working_day`.

Timestamps are stored in UTC and shown in local time with an explicit offset:

>>> from datetime import date
>>> add_working_days(date(2026, 11, 27), 1)  # Friday -> Monday
datetime.date(2026, 11, 30)
>>> working_days_between(date(2026, 11, 27), date(2026, 11, 30))
1
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TypeVar

# A fixed offset rather than zoneinfo: China has had no daylight saving since 1991, and a fixed offset
# needs no tz database (slim container images often lack one).
LOCAL_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

D = TypeVar("D", date, datetime)


def utcnow() -> datetime:
    """Current time, timezone-aware UTC (the only form timestamps are stored in)."""
    return datetime.now(timezone.utc)


def local_now() -> datetime:
    return datetime.now(LOCAL_TZ)


def to_local_iso(value: datetime | None) -> str | None:
    """`2026-11-25T21:30:00+08:00`: local time, whole seconds, explicit offset."""
    if value is None:
        return None
    if value.tzinfo is None:  # stored values are UTC; a naive one can only mean UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(LOCAL_TZ).replace(microsecond=0).isoformat()


def is_working_day(day: date) -> bool:
    return day.weekday() < 5


def _local_date(value: date | datetime) -> date:
    if isinstance(value, datetime):
        # An aware instant belongs to the local calendar day, not the UTC one (00:30 local is still
        # the previous day in UTC).
        return value.astimezone(LOCAL_TZ).date() if value.tzinfo else value.date()
    return value


def add_working_days(start: D, days: int) -> D:
    """The `days`-th working day after `start` (before it when negative); 0 returns `start`.

    Counting is strict: one working day after Friday is Monday, one before Monday is Friday, one
    after Saturday is Monday. A datetime keeps its local time of day and its own time zone.
    """
    day = _local_date(start)
    step = 1 if days >= 0 else -1
    remaining = abs(days)
    while remaining:
        day += timedelta(days=step)
        if is_working_day(day):
            remaining -= 1
    if not isinstance(start, datetime):
        return day
    if start.tzinfo is None:
        return datetime.combine(day, start.time())
    local = start.astimezone(LOCAL_TZ)
    return datetime.combine(day, local.time(), LOCAL_TZ).astimezone(start.tzinfo)


def working_days_between(start: date | datetime, end: date | datetime) -> int:
    """Working days from `start` (included) up to `end` (excluded); negative when `end` is earlier.

    Like `numpy.busday_count`: a request filed on a working day is `n` working days old on the
    date `add_working_days(filed, n)`, and `working_days_between(add_working_days(d, -n), d) == n`
    for any `d`.
    """
    first, last = _local_date(start), _local_date(end)
    if last < first:
        return -working_days_between(last, first)
    weeks, extra = divmod((last - first).days, 7)
    tail_start = first + timedelta(weeks=weeks)  # every whole week holds exactly 5 working days
    return weeks * 5 + sum(is_working_day(tail_start + timedelta(days=i)) for i in range(extra))
