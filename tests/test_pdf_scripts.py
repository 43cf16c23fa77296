"""Invoice PDFs in right-to-left scripts and with emoji: Hebrew and Arabic drawn in visual order
and joined, read back in reading order; emoji left out; never a .notdef box."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import io
import re
import shutil
import subprocess
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ContentStream

from ispsheets.delivery import pdf, shaping
from ispsheets.delivery.pdf import choose_fonts, font_candidates, invoice_pdf, render_invoice
from ispsheets.delivery.shaping import bidi_runs, drawable, visual
from tests.scenario import Business, row
from tests.test_pdf import CLIENT, KNOWN, _doc

HEBREW = "שלום עולם"
ARABIC = "شركة الإنترنت"
DEJAVU = next((r for r, _ in font_candidates() if r.name == "DejaVuSans.ttf"), None)
needs_dejavu = pytest.mark.skipif(DEJAVU is None, reason="DejaVu Sans not installed "
                                  "(fonts-dejavu-core)")


def _scripts_doc():
    client = dataclasses.replace(CLIENT, name=HEBREW, address=ARABIC)
    lines = (dataclasses.replace(KNOWN[0], description="Fiber 🚀"), *KNOWN[1:])
    return _doc(lines=lines, client=client)


def _drawn(data: bytes) -> list[str]:
    """Every string the page's content stream shows, decoded through its font's ToUnicode
    map, in the order the glyphs are drawn (left to right); a .notdef glyph (code 0 in
    reportlab's TrueType subsets) comes back as `\\x00`."""
    page = PdfReader(io.BytesIO(data)).pages[0]
    fonts = page["/Resources"]["/Font"]
    maps: dict[str, dict[int, str]] = {}
    for name, font in fonts.items():
        font = font.get_object()
        if "/ToUnicode" not in font:
            maps[name] = {}
            continue
        cmap = font["/ToUnicode"].get_object().get_data().decode()
        chars = "".join(re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S))
        maps[name] = {int(code, 16): bytes.fromhex(uni).decode("utf-16-be")
                      for code, uni in re.findall(r"<([0-9A-F]{2})> <([0-9A-F]{4,})>", chars)}
    shown, current = [], ""
    for operands, op in ContentStream(page.get_contents(), page.pdf).operations:
        if op == b"Tf":
            current = operands[0]
        elif op in (b"Tj", b"TJ"):
            parts = operands[0] if op == b"TJ" else [operands[0]]
            raw = b"".join(bytes(p) if isinstance(p, bytes) else p.original_bytes
                           for p in parts if isinstance(p, str | bytes))
            table = maps.get(current)
            if not table:  # a built-in font: cp1252
                shown.append(raw.decode("cp1252", errors="replace"))
            else:
                shown.append("".join("\x00" if b == 0 else table.get(b, "\ufffd")
                                     for b in raw))
    return shown


@needs_dejavu
def test_hebrew_name_arabic_address_and_emoji_read_back_in_reading_order(tmp_path):
    path = render_invoice(_scripts_doc(), tmp_path / "INV-00042.pdf")
    (text,) = [p.extract_text() for p in PdfReader(path).pages]
    assert f"BILL TO\n{HEBREW}\n" in text
    assert ARABIC in unicodedata.normalize("NFKC", text)  # joined forms fold back to letters
    assert "Fiber Dec 1 – Dec 31, 2026 1 $49.99" in text  # the emoji left out, no gap
    assert "🚀" not in text and "BALANCE DUE $49.94" in text


@needs_dejavu
def test_right_to_left_text_is_drawn_in_visual_order_and_arabic_joined():
    drawn = _drawn(invoice_pdf(_scripts_doc()))
    assert HEBREW[::-1] in drawn  # ם first (leftmost), ש last: read from the right
    (arabic,) = [s for s in drawn if any("\u0600" <= ch <= "\ufeff" and ch.isalpha()
                                         for ch in s) and not any("\u05d0" <= ch <= "\u05ea"
                                                                  for ch in s)]
    assert unicodedata.normalize("NFKC", arabic[::-1]) == ARABIC
    # joined: ش at the start of its word in its initial form (U+FEB7), ة final (U+FE94),
    # لإ as the lam-alef ligature (U+FEF9); unjoined it would be the plain letters
    assert arabic[-1] == "\ufeb7" and "\ufe94" in arabic and "\ufef9" in arabic
    assert "Fiber" in drawn


