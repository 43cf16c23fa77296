"""What the portal shows, as the last run settled it: built by the run, read by the portal.

Each run (not a dry run) that has `portal.base_url` set publishes `portal/view.sqlite`: every
client's balance, status and invoices with what was paid, and the payments applied. The file
is written under a temporary name and renamed over the old one, so the portal always reads one
whole run's state and never waits for a run (nor a run for the portal). All the money the portal
shows is computed here, by the run, from the same allocation the workbook gets; the portal's
views only display it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ispsheets.book.records import Client, Invoice, Payment
from ispsheets.money import ZERO, format_money, quantum

VIEW_NAME = "view.sqlite"
OPEN_STATUSES = ("open", "partial")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE clients (client_id TEXT PRIMARY KEY, name TEXT NOT NULL, emails TEXT NOT NULL,
    address TEXT NOT NULL, status TEXT NOT NULL, balance TEXT NOT NULL, past_due TEXT NOT NULL,
    to_reconnect TEXT NOT NULL, autopay INTEGER NOT NULL, suspended_on TEXT);
CREATE TABLE emails (email TEXT NOT NULL, client_id TEXT NOT NULL);
CREATE INDEX emails_email ON emails (email);
CREATE TABLE invoices (number TEXT PRIMARY KEY, client_id TEXT NOT NULL, issue_date TEXT NOT NULL,
    due_date TEXT NOT NULL, period_start TEXT, period_end TEXT, total TEXT NOT NULL,
    paid TEXT NOT NULL, balance TEXT NOT NULL, status TEXT NOT NULL, paid_on TEXT,
    pdf TEXT NOT NULL);
CREATE INDEX invoices_client ON invoices (client_id);
CREATE TABLE payments (payment_id TEXT NOT NULL, client_id TEXT NOT NULL, date TEXT NOT NULL,
    amount TEXT NOT NULL, method TEXT NOT NULL, reference TEXT NOT NULL,
    applied_to TEXT NOT NULL);
CREATE INDEX payments_client ON payments (client_id);
"""


@dataclass(frozen=True)
class ClientView:
    client_id: str
    name: str
    emails: tuple[str, ...]
    status: str  # active, suspended, cancelled
    balance: Decimal  # owed now; negative = credit
    past_due: Decimal  # of it, what is past its due date
    to_reconnect: Decimal  # for a suspended client: what brings it below the threshold
    autopay: bool
    suspended_on: dt.date | None = None
    address: str = ""

    @property
    def credit(self) -> Decimal:
        return -self.balance if self.balance < 0 else ZERO


@dataclass(frozen=True)
class InvoiceView:
    number: str
    client_id: str
    issue_date: dt.date
    due_date: dt.date
    period_start: dt.date | None
    period_end: dt.date | None
    total: Decimal
    paid: Decimal
    balance: Decimal
    status: str  # open, partial, paid, void, held
    paid_on: dt.date | None
    pdf: str  # file name in invoicing.pdf_dir

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES and self.balance > 0


@dataclass(frozen=True)
class PaymentView:
    payment_id: str
    client_id: str
    date: dt.date
    amount: Decimal
    method: str
    reference: str
    applied_to: str


@dataclass(frozen=True)
class View:
    """One run's state for the portal."""

    published_at: dt.datetime
    run_date: dt.date
    currency: str
    clients: tuple[ClientView, ...]
    invoices: tuple[InvoiceView, ...]
    payments: tuple[PaymentView, ...]


