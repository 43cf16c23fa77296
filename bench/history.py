"""Realistic benchmark workbooks: N clients with M months of history, consistent with a journal.

    .venv/bin/python bench/history.py 2000 12      # generate (or find cached) and print stats

The journal decides what was billed, so the history is made by the real engine, day by day:
`plan_invoices` issues every invoice (recorded with `Journal.record_invoices`), the owner types
in each payment the morning after it arrives (most on time, some late or in part, a few never),
and the real collections step (`ispsheets.steps.collect`) sends reminders, adds late fees,
suspends and reconnects. The other effects of a daily run (invoice and receipt emails, payments
seen, Activity rows, the workbook write) are recorded in the journal the way the steps record
them. Nothing is rendered or mailed while generating: nobody reads those emails.

Each cached folder (`bench/out/n{N}-m{M}-s{seed}-v{VERSION}/{quiet,billing}/`) holds a
`config.yaml`, the workbook `isp.xlsx` (written with xlsxwriter in the starter template's
layout) and the journal `ispsheets.db`, as they are on the morning of the benchmarked day:
the evening before, the owner typed in yesterday's payments and the run has not seen them yet.

- quiet day (2026-11-22): a week after the due date: late payments, second reminders.
- billing day (2026-11-30): the day before the period starts: every client is invoiced.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import hashlib
import json
import logging
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ispsheets import demo  # noqa: E402
from ispsheets.billing.invoicing import BilledState, BillingRules, plan_invoices  # noqa: E402
from ispsheets.billing.periods import first_billable_day  # noqa: E402
from ispsheets.book.load import load_book  # noqa: E402
from ispsheets.book.parse import float_decimal  # noqa: E402
from ispsheets.book.reader import RawBook, RawSheet  # noqa: E402
from ispsheets.book.records import (  # noqa: E402
    ActivityRow,
    Book,
    Charge,
    Client,
    Invoice,
    Payment,
)
from ispsheets.book.schema import (  # noqa: E402
    ACTIVITY,
    CHARGES,
    CLIENTS,
    INVOICE_LINES,
    INVOICES,
    PACKAGES,
    PAYMENTS,
    SERVICES,
    TABS,
    Tab,
)
from ispsheets.book.template import build_template  # noqa: E402
from ispsheets.config import Config, load_config  # noqa: E402
from ispsheets.delivery.mailer import Outbox, SendResult  # noqa: E402
from ispsheets.journal import Journal  # noqa: E402
from ispsheets.ledger import build_ledger, invoice_message_key, with_allocation  # noqa: E402
from ispsheets.money import format_money, round_money  # noqa: E402
from ispsheets.payments.allocate import allocate  # noqa: E402
from ispsheets.scaffold import example_config  # noqa: E402
from ispsheets.writeback import activity_row, invoice_row, line_row  # noqa: E402

VERSION = 2  # bump when the generated history changes: cached folders are keyed by it
# The cache of generated businesses (and the benchmark's results and run folders): every
# worktree can share one with ISPSHEETS_BENCH_CACHE=/work/bench-cache.
OUT = Path(os.environ.get("ISPSHEETS_BENCH_CACHE", "") or Path(__file__).resolve().parent / "out")
# where this checkout's runs, results and profiles go (several checkouts sharing one cache each
# set their own): ISPSHEETS_BENCH_OWN, else the cache
OWN = Path(os.environ.get("ISPSHEETS_BENCH_OWN", "") or OUT)
QUIET_DAY = dt.date(2026, 11, 22)
BILLING_DAY = dt.date(2026, 11, 30)
SCENARIOS = {"quiet": QUIET_DAY, "billing": BILLING_DAY}
RUN_HOUR = dt.time(6, 0)  # cron runs at 06:00
ONE_DAY = dt.timedelta(days=1)

# Who pays how (share of clients). An on-time payer pays each invoice in full before it is due;
# a late one 1-10 days after; a partial one half on time and the rest 3-20 days late; a lumpy
# one every other invoice, both at once (late fee, suspension, reconnection); never: never.
PROFILES = (("on_time", 0.92), ("late", 0.04), ("partial", 0.02), ("lumpy", 0.015),
            ("never", 0.005))
METHODS = ("bank transfer",) * 5 + ("check",) * 3 + ("cash", "card")

# Add-on packages, so clients have 1-3 services (the demo gives most of them one).
ADDONS = (("WIFI6", "Wi-Fi 6 router rental", Decimal("7.00")),
          ("VOICE", "Home phone line", Decimal("19.99")))

Row = tuple[object, ...]


# ------------------------------------------------------------------------------ owner rows

def _row(tab: Tab, **values: object) -> Row:
    return tuple(values.get(c.name) for c in tab.columns)


def _column(tab: Tab, name: str) -> int:
    return [c.name for c in tab.columns].index(name)


def owner_rows(n: int, start: dt.date, seed: int) -> demo.DemoData:
    """The demo's clients as of `start`, every client on billing day 1 (so one day bills them
    all), with add-on services: about 45 % have one service, 40 % two and 15 % three; a client
    whose plan is not monthly always gets a monthly add-on."""
    data = demo.generate(n, start, seed)
    rng = random.Random(seed + 1)
    day = _column(CLIENTS, "billing_day")
    clients = [(*r[:day], 1 if r[day] is not None else None, *r[day + 1:])
               for r in data.clients]
    packages = list(data.packages) + [
        _row(PACKAGES, package_id=pid, name=name, price=price, interval="monthly")
        for pid, name, price in ADDONS]
    monthly = {r[0] for r in packages if r[_column(PACKAGES, "interval")] == "monthly"}
    width = max(4, len(str(n)))
    first: dict[object, Row] = {}
    count: dict[object, int] = defaultdict(int)
    for service in data.services:
        first.setdefault(service[1], service)
        count[service[1]] += 1
    services = list(data.services)
    end, through = _column(SERVICES, "end_date"), _column(SERVICES, "billed_through")
    for cid, main in first.items():
        if main[end] is not None:
            continue  # a client who left
        roll = rng.random()
        wanted = 2 if roll < 0.40 else 3 if roll < 0.55 else 1
        if main[2] not in monthly:
            wanted = max(wanted, 2)
        for addon in ADDONS[:max(0, wanted - count[cid])]:
            services.append(_row(
                SERVICES, service_id=f"S{len(services) + 1:0{width}d}", client_id=cid,
                package_id=addon[0], start_date=main[3],
                billed_through=None if main[through] is None else start - ONE_DAY))
    return demo.DemoData(packages, clients, services, list(data.charges), list(data.payments))


def _as_read(value: object) -> object:
    """A value as calamine gives it back from the workbook: numbers as floats (whole ones as
    ints, like `book.reader`), so records built here equal the records a run reads."""
    if isinstance(value, Decimal):
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def load_rows(data: demo.DemoData, today: dt.date) -> Book:
    sheets = {name: RawSheet(name, [[c.name for c in TABS[i].columns]]
                             + [[_as_read(v) for v in row] for row in rows])
              for i, (name, rows) in enumerate(
                  (tab.name, data.rows().get(tab.name, [])) for tab in TABS)}
    book = load_book(RawBook(sheets), today=today)
    errors = [p for p in book.problems if p.is_error]
    if errors:
        raise SystemExit(f"generated rows have problems: {errors[:3]}")
    return book


def money_as_read(amount: Decimal) -> Decimal:
    """An amount as the workbook gives it back (50.00 is read as 50)."""
    return float_decimal(float(amount))


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


# ------------------------------------------------------------------------------ simulation

def first_day(months: int) -> dt.date:
    """The first run of a history of `months`: the day before its first period starts."""
    return demo.add_months(BILLING_DAY + ONE_DAY, -months) - ONE_DAY


class _Postman:
    """Stands in for the run's transport while generating: every message is `sent`."""

    transport = "outbox"
    broken = ""  # as the run's Postman: the outbox is never refused here

    def __init__(self, folder: Path) -> None:
        self.outbox = Outbox(folder)

    def send(self, message: object) -> SendResult:
        return SendResult("sent", "written to the outbox")

    def hold_back(self) -> None:  # nothing is written, so nothing is held back or released
        pass

    def release(self) -> None:
        pass

    def drop(self) -> None:
        pass

    def close(self) -> None:
        pass


