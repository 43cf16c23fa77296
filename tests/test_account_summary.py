"""Invoices carry the account: previous balance, payments since, this invoice, total due."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from decimal import Decimal

from pypdf import PdfReader

from ispsheets.book.records import Invoice, Payment
from ispsheets.payments.account import account_summary
from tests.scenario import Business, row

D = Decimal


def _invoice(number: str, issued: dt.date, total: str, status: str = "open") -> Invoice:
    return Invoice(number, "C", issued, None, None, issued + dt.timedelta(days=15), D(total),
                   D("0"), D(total), status=status)


def _payment(day: dt.date, amount: str) -> Payment:
    return Payment(f"P{day.isoformat()}", day, "C", D(amount))


def test_owing_49_99_paying_20_then_billed_54_99_is_84_98_due():
    first = _invoice("INV-1", dt.date(2026, 10, 31), "49.99")
    second = _invoice("INV-2", dt.date(2026, 11, 30), "54.99")
    summary = account_summary(second, [first, second], [_payment(dt.date(2026, 11, 10), "20")],
                              D("84.98"), dt.date(2026, 11, 30))
    assert summary is not None
    assert (summary.previous_balance, summary.payments, summary.this_invoice,
            summary.total_due) == (D("49.99"), D("20.00"), D("54.99"), D("84.98"))
    assert summary.since == dt.date(2026, 10, 31)
    assert summary.previous_balance - summary.payments + summary.this_invoice \
        == summary.total_due


def test_a_payment_dated_the_previous_invoice_day_was_on_that_invoice_not_this_one():
    first = _invoice("INV-1", dt.date(2026, 10, 31), "49.99")
    second = _invoice("INV-2", dt.date(2026, 11, 30), "49.99")
    summary = account_summary(second, [first, second], [_payment(dt.date(2026, 10, 31), "10")],
                              D("89.98"), dt.date(2026, 11, 30))
    assert summary is not None and summary.payments == 0
    assert summary.previous_balance == D("39.99")


def test_a_first_invoice_has_nothing_more_to_tell():
    first = _invoice("INV-1", dt.date(2026, 10, 31), "49.99")
    summary = account_summary(first, [first], [], D("49.99"), dt.date(2026, 10, 31))
    assert summary is not None and not summary.tells_more


def test_credit_on_account_is_carried_forward_as_a_negative_total():
    first = _invoice("INV-1", dt.date(2026, 10, 31), "49.99", status="paid")
    second = _invoice("INV-2", dt.date(2026, 11, 30), "49.99")
    summary = account_summary(second, [first, second], [_payment(dt.date(2026, 11, 5), "150")],
                              D("-50.02"), dt.date(2026, 11, 30))
    assert summary is not None
    assert summary.previous_balance == D("49.99") and summary.total_due == D("-50.02")


def test_an_older_invoice_sent_late_carries_no_summary_and_void_ones_do_not_count():
    first = _invoice("INV-1", dt.date(2026, 10, 31), "49.99")
    second = _invoice("INV-2", dt.date(2026, 11, 30), "49.99")
    voided = _invoice("INV-3", dt.date(2026, 12, 5), "10.00", status="void")
    assert account_summary(first, [first, second], [], D("99.98"), dt.date(2026, 12, 1)) is None
    assert account_summary(second, [first, second, voided], [], D("99.98"),
                           dt.date(2026, 12, 6)) is not None


def test_the_invoice_pdf_and_email_show_the_account_the_client_owes(tmp_path):
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id="AMY", name="Amy Ames", email="amy@x.example")],
        "Services": [row("Services", service_id="S-AMY", client_id="AMY", package_id="HOME",
                         start_date=dt.date(2026, 11, 1))],
    }
    business = Business.create(tmp_path, rows)
    business.run_days(dt.date(2026, 10, 31), dt.date(2026, 11, 9))
    business.pay("AMY", "20.00", dt.date(2026, 11, 10))
    business.run_days(dt.date(2026, 11, 10), dt.date(2026, 11, 30))
    # INV-00002: Dec service 49.99 + the 5.00 late fee for INV-00001 (added Nov 29)
    assert business.invoices()["INV-00002"].total == D("54.99")
    assert business.clients()["AMY"].balance == D("84.98")

    [mail] = [m for m in business.mails_to("AMY") if m.subject.startswith("Invoice INV-00002")]
    text = re.sub(r" +", " ", mail.text)
    assert "Previous balance $49.99" in text
    assert "Payments since Oct 31, 2026 -$20.00" in text
    assert "This invoice $54.99" in text
    assert "Total amount due $84.98" in text

    pdf = " ".join(page.extract_text() for page in
                   PdfReader(business.folder / "invoices" / "INV-00002.pdf").pages)
    pdf = re.sub(r"\s+", " ", pdf)
    assert "TOTAL AMOUNT DUE $84.98" in pdf
    assert "ACCOUNT SUMMARY" in pdf and "Previous balance $49.99" in pdf
    assert "Total amount due $84.98" in pdf
    first = " ".join(p.extract_text() for p in
                     PdfReader(business.folder / "invoices" / "INV-00001.pdf").pages)
    assert "ACCOUNT SUMMARY" not in first  # a first invoice is its own account


def test_a_prorated_line_shows_the_price_of_the_days_billed_so_the_columns_multiply(tmp_path):
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("39.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id="AMY", name="Amy Ames", email="amy@x.example")],
        "Services": [row("Services", service_id="S-AMY", client_id="AMY", package_id="HOME",
                         start_date=dt.date(2026, 12, 27))],
    }
    business = Business.create(tmp_path, rows)
    business.run(dt.date(2026, 12, 27))
    [invoice] = business.invoices().values()
    # Dec 27-31: 5 of 31 days of 39.99 = 6.45; then January in full
    text = re.sub(r"\s+", " ", " ".join(
        p.extract_text() for p in PdfReader(business.folder / "invoices" /
                                            f"{invoice.invoice_number}.pdf").pages))
    assert "(5 of 31 days) 1 $6.45 $6.45" in text
    assert "$39.99 $6.45" not in text


def test_a_tax_exempt_clients_invoice_says_so(tmp_path):
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("40.00"),
                         interval="monthly", tax_rate=D("8.25"))],
        "Clients": [row("Clients", client_id="SCH", name="Prairie School", email="s@x.example",
                        tax_exempt="yes"),
                    row("Clients", client_id="AMY", name="Amy Ames", email="amy@x.example")],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in ("SCH", "AMY")],
    }
    business = Business.create(tmp_path, rows)
    business.run(dt.date(2026, 11, 30))
    invoices = {i.client_id: i for i in business.invoices().values()}
    assert invoices["SCH"].tax == 0 and invoices["AMY"].tax == D("3.30")

    def pdf_text(client: str) -> str:
        path = business.folder / "invoices" / f"{invoices[client].invoice_number}.pdf"
        return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(path).pages))

    assert "Tax (exempt) $0.00" in pdf_text("SCH")
    assert "exempt" not in pdf_text("AMY")
    [mail] = [m for m in business.mails_to("SCH") if m.kind == "invoice"]
    assert "Tax: exempt (none charged)" in re.sub(r" +", " ", mail.text)


def test_the_html_invoice_email_leads_with_the_total_the_account_owes(tmp_path):
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id="AMY", name="Amy Ames", email="amy@x.example")],
        "Services": [row("Services", service_id="S-AMY", client_id="AMY", package_id="HOME",
                         start_date=dt.date(2026, 11, 1))],
    }
    business = Business.create(tmp_path, rows)
    business.run(dt.date(2026, 10, 31))
    business.run(dt.date(2026, 11, 30))  # INV-00001 unpaid: 49.99 + INV-00002's 49.99
    [mail] = [m for m in business.mails_to("AMY") if m.subject.startswith("Invoice INV-00002")]
    message = email.message_from_bytes(mail.path.read_bytes(), policy=email.policy.default)
    html = re.sub(r"<[^>]+>", " ", message.get_body(("html",)).get_content())
    html = re.sub(r"\s+", " ", html)
    assert "Total amount due $99.98 This invoice $49.99, due Dec 15, 2026" in html
    first = [m for m in business.mails_to("AMY") if m.subject.startswith("Invoice INV-00001")]
    body = email.message_from_bytes(first[0].path.read_bytes(), policy=email.policy.default)
    assert "Total amount due" not in body.get_body(("html",)).get_content()