def build_view(*, clients: Sequence[Client], invoices: Sequence[Invoice],
               paid_on: Mapping[str, dt.date | None], balances: Mapping[str, Decimal],
               payments: Sequence[Payment], applied_to: Mapping[str, str],
               statuses: Mapping[str, str], suspended_on: Mapping[str, dt.date],
               pdf_names: Mapping[str, str], today: dt.date, now: dt.datetime,
               currency: str, suspend_after_days: int, suspend_min_balance: Decimal) -> View:
    """The portal's view of the business from what the run settled (pure).

    `statuses` is each client's status as the run leaves it (its own suspensions and
    reconnections applied); `to_reconnect` is what a suspended client must pay so that no
    invoice stays past the suspension threshold, the rule reconnection follows.
    """
    shown = [i for i in invoices if i.status != "void" or i.paid]
    past_due: dict[str, Decimal] = {}
    overdue_for_suspension: dict[str, Decimal] = {}
    for invoice in shown:
        balance = invoice.balance if invoice.balance is not None else invoice.total
        if invoice.status not in OPEN_STATUSES or balance <= 0:
            continue
        if invoice.due_date < today:
            past_due[invoice.client_id] = past_due.get(invoice.client_id, ZERO) + balance
        if invoice.due_date + dt.timedelta(days=suspend_after_days) <= today:
            overdue_for_suspension[invoice.client_id] = (
                overdue_for_suspension.get(invoice.client_id, ZERO) + balance)
    client_views = []
    for client in clients:
        status = statuses.get(client.client_id, client.status)
        owed = overdue_for_suspension.get(client.client_id, ZERO)
        to_reconnect = owed if status == "suspended" and owed > suspend_min_balance else ZERO
        client_views.append(ClientView(
            client.client_id, client.name, client.emails, status,
            balances.get(client.client_id, ZERO), past_due.get(client.client_id, ZERO),
            to_reconnect, client.autopay, suspended_on.get(client.client_id), client.address))
    invoice_views = tuple(
        InvoiceView(i.invoice_number, i.client_id, i.issue_date, i.due_date, i.period_start,
                    i.period_end, i.total, i.paid,
                    i.balance if i.balance is not None else i.total, i.status,
                    paid_on.get(i.invoice_number), pdf_names.get(i.invoice_number, ""))
        for i in shown)
    payment_views = tuple(
        PaymentView(p.payment_id, p.client_id, p.date, p.amount, p.method, p.reference,
                    applied_to.get(p.payment_id, ""))
        for p in payments if p.payment_id)
    return View(now, today, currency, tuple(client_views), invoice_views, payment_views)


# -- card payments made in the portal since the view was published ---------------------------


def balance_after(balance: Decimal, pending: Iterable[Decimal]) -> Decimal:
    """The balance less the portal's card payments the published view does not have yet."""
    return balance - sum(pending, ZERO)


def payable(text: str, owed: Decimal, minimum: Decimal, currency: str) -> Decimal | str:
    """The amount a client asked to pay by card, checked against what they owe now (from the
    view, less pending payments): at least `minimum` (or all of it when less is owed), at most
    `owed`, in whole cents. A string says why not."""
    money = format_money(owed, currency)
    if owed <= 0:
        return "There is nothing to pay on your account."
    try:
        amount = Decimal(text.strip().replace(",", "").lstrip("$"))
    except (InvalidOperation, ValueError):
        return "Type the amount as a number, e.g. 25.00."
    if not amount.is_finite() or amount != amount.quantize(quantum(currency)):
        return "Type the amount as a number, e.g. 25.00."
    smallest = min(minimum, owed)
    if amount < smallest or amount <= 0:
        return f"The smallest amount you can pay online is {format_money(smallest, currency)}."
    if amount > owed:
        return f"You can pay at most {money}, what you owe."
    return amount


# -- the file ------------------------------------------------------------------------------


