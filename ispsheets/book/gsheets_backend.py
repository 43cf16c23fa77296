"""A Google Sheet as the workbook, in a handful of API requests whatever the number of clients.

Read: `spreadsheets.get` (the tabs) and one `values:batchGet` of every tab (Activity's header
only: a run appends to it and never needs its rows), into the same RawBook the `.xlsx` reader
gives.

Write (no lock exists on a Google Sheet, so the write is safe without one):
1. `spreadsheets.get` again and one `values:batchGet` of the header row and the key columns of
   the tabs being written, right before writing: rows are located by key *now*, so a row the
   owner sorted, inserted or deleted during the run never gets a value meant for another row;
   a keyed row that vanished is reported, not misplaced. A tab renamed or deleted during the
   run stops the write (exit 3, the journal writes everything next run).
2. One `spreadsheets:batchUpdate` when a tab must be added or grown (and the number formats of
   the rows appended), checked first against Google's 10-million-cell limit.
3. One `values:batchUpdate`, RAW, for every cell and appended row: text stays text.
4. The archive's removals (`DeleteRow`), last, as one `spreadsheets:batchUpdate` of
   `deleteDimension` requests, bottom row first (so the rows above keep their numbers); a row
   is removed only if it still shows, now, the cells the archive copied out of it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ispsheets.book import parse
from ispsheets.book.changes import (
    AppendRow,
    ChangeSet,
    DeleteRow,
    FillKey,
    SetCell,
    WorkbookWriteError,
    WriteResult,
    WriteTally,
)
from ispsheets.book.gsheets_api import SheetsApi, SheetsFailure, SheetsSetupError, client_email
from ispsheets.book.gsheets_backup import backup_stem, write_backup
from ispsheets.book.gsheets_values import (
    NUMBER_FORMATS,
    column_kinds,
    read_rows,
    schema_tab,
    to_json,
)
from ispsheets.book.reader import HEADER_ONLY_TABS, RawBook, RawSheet
from ispsheets.book.schema import Kind, Tab, column_letter, normalise_header
from ispsheets.faults import checkpoint
from ispsheets.problems import ExitCode, Problem

CELL_LIMIT = 10_000_000
PAYLOAD_LIMIT = 10_000_000  # bytes of one values:batchUpdate (sent compact: bytes = length)
HARD_LIMIT = 10_400_000  # Google refuses a request body above 10,485,760 bytes
NEW_TAB_ROWS = 1000  # a tab the tool adds gets Google's usual 1,000 rows
REMOVALS_PER_REQUEST = 5_000  # deleteDimension requests in one batchUpdate (~600 KB)
_GAP = 64  # cells of one column further apart than this are written as separate ranges
_NEXT_RUN = "nothing is lost: the next run writes everything"


REPORT_TAB = "Report"  # the report's summary, with workbook.report_tab
REPORT_ROWS = 40  # rows of the Report tab written each time (those below the summary: cleared)
STAMP_TAB = "_ispsheets"  # hidden: the generation of the tool's last write, in B1
STAMP_LABEL = "ispsheets write (do not edit: tells a restored older version)"


def _stamped(values: list[list[object]]) -> int | None:
    """The generation in the stamp tab's A1:B1, if it holds one."""
    cell = values[0][1] if values and len(values[0]) > 1 else None
    if isinstance(cell, bool) or not isinstance(cell, int | float) or cell < 1:
        return None
    return int(cell)


@dataclass(frozen=True)
class GridTab:
    """A tab as `spreadsheets.get` describes it."""

    sheet_id: int
    title: str
    rows: int
    columns: int


def quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def grid_tabs(metadata: dict[str, Any]) -> list[GridTab]:
    tabs = []
    for sheet in metadata.get("sheets", []):
        props = sheet.get("properties", {})
        if props.get("sheetType", "GRID") != "GRID":
            continue
        grid = props.get("gridProperties", {})
        tabs.append(GridTab(int(props.get("sheetId", 0)), str(props.get("title", "")),
                            int(grid.get("rowCount", 0)), int(grid.get("columnCount", 0))))
    return tabs


def _header_only(title: str) -> bool:
    return any(normalise_header(title) == normalise_header(t.name) for t in HEADER_ONLY_TABS)


class SheetReadError(Exception):
    """Raised by `read`; backend.py turns it into its WorkbookReadError."""

    def __init__(self, problem: Problem, exit_code: ExitCode) -> None:
        super().__init__(str(problem))
        self.problem, self.exit_code = problem, exit_code


Connect = Callable[[], SheetsApi]


