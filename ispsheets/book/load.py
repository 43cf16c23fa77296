"""Raw tabs → typed records plus problems. A bad row is skipped and reported, never fatal."""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from ispsheets.book import parse
from ispsheets.book.known import KnownRows
from ispsheets.book.parse import DateOrder, DateWindow, Invalid
from ispsheets.book.reader import RawBook, RawSheet
from ispsheets.book.records import (
    Book,
    Charge,
    Client,
    Invoice,
    Layout,
    Origin,
    Package,
    Payment,
    Service,
)
from ispsheets.book.schema import (
    CHARGES,
    CLIENTS,
    INVOICES,
    OWNER_TABS,
    PACKAGES,
    PAYMENTS,
    SERVICES,
    TABS,
    Column,
    Kind,
    Tab,
    Who,
    column_index,
    column_letter,
    find_tab,
    normalise_header,
)
from ispsheets.problems import Problem, Severity, warning

# Example keys for messages about a blank key cell.
_KEY_EXAMPLES = {"package_id": "HOME100", "client_id": "C001", "service_id": "S001",
                 "charge_id": "CHG-00001", "payment_id": "PAY-00001",
                 "invoice_number": "INV-00001"}
_SKIPPED = "row skipped because of the problems above"


def layout_of(sheet: RawSheet, tab: Tab) -> tuple[Layout, list[Problem]]:
    """Find each schema column in the header row (first match wins; duplicates are reported)."""
    wanted = {normalise_header(c.name): c.name for c in tab.columns}
    columns: dict[str, int] = {}
    problems: list[Problem] = []
    unknown: list[tuple[int, str]] = []
    for index, text in enumerate(sheet.header):
        name = wanted.get(normalise_header(text))
        if name is None:
            if not parse.is_blank(text):
                unknown.append((index, parse.parse_text(text)))
            continue
        if name in columns:
            first = column_letter(columns[name])
            problems.append(warning(
                f"{sheet.name}!{column_letter(index)}1",
                f"a second {name} column (the first is column {first}); this one is ignored",
                "rename or delete one of them"))
            continue
        columns[name] = index
    absent = {normalise_header(c.name): c.name for c in tab.columns if c.name not in columns}
    for index, text in unknown:
        close = difflib.get_close_matches(normalise_header(text), list(absent), n=1, cutoff=0.8)
        if close:
            name = absent[close[0]]
            problems.append(warning(
                f"{sheet.name}!{column_letter(index)}1",
                f"column {text!r} is not one ispsheets knows, so it is ignored; "
                f"did you mean {name}?", f"rename the header to {name}"))
    return Layout(sheet.name, columns), problems


@dataclass(slots=True)
class _Cells:
    """One sheet row, read through its layout; parse failures become problems."""

    layout: Layout
    row: Sequence[object]
    number: int
    date_order: DateOrder
    problems: list[Problem]
    window: DateWindow | None = None

    def cell(self, column: str) -> str:
        return self.layout.cell(column, self.number)

    def add(self, column: str, message: str, fix: str, severity: Severity = Severity.ERROR
            ) -> None:
        self.problems.append(Problem(self.cell(column), message, fix, severity))

    def get(self, column: Column, index: int | None) -> Any:
        row = self.row
        raw = row[index] if index is not None and index < len(row) else None
        value = _read(column, raw, self.date_order, self.window)
        if isinstance(value, Invalid):
            # A tool column is rewritten by ispsheets: junk there never costs the owner a row.
            if column.who is Who.TOOL:
                self.add(column.name, value.message,
                         f"{value.fix}, or clear the cell: ispsheets writes this column",
                         Severity.WARNING)
            else:
                self.add(column.name, value.message, value.fix)
            return None
        # A client without email is only a warning (see _client): paper invoices exist.
        if column.required and value in (None, "", ()) and column.kind is not Kind.EMAILS:
            self.add(column.name, f"{column.name} is blank", _fill_hint(column))
        if (column.kind is Kind.PERCENT and type(raw) is float and value is not None
                and 0 < value < 1):
            self.add(column.name, f"read as {value} % (less than one percent)",
                     f"if you meant {value * 100:g} %, type {value * 100:g}; a cell formatted "
                     "as Excel percent stores 8.25 % as 0.0825", Severity.WARNING)
        return value


