"""Branded PDF invoices drawn straight on the reportlab canvas, one file per invoice.

The canvas API is used rather than platypus (twice as fast here). Text is set in the built-in
Helvetica when every string fits its WinAnsi (cp1252) encoding, which covers English and Western
European text and `€`; otherwise a TrueType font with wider coverage is embedded (DejaVu Sans,
found on the machine), which costs about four times as much per page, so only the invoices that
need it pay for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from hashlib import sha256
from importlib.util import find_spec
from pathlib import Path

from PIL import Image
from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor, white
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.rl_accel import escapePDF, fp_str, unicode2T1
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfgen.textobject import PDFTextObject
from rich.progress import MofNCompleteColumn, Progress

from ispsheets.book.records import InvoiceLine
from ispsheets.children import die_with_parent
from ispsheets.delivery import qr
from ispsheets.delivery.document import (
    InvoiceDocument,
    format_date,
    format_period,
    money_text,
)
from ispsheets.delivery.files import replace_file
from ispsheets.delivery.pdf_file import plain_pdf
from ispsheets.delivery.shaping import drawable, dropped_when_missing, needs_shaping, visual

PAGE_SIZES = {"letter": letter, "a4": A4}
INK = HexColor("#1A1A1A")
MUTED = HexColor("#5F6B7A")
RULE = HexColor("#D5DBE3")
ZEBRA = HexColor("#F4F6F9")

# TrueType fonts tried, in order, when an invoice holds text outside cp1252: (regular, bold).
_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF",
    "/usr/share/fonts/dejavu-sans-fonts", "/usr/local/share/fonts", "/opt/homebrew/share/fonts",
    os.path.expanduser("~/.fonts"), os.path.expanduser("~/.local/share/fonts"),
)
_FONT_PAIRS = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("Arial.ttf", "Arial Bold.ttf"),
    ("arial.ttf", "arialbd.ttf"),
)
_OS_FONTS = (
    ("/System/Library/Fonts/Supplemental/Arial.ttf",
     "/System/Library/Fonts/Supplemental/Arial Bold.ttf"),
    ("C:/Windows/Fonts/arial.ttf", "C:/Windows/Fonts/arialbd.ttf"),
)


@dataclass(frozen=True)
class Fonts:
    """The two faces an invoice is set in; `embedded` when they are TrueType subsets;
    `lacking` when the built-in faces are all there is for text they do not cover."""

    regular: str
    bold: str
    embedded: bool = False
    lacking: bool = False


HELVETICA = Fonts("Helvetica", "Helvetica-Bold")


def font_candidates() -> list[tuple[Path, Path]]:
    """Existing (regular, bold) TrueType pairs, best first; reportlab's Vera comes last."""
    pairs = [(Path(d, r), Path(d, b)) for d in _FONT_DIRS for r, b in _FONT_PAIRS]
    pairs += [(Path(r), Path(b)) for r, b in _OS_FONTS]
    if (spec := find_spec("matplotlib")) and spec.origin:
        ttf = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
        pairs.append((ttf / "DejaVuSans.ttf", ttf / "DejaVuSans-Bold.ttf"))
    if (spec := find_spec("reportlab")) and spec.origin:
        rl = Path(spec.origin).parent / "fonts"
        pairs.append((rl / "Vera.ttf", rl / "VeraBd.ttf"))
    return [(r, b if b.is_file() else r) for r, b in pairs if r.is_file()]


_COVERAGE: dict[str, frozenset[int]] = {}  # registered font name → code points it has


@functools.cache
def _register(path: Path) -> tuple[str, frozenset[int]]:
    """Register a TrueType file once per process; its name and the code points it covers."""
    name = f"isp-{path.stem}-{sha256(str(path).encode()).hexdigest()[:6]}"
    font = TTFont(name, str(path))
    pdfmetrics.registerFont(font)
    _COVERAGE[name] = frozenset(font.face.charToGlyph)
    return name, _COVERAGE[name]


@functools.cache
def _loadable(path: Path) -> bool:
    """True when reportlab can read `path` as a TrueType font."""
    try:
        _register(path)
    except Exception:  # not a font, PostScript outlines, unreadable: reportlab's errors vary
        return False
    return True


def choose_fonts(doc: InvoiceDocument, font: Path | None = None) -> Fonts:
    """Helvetica when all text is cp1252, else the first TrueType covering the text (or,
    failing that, all of it but the emoji), `font` first, its bold face when that covers it
    too. A file that is not a TrueType font is passed over."""
    try:  # nearly every invoice: all of it cp1252, found in one step rather than by character
        "".join(document_texts(doc)).encode("cp1252")
    except UnicodeEncodeError:
        pass
    else:
        return HELVETICA
    return fonts_for({ord(ch) for text in document_texts(doc) for ch in text}, font)


