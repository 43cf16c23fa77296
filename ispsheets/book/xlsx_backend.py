"""Write a change set into an `.xlsx` file by patching its XML, safely.

Only the worksheet parts that change are rewritten; every other member of the zip package is
copied byte for byte, so the owner's formulas with their cached values, formats, validation,
conditional formatting, panes, merged cells, names, tables and comments all survive. The new
file is written beside the old one, fsynced and swapped in with `os.replace`, after a dated
backup of the old one: a failure at any point leaves the old file as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from ispsheets.book import parse, xlsx_compact, xlsx_generation
from ispsheets.book.changes import (
    AppendRow,
    ChangeSet,
    DeleteRow,
    FillKey,
    SetCell,
    Value,
    WorkbookWriteError,
    WriteResult,
    WriteTally,
)
from ispsheets.book.schema import ACTIVITY, TABS_BY_NAME, Kind, Tab, normalise_header
from ispsheets.book.xlsx_package import Deflated, Package, PackageError, deflate, write_package
from ispsheets.book.xlsx_pieces import Gap, Memory, Partial, Record, Reuse, partial
from ispsheets.book.xlsx_sheet import MAX_ROWS, GridFull, NotCanonical, Sheet, SheetError
from ispsheets.book.xlsx_strings import SharedStrings
from ispsheets.book.xlsx_styles import MONEY, Styles
from ispsheets.book.xlsx_workbook import Workbook, grow_tables, new_sheet_xml
from ispsheets.failures import remedy
from ispsheets.faults import checkpoint
from ispsheets.problems import Problem

TEMP_SUFFIX = ".ispsheets-tmp"
_DATE_ORDERS: tuple[parse.DateOrder, ...] = ("MDY", "DMY", "YMD")
_REOPEN = "close it; the next run writes everything"


def fingerprint(path: Path) -> str:
    """A digest of the file's bytes: a different value means someone saved it since."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _tab_full(name: str, exc: GridFull) -> WorkbookWriteError:
    """A tab with no room left for the rows this run adds: what the owner can do about it."""
    message = (f"the {exc.tab} tab is full: Excel stops at row {MAX_ROWS:,}, the tab reaches "
               f"row {exc.last_row:,} and this run adds {exc.adding:,} rows")
    if normalise_header(exc.tab) == normalise_header(ACTIVITY.name):
        fix = ("lower workbook.archive_after_months in config.yaml so old Activity rows move "
               "to archive/ (or cut its oldest rows into a workbook of their own) and run "
               "again; the tool's journal keeps every entry, so nothing is lost meanwhile")
    else:
        fix = ("nothing is lost: invoices are still issued, mailed and recorded in the "
               "tool's journal; lower workbook.archive_after_months in config.yaml (3 for a "
               "big business) so settled rows move to archive/ and the tab has room again")
    return WorkbookWriteError(f"{name}: {exc.tab}", message, fix)


def apply_changes(path: Path, changes: ChangeSet, *, backup_dir: Path, keep_backups: int,
                  expected_fingerprint: str | None, now: dt.datetime,
                  generation: int | None = None, pieces_file: Path | None = None
                  ) -> WriteResult:
    """Apply `changes` (key fills, then cell sets, then appends) to the workbook at `path`,
    stamping it with the write's `generation` when one is given (`xlsx_generation`).
    `pieces_file` remembers the deflate pieces of the members written (`xlsx_pieces`), so the
    next write copies the unchanged ones; None: every changed member is deflated whole.

    Raises WorkbookWriteError, with nothing written, if the workbook is open in Excel, was
    saved after the tool read it, cannot be written, or cannot be understood.
    """
    name, given = path.name, path
    path = path.resolve()  # through a symlink, the real file is replaced, the link kept
    _refuse_if_open(given, path)
    _remove_stale_temps(path, given.stem, backup_dir)
    data, seen = _read(path)
    if expected_fingerprint is not None and hashlib.sha256(data).hexdigest() != \
            expected_fingerprint:
        raise WorkbookWriteError(name, "was changed after ispsheets read it (saved in Excel?)",
                                 "nothing was written; run again to use your saved version")
    if not changes:
        return WriteResult()
    _refuse_if_read_only(path)
    try:
        memory = Memory(pieces_file)
        edit = _Edit(Package(data), now, memory)
        result = edit.apply(changes, generation)
    except GridFull as exc:
        raise _tab_full(name, exc) from exc
    except (PackageError, SheetError, etree.XMLSyntaxError, zipfile.BadZipFile, zlib.error,
            KeyError, IndexError) as exc:
        raise WorkbookWriteError(name, f"could not be updated ({type(exc).__name__}: {exc})",
                                 "open it in Excel or LibreOffice, save it as .xlsx and run "
                                 "again") from exc
    if not edit.writes:
        return WriteResult(result.cells_set, result.keys_filled, 0, tuple(result.missing_keys),
                           tuple(result.unmatched_fills))
    backup = _swap_in(path, given, edit, data, seen, backup_dir, keep_backups, now)
    if pieces_file is not None:  # after the swap: a record never describes an unwritten file
        memory.save(edit.records())
    return WriteResult(result.cells_set, result.keys_filled, result.rows_appended,
                       tuple(result.missing_keys), tuple(result.unmatched_fills),
                       str(backup) if backup else "", result.rows_deleted)