def _unless_blank(parser: Callable[[object], Any]) -> Callable[[object, Column, DateOrder], Any]:
    return lambda raw, column, order: None if parse.is_blank(raw) else parser(raw)


_PARSERS: dict[Kind, Callable[[object, Column, DateOrder], Any]] = {
    Kind.KEY: lambda raw, column, order: parse.parse_key(raw),
    Kind.TEXT: lambda raw, column, order: parse.parse_text(raw),
    Kind.MONEY: _unless_blank(parse.parse_money),
    Kind.PERCENT: _unless_blank(parse.parse_percent),
    Kind.NUMBER: _unless_blank(parse.parse_decimal),
    Kind.INT: _unless_blank(parse.parse_int),
    Kind.DATE: lambda raw, column, order: parse.parse_date(raw, order),
    Kind.DATETIME: lambda raw, column, order: parse.parse_datetime(raw, order),
    Kind.BOOL: lambda raw, column, order: parse.parse_bool(raw),
    Kind.EMAILS: lambda raw, column, order: parse.parse_emails(raw),
    Kind.CHOICE: lambda raw, column, order: parse.parse_choice(raw, column.choices),
}


def _read(column: Column, raw: object, order: DateOrder, window: DateWindow | None) -> Any:
    """A cell's value; an owner's date outside `window` is Invalid, with its likely cause."""
    value = _PARSERS[column.kind](raw, column, order)
    if (window is not None and column.kind is Kind.DATE and column.who is not Who.TOOL
            and isinstance(value, dt.date)):
        invalid = window.check(value, raw)
        if invalid is None:
            return value
        if column.name == "end_date" and value > window.last:
            return Invalid(invalid.message, f"{invalid.fix}, or clear end_date if the service "
                                            "goes on")
        return invalid
    return value


def _fill_hint(column: Column) -> str:
    if column.references:
        return (f"type the {column.name} from the {column.references} tab, "
                "or clear the whole row if it is not used")
    if column.kind is Kind.KEY:
        example = _KEY_EXAMPLES.get(column.name, "A001")
        return (f"type a {column.name} no other row uses, e.g. {example}, "
                "or clear the whole row if it is not used")
    hints = {Kind.DATE: "type a date like 2026-12-01", Kind.MONEY: "type an amount, e.g. 49.99",
             Kind.EMAILS: "type the client's email address",
             Kind.CHOICE: f"type one of: {', '.join(column.choices)}"}
    return hints.get(column.kind, f"fill in the {column.name}")


def _rows(sheet: RawSheet, layout: Layout) -> Iterator[tuple[int, Sequence[object]]]:
    """Rows with something in a known column; blank rows anywhere are fine."""
    known = list(layout.columns.values())
    blank = parse.is_blank
    rows = sheet.rows
    for index in range(1, len(rows)):
        row = rows[index]
        width = len(row)
        for i in known:
            if i < width and not blank(row[i]):
                yield index + 1, row
                break


# Raw cell types whose equal values always read the same (so a parse can be reused).
_SAME_WHEN_EQUAL = frozenset({str, int, float, bool, type(None), dt.date})
_UNREAD = object()
_ASK = object()  # a cell to read again with `_Cells.get`, which reports its problem