def fonts_for(chars: set[int], font: Path | None = None) -> Fonts:
    """The faces for text made of `chars` (see `choose_fonts`)."""
    if all(_cp1252(chr(c)) for c in chars):
        return HELVETICA
    pairs = ([(font, font)] if font else []) + font_candidates()
    needed = {c for c in chars if not chr(c).isspace()}
    essential = {c for c in needed if not dropped_when_missing(chr(c))}
    for wanted in (needed, essential):
        for regular, bold in pairs:
            if not _loadable(regular):
                continue
            name, covered = _register(regular)
            if wanted <= covered:
                bold_name, bold_covered = _register(bold) if _loadable(bold) else (name, covered)
                return Fonts(name, bold_name if wanted <= bold_covered else name, embedded=True)
    # No font has it all: what is missing prints as `?` (see `readable`).
    for regular, bold in pairs:
        if _loadable(regular):
            name = _register(regular)[0]
            return Fonts(name, _register(bold)[0] if _loadable(bold) else name, embedded=True)
    # No TrueType font on this machine: what Helvetica lacks prints as `?`.
    return dataclasses.replace(HELVETICA, lacking=True)


def readable(doc: InvoiceDocument, fonts: Fonts) -> InvoiceDocument:
    """The document as `fonts` can draw it: characters both faces lack are left out (emoji)
    or shown as `?` (see `shaping.drawable`), never as empty boxes."""
    covered = _covered(fonts)
    if covered is None:
        return doc  # Helvetica, chosen because it has every character

    def fix(text: str) -> str:
        return drawable(text, covered) if text else text

    if all(fix(text) == text for text in document_texts(doc)):
        return doc
    c, cl, inv = doc.company, doc.client, doc.invoice
    company = dataclasses.replace(c, name=fix(c.name), address=fix(c.address),
                                  email=fix(c.email), phone=fix(c.phone),
                                  website=fix(c.website), tax_id=fix(c.tax_id))
    client = dataclasses.replace(cl, name=fix(cl.name), client_id=fix(cl.client_id),
                                 address=fix(cl.address), emails=tuple(map(fix, cl.emails)))
    lines = tuple(dataclasses.replace(line, description=fix(line.description))
                  for line in inv.lines)
    invoice = dataclasses.replace(inv, invoice_number=fix(inv.invoice_number), lines=lines)
    return dataclasses.replace(doc, company=company, client=client, invoice=invoice,
                               tax_name=fix(doc.tax_name),
                               payment_instructions=fix(doc.payment_instructions),
                               footer=fix(doc.footer))


def _covered(fonts: Fonts) -> frozenset[int] | None:
    """The code points both faces have; None for Helvetica chosen for having them all."""
    if fonts.embedded:
        return _COVERAGE[fonts.regular] & _COVERAGE[fonts.bold]
    return _CP1252_CODES if fonts.lacking else None


def unprintable(text: str, font: Path | None = None) -> str:
    """The characters of `text` an invoice would print as `?` (no font here has them), each
    once; emoji, which are left out by design, are not counted."""
    covered = _covered(fonts_for({ord(ch) for ch in text}, font))
    if covered is None:
        return ""
    return "".join(dict.fromkeys(ch for ch in text if ord(ch) not in covered
                                 and not ch.isspace() and not dropped_when_missing(ch)))


_CP1252_CODES = frozenset(map(ord, bytes(range(256)).decode("cp1252", errors="ignore")))


@functools.cache
def _cp1252(ch: str) -> bool:
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def document_texts(doc: InvoiceDocument) -> Iterator[str]:
    """Every piece of owner- or client-supplied text the invoice draws."""
    c, cl, inv = doc.company, doc.client, doc.invoice
    yield from (c.name, c.address, c.email, c.phone, c.website, c.tax_id)
    yield from (cl.name, cl.client_id, cl.address, *cl.emails)
    yield from (inv.invoice_number, doc.tax_name, doc.payment_instructions, doc.pay_link,
                doc.footer, money_text(Decimal(0), doc.currency))
    yield from (line.description for line in inv.lines)


# -- layout --------------------------------------------------------------------------------


MARGIN = 50.0
FOOTER_TOP = 58.0  # rows never go below this
ROW_PAD = 4.0
LINE_STEP = 11.0
DESC_SIZE = 9.0
SUB_SIZE = 7.5
QR_SIZE = 84.0


PAID_GREEN = Color(0.12, 0.48, 0.2)
ACCOUNT_HEIGHT = 80.0  # the account summary below the totals


def _continued_top(height: float) -> float:
    """Where the table starts on pages after the first."""
    return height - 80


@dataclass(frozen=True)
class _Row:
    index: int
    desc: tuple[str, ...]
    period: str
    period_inline: bool
    qty: str
    unit: str
    rate: str
    tax: str
    amount: str
    height: float


@dataclass(frozen=True)
class _Columns:
    """Right edges of the numeric columns and the description width."""

    desc_x: float
    desc_w: float
    qty_r: float
    unit_r: float
    rate_r: float
    tax_r: float
    amount_r: float


