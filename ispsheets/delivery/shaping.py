"""Text as a PDF page must hold it: right-to-left runs in visual order and joined, and what the
invoice's font cannot draw left out or marked, never drawn as an empty box.

A PDF draws glyphs left to right, as given. Hebrew and Arabic are stored in reading (logical)
order, so drawn as they are they come out reversed, and Arabic letters unjoined. Here the
Unicode bidirectional algorithm (python-bidi) splits a line into runs of one direction, each
run is shaped by HarfBuzz (uharfbuzz: Arabic joining forms and ligatures, marks placed,
brackets mirrored in right-to-left runs) and the runs are put in the order the eye reads them.
The result is a reportlab `ShapedStr`, which reportlab's canvas draws glyph by glyph.

Emoji are colour bitmaps (Noto Color Emoji) that reportlab cannot embed, and a TrueType font
for text has none: they are left out of the PDF ("Fiber 🚀" prints "Fiber"), with the
invisible characters that go with them (variation selectors, joiners, skin tones). Any other
character the font lacks prints as `?`, so a reader sees something is missing.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from bidi import algorithm as _bidi
from bidi import get_display
from bidi.mirror import MIRRORED
from reportlab.pdfbase import pdfmetrics

try:  # shaping; without it right-to-left text is still put in reading order, unjoined
    import uharfbuzz
    from reportlab.pdfbase.ttfonts import ShapeData, ShapedStr  # reportlab's shaped text
except ImportError:  # pragma: no cover - uharfbuzz is a dependency; a platform may lack it
    uharfbuzz = None

# Bidi classes that make a string need reordering; marks that need placing by the shaper.
_RTL_CLASSES = frozenset({"R", "AL", "AN", "RLE", "RLO", "RLI"})
_MARKS = frozenset({"Mn", "Mc", "Me"})
# Characters left out when the font lacks them: pictographs and symbols (emoji), their
# modifiers, and the marks and format characters that build emoji sequences.
_DROPPED = frozenset({"So", "Sk", "Cf", "Mn", "Mc", "Me", "Co", "Cn"})
# Bidi classes the algorithm takes out of the text (rule X9); they keep their neighbour's level.
_X9_REMOVED = frozenset(_bidi.X9_REMOVED)
# What glues an emoji sequence together (joiner, variation selectors, keycap, skin tones):
# left out with the emoji beside it even when the font has them.
_EMOJI_GLUE = frozenset({0x200D, 0xFE0E, 0xFE0F, 0x20E3, *range(0x1F3FB, 0x1F400)})
MISSING = "?"


@functools.lru_cache(maxsize=16384)
def needs_shaping(text: str) -> bool:
    """True when `text` holds right-to-left letters or combining marks."""
    return any(unicodedata.bidirectional(ch) in _RTL_CLASSES
               or unicodedata.category(ch) in _MARKS for ch in text)


def dropped_when_missing(ch: str) -> bool:
    """True for a character left out, rather than shown as `?`, when the font lacks it."""
    return unicodedata.category(ch) in _DROPPED


def drawable(text: str, covered: frozenset[int]) -> str:
    """`text` with what `covered` (the font's code points) lacks left out or shown as `?`."""
    if all(ord(ch) in covered or ch.isspace() for ch in text):
        return text
    out: list[str] = []
    dropped = last_dropped = False
    for ch in text:
        code = ord(ch)
        if last_dropped and code in _EMOJI_GLUE:
            continue  # the rest of a left-out emoji sequence
        last_dropped = False
        if code in covered or ch.isspace():
            out.append(ch)
        elif dropped_when_missing(ch):
            dropped = last_dropped = True
            while out and ord(out[-1]) in _EMOJI_GLUE:
                out.pop()
        else:
            out.append(MISSING)
    result = "".join(out)
    if dropped:  # "Fiber 🚀 plan" → "Fiber plan", not "Fiber  plan"
        result = "\n".join(re.sub(r"[ \t]{2,}", " ", line).strip(" \t")
                           for line in result.split("\n"))
    return result


def bidi_runs(text: str) -> list[tuple[str, bool]]:
    """`text` cut into runs of one direction, `(run, right_to_left)`, in visual order (left
    to right on the page); each run's characters stay in reading order."""
    if not text:
        return []
    levels = _levels(text)
    runs: list[tuple[int, str]] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or levels[i] != levels[start]:
            runs.append((levels[start], text[start:i]))
            start = i
    odd = [level for level, _ in runs if level % 2]
    if odd:
        # Rule L2: from the highest level down to the lowest odd one, reverse every sequence
        # of runs at that level or higher.
        for level in range(max(lv for lv, _ in runs), min(odd) - 1, -1):
            i = 0
            while i < len(runs):
                if runs[i][0] < level:
                    i += 1
                    continue
                j = i
                while j < len(runs) and runs[j][0] >= level:
                    j += 1
                runs[i:j] = runs[i:j][::-1]
                i = j
    return [(run, level % 2 == 1) for level, run in runs]


def _levels(text: str) -> list[int]:
    """The embedding level of each character of a one-line `text`, with rule L1 for trailing
    white space."""
    try:
        levels = _resolved_levels(text)
    except ValueError:  # an unexpected answer from python-bidi: its older algorithm
        levels = _v1_levels(text)
    base = _bidi.get_base_level(text)
    end = len(text)
    while end and text[end - 1].isspace():
        end -= 1
    levels[end:] = [base] * (len(text) - end)
    return levels


def _resolved_levels(text: str) -> list[int]:
    """Levels from python-bidi's current algorithm (Unicode 15, with paired brackets: in
    "Fiber (שלום) 12" both brackets stay with "Fiber"). It gives them only in its debug
    answer, one per UTF-8 byte; anything unexpected there raises ValueError."""
    answer = str(get_display(text, debug=True))
    start = answer.rindex("levels: [")
    found = [int(n) for n in _LEVEL.findall(answer, start, answer.rindex("paragraphs: ["))]
    if len(found) != len(text.encode()):
        raise ValueError("levels do not match the text")
    levels, offset = [], 0
    for ch in text:
        levels.append(found[offset])
        offset += len(ch.encode())
    return levels


_LEVEL = re.compile(r"Level\(\s*(\d+)")


def _v1_levels(text: str) -> list[int]:
    """Levels from python-bidi's older pure-Python algorithm (no paired brackets)."""
    storage = _bidi.get_empty_storage()
    base = _bidi.get_base_level(text)
    storage["base_level"], storage["base_dir"] = base, ("L", "R")[base]
    _bidi.get_embedding_levels(text, storage)
    _bidi.explicit_embed_and_overrides(storage, False)
    _bidi.resolve_weak_types(storage, False)
    _bidi.resolve_neutral_types(storage, False)
    _bidi.resolve_implicit_levels(storage, False)
    resolved = iter(storage["chars"])
    levels: list[int] = []
    for ch in text:
        if unicodedata.bidirectional(ch) in _X9_REMOVED:  # e.g. a zero-width (non-)joiner
            levels.append(levels[-1] if levels else base)
        else:
            levels.append(next(resolved)["level"])
    return levels


@functools.lru_cache(maxsize=8192)
def visual(text: str, font: str, size: float) -> tuple[str, float]:
    """`text` as the glyphs to draw left to right in `font` (a reportlab `ShapedStr` when the
    font can be shaped), and its width at `size`."""
    face = pdfmetrics.getFont(font)
    if uharfbuzz is None or not getattr(face, "shapable", False):
        line = "".join(_mirrored(run) if rtl else run for run, rtl in bidi_runs(text))
        return line, pdfmetrics.stringWidth(line, font, size)
    shaped = [_shape(face, run, size, rtl) for run, rtl in bidi_runs(text)]
    line = functools.reduce(lambda a, b: a + b, shaped) if shaped else ""
    advance = sum(d.x_advance for s in shaped for d in s.__shapeData__)
    return line, advance * size / 1000


def _mirrored(run: str) -> str:
    """A right-to-left run reversed, brackets turned round (without a shaper)."""
    return "".join(MIRRORED.get(ch, ch) for ch in reversed(run))


def _shape(face: object, run: str, size: float, rtl: bool) -> ShapedStr:
    """One run of one direction shaped by HarfBuzz: its glyphs left to right, as the
    characters reportlab's subset maps them from, with HarfBuzz's advances and offsets."""
    font = face.hbFont(size)  # type: ignore[attr-defined]
    buffer = uharfbuzz.Buffer()
    buffer.cluster_level = uharfbuzz.BufferClusterLevel.MONOTONE_CHARACTERS
    buffer.add_str(run)
    buffer.direction = "rtl" if rtl else "ltr"
    buffer.guess_segment_properties()
    uharfbuzz.shape(font, buffer, {"kern": True, "liga": True})
    ttf = face.face  # type: ignore[attr-defined]
    scale = face.pdfScale  # type: ignore[attr-defined]
    chars, data = [], []
    for info, pos in zip(buffer.glyph_infos, buffer.glyph_positions, strict=True):
        if not pos.x_advance and unicodedata.category(run[info.cluster]) == "Cf":
            continue  # a zero-width joiner, a direction mark: nothing to draw
        gid = info.codepoint
        owners: Iterable[int] = ttf.glyphToChar.get(gid) or ()
        code = next(iter(owners), None)
        if code is None:  # a ligature or form no character maps to: a private code point
            code = face.hbAddPrivate(font.glyph_to_string(gid), gid,  # type: ignore[attr-defined]
                                     pos.x_advance)
        chars.append(chr(code))
        data.append(ShapeData(info.cluster, scale(pos.x_advance), scale(pos.y_advance),
                              scale(pos.x_offset), scale(pos.y_offset), ttf.charWidths[code]))
    return ShapedStr("".join(chars), shapeData=data)
