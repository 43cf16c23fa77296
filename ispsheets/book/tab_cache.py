"""Tabs read before: a tab whose bytes are the ones read last time is not parsed again.

Each tab's cells, as `read_xlsx` gives them, are kept in a folder beside the journal under a key
that is a strong hash (BLAKE2b) of every byte calamine reads to produce them: the sheet's zip
member as stored (compressed), the shared strings, the styles (which number formats are dates),
the workbook part and its relationships, with the calamine version and this file's format. So a
cached tab is used only when those bytes are identical; an owner's edit, a sort, a save in Excel
or an older workbook put back changes them and the tab is read from the file. An entry is also
checked against a hash of its own content: a damaged or unreadable entry is read from the file.

An entry is written only for a tab read twice in a row with the same key: a tab the daily run
rewrites (Invoices, Payments, Clients on most days) would never be read back, so keeping it would
be wasted time. A quiet tab is read from the cache from the third run on.

Entries are pickles, and unpickling runs code, while the business folder is often shared or
synced (Dropbox, OneDrive, a network share): so each entry is signed with a key that never lives
there (`signing_key`: a random key in the user's state folder, `~/.local/state/ispsheets/`,
readable by that user alone), and an entry whose signature does not check is never unpickled.
Without such a key (no writable home), no tab is kept or taken from the cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import os
import pickle
import secrets
import tempfile
import time
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

Rows = list[list[object]]

FORMAT = b"ispsheets-tab-cache 2"
_MAGIC = b"ISPTAB2\n"  # 2: signed with a key kept outside the folder
_DIGEST = 32  # bytes of a BLAKE2b digest here
_STALE_SECONDS = 3600  # a temporary file this old belongs to no running write


def _calamine_version() -> bytes:
    try:
        return version("python-calamine").encode()
    except PackageNotFoundError:  # pragma: no cover - installed with ispsheets
        return b"?"


def key_file() -> Path:
    """Where the signing key is kept: the user's state folder, never the business folder."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "ispsheets" / "tab-cache.key"


@functools.cache
def signing_key() -> bytes | None:
    """The key every entry is signed with, made the first time (random, readable by this user
    alone); None when it can be neither read nor made."""
    path = key_file()
    with contextlib.suppress(OSError):
        key = path.read_bytes()
        if len(key) == _DIGEST:
            return key
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(_DIGEST))
            with contextlib.suppress(FileExistsError):  # another run made it first: theirs
                os.link(temp, path)
        finally:
            os.unlink(temp)
        key = path.read_bytes()
    except OSError:
        return None
    return key if len(key) == _DIGEST else None


def _signature(key: bytes, body: bytes | memoryview) -> bytes:
    return hashlib.blake2b(body, digest_size=_DIGEST, key=key).digest()


def tab_key(sheet: str, members: Iterable[tuple[str, int, int, int, bytes | memoryview]]) -> bytes:
    """The key of a tab: its name and every member it is read from, as (name, compression,
    size, CRC, compressed bytes)."""
    digest = hashlib.blake2b(digest_size=_DIGEST)
    for part in (FORMAT, _calamine_version(), sheet.encode()):
        digest.update(len(part).to_bytes(8, "little") + part)
    for name, method, size, crc, raw in members:
        digest.update(f"{name}\0{method}\0{size}\0{crc}\0{len(raw)}\0".encode())
        digest.update(raw)
    return digest.digest()


class TabCache:
    """One file per tab name in `folder`: the key it was last seen with, and the tab's rows
    when they were kept. Every failure to read or write the folder is silent: the tab is then
    read from the workbook, as without a cache."""

    def __init__(self, folder: Path, signing: bytes | None = None) -> None:
        self.folder = folder
        self.signing = signing if signing is not None else signing_key()

    def _file(self, sheet: str, suffix: str) -> Path:
        name = hashlib.blake2b(sheet.encode(), digest_size=12).hexdigest()
        return self.folder / f"{name}.{suffix}"

    def rows(self, sheet: str, key: bytes) -> Rows | None:
        """The tab's rows if they were kept under exactly `key` (and signed here), else None."""
        if self.signing is None:
            return None
        try:
            data = self._file(sheet, "rows").read_bytes()
        except OSError:
            return None
        head = len(_MAGIC)
        if (not data.startswith(_MAGIC) or data[head:head + _DIGEST] != key
                or len(data) < head + 2 * _DIGEST):
            return None
        body = memoryview(data)[head + 2 * _DIGEST:]
        if not hmac.compare_digest(_signature(self.signing, body),
                                   data[head + _DIGEST:head + 2 * _DIGEST]):
            return None  # damaged, or not written by this user's ispsheets: never unpickled
        try:
            rows = pickle.loads(body)
        except Exception:  # a damaged entry, whatever pickle makes of it
            return None
        return rows if isinstance(rows, list) else None

    def worth_keeping(self, sheet: str, key: bytes) -> bool:
        """True when the tab was last seen with this very key: it has not changed since and
        will likely be read again as it is. A tab seen for the first time, or changed since,
        is not kept yet (a tab the run rewrites changes every day); its key is remembered."""
        if self.signing is None:
            return False
        seen_file = self._file(sheet, "seen")
        try:
            seen = seen_file.read_bytes()
        except OSError:
            seen = None
        if seen != key:
            self._write(seen_file, [key])
        return seen == key

    def keep(self, sheet: str, key: bytes, rows: Rows) -> None:
        if self.signing is None:
            return
        body = pickle.dumps(rows, protocol=5)
        self._write(self._file(sheet, "rows"),
                    [_MAGIC, key, _signature(self.signing, body), body])

    def _write(self, path: Path, pieces: list[bytes]) -> None:
        """Write atomically (a reader sees the old file or the new one), or not at all."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for stale in self.folder.glob(".tmp-*"):  # left by a run killed while writing
                if stale.stat().st_mtime < time.time() - _STALE_SECONDS:
                    stale.unlink()
            fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                for piece in pieces:
                    handle.write(piece)
            os.replace(temp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
