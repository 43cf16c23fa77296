"""Three months of a small ISP, run every day as cron would, with payments typed in between.

Seven clients, Home 49.99 monthly, billing day 1, everything from the contract's defaults:
invoices are issued the day before the period (Nov 30, Dec 31, Jan 31), due 15 days later;
reminders at 0/+3/+7/+14 days past due, a 5.00 late fee at +14, suspension at +21, a 10.00
reconnection fee. The whole quarter runs once (module fixture); each test checks one story.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.scenario import Business, row

pytestmark = pytest.mark.slow  # the quarter, run once for the module: 7 s

D = Decimal
NOV_30, DEC_31, JAN_31 = dt.date(2026, 11, 30), dt.date(2026, 12, 31), dt.date(2027, 1, 31)
LAST_DAY = dt.date(2027, 2, 20)

CLIENTS = {
    "ONTIME": "pays every invoice 5 days after it is issued",
    "PARTIAL": "pays 20.00 on Dec 10, the rest on Dec 25",
    "OVER": "pays 150.00 on Dec 5: credit covers Jan and Feb",
    "NEVER": "pays nothing until Jan 20, then everything it owes",
    "OWNERSUS": "suspended by the owner by hand; never pays",
    "BOUNCE": "pays Dec by check on Dec 10; the check bounces on Dec 20",
    "EXEMPT": "a tax-exempt school that pays on the due date",
}


def _rows() -> dict[str, list[tuple[object, ...]]]:
    packages = [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                    interval="monthly", download_mbps=100, upload_mbps=20, tax_rate=D("10"))]
    clients, services = [], []
    for n, client_id in enumerate(CLIENTS, start=1):
        clients.append(row("Clients", client_id=client_id, name=f"Client {client_id.title()}",
                           email=f"{client_id.lower()}@example.com",
                           status="suspended" if client_id == "OWNERSUS" else "active",
                           tax_exempt="yes" if client_id == "EXEMPT" else None))
        services.append(row("Services", service_id=f"S{n}", client_id=client_id,
                            package_id="HOME", start_date=dt.date(2026, 12, 1)))
    return {"Packages": packages, "Clients": clients, "Services": services}


COMMANDS = """
collections:
  provisioning:
    suspend_command: "echo suspend {client_id} >> commands.log"
    restore_command: "echo restore {client_id} >> commands.log"
