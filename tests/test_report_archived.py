"""The report from the archive's figures: the same tables when archived invoices and payments
are no longer given live, and a Client history of the months shown after a brought-forward line.

Random histories of a few clients over two years; any set of settled invoices and of payments
is archived (the report's sums do not depend on which), its figures written by
`record_figures` into a journal, and the report read back from the live records and the
figures of the months shown must equal the report of everything.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from dataclasses import replace
from decimal import Decimal

import pytest

from ispsheets.archive.checkpoint import Frozen, freeze
from ispsheets.book.records import Client, Invoice, InvoiceLine, Package, Payment, Service
from ispsheets.journal import Journal
from ispsheets.payments.allocate import Allocation, InvoiceState
from ispsheets.reporting import metrics, tables
from ispsheets.reporting.archived import load_figures
from ispsheets.reporting.inputs import ReportInput, first_shown

D = Decimal
AS_OF = dt.date(2026, 12, 31)
CLIENTS = ("C1", "C2", "C3", "C4")


def _month(year: int, month: int) -> dt.date:
    return dt.date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _paid(number: str, client: str, issued: dt.date, due: dt.date, amount: D,
          description: str) -> Invoice:
    """A paid invoice of one untaxed line."""
    line = InvoiceLine(number, 1, "", description, None, None, D(1), amount, amount, D(0), D(0))
    return Invoice(number, client, issued, None, None, due, amount, D(0), amount, amount, D(0),
                   "paid", lines=(line,))


def _history(seed: int) -> ReportInput:
    """Monthly invoices from March 2025 (issued the day before their month, or on its first),
    a charge now and then, tax; each paid in full some days later, or never (C4 from
    November 2025 on); a void one, a refund, a payment after the report's date."""
    rng = random.Random(seed)
    invoices, payments, paid_on = [], [], {}
    number = 0
    for n in range(23):
        start = _month(2025, 3 + n)
        for c, client in enumerate(CLIENTS, start=1):
            if rng.random() < 0.15:
                continue
            number += 1
            inv = f"INV-{number:04d}"
            issued = start - dt.timedelta(days=1) if rng.random() < 0.5 else start
            price = D(rng.choice(["49.99", "79.00", "120.50"]))
            lines = [InvoiceLine(inv, 1, f"S{c}", "service", start, None, D(1), price, price,
                                 D("8.25"), (price * D("0.0825")).quantize(D("0.01")))]
            if rng.random() < 0.2:
                charge = D(rng.choice(["30.00", "-10.00"]))
                lines.append(InvoiceLine(inv, 2, "", "charge", None, None, D(1), charge, charge,
                                         D(0), D(0), charge_id=f"CH{number}"))
            subtotal = sum((x.amount for x in lines), D(0))
            tax = sum((x.tax for x in lines), D(0))
            total = subtotal + tax
            due = issued + dt.timedelta(days=15)
            if rng.random() < 0.05:
                invoices.append(Invoice(inv, client, issued, start, None, due, subtotal, tax,
                                        total, D(0), D(0), "void", lines=tuple(lines)))
                continue
            delay = rng.choice([0, 3, 10, 14, 20, 45, None])
            if client == "C4" and start >= dt.date(2025, 11, 1):
                delay = None  # stops paying: Aging's last payment is before the months shown
            day = issued + dt.timedelta(days=delay) if delay is not None else None
            if day is not None and day <= AS_OF + dt.timedelta(days=10):
                payments.append(Payment(f"P{number:04d}", day, client, total,
                                        rng.choice(["cash", "check", "card", ""])))
            if day is not None and day <= AS_OF:
                paid_on[inv] = day
                invoices.append(Invoice(inv, client, issued, start, None, due, subtotal, tax,
                                        total, total, D(0), "paid", lines=tuple(lines)))
            elif issued <= AS_OF + dt.timedelta(days=1):
                invoices.append(Invoice(inv, client, issued, start, None, due, subtotal, tax,
                                        total, D(0), total, "open", lines=tuple(lines)))
    payments.append(Payment("R1", dt.date(2025, 9, 3), "C1", D("-20.00"), "card"))
    payments.append(Payment("R4", dt.date(2025, 12, 5), "C4", D("-5.00"), "card"))  # its last
    payments.append(Payment("P-DEP", dt.date(2025, 2, 20), "C2", D("100.00"), "cash"))
    # the first day of the months shown, and the day before it
    edge = D("10.00")
    invoices.append(_paid("INV-EDGE", "C1", dt.date(2026, 1, 1), dt.date(2026, 1, 16), edge,
                          "edge"))
    paid_on["INV-EDGE"] = dt.date(2026, 1, 1)
    payments.append(Payment("P-EDGE1", dt.date(2025, 12, 31), "C1", D("4.00"), "cash"))
    payments.append(Payment("P-EDGE2", dt.date(2026, 1, 1), "C1", D("6.00"), "cash"))
    # a payment plan: issued before the months shown, due (and paid on time) in the last 90 days
    plan = D("500.00")
    invoices.append(_paid("INV-PLAN", "C2", dt.date(2025, 11, 20), dt.date(2026, 11, 15), plan,
                          "plan"))
    paid_on["INV-PLAN"] = dt.date(2026, 11, 10)
    payments.append(Payment("P-PLAN", dt.date(2026, 11, 10), "C2", plan, "check"))
    clients = tuple(Client(c, f"Client {c}") for c in CLIENTS)
    packages = (Package("HOME", "Home", D("49.99"), "monthly"),
                Package("BIZ", "Biz", D("120.50"), "monthly"))
    services = tuple(Service(f"S{n}", c, "HOME" if n % 2 else "BIZ", dt.date(2025, 3, 1))
                     for n, c in enumerate(CLIENTS, start=1))
    return ReportInput(AS_OF, "USD", clients, packages, services, tuple(invoices),
                       tuple(payments), paid_on=paid_on)


