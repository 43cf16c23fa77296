"""Report numbers on a known scenario, hand-computed: buckets, metrics, pivots, history."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from ispsheets.book.records import Client, Invoice, InvoiceLine, Package, Payment, Service
from ispsheets.reporting import metrics, tables
from ispsheets.reporting.inputs import ReportInput

D = Decimal
AS_OF = dt.date(2026, 12, 31)


def _inv(number, client, issued, due, total, paid="0", status=None, service="S1", tax="0"):
    total, paid, tax = D(total), D(paid), D(tax)
    balance = total - paid
    status = status or ("paid" if balance == 0 else "partial" if paid else "open")
    if status == "void":
        balance = D("0")
    line = InvoiceLine(number, 1, service, "x", None, None, D(1), total - tax, total - tax, D(0),
                       tax)
    return Invoice(number, client, issued, None, None, due, total - tax, tax, total, paid,
                   balance, status, lines=(line,))


@pytest.mark.parametrize(("days", "expected"), [
    (-5, "Current"), (0, "Current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"),
    (61, "61-90"), (90, "61-90"), (91, "90+"), (400, "90+")])
def test_aging_bucket_edges(days, expected):
    assert tables.bucket(days) == expected


def _scenario() -> ReportInput:
    clients = (Client("C1", "Ann", autopay=True), Client("C2", "Bob"),
               Client("C3", "Cy", status="suspended"), Client("C4", "Di", status="cancelled"))
    packages = (Package("HOME", "Home 100", D("49.99"), "monthly"),
                Package("BIZ", "Biz 500", D("300.00"), "quarterly"))
    services = (Service("S1", "C1", "HOME", dt.date(2026, 1, 1)),
                Service("S2", "C2", "BIZ", dt.date(2026, 1, 1), quantity=D(2)),
                Service("S3", "C3", "HOME", dt.date(2026, 1, 1), discount_pct=D(10)),
                Service("S4", "C4", "HOME", dt.date(2026, 1, 1), end_date=dt.date(2026, 12, 20)))
    invoices = (
        # due exactly 30, 31, 61, 91 days before AS_OF
        _inv("INV-1", "C2", dt.date(2026, 11, 16), dt.date(2026, 12, 1), "100.00", service="S2"),
        _inv("INV-2", "C2", dt.date(2026, 11, 15), dt.date(2026, 11, 30), "50.00", paid="20.00",
             service="S2"),
        _inv("INV-3", "C3", dt.date(2026, 10, 16), dt.date(2026, 10, 31), "40.00", service="S3"),
        _inv("INV-4", "C3", dt.date(2026, 9, 16), dt.date(2026, 10, 1), "30.00", service="S3"),
        _inv("INV-5", "C1", dt.date(2026, 12, 1), dt.date(2026, 12, 16), "54.99", paid="54.99",
             tax="5.00"),
        _inv("INV-6", "C1", dt.date(2026, 12, 20), dt.date(2027, 1, 4), "54.99", tax="5.00"),
        _inv("INV-7", "C2", dt.date(2026, 12, 2), dt.date(2026, 12, 17), "999.00",
             status="void"),
    )
    payments = (Payment("P1", dt.date(2026, 11, 20), "C2", D("20.00"), "cash"),
                Payment("P2", dt.date(2026, 12, 10), "C1", D("54.99"), "card"),
                Payment("P3", dt.date(2027, 1, 2), "C1", D("54.99"), "card"))
    return ReportInput(AS_OF, "USD", clients, packages, services, invoices, payments,
                       paid_on={"INV-5": dt.date(2026, 12, 10)},
                       suspensions=(("C4", dt.date(2026, 12, 1)),))


def test_aging_rows_put_each_balance_in_its_bucket():
    rows = {r.client_id: r for r in tables.aging(_scenario())}
    assert set(rows) == {"C1", "C2", "C3"}  # void INV-7 and paid INV-5 owe nothing
    assert rows["C2"].buckets == {"Current": 0, "1-30": D("100.00"), "31-60": D("30.00"),
                                  "61-90": 0, "90+": 0}
    assert rows["C3"].buckets == {"Current": 0, "1-30": 0, "31-60": 0, "61-90": D("40.00"),
                                  "90+": D("30.00")}
    assert rows["C1"].buckets["Current"] == D("54.99")
    assert rows["C2"].total == D("130.00") and rows["C2"].oldest_invoice == "INV-2"
    assert rows["C2"].last_payment == dt.date(2026, 11, 20)
    assert rows["C1"].last_payment == dt.date(2026, 12, 10)  # P3 is after the as-of date
    assert [r.client_id for r in tables.aging(_scenario())] == ["C2", "C3", "C1"]


def test_outstanding_lists_open_invoices_most_overdue_first():
    rows = tables.outstanding(_scenario())
    assert [(r.invoice_number, r.days_overdue) for r in rows] == [
        ("INV-4", 91), ("INV-3", 61), ("INV-2", 31), ("INV-1", 30), ("INV-6", 0)]


def test_metrics_on_the_known_scenario():
    data = _scenario()
    # MRR: 49.99 + 2 × 300 / 3 + 49.99 × 0.9 (C4 cancelled, excluded) = 49.99 + 200 + 44.991
    assert metrics.mrr(data) == D("294.98")
    assert metrics.invoiced_in(data, dt.date(2026, 12, 1)) == D("109.98")  # INV-5 + INV-6
    assert metrics.invoiced_in(data, dt.date(2026, 11, 1)) == D("150.00")
    assert metrics.collected_in(data, dt.date(2026, 12, 1)) == D("54.99")  # P3 is after as-of
    assert metrics.outstanding(data) == D("254.99")  # 100 + 30 + 40 + 30 + 54.99
    assert metrics.overdue(data) == D("200.00")
    # DSO: 254.99 / (100 + 50 + 40 + 54.99 + 54.99 invoiced since Oct 2) × 90
    assert metrics.dso(data) == (D("254.99") / D("299.98") * 90).quantize(D("0.1"))
    # due in window (Oct 2 – Dec 31): INV-1, INV-2, INV-3, INV-5 → only INV-5 paid on time
    assert metrics.collection_rate(data) == D("25.0")
    assert metrics.late_payment_rate(data) == D("0.0")
    assert metrics.autopay_rate(data) == D("50.0")  # Ann of Ann and Bob
    assert metrics.suspended_clients(data) == 1
    assert metrics.billing_churn(data) == 1  # S4 ended 19 days after C4's suspension


def test_targets_colour_a_metric():
    assert metrics.Metric("DSO", D("25"), "days", "< 30").on_target is True
    assert metrics.Metric("DSO", D("31"), "days", "< 30").on_target is False
    assert metrics.Metric("Rate", D("96"), "percent", "> 95").on_target is True
    assert metrics.Metric("Rate", None, "percent", "> 95").on_target is None


def test_revenue_pivot_adds_up_both_ways():
    table = tables.revenue_by_package(_scenario())
    assert list(table.columns) == ["Biz 500", "Home 100", "Tax", "Total"]
    dec = dt.date(2026, 12, 1)
    assert table.loc[dec, "Home 100"] == D("99.98")
    assert table.loc[dec, "Tax"] == D("10.00")
    assert table.loc[dec, "Total"] == D("109.98")  # = invoiced in December
    assert table.loc[dt.date(2026, 11, 1), "Biz 500"] == D("150.00")
    assert table.loc["Total", "Total"] == sum(table.loc[m, "Total"] for m in table.index[:-1])
    # from the first invoice's month (INV-4, September), not twelve months with eight of zeros
    assert list(table.index) == [dt.date(2026, m, 1) for m in (9, 10, 11, 12)] + ["Total"]


def test_revenue_tables_keep_at_most_twelve_months():
    data = _scenario()
    old = _inv("INV-0", "C1", dt.date(2024, 3, 5), dt.date(2024, 3, 20), "10.00", paid="10.00")
    table = tables.revenue_by_package(replace(data, invoices=(old, *data.invoices)))
    assert table.index[0] == dt.date(2026, 1, 1) and len(table.index) == 13


def test_service_month_books_a_line_to_its_periods_month_not_the_issue_day():
    """December's invoice issued on November 30: November by issue date, December by service."""
    line = InvoiceLine("INV-9", 1, "S1", "Home 100", dt.date(2026, 12, 1), dt.date(2026, 12, 31),
                       D(1), D("49.99"), D("49.99"), D("8.25"), D("4.12"))
    charge = InvoiceLine("INV-9", 2, "", "Router", None, None, D(1), D("30.00"), D("30.00"),
                         D(0), D(0), charge_id="CH1")
    invoice = Invoice("INV-9", "C1", dt.date(2026, 11, 30), dt.date(2026, 12, 1),
                      dt.date(2026, 12, 31), dt.date(2026, 12, 15), D("79.99"), D("4.12"),
                      D("84.11"), D(0), D("84.11"), "open", lines=(line, charge))
    data = replace(_scenario(), as_of=dt.date(2026, 12, 1), invoices=(invoice,), payments=())
    nov, dec = dt.date(2026, 11, 1), dt.date(2026, 12, 1)
    by_issue = tables.revenue_by_package(data)
    assert by_issue.loc[nov, "Total"] == D("84.11") and by_issue.loc[dec, "Total"] == D(0)
    by_service = tables.revenue_by_service_month(data)
    assert list(by_service.columns) == ["Home 100", "Charges & credits", "Tax", "Total"]
    assert by_service.loc[dec, "Home 100"] == D("49.99")
    assert by_service.loc[dec, "Tax"] == D("4.12")
    assert by_service.loc[nov, "Charges & credits"] == D("30.00")  # a charge: its issue month
    assert by_service.loc["Total", "Total"] == D("84.11")  # the same money, other months
    assert metrics.invoiced_in(data, dec) == D(0)
    assert metrics.billed_for_service_in(data, dec) == D("54.11")
    assert metrics.billed_for_service_in(data, nov) == D("30.00")