class _ColumnReader:
    """Reads one column of every row at once: each distinct raw value is parsed once (a year
    of invoices repeats the same days, amounts, ids and statuses thousands of times). A cell
    whose value calls for a problem is left as `_ASK`, for `_Cells.get` to read and report in
    the row's turn, so problems come out exactly as a cell-by-cell read gives them."""

    __slots__ = ("asked", "column", "index", "name", "order", "parse", "plain", "window")

    def __init__(self, column: Column, index: int | None, date_order: DateOrder,
                 window: DateWindow | None = None) -> None:
        self.column, self.index, self.name, self.order = column, index, column.name, date_order
        self.parse = _PARSERS[column.kind]
        self.window = window if column.kind is Kind.DATE and column.who is not Who.TOOL else None
        # When a parsed value alone never calls for a problem (beyond Invalid).
        self.plain = not column.required or column.kind is Kind.EMAILS
        self.asked: list[int] = []  # positions of the cells read as `_ASK`

    def _first(self, raw: object) -> Any:
        value = (self.parse(raw, self.column, self.order) if self.window is None
                 else _read(self.column, raw, self.order, self.window))
        if (value.__class__ is Invalid or (not self.plain and value in (None, "", ()))
                or (raw.__class__ is float and self.column.kind is Kind.PERCENT)):
            return _ASK
        return value

    def read(self, rows: Sequence[tuple[int, Sequence[object]]]) -> list[Any]:
        index = self.index
        values = [self._first(None)] * len(rows) if index is None else self._read(rows, index)
        self.asked = [i for i, value in enumerate(values) if value is _ASK]
        return values

    def _read(self, rows: Sequence[tuple[int, Sequence[object]]], index: int) -> list[Any]:
        first, same = self._first, _SAME_WHEN_EQUAL
        # One memo per raw type: 1 == 1.0 == True, but they may read differently.
        memos: dict[type, dict[object, Any]] = {}
        # Text in an id or text column reads as itself, trimmed (parse_key, parse_text): ids
        # are all different, so looking them up first would cost more than it saves.
        as_text = self.column.kind in (Kind.KEY, Kind.TEXT)
        blank = "" if self.plain else _ASK
        if all(index < len(row) for _, row in rows):
            raws = [row[index] for _, row in rows]
        else:
            raws = [row[index] if index < len(row) else None for _, row in rows]
        values = []
        append = values.append
        for raw in raws:
            kind = raw.__class__
            if kind is str and as_text:
                append(raw.strip() or blank)  # type: ignore[union-attr]
                continue
            memo = memos.get(kind)
            if memo is None or (kind is dt.datetime and raw.tzinfo is not None):  # type: ignore[union-attr]
                if kind in same or (kind is dt.datetime and raw.tzinfo is None):  # type: ignore[union-attr]
                    memo = memos[kind] = {}
                else:  # e.g. Decimal("1.0") == Decimal("1"), but they read differently
                    append(first(raw))
                    continue
            value = memo.get(raw, _UNREAD)
            if value is _UNREAD:
                value = memo[raw] = first(raw)
            append(value)
        return values


def _cell_value(cells: _Cells, reader: _ColumnReader, value: Any) -> Any:
    return cells.get(reader.column, reader.index) if value is _ASK else value


def _nonneg(cells: _Cells, column: str, value: Decimal | None, what: str, fix: str = "") -> None:
    if value is not None and value < 0:
        cells.add(column, f"{what} {value} is negative", fix or f"type a {what} of 0 or more")


def _percent_range(cells: _Cells, column: str, value: Decimal | None, what: str) -> None:
    if value is not None and not 0 <= value <= 100:
        cells.add(column, f"{what} {value} % is outside 0-100",
                  "type a percent from 0 to 100, e.g. 8.25")


def _package(c: _Cells, v: dict[str, Any]) -> Package:
    _nonneg(c, "price", v["price"], "price",
            "type the price as 0 or more; a discount goes in Services.discount_pct")
    for name in ("setup_fee", "download_mbps", "upload_mbps", "data_cap_gb"):
        _nonneg(c, name, v[name], name.replace("_", " "))
    _percent_range(c, "tax_rate", v["tax_rate"], "tax rate")
    return Package(v["package_id"], v["name"], v["price"], v["interval"], v["download_mbps"],
                   v["upload_mbps"], v["data_cap_gb"], v["tax_rate"], v["prorate"],
                   v["setup_fee"] or Decimal("0"), Origin(c.layout, c.number))


