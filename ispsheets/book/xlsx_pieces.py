"""A rewritten zip member's deflate stream in independent pieces, remembered for the next write.

A member ispsheets writes is deflated as pieces of about `PIECE` bytes of XML, each compressed on
its own (no dictionary from the piece before it) and ended by a sync flush, then one empty final
block: the pieces join into one valid deflate stream, and any piece can be inflated, or copied
into another stream, on its own. The write remembers each member's pieces (their XML and
compressed lengths and CRC-32s) in a file beside the tab cache, under what proves the member is
still exactly the bytes written: its CRC-32, sizes and a BLAKE2b digest of its compressed bytes.

The next write of that sheet re-deflates only the pieces whose XML changes and copies the
others' compressed bytes; the member's CRC-32 is combined from the pieces' (`crc32_combine`).
A member whose record is missing or does not match (a workbook saved by Excel, a first run, a
damaged record) is deflated whole, as pieces, and recorded for the next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

PIECE = 1 << 20  # XML bytes per piece: a changed row re-deflates about this much
FINAL = b"\x03\x00"  # an empty final block (fixed Huffman): ends a stream of sync-flushed pieces
FORMAT = "ispsheets-deflate-pieces 1"
_LOOK = 1 << 16  # how far past `PIECE` a piece may run to end at a row's end
_POLY = 0xEDB88320
_WORKSHEET = re.compile(rb"<(\w+:)?worksheet\b")


# -- CRC-32 of a concatenation (zlib's crc32_combine, which Python's zlib does not offer) ------


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial (bit-reflected, as zlib)."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> list[int]:
    table, p = [], 1 << 30  # x^1
    for _ in range(32):
        table.append(p)
        p = _multmodp(p, p)
    return table


_X2N = _x2n_table()


def _x8nmodp(length: int) -> int:
    """x^(8 * length) modulo the polynomial: the operator that shifts a CRC past `length` bytes."""
    p, k = 1 << 31, 3
    while length:
        if length & 1:
            p = _multmodp(_X2N[k & 31], p)
        length >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from crc32(A), crc32(B) and len(B)."""
    return _multmodp(_x8nmodp(length2), crc1) ^ crc2


# -- pieces ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """A member as ispsheets wrote it: its zip directory values, the digest of its compressed
    bytes, and its pieces as (XML length, compressed length, CRC-32)."""

    crc: int
    csize: int
    usize: int
    digest: str
    pieces: tuple[tuple[int, int, int], ...]

    def consistent(self) -> bool:
        """The pieces add up to the member (a record damaged in its numbers fails this)."""
        crc, size = 0, 0
        for xlen, _, piece_crc in self.pieces:
            crc = crc32_combine(crc, piece_crc, xlen)
            size += xlen
        return (crc == self.crc and size == self.usize
                and sum(c for _, c, _ in self.pieces) + len(FINAL) == self.csize)


def digest(blocks: Iterable[bytes | memoryview]) -> str:
    hashed = hashlib.blake2b(digest_size=16)
    for block in blocks:
        hashed.update(block)
    return hashed.hexdigest()


@dataclass(frozen=True)
class Reuse:
    """What a member's new content may take from its old one: the record of the old stream
    and its compressed bytes."""

    record: Record
    raw: memoryview


Bytes = bytes | memoryview
Segment = tuple[int | None, "Bytes | Gap"]  # (offset in the old XML or None: new, bytes)


class Pieces:
    """A member's new deflate stream: pieces copied from the old stream or being deflated."""

    def __init__(self) -> None:
        self.blocks: list[bytes | memoryview | Future[tuple[bytes, int]]] = []
        self.lengths: list[int] = []  # XML bytes of each piece
        self.crcs: list[int | None] = []  # known now (copied pieces) or when deflated
        self.reused = 0  # XML bytes copied compressed

    def copy(self, compressed: memoryview, xlen: int, crc: int) -> None:
        self.blocks.append(compressed)
        self.lengths.append(xlen)
        self.crcs.append(crc)
        self.reused += xlen

    def deflate(self, block: bytes, pool: ThreadPoolExecutor | None, level: int) -> None:
        self.blocks.append(pool.submit(_deflate_piece, block, level) if pool is not None
                           else _done(_deflate_piece(block, level)))
        self.lengths.append(len(block))
        self.crcs.append(None)

    def finish(self) -> tuple[list[bytes | memoryview], int, tuple[tuple[int, int, int], ...]]:
        """The compressed blocks (waiting for them), the member's CRC-32 and its record."""
        out: list[bytes | memoryview] = []
        pieces: list[tuple[int, int, int]] = []
        crc = 0
        for block, xlen, known in zip(self.blocks, self.lengths, self.crcs, strict=True):
            if isinstance(block, Future):
                block, piece_crc = block.result()
            else:
                assert known is not None
                piece_crc = known
            out.append(block)
            pieces.append((xlen, len(block), piece_crc))
            crc = crc32_combine(crc, piece_crc, xlen)
        out.append(FINAL)
        return out, crc, tuple(pieces)


