"""Invoice line descriptions an ISP's client can read: package, speeds, dates, proration."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ispsheets.book.records import Package

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def plain(number: Decimal) -> str:
    """`100` for 100.00, `12.5` for 12.50: no trailing zeros, no exponent."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def day_text(day: dt.date, with_year: bool = True) -> str:
    text = f"{_MONTHS[day.month - 1]} {day.day}"
    return f"{text}, {day.year}" if with_year else text


def date_range(start: dt.date, end: dt.date) -> str:
    """`Dec 1 – Dec 31, 2026`; `Dec 15, 2026 – Jan 14, 2027` across a year; one day alone."""
    if start == end:
        return day_text(start)
    if start.year == end.year:
        return f"{day_text(start, with_year=False)} – {day_text(end)}"
    return f"{day_text(start)} – {day_text(end)}"


def package_title(package: Package) -> str:
    """`Home 100 (100/20 Mbps, unlimited)`."""
    specs = []
    speeds = [plain(x) for x in (package.download_mbps, package.upload_mbps) if x is not None]
    if speeds:
        specs.append("/".join(speeds) + " Mbps")
    cap = package.data_cap_gb
    specs.append("unlimited" if cap is None else f"{plain(cap)} GB")
    return f"{package.name} ({', '.join(specs)})"


def _notes(days: int | None, full_days: int | None, discount_pct: Decimal) -> str:
    notes = []
    if days is not None and full_days is not None:
        notes.append(f"{days} of {full_days} days")
    if discount_pct:
        notes.append(f"{plain(discount_pct)}% off")
    return f" ({', '.join(notes)})" if notes else ""


def period_line(package: Package, start: dt.date, end: dt.date, discount_pct: Decimal,
                prorated_days: tuple[int, int] | None = None) -> str:
    """`Home 100 (100/20 Mbps, unlimited) — Nov 10 – Nov 30, 2026 (21 of 30 days, 10% off)`."""
    days, full_days = prorated_days or (None, None)
    return f"{package_title(package)} — {date_range(start, end)}" + _notes(days, full_days,
                                                                          discount_pct)


def credit_line(package: Package, start: dt.date, end: dt.date, days: int, full_days: int,
                discount_pct: Decimal) -> str:
    """`Credit: Home 100 — unused Dec 16 – Dec 31, 2026 (16 of 31 days)`."""
    return (f"Credit: {package.name} — unused {date_range(start, end)}"
            + _notes(days, full_days, discount_pct))


def setup_line(package: Package) -> str:
    return f"Setup fee: {package.name}"