def _client(c: _Cells, v: dict[str, Any]) -> Client:
    day = v["billing_day"]
    if day is not None and not 1 <= day <= 28:
        c.add("billing_day", f"billing day {day} is outside 1-28",
              "type a day from 1 to 28 (29-31 do not exist in every month), "
              "or leave it blank for the default in config.yaml")
    if v["email"] == () and "email" in c.layout.columns:  # None: unreadable, said already
        c.add("email", "no email address",
              "add one, or invoices for this client cannot be sent", Severity.WARNING)
    return Client(v["client_id"], v["name"], v["email"] or (), v["phone"], v["address"], day,
                  bool(v["autopay"]), bool(v["tax_exempt"]), v["status"] or "active",
                  v["balance"], v["stripe_customer_id"], Origin(c.layout, c.number),
                  bank_reference=v["bank_reference"] or "")


def _service(c: _Cells, v: dict[str, Any]) -> Service:
    _nonneg(c, "price", v["price"], "price",
            "type the price as 0 or more (or leave it blank for the package price); "
            "a discount goes in discount_pct")
    _nonneg(c, "discount_pct", v["discount_pct"], "discount", "type a percent from 0 to 100")
    if v["discount_pct"] is not None and v["discount_pct"] > 100:
        c.add("discount_pct", f"discount {v['discount_pct']} % is more than 100 %",
              "type a percent from 0 to 100")
    quantity = v["quantity"] if v["quantity"] is not None else Decimal("1")
    if quantity <= 0:
        c.add("quantity", f"quantity {quantity} is not positive",
              "type 1 or more, or leave it blank for 1")
    start, end = v["start_date"], v["end_date"]
    if start and end and end < start:
        c.add("end_date", f"end date {end} is before the start date {start}",
              "type the last day of service, on or after the start date")
    return Service(v["service_id"], v["client_id"], v["package_id"], start, end, quantity,
                   v["price"], v["discount_pct"] or Decimal("0"), v["billed_through"],
                   Origin(c.layout, c.number))


def _charge(c: _Cells, v: dict[str, Any]) -> Charge:
    return Charge(v["charge_id"], v["client_id"], v["date"], v["description"], v["amount"],
                  v["taxable"] is not False, v["invoice_number"] or "", Origin(c.layout, c.number))


def _payment(c: _Cells, v: dict[str, Any]) -> Payment:
    return Payment(v["payment_id"], v["date"], v["client_id"], v["amount"], v["method"],
                   v["reference"], v["invoice_number"], v["applied_to"], v["unapplied"],
                   Origin(c.layout, c.number))


def _invoice(c: _Cells, v: dict[str, Any]) -> Invoice:
    if not v["invoice_number"]:
        c.add("invoice_number", "an Invoices row without an invoice_number is ignored",
              "ispsheets writes this tab: delete the row if you added it, or undo the edit",
              Severity.WARNING)
    return Invoice(v["invoice_number"], v["client_id"], v["issue_date"], v["period_start"],
                   v["period_end"], v["due_date"], v["subtotal"], v["tax"], v["total"],
                   v["paid"] or Decimal("0"), v["balance"], v["status"] or "open", v["sent_at"],
                   v["reminder_stage"], v["pay_link"], (), Origin(c.layout, c.number))


_BUILDERS: dict[str, Callable[[_Cells, dict[str, Any]], Any]] = {
    PACKAGES.name: _package, CLIENTS.name: _client, SERVICES.name: _service,
    CHARGES.name: _charge, PAYMENTS.name: _payment, INVOICES.name: _invoice,
}


@dataclass(frozen=True)
class TabRead:
    """One tab read: good records, the records of rows skipped (fields may be None), problems;
    `blocking` holds the problem of a required column that is missing (nothing is read)."""

    records: list[Any]
    skipped: list[Any]
    layout: Layout
    problems: list[Problem]
    blocking: Problem | None = None


def _missing_columns(sheet: RawSheet, tab: Tab, missing: Sequence[str]) -> Problem:
    """`Payments!1:1: missing required column amount ...`, naming a near header if any."""
    plural = "s" if len(missing) > 1 else ""
    known = {normalise_header(c.name) for c in tab.columns}
    headers = {normalise_header(h): (i, parse.parse_text(h)) for i, h in enumerate(sheet.header)
               if not parse.is_blank(h) and normalise_header(h) not in known}
    near = []
    for name in missing:
        close = difflib.get_close_matches(normalise_header(name), list(headers), n=1,
                                          cutoff=0.6)
        if close:
            index, text = headers.pop(close[0])
            near.append(f"rename column {column_letter(index)} ({text!r}) back to {name}")
    fix = "; ".join(near) if near else (
        f"add {'them' if plural else 'it'} as header cell{plural} in row 1, spelled like this "
        "(case, spaces and _ do not matter)")
    return Problem(f"{sheet.name}!1:1",
                   f"missing required column{plural} {', '.join(missing)}; ispsheets does "
                   f"nothing until {'they are' if plural else 'it is'} there", fix)