def test_a_period_across_two_months_is_booked_to_the_month_it_starts():
    """Billing day 15: Nov 15 - Dec 14 is November's service (not spread, not December's)."""
    line = InvoiceLine("INV-8", 1, "S1", "Home 100", dt.date(2026, 11, 15),
                       dt.date(2026, 12, 14), D(1), D("49.99"), D("49.99"), D(0), D(0))
    invoice = Invoice("INV-8", "C1", dt.date(2026, 11, 14), dt.date(2026, 11, 15),
                      dt.date(2026, 12, 14), dt.date(2026, 11, 29), D("49.99"), D(0), D("49.99"),
                      D(0), D("49.99"), "open", lines=(line,))
    data = replace(_scenario(), invoices=(invoice,), payments=())
    table = tables.revenue_by_service_month(data)
    assert table.loc[dt.date(2026, 11, 1), "Home 100"] == D("49.99")
    assert table.loc[dt.date(2026, 12, 1), "Home 100"] == D(0)


def test_collected_starts_at_a_payment_made_before_the_first_invoice():
    """A deposit paid in August, the first invoice in September: August is in the table."""
    data = _scenario()
    deposit = Payment("P0", dt.date(2026, 8, 20), "C1", D("100.00"), "cash")
    table = tables.collected_by_method(replace(data, payments=(deposit, *data.payments)))
    assert table.index[0] == dt.date(2026, 8, 1)
    assert table.loc[dt.date(2026, 8, 1), "cash"] == D("100.00")
    assert tables.revenue_by_package(data).index[0] == dt.date(2026, 9, 1)  # invoices: Sep


