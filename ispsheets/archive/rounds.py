"""A long backlog moves in rounds, oldest first, so a move's memory follows a round's rows and
not the years behind it (an owner who turns the archive on after years of history).

A round is a whole move (`ispsheets.archive.move`: keyed, copied, removed, journaled) at an
earlier cutoff: the day before which about `ROUND_ROWS` of the rows that may move are dated.
So a round is exactly what `plan_archive` moves at that cutoff, and never splits what the plan
keeps together (an invoice with its lines and charges; a payment moves once every invoice it
paid has moved or moves with it, whichever round that is). A kill between rounds leaves the
earlier rounds done and the next not begun.

The rows are counted by the first cutoff that moves them (an invoice with its lines and
charges by its due date, a payment by the last due date of the invoices it paid, an Activity
row by its timestamp): a count to choose the cutoff, not the plan (a credit note waits for the
invoices its credit paid; when a single day holds more than the bound, a round moves that
day's rows).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping

from ispsheets.book import parse
from ispsheets.book.columns import column_values
from ispsheets.book.parse import DateOrder
from ispsheets.book.reader import RawBook
from ispsheets.book.schema import TABS_BY_NAME, find_tab

# About the most rows one round moves (each costs the move a few kB of memory while it moves:
# docs/DESIGN.md "The archive switched on after years of history"). The daily run moves one
# round; `ispsheets archive` moves round after round until the backlog is gone. Tests lower
# it.
ROUND_ROWS = 100_000
# ... or this share of the rows of the workbook's archived tabs, if more: the run itself holds
# the whole workbook, so a round's rows cost a share of what the run needs anyway, and a
# backlog of any size moves in a few rounds (each one reads and rewrites the workbook).
ROUND_SHARE = 0.1


def round_rows(raw: RawBook) -> int:
    """The most rows a round moves (about): `ROUND_ROWS`, or `ROUND_SHARE` of the workbook's
    rows in the tabs the archive moves rows out of, if more."""
    rows = 0
    for tab in ("Invoices", "InvoiceLines", "Charges", "Payments", "Activity"):
        name = find_tab(raw.names, TABS_BY_NAME[tab])
        if name is not None:
            rows += max(len(raw.sheets[name].rows) - 1, 0)
    return max(ROUND_ROWS, int(ROUND_SHARE * rows))


def dated_rows(raw: RawBook, due: Mapping[str, dt.date], charges: Mapping[str, str],
               payments: Mapping[str, dt.date], before: dt.date, order: DateOrder = "MDY"
               ) -> Counter[dt.date]:
    """How many of the workbook's rows may move before `before`, by the first day a cutoff
    after it moves them. `due`: each settled invoice that never moved, by its due date (its
    lines and the charges it billed, `charges` (charge → invoice), count on that day too);
    `payments`: each payment wholly applied, by the last due date of the invoices it paid;
    Activity rows by their timestamp."""
    days: Counter[dt.date] = Counter()

    def count(day: dt.date | None) -> None:
        if day is not None and day < before:
            days[day] += 1

    for tab in ("Invoices", "InvoiceLines"):
        for number in column_values(raw, tab, "invoice_number"):
            count(due.get(_text(number)))
    for charge in column_values(raw, "Charges", "charge_id"):
        count(due.get(charges.get(_text(charge), "")))
    for payment in column_values(raw, "Payments", "payment_id"):
        count(payments.get(_text(payment)))
    for value in column_values(raw, "Activity", "timestamp"):
        stamp = parse.parse_datetime(value, order)
        if isinstance(stamp, dt.datetime):
            count(stamp.date())
    return days


def _text(value: object) -> str:
    return "" if parse.is_blank(value) else parse.parse_text(value)


def round_cutoff(days: Mapping[dt.date, int], before: dt.date, limit: int) -> dt.date:
    """The cutoff of the next round: `before` when the rows dated before it are at most
    `limit`; else the latest day with at most `limit` rows dated before it, or, when the
    oldest day alone holds more, the day after it (a round always moves something)."""
    total = 0
    oldest = True
    for day in sorted(d for d in days if d < before):
        if total + days[day] > limit:
            return day + dt.timedelta(days=1) if oldest else day
        total += days[day]
        oldest = False
    return before
