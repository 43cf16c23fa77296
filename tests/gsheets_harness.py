"""The fake Sheets service as the tests' Google: one server per test process, reached through
ISPSHEETS_SHEETS_EMULATOR_HOST exactly as an owner's emulator would be."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

from ispsheets.book.changes import ChangeSet, WriteResult
from ispsheets.book.gsheets_api import EMULATOR_ENV
from ispsheets.book.gsheets_backend import GoogleSheetBackend
from ispsheets.book.reader import RawBook, read_xlsx
from tests.fake_sheets import FakeSheets

_FAKE: FakeSheets | None = None


def shared_fake() -> FakeSheets:
    """The process's fake service, started on first use; the emulator variable points at it."""
    global _FAKE
    if _FAKE is None:
        _FAKE = FakeSheets().start()
    os.environ[EMULATOR_ENV] = _FAKE.host
    return _FAKE


def clean_fake() -> FakeSheets:
    """The process's fake service with no fault or hook another test left on it."""
    service = shared_fake()
    service.faults.clear()
    service.hooks.clear()
    return service


def new_key() -> str:
    return "1Test" + uuid.uuid4().hex


def sheet_from_xlsx(path: Path, title: str = "Prairie Net", fake: FakeSheets | None = None
                    ) -> str:
    """A new spreadsheet in the fake holding the values of the workbook at `path` (dates as
    dated serials, as a person typing them in Google Sheets would leave them); its key."""
    fake = fake or shared_fake()
    key = new_key()
    book = read_xlsx(path)
    fake.create(key, title, {name: [list(r) for r in sheet.rows]
                             for name, sheet in book.sheets.items()})
    for name, sheet in book.sheets.items():  # the template's frozen header rows
        fake.sheet(key, name).frozen_rows = 1 if sheet.rows else 0
    return key


def backend(key: str, folder: Path, keep_backups: int = 0) -> GoogleSheetBackend:
    shared_fake()
    return GoogleSheetBackend(key, None, folder, keep_backups)


def read_sheet(key: str) -> RawBook:
    return backend(key, Path("/nonexistent-backups")).read()


def edit_sheet(key: str, changes: ChangeSet) -> WriteResult:
    """The owner editing the sheet (as if in the browser)."""
    return backend(key, Path("/nonexistent-backups")).write(changes, dt.datetime(2026, 1, 1))