def _archive(data: ReportInput, invoices: set[str], payments: set[str]) -> Journal:
    journal = Journal.memory()
    states = {i.invoice_number: InvoiceState(i.paid, i.balance or D(0), i.status,
                                             data.paid_on.get(i.invoice_number))
              for i in data.invoices}
    freeze(journal, Frozen([i for i in data.invoices if i.invoice_number in invoices],
                           [p for p in data.payments if p.payment_id in payments],
                           Allocation(invoices=states)))
    return journal


def _live(data: ReportInput, journal: Journal, invoices: set[str], payments: set[str]
          ) -> ReportInput:
    """The report's input as the run will give it: only what is not archived, with the
    archived figures of the months shown."""
    live = tuple(i for i in data.invoices if i.invoice_number not in invoices)
    paid = tuple(p for p in data.payments if p.payment_id not in payments)
    return replace(data, invoices=live, payments=paid,
                   paid_on={n: d for n, d in data.paid_on.items() if n not in invoices},
                   archived=load_figures(journal, first_shown(data.as_of), live, paid))


def _everything(data: ReportInput, journal: Journal) -> ReportInput:
    """As runs give it today: everything live, and the figures too (each counts once)."""
    return replace(data, archived=load_figures(journal, first_shown(data.as_of), data.invoices,
                                               data.payments))


def _report(data: ReportInput) -> dict[str, object]:
    return {"aging": tables.aging(data), "outstanding": tables.outstanding(data),
            "by issue": tables.revenue_by_package(data).to_dict(),
            "by service": tables.revenue_by_service_month(data).to_dict(),
            "collected": tables.collected_by_method(data).to_dict(),
            "history": tables.client_history(data), "summary": metrics.summary(data)}


def _settled(data: ReportInput) -> list[str]:
    return [i.invoice_number for i in data.invoices if i.status in ("paid", "void")]


@pytest.mark.parametrize("seed", range(12))
def test_the_report_from_figures_equals_the_report_of_everything(seed):
    data = _history(seed)
    rng = random.Random(seed * 7 + 1)
    share = rng.choice([0.3, 0.8, 1.0])
    invoices = {n for n in _settled(data) if rng.random() < share}
    payments = {p.payment_id for p in data.payments if rng.random() < share}
    journal = _archive(data, invoices, payments)
    # today's report, and reports written again for days past (`ispsheets report --date`),
    # one of them the day before INV-PLAN is issued, in the same month
    for as_of in (AS_OF, dt.date(2026, 6, 30), dt.date(2025, 8, 31), dt.date(2025, 1, 31),
                  dt.date(2025, 11, 19)):
        day = replace(data, as_of=as_of)
        expected = _report(day)
        assert _report(_live(day, journal, invoices, payments)) == expected, as_of
        assert _report(_everything(day, journal)) == expected, as_of