def test_every_summary_explanation_is_one_line_of_single_spaced_text():
    for metric in metrics.summary(_scenario()):
        assert metric.formula and metric.formula == " ".join(metric.formula.split()), metric


def test_collected_pivot_by_method():
    table = tables.collected_by_method(_scenario())
    assert table.loc[dt.date(2026, 11, 1), "cash"] == D("20.00")
    assert table.loc[dt.date(2026, 12, 1), "card"] == D("54.99")
    assert table.loc["Total", "Total"] == D("74.99")


def test_client_history_runs_a_balance_in_date_order():
    rows = [r for r in tables.client_history(_scenario()) if r.client_id == "C2"]
    assert [(r.reference, r.running_balance) for r in rows] == [
        ("INV-2", D("50.00")), ("INV-1", D("150.00")), ("P1 (cash)", D("130.00"))]


def test_revenue_counts_each_amount_in_whole_cents_as_often_as_it_occurs():
    """Amounts are summed in cents, each amount's own (two lines of 10.005 make 20.00, not
    the 20.01 of their sum), and a method typed "Cash" or "cash" is one column."""
    data = _scenario()
    invoices = tuple(_inv(f"INV-{n}", "C1", dt.date(2026, 12, 2), dt.date(2026, 12, 17),
                          "10.005") for n in (8, 9))
    payments = (Payment("P8", dt.date(2026, 12, 3), "C1", D("20.00"), "Cash"),
                Payment("P9", dt.date(2026, 12, 4), "C2", D("20.00"), "cash"))
    data = replace(data, invoices=invoices, payments=payments)
    assert tables.revenue_by_package(data).loc[dt.date(2026, 12, 1), "Home 100"] == D("20.00")
    collected = tables.collected_by_method(data)
    assert list(collected.columns) == ["cash", "Total"]
    assert collected.loc[dt.date(2026, 12, 1), "cash"] == D("40.00")