class GoogleSheetBackend:
    """A Google Sheet reached through the Sheets API as a service account."""

    def __init__(self, key: str, credentials: Path | None, backup_dir: Path, keep_backups: int,
                 where: str = "config.yaml: workbook.service_account",
                 connect: Connect | None = None) -> None:
        self.key = key
        self.credentials = credentials
        self.backup_dir = backup_dir
        self.keep_backups = keep_backups
        self.where = where
        self.name = f"Google Sheet {key}"
        self.title = ""
        self._connect = connect or partial(SheetsApi.connect, key, credentials, where)
        self._api: SheetsApi | None = None
        self._read_tabs: dict[str, GridTab] = {}
        self._book: RawBook | None = None
        self.generation: int | None = None  # the write generation the sheet was read with
        self.report_rows: list[list[Any]] | None = None  # the Report tab, sent with a write

    # -- connection and messages ---------------------------------------------------------------

    @property
    def api(self) -> SheetsApi:
        if self._api is None:
            self._api = self._connect()
        return self._api

    @property
    def requests(self) -> int:
        """Requests made so far (each retry counts)."""
        return self._api.requests if self._api is not None else 0

    def _account(self) -> str:
        return client_email(self.credentials) or "the service account (client_email in its " \
            "JSON key file)"

    def failure(self, exc: SheetsFailure, writing: bool) -> tuple[str, str]:
        """What went wrong and how the owner fixes it, for a failed request."""
        after = f"; {_NEXT_RUN}" if writing else "; nothing was done: run again after that"
        match exc.kind:
            case "denied" if "has not been used in project" in exc.message or \
                    "is disabled" in exc.message:
                return ("the Google Sheets API is not enabled for the service account's "
                        "project", "enable it: Google Cloud console > APIs & Services > "
                        f"Library > Google Sheets API > Enable (wait a minute){after}")
            case "denied":
                return (f"Google refused access ({exc.message or exc.status})",
                        f"share the sheet with {self._account()} as Editor (in the sheet: "
                        f"Share, paste that address, Editor, Send){after}")
            case "not_found":
                return ("not found: the sheet was deleted or the key is wrong",
                        "check workbook.google_sheet in config.yaml, or restore the sheet from "
                        f"the Trash in Google Drive{after}")
            case "unreachable":
                return (f"cannot reach Google Sheets ({exc.message})",
                        f"check the internet connection{after}")
            case "busy":
                return (f"Google Sheets kept answering {exc.status} (busy) after retrying",
                        f"wait a few minutes{after}")
            case _:
                return (f"Google Sheets refused the request ({exc.status}: {exc.message})",
                        f"check the sheet in a browser{after}")

    # -- reading ---------------------------------------------------------------------------------

    def read(self) -> RawBook:
        try:
            api = self.api
            metadata = api.metadata()
            tabs = grid_tabs(metadata)
            self.title = str(metadata.get("properties", {}).get("title", ""))
            self.name = f"Google Sheet '{self.title}'" if self.title else self.name
            ranges = [quote(t.title) + ("!1:1" if _header_only(t.title) else
                                        "!A1:B1" if t.title == STAMP_TAB else "") for t in tabs]
            found = api.batch_get(ranges) if ranges else []
        except SheetsSetupError as exc:
            raise SheetReadError(Problem(exc.where, exc.message, exc.fix),
                                 ExitCode.BAD_CONFIG) from exc
        except SheetsFailure as exc:
            message, fix = self.failure(exc, writing=False)
            raise SheetReadError(Problem(self.name, message, fix),
                                 ExitCode.WRITE_FAILED) from exc
        sheets: dict[str, RawSheet] = {}
        self.generation = None
        for tab, value_range in zip(tabs, found, strict=True):
            values = value_range.get("values", [])
            if tab.title == STAMP_TAB:
                self.generation = _stamped(values)
            elif _header_only(tab.title):
                header = read_rows(tab.title, values[:1])
                sheets[tab.title] = RawSheet(tab.title, load=partial(self._load, tab.title),
                                             header=header[0] if header else [])
            else:
                sheets[tab.title] = RawSheet(tab.title, read_rows(tab.title, values))
        self._read_tabs = {normalise_header(t.title): t for t in tabs}
        self._book = RawBook(sheets)
        return self._book

    def _load(self, title: str) -> list[list[object]]:
        (value_range,) = self.api.batch_get([quote(title)])
        return read_rows(title, value_range.get("values", []))

    # -- writing ---------------------------------------------------------------------------------

    def write(self, changes: ChangeSet, now: dt.datetime,
              generation: int | None = None) -> WriteResult:
        """Write `changes`, and stamp the sheet with the write's `generation` (the hidden
        `_ispsheets` tab, added the first time) in the request that carries its Activity rows."""
        if not changes:
            return WriteResult()
        try:
            try:
                plan = self._plan(changes)
            except SheetsFailure as exc:
                if exc.kind != "invalid":
                    raise
                plan = self._plan(changes, fresh=True)  # a tab renamed meanwhile: say which
            if generation is not None:
                plan.stamp(generation, self._read_tabs.get(normalise_header(STAMP_TAB)))
            reported = self.report_rows is not None
            if self.report_rows is not None:
                plan.replace_tab(REPORT_TAB, self.report_rows,
                                 self._read_tabs.get(normalise_header(REPORT_TAB)))
            backup = None
            removals = plan.removals  # written last: the rows above were located first
            if plan.requests or plan.data or removals:
                backup = write_backup(self._backed_up(changes), self.backup_dir,
                                      backup_stem(self.title or self.key), self.keep_backups,
                                      now, self.name)
            try:
                if plan.requests:
                    self._added(self.api.batch_update(plan.requests))
                checkpoint("workbook-temp-written")  # grown, not written: the next run writes
                for number, part in enumerate(payloads(plan.data)):
                    if number:
                        checkpoint("workbook-temp-written")  # a part written, not the last
                    self.api.values_update(part, "RAW")
                for start in range(0, len(removals), REMOVALS_PER_REQUEST):
                    checkpoint("workbook-temp-written")  # bottom rows first: still in place
                    self.api.batch_update(removals[start:start + REMOVALS_PER_REQUEST])
            except SheetsFailure as exc:
                if exc.kind == "invalid":
                    self._plan(changes, fresh=True)  # a tab renamed or deleted: say which
                raise
        except SheetsSetupError as exc:
            raise WorkbookWriteError(exc.where, exc.message, exc.fix) from exc
        except SheetsFailure as exc:
            message, fix = self.failure(exc, writing=True)
            raise WorkbookWriteError(self.name, message, fix) from exc
        if reported:
            self.report_rows = None
        result = plan.result
        return WriteResult(result.cells_set, result.keys_filled, result.rows_appended,
                           tuple(result.missing_keys), tuple(result.unmatched_fills),
                           str(backup) if backup else "", result.rows_deleted)

    def _added(self, answer: dict[str, Any]) -> None:
        """Tabs a batchUpdate added, known from its answer (a later write needs no re-read)."""
        added = [r["addSheet"] for r in answer.get("replies", []) if "addSheet" in (r or {})]
        for tab in grid_tabs({"sheets": added}):
            self._read_tabs[normalise_header(tab.title)] = tab

    def flush_report(self) -> None:
        """The Report tab alone, when no write carried it (a day with nothing else to write)."""
        if self.report_rows is None:
            return
        plan = _Plan(next_id=0)
        plan.replace_tab(REPORT_TAB, self.report_rows,
                         self._read_tabs.get(normalise_header(REPORT_TAB)))
        try:
            if plan.requests:
                self._added(self.api.batch_update(plan.requests))
            self.api.values_update(plan.data, "RAW")
        except SheetsSetupError as exc:
            raise WorkbookWriteError(exc.where, exc.message, exc.fix) from exc
        except SheetsFailure as exc:
            message, fix = self.failure(exc, writing=True)
            raise WorkbookWriteError(f"{self.name}: {REPORT_TAB}", message, fix) from exc
        self.report_rows = None

    def _backed_up(self, changes: ChangeSet) -> list[RawSheet]:
        """The tabs whose cells the write changes or whose rows it removes, as read (a tab only
        appended to loses nothing and is left out: InvoiceLines, Activity, most days)."""
        if self._book is None:
            return []
        wanted = {normalise_header(c.tab) for c in (*changes.sets, *changes.fills,
                                                    *changes.deletes)}
        return [s for name, s in self._book.sheets.items()
                if normalise_header(name) in wanted and s.loaded]

    def _plan(self, changes: ChangeSet, fresh: bool = False) -> _Plan:
        """Where every change goes, from the key columns read now. The tabs' list comes from
        the morning read (their sizes now from the key read's answer) unless a tab must be added
        or `fresh`: then from a `spreadsheets.get` now (which also tells a tab renamed or
        replaced since the morning)."""
        groups = _group(changes)
        fresh = fresh or not self._read_tabs or any(n not in self._read_tabs for n in groups)
        tabs = grid_tabs(self.api.metadata()) if fresh else list(self._read_tabs.values())
        by_name = {normalise_header(t.title): t for t in tabs}
        by_id = {t.sheet_id: t for t in tabs}
        plan = _Plan(next_id=max([t.sheet_id for t in tabs] + [0]) + 1)
        existing: dict[str, tuple[GridTab, _TabChanges]] = {}
        for norm, group in groups.items():
            seen = self._read_tabs.get(norm)
            now_tab = by_name.get(norm)
            if seen is not None and (now_tab is None or now_tab.sheet_id != seen.sheet_id):
                moved = by_id.get(seen.sheet_id)
                what = (f"the {seen.title} tab was renamed to '{moved.title}' during the run"
                        if moved else f"the {seen.title} tab was deleted during the run")
                raise WorkbookWriteError(f"{self.name}: {seen.title}", what,
                                         f"rename it back to {seen.title} (or restore it "
                                         f"from File > Version history); {_NEXT_RUN}")
            if now_tab is None:
                plan.add_tab(group)
            else:
                existing[norm] = (now_tab, group)
        columns = self._current_columns(existing)
        sizes = {t.sheet_id: t for t in tabs}
        for norm, (tab, group) in existing.items():
            read = columns[norm]
            tab = sizes[tab.sheet_id] = GridTab(tab.sheet_id, tab.title,
                                                read.grid_rows or tab.rows,
                                                read.grid_columns or tab.columns)
            plan.edit_tab(tab, group, read)
        total = sum(t.rows * t.columns for t in sizes.values()) + plan.cells_added
        if plan.cells_added and total > CELL_LIMIT:
            raise WorkbookWriteError(
                self.name, f"this write would take the sheet to {total:,} cells, past Google's "
                f"limit of {CELL_LIMIT:,}",
                "delete the empty rows and columns at the end of each tab, and set (or lower) "
                "workbook.archive_after_months in config.yaml so settled rows move to "
                f"archive/; {_NEXT_RUN}")
        return plan

    def _current_columns(self, existing: dict[str, tuple[GridTab, _TabChanges]]
                         ) -> dict[str, _Read]:
        """The header and the columns the write needs of each tab, as they are now: one
        batchGet, and a second one only if the owner moved a needed column meanwhile (or a
        tail read found the end of a long tab empty)."""
        guess: dict[str, list[object]] = {}
        widths: dict[str, int] = {}
        if self._book is not None:
            for name, sheet in self._book.sheets.items():
                guess[normalise_header(name)] = list(sheet.header)
                widths[normalise_header(name)] = len(sheet.rows[0]) if sheet.loaded and \
                    sheet.rows else len(sheet.header)
        result: dict[str, _Read] = {}
        todo = dict(existing)
        full: set[str] = set()  # tabs whose tail read found nothing: read their columns whole
        for attempt in range(3):
            ranges: list[str] = []
            asked: list[tuple[str, str, int | None]] = []  # (tab, kind, column)
            for norm, (tab, group) in todo.items():
                header = guess.get(norm)
                name = quote(tab.title)
                if header is None or group.whole_tab():
                    ranges.append(name)
                    asked.append((norm, "whole", None))
                    continue
                ranges.append(f"{name}!1:1")
                asked.append((norm, "header", None))
                tail = _tail_start(tab, group) if norm not in full else 0
                for col in group.needed(header):
                    if col < tab.columns:
                        letter = column_letter(col)
                        ranges.append(f"{name}!{letter}{tail}:{letter}" if tail
                                      else f"{name}!{letter}:{letter}")
                        asked.append((norm, "tail" if tail else "column", col))
            found = self.api.batch_get(ranges) if ranges else []
            reads: dict[str, _Read] = {}
            for (norm, kind, col), value_range in zip(asked, found, strict=True):
                tab, group = todo[norm]
                values = value_range.get("values", [])
                read = reads.setdefault(norm, _Read(width=widths.get(norm, 0)))
                read.grid(kind, str(value_range.get("range", "")))
                if kind == "whole":
                    rows = read_rows(tab.title, values)
                    read.header = list(rows[0]) if rows else []
                    read.whole = rows
                elif kind == "header":
                    read.header = list(read_rows(tab.title, values[:1])[0]) if values else []
                elif kind == "tail":
                    read.tail_last = max(read.tail_last, _tail_start(tab, group) - 1
                                         + len(values) if values else 0)
                else:
                    assert col is not None
                    read.columns[col] = [r[0] if r else "" for r in values]
            again = {}
            for norm, read in reads.items():
                tab, group = todo[norm]
                before = guess.get(norm)
                if read.whole is None and before is not None and attempt < 2 and \
                        group.needed(before) != group.needed(read.header):
                    guess[norm] = read.header  # a column moved: read it where it is now
                    again[norm] = todo[norm]
                elif read.tail_last == 0 and _tail_start(tab, group) and norm not in full \
                        and read.whole is None:
                    full.add(norm)  # nothing at the end of the tab: look at all of it
                    again[norm] = todo[norm]
                else:
                    read.finish(tab.title)
                    result[norm] = read
            if not again:
                break
            todo = again
        return result


