"""The PDF file of a plain invoice canvas, written without reportlab's object formatter.

`Canvas.save()` builds the file by formatting each PDF object through reportlab's generic
object model (a dictionary, a name, a number at a time): about a fifth of an invoice's render
time, for a file whose structure is the same on every invoice. A plain invoice (the built-in
Helvetica faces only; no image, form, link, outline or other extra) always has the same objects:
the font dictionary, the two fonts, a page object per page, the catalog, the document info, the
page tree, a compressed content stream per page. `plain_pdf` writes those objects with the same
bytes reportlab writes (tests/test_pdf_file.py compares them over many invoices), and returns
None for any canvas holding something else, which is then saved by reportlab as before.
"""

from __future__ import annotations

import functools
import zlib
from hashlib import md5

from reportlab import rl_config
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.utils import TimeStamp
from reportlab.pdfbase.pdfdoc import (
    DummyDoc,
    NoEncryption,
    PDFDictionary,
    PDFInfo,
    PDFString,
    PDFText,
)
from reportlab.pdfgen.canvas import Canvas

HEADER = b"%PDF-1.4\n%\x93\x8c\x8b\x9e ReportLab Generated PDF document (opensource)\n"
FONTS = (b"<<\n/F1 2 0 R /F2 3 0 R\n>>",
         b"<<\n/BaseFont /Helvetica /Encoding /WinAnsiEncoding /Name /F1 /Subtype /Type1 "
         b"/Type /Font\n>>",
         b"<<\n/BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding /Name /F2 /Subtype /Type1 "
         b"/Type /Font\n>>")
FONT_MAPPING = {"Helvetica": "/F1", "Helvetica-Bold": "/F2"}
PAGE = ("<<\n/Contents {contents} 0 R /MediaBox [ 0 0 {width} {height} ] /Parent {parent} 0 R "
        "/Resources <<\n/Font 1 0 R /ProcSet [ /PDF /Text /ImageB /ImageC /ImageI ]\n>> "
        "/Rotate 0 /Trans <<\n\n>> \n  /Type /Page\n>>")
# Page attributes reportlab leaves unset on a plain page (any of them set: not plain).
UNSET = ("Parent", "MediaBox", "Resources", "Contents", "CropBox", "Thumb", "B", "Dur", "Hid",
         "AA", "PieceInfo", "LastModified", "SeparationInfo", "ArtBox", "TrimBox", "BleedBox",
         "ID", "PZ", "XObjects", "ExtGState")


