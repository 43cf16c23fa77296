"""Email templates and the MIME message: subjects, worked amounts, escaping, overrides."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal

import pytest

from ispsheets.book.records import Client, Payment
from ispsheets.config import load_config
from ispsheets.delivery.document import CompanyInfo
from ispsheets.delivery.mailer import Outbox, mailer_from_config
from ispsheets.delivery.messages import (
    KINDS,
    Attachment,
    EmailContext,
    InvoiceSummary,
    MessageError,
    Sender,
    check_templates,
    compose,
    context_from_config,
    render,
    sample_context,
)

TODAY = dt.date(2026, 12, 18)
COMPANY = CompanyInfo("Prairie Wireless", "412 Main Street; Springfield, IL 62701",
                      "billing@prairiewireless.net", "(217) 555-0142", "prairiewireless.net",
                      brand_color="#0B6E4F")
CLIENT = Client("C0042", "Zoë Ashford", ("zoe@example.com", "accounts@example.com"))


def _summary(number: str = "INV-00042", due: dt.date = dt.date(2026, 12, 15),
             total: str = "54.11", paid: str = "0", link: str = "") -> InvoiceSummary:
    total_d, paid_d = Decimal(total), Decimal(paid)
    return InvoiceSummary(number, due - dt.timedelta(days=15), due, dt.date(2026, 12, 1),
                          dt.date(2026, 12, 31), total_d, paid_d, total_d - paid_d,
                          max((TODAY - due).days, 0), link)


def _context(**kw) -> EmailContext:
    kw.setdefault("invoices", (_summary(),))
    return EmailContext(COMPANY, kw.pop("client", CLIENT), TODAY, **kw)


def _compose(kind: str, ctx: EmailContext, **kw):
    return compose(kind, ctx, to=CLIENT.emails, key=f"{kind}/test",
                   from_address="billing@prairiewireless.net", from_name="Prairie Wireless",
                   **kw)


TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_subject_a_tag_free_text_part_and_an_html_part(kind):
    subject, text, html = render(kind, sample_context().variables())
    assert subject and "\n" not in subject
    assert text.startswith("Hello Zoë Ashford,")
    assert not TAG.search(text), TAG.search(text)
    assert "Prairie Wireless" in text
    assert html.startswith("<!DOCTYPE html>")
    assert "Hello Zoë Ashford," in html
    assert "\n\n\n" not in text


def test_invoice_54_11_due_dec_15_subject_and_amounts():
    msg = _compose("invoice", _context(pay_link="https://pay.example.com/x?a=1&b=2"))
    assert msg.subject == "Invoice INV-00042 from Prairie Wireless: $54.11 due Dec 15, 2026"
    assert "Amount due:     $54.11" in msg.text
    assert "Due date:       Dec 15, 2026" in msg.text
    assert "for Dec 1 – Dec 31, 2026" in msg.text
    assert "Pay online: https://pay.example.com/x?a=1&b=2" in msg.text
    assert 'href="https://pay.example.com/x?a=1&amp;b=2"' in msg.html
    assert "#0B6E4F" in msg.html  # brand colour
    assert msg.client_id == "C0042" and msg.invoice_number == "INV-00042"


def test_invoice_says_the_card_will_be_charged_when_a_charge_will_be_attempted():
    autopay = dataclasses.replace(CLIENT, autopay=True)
    msg = _compose("invoice", _context(client=autopay, autopay=True,
                                       pay_link="https://pay.example.com/x"))
    assert "we will charge your card on file for $54.11" in msg.text
    assert "Pay online" not in msg.text


def test_invoice_for_autopay_yes_with_no_charge_coming_says_how_to_pay():
    autopay = dataclasses.replace(CLIENT, autopay=True)
    msg = _compose("invoice", _context(client=autopay, payment_instructions="Bank transfer."))
    assert "card" not in msg.text and "card" not in msg.html
    assert "How to pay: Bank transfer." in msg.text


def test_invoice_covered_by_credit_says_nothing_to_pay():
    msg = _compose("invoice", _context(invoices=(_summary(paid="54.11"),)))
    assert "Amount due:     $0.00" in msg.text
    assert "nothing to pay" in msg.text
    assert msg.subject == "Invoice INV-00042 from Prairie Wireless"


def test_client_named_script_is_escaped_in_html_and_plain_in_text():
    evil = Client("C0666", "<script>alert(1)</script>", ("x@example.com",))
    msg = _compose("invoice", _context(client=evil))
    assert "<script>" not in msg.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in msg.html
    assert "Hello <script>alert(1)</script>," in msg.text  # plain text shows the name as typed


def test_reminder_lists_two_overdue_invoices_of_one_client_with_total_64_11():
    ctx = _context(invoices=(_summary("INV-00031", dt.date(2026, 11, 15), "10.00"),
                             _summary("INV-00042", dt.date(2026, 12, 15), "54.11")))
    msg = _compose("reminder", ctx)
    assert msg.subject == "Reminder: 2 invoices overdue, $64.11"
    assert re.search(r"INV-00031 +due Nov 15, 2026 +\$10.00 +33 days overdue", msg.text)
    assert re.search(r"INV-00042 +due Dec 15, 2026 +\$54.11 +3 days overdue", msg.text)
    assert re.search(r"Total +\$64.11", msg.text)
    assert "Your balance is $64.11." in msg.text
    assert msg.html.count("INV-000") == 2


def test_single_reminder_subject_counts_days_overdue():
    msg = _compose("reminder", _context())
    assert msg.subject == "Reminder: invoice INV-00042 is 3 days overdue"


def test_late_fee_warning_names_the_fee_and_the_day_it_lands():
    # Due Dec 15, fee after 14 days: Dec 29.
    msg = _compose("reminder_late_fee_warning",
                   _context(late_fee=Decimal("5.00"), late_fee_after_days=14))
    assert "a late fee applies from Dec 29, 2026" in msg.subject
    assert "To avoid a late fee of $5.00, please pay before Dec 29, 2026." in msg.text


def test_final_notice_names_the_suspension_day_and_reconnection_fee():
    msg = _compose("final_notice", _context(suspend_after_days=21,
                                            reconnection_fee=Decimal("10.00")))
    assert msg.subject == "Final notice: please pay $54.11 to avoid suspension on Jan 5, 2027"
    assert "reconnection fee of $10.00" in msg.text


def test_suspension_and_reconnection_facts():
    suspended = _compose("suspension", _context(suspended_on=dt.date(2027, 1, 5),
                                                reconnection_fee=Decimal("10.00")))
    assert "suspended on Jan 5, 2027" in suspended.text
    back = _compose("reconnection", _context(invoices=(), balance=Decimal("0"),
                                             reconnection_fee=Decimal("10.00")))
    assert back.subject == "Your internet service is back on"
    assert "A reconnection fee of $10.00 will appear on your next invoice." in back.text
    assert "remaining balance" not in back.text


def test_receipt_for_80_paying_54_11_keeps_25_89_credit():
    payment = Payment("P0007", TODAY, "C0042", Decimal("80.00"), "bank transfer", "TX-991")
    msg = _compose("receipt", _context(invoices=(), payment=payment, balance=Decimal("-25.89"),
                                       applied=(("INV-00042", Decimal("54.11")),),
                                       credit=Decimal("25.89")))
    assert msg.subject == "Payment received: $80.00, thank you"
    assert "Method:     bank transfer" in msg.text
    assert re.search(r"INV-00042 +\$54.11", msg.text)
    assert "$25.89 is kept as credit" in msg.text
    assert "You have a credit of $25.89, used on your next invoices." in msg.text
    assert "-$25.89" not in msg.text


def test_autopay_failed_gives_the_reason():
    msg = _compose("autopay_failed", _context(failure_reason="Your card has expired."))
    assert msg.subject == "We could not charge your card for invoice INV-00042"
    assert "did not go through: Your card has expired." in msg.text


def test_euro_amounts_and_day_month_dates():
    ctx = _context(currency="EUR", date_order="DMY",
                   invoices=(_summary(total="1049.99"),))
    msg = _compose("invoice", ctx)
    assert msg.subject == "Invoice INV-00042 from Prairie Wireless: €1,049.99 due 15 Dec 2026"


def test_own_template_folder_overrides_one_file_and_keeps_the_rest(tmp_path):
    (tmp_path / "invoice.txt").write_text(
        '{% extends "_base.txt" %}{% block subject %}Bill {{ invoice.number }}: '
        "{{ invoice.balance|money }}{% endblock %}{% block body %}Pay {{ invoice.balance|money }}"
        " by {{ invoice.due_date|date('YMD') }}.{% endblock %}", encoding="utf-8")
    msg = _compose("invoice", _context(), templates_dir=tmp_path)
    assert msg.subject == "Bill INV-00042: $54.11"
    assert "Pay $54.11 by 2026-12-15." in msg.text
    assert "is attached as a PDF" in msg.html  # the built-in HTML part is still used


def test_broken_own_template_is_a_message_error_and_a_check_problem(tmp_path):
    (tmp_path / "reminder.txt").write_text(
        "{% block subject %}Hi {{ clinet.name }}{% endblock %}", encoding="utf-8")
    with pytest.raises(MessageError, match="clinet"):
        _compose("reminder", _context(), templates_dir=tmp_path)
    problems = check_templates(tmp_path)
    assert [p.message for p in problems] == ["reminder.txt:1: 'clinet' is undefined"]
    assert check_templates() == []


def test_email_message_structure_headers_and_pdf():
    pdf = Attachment("INV-00042.pdf", b"%PDF-1.4 test")
    msg = _compose("invoice", _context(), attachments=[pdf], reply_to="help@example.net",
                   bcc=["owner@example.net"], date=dt.datetime(2026, 11, 30, 6, tzinfo=dt.UTC))
    em = msg.to_email_message()
    assert em.get_content_type() == "multipart/mixed"
    alternative, attached = em.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain",
                                                                         "text/html"]
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_content() == b"%PDF-1.4 test"
    assert em["To"] == "zoe@example.com, accounts@example.com"
    assert em["From"] == "Prairie Wireless <billing@prairiewireless.net>"
    assert em["Reply-To"] == "help@example.net"
    assert em["Bcc"] is None
    assert em["Date"] == "Mon, 30 Nov 2026 06:00:00 +0000"
    assert em["Message-ID"] == msg.message_id
    assert msg.recipients == ("zoe@example.com", "accounts@example.com", "owner@example.net")


def test_attachment_from_a_path_guesses_pdf(tmp_path):
    path = tmp_path / "INV-00042.pdf"
    path.write_bytes(b"%PDF-1.4")
    msg = _compose("invoice", _context(), attachments=[path])
    assert msg.attachments == (Attachment("INV-00042.pdf", b"%PDF-1.4", "application/pdf"),)


CONFIG_YAML = """
company: {name: Prairie Wireless, email: billing@prairiewireless.net, logo: logo.png}
currency: EUR
workbook: {path: isp.xlsx, date_order: DMY}
invoicing: {tax_name: VAT, payment_instructions: IBAN DE89 3704 0044 0532 0130 00}
collections: {late_fee: "7.50", suspend_after_days: 30}
email:
  reply_to: help@prairiewireless.net
  bcc: "owner@prairiewireless.net; books@prairiewireless.net"
  templates_dir: mail