def _columns(width: float) -> _Columns:
    right = width - MARGIN
    amount_r, tax_r, rate_r, unit_r = right - 6, right - 80, right - 144, right - 190
    qty_r = right - 262
    return _Columns(MARGIN + 6, qty_r - 36 - MARGIN - 6, qty_r, unit_r, rate_r, tax_r, amount_r)


def _unit_shown(line: InvoiceLine) -> Decimal:
    """The unit price that multiplies by the quantity to the amount: a prorated or discounted
    line shows its price for the period billed (its description says the days and the
    discount), so the columns of the invoice add up."""
    if not line.quantity or line.quantity * line.unit_price == line.amount:
        return line.unit_price
    unit = line.amount / line.quantity
    return unit if unit == unit.quantize(Decimal("0.01")) else line.unit_price


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _rows(doc: InvoiceDocument, fonts: Fonts, cols: _Columns) -> list[_Row]:
    """Table rows: the description wrapped, the service period after it or below it."""
    rows = []
    gap = 8.0
    for index, line in enumerate(doc.lines):
        desc = _description(line.description or "", fonts.regular, cols.desc_w)
        period = format_period(line.period_start, line.period_end, doc.date_order)
        if period and period in (line.description or ""):
            period = ""  # billing already wrote the period into the description
        inline = bool(period) and len(desc) <= 1 and (
            pdfmetrics.stringWidth(desc[0] if desc else "", fonts.regular, DESC_SIZE) + gap
            + pdfmetrics.stringWidth(period, fonts.regular, SUB_SIZE) <= cols.desc_w)
        lines = max(len(desc), 1) + (0 if inline or not period else 1)
        rows.append(_Row(index, desc, period, inline, _quantity(line.quantity),
                         money_text(_unit_shown(line), doc.currency),
                         f"{line.tax_rate.normalize():f}%" if line.tax_rate else "",
                         money_text(line.tax, doc.currency) if line.tax else "",
                         money_text(line.amount, doc.currency),
                         ROW_PAD * 2 + LINE_STEP * lines))
    return rows


@functools.lru_cache(maxsize=8192)
def _description(text: str, font: str, width: float, max_lines: int = 4) -> tuple[str, ...]:
    """A line description wrapped to the column; past `max_lines` it ends with `…`."""
    lines = simpleSplit(text, font, DESC_SIZE, width)
    if len(lines) > max_lines:
        lines = [*lines[:max_lines - 1], _fit(" ".join(lines[max_lines - 1:]) + "…", font,
                                              DESC_SIZE, width)]
    return tuple(lines)


def _paginate(rows: Sequence[_Row], first_top: float, next_top: float,
              closing: float) -> list[list[_Row]]:
    """Rows per page; the last page also fits the closing block (totals, payment, QR)."""
    pages: list[list[_Row]] = [[]]
    y = first_top
    for row in rows:
        if y - row.height < FOOTER_TOP and pages[-1]:
            pages.append([])
            y = next_top
        pages[-1].append(row)
        y -= row.height
    if y - closing < FOOTER_TOP:
        # Carry the last row over so the totals never stand alone on a page.
        carried = [pages[-1].pop()] if len(pages[-1]) > 1 else []
        pages.append(carried)
    return pages


# -- drawing -------------------------------------------------------------------------------