def publish(view: View, folder: Path) -> Path:
    """Write the view as `folder/view.sqlite`, whole or not at all (temp file, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / VIEW_NAME
    temp = folder / f".{VIEW_NAME}.{os.getpid()}.tmp"
    temp.unlink(missing_ok=True)
    db = sqlite3.connect(temp)
    try:
        db.executescript(_SCHEMA)
        with db:
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("published_at", view.published_at.isoformat(timespec="microseconds")),
                ("run_date", view.run_date.isoformat()), ("currency", view.currency)])
            db.executemany("INSERT INTO clients VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                (c.client_id, c.name, json.dumps(list(c.emails)), c.address, c.status,
                 str(c.balance),
                 str(c.past_due), str(c.to_reconnect), int(c.autopay), _iso(c.suspended_on))
                for c in view.clients])
            db.executemany("INSERT INTO emails VALUES (?, ?)", [
                (address.strip().lower(), c.client_id) for c in view.clients
                for address in c.emails if address.strip()])
            db.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                (i.number, i.client_id, i.issue_date.isoformat(), i.due_date.isoformat(),
                 _iso(i.period_start), _iso(i.period_end), str(i.total), str(i.paid),
                 str(i.balance), i.status, _iso(i.paid_on), i.pdf) for i in view.invoices])
            db.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?)", [
                (p.payment_id, p.client_id, p.date.isoformat(), str(p.amount), p.method,
                 p.reference, p.applied_to) for p in view.payments])
    finally:
        db.close()
    os.chmod(temp, 0o644)
    os.replace(temp, path)
    return path


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


_HISTORY_SECONDS = 2.0  # one page's queries; archived rows never change, a restore is live
# A client's archived invoices and payments (`portal.history.archived_history`)
Archived = Callable[[str], tuple[list[InvoiceView], list[PaymentView]]]


class ViewReader:
    """Reads the published view, read-only, a short query at a time (the file is replaced
    whole by each run; every query opens the current one)."""

    def __init__(self, folder: Path, archived: Archived | None = None) -> None:
        self.path = folder / VIEW_NAME
        self.archived = archived  # what the archive took (`portal.history`); None: not shown
        self._local = threading.local()

    def _archived(self, client_id: str) -> tuple[list[InvoiceView], list[PaymentView]]:
        """The client's archived history, read once for a page that lists both its invoices
        and its payments (kept by this thread for `_HISTORY_SECONDS`)."""
        if self.archived is None:
            return [], []
        now = time.monotonic()
        held = getattr(self._local, "history", None)
        if held is not None and held[0] == client_id and now - held[1] < _HISTORY_SECONDS:
            return held[2]  # type: ignore[no-any-return]
        history = self.archived(client_id)
        self._local.history = (client_id, now, history)
        return history

    def _connection(self) -> sqlite3.Connection | None:
        """This thread's connection to the current file (reopened when a run replaced it)."""
        try:
            stamp = os.stat(self.path)
        except FileNotFoundError:
            return None
        key = (stamp.st_ino, stamp.st_mtime_ns)
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == key:
            return held[1]  # type: ignore[no-any-return]
        if held is not None:
            held[1].close()
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self._local.held = (key, db)
        return db

    def _query(self, sql: str, params: Iterable[object] = ()) -> list[tuple[object, ...]]:
        db = self._connection()
        if db is None:
            return []
        return db.execute(sql, tuple(params)).fetchall()

    def meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._query("SELECT key, value FROM meta")}

    def client(self, client_id: str) -> ClientView | None:
        rows = self._query("SELECT * FROM clients WHERE client_id = ?", (client_id,))
        return _client(rows[0]) if rows else None

    def clients_with_email(self, address: str) -> list[ClientView]:
        rows = self._query("SELECT c.* FROM clients c JOIN emails e USING (client_id) "
                           "WHERE e.email = ? ORDER BY c.client_id", (address.strip().lower(),))
        return [_client(row) for row in rows]

    def invoices(self, client_id: str) -> list[InvoiceView]:
        """The client's invoices, newest first: the live ones as the last run published them,
        and those the archive took (one the view also shows, brought back, is the view's)."""
        rows = self._query("SELECT * FROM invoices WHERE client_id = ? "
                           "ORDER BY issue_date DESC, number DESC", (client_id,))
        live = [_invoice(row) for row in rows]
        shown = {i.number for i in live}
        archived = [i for i in self._archived(client_id)[0] if i.number not in shown]
        if not archived:
            return live
        return sorted(live + archived, key=lambda i: (i.issue_date, i.number), reverse=True)

    def invoice(self, client_id: str, number: str) -> InvoiceView | None:
        """The invoice, only if it is this client's (live, or archived)."""
        rows = self._query("SELECT * FROM invoices WHERE number = ? AND client_id = ?",
                           (number, client_id))
        if rows:
            return _invoice(rows[0])
        return next((i for i in self._archived(client_id)[0] if i.number == number), None)

    def has_reference(self, client_id: str, reference: str) -> bool:
        """Does the view hold this client's payment with this reference (a Stripe id)?"""
        return bool(self._query("SELECT 1 FROM payments WHERE client_id = ? AND reference = ?",
                                (client_id, reference)))

    def payments(self, client_id: str) -> list[PaymentView]:
        """The client's payments, newest first, live and archived (as `invoices`)."""
        rows = self._query("SELECT * FROM payments WHERE client_id = ? "
                           "ORDER BY date DESC, payment_id DESC", (client_id,))
        live = [PaymentView(str(r[0]), str(r[1]), dt.date.fromisoformat(str(r[2])),
                            Decimal(str(r[3])), str(r[4]), str(r[5]), str(r[6])) for r in rows]
        shown = {p.payment_id for p in live}
        archived = [p for p in self._archived(client_id)[1] if p.payment_id not in shown]
        if not archived:
            return live
        return sorted(live + archived, key=lambda p: (p.date, p.payment_id), reverse=True)


def _client(row: tuple[object, ...]) -> ClientView:
    return ClientView(str(row[0]), str(row[1]), tuple(json.loads(str(row[2]))), str(row[4]),
                      Decimal(str(row[5])), Decimal(str(row[6])), Decimal(str(row[7])),
                      bool(row[8]), _date(row[9]), str(row[3]))  # type: ignore[arg-type]


def _invoice(row: tuple[object, ...]) -> InvoiceView:
    return InvoiceView(str(row[0]), str(row[1]), dt.date.fromisoformat(str(row[2])),
                       dt.date.fromisoformat(str(row[3])), _date(row[4]),  # type: ignore[arg-type]
                       _date(row[5]), Decimal(str(row[6])),  # type: ignore[arg-type]
                       Decimal(str(row[7])), Decimal(str(row[8])), str(row[9]),
                       _date(row[10]), str(row[11]))  # type: ignore[arg-type]
