"""The `.xlsx` zip package: read members, and write a new package that copies untouched members.

Untouched members are copied as their compressed bytes, never inflated and deflated again, so
their content is identical and a big untouched sheet costs a memory copy. Changed members are
deflated in independent pieces, in parallel threads (zlib releases the GIL), and a changed
sheet's unchanged pieces are copied compressed (`xlsx_pieces`).
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from ispsheets.book.xlsx_pieces import Gap, Pieces, Record, Reuse, build, digest, segments

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_LIMIT = 0xFFFFFFFF
_UTF8 = 0x800
LEVEL = 1  # deflate level for rewritten members: fast; Excel recompresses when it saves
_PieceList = tuple[tuple[int, int, int], ...]


class PackageError(Exception):
    """The file is not a zip package this writer can handle."""


class Deflated:
    """A member's new content, compressed (or being compressed) in pieces (`xlsx_pieces`)."""

    def __init__(self, pieces: Pieces) -> None:
        self.pieces = pieces
        self.size = sum(pieces.lengths)
        self._done: tuple[list[bytes | memoryview], int, _PieceList] | None = None

    def _finish(self) -> tuple[list[bytes | memoryview], int, _PieceList]:
        if self._done is None:
            self._done = self.pieces.finish()
        return self._done

    def data(self) -> list[bytes | memoryview]:
        """The compressed bytes (waiting for the pieces being deflated)."""
        return self._finish()[0]

    @property
    def crc(self) -> int:
        return self._finish()[1]

    def record(self) -> Record:
        """What the next write needs to copy this member's unchanged pieces."""
        blocks, crc, pieces = self._finish()
        return Record(crc, sum(map(len, blocks)), self.size, digest(blocks), pieces)


class Package:
    """A zip package held in memory (the bytes the fingerprint was taken of)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise PackageError(f"not an .xlsx (zip) file: {exc}") from exc
        self.infos = {i.filename: i for i in self._zip.infolist()}
        self.names = [i.filename for i in self._zip.infolist()]
        if any(i.flag_bits & 0x1 for i in self.infos.values()):
            raise PackageError("the workbook is encrypted (password protected)")

    def has(self, name: str) -> bool:
        return name in self.infos

    def read(self, name: str) -> bytes:
        """The member's content (thread-safe: works on the bytes in memory)."""
        info = self.infos[name]
        raw = self.raw(name)
        if info.compress_type == zipfile.ZIP_STORED:
            data = bytes(raw)
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            data = zlib.decompress(raw, -15)
        else:
            return self._zip.read(name)
        if zlib.crc32(data) != info.CRC:
            raise PackageError(f"{name} is damaged (CRC mismatch)")
        return data

    def raw(self, name: str) -> memoryview:
        """The member's compressed bytes, exactly as stored."""
        info = self.infos[name]
        header = self.data[info.header_offset:info.header_offset + _LOCAL.size]
        fields = _LOCAL.unpack(header)
        if fields[0] != b"PK\x03\x04":
            raise PackageError(f"{name}: bad local header")
        start = info.header_offset + _LOCAL.size + fields[9] + fields[10]
        return memoryview(self.data)[start:start + info.compress_size]


def deflate(pieces: Iterable[bytes | memoryview | Gap], pool: ThreadPoolExecutor | None = None,
            level: int = LEVEL, *, origins: Sequence[int | None] | None = None,
            reuse: Reuse | None = None, marker: bytes | None = None) -> Deflated:
    """Raw-deflate the concatenation of `pieces`; with a pool, in the background, in pieces
    (`xlsx_pieces`) cut after a `marker` where there is one (None: a worksheet's row end).
    With `reuse` (the old member's pieces) and the `origins` of `pieces` in the old XML
    (None: new bytes), the old pieces that lie wholly in unchanged stretches are copied,
    not deflated again."""
    parts = list(pieces)
    return Deflated(build(segments(parts, origins), reuse, pool, level, marker))


def _dos_time(moment: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    year, month, day, hour, minute, second = moment
    year = min(max(year, 1980), 2107)
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _encoded_name(name: str) -> tuple[bytes, int]:
    try:
        return name.encode("ascii"), 0
    except UnicodeEncodeError:
        return name.encode("utf-8"), _UTF8


def write_package(out: BinaryIO, source: Package, order: Sequence[str],
                  new: dict[str, Deflated], now: dt.datetime) -> None:
    """Write members named in `order`: from `new` when there, else copied from `source`."""
    central: list[bytes] = []
    offset = 0
    stamp = (now.year, now.month, now.day, now.hour, now.minute, now.second)
    for name in order:
        if name in new:
            member = new[name]
            body: Sequence[bytes | memoryview] = member.data()
            crc, csize, usize = member.crc, sum(map(len, body)), member.size
            method, moment, external = zipfile.ZIP_DEFLATED, stamp, 0
        else:
            info = source.infos[name]
            body = [source.raw(name)]
            crc, csize, usize = info.CRC, info.compress_size, info.file_size
            method, moment, external = info.compress_type, info.date_time, info.external_attr
        if max(csize, usize, offset) >= _LIMIT:
            raise PackageError("the workbook would be larger than 4 GB")
        encoded, flags = _encoded_name(name)
        time, date = _dos_time(moment)
        out.write(_LOCAL.pack(b"PK\x03\x04", 20, flags, method, time, date, crc, csize, usize,
                              len(encoded), 0))
        out.write(encoded)
        for piece in body:
            out.write(piece)
        central.append(_CENTRAL.pack(b"PK\x01\x02", 20, 20, flags, method, time, date, crc,
                                     csize, usize, len(encoded), 0, 0, 0, 0, external,
                                     offset) + encoded)
        offset += _LOCAL.size + len(encoded) + csize
    directory = b"".join(central)
    if len(central) >= 0xFFFF or offset + len(directory) >= _LIMIT:
        raise PackageError("the workbook would be larger than 4 GB")
    out.write(directory)
    out.write(_END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(directory),
                        offset, 0))