class _Painter:
    """Draws one invoice on one canvas; holds the fonts, colours and geometry."""

    def __init__(self, canvas: Canvas, doc: InvoiceDocument, fonts: Fonts) -> None:
        self.c = canvas
        self.doc = doc
        self.f = fonts
        self.brand = _brand(doc.company.brand_color)
        self.width, self.height = canvas._pagesize
        self.right = self.width - MARGIN
        self.cols = _columns(self.width)
        self.money = functools.partial(money_text, currency=doc.currency)
        self.date = functools.partial(format_date, order=doc.date_order)
        self._fill: Color | None = None
        self._text: PDFTextObject | None = None
        self._text_font: tuple[str, float] = ("", 0.0)
        self._text_fill: Color | None = None
        # The operators reportlab wrote for a font or colour the first time this document
        # set it, written again as they are on each later change (see `_set_font`).
        self._font_ops: dict[tuple[str, float], str] = {}
        self._fill_ops: dict[Color, str] = {}

    # All text of a page goes into one text object, drawn last (on top of the fills): far
    # fewer PDF operators than one text object per string; font and colour are set on change.
    def text(self, x: float, y: float, s: str, size: float = 9, bold: bool = False,
             color: Color = INK) -> None:
        t = self._text
        if t is None:
            t = self._text = self.c.beginText()
        font = self.f.bold if bold else self.f.regular
        if (font, size) != self._text_font:
            self._set_font(t, font, size)
            self._text_font = (font, size)
        if color is not self._text_fill:
            self._set_fill(t, color)
            self._text_fill = color
        if self.f.embedded and needs_shaping(s):
            s = visual(s, font, size)[0]  # right-to-left runs reordered, Arabic joined
        shown = None if self.f.embedded else _shown(s, font)
        if shown is None:
            t.setTextOrigin(x, y)
            t.textOut(s)
        else:  # the operators reportlab writes for these two calls, made in one step
            t._code.append(f"1 0 0 1 {fp_str(x, y)} Tm {shown}")

    # An invoice switches font and colour some 40 times, between a handful of each: the first
    # switch to one goes through reportlab (which also lists the font in the document), the
    # later ones write the same operators again without it (a tenth of the drawing time).
    def _set_font(self, t: PDFTextObject, font: str, size: float) -> None:
        op = self._font_ops.get((font, size))
        if op is None or self.f.embedded:  # a TrueType subset: reportlab keeps track of it
            start = len(t._code)
            t.setFont(font, size)
            self._font_ops[font, size] = " ".join(t._code[start:])
            return
        t._fontname, t._fontsize, t._leading = font, size, size * 1.2  # as setFont sets them
        if op:
            t._code.append(op)

    def _set_fill(self, t: PDFTextObject, color: Color) -> None:
        op = self._fill_ops.get(color)
        if op is None:
            start = len(t._code)
            t.setFillColor(color)
            self._fill_ops[color] = " ".join(t._code[start:])
            return
        t._fillColorObj = color
        if op:
            t._code.append(op)

    def rtext(self, x: float, y: float, s: str, size: float = 9, bold: bool = False,
              color: Color = INK) -> None:
        self.text(x - self.measure(s, size, bold), y, s, size, bold, color)

    def ctext(self, x: float, y: float, s: str, size: float = 9, bold: bool = False,
              color: Color = INK) -> None:
        self.text(x - self.measure(s, size, bold) / 2, y, s, size, bold, color)

    def measure(self, s: str, size: float, bold: bool = False) -> float:
        """How wide `s` is drawn (shaped, when it is)."""
        font = self.f.bold if bold else self.f.regular
        if self.f.embedded and needs_shaping(s):
            return visual(s, font, size)[1]
        return pdfmetrics.stringWidth(s, font, size)

    def fill(self, color: Color) -> None:
        if color is not self._fill:
            self.c.setFillColor(color)
            self._fill = color

    def new_page(self) -> None:
        if self._text is not None:
            self.c.drawText(self._text)
        self.c.showPage()
        self._fill = self._text = self._text_fill = None
        self._text_font = ("", 0.0)

    def wrap(self, s: str, size: float, width: float, bold: bool = False) -> list[str]:
        return list(_wrap(s, self.f.bold if bold else self.f.regular, size, width))

    def fit(self, s: str, size: float, width: float, bold: bool = False) -> str:
        return _fit(s, self.f.bold if bold else self.f.regular, size, width)

    # blocks
    def header(self) -> float:
        """Logo, company block, INVOICE title and facts; returns the y below them."""
        c, doc, co = self.c, self.doc, self.doc.company
        self.fill(self.brand)
        c.rect(0, self.height - 10, self.width, 10, stroke=0, fill=1)
        top = self.height - 46
        y = top
        logo = _logo(co.logo)
        if logo is not None:
            iw, ih = logo.getSize()
            scale = min(LOGO_BOX[0] / iw, LOGO_BOX[1] / ih)
            c.drawImage(logo, MARGIN, top - ih * scale + 6, iw * scale, ih * scale)
            y = top - ih * scale - 10
            self.text(MARGIN, y, self.fit(co.name, 11, 260, bold=True), 11, bold=True)
        else:
            y = top - 12
            self.text(MARGIN, y, self.fit(co.name, 17, 280, bold=True), 17, bold=True,
                      color=self.brand)
        y -= 4
        contact = [*self.wrap(co.address, 8.5, 260),
                   " · ".join(s for s in (co.phone, co.email) if s), co.website,
                   f"Tax ID: {co.tax_id}" if co.tax_id else ""]
        for line in filter(None, contact):
            y -= 11
            self.text(MARGIN, y, line, 8.5, color=MUTED)
        left_bottom = y

        inv = doc.invoice
        self.rtext(self.right, top - 20, "INVOICE", 26, bold=True, color=self.brand)
        if inv.status == "paid" and inv.total > 0 and doc.balance == 0:
            self.paid_stamp(top - 20)
        facts = [("Invoice number", inv.invoice_number), ("Issue date", self.date(inv.issue_date)),
                 ("Due date", self.date(inv.due_date))]
        if inv.period_start or inv.period_end:
            facts.append(("Service period",
                          format_period(inv.period_start, inv.period_end, doc.date_order)))
        facts.append(("Client ID", doc.client.client_id))
        y = top - 44
        for label, value in facts:
            self.rtext(self.right - 128, y, label, 8.5, color=MUTED)
            self.rtext(self.right, y, self.fit(value, 9, 120, bold=True), 9, bold=True)
            y -= 13
        return min(left_bottom, y + 13) - 22

    def paid_stamp(self, baseline: float) -> None:
        """`PAID` in a green frame, left of the INVOICE title."""
        c = self.c
        title = pdfmetrics.stringWidth("INVOICE", self.f.bold, 26)
        width = pdfmetrics.stringWidth("PAID", self.f.bold, 15) + 16
        x = self.right - title - 14 - width
        c.setStrokeColor(PAID_GREEN)
        c.setLineWidth(1.5)
        c.roundRect(x, baseline - 4, width, 22, 3, stroke=1, fill=0)
        self.text(x + 8, baseline + 2, "PAID", 15, bold=True, color=PAID_GREEN)

    def bill_to(self, top: float) -> float:
        """Client block and the balance-due box; returns the y below them."""
        c, doc, cl = self.c, self.doc, self.doc.client
        c.setStrokeColor(RULE)
        c.setLineWidth(0.75)
        c.line(MARGIN, top, self.right, top)
        y = top - 20
        self.text(MARGIN, y, "BILL TO", 8, bold=True, color=self.brand)
        y -= 15
        self.text(MARGIN, y, self.fit(cl.name, 11.5, 290, bold=True), 11.5, bold=True)
        for line in [*self.wrap(cl.address, 9, 290), *cl.emails[:3]]:
            y -= 12
            self.text(MARGIN, y, self.fit(line, 9, 290), 9, color=MUTED)

        box_w, box_h = 200.0, 66.0
        bx, by = self.right - box_w, top - 14 - box_h
        self.fill(self.brand)
        c.roundRect(bx, by, box_w, box_h, 5, stroke=0, fill=1)
        balance = doc.balance if doc.account is None else doc.account.total_due
        label = ("BALANCE DUE" if doc.account is None else "TOTAL AMOUNT DUE" if balance >= 0
                 else "CREDIT ON ACCOUNT")
        self.text(bx + 14, by + box_h - 18, label, 8, bold=True, color=white)
        self.text(bx + 14, by + 24, self.money(abs(balance) if doc.account else balance), 20,
                  bold=True, color=white)
        note = (f"Due {self.date(doc.invoice.due_date)}" if balance > 0
                else "Credit carried forward" if balance < 0
                else "Paid in full. Thank you!" if doc.invoice.total > 0 else "Nothing to pay")
        self.text(bx + 14, by + 10, note, 8.5, color=white)
        return min(y, by) - 22

    def table_header(self, top: float) -> float:
        c, k = self.c, self.cols
        self.fill(self.brand)
        c.rect(MARGIN, top - 20, self.right - MARGIN, 20, stroke=0, fill=1)
        y = top - 13.5
        self.text(k.desc_x, y, "DESCRIPTION", 7.5, bold=True, color=white)
        for x, label in ((k.qty_r, "QTY"), (k.unit_r, "UNIT PRICE"), (k.rate_r, "TAX %"),
                         (k.tax_r, self.fit(self.doc.tax_name.upper(), 7.5, 56, bold=True)),
                         (k.amount_r, "AMOUNT")):
            self.rtext(x, y, label, 7.5, bold=True, color=white)
        return top - 20

    def row(self, top: float, row: _Row, shaded: bool) -> float:
        c, k = self.c, self.cols
        bottom = top - row.height
        if shaded:
            self.fill(ZEBRA)
            c.rect(MARGIN, bottom, self.right - MARGIN, row.height, stroke=0, fill=1)
        y = top - ROW_PAD - 8
        for line in row.desc or ("",):
            self.text(k.desc_x, y, line, DESC_SIZE)
            y -= LINE_STEP
        if row.period_inline:
            x = k.desc_x + self.measure(row.desc[0] if row.desc else "", DESC_SIZE) + 8
            self.text(x, top - ROW_PAD - 8, row.period, SUB_SIZE, color=MUTED)
        elif row.period:
            self.text(k.desc_x, y + 1, row.period, SUB_SIZE, color=MUTED)
        y = top - ROW_PAD - 8
        self.rtext(k.qty_r, y, row.qty, DESC_SIZE)
        self.rtext(k.unit_r, y, row.unit, DESC_SIZE)
        self.rtext(k.rate_r, y, row.rate, DESC_SIZE, color=MUTED)
        self.rtext(k.tax_r, y, row.tax, DESC_SIZE)
        self.rtext(k.amount_r, y, row.amount, DESC_SIZE, bold=True)
        return bottom

    def closing(self, top: float) -> None:
        """Totals on the right; payment instructions, pay link and QR code on the left."""
        c, doc, inv = self.c, self.doc, self.doc.invoice
        c.setStrokeColor(RULE)
        c.setLineWidth(0.75)
        c.line(MARGIN, top, self.right, top)
        label_x, x = self.right - 200, self.right - 6
        y = top - 18
        tax_label = f"{doc.tax_name} (exempt)" if doc.client.tax_exempt else doc.tax_name
        for label, value in (("Subtotal", inv.subtotal), (tax_label, inv.tax)):
            self.text(label_x, y, self.fit(label, 9, 110), 9, color=MUTED)
            self.rtext(x, y, self.money(value), 9)
            y -= 16
        c.line(label_x, y + 10, self.right, y + 10)
        self.text(label_x, y - 2, "Total", 10, bold=True)
        self.rtext(x, y - 2, self.money(inv.total), 10, bold=True)
        y -= 18
        self.text(label_x, y, "Paid", 9, color=MUTED)
        self.rtext(x, y, self.money(-doc.paid if doc.paid else doc.paid), 9)
        y -= 12
        self.fill(self.brand)
        c.rect(label_x - 8, y - 24, self.right - label_x + 8, 24, stroke=0, fill=1)
        bar = "BALANCE DUE" if doc.account is None else "INVOICE BALANCE"
        self.text(label_x, y - 16, bar, 10, bold=True, color=white)
        self.rtext(x, y - 16, self.money(doc.balance), 12, bold=True, color=white)
        if doc.account is not None:
            self.account_summary(label_x, x, y - 44)

        width = label_x - MARGIN - 30
        y = top - 18
        if doc.payment_instructions or doc.pay_link:
            self.text(MARGIN, y, "HOW TO PAY", 8, bold=True, color=self.brand)
            y -= 13
        for line in self.wrap(doc.payment_instructions, 8.5, width):
            self.text(MARGIN, y, line, 8.5)
            y -= 11
        if doc.pay_link:
            y -= 4
            self.text(MARGIN, y, "Pay online:", 8.5, bold=True)
            link_x = MARGIN + pdfmetrics.stringWidth("Pay online: ", self.f.bold, 8.5)
            link = self.fit(doc.pay_link, 8.5, width - (link_x - MARGIN))
            self.text(link_x, y, link, 8.5, color=self.brand)
            end = link_x + pdfmetrics.stringWidth(link, self.f.regular, 8.5)
            c.linkURL(doc.pay_link, (link_x, y - 2, end, y + 9), relative=0)
            qr_y = y - 8 - QR_SIZE
            _draw_qr(c, doc.pay_link, MARGIN - 4, qr_y, QR_SIZE)
            c.linkURL(doc.pay_link, (MARGIN, qr_y, MARGIN + QR_SIZE, qr_y + QR_SIZE), relative=0)
            self.text(MARGIN + QR_SIZE + 4, qr_y + QR_SIZE / 2 - 3,
                      "Scan to pay with your phone", 8, color=MUTED)

    def account_summary(self, label_x: float, x: float, top: float) -> None:
        """Previous balance, payments since, this invoice, total amount due (or credit)."""
        account, c = self.doc.account, self.c
        assert account is not None
        self.text(label_x, top, "ACCOUNT SUMMARY", 8, bold=True, color=self.brand)
        since = f" since {self.date(account.since)}" if account.since else ""
        y = top - 15
        for label, value in (("Previous balance", account.previous_balance),
                             (f"Payments{since}", -account.payments),
                             ("This invoice", account.this_invoice)):
            self.text(label_x, y, self.fit(label, 9, 120), 9, color=MUTED)
            self.rtext(x, y, self.money(value), 9)
            y -= 14
        c.setStrokeColor(RULE)
        c.line(label_x, y + 9, self.right, y + 9)
        owed = account.total_due
        label = "Total amount due" if owed >= 0 else "Credit carried forward"
        self.text(label_x, y - 4, label, 10, bold=True)
        self.rtext(x, y - 4, self.money(abs(owed)), 10, bold=True)

    def continued_header(self) -> float:
        c = self.c
        self.fill(self.brand)
        c.rect(0, self.height - 10, self.width, 10, stroke=0, fill=1)
        top = self.height - 46
        self.text(MARGIN, top, self.fit(self.doc.company.name, 11, 280, bold=True), 11, bold=True,
                  color=self.brand)
        self.rtext(self.right, top, f"Invoice {self.doc.invoice.invoice_number} (continued)",
                   9, bold=True)
        self.rtext(self.right, top - 12, self.doc.client.name, 8.5, color=MUTED)
        return _continued_top(self.height)

    def footer(self, page: int, pages: int) -> None:
        c = self.c
        c.setStrokeColor(RULE)
        c.setLineWidth(0.75)
        c.line(MARGIN, 44, self.right, 44)
        self.text(MARGIN, 30, self.doc.invoice.invoice_number, 7.5, color=MUTED)
        if self.doc.footer:
            footer = self.fit(" ".join(self.doc.footer.split()), 7.5, self.width - 2 * MARGIN - 160)
            self.ctext(self.width / 2, 30, footer, 7.5, color=MUTED)
        self.rtext(self.right, 30, f"Page {page} of {pages}", 7.5, color=MUTED)

    def closing_height(self) -> float:
        doc = self.doc
        width = self.right - 200 - MARGIN - 30
        left = 18 + (13 if doc.payment_instructions or doc.pay_link else 0)
        left += 11 * len(self.wrap(doc.payment_instructions, 8.5, width))
        if doc.pay_link:
            left += 12 + QR_SIZE
        right = 110.0 + (ACCOUNT_HEIGHT if doc.account is not None else 0.0)
        return max(left, right) + 12


