"""A fake Google Sheets API v4 at the HTTP layer: a real server on 127.0.0.1.

It holds an in-memory grid per tab and answers the documented JSON of `spreadsheets.get`,
`values:batchGet`, `values:batchUpdate`, `values:append` and `spreadsheets:batchUpdate`
(addSheet, deleteSheet, appendDimension, deleteDimension of rows, updateCells,
setDataValidation, repeatCell, updateSheetProperties), with Sheets' own behaviour where the
tool relies on it:

- RAW keeps a string as text; USER_ENTERED makes `=...` a formula, numeric text a number and
  ISO dates a date (a serial number with a date format);
- UNFORMATTED_VALUE + SERIAL_NUMBER read dates as serial numbers (days since 1899-12-30);
- a write past the grid's last row or column is a 400, as Google answers it, until the tab is
  grown (appendDimension); a request that would pass 10 million cells is a 400;
- errors in Google's body shape (`{"error": {"code", "message", "status"}}`): 403 "The caller
  does not have permission" for a sheet not shared, 404 for a deleted one, and 429/5xx injected
  by a test.

Point ispsheets at it with `ISPSHEETS_SHEETS_EMULATOR_HOST=127.0.0.1:PORT`. Tests drive and
inspect it through its Python methods (`create`, `values`, `cell`, `sort`, `fail`, ...).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

EPOCH = dt.date(1899, 12, 30)
CELL_LIMIT = 10_000_000
PAYLOAD_LIMIT = 10_485_760  # bytes of a request body, as Google refuses above it
DEFAULT_ROWS, DEFAULT_COLUMNS = 1000, 26

Scalar = str | float | int | bool | None


@dataclass
class Cell:
    value: Scalar = None  # a formula cell's value is unknown to the fake: None
    formula: str | None = None
    number_format: dict[str, str] | None = None  # {"type": "DATE", "pattern": "yyyy-mm-dd"}


@dataclass
class Sheet:
    sheet_id: int
    title: str
    rows: int = DEFAULT_ROWS
    columns: int = DEFAULT_COLUMNS
    frozen_rows: int = 0
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)
    formats: list[tuple[dict[str, int], dict[str, Any]]] = field(default_factory=list)
    validations: list[tuple[dict[str, int], dict[str, Any]]] = field(default_factory=list)
    hidden: bool = False

    def properties(self, index: int) -> dict[str, Any]:
        grid: dict[str, Any] = {"rowCount": self.rows, "columnCount": self.columns}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        props = {"sheetId": self.sheet_id, "title": self.title, "index": index,
                 "sheetType": "GRID", "gridProperties": grid}
        if self.hidden:
            props["hidden"] = True
        return props

    def format_at(self, r: int, c: int) -> dict[str, str] | None:
        """The number format a blank cell has from the range formats set on it (the last)."""
        for grid_range, fmt in reversed(self.formats):
            if "numberFormat" in fmt and _inside(grid_range, r, c):
                return dict(fmt["numberFormat"])
        return None

    def last_row(self) -> int:
        """1-based number of the last row holding a value (0 when empty)."""
        return max((r + 1 for (r, _), c in self.cells.items() if _holds(c)), default=0)

    def last_column(self) -> int:
        return max((col + 1 for (_, col), c in self.cells.items() if _holds(c)), default=0)


def _delete_rows(sheet: Sheet, start: int, end: int) -> None:
    """Rows start..end-1 (0-based) removed: the cells below move up (formats and validations
    are left where they are: the tool sets them on whole columns of the rows it appends)."""
    count = end - start
    sheet.cells = {(r if r < start else r - count, c): cell
                   for (r, c), cell in sheet.cells.items() if not start <= r < end}


def _holds(cell: Cell) -> bool:
    return cell.formula is not None or cell.value not in (None, "")


@dataclass
class Spreadsheet:
    key: str
    title: str
    sheets: list[Sheet] = field(default_factory=list)
    shared: bool = True
    next_id: int = 1

    def find(self, title: str) -> Sheet | None:
        return next((s for s in self.sheets if s.title == title), None)

    def by_id(self, sheet_id: int) -> Sheet | None:
        return next((s for s in self.sheets if s.sheet_id == sheet_id), None)

    def cell_count(self) -> int:
        return sum(s.rows * s.columns for s in self.sheets)


class ApiError(Exception):
    def __init__(self, code: int, message: str, status: str) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


STATUS_TEXT = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
               429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE",
               503: "UNAVAILABLE"}
FAULT_MESSAGES = {
    429: "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute "
         "per user' of service 'sheets.googleapis.com' for consumer 'project_number:1234'.",
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
}


def _bad(message: str) -> ApiError:
    return ApiError(400, message, "INVALID_ARGUMENT")


# -- A1 notation -------------------------------------------------------------------------------

_A1 = re.compile(r"^(?:([A-Z]+)?(\d+)?)$")


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + (ord(ch) - 64)
    return index - 1


@dataclass(frozen=True)
class Box:
    """A parsed A1 range; bounds are 0-based and inclusive, None when open."""

    title: str
    row0: int | None
    col0: int | None
    row1: int | None
    col1: int | None


def split_range(text: str) -> tuple[str, str]:
    if text.startswith("'"):
        end = 1
        while True:
            end = text.index("'", end)
            if text[end:end + 2] == "''":
                end += 2
                continue
            break
        return text[1:end].replace("''", "'"), text[end + 2:] if len(text) > end + 1 else ""
    title, _, cells = text.partition("!")
    return title, cells


def parse_range(text: str) -> Box:
    try:
        title, cells = split_range(text)
    except ValueError as exc:
        raise _bad(f"Unable to parse range: {text}") from exc
    if not cells:
        return Box(title, None, None, None, None)
    first, _, last = cells.upper().partition(":")
    a, b = _A1.match(first), _A1.match(last or first)
    if a is None or b is None or not first:
        raise _bad(f"Unable to parse range: {text}")
    col0 = column_index(a[1]) if a[1] else None
    row0 = int(a[2]) - 1 if a[2] else None
    col1 = column_index(b[1]) if b[1] else None
    row1 = int(b[2]) - 1 if b[2] else None
    if not last:
        col1, row1 = col0, row0
    if a[1] and not a[2] and last and b[2] and not b[1]:
        raise _bad(f"Unable to parse range: {text}")
    return Box(title, row0, col0, row1, col1)


def a1(title: str, row0: int, col0: int, row1: int, col1: int) -> str:
    quoted = "'" + title.replace("'", "''") + "'"
    return f"{quoted}!{column_letter(col0)}{row0 + 1}:{column_letter(col1)}{row1 + 1}"


# -- values ----------------------------------------------------------------------------------


def serial(day: dt.date | dt.datetime) -> float | int:
    if isinstance(day, dt.datetime):
        delta = day - dt.datetime.combine(EPOCH, dt.time())
        return delta.days + delta.seconds / 86400
    return (day - EPOCH).days


_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
DATE_FORMAT = {"type": "DATE", "pattern": "yyyy-mm-dd"}
DATE_TIME_FORMAT = {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}


def entered(value: Scalar, option: str) -> Cell | None:
    """What a cell holds after `value` is written with valueInputOption `option`;
    None means "leave the cell as it is" (a JSON null in the request)."""
    if value is None:
        return None
    if isinstance(value, (bool, int, float)):
        return Cell(value)
    text = str(value)
    if text == "":
        return Cell(None)
    if option == "RAW":
        return Cell(text)
    if text.startswith("="):
        return Cell(None, formula=text)
    if text.startswith("'"):
        return Cell(text[1:])
    if text.upper() in ("TRUE", "FALSE"):
        return Cell(text.upper() == "TRUE")
    if _NUMBER.match(text.strip()):
        number = float(text)
        return Cell(int(number) if number.is_integer() else number)
    if m := _ISO_DATE.match(text.strip()):
        try:
            day = dt.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0), int(m[5] or 0),
                              int(m[6] or 0))
        except ValueError:
            return Cell(text)
        if m[4] is None:
            return Cell(serial(day.date()), number_format=dict(DATE_FORMAT))
        return Cell(serial(day), number_format=dict(DATE_TIME_FORMAT))
    return Cell(text)


def _render(cell: Cell | None, render: str) -> Scalar:
    if cell is None:
        return ""
    if render == "FORMULA" and cell.formula is not None:
        return cell.formula
    if cell.formula is not None:
        return "#NAME?"  # the fake computes no formula
    value = cell.value
    if value is None:
        return ""
    if render == "FORMATTED_VALUE":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        return str(value)
    return value


# -- the service -----------------------------------------------------------------------------


@dataclass
class Fault:
    status: int
    kind: str | None
    times: int
    message: str = ""
    containing: str = ""  # only a request whose body holds this text


class FakeSheets:
    """The service's state and its HTTP front; use as a context manager or start()/stop()."""

    def __init__(self) -> None:
        self.books: dict[str, Spreadsheet] = {}
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, str]] = []  # (method, kind, path)
        self.seconds: list[float] = []  # the time the fake took to answer each request
        self.sizes: list[tuple[int, int]] = []  # (request body, answer) bytes of each request
        self.faults: list[Fault] = []
        self.hooks: list[tuple[str, Callable[[FakeSheets], None], list[int]]] = []
        self.latency = 0.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSheets:
        fake = self

        class Handler(_Handler):
            service = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSheets:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, for ISPSHEETS_SHEETS_EMULATOR_HOST."""
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    # -- what tests do -----------------------------------------------------------------------

    def create(self, key: str, title: str = "Untitled spreadsheet",
               tabs: dict[str, list[list[Any]]] | None = None) -> Spreadsheet:
        """A spreadsheet shared with the service account; `tabs` rows may hold dates."""
        with self.lock:
            book = Spreadsheet(key, title)
            for name, rows in (tabs or {"Sheet1": []}).items():
                sheet = self._add_sheet(book, {"title": name})
                sheet.rows = max(sheet.rows, len(rows))
                sheet.columns = max(sheet.columns, max((len(r) for r in rows), default=0))
                for r, values in enumerate(rows):
                    for c, value in enumerate(values):
                        self._put_python(sheet, r, c, value)
            self.books[key] = book
            return book

    def put(self, key: str, tab: str, row: int, column: int, value: Any) -> None:
        """The owner typing `value` into a cell (0-based row and column)."""
        with self.lock:
            sheet = self._sheet(key, tab)
            self._put_python(sheet, row, column, value)

    def _put_python(self, sheet: Sheet, r: int, c: int, value: Any) -> None:
        if value is None or value == "":
            sheet.cells.pop((r, c), None)
        elif isinstance(value, dt.datetime):
            fmt = DATE_TIME_FORMAT if value.time() != dt.time() else DATE_FORMAT
            sheet.cells[r, c] = Cell(serial(value), number_format=dict(fmt))
        elif isinstance(value, dt.date):
            sheet.cells[r, c] = Cell(serial(value), number_format=dict(DATE_FORMAT))
        elif isinstance(value, (bool, int, float, str)):
            sheet.cells[r, c] = Cell(value)
        else:  # Decimal and the like
            number = float(value)
            sheet.cells[r, c] = Cell(int(number) if number.is_integer() else number)

    def _sheet(self, key: str, tab: str) -> Sheet:
        sheet = self.books[key].find(tab)
        assert sheet is not None, f"no tab {tab}"
        return sheet

    def values(self, key: str, tab: str, render: str = "UNFORMATTED_VALUE") -> list[list[Any]]:
        """The tab's rows as batchGet returns them (trailing blanks trimmed)."""
        with self.lock:
            sheet = self._sheet(key, tab)
            return _grid(sheet, 0, 0, sheet.rows - 1, sheet.columns - 1, render)

    def cell(self, key: str, tab: str, row: int, column: int) -> Cell | None:
        with self.lock:
            return self._sheet(key, tab).cells.get((row, column))

    def sheet(self, key: str, tab: str) -> Sheet:
        return self._sheet(key, tab)

    def sort(self, key: str, tab: str, column: int, reverse: bool = True) -> None:
        """The owner sorting rows 2.. of a tab by one column (as Data > Sort range does)."""
        with self.lock:
            sheet = self._sheet(key, tab)
            last = sheet.last_row()
            rows = [{c: cell for (r, c), cell in sheet.cells.items() if r == i}
                    for i in range(1, last)]
            rows.sort(key=lambda cells: str(_render(cells.get(column), "UNFORMATTED_VALUE")),
                      reverse=reverse)
            sheet.cells = {k: v for k, v in sheet.cells.items() if k[0] == 0}
            for i, cells in enumerate(rows, start=1):
                for c, cell in cells.items():
                    sheet.cells[i, c] = cell

    def rename(self, key: str, tab: str, new: str) -> None:
        with self.lock:
            self._sheet(key, tab).title = new

    def version(self, key: str) -> Spreadsheet:
        """The spreadsheet as it is now, as its version history keeps it."""
        with self.lock:
            return copy.deepcopy(self.books[key])

    def restore_version(self, key: str, version: Spreadsheet) -> None:
        """File > Version history > Restore this version: every tab as it was then."""
        with self.lock:
            self.books[key] = replace(copy.deepcopy(version), key=key)

    def unshare(self, key: str) -> None:
        """The owner stops sharing the sheet with the service account: 403 from now on."""
        with self.lock:
            self.books[key].shared = False

    def delete(self, key: str) -> None:
        """The owner deletes the sheet: 404 from now on."""
        with self.lock:
            del self.books[key]

    def fail(self, status: int, times: int = 1, kind: str | None = None,
             message: str = "", containing: str = "") -> None:
        """The next `times` requests (of `kind`, e.g. "values:batchUpdate", and whose JSON body
        holds `containing`, e.g. "'Activity'!") answer `status` (with Google's usual message
        for it, or `message`)."""
        with self.lock:
            self.faults.append(Fault(status, kind, times, message, containing))

    def before(self, kind: str, action: Callable[[FakeSheets], None], nth: int = 1) -> None:
        """Run `action` just before the `nth` request of `kind` from now is answered."""
        with self.lock:
            self.hooks.append((kind, action, [nth]))

    def kinds(self) -> list[str]:
        return [kind for _, kind, _ in self.requests]

    @contextmanager
    def counting(self) -> Iterator[list[tuple[str, str, str]]]:
        start = len(self.requests)
        seen: list[tuple[str, str, str]] = []
        try:
            yield seen
        finally:
            seen.extend(self.requests[start:])

    # -- dispatch ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        kind = _kind(method, path)
        with self.lock:
            self.requests.append((method, kind, path))
            for hook in list(self.hooks):
                wanted, action, left = hook
                if wanted == kind:
                    left[0] -= 1
                    if left[0] == 0:
                        self.hooks.remove(hook)
                        action(self)
            began = time.perf_counter()
            try:
                self._fault(kind, body)
                return 200, self._answer(kind, path, query, body or {})
            except ApiError as exc:
                return exc.code, exc.body()
            finally:
                self.seconds.append(time.perf_counter() - began)

    def _fault(self, kind: str, body: dict[str, Any] | None) -> None:
        for fault in self.faults:
            if fault.containing and fault.containing not in json.dumps(body or {}):
                continue
            if fault.kind in (None, kind) and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                raise ApiError(fault.status,
                               fault.message or FAULT_MESSAGES.get(fault.status, "Error"),
                               STATUS_TEXT.get(fault.status, "UNKNOWN"))

    def _book(self, key: str) -> Spreadsheet:
        book = self.books.get(key)
        if book is None:
            raise ApiError(404, "Requested entity was not found.", "NOT_FOUND")
        if not book.shared:
            raise ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")
        return book

    def _answer(self, kind: str, path: str, query: dict[str, list[str]],
                body: dict[str, Any]) -> dict[str, Any]:
        m = re.match(r"^/v4/spreadsheets/([^/:]+)", path)
        if m is None:
            raise ApiError(404, "Not found", "NOT_FOUND")
        book = self._book(unquote(m[1]))
        match kind:
            case "get":
                return self._get(book)
            case "values:batchGet":
                return self._batch_get(book, query)
            case "values:batchUpdate":
                return self._values_batch_update(book, body)
            case "values:append":
                target = unquote(path.split("/values/", 1)[1].rsplit(":append", 1)[0])
                return self._append(book, target, query, body)
            case "batchUpdate":
                return self._batch_update(book, body)
        raise ApiError(404, f"Method not found: {kind}", "NOT_FOUND")

    def _get(self, book: Spreadsheet) -> dict[str, Any]:
        return {"spreadsheetId": book.key,
                "properties": {"title": book.title, "locale": "en_US",
                               "timeZone": "Etc/GMT", "autoRecalc": "ON_CHANGE"},
                "sheets": [{"properties": s.properties(i)} for i, s in enumerate(book.sheets)],
                "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.key}/edit"}

    def _resolve(self, book: Spreadsheet, text: str) -> tuple[Sheet, Box]:
        box = parse_range(text)
        sheet = book.find(box.title)
        if sheet is None:
            raise _bad(f"Unable to parse range: {text}")
        return sheet, box

    def _bounds(self, sheet: Sheet, box: Box, text: str) -> tuple[int, int, int, int]:
        row0 = box.row0 if box.row0 is not None else 0
        col0 = box.col0 if box.col0 is not None else 0
        row1 = box.row1 if box.row1 is not None else sheet.rows - 1
        col1 = box.col1 if box.col1 is not None else sheet.columns - 1
        if max(row0, row1) >= sheet.rows or max(col0, col1) >= sheet.columns:
            raise _bad(f"Range ({text}) exceeds grid limits. Max rows: {sheet.rows}, "
                       f"max columns: {sheet.columns}")
        return row0, col0, row1, col1

    def _batch_get(self, book: Spreadsheet, query: dict[str, list[str]]) -> dict[str, Any]:
        render = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        major = query.get("majorDimension", ["ROWS"])[0]
        ranges = []
        for text in query.get("ranges", []):
            sheet, box = self._resolve(book, text)
            row0, col0, row1, col1 = self._bounds(sheet, box, text)
            values = _grid(sheet, row0, col0, row1, col1, render)
            if major == "COLUMNS":
                width = max((len(r) for r in values), default=0)
                values = [[r[c] if c < len(r) else "" for r in values] for c in range(width)]
                values = [_trim(col) for col in values]
                while values and not values[-1]:
                    values.pop()
            entry: dict[str, Any] = {"range": a1(sheet.title, row0, col0, row1, col1),
                                     "majorDimension": major}
            if values:
                entry["values"] = values
            ranges.append(entry)
        return {"spreadsheetId": book.key, "valueRanges": ranges}

    def _values_batch_update(self, book: Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        option = body.get("valueInputOption")
        if option not in ("RAW", "USER_ENTERED"):
            raise _bad("Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        planned = []
        for data in body.get("data", []):
            text = data["range"]
            sheet, box = self._resolve(book, text)
            values = data.get("values", [])
            if data.get("majorDimension", "ROWS") == "COLUMNS":
                width = max((len(c) for c in values), default=0)
                values = [[c[r] if r < len(c) else None for c in values] for r in range(width)]
            row0 = box.row0 or 0
            col0 = box.col0 or 0
            height = len(values)
            width = max((len(r) for r in values), default=0)
            end_row = row0 + max(height, 1) - 1
            end_col = col0 + max(width, 1) - 1
            if (box.row1 is not None and box.row1 < end_row) or \
                    (box.col1 is not None and box.col1 < end_col):
                raise _bad(f"Requested writing within range [{text}], but tried writing to "
                           f"row [{end_row + 1}]")
            self._bounds(sheet, Box(sheet.title, row0, col0, end_row, end_col), text)
            planned.append((sheet, row0, col0, values, text, height, width))
        responses = []
        cells = 0
        for sheet, row0, col0, values, _, height, width in planned:
            for r, row in enumerate(values):
                for c, value in enumerate(row):
                    new = entered(value, option)
                    if new is None:
                        continue
                    old = sheet.cells.get((row0 + r, col0 + c))
                    if new.number_format is None:
                        new.number_format = (old.number_format if old is not None
                                             else sheet.format_at(row0 + r, col0 + c))
                    if _holds(new) or new.number_format:
                        sheet.cells[row0 + r, col0 + c] = new
                    else:
                        sheet.cells.pop((row0 + r, col0 + c), None)
                    cells += 1
            responses.append({"spreadsheetId": book.key,
                              "updatedRange": a1(sheet.title, row0, col0, row0 + height - 1,
                                                 col0 + width - 1),
                              "updatedRows": height, "updatedColumns": width,
                              "updatedCells": height * width})
        return {"spreadsheetId": book.key,
                "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                "totalUpdatedColumns": max((r["updatedColumns"] for r in responses), default=0),
                "totalUpdatedCells": cells,
                "totalUpdatedSheets": len({id(p[0]) for p in planned}),
                "responses": responses}

    def _append(self, book: Spreadsheet, text: str, query: dict[str, list[str]],
                body: dict[str, Any]) -> dict[str, Any]:
        option = query.get("valueInputOption", [""])[0]
        if option not in ("RAW", "USER_ENTERED"):
            raise _bad("Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        sheet, box = self._resolve(book, text)
        values = body.get("values", [])
        start = sheet.last_row()
        col0 = box.col0 or 0
        width = max((len(r) for r in values), default=0)
        need = start + len(values)
        if need > sheet.rows:
            self._check_limit(book, (need - sheet.rows) * sheet.columns, "append")
            sheet.rows = need
        if col0 + width > sheet.columns:
            raise _bad(f"Range ({text}) exceeds grid limits. Max rows: {sheet.rows}, "
                       f"max columns: {sheet.columns}")
        for r, row in enumerate(values):
            for c, value in enumerate(row):
                new = entered(value, option)
                if new is not None and _holds(new):
                    sheet.cells[start + r, col0 + c] = new
        updated = a1(sheet.title, start, col0, start + len(values) - 1, col0 + width - 1)
        return {"spreadsheetId": book.key,
                "tableRange": a1(sheet.title, 0, col0, max(start - 1, 0), col0 + width - 1),
                "updates": {"spreadsheetId": book.key, "updatedRange": updated,
                            "updatedRows": len(values), "updatedColumns": width,
                            "updatedCells": len(values) * width}}

    # -- batchUpdate -------------------------------------------------------------------------

    def _check_limit(self, book: Spreadsheet, adding: int, what: str) -> None:
        if book.cell_count() + adding > CELL_LIMIT:
            raise _bad(f"Invalid requests[0].{what}: This action would increase the number of "
                       f"cells in the workbook above the limit of {CELL_LIMIT} cells.")

    def _batch_update(self, book: Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        # All or nothing, as Google applies a batch: the requests run on a copy of the tabs'
        # properties, and what they do to cells is applied once every request has passed.
        trial = replace(book, sheets=[replace(s, formats=list(s.formats),
                                              validations=list(s.validations))
                                      for s in book.sheets])
        effects: list[Callable[[], None]] = []
        replies = [self._request(trial, number, request, effects)
                   for number, request in enumerate(body.get("requests", []))]
        if trial.cell_count() > CELL_LIMIT:
            raise _bad(f"Invalid requests: This action would increase the number of cells in "
                       f"the workbook above the limit of {CELL_LIMIT} cells.")
        for effect in effects:
            effect()
        self.books[book.key] = trial
        return {"spreadsheetId": book.key, "replies": replies}

    def _add_sheet(self, book: Spreadsheet, properties: dict[str, Any]) -> Sheet:
        title = properties.get("title") or f"Sheet{len(book.sheets) + 1}"
        if book.find(title) is not None:
            raise _bad(f'Invalid requests[0].addSheet: A sheet with the name "{title}" already '
                       "exists. Please enter another name.")
        grid = properties.get("gridProperties", {})
        sheet_id = properties.get("sheetId", book.next_id)
        book.next_id = max(book.next_id, sheet_id) + 1
        sheet = Sheet(sheet_id, title, grid.get("rowCount", DEFAULT_ROWS),
                      grid.get("columnCount", DEFAULT_COLUMNS), grid.get("frozenRowCount", 0),
                      hidden=bool(properties.get("hidden", False)))
        book.sheets.insert(properties.get("index", len(book.sheets)), sheet)
        return sheet

    def _target(self, book: Spreadsheet, sheet_id: Any, number: int, what: str) -> Sheet:
        sheet = book.by_id(int(sheet_id or 0))
        if sheet is None:
            raise _bad(f"Invalid requests[{number}].{what}: No grid with id: {sheet_id}")
        return sheet

    def _request(self, book: Spreadsheet, number: int, request: dict[str, Any],
                 effects: list[Callable[[], None]]) -> dict[str, Any]:
        (what, spec), = request.items()
        match what:
            case "addSheet":
                sheet = self._add_sheet(book, spec.get("properties", {}))
                return {"addSheet": {"properties": sheet.properties(book.sheets.index(sheet))}}
            case "deleteSheet":
                sheet = self._target(book, spec.get("sheetId"), number, what)
                book.sheets.remove(sheet)
            case "appendDimension":
                sheet = self._target(book, spec.get("sheetId"), number, what)
                length = int(spec["length"])
                if spec.get("dimension") == "ROWS":
                    self._check_limit(book, length * sheet.columns, what)
                    sheet.rows += length
                elif spec.get("dimension") == "COLUMNS":
                    self._check_limit(book, length * sheet.rows, what)
                    sheet.columns += length
                else:
                    raise _bad(f"Invalid requests[{number}].appendDimension: dimension")
            case "deleteDimension":
                grid_range = spec["range"]
                sheet = self._target(book, grid_range.get("sheetId"), number, what)
                start, end = int(grid_range["startIndex"]), int(grid_range["endIndex"])
                if grid_range.get("dimension") != "ROWS":
                    raise _bad(f"Invalid requests[{number}].deleteDimension: the fake deletes "
                               "rows only")
                if not 0 <= start < end <= sheet.rows:
                    raise _bad(f"Invalid requests[{number}].deleteDimension: Range "
                               f"({sheet.title}!R{start + 1}:R{end}) exceeds grid limits. "
                               f"Max rows: {sheet.rows}")
                if end - start >= sheet.rows - sheet.frozen_rows:
                    raise _bad(f"Invalid requests[{number}].deleteDimension: You can't delete "
                               "all the rows on the sheet.")
                sheet.rows -= end - start
                effects.append(partial(_delete_rows, sheet, start, end))
            case "updateSheetProperties":
                props = spec["properties"]
                sheet = self._target(book, props.get("sheetId"), number, what)
                fields = spec.get("fields", "*")
                grid = props.get("gridProperties", {})
                if "title" in props and ("title" in fields or fields == "*"):
                    if book.find(props["title"]) not in (None, sheet):
                        raise _bad(f'A sheet with the name "{props["title"]}" already exists.')
                    sheet.title = props["title"]
                if "frozenRowCount" in grid:
                    sheet.frozen_rows = grid["frozenRowCount"]
                if "rowCount" in grid:
                    sheet.rows = grid["rowCount"]
                if "columnCount" in grid:
                    sheet.columns = grid["columnCount"]
            case "updateCells":
                self._update_cells(book, number, spec, effects)
            case "repeatCell":
                grid_range = spec["range"]
                sheet = self._target(book, grid_range.get("sheetId"), number, what)
                self._check_grid(sheet, grid_range, number, what)
                fmt = spec.get("cell", {}).get("userEnteredFormat", {})
                sheet.formats.append((dict(grid_range), fmt))
                if "numberFormat" in fmt:
                    effects.append(partial(_format_cells, sheet, grid_range,
                                           fmt["numberFormat"]))
            case "updateDimensionProperties":
                self._target(book, spec.get("range", {}).get("sheetId"), number, what)
            case "setDataValidation":
                grid_range = spec["range"]
                sheet = self._target(book, grid_range.get("sheetId"), number, what)
                self._check_grid(sheet, grid_range, number, what)
                sheet.validations.append((dict(grid_range), spec.get("rule") or {}))
            case _:
                raise _bad(f"Invalid requests[{number}]: the fake does not know {what}")
        return {}

    def _check_grid(self, sheet: Sheet, grid_range: dict[str, Any], number: int,
                    what: str) -> None:
        if grid_range.get("endRowIndex", 0) > sheet.rows or \
                grid_range.get("endColumnIndex", 0) > sheet.columns:
            raise _bad(f"Invalid requests[{number}].{what}: Range ({sheet.title}!"
                       f"R{grid_range.get('startRowIndex', 0) + 1}) exceeds grid limits. "
                       f"Max rows: {sheet.rows}, max columns: {sheet.columns}")

    def _update_cells(self, book: Spreadsheet, number: int, spec: dict[str, Any],
                      effects: list[Callable[[], None]]) -> None:
        start = spec.get("start") or {}
        grid_range = spec.get("range") or {}
        sheet_id = start.get("sheetId", grid_range.get("sheetId"))
        sheet = self._target(book, sheet_id, number, "updateCells")
        row0 = start.get("rowIndex", grid_range.get("startRowIndex", 0))
        col0 = start.get("columnIndex", grid_range.get("startColumnIndex", 0))
        rows = spec.get("rows", [])
        if row0 + len(rows) > sheet.rows or \
                col0 + max((len(r.get("values", [])) for r in rows), default=0) > sheet.columns:
            raise _bad(f"Invalid requests[{number}].updateCells: Range exceeds grid limits. "
                       f"Max rows: {sheet.rows}, max columns: {sheet.columns}")
        effects.append(partial(_put_cells, sheet, row0, col0, rows))


def _format_cells(sheet: Sheet, grid_range: dict[str, Any], fmt: dict[str, str]) -> None:
    """A number format on the cells of a range that hold something (blank ones get it from
    `sheet.formats` when a value is written)."""
    row0, col0 = grid_range.get("startRowIndex", 0), grid_range.get("startColumnIndex", 0)
    row1 = min(grid_range.get("endRowIndex", sheet.rows), sheet.rows)
    col1 = min(grid_range.get("endColumnIndex", sheet.columns), sheet.columns)
    if (row1 - row0) * (col1 - col0) < len(sheet.cells):
        found = (sheet.cells.get((r, c)) for r in range(row0, row1) for c in range(col0, col1))
        cells = [cell for cell in found if cell is not None]
    else:
        cells = [cell for (r, c), cell in sheet.cells.items() if _inside(grid_range, r, c)]
    for cell in cells:
        cell.number_format = dict(fmt)


def _put_cells(sheet: Sheet, row0: int, col0: int, rows: list[dict[str, Any]]) -> None:
    for r, row in enumerate(rows):
        for c, data in enumerate(row.get("values", [])):
            entered_value = data.get("userEnteredValue")
            fmt = data.get("userEnteredFormat", {}).get("numberFormat")
            old = sheet.cells.get((row0 + r, col0 + c))
            if entered_value is None:
                if fmt and old is not None:
                    old.number_format = dict(fmt)
                continue
            (vkind, value), = entered_value.items()
            cell = (Cell(None, formula=value) if vkind == "formulaValue" else Cell(value))
            cell.number_format = dict(fmt) if fmt else (old.number_format if old else None)
            sheet.cells[row0 + r, col0 + c] = cell


def _inside(grid_range: dict[str, Any], r: int, c: int) -> bool:
    return (grid_range.get("startRowIndex", 0) <= r < grid_range.get("endRowIndex", 1 << 40)
            and grid_range.get("startColumnIndex", 0) <= c
            < grid_range.get("endColumnIndex", 1 << 40))


def _trim(row: list[Any]) -> list[Any]:
    while row and row[-1] == "":
        row.pop()
    return row


def _grid(sheet: Sheet, row0: int, col0: int, row1: int, col1: int,
          render: str) -> list[list[Any]]:
    by_row: dict[int, dict[int, Cell]] = {}
    if (row1 - row0 + 1) * (col1 - col0 + 1) < len(sheet.cells):  # a column, a row: look up
        for r in range(row0, row1 + 1):
            for c in range(col0, col1 + 1):
                cell = sheet.cells.get((r, c))
                if cell is not None and _holds(cell):
                    by_row.setdefault(r, {})[c] = cell
        return _rows_of(by_row, row0, col0, render)
    for (r, c), cell in sheet.cells.items():
        if row0 <= r <= row1 and col0 <= c <= col1 and _holds(cell):
            by_row.setdefault(r, {})[c] = cell
    return _rows_of(by_row, row0, col0, render)


def _rows_of(by_row: dict[int, dict[int, Cell]], row0: int, col0: int,
             render: str) -> list[list[Any]]:
    if not by_row:
        return []
    last = max(by_row)
    rows = []
    for r in range(row0, last + 1):
        cells = by_row.get(r, {})
        width = max(cells, default=col0 - 1) - col0 + 1
        rows.append([_render(cells.get(col0 + i), render) for i in range(width)])
    return rows


def _kind(method: str, path: str) -> str:
    if path.endswith(":batchUpdate") and "/values:" in path:
        return "values:batchUpdate"
    if path.endswith("/values:batchGet"):
        return "values:batchGet"
    if path.endswith(":batchUpdate"):
        return "batchUpdate"
    if path.endswith(":append"):
        return "values:append"
    if method == "GET" and re.match(r"^/v4/spreadsheets/[^/:]+$", path):
        return "get"
    return f"{method} {path}"


class _Handler(BaseHTTPRequestHandler):
    service: FakeSheets
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            if len(raw) > PAYLOAD_LIMIT:
                raise _bad(f"Request payload size exceeds the limit: {PAYLOAD_LIMIT} bytes.")
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                raise _bad("Invalid JSON payload received.") from None
        except ApiError as exc:
            status, answer = exc.code, exc.body()
        else:
            if self.service.latency:
                threading.Event().wait(self.service.latency)
            status, answer = self.service.handle(method, parts.path,
                                                 parse_qs(parts.query), body)
        data = json.dumps(answer).encode()
        self.service.sizes.append((len(raw), len(data)))
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")