"""


def _config(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG_YAML, encoding="utf-8")
    config, problems = load_config(tmp_path / "config.yaml")
    assert problems == []
    return config


def test_sender_from_config_falls_back_to_the_company_and_splits_bcc(tmp_path):
    sender = Sender.from_config(_config(tmp_path))
    assert sender.from_address == "billing@prairiewireless.net"
    assert sender.from_name == "Prairie Wireless"
    assert sender.reply_to == "help@prairiewireless.net"
    assert sender.bcc == ("owner@prairiewireless.net", "books@prairiewireless.net")
    assert sender.templates_dir == tmp_path.resolve() / "mail"


def test_context_from_config_carries_currency_dates_and_collection_rules(tmp_path):
    ctx = context_from_config(_config(tmp_path), CLIENT, TODAY, invoices=(_summary(),))
    assert (ctx.currency, ctx.date_order, ctx.tax_name) == ("EUR", "DMY", "VAT")
    assert ctx.late_fee == Decimal("7.50") and ctx.suspend_after_days == 30
    assert ctx.company.logo == tmp_path.resolve() / "logo.png"
    msg = _compose("final_notice", ctx)
    # Due 15 Dec 2026 + 30 days = 14 Jan 2027
    assert msg.subject == "Final notice: please pay €54.11 to avoid suspension on 14 Jan 2027"
    assert "IBAN DE89 3704 0044 0532 0130 00" in msg.text


def test_mailer_from_config_is_the_outbox_without_an_smtp_host(tmp_path):
    mailer = mailer_from_config(_config(tmp_path))
    assert isinstance(mailer, Outbox)
    assert mailer.folder == tmp_path.resolve() / "outbox"