# Measuring text is a good part of the render time, and the same company address, payment
# instructions and names recur on every invoice of a run: remember the results.
@functools.lru_cache(maxsize=8192)
def _wrap(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    """Lines of `text` (split at newlines and `;`) wrapped to `width`."""
    lines: list[str] = []
    for part in _address_lines(text):
        lines += simpleSplit(part, font, size, width)
    return tuple(lines)


@functools.lru_cache(maxsize=16384)
def _shown(text: str, font: str) -> str | None:
    """The `(...) Tj` operator reportlab's `textOut` writes for `text` in a built-in (Type 1)
    font, or None when reportlab would do more than that (a character it sets in a
    substitution font, empty text, a TrueType or CID font). Drawing text this way made an
    invoice 0.89 → 0.70 ms, and the PDF bytes are the same (tests/test_pdf.py checks)."""
    face = pdfmetrics.getFont(font)
    if face._dynamicFont or getattr(face, "_multiByte", False):
        return None
    runs = unicode2T1(text, [face, *face.substitutionFonts])
    if len(runs) != 1 or runs[0][0] is not face:
        return None
    return f"({escapePDF(runs[0][1])}) Tj"


@functools.lru_cache(maxsize=8192)
def _fit(text: str, font: str, size: float, width: float) -> str:
    """`text` cut with an ellipsis to fit `width`."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _address_lines(text: str) -> list[str]:
    """An address typed on one line with `;` or on several lines, as lines."""
    return [part.strip() for part in text.replace(";", "\n").splitlines() if part.strip()]


def _brand(hex_color: str) -> Color:
    try:
        return HexColor(hex_color)
    except (ValueError, TypeError):
        return HexColor("#1F4E79")


LOGO_BOX = (170.0, 56.0)  # points


@functools.cache
def _logo(path: Path | None) -> ImageReader | None:
    """The logo, prepared once per process; a missing or unreadable file draws no logo.

    It is scaled to about 180 dpi in the logo box, flattened on white and kept as a
    high-quality JPEG, which reportlab embeds as it is: a PNG would be decompressed and
    compressed again for every invoice (a millisecond each).
    """
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            image.load()
            image.thumbnail((int(LOGO_BOX[0] * 2.5), int(LOGO_BOX[1] * 2.5)))
            rgba = image.convert("RGBA")
    except (OSError, ValueError):
        return None
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    data = io.BytesIO()
    flat.save(data, "JPEG", quality=95, subsampling=0)
    data.seek(0)
    return ImageReader(data)


def qr_modules(data: str) -> list[list[bool]]:
    """The QR code matrix for `data` (error correction M), rows top to bottom: reportlab's,
    made twice as fast (see `delivery/qr.py`)."""
    return qr.modules(data)


def _draw_qr(c: Canvas, data: str, x: float, y: float, size: float) -> None:
    """A QR code as one filled path of dark runs, inside a 2-module quiet zone, as a form."""
    modules = qr_modules(data)
    count = len(modules)
    box = size / (count + 4)
    name = "qrcode"
    c.beginForm(name, lowerx=0, lowery=0, upperx=size, uppery=size)
    path = c.beginPath()
    for r, row in enumerate(modules):
        col = 0
        while col < count:
            if row[col]:
                start = col
                while col < count and row[col]:
                    col += 1
                path.rect((start + 2) * box, size - (r + 3) * box, (col - start) * box, box)
            else:
                col += 1
    c.setFillColorRGB(0, 0, 0)
    c.drawPath(path, stroke=0, fill=1)
    c.endForm()
    c.saveState()
    c.translate(x, y)
    c.doForm(name)
    c.restoreState()


# -- rendering -----------------------------------------------------------------------------


def invoice_pdf(doc: InvoiceDocument, font: Path | None = None) -> bytes:
    """The invoice as PDF bytes (deterministic: the same document gives the same bytes)."""
    fonts = choose_fonts(doc, font)
    with _binary_streams():
        return _invoice_pdf(readable(doc, fonts), fonts)


@contextlib.contextmanager
def _binary_streams() -> Iterator[None]:
    """Compressed streams without the ASCII85 layer: smaller files, and reportlab's
    pure-Python ASCII85 encoder was a third of the render time."""
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


@functools.cache
def _encodings_worked_out() -> None:
    """For each document that uses a built-in font, reportlab works out how the font's
    encoding differs from its base encoding (256 glyph names compared in Python, 0.03 ms a
    font, twice an invoice). A frozen encoding never changes: its answer, a name such as
    `/WinAnsiEncoding`, is worked out once a process. An answer that is an object (an
    encoding with differences) is left to be made for each document, as before."""
    for name in (HELVETICA.regular, HELVETICA.bold):
        encoding = pdfmetrics.getFont(name).encoding
        if encoding.frozen and isinstance(made := encoding.makePDFObject(), str):
            encoding.makePDFObject = functools.partial(str, made)


def _invoice_pdf(doc: InvoiceDocument, fonts: Fonts) -> bytes:
    _encodings_worked_out()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=PAGE_SIZES.get(doc.paper.lower(), letter), invariant=1,
                    pageCompression=1)
    number, client = doc.invoice.invoice_number, doc.client.name
    canvas.setTitle(f"Invoice {number}")
    canvas.setAuthor(doc.company.name)
    canvas.setSubject(f"Invoice {number} for {client}")
    canvas.setCreator("ispsheets")
    # The invoice's issue date as its creation date (reportlab's invariant mode would write
    # 2000-01-01): the date a reader's PDF properties show, and fixed, so a re-render of the
    # same invoice is byte for byte the same file.
    issued = doc.invoice.issue_date
    canvas.setDateFormatter(lambda *_: f"D:{issued:%Y%m%d}000000")
    painter = _Painter(canvas, doc, fonts)

    table_top = painter.bill_to(painter.header())
    rows = _rows(doc, fonts, painter.cols)
    pages = _paginate(rows, table_top - 20, _continued_top(painter.height) - 20,
                      painter.closing_height())
    for page, page_rows in enumerate(pages, start=1):
        if page > 1:
            table_top = painter.continued_header()
        y = painter.table_header(table_top) if page_rows or page == 1 else table_top
        for row in page_rows:
            y = painter.row(y, row, shaded=row.index % 2 == 1)
        if page == len(pages):
            painter.closing(y - 6)
        painter.footer(page, len(pages))
        painter.new_page()
    data = plain_pdf(canvas)  # the same bytes, without reportlab's object formatter
    if data is not None:
        return data
    canvas.save()
    return buffer.getvalue()


def render_invoice(doc: InvoiceDocument, path: Path, font: Path | None = None) -> Path:
    """Write the invoice PDF to `path` atomically (temp file + rename); returns `path`."""
    path = Path(path)
    replace_file(path, invoice_pdf(doc, font))
    return path


def _render_chunk(job: tuple[list[InvoiceDocument], str, Path | None]) -> list[Path]:
    docs, folder, font = job
    return [render_invoice(doc, Path(folder) / doc.filename, font) for doc in docs]


def _chunks(items: Sequence[InvoiceDocument], size: int) -> Iterable[list[InvoiceDocument]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def render_many(docs: Sequence[InvoiceDocument], folder: Path, *, workers: int | None = None,
                progress: bool = False, font: Path | None = None,
                chunk_size: int = 50) -> list[Path]:
    """Render every document to `folder/<number>.pdf`, in a process pool over all cores.

    `workers=1` (or a handful of documents) renders in this process. Results come back in
    the order of `docs` and are the same files a serial run writes.
    """
    return [path for _, paths in render_in_groups(docs, folder, workers=workers,
                                                 progress=progress, font=font,
                                                 chunk_size=chunk_size) for path in paths]


def render_in_groups(docs: Sequence[InvoiceDocument], folder: Path, *,
                     workers: int | None = None, progress: bool = False,
                     font: Path | None = None, chunk_size: int = 50
                     ) -> Iterator[tuple[list[InvoiceDocument], list[Path]]]:
    """`render_many` a group at a time, in order, each as soon as it is written: the caller
    can mail the first invoices while the pool renders the rest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    workers = workers or _cpu_count()
    chunk_size = max(1, min(chunk_size, -(-len(docs) // workers)))
    jobs = [(chunk, str(folder), font) for chunk in _chunks(docs, chunk_size)]
    if workers == 1 or len(jobs) <= 1:
        with _progress(progress, len(docs)) as advance:
            for job in jobs:
                paths = _render_chunk(job)
                advance(len(job[0]))
                yield job[0], paths
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                             initializer=_start_worker) as pool:
        # map() submits every job now, so the workers start before the progress bar's
        # thread does (forking a process that runs threads can deadlock).
        done = pool.map(_render_chunk, jobs)
        with _progress(progress, len(docs)) as advance:
            for job, paths in zip(jobs, done, strict=True):
                advance(len(job[0]))
                yield job[0], paths


def _start_worker() -> None:
    """A worker collects its own garbage cycles (the run pauses the collector), leaving the
    objects it was forked with alone (walking them would copy their pages), and ends with the
    run."""
    gc.freeze()
    gc.enable()
    die_with_parent()


def _cpu_count() -> int:
    """Cores this process may use (a container may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@contextlib.contextmanager
def _progress(show: bool, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar when asked for, else a no-op."""
    if not show:
        yield lambda n: None
        return
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as bar:
        task = bar.add_task("Rendering invoices", total=total)
        yield lambda n: bar.advance(task, n)
