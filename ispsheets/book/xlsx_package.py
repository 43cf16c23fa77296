"""The `.xlsx` zip package: read members, and write a new package that copies untouched members.

Untouched members are copied as their compressed bytes, never inflated and deflated again, so
their content is identical and a big untouched sheet costs a memory copy. Changed members are
deflated, in parallel threads (zlib releases the GIL).
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_LIMIT = 0xFFFFFFFF
_UTF8 = 0x800
LEVEL = 1  # deflate level for rewritten members: fast; Excel recompresses when it saves
_CHUNK = 8 << 20  # parallel deflate works on pieces of this size


class PackageError(Exception):
    """The file is not a zip package this writer can handle."""


@dataclass(frozen=True)
class Deflated:
    """A member's new content, compressed (or being compressed) in blocks."""

    blocks: list[bytes | Future[bytes]]
    crc: int
    size: int

    def data(self) -> list[bytes]:
        return [b if isinstance(b, bytes) else b.result() for b in self.blocks]


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


def deflate(pieces: Iterable[bytes | memoryview], pool: ThreadPoolExecutor | None = None,
            level: int = LEVEL) -> Deflated:
    """Raw-deflate the concatenation of `pieces`; with a pool, in the background, in blocks.

    Each block is compressed with the previous 32 KiB as its dictionary and ended with a sync
    flush, so the blocks join into one valid deflate stream (as pigz does).
    """
    blocks = list(_blocks(pieces))
    crc, size = 0, 0
    for block in blocks:
        crc = zlib.crc32(block, crc)
        size += len(block)
    if pool is None:
        comp = zlib.compressobj(level, zlib.DEFLATED, -15)
        out: list[bytes | Future[bytes]] = [comp.compress(b) for b in blocks]
        out.append(comp.flush())
        return Deflated(out, crc, size)
    out = [pool.submit(_deflate_block, block, blocks[i - 1][-32768:] if i else b"",
                       i == len(blocks) - 1, level) for i, block in enumerate(blocks)]
    return Deflated(out, crc, size)


def _blocks(pieces: Iterable[bytes | memoryview]) -> Iterable[bytes]:
    buffer: list[bytes | memoryview] = []
    held = 0
    for piece in pieces:
        buffer.append(piece)
        held += len(piece)
        if held >= _CHUNK:
            yield b"".join(buffer)
            buffer, held = [], 0
    if buffer or held == 0:
        yield b"".join(buffer)


def _deflate_block(block: bytes, zdict: bytes, last: bool, level: int) -> bytes:
    comp = (zlib.compressobj(level, zlib.DEFLATED, -15, zdict=zdict) if zdict
            else zlib.compressobj(level, zlib.DEFLATED, -15))
    return comp.compress(block) + comp.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


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
