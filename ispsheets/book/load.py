"""Raw tabs → typed records plus problems. A bad row is skipped and reported, never fatal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ispsheets.book import parse
from ispsheets.book.parse import DateOrder, Invalid
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
    PACKAGES,
    PAYMENTS,
    SERVICES,
    TABS,
    Column,
    Kind,
    Tab,
    column_letter,
    find_tab,
    normalise_header,
)
from ispsheets.problems import Problem, warning


def layout_of(sheet: RawSheet, tab: Tab) -> tuple[Layout, list[Problem]]:
    """Find each schema column in the header row (first match wins; duplicates are reported)."""
    wanted = {normalise_header(c.name): c.name for c in tab.columns}
    columns: dict[str, int] = {}
    problems: list[Problem] = []
    for index, text in enumerate(sheet.header):
        name = wanted.get(normalise_header(text))
        if name is None:
            continue
        if name in columns:
            first = column_letter(columns[name])
            problems.append(warning(
                f"{sheet.name}!{column_letter(index)}1",
                f"a second {name} column (the first is column {first}); this one is ignored",
                "rename or delete one of them"))
            continue
        columns[name] = index
    return Layout(sheet.name, columns), problems


@dataclass(frozen=True)
class _Cells:
    """One sheet row, read through its layout; parse failures become problems."""

    layout: Layout
    row: list[object]
    number: int
    date_order: DateOrder
    problems: list[Problem]

    def raw(self, column: str) -> object:
        index = self.layout.columns.get(column)
        return self.row[index] if index is not None and index < len(self.row) else None

    def _bad(self, column: str, invalid: Invalid) -> None:
        self.problems.append(Problem(self.layout.cell(column, self.number), invalid.message,
                                     invalid.fix))

    def get(self, column: Column) -> Any:
        raw = self.raw(column.name)
        value: Any
        match column.kind:
            case Kind.KEY:
                value = parse.parse_key(raw)
            case Kind.TEXT:
                value = parse.parse_text(raw)
            case Kind.MONEY | Kind.PERCENT | Kind.NUMBER:
                value = None if parse.is_blank(raw) else parse.parse_decimal(
                    raw, "percentage" if column.kind is Kind.PERCENT else "number")
            case Kind.INT:
                value = None if parse.is_blank(raw) else parse.parse_int(raw)
            case Kind.DATE:
                value = parse.parse_date(raw, self.date_order)
            case Kind.DATETIME:
                value = parse.parse_datetime(raw, self.date_order)
            case Kind.BOOL:
                value = parse.parse_bool(raw)
            case Kind.EMAILS:
                value = parse.parse_emails(raw)
            case Kind.CHOICE:
                value = parse.parse_choice(raw, column.choices)
        if isinstance(value, Invalid):
            self._bad(column.name, value)
            return None
        if column.required and (value is None or value == "" or value == ()):
            self.problems.append(Problem(self.layout.cell(column.name, self.number),
                                         f"{column.name} is blank", _fill_hint(column)))
        return value


def _fill_hint(column: Column) -> str:
    hints = {Kind.DATE: "type a date like 2026-12-01", Kind.MONEY: "type an amount, e.g. 49.99",
             Kind.EMAILS: "type the client's email address",
             Kind.CHOICE: f"type one of: {', '.join(column.choices)}"}
    if column.references:
        return f"type a {column.name} from the {column.references} tab"
    return hints.get(column.kind, f"fill in the {column.name}")


def _rows(sheet: RawSheet, layout: Layout) -> Iterator[tuple[int, list[object]]]:
    known = list(layout.columns.values())
    for index, row in enumerate(sheet.rows[1:], start=2):
        if any(i < len(row) and not parse.is_blank(row[i]) for i in known):
            yield index, row


def _nonneg(cells: _Cells, column: str, value: Decimal | None, what: str) -> None:
    if value is not None and value < 0:
        cells.problems.append(Problem(cells.layout.cell(column, cells.number),
                                      f"{what} {value} is negative",
                                      f"type a {what} of 0 or more"))


def _package(c: _Cells, v: dict[str, Any]) -> Package:
    for name in ("price", "setup_fee", "download_mbps", "upload_mbps", "data_cap_gb"):
        _nonneg(c, name, v[name], name.replace("_", " "))
    if v["tax_rate"] is not None and not 0 <= v["tax_rate"] <= 100:
        c.problems.append(Problem(c.layout.cell("tax_rate", c.number),
                                  f"tax rate {v['tax_rate']} % is outside 0-100",
                                  "type a percent such as 8.25"))
    return Package(v["package_id"], v["name"], v["price"], v["interval"], v["download_mbps"],
                   v["upload_mbps"], v["data_cap_gb"], v["tax_rate"], v["prorate"],
                   v["setup_fee"] or Decimal("0"), Origin(c.layout, c.number))


def _client(c: _Cells, v: dict[str, Any]) -> Client:
    day = v["billing_day"]
    if day is not None and not 1 <= day <= 28:
        c.problems.append(Problem(c.layout.cell("billing_day", c.number),
                                  f"billing day {day} is outside 1-28",
                                  "type a day from 1 to 28 (29-31 do not exist in every month)"))
    if not v["emails"] and "email" in c.layout.columns:
        c.problems.append(warning(c.layout.cell("email", c.number), "no email address",
                                  "add one, or invoices for this client cannot be sent"))
    return Client(v["client_id"], v["name"], v["emails"] or (), v["phone"], v["address"], day,
                  bool(v["autopay"]), bool(v["tax_exempt"]), v["status"] or "active",
                  v["balance"], v["stripe_customer_id"], Origin(c.layout, c.number))


def _service(c: _Cells, v: dict[str, Any]) -> Service:
    for name, what in (("price", "price"), ("discount_pct", "discount")):
        _nonneg(c, name, v[name], what)
    if v["discount_pct"] is not None and v["discount_pct"] > 100:
        c.problems.append(Problem(c.layout.cell("discount_pct", c.number),
                                  f"discount {v['discount_pct']} % is more than 100 %",
                                  "type a percent from 0 to 100"))
    quantity = v["quantity"] if v["quantity"] is not None else Decimal("1")
    if quantity <= 0:
        c.problems.append(Problem(c.layout.cell("quantity", c.number),
                                  f"quantity {quantity} is not positive",
                                  "type 1 or more, or leave it blank for 1"))
    start, end = v["start_date"], v["end_date"]
    if start and end and end < start:
        c.problems.append(Problem(c.layout.cell("end_date", c.number),
                                  f"end date {end} is before the start date {start}",
                                  "fix one of the two dates"))
    return Service(v["service_id"], v["client_id"], v["package_id"], start, end, quantity,
                   v["price"], v["discount_pct"] or Decimal("0"), v["billed_through"],
                   Origin(c.layout, c.number))


def _charge(c: _Cells, v: dict[str, Any]) -> Charge:
    return Charge(v["charge_id"], v["client_id"], v["date"], v["description"], v["amount"],
                  v["taxable"] is not False, v["invoice_number"], Origin(c.layout, c.number))


def _payment(c: _Cells, v: dict[str, Any]) -> Payment:
    return Payment(v["payment_id"], v["date"], v["client_id"], v["amount"], v["method"],
                   v["reference"], v["invoice_number"], v["applied_to"], v["unapplied"],
                   Origin(c.layout, c.number))


def _invoice(c: _Cells, v: dict[str, Any]) -> Invoice:
    return Invoice(v["invoice_number"], v["client_id"], v["issue_date"], v["period_start"],
                   v["period_end"], v["due_date"], v["subtotal"], v["tax"], v["total"],
                   v["paid"] or Decimal("0"), v["balance"], v["status"] or "open", v["sent_at"],
                   v["reminder_stage"], v["pay_link"], (), Origin(c.layout, c.number))


_BUILDERS: dict[str, Callable[[_Cells, dict[str, Any]], Any]] = {
    PACKAGES.name: _package, CLIENTS.name: _client, SERVICES.name: _service,
    CHARGES.name: _charge, PAYMENTS.name: _payment, INVOICES.name: _invoice,
}


def load_tab(sheet: RawSheet, tab: Tab, date_order: DateOrder) -> tuple[list[Any], Layout,
                                                                         list[Problem]]:
    """Records of one tab; a row with any error is left out and its problems returned."""
    layout, problems = layout_of(sheet, tab)
    missing = [name for name in tab.required if name not in layout.columns]
    if missing:
        problems.append(Problem(f"{sheet.name}!1:1",
                                f"missing required column{'s' if len(missing) > 1 else ''} "
                                f"{', '.join(missing)}",
                                "add a header cell with that name in row 1"))
        return [], layout, problems
    build = _BUILDERS.get(tab.name)
    if build is None:
        return [], layout, problems
    records = []
    for number, row in _rows(sheet, layout):
        row_problems: list[Problem] = []
        cells = _Cells(layout, row, number, date_order, row_problems)
        values = {col.name: cells.get(col) for col in tab.columns}
        record = build(cells, values)
        if any(p.is_error for p in row_problems):
            row_problems.append(Problem(f"{sheet.name}!{number}:{number}",
                                        "row skipped because of the problems above",
                                        "fix them; the row is read again on the next run"))
        else:
            records.append(record)
        problems.extend(row_problems)
    return records, layout, problems


def load_book(raw: RawBook, date_order: DateOrder = "MDY") -> Book:
    """Every tab of the contract as records; cross-tab checks come after (see `validate`)."""
    from ispsheets.book.validate import validate

    found: dict[str, list[Any]] = {}
    layouts: dict[str, Layout] = {}
    problems: list[Problem] = []
    for tab in TABS:
        name = find_tab(raw.names, tab)
        if name is None:
            if not tab.tool_tab and tab.required and tab.name not in (CHARGES.name,
                                                                       PAYMENTS.name):
                problems.append(Problem(tab.name, "tab is missing",
                                        f"add a tab named {tab.name} with a header row "
                                        f"({', '.join(tab.required)})"))
            found[tab.name] = []
            continue
        records, layout, tab_problems = load_tab(raw.sheets[name], tab, date_order)
        found[tab.name] = records
        layouts[tab.name] = layout
        problems.extend(tab_problems)
    book = Book(tuple(found[PACKAGES.name]), tuple(found[CLIENTS.name]),
                tuple(found[SERVICES.name]), tuple(found[CHARGES.name]),
                tuple(found[PAYMENTS.name]), tuple(found[INVOICES.name]), layouts,
                tuple(problems))
    return validate(book)
