"""Where the workbook lives: an `.xlsx` file now, a Google Sheet through the same interface."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Protocol

from ispsheets.book.changes import ChangeSet, WorkbookWriteError, WriteResult
from ispsheets.book.reader import RawBook, read_xlsx
from ispsheets.config import Config
from ispsheets.problems import Problem


class Backend(Protocol):
    """Reads every tab at once and applies a change set; `name` is what messages call it.
    `generation` is the write generation the workbook read was stamped with (None: never)."""

    name: str
    generation: int | None

    def read(self) -> RawBook: ...

    def write(self, changes: ChangeSet, now: dt.datetime,
              generation: int | None = None) -> WriteResult: ...


class WorkbookReadError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class XlsxBackend:
    """An `.xlsx` file: read with calamine, written by patching only what changed."""

    def __init__(self, path: Path, backup_dir: Path, keep_backups: int) -> None:
        self.path = path
        self.name = path.name
        self.backup_dir = backup_dir
        self.keep_backups = keep_backups
        self._fingerprint: str | None = None
        self.generation: int | None = None

    def read(self) -> RawBook:
        from ispsheets.book.xlsx_backend import fingerprint
        from ispsheets.book.xlsx_generation import read_generation

        if not self.path.is_file():
            raise WorkbookReadError(Problem(
                self.name, "not found", f"check workbook.path in config.yaml ({self.path})"))
        try:
            self._fingerprint = fingerprint(self.path)
            self.generation = read_generation(self.path)
            return read_xlsx(self.path)
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
                             generation=generation)


def unwritable(backend: Backend) -> Problem | None:
    """Why this workbook can never be written back by a run, if it cannot; None if it can
    (a workbook open in Excel can: that write is only deferred)."""
    check = backend.unwritable if isinstance(backend, XlsxBackend) else None
    return check() if check is not None else None


def open_backend(config: Config) -> Backend:
    """The backend config.yaml names."""
    if config.workbook.google_sheet:
        raise WorkbookReadError(Problem(
            "config.yaml: workbook.google_sheet",
            "Google Sheets are not supported by this version yet",
            "export the sheet as .xlsx and set workbook.path"))
    path = config.workbook_path
    return XlsxBackend(path, path.parent / "backups", config.workbook.backups)


__all__ = ["Backend", "WorkbookReadError", "WorkbookWriteError", "XlsxBackend", "open_backend",
           "unwritable"]