def _done(value: tuple[bytes, int]) -> Future[tuple[bytes, int]]:
    future: Future[tuple[bytes, int]] = Future()
    future.set_result(value)
    return future


def _deflate_piece(block: bytes, level: int) -> tuple[bytes, int]:
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    return comp.compress(block) + comp.flush(zlib.Z_SYNC_FLUSH), zlib.crc32(block)


def segments(pieces: Sequence[Bytes | Gap],
             origins: Sequence[int | None] | None) -> list[Segment]:
    """The new XML as segments tagged with where in the old XML they come from."""
    if origins is None:
        return [(None, p) for p in pieces]
    return list(zip(origins, pieces, strict=True))


def build(parts: Sequence[Segment], reuse: Reuse | None, pool: ThreadPoolExecutor | None,
          level: int, marker: bytes | None = None) -> Pieces:
    """Deflate the new XML (`parts`), copying the old pieces that lie wholly in kept stretches;
    new pieces end after a `marker` where they can (None: a worksheet's row end)."""
    if marker is None:
        marker = _row_end(parts)
    out = Pieces()
    fresh: list[Bytes] = []
    for origin, data in _with_reused(parts, reuse):
        if isinstance(origin, _Old):
            assert reuse is not None
            for block in _cut(fresh, marker):
                out.deflate(block, pool, level)
            fresh = []
            out.copy(reuse.raw[origin.cstart:origin.cstart + origin.clen], origin.xlen,
                     origin.crc)
        else:
            if isinstance(data, Gap):  # the pieces left out of a Partial are all copied
                raise ValueError("a gap in a sheet's XML that no old piece fills")
            fresh.append(data)
    for block in _cut(fresh, marker):
        out.deflate(block, pool, level)
    return out


def _row_end(parts: Sequence[Segment]) -> bytes:
    """`</row>` (in the sheet's namespace prefix) if the XML is a worksheet's, else nothing."""
    first = next((data for _, data in parts if len(data)), b"")
    if isinstance(first, Gap):
        return b""
    root = _WORKSHEET.search(bytes(first[:4096]))
    return b"</" + (root.group(1) or b"") + b"row>" if root else b""


@dataclass(frozen=True)
class _Old:
    """An old piece copied as it is."""

    xlen: int
    cstart: int
    clen: int
    crc: int


def _with_reused(parts: Sequence[Segment], reuse: Reuse | None
                 ) -> Iterator[tuple[_Old | int | None, Bytes | Gap]]:
    """`parts` with every old piece that lies inside a kept segment given as `_Old`."""
    if reuse is None:
        yield from parts
        return
    old: list[tuple[int, _Old]] = []  # (XML start, piece)
    xstart = cstart = 0
    for xlen, clen, crc in reuse.record.pieces:
        old.append((xstart, _Old(xlen, cstart, clen, crc)))
        xstart += xlen
        cstart += clen
    i = 0
    for origin, data in parts:
        if origin is None:
            yield origin, data
            continue
        end = origin + len(data)
        at = origin
        while i < len(old) and old[i][0] < origin:
            i += 1
        while i < len(old) and old[i][0] + old[i][1].xlen <= end:
            start, piece = old[i]
            if piece.xlen:
                if start > at:
                    yield at, data[at - origin:start - origin]
                yield piece, b""
                at = start + piece.xlen
            i += 1
        if at < end:
            yield at, data[at - origin:]


def _cut(fresh: list[bytes | memoryview], marker: bytes) -> Iterator[bytes]:
    """The new XML between copied pieces, in pieces of about `PIECE` bytes (the last one up to
    half as long again), each cut just after a `marker` (the end of a row) where there is one
    close after `PIECE` bytes. A big stretch is sliced, never copied whole."""
    if sum(map(len, fresh)) <= PIECE * 3 // 2:
        if fresh:
            yield b"".join(fresh)
        return
    held: list[bytes | memoryview] = []
    held_len = 0
    for chunk in fresh:
        view = memoryview(chunk)
        at = 0
        while len(view) - at + held_len >= PIECE * 3 // 2:
            start = at + max(PIECE - held_len, 0)
            found = bytes(view[start:start + _LOOK]).find(marker) if marker else -1
            cut = start + found + len(marker) if found >= 0 else start
            held.append(view[at:cut])
            yield b"".join(held)
            held, held_len, at = [], 0, cut
        if at < len(view):
            held.append(view[at:])
            held_len += len(view) - at
    if held:
        yield b"".join(held)


# -- a sheet without its middle -------------------------------------------------------------


