"""Billing periods: the anchor, the grid of full periods, and the periods a service bills.

A service bills in advance. Its *anchor* is the first client billing day on or after its first
unbilled day; full periods run from the anchor for 1, 3, 6 or 12 months. The same grid extends
backwards, so every day lies in exactly one full period: a partial period (before the anchor,
or cut short by an end date) is prorated against the full period it lies in.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass

ONE_DAY = dt.timedelta(days=1)


@functools.lru_cache(maxsize=65536)  # a year of 20,000 clients asks ~800,000 times, ~1,000 ways
def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (or earlier), clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def days_between(start: dt.date, end: dt.date) -> int:
    """Calendar days from `start` to `end`, both included."""
    return (end - start).days + 1


def first_billable_day(start_date: dt.date, billed_through: dt.date | None) -> dt.date:
    """The day billing starts: the day after `billed_through`, never before `start_date`."""
    if billed_through is None:
        return start_date
    return max(start_date, billed_through + ONE_DAY)


def anchor(first_day: dt.date, billing_day: int) -> dt.date:
    """The first billing day (1-28) on or after `first_day`."""
    candidate = first_day.replace(day=billing_day)
    return candidate if candidate >= first_day else add_months(candidate, 1)


@dataclass(frozen=True)
class Grid:
    """Full periods of `months` months starting on `anchor`, extended both ways."""

    anchor: dt.date
    months: int

    def index(self, day: dt.date) -> int:
        """Which full period holds `day` (0 starts at the anchor, -1 ends the day before)."""
        months = (day.year - self.anchor.year) * 12 + day.month - self.anchor.month
        if day.day < self.anchor.day:
            months -= 1
        return months // self.months

    def start(self, index: int) -> dt.date:
        return add_months(self.anchor, index * self.months)

    def end(self, index: int) -> dt.date:
        return self.start(index + 1) - ONE_DAY

    def full_period(self, day: dt.date) -> tuple[dt.date, dt.date]:
        """The full period `day` lies in."""
        index = self.index(day)
        return self.start(index), self.end(index)


@dataclass(frozen=True)
class Period:
    """Days `start`-`end` of a service, inside the full period `full_start`-`full_end`."""

    start: dt.date
    end: dt.date
    full_start: dt.date
    full_end: dt.date

    @property
    def days(self) -> int:
        return days_between(self.start, self.end)

    @property
    def full_days(self) -> int:
        return days_between(self.full_start, self.full_end)

    @property
    def partial(self) -> bool:
        return self.days < self.full_days


def service_periods(first_day: dt.date, billing_day: int, months: int,
                    end_date: dt.date | None, last_start: dt.date,
                    from_day: dt.date | None = None) -> Iterator[Period]:
    """The periods of a service from `first_day`, those starting on or before `last_start`.

    The first one is partial when `first_day` is not a billing day; the last one is cut at
    `end_date`. `from_day`: only the periods from the one holding that day (the same periods,
    without walking the years before it).
    """
    grid = Grid(anchor(first_day, billing_day), months)
    start = first_day
    if from_day is not None and from_day > first_day:
        start = max(first_day, grid.full_period(from_day)[0])
    while start <= last_start and (end_date is None or start <= end_date):
        full_start, full_end = grid.full_period(start)
        end = full_end if end_date is None else min(full_end, end_date)
        yield Period(start, end, full_start, full_end)
        start = full_end + ONE_DAY


def issue_date(period_start: dt.date, days_before: int) -> dt.date:
    """The day the invoice for a period starting `period_start` is issued."""
    return period_start - dt.timedelta(days=days_before)


def unbilled_parts(start: dt.date, end: dt.date,
                   billed: list[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    """The days of `start`-`end` not inside any of the `billed` ranges (sorted by start)."""
    parts = []
    cursor = start
    for billed_start, billed_end in billed:
        if billed_end < cursor:
            continue
        if billed_start > end:
            break
        if billed_start > cursor:
            parts.append((cursor, billed_start - ONE_DAY))
        cursor = max(cursor, billed_end + ONE_DAY)
        if cursor > end:
            return parts
    if cursor <= end:
        parts.append((cursor, end))
    return parts