def test_the_months_shown_start_where_the_business_started_before_them():
    """Nothing invoiced or paid in the first months shown, everything before them archived:
    the tables still start twelve months back (the first invoice is older), not at the first
    month with figures."""
    data = _history(8)
    quiet = (dt.date(2025, 12, 20), dt.date(2026, 3, 1))
    data = replace(data,  # (and no invoice older than them still open)
                   invoices=tuple(i for i in data.invoices
                                  if not quiet[0] <= i.issue_date < quiet[1]
                                  and (i.status != "open" or i.issue_date >= quiet[1])
                                  and i.invoice_number != "INV-PLAN"),
                   payments=tuple(p for p in data.payments
                                  if not quiet[0] <= p.date < quiet[1]))
    invoices = set(_settled(data))
    payments = {p.payment_id for p in data.payments}
    live = _live(data, _archive(data, invoices, payments), invoices, payments)
    for table in (tables.revenue_by_package(live), tables.collected_by_method(live)):
        assert table.index[0] == dt.date(2026, 1, 1) and len(table.index) == 13
    assert _report(live) == _report(data)


def test_a_restored_invoice_counts_once_as_it_is_now():
    """Archived as paid, back in the workbook partly paid (a refund): the live one counts."""
    data = _history(3)
    recent = next(i for i in data.invoices if i.status == "paid"  # in the collection rate
                  and AS_OF - dt.timedelta(80) < i.due_date < AS_OF
                  and data.paid_on[i.invoice_number] <= i.due_date)
    old = next(i for i in data.invoices if i.status == "paid" and i.issue_date.year == 2025)
    restored = {recent.invoice_number, old.invoice_number}
    journal = _archive(data, restored | set(_settled(data)), set())
    now = tuple(replace(i, paid=i.total - 5, balance=D(5), status="partial")
                if i.invoice_number in restored else i for i in data.invoices)
    data = replace(data, invoices=now,
                   paid_on={n: d for n, d in data.paid_on.items() if n not in restored})
    archived = set(_settled(data)) - restored
    expected = _report(data)
    assert _report(_live(data, journal, archived, set())) == expected
    assert _report(_everything(data, journal)) == expected
    assert {r.invoice_number for r in tables.outstanding(data)} >= restored