@needs_dejavu
def test_no_notdef_box_anywhere_and_none_before_the_fix():
    drawn = _drawn(invoice_pdf(_scripts_doc()))
    assert not any("\x00" in s or "\ufffd" in s for s in drawn), drawn
    # the check can fail: without leaving the emoji out, it is drawn as .notdef
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdf, "readable", lambda doc, fonts: doc)
        assert any("\x00" in s for s in _drawn(invoice_pdf(_scripts_doc())))


@needs_dejavu
def test_only_strings_that_need_it_are_shaped():
    """An invoice set in DejaVu for a Vietnamese name draws as it did before shaping came."""
    doc = _doc(client=dataclasses.replace(CLIENT, name="Nguyễn Thị Ánh"))
    assert choose_fonts(doc).embedded
    vietnamese, scripts = invoice_pdf(doc), invoice_pdf(_scripts_doc())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdf, "needs_shaping", lambda text: False)
        assert invoice_pdf(doc) == vietnamese
        assert invoice_pdf(_scripts_doc()) != scripts  # the switch is what shapes


def _vera() -> Path:
    vera = next((r for r, _ in font_candidates() if r.name == "Vera.ttf"), None)
    if vera is None:
        pytest.skip("reportlab's Vera.ttf not found")
    return vera


def test_without_dejavu_hebrew_and_arabic_print_as_question_marks_not_boxes(monkeypatch):
    vera = _vera()  # reportlab's own font: Western European letters only
    monkeypatch.setattr(pdf, "font_candidates", lambda: [(vera, vera)])
    drawn = _drawn(invoice_pdf(_scripts_doc()))
    assert not any("\x00" in s for s in drawn)
    assert "???? ????" in drawn and "???? ????????" in drawn  # 4 + 4 and 4 + 8 letters
    assert "Fiber" in drawn


@needs_dejavu
def test_configured_font_without_the_letters_or_not_a_font_gives_way_to_one_that_has_them(
        tmp_path):
    dejavu = pdf._register(DEJAVU)[0]
    assert choose_fonts(_scripts_doc(), font=_vera()).regular == dejavu
    broken = tmp_path / "broken.ttf"
    broken.write_text("not a font")
    assert choose_fonts(_scripts_doc(), font=broken).regular == dejavu
    assert HEBREW[::-1] in _drawn(invoice_pdf(_scripts_doc(), font=broken))
    # a configured font that has the letters is the one used
    assert choose_fonts(_scripts_doc(), font=DEJAVU.with_name("DejaVuSans-Bold.ttf")).regular \
        == pdf._register(DEJAVU.with_name("DejaVuSans-Bold.ttf"))[0]


@needs_dejavu
def test_brackets_numbers_and_latin_inside_right_to_left_text():
    font = pdf._register(DEJAVU)[0]
    # a Latin line with a Hebrew word in brackets: the brackets stay with the Latin text
    assert str(visual("Fiber (שלום) 12", font, 9)[0]) == "Fiber (" + "םולש" + ") 12"
    # a Hebrew line: the number and the Latin word keep their own order, the brackets turn
    assert str(visual("שלום (12) abc", font, 9)[0]) == "abc (12) " + "םולש"
    assert bidi_runs("abc") == [("abc", False)]
    assert bidi_runs("שלום 12") == [("12", False), ("שלום ", True)]
    # the width is the shaped width: joined Arabic is narrower than its letters one by one
    joined = visual(ARABIC, font, 10)[1]
    assert 0 < joined < pdf.pdfmetrics.stringWidth(ARABIC, font, 10)


@needs_dejavu
def test_older_bidi_algorithm_is_the_fallback(monkeypatch):
    font = pdf._register(DEJAVU)[0]
    visual.cache_clear()

    def unexpected(text):
        raise ValueError("format changed")

    monkeypatch.setattr(shaping, "_resolved_levels", unexpected)
    try:
        assert str(visual(HEBREW + " 12", font, 9)[0]) == "12 " + HEBREW[::-1]
    finally:
        visual.cache_clear()


def test_emoji_are_left_out_with_their_joiners_and_other_missing_letters_are_question_marks():
    latin = frozenset(range(0x20, 0x250))
    assert drawable("Fiber 🚀", latin) == "Fiber"
    assert drawable("Family 👨\u200d👩\u200d👧 plan", latin) == "Family plan"
    assert drawable("Thumbs 👍🏽 up", latin) == "Thumbs up"
    assert drawable("Keycap 1\ufe0f\u20e3", latin) == "Keycap 1"
    assert drawable("Flag 🇮🇱", latin) == "Flag"
    assert drawable("王小明 Ltd", latin) == "??? Ltd"
    assert drawable("line one 🚀\nline two", latin) == "line one\nline two"
    assert drawable("plain text", latin) == "plain text"