# -- safety ----------------------------------------------------------------------------------


def lock_files(path: Path) -> list[tuple[Path, str]]:
    """The lock files Excel and LibreOffice keep beside a workbook they have open."""
    name = path.name
    return [(path.with_name("~$" + name), "Excel"), (path.with_name("~$" + name[2:]), "Excel"),
            (path.with_name(f".~lock.{name}#"), "LibreOffice")]


def _refuse_if_open(*paths: Path) -> None:
    for path in dict.fromkeys(paths):
        for lock, program in lock_files(path):
            if lock.exists():
                raise WorkbookWriteError(
                    paths[0].name, f"is open in {program} ({lock.name} exists)",
                    f"{_REOPEN} (if {program} is closed, delete {lock.name})")


def _read(path: Path) -> tuple[bytes, tuple[int, int]]:
    try:
        with path.open("rb") as handle:
            data = handle.read()
            info = os.fstat(handle.fileno())
    except OSError as exc:
        raise WorkbookWriteError(path.name, f"cannot be read ({exc.strerror or exc})",
                                 "check that the file exists and you may read it") from exc
    return data, (info.st_size, info.st_mtime_ns)


WRITABLE_SUFFIXES = (".xlsx", ".xlsm")  # Office Open XML packages: patched, never rebuilt
SAVE_AS_XLSX = ("save it as .xlsx (File › Save As › Excel Workbook (.xlsx)) and set "
                "workbook.path in config.yaml to the new file; nothing was done")


def why_unwritable(path: Path, backup_dir: Path | None) -> Problem | None:
    """Why no run can write the workbook at `path` (and its backups into `backup_dir`):
    checked before a run does anything, so nothing is billed or mailed that the workbook
    could never show. None when it can be written, or is not there (reading says so)."""
    name = path.name
    if path.suffix.lower() not in WRITABLE_SUFFIXES:
        kind = path.suffix or "file without an extension"
        return Problem(name, f"is a {kind} workbook: ispsheets reads it but writes only .xlsx",
                       SAVE_AS_XLSX)
    real = path.resolve()
    if not real.is_file():
        return None
    nothing = "; nothing was done"
    if _read_only(real):
        return Problem(name, "is read-only", "make it writable (Windows: Properties, clear "
                       f"Read-only; Mac or Linux: chmod u+w {name}){nothing}")
    if _read_only(real.parent):
        return Problem(name, f"cannot be saved: its folder {real.parent} is read-only (the new "
                       "file is written beside the old one, then swapped in)",
                       f"let this user write to that folder{nothing}")
    if backup_dir is not None and backup_dir.is_dir() and _read_only(backup_dir):
        return Problem(name, f"cannot be backed up: the folder {backup_dir} is read-only",
                       f"make it writable, or set workbook.backups to 0{nothing}")
    return None


def _read_only(path: Path) -> bool:
    """No write permission bit at all (an owner's "read-only"), or none for this user."""
    mode = path.stat().st_mode
    return not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK)


def _refuse_if_read_only(path: Path) -> None:
    mode = path.stat().st_mode
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
        raise WorkbookWriteError(path.name, "is read-only",
                                 "make it writable (clear Read-only in its properties); the "
                                 "next run writes everything")


