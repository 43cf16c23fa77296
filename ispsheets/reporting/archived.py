"""What the report still needs of archived invoices and payments: their figures, kept in the
journal (`archived_figures`) when they are keyed to move, so the report shows the same numbers
with or without the archive and never reads the whole history to do it.

Three kinds of rows, each keyed (kind, key):

- `invoice` (key: its number): issue and due dates, total, tax, the day it was paid in full,
  and per line (service, period start, amount, tax): the revenue tables, the Summary's
  metrics and the Client history. Void invoices count nowhere and are not kept.
- `payment` (key: its id): amount and method; its `day` is the payment's date.
- `client` (key: the client id): running totals of every archived invoice and payment of the
  client (charged, paid, first invoice and payment, last payment received), so the Client
  history's "brought forward" line and the Aging's last payment need no scan of history.

`day` is the last day a report can show a figure by (an invoice: the latest of its issue date,
due date and its lines' period starts; a payment: its date; a client row: blank), so a report
reads with the `day` index only the figures of the months it shows.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from sys import intern
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ispsheets.book.fast_records import copier, maker
from ispsheets.book.parse import TextValues, paused_gc
from ispsheets.book.records import Invoice, Payment

if TYPE_CHECKING:
    from ispsheets.archive.checkpoint import Frozen
    from ispsheets.journal import Journal

ZERO = Decimal("0")
T = TypeVar("T")
RawLine = tuple[str, "str | None", str, str, str]  # (issued, period start, service, amount, tax)
NOT_COUNTED = ("void", "held")  # as `ReportInput.live_invoices`


@dataclass(frozen=True)
class ClientFigures:
    """Totals of a client's archived invoices (not void) and payments, whatever their date."""

    charged: Decimal = ZERO
    paid: Decimal = ZERO
    first_invoice: dt.date | None = None
    first_payment: dt.date | None = None
    last_payment: dt.date | None = None  # the latest payment of a positive amount


class LineFigure(NamedTuple):
    """Archived invoice lines alike for every table that counts lines: the key of
    `ArchivedFigures.line_counts`."""

    issued: dt.date  # the invoice's issue date
    month: dt.date  # the month the line is booked to (`inputs.service_month`)
    group: str  # what `line_counts` was asked to group the service by
    amount: Decimal
    tax: Decimal


class Earlier(NamedTuple):
    """A figure of a record also given live, dated before the months shown: only what the
    brought-forward balance takes out (no record is built: there may be many)."""

    kind: str  # "invoice" or "payment"
    key: str
    client_id: str
    day: dt.date  # issued, or paid
    amount: Decimal  # the invoice's total, or the payment's amount


@dataclass(frozen=True)
class ArchivedFigures:
    """The archived figures a report needs: invoices and payments (as records, as the report
    reads them) whose `day` is on or after `since`, every client's totals, and `earlier`: the
    figures of records also given live, dated before `since` (the live record counts; its
    figure is taken out of the client's totals), as (kind, key, client, date, amount).

    The invoices carry no lines: their lines, but those of invoices also given live, are
    counted in `lines`, by their texts (a year of 20,000 clients has 400,000 lines, which
    the revenue tables only sum); `line_counts` reads them."""

    since: dt.date | None = None
    invoices: tuple[Invoice, ...] = ()
    payments: tuple[Payment, ...] = ()
    paid_on: Mapping[str, dt.date] = field(default_factory=dict)
    clients: Mapping[str, ClientFigures] = field(default_factory=dict)
    earlier: tuple[Earlier, ...] = ()
    lines: Mapping[RawLine, int] = field(default_factory=dict)

    def line_counts(self, group: Callable[[str], str]) -> dict[LineFigure, int]:
        """How many lines there are of each (issue date, month booked to, `group(service
        id)`, amount, tax): grouped first, so that each distinct figure is parsed once."""
        grouped: dict[RawLine, int] = {}
        groups: dict[str, str] = {}
        for (issued, start, service, amount, tax), count in self.lines.items():
            if (name := groups.get(service)) is None:
                name = groups[service] = group(service)
            key = (issued, start, name, amount, tax)
            grouped[key] = grouped.get(key, 0) + count
        values = TextValues()
        counts: dict[LineFigure, int] = {}
        for (issued, start, name, amount, tax), count in grouped.items():
            day = values.date(issued)
            assert day is not None
            key = LineFigure(day, (values.date(start) or day).replace(day=1), name,
                             values.decimal(amount), values.decimal(tax))
            counts[key] = counts.get(key, 0) + count
        return counts