_RANGE_END = re.compile(r":([A-Z]*)(\d*)$")


def column_number(letters: str) -> int:
    """1 for A, 27 for AA: the number of columns up to and including `letters`."""
    number = 0
    for char in letters:
        number = number * 26 + ord(char) - 64
    return number


TAIL_ROWS = 2000  # rows read from the end of a long tab the run only appends to


def _tail_start(tab: GridTab, group: _TabChanges) -> int:
    """The first row of the window read at the end of a tab the run only appends to (its
    last row is all it needs); 0 to read whole columns (a short tab, or keys to find)."""
    if group.sets or group.fills or not group.appends or tab.rows <= TAIL_ROWS + 1:
        return 0
    return tab.rows - TAIL_ROWS + 1


def compact(body: Any) -> str:
    """JSON as the write is sent: no spaces, non-ASCII escaped (so its length is its bytes)."""
    return json.dumps(body, separators=(",", ":"))


def payloads(data: list[dict[str, Any]], limit: int | None = None
             ) -> list[list[dict[str, Any]]]:
    """The value ranges in as few values:batchUpdate requests as Google's payload limit allows
    (one up to 10 MB: a billing day of 20,000 clients, 9.7 MB, fits).

    When a write must be cut, a part that fails after the earlier ones were written must leave
    nothing the next run writes twice. So the earlier parts hold only what the next run finds
    by its key (cells, Invoices rows by number, InvoiceLines rows by invoice, never an invoice's
    lines cut in two), and the last part holds, whole, the rows it cannot find: those added to
    your own tabs (fees, payments) and Activity. A write whose Activity rows are all in the
    sheet is complete (that is how the next run tells what to write again), so that part is
    cut only when it alone passes Google's limit of 10 MB a request."""
    limit = limit or PAYLOAD_LIMIT

    def order(value_range: dict[str, Any]) -> int:
        title = split_title(value_range["range"])
        if title == STAMP_TAB:
            return 3  # with the Activity rows, after them: the write is whole
        if _header_only(title):
            return 2
        tab = schema_tab(title)
        return int(value_range["majorDimension"] == "ROWS" and tab is not None
                   and not tab.tool_tab)

    ordered = sorted(data, key=order)
    if sum(len(compact(v)) + 1 for v in ordered) <= limit:
        return [ordered] if ordered else []
    found = [v for v in ordered if order(v) == 0]
    last = [v for v in ordered if order(v) != 0]
    parts = _pack(found, limit)
    size = sum(len(compact(v)) + 1 for v in last)
    if size > HARD_LIMIT:
        return parts + _pack(last, limit)
    if last and parts and sum(len(compact(v)) + 1 for v in parts[-1]) + size <= limit:
        parts[-1].extend(last)
    elif last:
        parts.append(last)
    return parts