def test_only_the_months_shown_are_read():
    data = _history(1)
    everything = set(_settled(data))
    journal = _archive(data, everything, {p.payment_id for p in data.payments})
    since = first_shown(AS_OF)
    figures = load_figures(journal, since, (), ())
    assert since == dt.date(2026, 1, 1)
    assert figures.invoices and figures.payments
    assert min(p.date for p in figures.payments) >= since
    # an invoice is read when it shows in the months shown: issued, due or served in them
    assert all(max(i.issue_date, i.due_date, *(x.period_start for x in i.lines
                                              if x.period_start)) >= since
               for i in figures.invoices)
    older = [i for i in data.invoices if i.invoice_number in everything
             and i.due_date < since - dt.timedelta(days=1)]
    assert older and not {i.invoice_number for i in older} & \
        {i.invoice_number for i in figures.invoices}
    plan = " ".join(str(r[-1]) for r in journal._db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM archived_figures WHERE day >= ?", ("2026-01-01",)))
    assert "archived_figures_day" in plan


def test_client_history_shows_the_months_shown_after_a_brought_forward_line():
    data = _history(5)
    start = first_shown(AS_OF)
    rows = tables.client_history(data)
    for client in CLIENTS:
        mine = [r for r in rows if r.client_id == client]
        first, rest = mine[0], mine[1:]
        charged = sum((i.total for i in data.invoices if i.client_id == client
                       and i.status != "void" and i.issue_date < start), D(0))
        paid = sum((p.amount for p in data.payments if p.client_id == client
                    and p.date < start), D(0))
        assert (first.kind, first.date, first.reference) == \
            ("brought forward", start, "before January 2026")
        assert (first.charged, first.paid, first.running_balance) == \
            (charged, paid, charged - paid)
        assert rest and all(start <= r.date <= AS_OF for r in rest)
        if client == "C1":  # on the first day shown, and the day before it
            references = [r.reference for r in rest]
            assert "INV-EDGE" in references and "P-EDGE2 (cash)" in references
            assert "P-EDGE1 (cash)" not in references
        assert sum((r.charged for r in mine), D(0)) == sum(
            (i.total for i in data.invoices if i.client_id == client
             and i.status != "void" and i.issue_date <= AS_OF), D(0))
        assert rest[-1].running_balance == sum(
            (i.total for i in data.invoices if i.client_id == client
             and i.status != "void" and i.issue_date <= AS_OF), D(0)) - sum(
            (p.amount for p in data.payments if p.client_id == client and p.date <= AS_OF),
            D(0))


def test_a_client_whose_story_ended_before_the_months_shown_is_left_out():
    data = _history(2)
    gone = (Invoice("INV-OLD", "C9", dt.date(2024, 5, 1), None, None, dt.date(2024, 5, 15),
                    D(10), D(0), D(10), D(10), D(0), "paid"),)
    paid = (Payment("P-OLD", dt.date(2024, 5, 2), "C9", D(10)),
            Payment("P-OWE", dt.date(2024, 6, 2), "C8", D(-7)))
    data = replace(data, invoices=data.invoices + gone, payments=data.payments + paid)
    settled = (Invoice("INV-A", "C7", dt.date(2025, 5, 1), None, None, dt.date(2025, 5, 15),
                       D(10), D(0), D(10), D(10), D(0), "paid"),
               Invoice("INV-B", "C7", dt.date(2026, 3, 1), None, None, dt.date(2026, 3, 15),
                       D(10), D(0), D(10), D(0), D(10), "open"))
    data = replace(data, invoices=data.invoices + settled,
                   payments=(*data.payments, Payment("P-A", dt.date(2025, 5, 3), "C7", D(10))))
    clients = {r.client_id for r in tables.client_history(data)}
    assert "C9" not in clients  # nothing since, nothing owed
    assert [(r.kind, r.charged, r.paid, r.running_balance) for r in tables.client_history(data)
            if r.client_id == "C7"] == [("brought forward", D(10), D(10), D(0)),
                                        ("invoice", D(10), D(0), D(10))]
    assert [(r.kind, r.running_balance) for r in tables.client_history(data)
            if r.client_id == "C8"] == [("brought forward", D(7))]  # owes: shown


def test_recording_the_same_figures_again_changes_nothing():
    data = _history(4)
    invoices = set(_settled(data))
    payments = {p.payment_id for p in data.payments if p.date < dt.date(2026, 6, 1)}
    journal = _archive(data, invoices, payments)
    once = journal.archived_figures()
    states = {n: InvoiceState(D(0), D(0), "paid", d) for n, d in data.paid_on.items()}
    frozen = Frozen([i for i in data.invoices if i.invoice_number in invoices],
                    [p for p in data.payments if p.payment_id in payments],
                    Allocation(invoices=states))
    freeze(journal, frozen)
    freeze(journal, replace(frozen, invoices=frozen.invoices[:5], payments=frozen.payments[3:]))
    assert sorted(journal.archived_figures()) == sorted(once)
    assert not [r for r in once if r[0] == "invoice" and r[1] in
                {i.invoice_number for i in data.invoices if i.status == "void"}]


def test_a_figure_written_again_with_other_amounts_replaces_the_old_one_in_its_totals():
    data = _history(6)
    invoice = next(i for i in data.invoices if i.status == "paid")
    journal = _archive(data, {invoice.invoice_number}, set())
    changed = replace(invoice, total=invoice.total + 1)
    freeze(journal, Frozen([changed], [], Allocation()))
    figures = load_figures(journal, dt.date(2000, 1, 1), (), ())
    assert figures.clients[invoice.client_id].charged == changed.total


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_report_written_by_the_child_reads_the_figures_itself(tmp_path, monkeypatch):
    """A big business's report child opens the journal itself for the archive's figures: the
    same report as one written in the run's own process, archived invoice included."""
    import ispsheets.steps.report as report_step
    from tests.test_report_in_child import DAY, _business, _cells

    archived = Invoice("INV-ARCH", "A1", dt.date(2026, 11, 2), None, None,
                       dt.date(2026, 11, 17), D("20.00"), D(0), D("20.00"), D("20.00"), D(0),
                       "paid")
    paid = Payment("PAY-ARCH", dt.date(2026, 11, 3), "A1", D("20.00"), "cash")
    frozen = Frozen([archived], [paid], Allocation(
        invoices={"INV-ARCH": InvoiceState(D("20.00"), D(0), "paid", dt.date(2026, 11, 3))}))
    reports = {}
    for where, fork_from in (("here", 10**9), ("child", 0)):
        business = _business(tmp_path / where)
        journal = Journal.open(business.config.journal_path)
        freeze(journal, frozen)
        journal.close()
        monkeypatch.setattr(report_step, "FORK_FROM_INVOICES", fork_from)
        parent = os.getpid()
        report = business.run(DAY)
        assert os.getpid() == parent and report.exit_code == 0
        reports[where] = _cells(report.report_file)
    assert reports["child"] == reports["here"]
    history = [r[4] for r in reports["child"]["Client history"]]
    assert "INV-ARCH" in history and "PAY-ARCH (cash)" in history


def test_an_archived_invoice_reads_back_as_the_paid_record_the_report_counts():
    """Decoded from its figures (made without the record's __init__): the very record the
    report would be given live once paid in full, without its lines, which are counted by
    issue date, month booked to, service (grouped as asked), amount and tax; an invoice also
    given live has its lines counted from the live record only."""
    from ispsheets.reporting.archived import (
        ArchivedFigures,
        LineFigure,
        _Decoded,
        _Decoder,
        invoice_row,
    )

    lines = (InvoiceLine("INV-9", 1, "S1", "Home 100", dt.date(2026, 3, 1),
                         dt.date(2026, 3, 31), D(1), D("49.99"), D("49.99"), D(0), D("4.12")),
             InvoiceLine("INV-9", 2, "", "late fee", None, None, D(1), D("10.00"), D("10.00"),
                         D(0), D(0), charge_id="CH-1"),
             InvoiceLine("INV-9", 3, "S2", "Home 100", dt.date(2026, 3, 1),
                         dt.date(2026, 3, 31), D(1), D("49.99"), D("49.99"), D(0), D("4.12")))
    live = Invoice("INV-9", "C1", dt.date(2026, 2, 28), None, None, dt.date(2026, 3, 15),
                   D("109.98"), D("8.24"), D("118.22"), D("118.22"), D(0), "paid", lines=lines)
    row = invoice_row(live, dt.date(2026, 3, 10))
    decoded = _Decoded(frozenset())
    decoded.add([row], _Decoder())
    read, = decoded.invoices
    assert read == Invoice(
        "INV-9", "C1", dt.date(2026, 2, 28), None, None, dt.date(2026, 3, 15), D("109.98"),
        D("8.24"), D("118.22"), paid=D("118.22"), balance=D(0), status="paid")
    assert decoded.paid_on == {"INV-9": dt.date(2026, 3, 10)}
    figures = ArchivedFigures(lines=decoded.lines)
    package = {"S1": "Home", "S2": "Home"}
    assert figures.line_counts(lambda s: package.get(s, "charges")) == {
        LineFigure(dt.date(2026, 2, 28), dt.date(2026, 3, 1), "Home", D("49.99"), D("4.12")): 2,
        LineFigure(dt.date(2026, 2, 28), dt.date(2026, 2, 1), "charges", D("10.00"), D(0)): 1}
    assert len(figures.line_counts(str)) == 3  # by service: S1 and S2 apart
    given_live = _Decoded(frozenset({"INV-9"}))
    given_live.add([row], _Decoder())
    assert given_live.invoices == decoded.invoices and not given_live.lines
