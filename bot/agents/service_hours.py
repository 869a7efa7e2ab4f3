"""When a human answers: the agents' service hours, and what the bot tells a merchant at handoff.

An agent answers now only inside the service hours (`AGENT_SERVICE_HOURS`, default
`09:00-18:00` China time, on working days as `bot.workdays` counts them) *and* when at least one
agent is signed in to the console (`accounts.agents_signed_in`). Otherwise the handoff still
happens (the ticket waits in the queue), and the merchant is told so:

- outside the hours: `utter_handoff_after_hours`, with the next opening as Chinese text;
- inside the hours with nobody signed in: `utter_handoff_no_agent`, with the hours.

>>> from datetime import datetime
>>> hours = ServiceHours.parse("09:00-18:00")
>>> wednesday_evening = datetime(2026, 11, 25, 21, 30, tzinfo=LOCAL_TZ)
>>> hours.is_open(wednesday_evening)
False
>>> opening_text(hours.next_opening(wednesday_evening), wednesday_evening)
'明天（11月26日 周四）9:00'
>>> friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=LOCAL_TZ)
>>> opening_text(hours.next_opening(friday_evening), friday_evening)
'11月30日（周一）9:00'
"""
from __future__ import annotations

import enum
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session

from bot.agents import accounts
from bot.workdays import LOCAL_TZ, is_working_day, utcnow

__all__ = ["ServiceHours", "Availability", "HandoffNotice", "configured_hours", "handoff_notice", "opening_text"]

HOURS_ENV = "AGENT_SERVICE_HOURS"
DEFAULT_HOURS = "09:00-18:00"
WEEKDAYS = "一二三四五六日"
_SPAN = re.compile(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceHours:
    """Agents answer on working days from `opens` (included) to `closes` (excluded), local time."""

    opens: time
    closes: time

    @classmethod
    def parse(cls, text: str) -> "ServiceHours":
        """`09:00-18:00` (or `9:00-18:00`); the span lies within one day.

        >>> ServiceHours.parse("18:00-09:00")
        Traceback (most recent call last):
        ...
        ValueError: service hours must look like 09:00-18:00 and close after they open, got '18:00-09:00'
        """
        match = _SPAN.fullmatch(text or "")
        hours = match and cls(time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4])))
        if not hours or hours.closes <= hours.opens:
            raise ValueError(f"service hours must look like 09:00-18:00 and close after they open, got {text!r}")
        return hours

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(LOCAL_TZ)
        return is_working_day(local.date()) and self.opens <= local.time() < self.closes

    def next_opening(self, now: datetime) -> datetime:
        """The first opening at or after `now` (local time): later today, or the next working day."""
        local = now.astimezone(LOCAL_TZ)
        day = local.date()
        if not (is_working_day(day) and local.time() < self.opens):
            day += timedelta(days=1)
            while not is_working_day(day):
                day += timedelta(days=1)
        return datetime.combine(day, self.opens, LOCAL_TZ)

    def text(self) -> str:
        """`工作日 9:00-18:00`, as merchants read the hours."""
        return f"工作日 {_clock(self.opens)}-{_clock(self.closes)}"


def _clock(moment: time) -> str:
    return f"{moment.hour}:{moment.minute:02d}"


def opening_text(opening: datetime, now: datetime) -> str:
    """`今天 9:00`, `明天（11月26日 周四）9:00` or `11月30日（周一）9:00`."""
    local, today = opening.astimezone(LOCAL_TZ), now.astimezone(LOCAL_TZ).date()
    weekday = f"周{WEEKDAYS[local.weekday()]}"
    if local.date() == today:
        return f"今天 {_clock(local.time())}"
    if local.date() == today + timedelta(days=1):
        return f"明天（{local.month}月{local.day}日 {weekday}）{_clock(local.time())}"
    return f"{local.month}月{local.day}日（{weekday}）{_clock(local.time())}"


def configured_hours() -> ServiceHours:
    """`AGENT_SERVICE_HOURS`, or the default. A bad value is logged and the default used: a typo in
    the configuration must not break every handoff."""
    text = os.environ.get(HOURS_ENV, "").strip() or DEFAULT_HOURS
    try:
        return ServiceHours.parse(text)
    except ValueError as error:
        log.error("%s: %s; using %s", HOURS_ENV, error, DEFAULT_HOURS)
        return ServiceHours.parse(DEFAULT_HOURS)


class Availability(enum.Enum):
    AGENT_ANSWERS = "agent_answers"
    AFTER_HOURS = "after_hours"
    NO_AGENT_SIGNED_IN = "no_agent_signed_in"


@dataclass(frozen=True)
class HandoffNotice:
    """Whether an agent answers now, and if not, what to tell the merchant."""

    availability: Availability
    hours: ServiceHours
    next_opening: datetime | None = None  # after hours: when agents answer again (local time)
    next_opening_text: str = ""

    @property
    def answers_now(self) -> bool:
        return self.availability is Availability.AGENT_ANSWERS

    @property
    def response(self) -> str | None:
        """The domain response that says it; None when an agent answers now (utter_handoff says all)."""
        return {Availability.AFTER_HOURS: "utter_handoff_after_hours",
                Availability.NO_AGENT_SIGNED_IN: "utter_handoff_no_agent"}.get(self.availability)

    @property
    def variables(self) -> dict[str, str]:
        variables = {"service_hours": self.hours.text()}
        if self.next_opening_text:
            variables["opening"] = self.next_opening_text
        return variables


def handoff_notice(session: Session, now: datetime | None = None, hours: ServiceHours | None = None) -> HandoffNotice:
    """Will an agent answer a handoff made `now`? Outside the hours no (whoever is signed in); inside
    them only when an agent is signed in to the console."""
    now = now or utcnow()
    hours = hours or configured_hours()
    if not hours.is_open(now):
        opening = hours.next_opening(now)
        return HandoffNotice(Availability.AFTER_HOURS, hours, opening, opening_text(opening, now))
    if accounts.agents_signed_in(session, now=now) == 0:
        return HandoffNotice(Availability.NO_AGENT_SIGNED_IN, hours)
    return HandoffNotice(Availability.AGENT_ANSWERS, hours)