"""


@pytest.fixture(scope="module")
def quarter(tmp_path_factory) -> Business:
    business = Business.create(tmp_path_factory.mktemp("quarter"), _rows(), COMMANDS)
    day = dt.timedelta
    typed = [  # (day, client, amount, method): typed in before that day's run
        (NOV_30 + day(5), "ONTIME", "54.99", "check"),
        (DEC_31 + day(5), "ONTIME", "54.99", "check"),
        (JAN_31 + day(5), "ONTIME", "54.99", "check"),
        (dt.date(2026, 12, 10), "PARTIAL", "20.00", "cash"),
        (dt.date(2026, 12, 25), "PARTIAL", "34.99", "cash"),
        (dt.date(2026, 12, 5), "OVER", "150.00", "bank transfer"),
        (dt.date(2026, 12, 10), "BOUNCE", "54.99", "check"),
        (dt.date(2026, 12, 20), "BOUNCE", "-54.99", "bounced check"),
        (dt.date(2026, 12, 15), "EXEMPT", "49.99", "check"),
        (dt.date(2027, 1, 15), "EXEMPT", "49.99", "check"),
        (dt.date(2027, 2, 15), "EXEMPT", "49.99", "check"),
        (dt.date(2027, 1, 20), "NEVER", "114.98", "card"),
    ]
    payments: dict[dt.date, list] = {}
    for when, client, amount, method in typed:
        payments.setdefault(when, []).append(
            lambda w=when, c=client, a=amount, m=method: business.pay(c, a, w, m))
    business.run_days(NOV_30, LAST_DAY, before=payments)
    return business


def _mails(business: Business, client_id: str) -> list[tuple[dt.date | None, str, str]]:
    return [(m.day, m.kind, m.key.split("/")[-1] if m.kind != "reminder" else m.subject)
            for m in business.mails_to(client_id)]


def _kinds(business: Business, client_id: str) -> list[tuple[dt.date | None, str]]:
    return [(m.day, m.kind) for m in business.mails_to(client_id)]


def test_every_run_of_the_quarter_finished_cleanly(quarter):
    assert len(quarter.reports) == (LAST_DAY - NOV_30).days + 1
    for day, report in quarter.reports:
        assert report.exit_code == 0, (day, [str(p) for p in report.problems])


def test_on_time_payer_gets_invoices_and_receipts_and_no_reminder(quarter):
    assert _kinds(quarter, "ONTIME") == [
        (NOV_30, "invoice"), (dt.date(2026, 12, 5), "receipt"),
        (DEC_31, "invoice"), (dt.date(2027, 1, 5), "receipt"),
        (JAN_31, "invoice"), (dt.date(2027, 2, 5), "receipt")]
    invoices = [i for i in quarter.invoices().values() if i.client_id == "ONTIME"]
    assert [(i.total, i.status, i.balance) for i in invoices] == [(D("54.99"), "paid", 0)] * 3
    assert quarter.clients()["ONTIME"].balance == 0


def test_invoice_email_carries_the_pdf_and_the_amount(quarter):
    first = next(m for m in quarter.mails_to("ONTIME") if m.kind == "invoice")
    # invoices of one day are numbered in client_id order: ONTIME is the fourth
    assert first.attachments == ("INV-00004.pdf",)
    assert "$54.99" in first.text
    assert (quarter.folder / "invoices" / "INV-00004.pdf").stat().st_size > 1000


def test_partial_payer_is_reminded_until_paid_then_never_again(quarter):
    kinds = _kinds(quarter, "PARTIAL")
    reminders = [day for day, kind in kinds if kind == "reminder" and day < DEC_31]
    # due notice Dec 15, first reminder Dec 18, second Dec 22; paid in full Dec 25
    assert reminders == [dt.date(2026, 12, 15), dt.date(2026, 12, 18), dt.date(2026, 12, 22)]
    dec = next(i for i in quarter.invoices().values()
               if i.client_id == "PARTIAL" and i.issue_date == NOV_30)
    assert (dec.paid, dec.balance, dec.status, dec.reminder_stage) == (
        D("54.99"), 0, "paid", "second_reminder")
    dec_fees = [a for a in quarter.activity("late_fee_added")
                if a["client_id"] == "PARTIAL" and a["invoice_number"] == dec.invoice_number]
    assert dec_fees == []


def test_partial_payment_shows_partial_between_payments(quarter):
    snapshot = dict(quarter.reports)[dt.date(2026, 12, 12)].snapshot
    dec = next(i for i in snapshot.invoices if i.client_id == "PARTIAL")
    assert (dec.paid, dec.balance, dec.status) == (D("20.00"), D("34.99"), "partial")


def test_over_payer_credit_pays_the_next_invoices_until_it_runs_out(quarter):
    invoices = sorted((i for i in quarter.invoices().values() if i.client_id == "OVER"),
                      key=lambda i: i.issue_date)
    # 150.00 pays Dec (54.99) and, as credit, Jan (54.99) and 40.02 of Feb: 14.97 left to pay
    assert [(i.status, i.balance) for i in invoices] == [
        ("paid", 0), ("paid", 0), ("partial", D("14.97"))]
    payments = {p["client_id"]: p for p in quarter.sheet("Payments")}
    assert payments["OVER"]["applied_to"] == "INV-00005:54.99; INV-00012:54.99; INV-00019:40.02"
    assert payments["OVER"]["unapplied"] == 0
    # no reminder while credit covered everything; the Feb invoice is reminded from its due date
    assert [(day, kind) for day, kind in _kinds(quarter, "OVER")] == [
        (NOV_30, "invoice"), (dt.date(2026, 12, 5), "receipt"), (DEC_31, "invoice"),
        (JAN_31, "invoice"), (dt.date(2027, 2, 15), "reminder"),
        (dt.date(2027, 2, 18), "reminder")]


def test_never_payer_is_fined_suspended_then_reconnected_with_a_fee(quarter):
    kinds = _kinds(quarter, "NEVER")
    assert kinds == [
        (NOV_30, "invoice"),
        (dt.date(2026, 12, 15), "reminder"), (dt.date(2026, 12, 18), "reminder"),
        (dt.date(2026, 12, 22), "reminder"), (dt.date(2026, 12, 29), "reminder"),
        (DEC_31, "invoice"),
        (dt.date(2027, 1, 5), "suspend"),  # 21 days past the Dec 15 due date
        (dt.date(2027, 1, 15), "reminder"), (dt.date(2027, 1, 18), "reminder"),
        (dt.date(2027, 1, 20), "receipt"), (dt.date(2027, 1, 20), "reconnect"),
        (JAN_31, "invoice"),
        (dt.date(2027, 2, 15), "reminder"), (dt.date(2027, 2, 18), "reminder")]  # Feb unpaid
    # the late fee is told in the final notice of the same day, not in a mail of its own
    final = next(m for m in quarter.mails_to("NEVER") if m.day == dt.date(2026, 12, 29))
    assert final.subject.startswith("Final notice")
    assert "late fee of $5.00 for INV-00003 has been added" in " ".join(final.text.split())
    fees = [(a["timestamp"].date(), a["invoice_number"])
            for a in quarter.activity("late_fee_added") if a["client_id"] == "NEVER"]
    assert fees == [(dt.date(2026, 12, 29), "INV-00003")]
    suspended = [a["timestamp"].date() for a in quarter.activity("client_suspended")
                 if a["client_id"] == "NEVER"]
    reconnected = [a["timestamp"].date() for a in quarter.activity("client_reconnected")
                   if a["client_id"] == "NEVER"]
    assert (suspended, reconnected) == ([dt.date(2027, 1, 5)], [dt.date(2027, 1, 20)])
    commands = (quarter.folder / "commands.log").read_text().splitlines()
    assert [c for c in commands if c.endswith(" NEVER")] == ["suspend NEVER", "restore NEVER"]
    assert quarter.clients()["NEVER"].status == "active"
    charges = [c for c in quarter.book().charges if c.client_id == "NEVER"]
    assert [(c.description, c.amount, c.taxable) for c in charges] == [
        ("Late fee for INV-00003", D("5.00"), False), ("Reconnection fee", D("10.00"), False)]
    jan, feb = sorted((i for i in quarter.invoices().values()
                       if i.client_id == "NEVER" and i.issue_date > NOV_30),
                      key=lambda i: i.issue_date)
    assert (jan.subtotal, jan.tax, jan.total) == (D("54.99"), D("5.00"), D("59.99"))
    assert (feb.subtotal, feb.tax, feb.total) == (D("59.99"), D("5.00"), D("64.99"))


def test_owner_suspended_client_is_billed_and_reminded_but_never_touched(quarter):
    assert quarter.clients()["OWNERSUS"].status == "suspended"
    assert not [a for a in quarter.activity() if a["client_id"] == "OWNERSUS"
                and a["action"] in ("client_suspended", "client_reconnected")]
    assert sum(1 for i in quarter.invoices().values() if i.client_id == "OWNERSUS") == 3
    assert any(kind == "reminder" for _, kind in _kinds(quarter, "OWNERSUS"))


def test_bounced_check_reopens_the_invoice_and_reminders_resume_at_the_stage_due(quarter):
    dec = next(i for i in quarter.invoices().values()
               if i.client_id == "BOUNCE" and i.issue_date == NOV_30)
    assert dec.status == "open" and dec.balance == D("54.99")
    reminders = [(m.day, m.key) for m in quarter.mails_to("BOUNCE") if m.kind == "reminder"]
    # paid Dec 10 → nothing on Dec 15 or 18; bounced Dec 20 → the stage due then
    # (first_reminder), then the later ones on their days
    assert [day for day, _ in reminders][:3] == [dt.date(2026, 12, 20), dt.date(2026, 12, 22),
                                                 dt.date(2026, 12, 29)]


def test_tax_exempt_school_pays_no_tax(quarter):
    invoices = [i for i in quarter.invoices().values() if i.client_id == "EXEMPT"]
    assert [(i.subtotal, i.tax, i.total) for i in invoices] == [(D("49.99"), 0, D("49.99"))] * 3


def test_a_client_with_nothing_owed_is_never_reminded_fined_or_suspended(quarter):
    for day, report in quarter.reports:
        snapshot = report.snapshot
        assert snapshot is not None
        owed = {c: b for c, b in snapshot.balances.items()}
        for what, client, _detail in report.plan:
            if what in ("reminder", "late fee", "suspend"):
                assert owed.get(client, 0) > 0, (day, what, client)


def test_balances_add_up_every_day(quarter):
    payments = quarter.book().payments
    for day, report in quarter.reports:
        snapshot = report.snapshot
        live = [i for i in snapshot.invoices if i.status != "void"]
        received = sum((p.amount for p in payments if p.date <= day), D(0))
        assert sum(snapshot.balances.values()) == sum(i.total for i in live) - received, day
        assert all(i.balance == i.total - i.paid for i in live), day


def test_the_workbook_agrees_with_the_journal_at_the_end(quarter):
    book = quarter.book()
    numbers = sorted(i.invoice_number for i in book.invoices)
    assert numbers == [f"INV-{n:05d}" for n in range(1, len(numbers) + 1)]
    assert len(numbers) == 21
    lines = quarter.sheet("InvoiceLines")
    assert {r["invoice_number"] for r in lines} == set(numbers)
    balances = {c.client_id: c.balance for c in book.clients}
    for client_id, balance in balances.items():
        owed = sum((i.balance for i in book.invoices if i.client_id == client_id), D(0))
        credit = sum((p.unapplied or 0 for p in book.payments if p.client_id == client_id), D(0))
        assert balance == owed - credit, client_id
