"""A big file copied into an older copy of it, rewriting only the chunks that differ.

The journal is copied beside every workbook backup, and the oldest copy is deleted once the
newest `workbook.journal_copies` are there. Copies of a journal with years behind it are GBs,
and a day's run changes a few percent of them, so instead of writing a new file and deleting
the old one, the copy due to go is renamed and brought up to date in place: the journal is
read and hashed chunk by chunk (1 MiB, XXH3-128: about ten times the speed of SHA-256 here,
and 128 bits leave no chance of two different chunks looking alike by accident; nobody's
adversary writes the backups folder, who could replace the copy anyway) and only the chunks
whose digest differs from the old copy's are written.

The old copy's digests are kept beside it (`.NAME.chunks`), trusted only while the file's size,
modification time and inode are the ones recorded when it was written; a sample of the chunks
taken as unchanged is read back and compared, and any mismatch means the whole file is written
again. Without usable digests the file is written whole, as a plain copy (and its digests
recorded for the next time).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import xxhash

HASH = "xxh3_128"
DIGEST = 16  # bytes
CHUNK = 1 << 20
SAMPLED = 32  # chunks taken as unchanged read back after a patch


@dataclass(frozen=True)
class Digests:
    """What a copy held when it was written: its chunks' digests, and the file's stat then."""

    size: int
    mtime_ns: int
    inode: int
    chunk: int
    digests: tuple[bytes, ...]


@dataclass(frozen=True)
class Copied:
    """One copy made: its digests, and how many chunks were written (all of them: a whole
    copy)."""

    digests: tuple[bytes, ...]
    written: int
    whole: bool


def digests_path(copy: Path) -> Path:
    return copy.with_name(f".{copy.name}.chunks")


def recorded(copy: Path) -> Digests | None:
    """The digests kept beside `copy`, if they still describe the file (else None)."""
    try:
        data = json.loads(digests_path(copy).read_text(encoding="utf-8"))
        stat = copy.stat()
        if data["hash"] != HASH:
            return None
        joined = bytes.fromhex(data["digests"])
        digests = Digests(int(data["size"]), int(data["mtime_ns"]), int(data["inode"]),
                          int(data["chunk"]),
                          tuple(joined[i:i + DIGEST] for i in range(0, len(joined), DIGEST)))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (digests.size, digests.mtime_ns, digests.inode) != \
            (stat.st_size, stat.st_mtime_ns, stat.st_ino) or digests.chunk <= 0 \
            or len(digests.digests) != -(-digests.size // digests.chunk):
        return None
    return digests


def record(copy: Path, digests: Sequence[bytes], chunk: int = CHUNK) -> None:
    """Keep `digests` beside `copy` (written whole, then renamed: never half a record)."""
    stat = copy.stat()
    path = digests_path(copy)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                "inode": stat.st_ino, "chunk": chunk, "hash": HASH,
                                "digests": b"".join(digests).hex()}), encoding="utf-8")
    os.replace(temp, path)


def forget(copy: Path) -> None:
    """Drop the digests of `copy` (before the file is touched: a half-patched file must never
    look recorded)."""
    digests_path(copy).unlink(missing_ok=True)


def copy_file(source: Path, target: Path, old: Digests | None, chunk: int = CHUNK) -> Copied:
    """`copy_into` from the file at `source` into the file at `target` (patched in place when
    `old` describes it, else written anew), synced."""
    with source.open("rb") as reader, target.open("r+b" if old else "wb") as writer:
        copied = copy_into(reader.fileno(), os.fstat(reader.fileno()).st_size,
                           writer.fileno(), old, chunk)
        os.fsync(writer.fileno())
    return copied


def copy_into(source: int, size: int, target: int, old: Digests | None,
              chunk: int = CHUNK) -> Copied:
    """Make the open file `target` hold the first `size` bytes of the open file `source`.

    `old`: what `target` holds now (its digests); only the chunks that differ are written,
    then a sample of the others is read back and compared (a mismatch: everything is written
    again). None: every chunk is written. The caller syncs and renames.
    """
    if old is not None and old.chunk != chunk:
        old = None
    digests: list[bytes] = []
    unchanged: list[int] = []
    written = 0
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    offset = 0
    while offset < size:
        got = os.preadv(source, [view[:min(chunk, size - offset)]], offset)
        if got <= 0:
            raise OSError(f"the file ended at byte {offset} of {size} while it was copied")
        digest = xxhash.xxh3_128_digest(view[:got])
        index = offset // chunk
        digests.append(digest)
        if old is not None and index < len(old.digests) and old.digests[index] == digest:
            unchanged.append(index)  # the same digest: the same bytes, the same length
        else:
            _write_all(target, view[:got], offset)
            written += 1
        offset += got
    os.ftruncate(target, size)
    if old is not None and not _same(target, unchanged, digests, chunk, size):
        return copy_into(source, size, target, None, chunk)
    return Copied(tuple(digests), written, old is None)


def _write_all(target: int, data: memoryview, offset: int) -> None:
    while data:
        done = os.pwrite(target, data, offset)
        data, offset = data[done:], offset + done


def _same(target: int, unchanged: list[int], digests: list[bytes], chunk: int,
          size: int) -> bool:
    """A sample of the chunks taken as unchanged, read back from `target`, are what the
    source holds (the first and last among them always, so a stale start or end is seen)."""
    if not unchanged:
        return True
    picks = set(random.sample(unchanged, min(SAMPLED, len(unchanged))))
    picks.update((unchanged[0], unchanged[-1]))
    for index in sorted(picks):
        with contextlib.suppress(OSError):
            data = os.pread(target, min(chunk, size - index * chunk), index * chunk)
            if xxhash.xxh3_128_digest(data) == digests[index]:
                continue
        return False
    return True
