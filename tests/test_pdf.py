"""PDF invoices: every figure on the page, long invoices, unicode, QR code, the process pool."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pypdf import PdfReader

from ispsheets.book.records import Client, Invoice, InvoiceLine, Layout, Origin
from ispsheets.delivery import pdf
from ispsheets.delivery.document import CompanyInfo, InvoiceDocument, format_period
from ispsheets.delivery.pdf import (
    HELVETICA,
    choose_fonts,
    font_candidates,
    invoice_pdf,
    qr_modules,
    render_in_groups,
    render_invoice,
    render_many,
)

D = Decimal
LINK = "https://pay.example.com/i/INV-00042"


@pytest.fixture(scope="module")
def logo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("logo") / "logo.png"
    image = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    image.paste((31, 78, 121, 255), (10, 20, 290, 80))
    image.save(path)
    return path


def _company(logo: Path | None = None) -> CompanyInfo:
    return CompanyInfo("Prairie Wireless LLC", "412 Main Street\nSpringfield, IL 62701",
                       "billing@prairiewireless.net", "(217) 555-0142", "prairiewireless.net",
                       "EIN 12-3456789", logo, "#1F4E79")


def _line(n: int, description: str, qty: str, unit: str, amount: str, rate: str, tax: str,
          period: bool = True) -> InvoiceLine:
    start, end = (dt.date(2026, 12, 1), dt.date(2026, 12, 31)) if period else (None, None)
    return InvoiceLine("INV-00042", n, f"S{n}" if period else "", description, start, end,
                       D(qty), D(unit), D(amount), D(rate), D(tax))


def _invoice(lines: tuple[InvoiceLine, ...], number: str = "INV-00042") -> Invoice:
    subtotal = sum((x.amount for x in lines), D(0))
    tax = sum((x.tax for x in lines), D(0))
    lines = tuple(dataclasses.replace(x, invoice_number=number) for x in lines)
    return Invoice(number, "C0042", dt.date(2026, 11, 30), dt.date(2026, 12, 1),
                   dt.date(2026, 12, 31), dt.date(2026, 12, 15), subtotal, tax, subtotal + tax,
                   lines=lines)


KNOWN = (_line(1, "Home 100 (100/20 Mbps, unlimited)", "1", "49.99", "49.99", "8.25", "4.12"),
         _line(2, "Router rental", "2", "5.00", "10.00", "8.25", "0.83", period=False),
         _line(3, "Late fee for INV-00031", "1", "5.00", "5.00", "0", "0.00", period=False))
CLIENT = Client("C0042", "Zoë Ashford-Brown", ("zoe@example.com", "accounts@example.com"),
                address="88 Elm Street; Shelbyville, IL 62565")


def _doc(lines=KNOWN, client=CLIENT, paid="20.00", link="", logo=None, currency="USD",
         number="INV-00042") -> InvoiceDocument:
    invoice = _invoice(lines, number)
    return InvoiceDocument(_company(logo), client, invoice, paid=D(paid),
                           balance_due=invoice.total - D(paid), currency=currency,
                           tax_name="Sales tax", pay_link=link,
                           payment_instructions="Bank transfer to First Bank, account 000123.",
                           footer="Thank you for your business.")


def _text(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def test_known_invoice_shows_every_figure_64_99_plus_4_95_tax_is_69_94_less_20_paid(tmp_path):
    path = render_invoice(_doc(), tmp_path / "INV-00042.pdf")
    (text,) = _text(path)
    for expected in (
        "INVOICE", "Invoice number INV-00042", "Issue date Nov 30, 2026",
        "Due date Dec 15, 2026", "Service period Dec 1 – Dec 31, 2026", "Client ID C0042",
        "Zoë Ashford-Brown", "88 Elm Street", "Shelbyville, IL 62565", "zoe@example.com",
        "Prairie Wireless LLC", "Tax ID: EIN 12-3456789",
        "Home 100 (100/20 Mbps, unlimited)", "1 $49.99 8.25% $4.12 $49.99",
        "Router rental 2 $5.00 8.25% $0.83 $10.00", "Late fee for INV-00031 1 $5.00 $5.00",
        "Subtotal $64.99", "Sales tax $4.95", "Total $69.94", "Paid -$20.00",
        "BALANCE DUE $49.94", "Due Dec 15, 2026", "Bank transfer to First Bank, account 000123.",
        "Thank you for your business.", "Page 1 of 1",
    ):
        assert expected in text, expected
    assert text.count("Dec 1 – Dec 31, 2026") == 2  # the invoice period and line 1's period


def test_pay_link_is_printed_linked_and_drawn_as_a_qr_code_of_the_link(tmp_path):
    path = render_invoice(_doc(link=LINK), tmp_path / "INV-00042.pdf")
    page = PdfReader(path).pages[0]
    assert f"Pay online: {LINK}" in page.extract_text()
    uris = {a.get_object()["/A"]["/URI"] for a in page["/Annots"]}
    assert uris == {LINK}
    forms = page["/Resources"]["/XObject"]
    assert "/FormXob.qrcode" in forms
    assert _qr_from_form(forms["/FormXob.qrcode"].get_object()) == qr_modules(LINK)


def test_no_pay_link_no_qr_code(tmp_path):
    page = PdfReader(render_invoice(_doc(), tmp_path / "a.pdf")).pages[0]
    assert "/Annots" not in page
    assert "/FormXob.qrcode" not in page["/Resources"].get("/XObject", {})


def _qr_from_form(form) -> list[list[bool]]:
    """Rebuild the module matrix from the form's `x y w h re` rectangles."""
    size = float(form["/BBox"][2])
    rects = [tuple(map(float, m)) for m in
             re.findall(rb"([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) re", form.get_data())]
    box = min(r[3] for r in rects)
    count = round(size / box) - 4
    grid = [[False] * count for _ in range(count)]
    for x, y, w, _ in rects:
        row = round((size - y) / box) - 3
        for col in range(round(x / box) - 2, round((x + w) / box) - 2):
            grid[row][col] = True
    return grid