# -- writing: called by `ispsheets.archive.checkpoint.freeze` -----------------------------------


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def invoice_row(invoice: Invoice, paid_on: dt.date | None) -> tuple[str, str, str, str, str]:
    lines = [[line.service_id, _iso(line.period_start), str(line.amount), str(line.tax)]
             for line in invoice.lines]
    day = max([invoice.issue_date, invoice.due_date,
               *(line.period_start for line in invoice.lines if line.period_start)])
    data = {"issued": _iso(invoice.issue_date), "due": _iso(invoice.due_date),
            "total": str(invoice.total), "tax": str(invoice.tax), "paid_on": _iso(paid_on),
            "lines": lines}
    return ("invoice", invoice.invoice_number, invoice.client_id, day.isoformat(),
            json.dumps(data, separators=(",", ":")))


def payment_row(payment: Payment) -> tuple[str, str, str, str, str]:
    data = {"amount": str(payment.amount), "method": payment.method}
    return ("payment", payment.payment_id, payment.client_id, payment.date.isoformat(),
            json.dumps(data, separators=(",", ":")))


def _client_data(figures: ClientFigures) -> str:
    return json.dumps({"charged": str(figures.charged), "paid": str(figures.paid),
                       "first_invoice": _iso(figures.first_invoice),
                       "first_payment": _iso(figures.first_payment),
                       "last_payment": _iso(figures.last_payment)}, separators=(",", ":"))


def _client_figures(data: Mapping[str, Any]) -> ClientFigures:
    return ClientFigures(Decimal(data["charged"]), Decimal(data["paid"]),
                         _date(data["first_invoice"]), _date(data["first_payment"]),
                         _date(data["last_payment"]))


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _earliest(*days: dt.date | None) -> dt.date | None:
    return min((d for d in days if d is not None), default=None)


def _latest(*days: dt.date | None) -> dt.date | None:
    return max((d for d in days if d is not None), default=None)


def _add(totals: ClientFigures, kind: str, day: str, data: Mapping[str, Any],
         sign: int) -> ClientFigures:
    """The client's totals with one figure added (sign 1) or taken out (-1). Dates only grow
    the first/last days (a figure is taken out only when it is written again, changed)."""
    if kind == "invoice":
        issued = dt.date.fromisoformat(data["issued"])
        return ClientFigures(totals.charged + sign * Decimal(data["total"]), totals.paid,
                             _earliest(totals.first_invoice, issued), totals.first_payment,
                             totals.last_payment)
    paid_day = dt.date.fromisoformat(day)
    amount = Decimal(data["amount"])
    last = _latest(totals.last_payment, paid_day) if amount > 0 and sign > 0 \
        else totals.last_payment
    return ClientFigures(totals.charged, totals.paid + sign * amount, totals.first_invoice,
                         _earliest(totals.first_payment, paid_day), last)


def record_figures(journal: Journal, frozen: Frozen) -> None:
    """Write the report's figures of the invoices and payments keyed to move, and fold them
    into their clients' totals. Idempotent: a figure written before with the same data changes
    nothing; one written before with other data is replaced (its old amount taken out)."""
    states = frozen.allocation.invoices
    wanted = [invoice_row(i, s.paid_on if (s := states.get(i.invoice_number)) else None)
              for i in frozen.invoices if i.status not in NOT_COUNTED]
    gone = [("invoice", i.invoice_number) for i in frozen.invoices if i.status in NOT_COUNTED]
    wanted += [payment_row(p) for p in frozen.payments if p.payment_id]
    if not wanted and not gone:
        return
    with journal.transaction():
        keys = [(r[0], r[1]) for r in wanted] + gone
        before = {(k, key): (client, day, data) for k, key, client, day, data
                  in journal.archived_figures(keys=keys)}
        changes: list[tuple[str, str, str, str, int]] = []  # (client, kind, day, data, ±1)
        for kind, key, client, day, data in wanted:
            old = before.get((kind, key))
            if old == (client, day, data):
                continue
            if old is not None:
                changes.append((old[0], kind, old[1], old[2], -1))
            changes.append((client, kind, day, data, 1))
        for kind, key in gone:
            if (old := before.get((kind, key))) is not None:
                changes.append((old[0], kind, old[1], old[2], -1))
        clients = [("client", c) for c in sorted({change[0] for change in changes})]
        totals = {key: _client_figures(json.loads(data)) for _, key, _, _, data
                  in journal.archived_figures(keys=clients)}
        for client, kind, day, data, sign in changes:
            totals[client] = _add(totals.get(client, ClientFigures()), kind, day,
                                  json.loads(data), sign)
        journal.put_archived_figures(
            [r for r in wanted if before.get((r[0], r[1])) != (r[2], r[3], r[4])]
            + [("client", c, c, "", _client_data(t)) for c, t in sorted(totals.items())])
        journal.delete_archived_figures([k for k in gone if k in before])


# -- reading: what `ispsheets.steps.report.report_input` gives the report -----------------------


def _maker(prototype: T) -> Callable[..., T]:
    """Records like `prototype` with the fields given by keyword changed, made without the
    dataclass `__init__` (which takes 5 µs a record; the months shown of 20,000 clients
    hold 150,000 archived invoices)."""
    return functools.partial(copier(type(prototype)), prototype)


