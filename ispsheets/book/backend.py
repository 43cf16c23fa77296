"""Where the workbook lives: an `.xlsx` file, or a Google Sheet through the same interface."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ispsheets.book.changes import ChangeSet, WorkbookWriteError, WriteResult
from ispsheets.book.reader import RawBook, read_xlsx
from ispsheets.config import Config
from ispsheets.problems import ExitCode, Problem

if TYPE_CHECKING:
    from ispsheets.book.gsheets_backend import GoogleSheetBackend


TAB_CACHE = ".ispsheets-cache"  # beside the journal: tabs read before, safe to delete
PIECES = "deflate-pieces"  # in TAB_CACHE: the pieces of the sheets the last write made


class Backend(Protocol):
    """Reads every tab at once and applies a change set; `name` is what messages call it.
    `generation` is the write generation the workbook read was stamped with (None: never)."""

    name: str
    generation: int | None

    def read(self) -> RawBook: ...

    def write(self, changes: ChangeSet, now: dt.datetime,
              generation: int | None = None) -> WriteResult: ...


class WorkbookReadError(Exception):
    """The workbook cannot be read: exit 2 (bad config or file), or 3 when it is only out of
    reach for now (a Google Sheet unreachable, not shared, deleted): nothing was done."""

    def __init__(self, problem: Problem, exit_code: ExitCode = ExitCode.BAD_CONFIG) -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.exit_code = exit_code


class XlsxBackend:
    """An `.xlsx` file: read with calamine, written by patching only what changed."""

    def __init__(self, path: Path, backup_dir: Path, keep_backups: int,
                 cache_dir: Path | None = None) -> None:
        self.path = path
        self.cache_dir = cache_dir  # tabs read before (`tab_cache`); None: none kept
        self.name = path.name
        self.backup_dir = backup_dir
        self.keep_backups = keep_backups
        self._fingerprint: str | None = None
        self.generation: int | None = None

    def read(self) -> RawBook:
        from ispsheets.book.tab_cache import TabCache
        from ispsheets.book.xlsx_backend import fingerprint
        from ispsheets.book.xlsx_generation import read_generation

        if not self.path.is_file():
            raise WorkbookReadError(Problem(
                self.name, "not found", f"check workbook.path in config.yaml ({self.path})"))
        try:
            self._fingerprint = fingerprint(self.path)
            self.generation = read_generation(self.path)
            cache = TabCache(self.cache_dir) if self.cache_dir is not None else None
            return read_xlsx(self.path, cache)
        except Exception as exc:  # calamine raises its own types for every kind of bad file
            raise WorkbookReadError(Problem(
                self.name, f"cannot be read ({type(exc).__name__}: {exc})",
                "open it in Excel or LibreOffice and save it again as .xlsx")) from exc

    def unwritable(self) -> Problem | None:
        """Why no run could ever write this workbook back (checked before a run does
        anything): a format other than .xlsx, a read-only file or folder."""
        from ispsheets.book.xlsx_backend import why_unwritable

        return why_unwritable(self.path, self.backup_dir if self.keep_backups > 0 else None)

    def write(self, changes: ChangeSet, now: dt.datetime,
              generation: int | None = None) -> WriteResult:
        from ispsheets.book.xlsx_backend import apply_changes

        return apply_changes(self.path, changes, backup_dir=self.backup_dir,
                             keep_backups=self.keep_backups,
                             expected_fingerprint=self._fingerprint, now=now,
                             generation=generation,
                             pieces_file=(self.cache_dir / PIECES
                                          if self.cache_dir is not None else None))


def unwritable(backend: Backend) -> Problem | None:
    """Why this workbook can never be written back by a run, if it cannot; None if it can
    (a workbook open in Excel can: that write is only deferred)."""
    check = backend.unwritable if isinstance(backend, XlsxBackend) else None
    return check() if check is not None else None


class _SheetBackend:
    """The Google Sheet backend, with its read errors as WorkbookReadError. Its write
    generation is kept in a hidden tab, so a version put back from the sheet's version
    history is noticed as an older .xlsx copy is."""

    def __init__(self, inner: GoogleSheetBackend) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def generation(self) -> int | None:
        return self.inner.generation

    @generation.setter
    def generation(self, value: int | None) -> None:  # the Backend protocol's attribute
        self.inner.generation = value

    def read(self) -> RawBook:
        from ispsheets.book.gsheets_backend import SheetReadError

        try:
            return self.inner.read()
        except SheetReadError as exc:
            raise WorkbookReadError(exc.problem, exc.exit_code) from exc

    def write(self, changes: ChangeSet, now: dt.datetime,
              generation: int | None = None) -> WriteResult:
        return self.inner.write(changes, now, generation)

    def grid_cells(self) -> int:
        """The cells of every tab's grid as last read (blank ones too: Google counts them)."""
        return sum(t.rows * t.columns for t in self.inner._read_tabs.values())

    def queue_report(self, rows: list[list[object]]) -> None:
        """The Report tab's rows, sent with the next write (or by `flush_report`)."""
        self.inner.report_rows = rows

    def flush_report(self) -> None:
        self.inner.flush_report()


def sheet_cells(backend: Backend) -> int | None:
    """How many cells a Google Sheet's grids hold (None: an .xlsx workbook)."""
    return backend.grid_cells() if isinstance(backend, _SheetBackend) else None


def google_sheet_backend(config: Config) -> Backend:
    """The Google Sheet config.yaml names (key or URL), as its service account."""
    from ispsheets.book.gsheets_api import CREDENTIALS_ENV, service_account_file, sheet_key
    from ispsheets.book.gsheets_backend import GoogleSheetBackend

    where = "config.yaml: workbook.google_sheet"
    key = sheet_key(config.workbook.google_sheet)
    if key is None:
        raise WorkbookReadError(Problem(
            where, f"{config.workbook.google_sheet!r} is not a Google Sheet key or URL",
            "paste the sheet's address from the browser, e.g. "
            "https://docs.google.com/spreadsheets/d/1AbC.../edit"))
    configured = config.workbook.service_account
    credentials = service_account_file(config.path(configured) if configured else None)
    account = ("config.yaml: workbook.service_account" if configured or credentials is None
               else CREDENTIALS_ENV)
    return _SheetBackend(GoogleSheetBackend(key, credentials, config.base_dir / "backups",
                                            config.workbook.backups, account))


def open_backend(config: Config, *, keep_cache: bool = True) -> Backend:
    """The backend config.yaml names; `keep_cache=False` (a dry run, which touches no file)
    reads every tab from the workbook and keeps none in the tab cache."""
    if config.workbook.google_sheet:
        return google_sheet_backend(config)
    path = config.workbook_path
    return XlsxBackend(path, path.parent / "backups", config.workbook.backups,
                       cache_dir=config.journal_path.parent / TAB_CACHE if keep_cache else None)


__all__ = ["Backend", "WorkbookReadError", "WorkbookWriteError", "XlsxBackend", "open_backend",
           "sheet_cells", "unwritable"]
