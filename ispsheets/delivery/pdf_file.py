"""The PDF file of a plain invoice canvas, written without reportlab's object formatter.

`Canvas.save()` builds the file by formatting each PDF object through reportlab's generic
object model (a dictionary, a name, a number at a time): about a fifth of an invoice's render
time, for a file whose structure is the same on every invoice. A plain invoice (the built-in
Helvetica faces; no form, link, outline or other extra; a logo allowed) always has the same
objects: the font dictionary, the two fonts and the logo's image, a page object per page, the
catalog, the document info, the page tree, a compressed content stream per page. `plain_pdf`
writes those objects with the same bytes reportlab writes (the image by reportlab's own
`format`; tests/test_pdf_file.py compares whole files over many invoices), and returns None for
any canvas holding something else, which is then saved by reportlab as before.
"""

from __future__ import annotations

import functools
import zlib
from hashlib import md5

import reportlab
from reportlab import rl_config
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.utils import TimeStamp
from reportlab.pdfbase.pdfdoc import (
    DummyDoc,
    NoEncryption,
    PDFDictionary,
    PDFImageXObject,
    PDFInfo,
    PDFObjectReference,
    PDFPage,
    PDFString,
    PDFText,
)
from reportlab.pdfgen.canvas import Canvas

# The reportlab releases whose files `plain_pdf` is checked against (tests/test_pdf_file.py): it
# reads reportlab's canvas internals, so with any other release reportlab saves the file itself.
CHECKED_WITH = frozenset({"5.1.0"})
HEADER = b"%PDF-1.4\n%\x93\x8c\x8b\x9e ReportLab Generated PDF document (opensource)\n"
FONTS = {"F1": b"<<\n/BaseFont /Helvetica /Encoding /WinAnsiEncoding /Name /F1 /Subtype /Type1 "
               b"/Type /Font\n>>",
         "F2": b"<<\n/BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding /Name /F2 "
               b"/Subtype /Type1 /Type /Font\n>>"}
FONT_MAPPING = {"Helvetica": "/F1", "Helvetica-Bold": "/F2"}
PAGE = ("<<\n/Contents {contents} 0 R /MediaBox [ 0 0 {width} {height} ] /Parent {parent} 0 R "
        "/Resources <<\n/Font 1 0 R /ProcSet [ /PDF /Text /ImageB /ImageC /ImageI ]{xobjects}\n>> "
        "/Rotate 0 /Trans <<\n\n>> \n  /Type /Page\n>>")
# Page attributes reportlab leaves unset on a plain page (any of them set: not plain).
UNSET = ("Parent", "MediaBox", "Resources", "Contents", "CropBox", "Thumb", "B", "Dur", "Hid",
         "AA", "PieceInfo", "LastModified", "SeparationInfo", "ArtBox", "TrimBox", "BleedBox",
         "ID", "PZ", "ExtGState")


