"""The shortcuts the invoice PDF takes write the bytes reportlab itself writes: a font or colour
set again from the operators of its first use, the built-in encoding worked out once, money
texts remembered."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import Encoding

from ispsheets.delivery import pdf
from ispsheets.delivery.document import money_text
from ispsheets.delivery.pdf import invoice_pdf
from ispsheets.money import format_money
from ispsheets.payments.account import AccountSummary
from tests.test_pdf import CLIENT, KNOWN, LINK, _doc

D = Decimal


def _every_switch_through_reportlab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf._Painter, "_set_font",
                        lambda self, t, font, size: t.setFont(font, size))
    monkeypatch.setattr(pdf._Painter, "_set_fill",
                        lambda self, t, color: t.setFillColor(color))


@pytest.mark.parametrize("doc", [
    _doc(link=LINK),  # Helvetica, a QR code and links
    _doc(lines=KNOWN * 30),  # pages after the first
    dataclasses.replace(_doc(), account=AccountSummary(D("10"), D("5"), D("49.99"), D("-3"),
                                                      None)),
    _doc(client=dataclasses.replace(CLIENT, name="Nguyễn Văn Ánh")),  # an embedded font
    dataclasses.replace(_doc(), paper="A4", footer="Thank you (really) \\ €"),
], ids=["helvetica", "pages", "account", "embedded", "a4"])
def test_fonts_and_colours_set_again_give_the_bytes_reportlab_writes(doc, monkeypatch):
    quick = invoice_pdf(doc)
    _every_switch_through_reportlab(monkeypatch)
    assert invoice_pdf(doc) == quick


def test_the_built_in_encoding_is_the_one_reportlab_works_out():
    invoice_pdf(_doc())
    for name in ("Helvetica", "Helvetica-Bold"):
        encoding = pdfmetrics.getFont(name).encoding
        assert encoding.makePDFObject() == Encoding.makePDFObject(encoding) == "/WinAnsiEncoding"


@pytest.mark.parametrize("amount,currency", [
    ("0", "USD"), ("-0.00", "USD"), ("1.005", "USD"), ("1.0050", "USD"), ("-5.5", "EUR"),
    ("1234567.895", "USD"), ("-3", "JPY"), ("2.5", "JPY"), ("0.0005", "KWD"), ("7", "XYZ"),
])
def test_a_remembered_money_text_is_the_one_format_money_writes(amount, currency):
    assert money_text(D(amount), currency) == format_money(D(amount), currency)
    assert money_text(D(amount), currency) == format_money(D(amount), currency)  # remembered