def load_tab(sheet: RawSheet, tab: Tab, date_order: DateOrder,
             window: DateWindow | None = None) -> TabRead:
    """Records of one tab; a row with any error is left out and its problems returned.

    With a `window`, an owner's date outside it is an error (a number typed into a date cell,
    a typo in the year): the row is skipped rather than billed from 1900."""
    layout, problems = layout_of(sheet, tab)
    missing = [name for name in tab.required if name not in layout.columns]
    if missing:
        blocking = _missing_columns(sheet, tab, missing)
        problems.append(blocking)
        return TabRead([], [], layout, problems, blocking)
    build = _BUILDERS.get(tab.name)
    if build is None:
        return TabRead([], [], layout, problems)
    records, skipped = [], []
    readers = [_ColumnReader(column, layout.columns.get(column.name), date_order, window)
               for column in tab.columns]
    rows = list(_rows(sheet, layout))
    names = [reader.name for reader in readers]
    columns = [reader.read(rows) for reader in readers]
    asked = {i for reader in readers for i in reader.asked}
    for at, ((number, row), read) in enumerate(zip(rows, zip(*columns, strict=True),
                                                   strict=True)):
        cells = _Cells(layout, row, number, date_order, problems, window)
        before = len(problems)
        if at in asked:
            read = tuple(_cell_value(cells, reader, value)
                         for reader, value in zip(readers, read, strict=True))
        record = build(cells, dict(zip(names, read, strict=True)))
        if len(problems) > before and any(p.is_error for p in problems[before:]) \
                and not tab.tool_tab:
            skipped.append(record)
        elif tab is INVOICES and not record.invoice_number:
            continue
        else:
            records.append(record)
    return TabRead(records, skipped, layout, problems)


# What an owner tab's absence would make the tool do wrong, for the message.
_WITHOUT = {"Packages": "no service could be billed",
            "Clients": "nobody could be billed or reminded",
            "Services": "invoices would bill charges only",
            "Charges": "one-off charges and credits would be ignored",
            "Payments": "every payment would be ignored and paid clients chased"}


def _missing_tab(raw: RawBook, tab: Tab) -> Problem:
    """A required tab that is not there, with the tab it was probably renamed to."""
    columns = ", ".join(tab.required)
    others = [n for n in raw.names if not any(find_tab([n], t) for t in TABS)]
    close = difflib.get_close_matches(normalise_header(tab.name),
                                      [normalise_header(n) for n in others], n=1, cutoff=0.6)
    why = f"without it {_WITHOUT[tab.name]}, so ispsheets does nothing until it is back"
    if close:
        name = next(n for n in others if normalise_header(n) == close[0])
        return Problem(tab.name, f"the {tab.name} tab is missing (did you mean the tab "
                                 f"{name!r}?); {why}",
                       f"rename the tab {name!r} back to {tab.name}")
    return Problem(tab.name, f"the {tab.name} tab is missing; {why}",
                   f"put the tab back (undo the deletion, or copy it from a backup in "
                   f"backups/), or add a tab named {tab.name} with the header row {columns}")


def load_book(raw: RawBook, date_order: DateOrder = "MDY", *,
              today: dt.date | None = None, known: KnownRows | None = None) -> Book:
    """Every tab of the contract as records, cross-checked; problems sorted by place.

    `today` (default: the system date) decides which services have ended (for warnings) and
    which dates are plausible: an owner's date before 2000 or more than five years after
    `today` is an error naming its likely cause.
    `today` decides which services have ended (for warnings only); default: the system date.
    `known` (the journal's view of Charges and Payments ids) decides which of two rows with one
    id keeps it.
    """
    with parse.paused_gc():
        return _load_book(raw, date_order, today, known)