def _pack(ranges: list[dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    parts: list[list[dict[str, Any]]] = [[]]
    size = 0
    for value_range in ranges:
        for piece in _pieces(value_range, limit):
            bytes_ = len(compact(piece)) + 1
            if parts[-1] and size + bytes_ > limit:
                parts.append([])
                size = 0
            parts[-1].append(piece)
            size += bytes_
    return [p for p in parts if p]


def split_title(a1: str) -> str:
    """The tab of a quoted A1 range ("'It''s'!A1:B2" -> "It's")."""
    return a1[1:a1.rindex("'!")].replace("''", "'")


def _pieces(value_range: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """A block of appended rows cut into blocks of rows that each fit in `limit`."""
    rows = value_range["values"]
    if value_range["majorDimension"] != "ROWS" or len(rows) < 2 or \
            len(compact(value_range)) <= limit:
        return [value_range]
    title, cells = value_range["range"].rsplit("!", 1)
    first, last = cells.split(":")
    start = int(re.sub(r"^[A-Z]+", "", first))
    first_col, last_col = re.sub(r"\d+$", "", first), re.sub(r"\d+$", "", last)
    half = _cut(rows)
    if half == 0:
        return [value_range]
    pieces = []
    for offset, block in ((0, rows[:half]), (half, rows[half:])):
        top = start + offset
        pieces += _pieces({"range": f"{title}!{first_col}{top}:{last_col}{top + len(block) - 1}",
                           "majorDimension": "ROWS", "values": block}, limit)
    return pieces


def _cut(rows: list[list[Any]]) -> int:
    """Where to cut a block of rows in two: near the middle, never between rows that start
    with the same value (an invoice's lines stay together); 0 if there is no such place."""
    def first(row: list[Any]) -> Any:
        return row[0] if row else None

    for half in sorted(range(1, len(rows)), key=lambda h: abs(h - len(rows) // 2)):
        if first(rows[half]) != first(rows[half - 1]) or first(rows[half]) is None:
            return half
    return 0


# -- the plan -------------------------------------------------------------------------------------


@dataclass
class _TabChanges:
    name: str
    fills: list[FillKey] = field(default_factory=list)
    sets: list[SetCell] = field(default_factory=list)
    appends: list[AppendRow] = field(default_factory=list)
    deletes: list[DeleteRow] = field(default_factory=list)

    @property
    def schema(self) -> Tab | None:
        return schema_tab(self.name)

    def columns(self) -> list[str]:
        """Every column written: the schema's own for a tool tab, then those named."""
        tab = self.schema
        names = [c.name for c in tab.columns] if tab and tab.tool_tab else []
        names += [f.column for f in self.fills] + [s.column for s in self.sets]
        for append in self.appends:
            names.extend(append.values)
        return list(dict.fromkeys(names))

    def whole_tab(self) -> bool:
        """Owner tabs the tool appends to (Charges, Payments) are read whole before the write,
        so an appended row never lands on a row the owner typed only some cells of."""
        tab = self.schema
        return bool(self.appends) and (tab is None or not tab.tool_tab)

    def needed(self, header: list[object]) -> list[int]:
        """Columns (by index in `header`) the write reads: keys, fill checks, and for appends
        the first columns of the tab, which the tool fills in every row it writes."""
        index = _index(header)
        tab = self.schema
        names: list[str] = []
        if tab is not None and tab.key and (self.sets or self.appends):
            names.append(tab.key)
        for fill in self.fills:
            names.append(fill.column)
            names.extend(fill.expect)
        if self.appends and tab is not None:
            names.extend(c.name for c in tab.columns[:2])
        for delete in self.deletes:
            names.extend(delete.expect)
        cols = {index[n] for n in (normalise_header(x) for x in names) if n in index}
        return sorted(cols)


def _group(changes: ChangeSet) -> dict[str, _TabChanges]:
    groups: dict[str, _TabChanges] = {}
    seen: dict[str, _TabChanges] = {}  # by the name as the change set spells it

    def tab(name: str) -> _TabChanges:
        group = seen.get(name)
        if group is None:
            group = seen[name] = groups.setdefault(normalise_header(name), _TabChanges(name))
        return group

    for fill in changes.fills:
        tab(fill.tab).fills.append(fill)
    for cell in changes.sets:
        tab(cell.tab).sets.append(cell)
    for append in changes.appends:
        tab(append.tab).appends.append(append)
    for delete in changes.deletes:
        tab(delete.tab).deletes.append(delete)
    return groups


def _index(header: Iterable[object]) -> dict[str, int]:
    index: dict[str, int] = {}
    for col, text in enumerate(header):
        if not parse.is_blank(text):
            index.setdefault(normalise_header(parse.parse_text(text)), col)
    return index


@dataclass
class _Read:
    """What the pre-write read found of one tab: its header and some columns (or all)."""

    header: list[object] = field(default_factory=list)
    columns: dict[int, list[object]] = field(default_factory=dict)
    whole: list[list[object]] | None = None
    width: int = 0  # columns in use, as far as the run has seen
    last_row: int = 1  # the last row holding a value among those read (1 = header only)
    tail_last: int = 0  # the last row holding a value in a window read at the end of the tab
    grid_rows: int = 0  # the tab's size now, from the answer's ranges (0: not known)
    grid_columns: int = 0

    def grid(self, kind: str, answered: str) -> None:
        """The tab's size, from the range Google answers for an open-ended one (`'T'!C:C` is
        answered `'T'!C1:C1000`: the whole requested range, bounded by the grid)."""
        m = _RANGE_END.search(answered)
        if m is None:
            return
        if kind in ("whole", "header") and m[1]:
            self.grid_columns = max(self.grid_columns, column_number(m[1]))
        if kind in ("whole", "column", "tail") and m[2]:
            self.grid_rows = max(self.grid_rows, int(m[2]))

    def finish(self, title: str) -> None:
        """Columns as the book reads them (dates as dates), and where the data ends."""
        if self.whole is not None:
            width = len(self.whole[0]) if self.whole else 0
            self.columns = {c: [r[c] for r in self.whole] for c in range(width)}
            self.width = max(self.width, width)
        else:
            for col, values in self.columns.items():
                name = self.header[col] if col < len(self.header) else ""
                rows = read_rows(title, [[v] for v in values[1:]], header=[name])
                self.columns[col] = [values[0] if values else "", *(r[0] for r in rows)]
        self.width = max(self.width, len(self.header))
        self.last_row = max([1, self.tail_last, *(len(v) for v in self.columns.values())])

    def cell(self, row: int, col: int) -> object:
        values = self.columns.get(col, [])
        return values[row - 1] if 0 < row <= len(values) else ""


@dataclass
class _Plan:
    next_id: int
    data: list[dict[str, Any]] = field(default_factory=list)
    result: WriteTally = field(default_factory=WriteTally)
    cells_added: int = 0
    _adds: list[dict[str, Any]] = field(default_factory=list)
    _grows: list[dict[str, Any]] = field(default_factory=list)
    _formats: list[dict[str, Any]] = field(default_factory=list)
    _removed: dict[int, set[int]] = field(default_factory=dict)  # sheet id → rows (1-based)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """One batchUpdate: the tabs added, then growth, then the formats of the new rows."""
        return [*self._adds, *self._grows, *self._formats]

    @property
    def removals(self) -> list[dict[str, Any]]:
        """The batchUpdate after the values: each run of adjacent rows removed as one range,
        the bottom one first, so the numbers of the rows above stay as they were read."""
        requests = []
        for sheet_id, rows in sorted(self._removed.items()):
            runs: list[list[int]] = []
            for row in sorted(rows):
                if runs and row == runs[-1][1]:
                    runs[-1][1] = row + 1
                else:
                    runs.append([row, row + 1])
            requests += [{"deleteDimension": {"range": {
                "sheetId": sheet_id, "dimension": "ROWS",
                "startIndex": first - 1, "endIndex": end - 1}}} for first, end in reversed(runs)]
        return requests

    def stamp(self, generation: int, tab: GridTab | None) -> None:
        """The write's generation into the hidden stamp tab (added, hidden, if missing)."""
        if tab is None:
            self._adds.append({"addSheet": {"properties": {
                "title": STAMP_TAB, "hidden": True,
                "gridProperties": {"rowCount": 1, "columnCount": 2}}}})
            self.cells_added += 2
        self.data.append({"range": f"{quote(STAMP_TAB)}!A1:B1", "majorDimension": "ROWS",
                          "values": [[STAMP_LABEL, generation]]})

    def replace_tab(self, title: str, rows: list[list[Any]], tab: GridTab | None) -> None:
        """A tab the tool owns whole (the Report): its values replaced, the rows below the
        new ones cleared; the tab added (or grown) if needed."""
        width = max(len(r) for r in rows)
        height = max(len(rows), REPORT_ROWS)
        if tab is None:
            self._adds.append({"addSheet": {"properties": {
                "title": title, "gridProperties": {"rowCount": height, "columnCount": width}}}})
            self.cells_added += height * width
        else:
            if tab.rows < height:
                self._grows.append({"appendDimension": {"sheetId": tab.sheet_id,
                                                        "dimension": "ROWS",
                                                        "length": height - tab.rows}})
            if tab.columns < width:
                self._grows.append({"appendDimension": {"sheetId": tab.sheet_id,
                                                        "dimension": "COLUMNS",
                                                        "length": width - tab.columns}})
        values = [[to_json(v) for v in r] + [""] * (width - len(r)) for r in rows]
        values += [[""] * width for _ in range(height - len(rows))]
        self.data.append({"range": f"{quote(title)}!A1:{column_letter(width - 1)}{height}",
                          "majorDimension": "ROWS", "values": values})

    # -- a tab that is not there: created with the schema's columns ------------------------------

    def add_tab(self, group: _TabChanges) -> None:
        tab = group.schema
        title = tab.name if tab else group.name
        names = [c.name for c in tab.columns] if tab else []
        names += [c for c in group.columns() if normalise_header(c) not in
                  {normalise_header(n) for n in names}]
        sheet_id = self.next_id
        self.next_id += 1
        rows = max(NEW_TAB_ROWS, 1 + len(group.appends))
        self._adds.append({"addSheet": {"properties": {
            "sheetId": sheet_id, "title": title,
            "gridProperties": {"rowCount": rows, "columnCount": max(len(names), 1),
                               "frozenRowCount": 1}}}})
        self.cells_added += rows * max(len(names), 1)
        index = {normalise_header(n): i for i, n in enumerate(names)}
        self._put_rows(title, 1, [list(names)], len(names))
        self._appends(title, sheet_id, index, group.appends, 2, len(names))
        self._formats.extend(_formats(sheet_id, title, index, 1, rows))
        self.result.missing_keys.extend(group.sets)
        self.result.unmatched_fills.extend(group.fills)
        self.result.unmatched_deletes.extend(group.deletes)

    # -- a tab that is there ---------------------------------------------------------------------

    def edit_tab(self, tab: GridTab, group: _TabChanges, read: _Read) -> None:
        index = _index(read.header)
        width = read.width
        cells: dict[tuple[int, int], Any] = {}
        next_col = width
        for name in group.columns():
            if normalise_header(name) not in index:
                index[normalise_header(name)] = next_col
                cells[1, next_col] = name
                next_col += 1
        if next_col > tab.columns:
            self._grows.append({"appendDimension": {"sheetId": tab.sheet_id,
                                                    "dimension": "COLUMNS",
                                                    "length": next_col - tab.columns}})
            self.cells_added += (next_col - tab.columns) * tab.rows
        self._fills(group, index, read, cells)
        self._sets(group, index, read, cells)
        self._deletes(tab, group, index, read)
        start = read.last_row + 1
        end = start + len(group.appends) - 1
        if group.appends and end > tab.rows:
            self._grows.append({"appendDimension": {"sheetId": tab.sheet_id,
                                                    "dimension": "ROWS",
                                                    "length": end - tab.rows}})
            self.cells_added += (end - tab.rows) * max(tab.columns, next_col)
        self._put_cells(tab.title, cells)
        self._appends(tab.title, tab.sheet_id, index, group.appends, start, next_col)
        if group.appends:
            self._formats.extend(_formats(tab.sheet_id, tab.title, index, start - 1, end))

    def _fills(self, group: _TabChanges, index: dict[str, int], read: _Read,
               cells: dict[tuple[int, int], Any]) -> None:
        """Each key written into its row if the row still shows what the run read there."""
        tab = group.schema
        for fill in group.fills:
            col = index[normalise_header(fill.column)]
            current = cells.get((fill.row, col), read.cell(fill.row, col))
            if not parse.is_blank(current):
                if parse.parse_text(current) == fill.value:
                    self.result.keys_filled += 1
                else:
                    self.result.unmatched_fills.append(fill)
                continue
            if not _still_shows(tab, index, read, fill.row, fill.expect):
                self.result.unmatched_fills.append(fill)
                continue
            cells[fill.row, col] = fill.value
            self.result.keys_filled += 1

    def _deletes(self, tab: GridTab, group: _TabChanges, index: dict[str, int],
                 read: _Read) -> None:
        """Each row removed if it still shows what the archive copied out of it."""
        for delete in group.deletes:
            if _still_shows(group.schema, index, read, delete.row, delete.expect):
                removed = self._removed.setdefault(tab.sheet_id, set())
                self.result.rows_deleted += delete.row not in removed
                removed.add(delete.row)
            else:
                self.result.unmatched_deletes.append(delete)

    def _sets(self, group: _TabChanges, index: dict[str, int], read: _Read,
              cells: dict[tuple[int, int], Any]) -> None:
        """Each cell set in every row whose key column holds its key now (or is given it by
        this write's key fills)."""
        if not group.sets:
            return
        tab = group.schema
        key_col = index.get(normalise_header(tab.key)) if tab and tab.key else None
        if key_col is None or key_col not in read.columns:
            self.result.missing_keys.extend(group.sets)
            return
        filled = {row: str(v) for (row, col), v in cells.items() if col == key_col and row > 1}
        rows: dict[str, list[int]] = {}
        for number, value in enumerate(read.columns[key_col][1:], start=2):
            if number in filled:
                continue
            key = parse.parse_text(value)
            if key:
                rows.setdefault(key, []).append(number)
        for number, value in filled.items():
            rows.setdefault(value.strip(), []).append(number)
        for cell in group.sets:
            found = rows.get(cell.key.strip())
            if not found:
                self.result.missing_keys.append(cell)
                continue
            col = index[normalise_header(cell.column)]
            for number in found:
                cells[number, col] = to_json(cell.value)
                self.result.cells_set += 1

    def _appends(self, title: str, sheet_id: int, index: dict[str, int],
                 appends: list[AppendRow], start: int, width: int) -> None:
        if not appends:
            return
        rows = []
        named: dict[str, int] = {}  # the column of each name as the change set spells it
        for append in appends:
            row: list[Any] = [None] * width
            for name, value in append.values.items():
                col = named.get(name)
                if col is None:
                    col = named[name] = index[normalise_header(name)]
                if col >= len(row):
                    row.extend([None] * (col + 1 - len(row)))
                row[col] = None if value is None else to_json(value)
            rows.append(row)
        self._put_rows(title, start, rows, max(len(r) for r in rows))
        self.result.rows_appended += len(rows)

    def _put_rows(self, title: str, start: int, rows: list[list[Any]], width: int) -> None:
        end = start + len(rows) - 1
        self.data.append({"range": f"{quote(title)}!A{start}:{column_letter(width - 1)}{end}",
                          "majorDimension": "ROWS", "values": rows})

    def _put_cells(self, title: str, cells: dict[tuple[int, int], Any]) -> None:
        """One range per run of nearby cells of a column (unchanged cells between: null)."""
        by_col: dict[int, list[int]] = {}
        for row, col in cells:
            by_col.setdefault(col, []).append(row)
        for col, rows in sorted(by_col.items()):
            rows.sort()
            runs: list[list[int]] = [[rows[0]]]
            for row in rows[1:]:
                if row - runs[-1][-1] > _GAP:
                    runs.append([row])
                else:
                    runs[-1].append(row)
            letter = column_letter(col)
            for run in runs:
                first, last = run[0], run[-1]
                values = [cells.get((r, col)) for r in range(first, last + 1)]
                self.data.append({"range": f"{quote(title)}!{letter}{first}:{letter}{last}",
                                  "majorDimension": "COLUMNS", "values": [values]})


def _still_shows(tab: Tab | None, index: dict[str, int], read: _Read, row: int,
                 expect: Mapping[str, str]) -> bool:
    """Does sheet row `row` (below the header, not blank) show, as read now, the cells `expect`
    names (a key fill's or a removal's check)?"""
    from ispsheets.book.xlsx_backend import _kind, _shows

    return row > 1 and any(not parse.is_blank(read.cell(row, c)) for c in read.columns) and all(
        _shows(_kind(tab, name), read.cell(row, index.get(normalise_header(name), -1)), text)
        for name, text in expect.items())


def _formats(sheet_id: int, title: str, index: dict[str, int], row0: int,
             row1: int) -> list[dict[str, Any]]:
    """Number formats for rows row0..row1-1 (0-based) of the schema's dated and numeric
    columns: a serial number shows as a date, an amount with two decimals."""
    header: list[object] = [""] * (max(index.values(), default=-1) + 1)
    for name, col in index.items():
        header[col] = name
    requests = []
    for col, kind in sorted(column_kinds(title, header).items()):
        if kind in (Kind.KEY, Kind.TEXT, Kind.EMAILS) or kind not in NUMBER_FORMATS:
            continue
        requests.append({"repeatCell": {
            "range": {"sheetId": sheet_id, "startRowIndex": row0, "endRowIndex": row1,
                      "startColumnIndex": col, "endColumnIndex": col + 1},
            "cell": {"userEnteredFormat": {"numberFormat": dict(NUMBER_FORMATS[kind])}},
            "fields": "userEnteredFormat.numberFormat"}})
    return requests