def plain_pdf(canvas: Canvas) -> bytes | None:
    """The file `canvas.save()` would write, when the canvas is a plain one; else None.

    Called where `save()` would be, with every page shown (`showPage`)."""
    doc = canvas._doc
    pages = doc.Pages.pages
    count = len(pages)
    if not _plain(canvas, count):
        return None
    info = doc.info
    catalog, info_n, tree = 4 + count, 5 + count, 6 + count
    objects = list(FONTS)
    streams = []
    for number, page in enumerate(pages):
        objects.append(PAGE.format(contents=tree + 1 + number, width=_number(page.pagewidth),
                                   height=_number(page.pageheight), parent=tree).encode())
        data = page.stream
        streams.append(zlib.compress(data.encode("utf8") if isinstance(data, str) else data))
    objects.append(f"<<\n/PageMode /UseNone /Pages {tree} 0 R /Type /Catalog\n>>".encode())
    objects.append(_info(info, doc._timeStamp))
    kids = " ".join(f"{4 + n} 0 R" for n in range(count))
    objects.append(f"<<\n/Count {count} /Kids [ {kids} ] /Type /Pages\n>>".encode())
    objects += [b"<<\n/Filter [ /FlateDecode ] /Length %d\n>>\nstream\n%sendstream"
                % (len(data), data) for data in streams]
    out = [HEADER]
    offsets = []
    offset = len(HEADER)
    for number, body in enumerate(objects, start=1):
        offsets.append(offset)
        chunk = b"%d 0 obj\n%s\nendobj\n" % (number, body)
        out.append(chunk)
        offset += len(chunk)
    size = len(objects) + 1
    out.append(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    out.append(b"".join(b"%010d 00000 n \n" % o for o in offsets))
    out.append(b"trailer\n<<\n/ID %s\n/Info %d 0 R\n/Root %d 0 R\n/Size %d\n>>\nstartxref\n%d\n"
               b"%%%%EOF\n" % (_document_id(info), info_n, catalog, size, offset))
    return b"".join(out)


def _plain(canvas: Canvas, count: int) -> bool:
    """Only what `plain_pdf` writes: both Helvetica faces, pages and nothing else."""
    doc = canvas._doc
    expected = {1: "BasicFonts", 2: "F1", 3: "F2"}
    expected.update({4 + n: f"Page{n + 1}" for n in range(count)})
    if (not count or rl_config.useA85 or (rl_config.pdfComments and not rl_config.invariant)
            or doc.numberToId != expected or doc.fontMapping != FONT_MAPPING
            or doc.delayedFonts or type(doc.encrypt) is not NoEncryption
            or doc._pdfVersion != (1, 4) or not doc.invariant or doc.compression != 1
            or canvas._destinations or canvas._outlines or canvas._annotationCount
            or canvas._formsinuse or canvas._code or doc.Outlines.ready is not None
            or set(vars(doc.Catalog)) != {"Pages", "Outlines"}
            or type(doc.info).format is not PDFInfo.format
            or doc.info.keywords or doc.info.producer != PDFInfo.producer
            or doc.info.trapped != "False" or doc.info._dateFormatter is None
            or not isinstance(doc.info.title, str) or not isinstance(doc.info.author, str)
            or not isinstance(doc.info.subject, str)
            or not isinstance(doc.info.creator, str)):
        return False
    for page in doc.Pages.pages:
        if (page.Rotate != 0 or page.Annots or page.hasImages != 1 or page.compression != 1
                or page._colorsUsed or page._shadingUsed or page.Override_default_compilation
                or any(getattr(page, name) is not None for name in UNSET)
                or not isinstance(page.Trans, PDFDictionary) or page.Trans.dict
                or not isinstance(page.stream, str)):
            return False
    return True


def _number(value: float) -> str:
    """A number as reportlab writes it in an array (`612`, `595.2756`)."""
    return fp_str(value)


_DUMMY = DummyDoc()


def _info(info: PDFInfo, stamp: TimeStamp) -> bytes:
    """The document info dictionary, as `PDFInfo.format` writes it."""
    string = _string
    date = _date(info, stamp)
    entries = [b"/Author " + string(info.author), b"/CreationDate " + date,
               b"/Creator " + string(info.creator), b"/Keywords ()", b"/ModDate " + date,
               b"/Producer " + _PRODUCER, b"\n ", b"/Subject " + string(info.subject),
               b"/Title " + string(info.title), b"/Trapped /False"]
    return b"<<\n" + b" ".join(entries) + b"\n>>"


@functools.lru_cache(maxsize=256)
def _string(text: str) -> bytes:
    """A text string as reportlab writes it; the same author, creator and dates recur on
    every invoice of a run."""
    return PDFString(text).format(_DUMMY)


_PRODUCER = PDFString(PDFInfo.producer).format(_DUMMY)


def _date(info: PDFInfo, stamp: TimeStamp) -> bytes:
    return _string(info._dateFormatter(*stamp.YMDhms))


@functools.cache
def _signature_start() -> object:
    """reportlab's document signature as it starts in invariant mode."""
    sig = md5(usedforsecurity=False)
    sig.update(b"a reportlab document")
    sig.update(ascii(TimeStamp(1).t).encode("utf8"))
    return sig


def _document_id(info: PDFInfo) -> bytes:
    """The file identifier: reportlab's signature of the info (title, author, subject,
    keywords) in invariant mode."""
    sig = _signature_start().copy()  # type: ignore[attr-defined]
    for text in (info.title, info.author, info.subject, info.keywords):
        sig.update(text.encode("utf8"))
    ids = PDFText(sig.digest(), enc="raw").format(_DUMMY)
    return b"\n[" + ids + ids + b"]\n% ReportLab generated PDF document -- digest (opensource)\n"