def plain_pdf(canvas: Canvas) -> bytes | None:
    """The file `canvas.save()` would write, when the canvas is a plain one; else None.

    Called where `save()` would be, with every page shown (`showPage`)."""
    if reportlab.Version not in CHECKED_WITH:
        return None
    doc = canvas._doc
    pages = doc.Pages.pages
    count = len(pages)
    resources = _resources(canvas, count)
    if resources is None:
        return None
    numbers = {name: number for number, name in doc.numberToId.items()}
    first_page = 2 + len(resources)  # the font dictionary, the fonts and images, the pages
    catalog, info_n, tree = first_page + count, first_page + count + 1, first_page + count + 2
    objects = [b"<<\n/F1 %d 0 R /F2 %d 0 R\n>>" % (numbers["F1"], numbers["F2"])]
    objects += [FONTS[name] if isinstance(name, str) else name.format(doc)
                for name in resources]
    streams = []
    for number, page in enumerate(pages):
        objects.append(PAGE.format(contents=tree + 1 + number, width=_number(page.pagewidth),
                                   height=_number(page.pageheight), parent=tree,
                                   xobjects=_xobjects(page, numbers)).encode())
        data = page.stream
        streams.append(zlib.compress(data.encode("utf8") if isinstance(data, str) else data))
    objects.append(f"<<\n/PageMode /UseNone /Pages {tree} 0 R /Type /Catalog\n>>".encode())
    objects.append(_info(doc.info, doc._timeStamp))
    kids = " ".join(f"{first_page + n} 0 R" for n in range(count))
    objects.append(f"<<\n/Count {count} /Kids [ {kids} ] /Type /Pages\n>>".encode())
    objects += [b"<<\n/Filter [ /FlateDecode ] /Length %d\n>>\nstream\n%sendstream"
                % (len(data), data) for data in streams]
    out = [HEADER]
    offsets = []
    offset = len(HEADER)
    for number, body in enumerate(objects, start=1):
        offsets.append(offset)
        chunk = b"%d 0 obj\n%s%sendobj\n" % (number, body, b"" if body.endswith(b"\n") else b"\n")
        out.append(chunk)
        offset += len(chunk)
    size = len(objects) + 1
    out.append(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    out.append(b"".join(b"%010d 00000 n \n" % o for o in offsets))
    out.append(b"trailer\n<<\n/ID %s\n/Info %d 0 R\n/Root %d 0 R\n/Size %d\n>>\nstartxref\n%d\n"
               b"%%%%EOF\n" % (_document_id(doc.info), info_n, catalog, size, offset))
    return b"".join(out)


def _resources(canvas: Canvas, count: int) -> list[str | PDFImageXObject] | None:
    """The objects between the font dictionary and the pages, in their order: the two
    Helvetica faces (by name) and the images (a logo); None when the canvas holds anything
    else, or is not as `plain_pdf` writes it."""
    doc = canvas._doc
    ids = [doc.numberToId.get(number) for number in range(1, len(doc.numberToId) + 1)]
    pages = [f"Page{n + 1}" for n in range(count)]
    if not count or ids[:1] != ["BasicFonts"] or ids[len(ids) - count:] != pages:
        return None
    resources: list[str | PDFImageXObject] = []
    for name in ids[1:len(ids) - count]:
        obj = doc.idToObject.get(name)
        if name in ("F1", "F2"):
            resources.append(name)
        elif (type(obj) is PDFImageXObject and not obj.mask and not getattr(obj, "smask", None)
              and not getattr(obj, "_decode", None) and obj.colorSpace != "DeviceCMYK"):
            resources.append(obj)
        else:
            return None
    if sorted(n for n in resources if isinstance(n, str)) != ["F1", "F2"] \
            or not _plain(canvas):
        return None
    images = {name for name in ids if type(doc.idToObject.get(name)) is PDFImageXObject}
    for page in doc.Pages.pages:
        if page.XObjects is not None and not (
                type(page.XObjects) is PDFDictionary and page.XObjects.dict
                and all(key in images and type(ref) is PDFObjectReference and ref.name == key
                        for key, ref in page.XObjects.dict.items())):
            return None
    return resources


def _xobjects(page: PDFPage, numbers: dict[str, int]) -> str:
    """A page's `/XObject` resources (its images), as reportlab writes them."""
    if page.XObjects is None:
        return ""
    entries = "\n ".join(f"/{key} {numbers[key]} 0 R" for key in sorted(page.XObjects.dict))
    return f" /XObject <<\n{entries}\n>>"


def _plain(canvas: Canvas) -> bool:
    """Only what `plain_pdf` writes: fonts and images, pages, and nothing else."""
    doc = canvas._doc
    if (rl_config.useA85 or (rl_config.pdfComments and not rl_config.invariant)
            or doc.fontMapping != FONT_MAPPING
            or doc.delayedFonts or type(doc.encrypt) is not NoEncryption
            or doc.defaultStreamFilters is not None
            or doc._pdfVersion != (1, 4) or not doc.invariant or doc.compression != 1
            or canvas._destinations or canvas._outlines or canvas._annotationCount
            or canvas._code or doc.Outlines.ready is not None
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
