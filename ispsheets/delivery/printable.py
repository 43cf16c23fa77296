"""`check`: names, addresses and package names an invoice PDF would print with `?`, because no
font on this machine has their letters (see docs/invoices-and-email.md, Names in any language)."""

from __future__ import annotations

from ispsheets.book.records import Book, Origin
from ispsheets.config import Config
from ispsheets.problems import Problem, warning

SHOWN = 10  # warnings for so many cells, then one that counts the rest


def check_printable(config: Config, book: Book) -> list[Problem]:
    """One warning per cell whose text has letters no installed font has (emoji not counted:
    they are left out by design). Fonts are looked at only when some text is not plain
    Western European, so an English workbook is checked at no cost."""
    cells: list[tuple[Origin, str, str]] = [
        *((c.origin, column, text) for c in book.clients
          for column, text in (("name", c.name), ("address", c.address)) if text),
        *((p.origin, "name", p.name) for p in book.packages if p.name)]
    cells = [cell for cell in cells if not _western(cell[2])]
    if not cells:
        return []
    from ispsheets.delivery.pdf import font_candidates, unprintable  # reportlab: if needed

    font = config.path(config.invoicing.pdf_font) if config.invoicing.pdf_font else None
    found = [(origin, column, missing) for origin, column, text in cells
             if (missing := unprintable(text, font))]
    fix = "set invoicing.pdf_font to a TrueType (.ttf) font that has them"
    if not any(r.name == "DejaVuSans.ttf" for r, _ in font_candidates()):
        fix = ("install DejaVu Sans (Debian/Ubuntu: apt install fonts-dejavu-core), which has "
               f"Hebrew, Arabic, Greek, Cyrillic and Vietnamese, or {fix}")
    problems = [warning(origin.cell(column), _message(missing), fix)
                for origin, column, missing in found[:SHOWN]]
    if len(found) > SHOWN:
        problems.append(warning(f"{found[SHOWN][0].layout.tab}",
                                f"{len(found) - SHOWN} more cells have letters that print as ? "
                                "on invoice PDFs", fix))
    return problems


def _message(missing: str) -> str:
    one = len(missing) == 1
    return (f"{missing}: {'this character prints' if one else 'these characters print'} as ? "
            f"on invoice PDFs (no font on this machine has {'it' if one else 'them'})")


def _western(text: str) -> bool:
    """Text Helvetica, the PDF's built-in font, prints (cp1252)."""
    if text.isascii():
        return True
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True