def _remove_stale_temps(path: Path, stem: str, backup_dir: Path) -> None:
    """Temp files a killed run left (runs hold the run lock, so none is in use)."""
    stale = [*path.parent.glob(f".{glob_escape(path.name)}.*{TEMP_SUFFIX}"),
             *backup_dir.glob(f".{glob_escape(stem)}-*{TEMP_SUFFIX}")]
    for leftover in stale:
        leftover.unlink(missing_ok=True)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _swap_in(path: Path, given: Path, edit: _Edit, data: bytes, seen: tuple[int, int],
             backup_dir: Path, keep_backups: int, now: dt.datetime) -> Path | None:
    """Write the new file to a temp file, back the old one up, and replace it atomically.

    `path` is the real file, `given` the name it was configured by (messages and backups)."""
    name = given.name
    temp: Path | None = None
    backup: Path | None = None
    try:
        try:
            fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=TEMP_SUFFIX)
        except OSError as exc:
            raise WorkbookWriteError(name, f"cannot be written: no new file can be made in "
                                     f"{path.parent} ({exc.strerror or exc})",
                                     f"{remedy(exc)}; the next run writes everything") from exc
        temp = Path(temp_name)
        with os.fdopen(fd, "wb") as handle:
            edit.write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        _same_owner_and_mode(temp, path)
        checkpoint("workbook-temp-written")
        if keep_backups > 0:
            backup = _backup(data, given, backup_dir, now)
        _refuse_if_open(given, path)
        info = path.stat()
        if (info.st_size, info.st_mtime_ns) != seen:
            raise WorkbookWriteError(name, "was changed while ispsheets was writing it",
                                     "nothing was written; run again to use your saved version")
        os.replace(temp, path)
        temp = None
        _sync_folder(path.parent)
    except WorkbookWriteError:
        _discard(temp, backup)
        raise
    except OSError as exc:
        _discard(temp, backup)
        raise WorkbookWriteError(name, f"could not be written ({exc.strerror or exc})",
                                 "close any program using it and check free disk space; the "
                                 "next run writes everything") from exc
    except BaseException:
        _discard(temp, backup)
        raise
    if backup is not None:
        prune_backups(backup_dir, given.stem, keep_backups)
    return backup


def _same_owner_and_mode(new: Path, old: Path) -> None:
    """The new file keeps the old one's permissions, and its owner where we may set it."""
    info = old.stat()
    os.chmod(new, stat.S_IMODE(info.st_mode))
    if hasattr(os, "chown"):
        with contextlib.suppress(OSError):
            os.chown(new, info.st_uid, info.st_gid)


def _discard(*paths: Path | None) -> None:
    for leftover in paths:
        if leftover is not None:
            leftover.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def backup_name(backup_dir: Path, stem: str, suffix: str, now: dt.datetime) -> Path:
    """`<stem>-YYYYMMDD-HHMMSS<suffix>` in `backup_dir`, with `-2`, `-3`... if it is taken."""
    base = f"{stem}-{now:%Y%m%d-%H%M%S}"
    target = backup_dir / f"{base}{suffix}"
    number = 1
    while target.exists():
        number += 1
        target = backup_dir / f"{base}-{number}{suffix}"
    return target


def _backup(data: bytes, path: Path, backup_dir: Path, now: dt.datetime) -> Path:
    """The old bytes as `<stem>-YYYYMMDD-HHMMSS.xlsx` in `backup_dir` (written atomically)."""
    temp: Path | None = None
    try:
        backup_dir.mkdir(parents=True, exist_ok=True)
        target = backup_name(backup_dir, path.stem, path.suffix, now)
        fd, temp_name = tempfile.mkstemp(dir=backup_dir, prefix=f".{target.name}.",
                                         suffix=TEMP_SUFFIX)
        temp = Path(temp_name)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.copymode(path, temp)
        os.replace(temp, target)
        return target
    except OSError as exc:
        _discard(temp)
        raise WorkbookWriteError(path.name, f"could not be backed up into {backup_dir} "
                                 f"({exc.strerror or exc})",
                                 f"{remedy(exc)} (or set workbook.backups to 0); the next "
                                 "run writes everything") from exc
    except BaseException:
        _discard(temp)
        raise


