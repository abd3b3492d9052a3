"""The report's period: an ISO week or a range of days in a time zone, as UTC instants."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


def zone(name: str | None) -> ZoneInfo:
    """The time zone called ``name`` (default UTC); ValueError naming it when unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as "
                         "Europe/Berlin or UTC)") from exc


@dataclass(frozen=True)
class Period:
    """Local days ``first``..``last`` (inclusive) in ``tz``; ``week``: an ISO week."""

    first: dt.date
    last: dt.date
    tz: str = "UTC"
    week: bool = False
    so_far: bool = False  # the current ISO week up to today

    @property
    def start(self) -> dt.datetime:
        """First instant, UTC."""
        return dt.datetime.combine(self.first, dt.time(), zone(self.tz)).astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """First instant after the period (exclusive), UTC."""
        after = self.last + dt.timedelta(days=1)
        return dt.datetime.combine(after, dt.time(), zone(self.tz)).astimezone(dt.UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def label(self) -> str:
        """``2026-W47`` for a week, ``2026-W48 so far`` for the current one, ``2026-03-01 to
        2026-03-14`` for a range."""
        if self.so_far:
            year, number, _ = self.first.isocalendar()
            return f"{year}-W{number:02d} so far"
        if self.week:
            year, number, _ = self.first.isocalendar()
            return f"{year}-W{number:02d}"
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()} to {self.last.isoformat()}"

    @property
    def slug(self) -> str:
        """The label as a file-name part: ``2026-W47``, ``2026-03-01_2026-03-14``."""
        if self.so_far:
            return self.label.replace(" ", "-")
        if self.week or self.first == self.last:
            return self.label
        return f"{self.first.isoformat()}_{self.last.isoformat()}"

    def previous(self) -> Period:
        """The period of the same length just before (the ISO week before a week; the same
        weekdays of the week before for a week so far)."""
        if self.so_far:
            shift = dt.timedelta(days=7)
            return Period(self.first - shift, self.last - shift, self.tz)
        shift = dt.timedelta(days=self.days)
        return Period(self.first - shift, self.last - shift, self.tz, self.week)


def iso_week(text: str, tz: str = "UTC") -> Period:
    """``2026-W47`` (or ``2026W47``) as a period; ValueError otherwise."""
    match = WEEK.match(text.strip())
    if not match:
        raise ValueError(f"week {text!r}: expected YYYY-Www, e.g. 2026-W47")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        monday = dt.date.fromisocalendar(year, number, 1)
    except ValueError as exc:
        raise ValueError(f"week {text!r}: {year} has no ISO week {number}") from exc
    zone(tz)
    return Period(monday, monday + dt.timedelta(days=6), tz, week=True)


def last_full_week(tz: str = "UTC", now: dt.datetime | None = None) -> Period:
    """The last ISO week (Monday to Sunday, local days in ``tz``) that has ended."""
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(zone(tz)).date()
    monday = today - dt.timedelta(days=today.weekday() + 7)
    return Period(monday, monday + dt.timedelta(days=6), tz, week=True)


def date_range(first: dt.date, last: dt.date, tz: str = "UTC") -> Period:
    """Local days ``first`` to ``last``, both included; ValueError when reversed."""
    if last < first:
        raise ValueError(f"--to {last.isoformat()} is before --from {first.isoformat()}")
    zone(tz)
    return Period(first, last, tz)


def this_week_so_far(tz: str = "UTC", now: dt.datetime | None = None) -> Period:
    """The current ISO week from its Monday up to today (local days in ``tz``)."""
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(zone(tz)).date()
    return Period(today - dt.timedelta(days=today.weekday()), today, tz, so_far=True)
