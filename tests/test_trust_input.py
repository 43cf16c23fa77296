"""Implausible input never becomes money: dates outside a plausible window are errors naming
their likely cause, and an invoice far outside what the client normally pays is held."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
from decimal import Decimal

import openpyxl
import pytest

from ispsheets.book.changes import ChangeSet, SetCell
from ispsheets.book.parse import DateWindow
from tests.scenario import Business, row

D = Decimal
NOV_30 = dt.date(2026, 11, 30)


def _rows(**services: dict[str, object]) -> dict[str, list[tuple[object, ...]]]:
    """One client per service, monthly Home at 49.99 unless the service says otherwise."""
    packages = [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                    interval="monthly"),
                row("Packages", package_id="YEAR", name="Home annual", price=D("499.00"),
                    interval="annual", setup_fee=D("99.00"))]
    clients, rows = [], []
    for client_id, fields in services.items():
        clients.append(row("Clients", client_id=client_id, name=f"Client {client_id}",
                           email=f"{client_id.lower()}@x.example", status="active"))
        rows.append(row("Services", **{"service_id": f"S-{client_id}", "client_id": client_id,
                                       "package_id": "HOME",
                                       "start_date": dt.date(2026, 12, 1), **fields}))
    return {"Packages": packages, "Clients": clients, "Services": rows}


# -- implausible dates -------------------------------------------------------------------


def test_a_15_typed_into_a_date_cell_is_an_error_and_bills_nothing(tmp_path):
    business = Business.create(tmp_path, _rows(OK={}, TYPO={}))
    # the owner types 15 into the date-formatted start_date cell: Excel shows 1900-01-15
    book = openpyxl.load_workbook(business.workbook)
    cell = book["Services"]["D3"]
    cell.value, cell.number_format = 15, "yyyy-mm-dd"
    book.save(business.workbook)
    assert business.sheet("Services")[1]["start_date"] == dt.date(1900, 1, 15)
    report = business.run(NOV_30)
    assert report.exit_code == 1
    assert [i.client_id for i in report.issued] == ["OK"]
    [problem] = [p for p in report.problems if p.where == "Services!D3"]
    assert "a number typed into a date cell?" in problem.message
    assert "shows 15 as 1900-01-15" in problem.message
    assert any(p.where == "Services!3:3" and "row skipped" in p.message
               for p in report.problems)
    assert [m.to for m in business.mails()] == ["ok@x.example"]
    assert set(business.invoices()) == {"INV-00001"}


def test_a_year_typed_as_1026_is_an_error_naming_the_typo(tmp_path):
    business = Business.create(tmp_path, _rows(OK={}, TYPO={"start_date": "12/01/1026"}))
    report = business.run(NOV_30)
    assert report.exit_code == 1
    assert [i.client_id for i in report.issued] == ["OK"]
    [problem] = [p for p in report.problems if p.where == "Services!D3"]
    assert problem.is_error
    assert "'12/01/1026' reads as 1026-12-01" in problem.message
    assert "a typo in the year?" in problem.message
    assert report.billed_total == D("49.99")


def test_every_owner_date_column_is_checked(tmp_path):
    rows = _rows(OK={}, END={"end_date": "12/31/2099"}, MOVED={"billed_through": "11/30/1926"},
                 CHG={}, PAY={})
    rows["Charges"] = [row("Charges", charge_id="CHG-1", client_id="CHG",
                           date=dt.date(1999, 12, 31), description="router", amount=D("80"))]
    rows["Payments"] = [row("Payments", payment_id="PAY-1", client_id="PAY",
                            date="1/5/2207", amount=D("49.99"), method="cash")]
    business = Business.create(tmp_path, rows)
    report = business.run(NOV_30)
    errors = {p.where: p.message for p in report.problems if p.is_error}
    assert "more than 5 years after today (2026-11-30)" in errors["Services!E3"]
    assert any(p.where == "Services!E3" and p.fix.endswith("or clear end_date if the service "
                                                            "goes on") for p in report.problems)
    assert "before 2000-01-01" in errors["Services!I4"]
    assert "1999-12-31 is before 2000-01-01" in errors["Charges!C2"]
    assert "2207-01-05" in errors["Payments!B2"]
    assert {f"{tab}!{n}:{n}" for tab, n in (("Services", 3), ("Services", 4), ("Charges", 2),
                                             ("Payments", 2))} <= set(errors)
    # only the services whose rows are fine are billed; the charge is not
    assert sorted(i.client_id for i in report.issued) == ["CHG", "OK", "PAY"]
    assert all(len(i.lines) == 1 for i in report.issued)


def test_the_check_command_names_the_cell_and_the_cause(tmp_path):
    from ispsheets.book.check import read_and_check

    business = Business.create(tmp_path, _rows(TYPO={"start_date": "12/01/1026"}))
    _, problems = read_and_check(business.config, today=NOV_30)
    assert any(p.where == "Services!D2" and "typo in the year" in p.message for p in problems)


@pytest.mark.parametrize(("cell", "cause"), [
    (dt.datetime(1905, 7, 18), "a number typed into a date cell? (a date cell shows 2026 as "),
    (dt.datetime(1909, 12, 31), "a number typed into a date cell?"),
    (dt.datetime(1910, 1, 1), "1910-01-01 is before 2000-01-01: a typo in the year?"),
    (20000, "1954-10-03 is before 2000-01-01: a number typed into a date cell? (a date cell "
            "shows 20000 as"),
    ("1/1/1999", "'1/1/1999' reads as 1999-01-01, before 2000-01-01: a typo in the year?")])
def test_the_cause_named_fits_what_was_in_the_cell(cell, cause):
    from ispsheets.book.parse import parse_date

    day = parse_date(cell)
    assert isinstance(day, dt.date)
    invalid = DateWindow.around(NOV_30).check(day, cell)
    assert invalid is not None and cause in invalid.message


@pytest.mark.parametrize(("day", "plausible"), [
    (dt.date(1999, 12, 31), False), (dt.date(2000, 1, 1), True),
    (dt.date(2031, 11, 30), True), (dt.date(2031, 12, 1), False)])
def test_the_window_runs_from_2000_to_five_years_after_the_run(day, plausible):
    window = DateWindow.around(NOV_30)
    assert (window.check(day, day) is None) is plausible


# -- held invoices -----------------------------------------------------------------------


def _held_rows() -> dict[str, list[tuple[object, ...]]]:
    rows = _rows(CATCHUP={"start_date": dt.date(2026, 10, 1)},  # Oct, Nov and Dec at once
                 NEW={"start_date": dt.date(2026, 11, 10), "package_id": "SETUP"},
                 ANNUAL={"start_date": dt.date(2026, 11, 10), "package_id": "YEAR"},
                 INSTALL={"start_date": dt.date(2026, 12, 1), "package_id": "INSTALL"},
                 TYPO={"start_date": dt.date(2025, 12, 1)})  # 13 months at once
    rows["Packages"].append(row("Packages", package_id="SETUP", name="Home installed",
                                price=D("49.99"), interval="monthly", setup_fee=D("150.00")))
    rows["Packages"].append(row("Packages", package_id="INSTALL", name="Home with a tower",
                                price=D("49.99"), interval="monthly", setup_fee=D("650.00")))
    return rows


def _cli(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "ispsheets", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _status(business: Business, day: dt.date) -> str:
    from rich.console import Console

    from ispsheets.status import show_status

    console = Console(file=io.StringIO(), width=200)
    show_status(business.config, day, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_a_13_period_invoice_is_held_until_the_owner_opens_it(tmp_path):
    business = Business.create(tmp_path, _held_rows())
    result = _cli("run", "--date", "2026-11-30", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    invoices = {i.client_id: i for i in business.invoices().values()}
    held = invoices["TYPO"]
    # a normal catch-up, a setup fee with a first prorated period, an annual plan: not held
    assert {c: i.status for c, i in invoices.items()} == {
        "ANNUAL": "open", "CATCHUP": "open", "INSTALL": "open", "NEW": "open", "TYPO": "held"}
    assert invoices["INSTALL"].total == D("699.99")  # 14 times the price, but a setup fee
    lines = [r for r in business.sheet("InvoiceLines")
             if r["invoice_number"] == held.invoice_number]
    assert len(lines) == 13 and held.total == D("649.87")
    assert held.balance == 0 and business.clients()["TYPO"].balance == 0
    assert sorted(m.to for m in business.mails()) == [
        "annual@x.example", "catchup@x.example", "install@x.example", "new@x.example"]
    assert not (tmp_path / "invoices" / f"{held.invoice_number}.pdf").exists()
    [activity] = business.activity("invoice_held")
    assert activity["invoice_number"] == held.invoice_number
    assert "13 periods of service S-TYPO at once" in str(activity["detail"])
    summary = " ".join(result.stdout.split())
    assert "Invoices held for your check" in summary
    assert re.search(rf"{held.invoice_number}\W+TYPO\W+\$649\.87\W+13 periods", summary)
    assert "4 invoices issued" in summary and "1 invoice held" in summary
    assert "$1,711.65 billed" in summary  # the held $649.87 is not billed yet
    report = openpyxl.load_workbook(tmp_path / "reports" / "ispsheets-report-2026-11-30.xlsx")
    metrics = {r[0]: r[1] for r in report["Summary"].iter_rows(min_row=5, values_only=True)}
    assert metrics["Held invoices (1)"] == 649.87
    assert metrics["Outstanding"] == 1711.65
    status = " ".join(_status(business, dt.date(2026, 12, 1)).split())
    assert "Held invoices" in status
    assert "The run of 2026-12-01 has nothing to do" in status  # no email for the held one
    assert re.search(rf"{held.invoice_number}\W+TYPO\W+2026-11-30\W+\$649\.87\W+13 periods",
                     status)

    # weeks later, past every collection threshold of its old due date: nothing for it
    business.run(dt.date(2027, 1, 10))
    typo_mail = [m for m in business.mails_to("TYPO")]
    assert [m.kind for m in typo_mail] == ["invoice"]  # January's normal invoice only
    assert held.invoice_number not in typo_mail[0].subject
    assert business.clients()["TYPO"].status == "active"
    assert not [a for a in business.activity("late_fee_added") if a["client_id"] == "TYPO"]

    # the owner checks it and sets it to open: the next run sends it, due 15 days later
    business.edit(ChangeSet(sets=(SetCell("Invoices", held.invoice_number, "status", "open"),)))
    business.run(dt.date(2027, 1, 11))
    [released] = business.activity("invoice_released")
    assert released["invoice_number"] == held.invoice_number
    [mail] = [m for m in business.mails_to("TYPO") if held.invoice_number in m.subject]
    assert mail.day == dt.date(2027, 1, 11) and "$649.87" in mail.subject
    assert "Jan 26, 2027" in mail.subject
    now = business.invoices()[held.invoice_number]
    assert (now.status, now.balance, now.due_date) == ("open", D("649.87"),
                                                       dt.date(2027, 1, 26))
    assert business.clients()["TYPO"].balance == D("649.87") + D("49.99")


def test_a_held_invoice_the_owner_voids_is_never_sent(tmp_path):
    business = Business.create(tmp_path, _held_rows())
    business.run(NOV_30)
    [held] = [i for i in business.invoices().values() if i.status == "held"]
    business.edit(ChangeSet(sets=(SetCell("Invoices", held.invoice_number, "status", "void"),)))
    report = business.run(dt.date(2026, 12, 1))
    assert report.held == [] and business.invoices()[held.invoice_number].status == "void"
    assert business.mails_to("TYPO") == [] and business.activity("invoice_released") == []


def test_each_hold_threshold_holds_just_above_it_and_not_at_it(tmp_path):
    rows = _rows(P6={"start_date": dt.date(2026, 7, 1)},  # Jul-Dec: 6 periods
                 P7={"start_date": dt.date(2026, 6, 1)},  # Jun-Dec: 7 periods
                 M10={}, M10X={},  # 49.99 and a charge: 10.0 times 49.99, and a cent more
                 Y={"package_id": "YEAR"}, YX={"package_id": "YEAR"})  # 499 + setup 99
    rows["Charges"] = [row("Charges", charge_id=f"C-{client}", description="router",
                           client_id=client, date=NOV_30, amount=D(amount))
                       for client, amount in (("M10", "449.91"), ("M10X", "449.92"),
                                              ("YX", "0.01"))]
    business = Business.create(tmp_path, rows, config="""
        invoicing: {hold_above_amount: 598.00}
        """)
    report = business.run(NOV_30)
    assert report.exit_code == 0
    held = {invoice.client_id: reason for invoice, reason in report.held}
    assert sorted(held) == ["M10X", "P7", "YX"]
    assert "7 periods of service S-P7 at once (more than invoicing.hold_above_periods, 6)" \
        in held["P7"]
    assert "$499.91 before tax is 10.0 times the $49.99" in held["M10X"]
    assert "the total $598.01 is above invoicing.hold_above_amount ($598.00)" in held["YX"]
    totals = {i.client_id: i.total for i in business.invoices().values()}
    assert (totals["P6"], totals["M10"], totals["Y"]) == (D("299.94"), D("499.90"), D("598.00"))
    assert sorted(m.to.split("@")[0] for m in business.mails()) == ["m10", "p6", "y"]


def test_a_rule_set_to_0_is_off(tmp_path):
    business = Business.create(tmp_path, _rows(TYPO={"start_date": dt.date(2025, 12, 1)}),
                               config="""
        invoicing: {hold_above_periods: 0, hold_above_multiple: 0}
        """)
    report = business.run(NOV_30)
    assert report.held == [] and len(business.mails_to("TYPO")) == 1


# -- promises the tool cannot keep -------------------------------------------------------

PAY_BY_TRANSFER = """
    invoicing: {payment_instructions: "Bank transfer to First Prairie Bank, account 000123456."}
    """


def _autopay_business(tmp_path, stripe: str = "") -> Business:
    rows = _rows(AUTO={}, CARD={}, PLAIN={})
    rows["Clients"] = [
        row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example",
            status="active", autopay=autopay, stripe_customer_id=customer)
        for c, autopay, customer in (("AUTO", "yes", None), ("CARD", "yes", "cus_123"),
                                     ("PLAIN", "no", "cus_456"))]
    return Business.create(tmp_path, rows, config=PAY_BY_TRANSFER + stripe)


# Stripe configured but out of reach (a closed port): the run cannot learn of any card
UNREACHABLE_STRIPE = """
    stripe: {api_base: "http://127.0.0.1:9"}
    """


def test_an_autopay_client_without_a_card_on_file_is_asked_to_pay_as_usual(
        tmp_path, monkeypatch):
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_123")  # a key, but no card known
    business = _autopay_business(tmp_path, UNREACHABLE_STRIPE)
    business.run(NOV_30)
    for client in ("AUTO", "CARD"):
        [mail] = business.mails_to(client)
        assert "autopay" not in mail.text.lower() and "charge your card" not in mail.text
        assert "How to pay: Bank transfer to First Prairie Bank" in mail.text
        html = mail.path.read_text()
        assert "Autopay is on" not in html and "First Prairie Bank" in html


def test_the_invoice_says_autopay_only_when_a_charge_will_be_attempted(tmp_path, monkeypatch):
    from ispsheets.steps import deliver

    # the journal knows a card for CARD and PLAIN (as Stripe told an earlier run)
    monkeypatch.setattr(deliver, "cards_on_file", lambda cycle: {"CARD": True, "PLAIN": True})
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_123")
    business = _autopay_business(tmp_path, UNREACHABLE_STRIPE)
    business.run(NOV_30)
    said = {c: "Autopay is on" in business.mails_to(c)[0].text for c in ("AUTO", "CARD", "PLAIN")}
    # CARD: autopay, a key and a card on file; PLAIN has a card but autopay = no
    assert said == {"AUTO": False, "CARD": True, "PLAIN": False}


def test_check_warns_once_that_autopay_has_no_effect_while_card_payments_are_off(tmp_path):
    _autopay_business(tmp_path)
    result = _cli("check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    text = " ".join((result.stdout + result.stderr).split())
    assert text.count("autopay = yes") == 1
    assert ("warning Clients!G:G: 2 clients have autopay = yes (AUTO, CARD), which has no "
            "effect: card payments are off (no Stripe key in STRIPE_SECRET_KEY)") in text


def test_a_final_notice_threatens_suspension_only_where_it_would_happen(tmp_path):
    rows = _rows(SMALL={}, BIG={"quantity": 3})
    business = Business.create(tmp_path, rows, config="""
        collections: {suspend_min_balance: 100.00}
        """)
    business.run(NOV_30)
    business.run(dt.date(2026, 12, 29))  # 14 days past the Dec 15 due date: final notices
    notices = {c: [m for m in business.mails_to(c) if m.subject.startswith("Final notice")]
               for c in ("SMALL", "BIG")}
    assert "will be suspended" in notices["BIG"][0].text
    assert "suspended" not in notices["SMALL"][0].text + notices["SMALL"][0].subject


def test_a_suspension_email_waits_until_the_router_command_has_really_run(tmp_path):
    business = Business.create(tmp_path, _rows(LATE={}), config="""
        collections: {provisioning: {suspend_command: "test -f router-up"}}
        """)
    business.run(NOV_30)
    report = business.run(dt.date(2027, 1, 5))  # 21 days past the Dec 15 due date
    assert business.clients()["LATE"].status == "suspended"
    assert any("the command failed" in p.message for p in report.problems)
    assert not [m for m in business.mails_to("LATE") if m.kind == "suspend"]
    business.run(dt.date(2027, 1, 6))  # the router is still down: still no email
    assert not [m for m in business.mails_to("LATE") if m.kind == "suspend"]
    (tmp_path / "router-up").touch()  # the router answers again
    business.run(dt.date(2027, 1, 7))
    [mail] = [m for m in business.mails_to("LATE") if m.kind == "suspend"]
    assert mail.day == dt.date(2027, 1, 7) and "suspended" in mail.subject


def test_a_held_invoice_stays_held_after_the_journal_is_rebuilt(tmp_path):
    business = Business.create(tmp_path, _held_rows())
    assert _cli("run", "--date", "2026-11-30", cwd=tmp_path).returncode == 0
    held = next(i for i in business.invoices().values() if i.client_id == "TYPO")
    assert held.status == "held"
    (tmp_path / "ispsheets.db").unlink()
    recovered = _cli("recover-journal", cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    later = _cli("run", "--date", "2026-12-20", cwd=tmp_path)
    assert later.returncode in (0, 1), later.stdout + later.stderr
    assert business.invoices()[held.invoice_number].status == "held"
    assert not [m for m in business.mails() if m.to == "typo@x.example"]
