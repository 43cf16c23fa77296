"""A plain invoice's PDF file is written by `pdf_file.plain_pdf` instead of reportlab's object
formatter: byte for byte the file reportlab writes, over invoices of every shape, with or
without a logo; anything else (a pay link, an embedded font) is still saved by reportlab."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
import subprocess
from decimal import Decimal

import pytest
import reportlab
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from ispsheets.book.records import InvoiceLine
from ispsheets.delivery import pdf, pdf_file
from ispsheets.delivery.pdf import invoice_pdf
from ispsheets.payments.account import AccountSummary
from tests.test_pdf import CLIENT, LINK, _company, _doc, _line

D = Decimal


def reportlab_pdf(doc) -> bytes:
    """The file reportlab's own `Canvas.save` writes for `doc`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdf, "plain_pdf", lambda canvas: None)
        return invoice_pdf(doc)


def plain(doc) -> bytes | None:
    """What `plain_pdf` made of `doc`'s canvas (None: left to reportlab)."""
    made: list[bytes | None] = []
    real = pdf_file.plain_pdf

    def spy(canvas: Canvas) -> bytes | None:
        made.append(real(canvas))
        return made[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdf, "plain_pdf", spy)
        invoice_pdf(doc)
    return made[0]


def _lines(count: int, description: str = "Home 100 (100/20 Mbps, unlimited)",
           rate: str = "8.25") -> tuple[InvoiceLine, ...]:
    return tuple(_line(n + 1, f"{description} #{n + 1}", "1", "49.99", "49.99", rate,
                       "4.12" if rate != "0" else "0.00") for n in range(count))


ACCOUNT = AccountSummary(D("10"), D("5"), D("49.99"), D("-3"), None)
LONG = ("Business Fibre 1000 with static IPv4 block /29, managed router, 24/7 support and "
        "a 99.9 % availability promise, billed monthly in advance")


def _shapes() -> dict[str, object]:
    """Invoices of the shapes a run makes: one line, many, tax or none, credit, partly or
    fully paid, long and accented names, several pages, both papers, the account summary."""
    one = (_line(1, "Home 25", "1", "29.00", "29.00", "0", "0.00"),)
    shapes: dict[str, object] = {
        "known": _doc(),
        "one line no tax": _doc(lines=one, paid="0"),
        "one line paid in full": _doc(lines=one, paid="29.00"),
        "partly paid": _doc(paid="13.37"),
        "overpaid, credit": _doc(paid="100.00"),
        "credit note": _doc(lines=(_line(1, "Credit for outage", "1", "-15.00", "-15.00", "0",
                                         "0.00"),), paid="0"),
        "long description": _doc(lines=(_line(1, LONG, "1", "199.00", "199.00", "20",
                                              "39.80"),)),
        "long description x5": _doc(lines=_lines(5, LONG)),
        "accented name": _doc(client=dataclasses.replace(CLIENT, name="Zoë Ñúñez-Ørsted")),
        "long name": _doc(client=dataclasses.replace(
            CLIENT, name="The Very Long Business Name of a Client Incorporated Worldwide "
            "Holdings & Subsidiaries Ltd.")),
        "no address": _doc(client=dataclasses.replace(CLIENT, address="", emails=())),
        "three emails": _doc(client=dataclasses.replace(
            CLIENT, emails=("a@example.com", "b@example.com", "c@example.com", "d@e.com"))),
        "euro": _doc(currency="EUR"),
        "yen": _doc(currency="JPY"),
        "a4": dataclasses.replace(_doc(), paper="A4"),
        "dmy": dataclasses.replace(_doc(), date_order="DMY"),
        "footer with brackets": dataclasses.replace(_doc(), footer="Thanks (really) \\ € 100%"),
        "no footer": dataclasses.replace(_doc(), footer=""),
        "no instructions": dataclasses.replace(_doc(), payment_instructions=""),
        "account summary": dataclasses.replace(_doc(), account=ACCOUNT),
        "account, credit": dataclasses.replace(_doc(), account=AccountSummary(
            D("-80"), D("0"), D("49.99"), D("-30.01"), dt.date(2026, 11, 1))),
        "tax exempt": _doc(client=dataclasses.replace(CLIENT, tax_exempt=True)),
        "zero invoice": _doc(lines=(_line(1, "Free month", "1", "0", "0", "0", "0"),), paid="0"),
        "quantity 3": _doc(lines=(_line(1, "Static IP", "3", "5.00", "15.00", "0", "0.00"),)),
        "no period": _doc(lines=(_line(1, "Setup fee", "1", "99.00", "99.00", "0", "0.00",
                                       period=False),)),
        "period in description": _doc(lines=(_line(
            1, "Home 25 (Dec 1 – Dec 31, 2026)", "1", "29.00", "29.00", "0", "0.00"),)),
    }
    for count in (2, 3, 5, 7, 10, 12, 15, 20, 21, 22, 23, 24, 25, 30, 40, 45, 60, 90):
        shapes[f"{count} lines"] = _doc(lines=_lines(count))
    for count in (18, 19, 20, 21, 22):  # the closing block carried to the next page, or not
        shapes[f"{count} lines, account"] = dataclasses.replace(_doc(lines=_lines(count)),
                                                                account=ACCOUNT)
    for count in (4, 9):
        shapes[f"{count} long lines A4"] = dataclasses.replace(_doc(lines=_lines(count, LONG)),
                                                               paper="A4")
    return shapes