class Gap:
    """The old pieces a `Partial` leaves out, in a patched sheet's pieces: copied as they are."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: slice) -> bytes:
        raise ValueError("a gap in a sheet's XML that no old piece fills")


@dataclass(frozen=True)
class Partial:
    """A sheet's XML with only its first and last pieces inflated: `xml` is their bytes, the
    rows of the pieces between (`gap` bytes, from offset `head`) left out. Both cuts are at a
    row's end, so `xml` is the sheet as if those rows were not there."""

    xml: bytes
    head: int
    gap: int
    reuse: Reuse

    def widen(self, pieces: Sequence[bytes | memoryview], origins: Sequence[int | None]
              ) -> tuple[list[bytes | memoryview | Gap], list[int | None]] | None:
        """The pieces and origins of `xml` patched (as `Sheet.render` gives them) placed in
        the whole sheet, the rows left out as a `Gap` at `head`; None when a change touches
        the place they were left out (it belongs to the whole sheet)."""
        cut, gap = self.head, self.gap
        out: list[bytes | memoryview | Gap] = []
        where: list[int | None] = []
        placed = False
        at = 0  # where the next piece starts in `xml`
        for i, piece in enumerate(pieces):
            origin = origins[i]
            if origin is None:  # new bytes replacing xml[at:next view's origin]
                end = next(o for o in origins[i + 1:] if o is not None)
                start = at
            else:
                start = origin
                end = origin + len(piece)
            if origin is None and (start < cut < end or start == end == cut):
                return None
            if origin is not None and start < cut < end:
                view = memoryview(piece)
                out += [view[:cut - start], Gap(gap), view[cut - start:]]
                where += [start, cut, cut + gap]
                placed = True
            else:
                if not placed and (start >= cut and end > cut):
                    out.append(Gap(gap))
                    where.append(cut)
                    placed = True
                out.append(piece)
                where.append(None if origin is None else origin + (gap if placed else 0))
            at = end
        if not placed:
            out.append(Gap(gap))
            where.append(cut)
        return out, where


def partial(reuse: Reuse) -> Partial | None:
    """The sheet without its middle pieces, when its first piece ends at a row's end and its
    last piece starts a row; None otherwise."""
    pieces = reuse.record.pieces
    if len(pieces) < 3:
        return None
    first, last = pieces[0], pieces[-1]
    start = reuse.record.csize - len(FINAL) - last[1]
    head = _inflate(reuse.raw[:first[1]], first)
    tail = _inflate(reuse.raw[start:start + last[1]], last)
    root = _WORKSHEET.search(head, 0, 4096) if head is not None else None
    if head is None or tail is None or root is None:
        return None
    p = root.group(1) or b""
    opened = b"<" + p + b"row"
    if (not head.endswith(b"</" + p + b"row>") or not tail.startswith(opened)
            or tail[len(opened):len(opened) + 1] not in (b" ", b">")):
        return None
    return Partial(head + tail, first[0], reuse.record.usize - first[0] - last[0], reuse)


def _inflate(raw: memoryview, piece: tuple[int, int, int]) -> bytes | None:
    """One piece's XML, when it is the piece recorded."""
    try:
        data = zlib.decompressobj(-15).decompress(raw)
    except zlib.error:
        return None
    return data if len(data) == piece[0] and zlib.crc32(data) == piece[2] else None


# -- the memory ------------------------------------------------------------------------------


class Memory:
    """The records of the members the last write made, in one file; every failure to read or
    write it is silent (the write then deflates whole, as without it)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._records: dict[str, Record] | None = None

    def records(self) -> dict[str, Record]:
        if self._records is None:
            self._records = self._load()
        return self._records

    def _load(self) -> dict[str, Record]:
        if self.path is None:
            return {}
        try:
            data = self.path.read_bytes()
        except OSError:
            return {}
        head, _, body = data.partition(b"\n")
        if head != hashlib.blake2b(body, digest_size=16).hexdigest().encode():
            return {}
        try:
            loaded = json.loads(body)
            if loaded.get("format") != FORMAT:
                return {}
            return {name: Record(int(r["crc"]), int(r["csize"]), int(r["usize"]),
                                 str(r["digest"]),
                                 tuple((int(x), int(c), int(k)) for x, c, k in r["pieces"]))
                    for name, r in loaded["members"].items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            return {}

    def reuse(self, name: str, crc: int, csize: int, usize: int,
              raw: memoryview) -> Reuse | None:
        """The old member's pieces, when the record proves they are the member's bytes."""
        record = self.records().get(name)
        if (record is None or (record.crc, record.csize, record.usize) != (crc, csize, usize)
                or bytes(raw[-len(FINAL):]) != FINAL or not record.consistent()
                or digest([raw]) != record.digest):
            return None
        return Reuse(record, raw)

    def save(self, records: dict[str, Record]) -> None:
        """Keep `records` (written atomically, or not at all)."""
        if self.path is None:
            return
        body = json.dumps({"format": FORMAT, "members": {
            name: {"crc": r.crc, "csize": r.csize, "usize": r.usize, "digest": r.digest,
                   "pieces": r.pieces} for name, r in records.items()}},
            separators=(",", ":")).encode()
        head = hashlib.blake2b(body, digest_size=16).hexdigest().encode()
        temp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(head + b"\n" + body)
            os.replace(temp, self.path)
        except OSError:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