def test_qr_matrix_has_the_three_finder_patterns():
    modules = qr_modules(LINK)
    n = len(modules)
    for top, left in ((0, 0), (0, n - 7), (n - 7, 0)):
        square = [row[left:left + 7] for row in modules[top:top + 7]]
        assert all(square[0]) and all(square[6])
        assert all(r[0] and r[6] for r in square)
        assert not any(square[1][1:6])
        assert all(all(r[2:5]) for r in square[2:5])


def test_80_line_invoice_flows_onto_3_pages_with_header_repeated_and_each_line_once(tmp_path):
    lines = tuple(_line(n, f"Business 500 fibre, site {n:02d}", "1", "10.00", "10.00", "8.25",
                        "0.83") for n in range(1, 81))
    doc = _doc(lines=lines, paid="0")
    pages = _text(render_invoice(doc, tmp_path / "INV-00042.pdf"))
    assert len(pages) == 3
    everything = "\n".join(pages)
    for n in range(1, 81):
        assert everything.count(f"Business 500 fibre, site {n:02d} ") == 1, n
    for number, page in enumerate(pages, start=1):
        assert "DESCRIPTION QTY UNIT PRICE TAX % SALES TAX AMOUNT" in page
        assert f"Page {number} of 3" in page
    assert "(continued)" in pages[1] and "(continued)" in pages[2]
    # 80 × 10.00 = 800.00; 80 × 0.83 = 66.40
    assert "Subtotal $800.00" in pages[2] and "Sales tax $66.40" in pages[2]
    assert "BALANCE DUE $866.40" in pages[2]
    assert "Subtotal" not in pages[0] + pages[1]


def test_vietnamese_name_renders_with_an_embedded_unicode_font(tmp_path):
    if not font_candidates():
        pytest.skip("no TrueType font on this machine")
    client = dataclasses.replace(CLIENT, name="Nguyễn Thị Ánh")
    doc = _doc(client=client)
    assert choose_fonts(doc).embedded
    (text,) = _text(render_invoice(doc, tmp_path / "a.pdf"))
    assert "Nguyễn Thị Ánh" in text
    assert "BALANCE DUE $49.94" in text


def test_latin1_names_and_euro_stay_in_helvetica(tmp_path):
    doc = _doc(client=dataclasses.replace(CLIENT, name="Zoë Müller-Ça"), currency="EUR")
    assert choose_fonts(doc) == HELVETICA
    (text,) = _text(render_invoice(doc, tmp_path / "a.pdf"))
    assert "Zoë Müller-Ça" in text
    assert "BALANCE DUE €49.94" in text


def test_rupee_symbol_needs_the_unicode_font():
    assert choose_fonts(_doc(currency="INR")).embedded == bool(font_candidates())


def test_the_pdf_is_dated_by_the_invoice_issue_date_nov_30_2026(tmp_path):
    metadata = PdfReader(render_invoice(_doc(), tmp_path / "INV-00042.pdf")).metadata
    assert metadata.creation_date.date() == dt.date(2026, 11, 30)
    assert metadata.modification_date.date() == dt.date(2026, 11, 30)


def test_same_document_gives_the_same_bytes():
    doc = _doc(link=LINK)
    assert invoice_pdf(doc) == invoice_pdf(doc)


# Text in Helvetica is drawn by writing reportlab's own operators directly (pdf._shown);
# this checks, for any text Helvetica can set, that the bytes are the ones reportlab writes.
_HELVETICA_TEXT = st.text(st.characters(codec="cp1252", exclude_categories=("Cc", "Cs")),
                          max_size=40)