SHAPES = _shapes()


def test_there_are_at_least_50_shapes():
    assert len(SHAPES) >= 50


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_plain_invoice_is_byte_for_byte_the_file_reportlab_writes(name):
    doc = SHAPES[name]
    made = plain(doc)
    assert made is not None, "a plain invoice is written by plain_pdf"
    assert made == reportlab_pdf(doc)
    assert invoice_pdf(doc) == made


@pytest.mark.parametrize("doc", [
    _doc(link=LINK),  # a link annotation and the QR code's form
    _doc(client=dataclasses.replace(CLIENT, name="Nguyễn Văn Ánh")),  # an embedded font
], ids=["pay link", "embedded font"])
def test_anything_else_is_left_to_reportlab(doc):
    assert plain(doc) is None
    assert invoice_pdf(doc) == reportlab_pdf(doc)


@pytest.mark.parametrize("lines", [1, 3, 45], ids=["1 line", "3 lines", "3 pages"])
@pytest.mark.parametrize("mode,size", [("RGB", (60, 20)), ("RGBA", (600, 90)), ("L", (40, 40))],
                         ids=["small rgb", "wide, transparent", "grey"])
def test_an_invoice_with_a_logo_is_the_file_reportlab_writes(tmp_path, lines, mode, size):
    from PIL import Image

    logo = tmp_path / f"logo-{mode}.png"
    Image.new(mode, size, (31, 78, 121, 128)[:len(mode)] if mode != "L" else 90).save(logo)
    doc = dataclasses.replace(_doc(lines=_lines(lines)), company=_company(logo))
    made = plain(doc)
    assert made is not None and b"/Subtype /Image" in made
    assert made == reportlab_pdf(doc)


_CP1252 = st.text(st.characters(codec="cp1252", exclude_categories=("Cc", "Cs")), max_size=60)
_AMOUNT = st.decimals(min_value=D("-999.99"), max_value=D("99999.99"), places=2)


@settings(max_examples=60, deadline=None)
@given(name=_CP1252, descriptions=st.lists(_CP1252, min_size=1, max_size=30),
       amounts=st.lists(_AMOUNT, min_size=30, max_size=30), paid=_AMOUNT,
       account=st.booleans(), paper=st.sampled_from(["letter", "A4"]),
       currency=st.sampled_from(["USD", "EUR", "GBP", "JPY"]), footer=_CP1252,
       number=st.from_regex(r"[A-Z]{1,4}-[0-9]{1,7}", fullmatch=True))
def test_any_plain_invoice_is_the_file_reportlab_writes(name, descriptions, amounts, paid,
                                                        account, paper, currency, footer,
                                                        number):
    lines = tuple(_line(n + 1, text or "x", "1", str(amount), str(amount), "0", "0.00")
                  for n, (text, amount) in enumerate(zip(descriptions, amounts, strict=False)))
    doc = dataclasses.replace(
        _doc(lines=lines, client=dataclasses.replace(CLIENT, name=name), paid=str(paid),
             currency=currency, number=number),
        paper=paper, footer=footer, account=ACCOUNT if account else None)
    made = plain(doc)
    assert made is not None
    assert made == reportlab_pdf(doc)


def test_the_file_reads_back_with_every_page_and_its_text():
    doc = SHAPES["45 lines"]
    reader = PdfReader(io.BytesIO(invoice_pdf(doc)), strict=True)
    assert len(reader.pages) == 3
    text = "".join(page.extract_text() for page in reader.pages)
    assert all(f"#{n}" in text for n in range(1, 46))
    assert reader.metadata.title == "Invoice INV-00042"


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("pdftoppm") or not shutil.which("pdftotext"),
                    reason="poppler-utils not installed")