_payment = maker(Payment, "payment_id", "date", "client_id", "amount", "method")
_invoice = _maker(Invoice("", "", dt.date.min, None, None, dt.date.min, ZERO, ZERO, ZERO,
                          balance=ZERO, status="paid"))


class _Decoder(TextValues):
    """Figures back to records, each distinct text parsed once (amounts and days repeat), the
    client ids and payment methods interned (each repeats on every record of its client)."""

    def day(self, text: str) -> dt.date:
        value = self.date(text)
        assert value is not None
        return value

    def invoice(self, number: str, client: str, data: Mapping[str, Any]) -> Invoice:
        """The archived invoice as the report reads it: paid in full, without its lines
        (`ArchivedFigures.lines` counts them)."""
        decimal = self.decimal
        total, tax = decimal(data["total"]), decimal(data["tax"])
        issued, due = self.day(data["issued"]), self.day(data["due"])
        return _invoice(invoice_number=number, client_id=intern(client), issue_date=issued,
                        due_date=due, subtotal=total - tax, tax=tax, total=total, paid=total)

    def payment(self, key: str, client: str, day: str, data: Mapping[str, Any]) -> Payment:
        return _payment(key, self.day(day), intern(client), self.decimal(data["amount"]),
                        intern(data["method"]))


class _Decoded:
    """Figures decoded so far, batch after batch; the lines of invoices not in `live`
    counted by their texts."""

    def __init__(self, live: frozenset[str]) -> None:
        self.live = live
        self.invoices: list[Invoice] = []
        self.payments: list[Payment] = []
        self.paid_on: dict[str, dt.date] = {}
        self.lines: dict[RawLine, int] = {}

    def add(self, rows: Sequence[tuple[str, str, str, str, str]], decoder: _Decoder) -> None:
        datas = json.loads("[" + ",".join(r[4] for r in rows) + "]") if rows else []
        lines, live = self.lines, self.live
        for (kind, key, client, day, _), data in zip(rows, datas, strict=True):
            if kind == "invoice":
                self.invoices.append(decoder.invoice(key, client, data))
                if (paid := decoder.date(data["paid_on"])) is not None:
                    self.paid_on[key] = paid
                if key not in live:  # each text once (they repeat, line after line)
                    issued = intern(data["issued"])
                    for service, start, amount, tax in data["lines"]:
                        line = (issued, start and intern(start), intern(service),
                                intern(amount), intern(tax))
                        lines[line] = lines.get(line, 0) + 1
            elif kind == "payment":
                self.payments.append(decoder.payment(key, client, day, data))


def load_figures(journal: Journal, since: dt.date, invoices: Iterable[Invoice],
                 payments: Iterable[Payment]) -> ArchivedFigures:
    """The figures dated from `since` on (through the `day` index), every client's totals,
    and the figures of the live `invoices` and `payments` dated before `since` that have one
    (few: a restored invoice; or, while runs still give the report everything, all). The
    lines of the invoices also given live are not counted: the live record's count."""
    with paused_gc():  # hundreds of thousands of small records, no cycles
        return _load(journal, since, invoices, payments)


def _load(journal: Journal, since: dt.date, invoices: Iterable[Invoice],
          payments: Iterable[Payment]) -> ArchivedFigures:
    clients = {key: _client_figures(json.loads(data))
               for _, key, _, _, data in journal.archived_figures(kind="client")}
    if not clients:  # every figure is in its client's totals: nothing archived yet
        return ArchivedFigures(since)
    invoices = tuple(invoices)
    decoder, shown = _Decoder(), _Decoded(frozenset(i.invoice_number for i in invoices))
    for rows in journal.archived_figures_since(since.isoformat()):  # a batch at a time
        shown.add(rows, decoder)
    wanted = [("invoice", i.invoice_number) for i in invoices if i.issue_date < since]
    wanted += [("payment", p.payment_id) for p in payments if p.date < since]
    day, decimal, first = decoder.day, decoder.decimal, since.isoformat()
    before: list[Earlier] = []
    for start in range(0, len(wanted), 5000):  # a batch at a time
        rows = [r for r in journal.archived_figures(keys=wanted[start:start + 5000])
                if r[3] < first]  # one dated from `since` on is read above, with the shown
        datas = json.loads("[" + ",".join(r[4] for r in rows) + "]") if rows else []
        before += [Earlier(kind, key, client, day(data["issued"]), decimal(data["total"]))
                   if kind == "invoice" else
                   Earlier(kind, key, client, day(paid), decimal(data["amount"]))
                   for (kind, key, client, paid, _), data in zip(rows, datas, strict=True)]
    return ArchivedFigures(since, tuple(shown.invoices), tuple(shown.payments), shown.paid_on,
                           clients, tuple(before), shown.lines)