def _load_book(raw: RawBook, date_order: DateOrder, today: dt.date | None,
               known: KnownRows | None = None) -> Book:
    from ispsheets.book.validate import validate

    found: dict[str, list[Any]] = {}
    skipped: dict[str, list[Any]] = {}
    layouts: dict[str, Layout] = {}
    problems: list[Problem] = []
    window = DateWindow.around(today or dt.date.today())
    blocking: list[Problem] = []
    for tab in TABS:
        name = find_tab(raw.names, tab)
        if name is None:
            if not tab.tool_tab:  # a missing tool tab is created by the write-back
                blocking.append(_missing_tab(raw, tab))
                problems.append(blocking[-1])
            found[tab.name], skipped[tab.name] = [], []
            continue
        read = load_tab(raw.sheets[name], tab, date_order, window)
        found[tab.name], skipped[tab.name] = read.records, read.skipped
        layouts[tab.name] = read.layout
        problems.extend(read.problems)
        if read.blocking is not None:
            blocking.append(read.blocking)
    book = Book(tuple(found[PACKAGES.name]), tuple(found[CLIENTS.name]),
                tuple(found[SERVICES.name]), tuple(found[CHARGES.name]),
                tuple(found[PAYMENTS.name]), tuple(found[INVOICES.name]), layouts,
                tuple(problems), tuple(blocking))
    checked = validate(book, skipped, today or dt.date.today(), known)
    return replace(checked, problems=tuple(_with_summaries(book, checked, skipped)),
                   skipped=_skipped_records(book, checked, skipped))


def _skipped_records(read: Book, checked: Book, skipped: Mapping[str, list[Any]]
                     ) -> dict[str, tuple[Any, ...]]:
    """Per owner tab, the records of every row skipped: for a bad cell or by validation."""
    kept = {id(r) for tab in _owner_records(checked) for r in tab}
    result = {}
    for tab, records in zip(OWNER_TABS, _owner_records(read), strict=True):
        dropped = [r for r in records if id(r) not in kept]
        result[tab.name] = (*skipped.get(tab.name, ()), *dropped)
    return result


def _with_summaries(read: Book, checked: Book, skipped: Mapping[str, list[Any]]
                    ) -> list[Problem]:
    """The problems in sheet order, each skipped row closed by one summary line."""
    kept = {id(r) for tab in _owner_records(checked) for r in tab}
    dropped = [r for tab in _owner_records(read) for r in tab if id(r) not in kept]
    dropped += [r for records in skipped.values() for r in records]
    summaries = {(r.origin.layout.tab, r.origin.row): Problem(
        f"{r.origin.layout.tab}!{r.origin.row}:{r.origin.row}", _SKIPPED,
        "fix them; the row is read again on the next run") for r in dropped}
    order = {tab.name: i for i, tab in enumerate(TABS)}
    tab_names = {layout.tab: name for name, layout in checked.layouts.items()}
    placed = [(_place(p.where, order, tab_names), p) for p in checked.problems]
    placed += [(_place(p.where, order, tab_names, summary=True), p) for p in summaries.values()]
    placed.sort(key=lambda pair: pair[0])
    return [p for _, p in placed]


def _owner_records(book: Book) -> tuple[tuple[Any, ...], ...]:
    return book.packages, book.clients, book.services, book.charges, book.payments


_WHERE = re.compile(r"^(?P<tab>[^!]+)!(?:(?P<col>[A-Z]+)(?P<row>\d+)|(?P<line>\d+):\d+)$")


def _place(where: str, order: Mapping[str, int], tab_names: Mapping[str, str],
           summary: bool = False) -> tuple[float, ...]:
    """Sort key: tab in contract order, row, column; a row's summary after its cells."""
    m = _WHERE.match(where)
    tab = m["tab"] if m else where
    tab_rank = order.get(tab_names.get(tab, tab), len(order))
    if not m:
        return (tab_rank, 0, 0, 0)
    row = int(m["row"] or m["line"])
    column = column_index(m["col"]) if m["col"] else math.inf
    return (tab_rank, row, 1 if summary else 0, column)