def _quiet_collections() -> None:
    """Collections steps compose each email with Jinja; nobody reads history's emails."""
    import ispsheets.steps.deliver as deliver

    deliver.compose = lambda *args, **kwargs: None  # type: ignore[assignment]
    logging.getLogger("ispsheets").setLevel(logging.ERROR)


@dataclass
class Stats:
    invoices: int = 0
    lines: int = 0
    payments: int = 0
    late_fees: int = 0
    reminders: int = 0
    suspensions: int = 0
    reconnections: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))


class History:
    """The business from its first run to a given day, one simulated morning at a time."""

    def __init__(self, n: int, months: int, seed: int, folder: Path) -> None:
        self.n, self.months, self.seed = n, months, seed
        self.rng = random.Random(seed * 7919 + months)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text(example_config(), encoding="utf-8")
        config, problems = load_config(folder / "config.yaml")
        assert config is not None, problems
        self.config: Config = config
        self.rules = BillingRules.from_config(config)
        # The first run is the day before the first period of the history starts.
        start = demo.add_months(BILLING_DAY + ONE_DAY, -months)
        self.first_day = first_day(months)
        self.data = owner_rows(n, start, seed)
        self.book = load_rows(self.data, self.first_day)
        self.clients = {c.client_id: c for c in self.book.clients}
        self.journal = Journal.memory()
        self.state = BilledState(next_seq=1)
        self.issued: list[Invoice] = []  # every invoice, in number order
        self.invoices: dict[str, list[Invoice]] = defaultdict(list)
        self.payments: dict[str, list[Payment]] = defaultdict(list)
        # The demo's payments are typed in before the first run; later ones the morning after.
        self.initial_payments = list(self.book.payments)
        self.book = replace(self.book, payments=())
        self.payment_seq = len(self.initial_payments)
        self.new_payments: list[Payment] = []
        self.typed_day: dt.date | None = None
        self.arrivals: dict[dt.date, list[tuple[str, Decimal, str]]] = defaultdict(list)
        self.tool_charges: list[Charge] = []
        self.stats = Stats()
        self.profile = {c.client_id: self._profile() for c in self.book.clients}
        self.collecting = sorted(cid for cid, p in self.profile.items() if p != "on_time")
        self.skipped: dict[str, Decimal] = {}  # a lumpy payer's unpaid invoice total
        self.issue_days = self._issue_days()
        self.today = self.first_day - ONE_DAY
        self.postman = _Postman(folder / "outbox")
        _quiet_collections()

    def _profile(self) -> str:
        roll, total = self.rng.random(), 0.0
        for name, share in PROFILES:
            total += share
            if roll < total:
                return name
        return PROFILES[0][0]

    def _issue_days(self) -> set[dt.date]:
        """Every day an invoice can fall due: month ends (every client bills from the 1st),
        and the day before a service's first billable day (a start, or the day after the
        `billed_through` of a plan paid ahead)."""
        days = {self.first_day}
        day = self.first_day
        while day < BILLING_DAY:
            days.add(month_end(day))
            day = month_end(day) + ONE_DAY
        before = dt.timedelta(days=self.rules.generate_days_before)
        firsts = (first_billable_day(s.start_date, s.billed_through) for s in self.book.services)
        days |= {first - before for first in firsts if first - before > self.first_day}
        return days

    # -- one morning ---------------------------------------------------------------------------

    def advance_to(self, last: dt.date) -> None:
        """Play every morning up to and including `last`."""
        while self.today < last:
            day = self.today + ONE_DAY
            if self.typed_day != day:
                self.type_in_payments(day)
            self._morning(day)
            self.today = day

    def _timed(self, what: str, started: float) -> None:
        self.stats.seconds[what] += time.perf_counter() - started

    def _morning(self, day: dt.date) -> None:
        now = dt.datetime.combine(day, RUN_HOUR)
        started = time.perf_counter()
        arrived = self.new_payments
        issued = self._issue(day, now) if day in self.issue_days else []
        self._timed("invoice", started)
        started = time.perf_counter()
        self._see_payments(arrived, now)
        self._send_invoices(issued, now)
        self._send_receipts(arrived, day, now)
        self._timed("payments and emails", started)
        started = time.perf_counter()
        self._collect(day, now)
        self._timed("collections", started)
        self.journal.record_action(f"run/{day.isoformat()}", "run", "", "", now,
                                   "invoice,reconcile,send,remind,report")
        self._write(now)

    def type_in_payments(self, day: dt.date) -> None:
        """Yesterday's payments, typed into the Payments tab before the run of `day`."""
        assert self.today == day - ONE_DAY and self.typed_day != day
        typed = list(self.initial_payments) if day == self.first_day else []
        for client_id, amount, invoice_number in self.arrivals.pop(day - ONE_DAY, []):
            method = self.rng.choice(METHODS)
            reference = (f"#{self.rng.randint(1001, 9999)}" if method == "check" else
                         f"TRF{self.rng.randint(100000, 999999)}" if method == "bank transfer"
                         else "")
            self.payment_seq += 1
            typed.append(Payment(f"PAY-{self.payment_seq:05d}", day - ONE_DAY, client_id,
                                 money_as_read(amount), method, reference, invoice_number))
        for payment in typed:
            self.payments[payment.client_id].append(payment)
        self.stats.payments += len(typed)
        self.new_payments, self.typed_day = typed, day

    def _issue(self, day: dt.date, now: dt.datetime) -> list[Invoice]:
        book = replace(self.book, charges=self.book.charges + tuple(self.tool_charges))
        plan = plan_invoices(book, self.rules, day, self.state)
        if not plan.invoices:
            return []
        with self.journal.transaction():
            self.journal.record_invoices([(p.invoice, p.seq, p.billed) for p in plan.invoices],
                                         now)
            for planned in plan.invoices:
                invoice = planned.invoice
                self._log(now, "invoice_issued", invoice.client_id, invoice.invoice_number,
                          f"{format_money(invoice.total, self.config.currency)}, "
                          f"{len(invoice.lines)} line(s), due {invoice.due_date.isoformat()}")
        self.state = self.state.after(plan)
        issued = [p.invoice for p in plan.invoices]
        self.issued.extend(issued)
        for invoice in issued:
            self.invoices[invoice.client_id].append(invoice)
            self._schedule_payments(invoice)
            self.stats.invoices += 1
            self.stats.lines += len(invoice.lines)
        return issued

    def _schedule_payments(self, invoice: Invoice) -> None:
        """When (and how much) the client will pay this invoice, by their profile."""
        total, cid, rng = invoice.total, invoice.client_id, self.rng
        if total <= 0:
            return
        issued, due = invoice.issue_date, invoice.due_date
        named = invoice.invoice_number if rng.random() < 0.25 else ""

        def pay(day: dt.date, amount: Decimal, number: str = named) -> None:
            self.arrivals[max(day, issued + ONE_DAY)].append((cid, amount, number))

        profile = self.profile[cid]
        if profile == "on_time":
            pay(issued + dt.timedelta(days=rng.randint(1, (due - issued).days - 1)), total)
        elif profile == "late":
            pay(due + dt.timedelta(days=rng.randint(1, 10)), total)
        elif profile == "partial":
            half = round_money(total / 2)
            pay(issued + dt.timedelta(days=rng.randint(1, 14)), half)
            pay(due + dt.timedelta(days=rng.randint(3, 20)), total - half, "")
        elif profile == "lumpy":
            if cid in self.skipped:
                pay(due + dt.timedelta(days=rng.randint(-5, 8)), total + self.skipped.pop(cid),
                    "")
            else:
                self.skipped[cid] = total

    def _log(self, now: dt.datetime, action: str, client_id: str = "", invoice_number: str = "",
             detail: str = "") -> None:
        self.journal.log(ActivityRow(now, action, client_id, invoice_number, detail))

    def _client_allocation(self, client_id: str) -> Any:
        return allocate(self.invoices[client_id], self.payments[client_id])

    def _see_payments(self, arrived: Sequence[Payment], now: dt.datetime) -> None:
        """As `steps.reconcile.reconcile` records a payment seen for the first time."""
        currency = self.config.currency
        allocations: dict[str, Any] = {}
        for payment in sorted(arrived, key=lambda p: (p.date, p.payment_id)):
            cid = payment.client_id
            if cid not in allocations:
                allocations[cid] = self._client_allocation(cid)
            state = allocations[cid].payments.get(payment.payment_id)
            applied = state.applied_to_text if state else ""
            credit = state.unapplied if state else payment.amount
            detail = (f"{payment.payment_id} {format_money(payment.amount, currency)}"
                      f"{' ' + payment.method if payment.method else ''}: "
                      f"{applied or 'no open invoice'}"
                      f"{'; credit ' + format_money(credit, currency) if credit else ''}")
            first_invoice = state.applied[0][0] if state and state.applied else ""
            fingerprint = f"{payment.date.isoformat()}|{cid}|{payment.amount}"
            with self.journal.transaction():
                self.journal.record_action(f"payment/{payment.payment_id}", "payment", cid,
                                           first_invoice, now, fingerprint)
                self._log(now, "payment_applied", cid, first_invoice, detail)

    def _send(self, key: str, kind: str, client: Client, invoice_number: str,
              now: dt.datetime) -> None:
        """As `steps.deliver.send_message` records a message put in the outbox."""
        self.journal.begin_message(key, kind, client.client_id, invoice_number, now, "outbox")
        self.journal.finish_message(key, "sent", f"written to {self.postman.outbox.path(key)}",
                                    now)

    def _send_invoices(self, issued: Sequence[Invoice], now: dt.datetime) -> None:
        for number, invoice in enumerate(issued):
            client = self.clients[invoice.client_id]
            sent = now + dt.timedelta(seconds=5 + number // 20)
            self._send(invoice_message_key(invoice.invoice_number), "invoice", client,
                       invoice.invoice_number, sent)
            self._log(sent, "invoice_sent", client.client_id, invoice.invoice_number,
                      f"to {', '.join(client.emails)}")

    def _send_receipts(self, arrived: Sequence[Payment], day: dt.date,
                       now: dt.datetime) -> None:
        """As `steps.deliver.send_receipts`: a receipt for each payment of the last week."""
        for payment in arrived:
            if payment.amount <= 0 or payment.date < day - dt.timedelta(days=7):
                continue
            client = self.clients[payment.client_id]
            self._send(f"receipt/{payment.payment_id}", "receipt", client, "", now)
            self._log(now, "receipt_sent", client.client_id, "",
                      f"{payment.payment_id} "
                      f"{format_money(payment.amount, self.config.currency)}")

    def _collect(self, day: dt.date, now: dt.datetime) -> None:
        """The real collections step, over the clients who do not always pay on time (an
        on-time payer never has an invoice past due, so the plans would skip them anyway)."""
        from ispsheets.problems import ExitCode
        from ispsheets.steps.collect import collect
        from ispsheets.steps.cycle import Cycle, RunOptions, RunReport

        clients = [self.clients[cid] for cid in self.collecting]
        invoices = [i for cid in self.collecting for i in self.invoices[cid]]
        if not invoices:
            return
        payments = [p for cid in self.collecting for p in self.payments[cid]]
        allocation = allocate(invoices, payments)
        book = replace(self.book, clients=tuple(clients),
                       charges=self.book.charges + tuple(self.tool_charges),
                       payments=tuple(payments), services=(), invoices=())
        cycle = Cycle(self.config, RunOptions(day, now), self.journal, None, None,  # type: ignore[arg-type]
                      book, RunReport())
        cycle.invoices = with_allocation(invoices, allocation)
        cycle.allocation = allocation
        cycle.postman = self.postman  # type: ignore[assignment]
        collect(cycle)
        report = cycle.report
        assert report.exit_code is ExitCode.OK, report.problems
        self.stats.late_fees += report.counts["late fees added"]
        self.stats.reminders += report.counts["reminders sent"]
        self.stats.suspensions += report.counts["clients suspended"]
        self.stats.reconnections += report.counts["clients reconnected"]

    def _write(self, now: dt.datetime) -> None:
        """What the run's workbook write carries: rows and cells the tool queued, marked
        written, and applied to the records the next morning reads."""
        for row in self.journal.unwritten_tool_rows():
            assert row.tab == "Charges", row
            v = row.values
            self.tool_charges.append(Charge(
                v["charge_id"], v["client_id"], dt.date.fromisoformat(v["date"]),
                v["description"], money_as_read(Decimal(v["amount"])), v["taxable"] == "yes"))
        writes = self.journal.unwritten_cell_writes()
        for write in writes:
            assert (write.tab, write.column) == ("Clients", "status"), write
            self.clients[write.row_key] = replace(self.clients[write.row_key],
                                                  status=write.value)
        if writes:
            self.book = replace(self.book, clients=tuple(self.clients[c.client_id]
                                                         for c in self.book.clients))
        if self.new_payments:
            self.book = replace(self.book,
                                payments=self.book.payments + tuple(self.new_payments))
        self.new_payments = []
        pending = [i for i, _ in self.journal.unwritten_activity()]
        self.journal.finish_write(self.journal.begin_write(pending, now))

    # -- the workbook on the morning of `day` ---------------------------------------------------

    def snapshot(self, day: dt.date, folder: Path) -> None:
        """The folder as it is on the morning of `day`: yesterday's payments typed in, the
        run not started."""
        self.type_in_payments(day)
        started = time.perf_counter()
        seen, typed = self.book.payments, self.new_payments
        invoices = self.issued
        allocation = allocate(invoices, seen)
        stage_order = [s.name for s in self.config.collections.reminders]
        activity = self.journal.activity()
        ledger = build_ledger(self.journal, with_allocation(invoices, allocation), allocation,
                              stage_order)
        clients = [replace(c, balance=ledger.client_balances.get(c.client_id, Decimal("0.00")))
                   for c in self.book.clients]
        charges = [replace(c, invoice_number=ledger.charge_invoices.get(c.charge_id, ""))
                   for c in (*self.book.charges, *self.tool_charges)]
        rows = {
            PACKAGES.name: self.data.packages,
            CLIENTS.name: [_client_row(c) for c in clients],
            SERVICES.name: self.data.services,
            CHARGES.name: [_charge_row(c) for c in charges],
            INVOICES.name: (_dict_row(INVOICES, invoice_row(i)) for i in ledger.invoices),
            INVOICE_LINES.name: (_dict_row(INVOICE_LINES, line_row(x))
                                 for i in ledger.invoices for x in i.lines),
            PAYMENTS.name: [_payment_row(p, ledger.payment_cells.get(p.payment_id))
                            for p in (*seen, *typed)],
            ACTIVITY.name: (_dict_row(ACTIVITY, activity_row(r)) for r in activity),
        }
        with _beyond_excel_rows():
            build_template(folder / "isp.xlsx", demo_rows=rows)
        target = sqlite3.connect(folder / "ispsheets.db")
        self.journal._db.backup(target)  # the memory journal, as a file
        target.close()
        self._timed("snapshot", started)
        facts = {"day": day.isoformat(), "clients": len(clients),
                 "services": len(self.data.services), "invoices": len(invoices),
                 "invoice_lines": sum(len(i.lines) for i in invoices),
                 "payments": len(seen) + len(typed), "payments_new": len(typed),
                 "charges": len(charges), "activity": len(activity),
                 "late_fees": self.stats.late_fees, "reminders": self.stats.reminders,
                 "suspensions": self.stats.suspensions,
                 "reconnections": self.stats.reconnections,
                 "over_excel_limit": {
                     tab: count for tab, count in (
                         (INVOICES.name, len(ledger.invoices)),
                         (INVOICE_LINES.name, sum(len(i.lines) for i in ledger.invoices)),
                         (PAYMENTS.name, len(seen) + len(typed)),
                         (ACTIVITY.name, len(activity)))
                     if count + 1 > EXCEL_ROWS},
                 "seconds": {k: round(v, 1) for k, v in self.stats.seconds.items()}}
        (folder / "history.json").write_text(json.dumps(facts, indent=1), encoding="utf-8")


EXCEL_ROWS = 1_048_576  # rows in a sheet of Excel (and of xlsxwriter), the header included


@contextmanager
def _beyond_excel_rows() -> Iterator[None]:
    """Let xlsxwriter write more rows than Excel opens. A long history of a big business
    (20,000 clients, 36 months: 3 million Activity rows) does not fit in a workbook: a real one
    moved its closed rows to the archive all along. The base snapshot still holds every row
    (calamine reads them), so that the real `ispsheets archive` makes the windowed workbooks
    from it (`windowed`); xlsxwriter would otherwise drop the rows past the limit, silently."""
    from xlsxwriter.worksheet import Worksheet

    init = Worksheet.__init__

    def roomy(self: Worksheet, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.xls_rowmax = 100 * EXCEL_ROWS

    Worksheet.__init__ = roomy  # type: ignore[method-assign]
    try:
        yield
    finally:
        Worksheet.__init__ = init  # type: ignore[method-assign]


def _dict_row(tab: Tab, values: dict[str, Any]) -> Row:
    return tuple(values.get(c.name) for c in tab.columns)


def _client_row(c: Client) -> Row:
    return _row(CLIENTS, client_id=c.client_id, name=c.name, email="; ".join(c.emails),
                phone=c.phone or None, address=c.address or None, billing_day=c.billing_day,
                autopay="yes" if c.autopay else "no", tax_exempt="yes" if c.tax_exempt else "no",
                status=c.status, balance=c.balance, stripe_customer_id=None)


def _charge_row(c: Charge) -> Row:
    return _row(CHARGES, charge_id=c.charge_id, client_id=c.client_id, date=c.date,
                description=c.description, amount=c.amount,
                taxable="yes" if c.taxable else "no", invoice_number=c.invoice_number or None)


def _payment_row(p: Payment, cells: tuple[str, Decimal] | None) -> Row:
    applied, unapplied = cells if cells else (None, None)
    return _row(PAYMENTS, payment_id=p.payment_id, date=p.date, client_id=p.client_id,
                amount=p.amount, method=p.method or None, reference=p.reference or None,
                invoice_number=p.invoice_number or None, applied_to=applied or None,
                unapplied=unapplied)


# ------------------------------------------------------------------------------ the cache

def folder_for(n: int, months: int, seed: int) -> Path:
    return OUT / f"n{n}-m{months}-s{seed}-v{VERSION}"


def cached(n: int, months: int, seed: int = 2026) -> dict[str, Path] | None:
    """The scenario folders for (n, months, seed) if they were generated, else None."""
    base = folder_for(n, months, seed)
    folders = {name: base / name for name in SCENARIOS}
    return folders if all((f / "history.json").is_file() for f in folders.values()) else None


def ensure(n: int, months: int, seed: int = 2026, *, log: Any = print) -> dict[str, Path]:
    """The cached scenario folders for (n, months, seed), generating them if needed."""
    if (made := cached(n, months, seed)) is not None:
        return made
    base = folder_for(n, months, seed)
    folders = {name: base / name for name in SCENARIOS}
    shutil.rmtree(base, ignore_errors=True)
    started = time.perf_counter()
    log(f"generating {n} clients with {months} month(s) of history into {base} ...")
    work = base / "work"
    history = History(n, months, seed, work)
    for name, day in sorted(SCENARIOS.items(), key=lambda item: item[1]):
        history.advance_to(day - ONE_DAY)
        history.snapshot(day, folders[name])
        shutil.copy(work / "config.yaml", folders[name] / "config.yaml")
        log(f"  {name} ({day}): {describe(folders[name])}")
    shutil.rmtree(work, ignore_errors=True)
    log(f"  generated in {time.perf_counter() - started:.0f} s")
    return folders


def describe(folder: Path) -> str:
    facts = json.loads((folder / "history.json").read_text(encoding="utf-8"))
    return (f"{facts['clients']} clients, {facts['services']} services, {facts['invoices']} "
            f"invoices ({facts['invoice_lines']} lines), {facts['payments']} payments "
            f"({facts['payments_new']} new), {facts['activity']} activity rows, "
            f"{facts['reminders']} reminders, {facts['late_fees']} late fees, "
            f"{facts['suspensions']} suspensions")


def copy_scenario(source: Path, target: Path, *, window: int | None = None) -> Path:
    """A fresh copy of a cached scenario folder to run on (the cache stays untouched), its
    yearly archive workbooks included; `window` sets `workbook.archive_after_months`."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in ("config.yaml", "isp.xlsx", "ispsheets.db"):
        shutil.copy(source / name, target / name)
    if (source / "archive").is_dir():
        shutil.copytree(source / "archive", target / "archive")
    if window is not None:
        set_window(target / "config.yaml", window)
    return target


# ------------------------------------------------------------------------------ the archive

def set_window(config: Path, months: int) -> None:
    """Set `workbook.archive_after_months` in a config.yaml (0: never archive)."""
    text = config.read_text(encoding="utf-8")
    line = re.compile(r"^(\s+archive_after_months:\s*)\d+", re.MULTILINE)
    if line.search(text):
        text = line.sub(lambda m: f"{m.group(1)}{months}", text, count=1)
    else:
        text, found = re.subn(r"^workbook:.*$", lambda m: f"{m.group(0)}\n  "
                              f"archive_after_months: {months}", text, count=1,
                              flags=re.MULTILINE)
        assert found, f"{config}: no workbook: section"
    config.write_text(text, encoding="utf-8")


# A windowed folder is archived a quarter at a time (`archive_once`); 0: in one move.
ARCHIVE_STEP_MONTHS = 3


def code_hash(code: Path = ROOT) -> str:
    """A hash of every file of the `ispsheets` package in `code` (a checkout or a --code
    tree): what the archive writes into the journal changes with the code, so a windowed
    folder is only ever used with the code that made it."""
    digest = hashlib.sha256()
    package = code / "ispsheets"
    if not package.is_dir():
        raise SystemExit(f"{code}: no ispsheets/ package in it")
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(code).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def windowed_folder(n: int, months: int, window: int, seed: int, code: Path = ROOT,
                    step: int = ARCHIVE_STEP_MONTHS) -> Path:
    return folder_for(n, months, seed) / f"w{window}-by{step}-{code_hash(code)}"


def windowed(n: int, months: int, window: int, seed: int = 2026, *, code: Path = ROOT,
             step: int = ARCHIVE_STEP_MONTHS, log: Any = print,
             made_by: str | None = None) -> dict[str, Path]:
    """The scenario folders of the business after its closed history went to the archive
    with `workbook.archive_after_months = window`, made (once, cached per code) by the real
    `ispsheets archive --date <day - 1>` of `code`, in a child process, on a copy of the base
    snapshot. Window 0: the base snapshot (every row in the workbook; the run's copy gets
    `archive_after_months: 0`, see `copy_scenario`). `made_by`: use the folders another
    code (this code hash) made, never making them (profiling code that changes between runs,
    when the journal's schema is the same)."""
    base = ensure(n, months, seed, log=log)
    if window == 0:
        return base
    target = windowed_folder(n, months, window, seed, code, step)
    if made_by:
        target = target.with_name(f"w{window}-by{step}-{made_by}")
    folders = {name: target / name for name in SCENARIOS}
    if all((f / "windowed.json").is_file() for f in folders.values()):
        return folders
    if made_by:
        raise SystemExit(f"{target}: no archived folders made by code {made_by}")
    work = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    log(f"archiving {n} clients, {months} month(s), window {window} into {target} ...")
    for name, day in SCENARIOS.items():
        folder = copy_scenario(base[name], work / name, window=window)
        shutil.copy(base[name] / "history.json", folder / "history.json")
        facts = archive_once(folder, day - ONE_DAY, window, first_day(months), code, step)
        # the commands' backups of the workbook and journal (GBs at 36 months); a run's copy
        # never takes them
        for backups in (folder / "backups", folder / "archive" / "backups"):
            shutil.rmtree(backups, ignore_errors=True)
        (folder / "windowed.json").write_text(json.dumps(
            {"window": window, "code": str(code), "code_hash": code_hash(code), **facts},
            indent=1), encoding="utf-8")
        log(f"  {name}: {describe_windowed(folder)}")
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return folders


def archive_once(folder: Path, day: dt.date, window: int, since: dt.date, code: Path,
                 step: int = ARCHIVE_STEP_MONTHS) -> dict[str, Any]:
    """`ispsheets archive --date day` in `folder` with `archive_after_months = window`, as the
    owner would, after the same command with `--before` every `step` months
    since the history began (as a business that archived all along did, a quarter at a time:
    one move of years of rows at once takes GBs). The payments typed in for the next morning's
    run are held back meanwhile (else these commands would see them first and the benchmarked
    run would find nothing new), then typed in again."""
    *earlier, final = archive_cutoffs(day, window, since, step)
    typed = _take_out_typed_payments(folder / "isp.xlsx", day)
    steps = [_archive_command(folder, day, before, code) for before in earlier]
    steps.append(_archive_command(folder, day, None, code))
    _type_in_again(folder / "isp.xlsx", typed)
    return {"archive_date": day.isoformat(), "cutoff": final.isoformat(), "step_months": step,
            "archive_seconds": round(sum(s["seconds"] for s in steps), 1),
            "archive_cpu": round(sum(s["cpu"] for s in steps), 1),
            "archive_rss_mb": max(s["rss_mb"] for s in steps),
            "archive_exit": max(s["exit"] for s in steps),
            "archive_summary": steps[-1]["summary"], "archive_steps": steps,
            "rows_archived": sum(s["rows"] for s in steps),
            "payments_held_back": len(typed),
            "workbook_mb": round((folder / "isp.xlsx").stat().st_size / 1e6, 1),
            "archive_files": sorted(p.name for p in (folder / "archive").glob("*.xlsx"))
            if (folder / "archive").is_dir() else []}


def archive_cutoffs(day: dt.date, window: int, since: dt.date,
                    step: int = ARCHIVE_STEP_MONTHS) -> list[dt.date]:
    """The `--before` days of the archive steps, oldest first: every `step` months after
    `since`, up to the cutoff of `window` on `day` (the last one, which the command finds
    from config.yaml). Step 0: that one alone."""
    cutoffs = [demo.add_months(day.replace(day=1), -window)]
    while step and (earlier := demo.add_months(cutoffs[-1], -step)) > since:
        cutoffs.append(earlier)
    return cutoffs[::-1]


def _archive_command(folder: Path, day: dt.date, before: dt.date | None,
                     code: Path) -> dict[str, Any]:
    """One `ispsheets archive` in a child process: what it took and said."""
    command = [sys.executable, "-m", "ispsheets", "archive", "--date", day.isoformat()]
    if before is not None:
        command += ["--before", before.isoformat()]
    env = {**os.environ, "PYTHONPATH": str(code)}
    started = time.perf_counter()
    with open(folder / "archive-stdout.txt", "ab") as out, \
            open(folder / "archive-stderr.txt", "ab") as err:
        out.write(f"$ {' '.join(command[1:])}\n".encode())
        out.flush()
        child = subprocess.Popen(command, cwd=folder, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    exit_code = os.waitstatus_to_exitcode(status)
    output = (folder / "archive-stdout.txt").read_text(encoding="utf-8", errors="replace")
    if exit_code not in (0, 1):
        raise SystemExit(f"`{' '.join(command[1:])}` failed (exit {exit_code}) in {folder}; "
                         "see archive-stderr.txt there")
    summary = next((line for line in reversed(output.splitlines())
                    if line.startswith(day.isoformat() + ":")), "")
    rows = re.search(r"(\d+) rows? archived", summary)
    return {"before": before.isoformat() if before else "", "seconds": round(seconds, 1),
            "cpu": round(usage.ru_utime + usage.ru_stime, 1),
            "rss_mb": round(usage.ru_maxrss / 1024), "exit": exit_code, "summary": summary,
            "rows": int(rows.group(1)) if rows else 0}


def _take_out_typed_payments(workbook: Path, day: dt.date) -> list[dict[str, Any]]:
    """Remove the Payments rows dated `day` (typed in that evening, not yet seen by a run):
    their cells by column name."""
    from python_calamine import CalamineWorkbook

    from ispsheets.book.changes import ChangeSet, DeleteRow
    from ispsheets.book.xlsx_backend import apply_changes

    rows = CalamineWorkbook.from_path(str(workbook)).get_sheet_by_name(
        PAYMENTS.name).to_python()
    header = [str(h) for h in rows[0]]
    typed = []
    for number, cells in enumerate(rows[1:], start=2):
        values = dict(zip(header, cells, strict=False))
        date = values.get("date")
        if isinstance(date, dt.datetime):
            date = date.date()
        if date == day:
            typed.append((number, values))
    if typed:
        deletes = tuple(DeleteRow(PAYMENTS.name, number, {"payment_id": str(v["payment_id"])})
                        for number, v in typed)
        _write(workbook, ChangeSet(deletes=deletes), apply_changes)
    return [values for _, values in typed]


def _type_in_again(workbook: Path, typed: list[dict[str, Any]]) -> None:
    from ispsheets.book.changes import AppendRow, ChangeSet
    from ispsheets.book.xlsx_backend import apply_changes

    if not typed:
        return
    owner = ("payment_id", "date", "client_id", "amount", "method", "reference",
             "invoice_number")
    appends = tuple(AppendRow(PAYMENTS.name, {
        column: _cell(v.get(column)) for column in owner if v.get(column) not in (None, "")})
        for v in typed)
    _write(workbook, ChangeSet(appends=appends), apply_changes)


def _cell(value: object) -> Any:
    if isinstance(value, float):
        return float_decimal(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date()
    return value


def _write(workbook: Path, changes: Any, apply_changes: Any) -> None:
    """Write as the owner's spreadsheet program would: no backup, no write number."""
    result = apply_changes(workbook, changes, backup_dir=workbook.parent / "backups",
                           keep_backups=0, expected_fingerprint=None,
                           now=dt.datetime.now().replace(microsecond=0))
    wanted = len(changes.deletes) or len(changes.appends)
    done = result.rows_deleted if changes.deletes else result.rows_appended
    assert done == wanted, f"{workbook}: {done} of {wanted} Payments rows written"


def describe_windowed(folder: Path) -> str:
    facts = json.loads((folder / "windowed.json").read_text(encoding="utf-8"))
    return (f"window {facts['window']}: {facts['rows_archived']} rows archived in "
            f"{len(facts['archive_steps'])} step(s) of {facts['step_months'] or 'all'} "
            "months, "
            f"{facts['archive_seconds']} s (CPU {facts['archive_cpu']} s, peak "
            f"{facts['archive_rss_mb']} MB, exit {facts['archive_exit']}), workbook "
            f"{facts['workbook_mb']} MB, archive "
            f"{', '.join(facts['archive_files']) or 'none'}; "
            f"{facts['payments_held_back']} typed payment(s) held back; "
            f"{facts['archive_summary'] or '(no summary line)'}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clients", type=int)
    parser.add_argument("months", type=int)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--window", type=int, default=0,
                        help="also archive with workbook.archive_after_months = this (cached)")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="the source tree whose `ispsheets archive` makes the window")
    parser.add_argument("--archive-step", type=int, default=ARCHIVE_STEP_MONTHS,
                        help="archive this many months at a time (0: all in one move)")
    args = parser.parse_args(argv)
    for name, folder in ensure(args.clients, args.months, args.seed).items():
        print(f"{name}: {folder}\n  {describe(folder)}")
    if args.window:
        for name, folder in windowed(args.clients, args.months, args.window, args.seed,
                                     code=args.code.resolve(), step=args.archive_step).items():
            print(f"{name}, window {args.window}: {folder}\n  {describe_windowed(folder)}")


if __name__ == "__main__":
    main()