@settings(max_examples=60, deadline=None)
@given(name=_HELVETICA_TEXT, description=_HELVETICA_TEXT, footer=_HELVETICA_TEXT)
def test_text_drawn_directly_gives_the_bytes_reportlab_writes(name, description, footer):
    lines = (dataclasses.replace(KNOWN[0], description=description or "x"), *KNOWN[1:])
    doc = dataclasses.replace(_doc(lines=lines, client=dataclasses.replace(CLIENT, name=name),
                                   link=LINK), footer=footer)
    assert choose_fonts(doc) == HELVETICA
    direct = invoice_pdf(doc)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdf, "_shown", lambda text, font: None)  # reportlab's textOut for all
        assert invoice_pdf(doc) == direct


def test_text_is_escaped_as_reportlab_does_and_other_text_left_to_it():
    assert pdf._shown("Tax (8%) \\ €5", "Helvetica") == r"(Tax \(8%\) \\ \2005) Tj"
    assert pdf._shown("", "Helvetica") is None  # reportlab writes no operator for it
    assert pdf._shown("☃", "Helvetica") is None  # set in a substitution font


def test_a_temp_file_left_by_a_killed_run_is_written_over_and_the_folder_made(tmp_path):
    folder = tmp_path / "invoices"
    folder.mkdir()
    (folder / ".INV-00042.pdf.tmp").write_bytes(b"half a PDF")
    render_invoice(_doc(), folder / "INV-00042.pdf")
    render_invoice(_doc(number="INV-00043"), tmp_path / "new" / "INV-00043.pdf")
    assert sorted(p.name for p in folder.iterdir()) == ["INV-00042.pdf"]
    assert (folder / "INV-00042.pdf").read_bytes() == invoice_pdf(_doc())
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["INV-00043.pdf"]


def test_logo_is_embedded_and_a_missing_logo_is_left_out(tmp_path, logo):
    page = PdfReader(render_invoice(_doc(logo=logo), tmp_path / "a.pdf")).pages[0]
    images = [x for x in page["/Resources"]["/XObject"].values()
              if x.get_object()["/Subtype"] == "/Image"]
    assert len(images) == 1
    missing = render_invoice(_doc(logo=tmp_path / "nope.png"), tmp_path / "b.pdf")
    assert "BALANCE DUE $49.94" in _text(missing)[0]


def test_paid_in_full_shows_zero_balance(tmp_path):
    (text,) = _text(render_invoice(_doc(paid="69.94"), tmp_path / "a.pdf"))
    assert "BALANCE DUE $0.00" in text and "Paid in full" in text


def test_period_already_in_the_description_is_not_repeated(tmp_path):
    description = "Home 100 — " + format_period(dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    line = _line(1, description, "1", "49.99", "49.99", "0", "0.00")
    (text,) = _text(render_invoice(_doc(lines=(line,), paid="0"), tmp_path / "a.pdf"))
    assert text.count("Dec 1 – Dec 31, 2026") == 2  # header period + the description, once


def test_document_with_workbook_origins_pickles_for_the_process_pool():
    origin = Origin(Layout("Clients", {"client_id": 0, "name": 1}), 7)
    doc = _doc(client=dataclasses.replace(CLIENT, origin=origin))
    copy = pickle.loads(pickle.dumps(doc))
    assert copy.client.name == CLIENT.name and copy.invoice == doc.invoice
    assert invoice_pdf(copy) == invoice_pdf(doc)


def test_render_many_in_a_pool_writes_the_same_files_as_serial(tmp_path, logo):
    docs = [_doc(number=f"INV-{n:05d}", logo=logo, link=LINK if n % 5 == 0 else "")
            for n in range(1, 41)]
    serial = render_many(docs, tmp_path / "serial", workers=1)
    pooled = render_many(docs, tmp_path / "pool", workers=2, chunk_size=8)
    assert [p.name for p in serial] == [f"INV-{n:05d}.pdf" for n in range(1, 41)]
    assert [p.name for p in pooled] == [p.name for p in serial]
    for a, b in zip(serial, pooled, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert _text(a) == _text(b)


def test_groups_come_back_in_order_each_written_when_it_is_handed_out(tmp_path):
    docs = [_doc(number=f"INV-{n:05d}") for n in range(1, 21)]
    seen = []
    for group, paths in render_in_groups(docs, tmp_path, workers=2, chunk_size=6):
        assert [p.name for p in paths] == [d.filename for d in group]
        assert all(p.is_file() for p in paths)  # mailable at once
        seen.extend(d.invoice.invoice_number for d in group)
    assert seen == [d.invoice.invoice_number for d in docs]


def test_render_many_with_progress_bar(tmp_path, capsys):
    paths = render_many([_doc()], tmp_path, progress=True)
    assert [p.name for p in paths] == ["INV-00042.pdf"]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm not installed")
def test_page_rasterises_with_pdftoppm(tmp_path, logo):
    pdf = render_invoice(_doc(logo=logo, link=LINK), tmp_path / "INV-00042.pdf")
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-singlefile", str(pdf),
                    str(tmp_path / "page")], check=True, capture_output=True, timeout=60)
    png = tmp_path / "page.png"
    assert png.is_file()
    with Image.open(png) as image:
        assert image.size == (340, 440)  # US letter at 40 dpi