def test_unicode_name_without_any_special_script_keeps_helvetica():
    assert choose_fonts(_doc()) == pdf.HELVETICA


# -- through the real run: what the client receives --------------------------------------


@needs_dejavu
def test_run_mails_an_invoice_with_hebrew_name_arabic_address_and_emoji_package(tmp_path):
    rows = {
        "Packages": [row("Packages", package_id="FIBER", name="Fiber 🚀",
                         price=Decimal("49.99"), interval="monthly")],
        "Clients": [row("Clients", client_id="C1", name=HEBREW, email="shalom@x.example",
                        address=ARABIC)],
        "Services": [row("Services", service_id="S1", client_id="C1", package_id="FIBER",
                         start_date=dt.date(2026, 12, 1))],
    }
    business = Business.create(tmp_path, rows)
    business.run(dt.date(2026, 11, 30))
    (mail,) = [m for m in business.mails() if m.kind == "invoice"]
    msg = email.message_from_bytes(mail.path.read_bytes(), policy=email.policy.default)
    (attachment,) = list(msg.iter_attachments())
    data = attachment.get_content()
    path = tmp_path / "received.pdf"
    path.write_bytes(data)
    (text,) = [p.extract_text() for p in PdfReader(path).pages]
    assert HEBREW in text
    assert ARABIC in unicodedata.normalize("NFKC", text)
    assert "Fiber" in text and "🚀" not in text
    drawn = _drawn(data)
    assert HEBREW[::-1] in drawn
    assert not any("\x00" in s for s in drawn)


@needs_dejavu
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm not installed")
def test_scripts_invoice_rasterises_at_80_dpi(tmp_path):
    path = render_invoice(_scripts_doc(), tmp_path / "INV-00042.pdf")
    done = subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(path),
                           str(tmp_path / "page")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr
    with Image.open(tmp_path / "page.png") as image:
        assert image.size == (680, 880)  # US letter at 80 dpi


@needs_dejavu
def test_emoji_sequences_go_whole_even_where_the_font_has_the_joiners():
    covered = pdf._register(DEJAVU)[1]
    assert {0x200D, 0xFE0F} <= covered  # DejaVu has the joiner and the emoji selector
    assert drawable("Family 👨\u200d👩\u200d👧 plan", covered) == "Family plan"
    assert drawable("Rocket\ufe0f🚀\ufe0f!", covered) == "Rocket!"
    assert drawable("Snow ☃\ufe0f", covered) == "Snow ☃\ufe0f"  # DejaVu draws ☃: kept


@needs_dejavu
def test_direction_marks_draw_nothing_and_trailing_space_returns_to_the_line_direction():
    font = pdf._register(DEJAVU)[0]
    assert str(visual("abc\u200fשלום", font, 9)[0]) == "abc" + "םולש"
    # an embedding left open to the end of the line (RLE): its trailing space goes back to
    # the line's direction (rule L1), at the right end, not before the Hebrew word
    assert str(visual("abc \u202bשלום ", font, 9)[0]) == "abc " + "םולש" + " "
    # Persian: the zero-width non-joiner keeps می apart from خواهم
    assert str(visual("می\u200cخواهم", font, 9)[0]) == "\ufee2\ufeeb\u0627\ufeee\ufea7\ufbfd\ufee3"


@needs_dejavu
def test_right_aligned_arabic_name_ends_at_the_margin_by_its_shaped_width():
    """Pages after the first repeat the client's name right-aligned: placed by the width of
    the joined text, not of its letters one by one."""
    lines = tuple(dataclasses.replace(KNOWN[0], line=n, description=f"Site {n}")
                  for n in range(1, 81))
    doc = _doc(lines=lines, client=dataclasses.replace(CLIENT, name=ARABIC), paid="0")
    page = PdfReader(io.BytesIO(invoice_pdf(doc))).pages[1]
    font = choose_fonts(doc).regular
    xs, x = [], None
    for operands, op in ContentStream(page.get_contents(), page.pdf).operations:
        if op == b"Tm":
            x = float(operands[4])
        elif op in (b"Tj", b"TJ"):
            xs.append(x)
    right = pdf.letter[0] - pdf.MARGIN
    shaped = right - visual(ARABIC, font, 8.5)[1]
    unshaped = right - pdf.pdfmetrics.stringWidth(ARABIC, font, 8.5)
    assert abs(shaped - unshaped) > 1  # the two differ, so the check below can fail
    assert any(x is not None and abs(x - shaped) < 0.01 for x in xs), (shaped, xs)