def test_pages_look_the_same_and_read_the_same_as_reportlabs(tmp_path):
    """A sample of shapes rasterised by poppler from both files: the same pixels, the same
    text (what a reader sees; the bytes being equal makes this so, and it is checked)."""
    for name in ("known", "credit note", "long name", "45 lines", "a4", "account summary"):
        pixels = []
        for which, data in (("plain", invoice_pdf(SHAPES[name])),
                            ("reportlab", reportlab_pdf(SHAPES[name]))):
            path = tmp_path / f"{which}.pdf"
            path.write_bytes(data)
            subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(tmp_path / which)],
                           check=True)
            text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                                  capture_output=True).stdout
            pngs = sorted(tmp_path.glob(f"{which}-*.png"))
            pixels.append(([p.read_bytes() for p in pngs], text))
            for png in pngs:
                png.unlink()
        assert pixels[0] == pixels[1], name


def test_the_file_identifier_follows_the_invoice_as_reportlabs_does():
    """Two invoices differing only in number have different file identifiers."""
    a, b = invoice_pdf(_doc(number="INV-1")), invoice_pdf(_doc(number="INV-2"))
    assert a.split(b"/ID", 1)[1][:40] != b.split(b"/ID", 1)[1][:40]
    assert a == reportlab_pdf(_doc(number="INV-1"))


def _drawn(data: bytes) -> list[tuple[str, float, str, float]]:
    """(text, x, font, size) of every string on the first page, from its operators."""
    from pypdf.generic import ContentStream

    page = PdfReader(io.BytesIO(data)).pages[0]
    fonts = {"/F1": "Helvetica", "/F2": "Helvetica-Bold"}
    font, size, x, drawn = "", 0.0, 0.0, []
    for operands, op in ContentStream(page.get_contents(), page.pdf).operations:
        if op == b"Tf":
            font, size = fonts[operands[0]], float(operands[1])
        elif op == b"Tm":
            x = float(operands[4])
        elif op == b"Tj":
            drawn.append((str(operands[0]), x, font, size))
    return drawn


@pytest.mark.parametrize("paper", ["letter", "A4"])
def test_numbers_end_at_their_column_right_edge(paper):
    """Each line's quantity, unit price, tax rate, tax and amount, and the totals, are
    right-aligned: they end where their column ends, whatever their width."""
    lines = (_line(1, "Home 100", "1", "49.99", "49.99", "8.25", "4.12"),
             _line(2, "Router rental", "12", "5.00", "60.00", "10", "6.00", period=False),
             _line(3, "Business 1000", "1", "1234.50", "1234.50", "0", "0.00"))
    doc = dataclasses.replace(_doc(lines=lines, paid="0"), paper=paper)
    width = pdf.PAGE_SIZES[paper.lower()][0]
    right = width - pdf.MARGIN
    cols = pdf._columns(width)
    drawn = _drawn(invoice_pdf(doc))

    def ends(text: str, bold: bool = False, size: float = 9) -> list[float]:
        font = "Helvetica-Bold" if bold else "Helvetica"
        return [round(x + pdf.pdfmetrics.stringWidth(t, font, s), 2)
                for t, x, f, s in drawn if t == text and f == font and s == size]

    assert round(cols.amount_r, 2) in ends("$1,234.50", bold=True)
    assert round(cols.amount_r, 2) in ends("$60.00", bold=True)
    assert round(cols.unit_r, 2) in ends("$5.00")
    assert round(cols.qty_r, 2) in ends("12")
    assert round(cols.rate_r, 2) in ends("10%")
    assert round(cols.tax_r, 2) in ends("$6.00")
    assert round(right - 6, 2) in ends("$1,344.49")  # subtotal, in the totals column
    assert round(right - 6, 2) in ends("$1,354.61", bold=True, size=10)  # total


def test_the_installed_reportlab_is_one_the_file_writer_was_checked_against():
    """A new reportlab release: run these tests on it, then add it to CHECKED_WITH."""
    assert reportlab.Version in pdf_file.CHECKED_WITH


def test_another_reportlab_release_saves_the_file_itself(monkeypatch):
    doc = SHAPES[next(iter(SHAPES))]
    monkeypatch.setattr(pdf_file, "CHECKED_WITH", frozenset({"0.0"}))
    assert plain(doc) is None
    assert invoice_pdf(doc) == reportlab_pdf(doc)