def prune_backups(backup_dir: Path, stem: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups of the workbook named `stem`; the deleted."""
    pattern = re.compile(re.escape(stem) + r"-(\d{8}-\d{6})(?:-(\d+))?\.xlsx?m?$")
    found = []
    for item in backup_dir.iterdir() if backup_dir.is_dir() else ():
        m = pattern.match(item.name)
        if m and item.is_file():
            found.append(((m[1], int(m[2] or 1)), item))
    found.sort()
    old = [item for _, item in found[:max(len(found) - keep, 0)]]
    for item in old:
        with contextlib.suppress(OSError):
            item.unlink()
    return old


# -- the edit --------------------------------------------------------------------------------


@dataclass
class _TabChanges:
    fills: list[FillKey] = field(default_factory=list)
    sets: list[SetCell] = field(default_factory=list)
    appends: list[AppendRow] = field(default_factory=list)
    deletes: list[DeleteRow] = field(default_factory=list)

    def columns(self) -> list[str]:
        """Every column these changes write, in first-named order."""
        names = [f.column for f in self.fills] + [s.column for s in self.sets]
        for append in self.appends:
            names.extend(append.values)
        return list(dict.fromkeys(names))


def _group(changes: ChangeSet) -> dict[str, _TabChanges]:
    groups: dict[str, _TabChanges] = {}
    by_name: dict[str, _TabChanges] = {}  # a billing day names a tab 100,000 times

    def tab(name: str) -> _TabChanges:
        found = by_name.get(name)
        if found is None:
            found = by_name[name] = groups.setdefault(normalise_header(name), _TabChanges())
        return found

    for fill in changes.fills:
        tab(fill.tab).fills.append(fill)
    for cell in changes.sets:
        tab(cell.tab).sets.append(cell)
    for append in changes.appends:
        tab(append.tab).appends.append(append)
    for delete in changes.deletes:
        tab(delete.tab).deletes.append(delete)
    return groups


def _schema_tab(name: str) -> Tab | None:
    wanted = normalise_header(name)
    return next((t for t in TABS_BY_NAME.values() if normalise_header(t.name) == wanted), None)


class _Edit:
    """The patched package: new member contents, and what was done."""

    def __init__(self, package: Package, now: dt.datetime, memory: Memory | None = None
                 ) -> None:
        self.package = package
        self.now = now
        self.memory = memory
        self.book = Workbook(package)
        strings_part = self.book.related("sharedStrings")
        self.strings_part = strings_part if strings_part and package.has(strings_part) else None
        self.strings = SharedStrings(package.read(strings_part)
                                     if strings_part and package.has(strings_part) else None)
        self.styles_part = self.book.related("styles")
        self.styles = Styles(package.read(self.styles_part)
                             if self.styles_part and package.has(self.styles_part) else None)
        self.members: dict[str, Deflated] = {}
        self.added: list[str] = []
        self.result = WriteTally()
        self.pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))
        self.reading: dict[str, Future[bytes]] = {}
        self.writes = False  # anything to write at all
        self.partials: dict[str, Partial | None] = {}  # part → its first and last pieces
        # A write that deletes rows holds its rewritten sheets back until the shared strings
        # their texts leave unused are dropped (`xlsx_compact`): part → new content.
        self.held: dict[str, list[bytes | memoryview]] | None = None

    def apply(self, changes: ChangeSet, generation: int | None = None) -> WriteTally:
        try:
            formulas_removed = False
            groups = list(_group(changes).values())
            if (changes.deletes and changes.compact and self.strings_part is not None
                    and xlsx_compact.worth_scanning(len(changes.deletes), len(self.strings))):
                self.held = {}
            for number, changes_of_tab in enumerate(groups):
                if number + 1 < len(groups):
                    self._read_ahead(groups[number + 1])
                formulas_removed |= self._apply_tab(changes_of_tab)
            if self.held is not None:
                self._compact_strings(self.held)
            if formulas_removed:
                self.book.drop_calc_chain()
            self.book.recalculate_on_load()
            if self.styles.changed:
                if self.styles_part is None or not self.package.has(self.styles_part):
                    self.styles_part = self.book.add_styles()
                    self.added.append(self.styles_part)
                self._store(self.styles_part, [self.styles.to_xml()])
            if generation is not None:
                self.stamp(generation)
            for member in self.book.changed:
                self._store(member, [self.book.member(member)])
        except BaseException:
            self.pool.shutdown(cancel_futures=True)
            raise
        self.pool.shutdown()  # waits for the last blocks to be compressed
        return self.result

    def stamp(self, generation: int) -> None:
        """Set the `ispsheets_write` document property: the file now holds this write."""
        rels = self.package.read("_rels/.rels")
        part = xlsx_generation.custom_part(rels)
        existing = self.package.read(part) if part and self.package.has(part) else None
        try:
            custom = xlsx_generation.stamped(existing, generation)
        except etree.XMLSyntaxError:
            return  # the owner's properties are unreadable: left as they are, unstamped
        if part is None:
            part = xlsx_generation.CUSTOM_PART
            self._store("_rels/.rels", [xlsx_generation.related(rels)])
        if existing is None and not self.package.has(part):
            self.added.append(part)
        if f'PartName="/{part}"'.encode() not in self.book.types:
            self.book.declare(part, xlsx_generation.CUSTOM_CONTENT)
        self._store(part, [custom])
        self.writes = True

    def _read_ahead(self, changes: _TabChanges) -> None:
        """Start inflating the next tab's part in a thread while this one is patched."""
        first = (changes.fills or changes.sets or changes.appends or changes.deletes)[0]
        found = self.book.find(first.tab)
        if found is not None and found.is_worksheet and found.part not in self.reading \
                and self._partial(found.part, changes) is None:
            self.reading[found.part] = self.pool.submit(self.package.read, found.part)

    def _store(self, member: str, pieces: Iterable[bytes | memoryview],
               reuse: tuple[Reuse, list[int | None], bytes] | None = None) -> None:
        if reuse is None:
            self.members[member] = deflate(pieces, self.pool)
        else:
            old, origins, marker = reuse
            self.members[member] = deflate(pieces, self.pool, origins=origins, reuse=old,
                                           marker=marker)

    def _reuse(self, part: str, xml: bytes, sheet: Sheet
               ) -> tuple[Reuse, list[int | None], bytes] | None:
        """The old pieces of a sheet's part the new one may copy: when the record proves
        they are the part's, and the patched sheet is laid out over the part's own XML."""
        if sheet.xml is not xml or sheet.origins is None:
            return None
        old = self._record(part)
        return None if old is None else (old, sheet.origins, b"</" + sheet.p + b"row>")

    def _record(self, part: str) -> Reuse | None:
        """The part's old pieces, when the record proves they are the part's bytes."""
        if self.memory is None or not self.package.has(part):
            return None
        info = self.package.infos[part]
        if info.compress_type != zipfile.ZIP_DEFLATED:
            return None
        return self.memory.reuse(part, info.CRC, info.compress_size, info.file_size,
                                 self.package.raw(part))

    def records(self) -> dict[str, Record]:
        """The pieces of the members written, and the records still true of those copied."""
        records = {name: member.record() for name, member in self.members.items()}
        kept = self.memory.records() if self.memory is not None else {}
        for name, record in kept.items():
            info = self.package.infos.get(name)
            if (name not in records and info is not None and name not in self.book.dropped
                    and (info.CRC, info.compress_size, info.file_size)
                    == (record.crc, record.csize, record.usize)):
                records[name] = record
        return records

    def _apply_tab(self, changes: _TabChanges) -> bool:
        """Patch (or create) one tab; True if a formula was overwritten."""
        first = (changes.fills or changes.sets or changes.appends or changes.deletes)[0]
        tab = _schema_tab(first.tab)
        found = self.book.find(first.tab)
        wanted = [c.name for c in tab.columns] if tab and tab.tool_tab else []
        wanted += [c for c in changes.columns() if c not in wanted]
        if found is None:
            names = [c.name for c in tab.columns] if tab else []
            names += [c for c in wanted if c not in names]
            found = self.book.add_sheet(tab.name if tab else first.tab)
            self.added.append(found.part)
            xml, wanted = new_sheet_xml(tab, names), names
        elif not found.is_worksheet:
            raise PackageError(f"the tab {found.name} is not a worksheet")
        else:
            done = self._patch_partial(found.part, tab, wanted, changes)
            if done is not None:
                self.writes = True
                sheet, outcome, (old, pieces, origins, marker) = done
                self.members[found.part] = deflate(pieces, self.pool, origins=origins,
                                                   reuse=old, marker=marker)
                return self._tally(found.part, sheet, outcome)
            reading = self.reading.pop(found.part, None)
            xml = reading.result() if reading else self.package.read(found.part)
        try:
            try:
                sheet, outcome = self._patch(xml, tab, wanted, changes, normalise=False)
            except NotCanonical:
                sheet, outcome = self._patch(xml, tab, wanted, changes, normalise=True)
        except GridFull as exc:
            exc.tab = found.name
            raise
        if not (sheet.changes or sheet.new_rows or sheet.header_adds or sheet.deleted):
            self.members.pop(found.part, None)
        elif self.held is not None:
            self.writes = True
            self.held[found.part] = outcome.pieces
        else:
            self.writes = True
            self._store(found.part, outcome.pieces, self._reuse(found.part, xml, sheet))
        return self._tally(found.part, sheet, outcome)

    def _tally(self, part: str, sheet: Sheet, outcome: _Outcome) -> bool:
        """Count what the patch did and grow the tables over the sheet; True if a formula
        was overwritten."""
        result = self.result
        result.cells_set += outcome.result.cells_set
        result.keys_filled += outcome.result.keys_filled
        result.rows_appended += sheet.patch.rows_appended
        result.rows_deleted += sheet.patch.rows_deleted
        result.missing_keys += outcome.result.missing_keys
        result.unmatched_fills += outcome.result.unmatched_fills
        patch = sheet.patch
        for table_part, table in grow_tables(self.package, part, patch.last_row_before,
                                             patch.last_row_after,
                                             patch.appended_columns).items():
            self._store(table_part, [table])
        return bool(patch.formulas_removed)

    def _patch_partial(self, part: str, tab: Tab | None, wanted: list[str],
                       changes: _TabChanges) -> tuple[Sheet, _Outcome, _Reused] | None:
        """Rows appended to a sheet this tool wrote before, patched on its first and last
        pieces only (`xlsx_pieces.Partial`): the rows between are neither inflated nor
        deflated. None when that cannot be done (the whole sheet is patched then): other
        changes, no record, a header to add, or a last row that is not in the last piece."""
        old = self._partial(part, changes)
        if old is None:
            return None
        try:
            sheet, outcome = self._patch(old.xml, tab, wanted, changes, normalise=False)
            last, last_end = sheet.last_valued_row()
        except (NotCanonical, GridFull):
            return None  # patched again on the whole sheet: the same error, if any, there
        if sheet.header_adds or last < 2 or last_end <= old.head or sheet.origins is None \
                or sheet.xml is not old.xml:
            return None
        widened = old.widen(outcome.pieces, sheet.origins)
        if widened is None:
            return None
        pieces, origins = widened
        return sheet, outcome, (old.reuse, pieces, origins, b"</" + sheet.p + b"row>")

    def _partial(self, part: str, changes: _TabChanges) -> Partial | None:
        """The sheet's first and last pieces, when only rows are appended to it and its
        record proves the pieces are the part's."""
        if changes.fills or changes.sets or changes.deletes or self.held is not None:
            return None
        if part not in self.partials:
            reuse = self._record(part)
            self.partials[part] = None if reuse is None else partial(reuse)
        return self.partials[part]

    def _compact_strings(self, held: dict[str, list[bytes | memoryview]]) -> None:
        """Drop the shared strings no cell of any sheet uses once rows are deleted (when
        most of the table is unused: `xlsx_compact`), then store the held sheets."""
        package, part = self.package, self.strings_part
        folders = xlsx_compact.SHEET_FOLDERS
        sheets = dict.fromkeys([*(s.part for s in self.book.sheets),
                                *(n for n in package.names if folders.search(n))])
        new = {name: b"".join(pieces) for name, pieces in held.items()}
        held.clear()
        highest: dict[str, int] = {}  # each sheet's highest reference (-1: none)

        def scanned() -> Iterator[list[int] | None]:
            for name in sheets:
                if name in new or package.has(name):
                    refs = xlsx_compact.references(new[name] if name in new
                                                   else package.read(name))
                    highest[name] = max(refs) if refs else -1
                    yield refs

        compaction = None
        if part is not None and not any(xlsx_compact.REVISIONS.search(n) for n in package.names):
            compaction = xlsx_compact.plan(package.read(part), scanned())
        if compaction is not None:
            self._store(part, [compaction.table])
            self.writes = True
        previous = None
        for name in dict.fromkeys([*new, *highest]):  # a sheet or two held at a time
            if compaction is not None and compaction.moves(highest.get(name, -1)):
                xml = xlsx_compact.renumbered(new.pop(name) if name in new
                                              else package.read(name), compaction)
            elif name in new:
                xml = new.pop(name)
            else:
                continue
            self._store(name, [xml])
            if previous is not None:  # its blocks compressed before the next sheet is made
                self.members[previous].data()
            previous = name

    def _patch(self, xml: bytes, tab: Tab | None, wanted: list[str], changes: _TabChanges,
               normalise: bool) -> tuple[Sheet, _Outcome]:
        sheet = Sheet(xml, self.strings, self.styles, normalise=normalise)
        columns = _Columns(sheet, tab, wanted)
        sheet.base_style = columns.base_style(self.styles)
        result = WriteTally()
        _fill(sheet, columns, tab, changes.fills, result)
        _set(sheet, columns, tab, changes.sets, result)
        _delete(sheet, columns, tab, changes.deletes, result)
        placed: dict[tuple[str, ...], tuple[int, ...]] = {}  # the appends' names → columns
        for append in changes.appends:
            values = append.values
            names = tuple(values)
            cols = placed.get(names)
            if cols is None:
                cols = placed[names] = tuple(columns[name] for name in names)
            sheet.new_rows.append(dict(zip(cols, values.values(), strict=True)))
        return sheet, _Outcome(sheet.render(), result)

    def write(self, handle: BinaryIO) -> None:
        order = [n for n in self.package.names if n not in self.book.dropped]
        order += [n for n in self.added if n not in order]
        write_package(handle, self.package, order, self.members, self.now)


# The old pieces a sheet copies, its new pieces and their origins, and where a row ends.
_Reused = tuple[Reuse, list[bytes | memoryview | Gap], list[int | None], bytes]


@dataclass
class _Outcome:
    pieces: list[bytes | memoryview]
    result: WriteTally


def _fill(sheet: Sheet, columns: _Columns, tab: Tab | None, fills: list[FillKey],
          result: WriteTally) -> None:
    """Write each key into its row if the row still shows what the tool read there."""
    sheet.row_spans(f.row for f in fills)
    for fill in fills:
        col = columns[fill.column]
        cells = sheet.row_cells(fill.row) if fill.row > 1 else {}
        if not cells and fill.row > 1:
            sheet.check_all()  # a row not found by its r attribute may lack one
        pending = sheet.changes.get(fill.row, {})
        current = pending[col] if col in pending else sheet.raw(*cells.get(col, (b"", None)))
        if not parse.is_blank(current):
            if parse.parse_text(current) == fill.value:
                result.keys_filled += 1
            else:
                result.unmatched_fills.append(fill)
            continue
        shown = all(_shows(_kind(tab, name),
                           sheet.raw(*cells.get(columns.find(name, -1), (b"", None))), text)
                    for name, text in fill.expect.items())
        holds_values = any(not parse.is_blank(sheet.raw(*cell)) for cell in cells.values())
        if not holds_values or not shown:
            result.unmatched_fills.append(fill)
            continue
        sheet.set(fill.row, col, fill.value)
        result.keys_filled += 1


def _delete(sheet: Sheet, columns: _Columns, tab: Tab | None, deletes: list[DeleteRow],
            result: WriteTally) -> None:
    """Mark each row for removal if it still shows what the tool read there."""
    sheet.row_spans(d.row for d in deletes)
    for delete in deletes:
        cells = sheet.row_cells(delete.row) if delete.row > 1 else {}
        if not cells:
            if delete.row > 1:
                sheet.check_all()
            result.unmatched_deletes.append(delete)
            continue
        if all(_shows(_kind(tab, name),
                      sheet.raw(*cells.get(columns.find(name, -1), (b"", None))), text)
               for name, text in delete.expect.items()):
            sheet.deleted.add(delete.row)
        else:
            result.unmatched_deletes.append(delete)


def _set(sheet: Sheet, columns: _Columns, tab: Tab | None, sets: list[SetCell],
         result: WriteTally) -> None:
    """Set the cell in every row whose key column holds the key; unknown keys are reported."""
    if not sets:
        return
    key_col = columns.find(tab.key, -1) if tab and tab.key else -1
    if key_col < 0:
        result.missing_keys.extend(sets)
        return
    wanted = {cell.key.strip() for cell in sets}
    filled = {row: cols[key_col] for row, cols in sheet.changes.items() if key_col in cols}
    rows = sheet.key_rows(key_col, wanted)
    if filled:
        rows = {key: [r for r in found if r not in filled] for key, found in rows.items()}
    for number, value in filled.items():
        if isinstance(value, str) and value.strip() in wanted:
            rows.setdefault(value.strip(), []).append(number)
    named: dict[str, int] = {}  # column name → index, normalised once per name
    for cell in sets:
        found = rows.get(cell.key.strip())
        if not found:
            result.missing_keys.append(cell)
            continue
        col = named.get(cell.column)
        if col is None:
            col = named[cell.column] = columns[cell.column]
        for number in found:
            sheet.set(number, col, cell.value)
            result.cells_set += 1


class _Columns:
    """Column name → column index, adding header cells for the missing ones."""

    def __init__(self, sheet: Sheet, tab: Tab | None, wanted: list[str]) -> None:
        self.sheet, self.tab = sheet, tab
        self.index: dict[str, int] = {}
        header = sheet.header()
        for col in sorted(header):
            text = header[col]
            if not parse.is_blank(text):
                self.index.setdefault(normalise_header(parse.parse_text(text)), col)
        self._next: int | None = None
        for name in wanted:
            self[name]

    def find(self, name: str, default: int) -> int:
        return self.index.get(normalise_header(name), default)

    def __getitem__(self, name: str) -> int:
        key = normalise_header(name)
        if key not in self.index:
            if self._next is None:
                self._next = max([*self.index.values(), -1, self.sheet.merged_end(1) - 1]) + 1
                if self.sheet.last_valued_row()[0] > 1:
                    self._next = max(self._next, self.sheet.used_columns())
            self.index[key] = self._next
            self.sheet.header_adds[self._next] = name
            self._next += 1
        return self.index[key]

    def base_style(self, styles: Styles) -> Callable[[int, Value], int]:
        """Money columns without a style of their own show two decimals."""
        money = {self.find(c.name, -1) for c in (self.tab.columns if self.tab else ())
                 if c.kind is Kind.MONEY}

        def style(col: int, value: Value) -> int:
            number = isinstance(value, (Decimal, int)) and not isinstance(value, bool)
            return styles.with_format(0, MONEY) if col in money and number else 0

        return style


def _kind(tab: Tab | None, column: str) -> Kind:
    if tab is None:
        return Kind.TEXT
    wanted = normalise_header(column)
    return next((c.kind for c in tab.columns if normalise_header(c.name) == wanted), Kind.TEXT)


def _shows(kind: Kind, raw: object, expected: str) -> bool:
    """Does a cell read as `raw` still show `expected`, normalised as `ispsheets.ids` does?"""
    if parse.is_blank(raw):
        return expected == ""
    match kind:
        case Kind.DATE:
            return any(_iso(parse.parse_date(raw, order)) == expected for order in _DATE_ORDERS)
        case Kind.DATETIME:
            return any(_same_time(parse.parse_datetime(raw, order), expected)
                       for order in _DATE_ORDERS)
        case Kind.MONEY | Kind.NUMBER | Kind.PERCENT | Kind.INT:
            reader = {Kind.MONEY: parse.parse_money, Kind.PERCENT: parse.parse_percent}.get(
                kind, parse.parse_decimal)
            value = reader(raw)
            try:
                return isinstance(value, Decimal) and value == Decimal(expected)
            except InvalidOperation:
                return False
        case _:
            return parse.parse_text(raw) == expected


def _same_time(value: object, expected: str) -> bool:
    """The same moment to within a millisecond: a time stored as a fraction of a day reads
    back a microsecond off (06:00:06.000001 for 06:00:06) depending on the reader."""
    if not isinstance(value, dt.datetime):
        return False
    try:
        wanted = dt.datetime.fromisoformat(expected)
    except ValueError:
        return False
    return abs(value - wanted) < dt.timedelta(milliseconds=1)


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else None