@needs_dejavu
def test_font_chosen_is_the_first_that_has_all_but_the_emoji_and_bold_only_if_it_has_it(
        monkeypatch):
    vera = _vera()
    dejavu_bold = DEJAVU.with_name("DejaVuSans-Bold.ttf")
    # Vera first: it lacks Hebrew and Arabic, so DejaVu is taken though it lacks 🚀 too
    monkeypatch.setattr(pdf, "font_candidates", lambda: [(vera, vera), (DEJAVU, dejavu_bold)])
    fonts = choose_fonts(_scripts_doc())
    assert (fonts.regular, fonts.bold) == (pdf._register(DEJAVU)[0],
                                           pdf._register(dejavu_bold)[0])
    # a bold face without Hebrew: the name is set in the regular face rather than as ????
    monkeypatch.setattr(pdf, "font_candidates", lambda: [(DEJAVU, vera)])
    fonts = choose_fonts(_scripts_doc())
    assert fonts.bold == fonts.regular == pdf._register(DEJAVU)[0]
    assert HEBREW[::-1] in _drawn(invoice_pdf(_scripts_doc()))


def test_with_no_truetype_font_at_all_helvetica_prints_question_marks_not_black_boxes(
        monkeypatch):
    monkeypatch.setattr(pdf, "font_candidates", lambda: [])
    fonts = choose_fonts(_scripts_doc())
    assert not fonts.embedded and fonts.lacking
    drawn = _drawn(invoice_pdf(_scripts_doc()))
    assert "???? ????" in drawn and "???? ????????" in drawn
    assert "Fiber" in drawn  # reportlab would set 🚀 as a black square in ZapfDingbats
    assert all(set(s) <= set(bytes(range(256)).decode("cp1252", errors="ignore"))
               for s in drawn)


# -- check: letters no font here has ------------------------------------------------------


def _shop(folder: Path, names: dict[str, str], package: str = "") -> Path:
    import openpyxl

    from ispsheets.scaffold import init_project

    init_project(folder, 3, dt.date(2026, 11, 20))
    book = openpyxl.load_workbook(folder / "isp.xlsx")
    for cell, value in names.items():
        book["Clients"][cell] = value
    if package:
        book["Packages"]["B2"] = package
    book.save(folder / "isp.xlsx")
    return folder


def test_check_warns_of_a_name_whose_letters_no_font_here_has_and_exits_0(tmp_path):
    import os
    import sys

    folder = _shop(tmp_path, {"B2": "王小明", "E3": "שלום עולם"}, package="Fiber 🚀")
    done = subprocess.run([sys.executable, "-m", "ispsheets", "check"], cwd=folder,
                          env={**os.environ, "COLUMNS": "200"}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert ("warning Clients!B2: 王小明: these characters print as ? on invoice PDFs (no font "
            "on this machine has them) — set invoicing.pdf_font to a TrueType (.ttf) font that "
            "has them" in lines) == (DEJAVU is not None)
    # Hebrew with DejaVu Sans here, and the emoji (left out by design): nothing to say
    if DEJAVU is not None:
        assert not [line for line in lines if "Clients!E3" in line or "Packages!" in line]


def test_check_without_dejavu_names_the_package_to_install(tmp_path, monkeypatch):
    from ispsheets.book.check import read_and_check
    from ispsheets.config import load_config

    vera = _vera()
    monkeypatch.setattr(pdf, "font_candidates", lambda: [(vera, vera)])
    folder = _shop(tmp_path, {"E3": "شركة الإنترنت"})
    config, _ = load_config(folder / "config.yaml")
    _, problems = read_and_check(config, dt.date(2026, 11, 25))
    (problem,) = [str(p) for p in problems if p.where.startswith("Clients!E")]
    assert problem.startswith("Clients!E3: شركةالإنت: these characters print as ?")
    assert "apt install fonts-dejavu-core" in problem
    assert not any(p.is_error for p in problems if "print as ?" in p.message)
