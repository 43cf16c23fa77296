"""Which rows move to the archive: a pure decision over the rows read, the journal's invoices
and where each payment went.

An invoice moves when its story is over: `paid` or `void`, due before the cutoff. Its
InvoiceLines and the Charges rows it billed go with it, and so does a payment whose whole
amount went to invoices that move (a payment split over a moving and a still-open invoice
stays, and so does one with credit left; one spread over invoices archived before and
invoices moving now goes). A credit note moves once its credit is used up on invoices that
move (or moved). Activity rows older than the cutoff move. Open,
partial and held invoices never move, whatever their age; Packages, Clients and Services never
move. A row keyed for the archive before (moving, moved, or brought back by the owner) is
not planned again.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from ispsheets.archive.book import LIVE_STATES
from ispsheets.archive.rows import SheetRow
from ispsheets.billing.periods import add_months
from ispsheets.book import parse
from ispsheets.book.parse import DateOrder
from ispsheets.book.records import Invoice
from ispsheets.payments.allocate import CREDIT_NOTE, PaymentState

SETTLED = ("paid", "void")


def cutoff(today: dt.date, months: int) -> dt.date | None:
    """The first day that stays: the first of the month `months` calendar months before
    today's (None: 0 = never). Whole months move together, once a month, as a bookkeeper
    closes them, so most runs have nothing to move and skip the work of looking."""
    return add_months(today.replace(day=1), -months) if months > 0 else None


@dataclass(frozen=True)
class Move:
    """One row to move: its key, where it was read, the archive year, and its cells."""

    tab: str
    key: str
    row: int
    year: int
    values: Mapping[str, object] = field(hash=False)
    expect: Mapping[str, str] = field(hash=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        object.__setattr__(self, "expect", MappingProxyType(dict(self.expect)))


@dataclass(frozen=True)
class ArchivePlan:
    before: dt.date
    moves: tuple[Move, ...] = ()

    def of(self, tab: str) -> list[Move]:
        return [m for m in self.moves if m.tab == tab]

    def years(self) -> list[int]:
        return sorted({m.year for m in self.moves})


def row_key(row: SheetRow, order: DateOrder = "MDY") -> str:
    """What identifies a row of its tab for the archive (the journal's key for it)."""
    match row.tab:
        case "Invoices":
            return row.text("invoice_number")
        case "InvoiceLines":
            return f"{row.text('invoice_number')}#{row.text('line')}"
        case "Charges":
            return row.text("charge_id")
        case "Payments":
            return row.text("payment_id")
        case _:
            stamp = parse.parse_datetime(row.values.get("timestamp"), order)
            shown = stamp.isoformat() if isinstance(stamp, dt.datetime) else \
                row.text("timestamp")
            return "|".join([shown, row.text("action"), row.text("client_id"),
                             row.text("invoice_number"), row.text("detail")])


def expect_of(row: SheetRow, order: DateOrder = "MDY") -> dict[str, str]:
    """The cells a row must still show to be removed (`DeleteRow.expect`)."""
    match row.tab:
        case "Invoices" | "Payments" | "Charges":
            column = {"Invoices": "invoice_number", "Payments": "payment_id",
                      "Charges": "charge_id"}[row.tab]
            return {column: row.text(column)}
        case "InvoiceLines":
            return {"invoice_number": row.text("invoice_number"), "line": row.text("line")}
        case _:
            stamp = parse.parse_datetime(row.values.get("timestamp"), order)
            expect = {c: row.text(c) for c in ("action", "client_id", "invoice_number",
                                               "detail")}
            if isinstance(stamp, dt.datetime):
                expect["timestamp"] = stamp.isoformat()
            return expect


def keyed(rows: Iterable[SheetRow], order: DateOrder = "MDY") -> Iterator[tuple[str, SheetRow]]:
    """Each row with its key; a key seen again on the same tab gets `#2`, `#3`… (identical
    Activity rows)."""
    seen: Counter[str] = Counter()
    for row in rows:
        key = row_key(row, order)
        seen[key] += 1
        yield (key if seen[key] == 1 else f"{key}#{seen[key]}", row)


# (tab, keys) → key → archive state, for those of the keys the journal keyed on that tab
# (`Journal.archive_states_of`): the plan asks only about the rows in play.
StatesOf = Callable[[str, Collection[str]], Mapping[str, str]]


def states_from(known: Collection[tuple[str, str]], archived: Collection[str] = ()
                ) -> StatesOf:
    """A `StatesOf` over sets: `known` (tab, key) pairs keyed before, `archived` invoices in
    the archive."""
    def states_of(tab: str, keys: Collection[str]) -> dict[str, str]:
        found = {k: "keyed" for k in keys if (tab, k) in known}
        if tab == "Invoices":
            found.update((k, "removed") for k in keys if k in archived)
        return found
    return states_of


def plan_archive(rows: Mapping[str, Iterable[SheetRow]], invoices: Sequence[Invoice],
                 payments: Mapping[str, PaymentState], charge_invoices: Mapping[str, str],
                 before: dt.date, known: Collection[tuple[str, str]] = (),
                 order: DateOrder = "MDY",
                 notes: Mapping[str, Mapping[str, Decimal]] | None = None,
                 archived: Collection[str] = (), *, states: StatesOf | None = None,
                 whole: Callable[[SheetRow], SheetRow] | None = None) -> ArchivePlan:
    """The rows to move for a cutoff `before` (rows dated before it may move).

    `invoices` are the journal's (status as the allocation has it), `payments` where each
    payment went, `charge_invoices` the invoice that billed each charge, `known` the
    (tab, key) pairs the journal keyed for the archive before, `notes` what each credit
    note's credit paid (`Allocation.notes_applied`), `archived` the invoices in the archive
    already (a payment spread over them and the ones moving now moves too). `states`, when
    given, answers for `known` and `archived`, asked only about the rows that could move and
    the invoices their money went to. `rows` may hold a row's key cells alone
    (`TabRows.key_cells`): `whole` then gives the whole row of each that moves."""
    states_of = states if states is not None else states_from(known, archived)
    notes = notes or {}
    due = {i.invoice_number: i for i in invoices
           if i.status in SETTLED and i.due_date < before}
    keyed_before = states_of("Invoices", list(due))
    moving: dict[str, Invoice] = {n: i for n, i in due.items() if n not in keyed_before}
    credit = [i for i in moving.values() if i.total < 0 and i.status != "void"]
    # the invoices in the archive already, of those the money of these rows went to
    paid_into = {n for i in credit for n in notes.get(CREDIT_NOTE + i.invoice_number, {})}
    paid_into.update(n for state in payments.values() if state.applied and not state.unapplied
                     for n, _ in state.applied)
    gone = {n for n, state in states_of("Invoices", paid_into - moving.keys()).items()
            if state in LIVE_STATES}
    for invoice in credit:
        # a credit note moves once its credit is used up, on invoices that move too
        paid = notes.get(CREDIT_NOTE + invoice.invoice_number, {})
        if sum(paid.values(), Decimal(0)) != -invoice.total or \
                not all(n in moving or n in gone for n in paid):
            del moving[invoice.invoice_number]
    candidates: list[tuple[str, str, SheetRow, int]] = []

    def add(tab: str, key: str, row: SheetRow, year: int) -> None:
        candidates.append((tab, key, row, year))

    for key, row in keyed(rows.get("Invoices", ()), order):
        invoice = moving.get(key)
        if invoice is not None:
            add("Invoices", key, row, invoice.issue_date.year)
    for key, row in keyed(rows.get("InvoiceLines", ()), order):
        invoice = moving.get(row.text("invoice_number"))
        if invoice is not None:
            add("InvoiceLines", key, row, invoice.issue_date.year)
    for key, row in keyed(rows.get("Charges", ()), order):
        day = parse.parse_date(row.values.get("date"), order)
        if charge_invoices.get(key) in moving and isinstance(day, dt.date):
            add("Charges", key, row, day.year)
    for key, row in keyed(rows.get("Payments", ()), order):
        day = parse.parse_date(row.values.get("date"), order)
        state = payments.get(key)
        if (state is not None and state.applied and not state.unapplied
                and all(number in moving or number in gone for number, _ in state.applied)
                and isinstance(day, dt.date)):
            add("Payments", key, row, day.year)
    for key, row in keyed(rows.get("Activity", ()), order):
        stamp = parse.parse_datetime(row.values.get("timestamp"), order)
        if isinstance(stamp, dt.datetime) and stamp.date() < before:
            add("Activity", key, row, stamp.year)
    by_tab: dict[str, list[str]] = {}
    for tab, key, _, _ in candidates:
        by_tab.setdefault(tab, []).append(key)
    seen = {tab: states_of(tab, keys) for tab, keys in by_tab.items()}
    return ArchivePlan(before, tuple(
        Move(tab, key, row.row, year, (whole(row) if whole else row).values,
             expect_of(row, order))
        for tab, key, row, year in candidates if key not in seen[tab]))
