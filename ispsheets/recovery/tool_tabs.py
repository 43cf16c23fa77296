"""The tool tabs the Book does not carry (InvoiceLines, Activity), read for recovery."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from ispsheets.book.parse import Invalid, parse_datetime, parse_decimal, parse_int, parse_text
from ispsheets.book.reader import RawBook
from ispsheets.book.records import ActivityRow, InvoiceLine
from ispsheets.book.schema import ACTIVITY, INVOICE_LINES, TABS_BY_NAME, find_tab, normalise_header

ZERO = Decimal("0")


def _tab_rows(raw: RawBook, tab_name: str) -> list[dict[str, object]]:
    """A tab's rows as schema column name → raw value (columns matched like headers)."""
    name = find_tab(raw.names, TABS_BY_NAME[tab_name])
    if name is None:
        return []
    sheet = raw.sheets[name]
    wanted = {normalise_header(c.name): c.name for c in TABS_BY_NAME[tab_name].columns}
    index = {wanted[normalise_header(h)]: i for i, h in enumerate(sheet.header)
             if normalise_header(h) in wanted}
    rows = []
    for values in sheet.rows[1:]:
        row = {column: values[i] if i < len(values) else None for column, i in index.items()}
        if any(v not in (None, "") for v in row.values()):
            rows.append(row)
    return rows


def _text(value: object) -> str:
    text = parse_text(value)
    return "" if isinstance(text, Invalid) else text


def _decimal(value: object) -> Decimal:
    number = parse_decimal(value) if value not in (None, "") else ZERO
    return ZERO if isinstance(number, Invalid) else number


def _date(value: object, order: str) -> dt.date | None:
    when = parse_datetime(value, order)  # type: ignore[arg-type]
    return when.date() if isinstance(when, dt.datetime) else None


def _datetime(value: object, order: str) -> dt.datetime | None:
    when = parse_datetime(value, order)  # type: ignore[arg-type]
    return when if isinstance(when, dt.datetime) else None


def read_lines(raw: RawBook, order: str) -> dict[str, list[InvoiceLine]]:
    """InvoiceLines rows by invoice number (service_id holds the charge id on charge lines;
    `plan_recovery` tells them apart)."""
    lines: dict[str, list[InvoiceLine]] = defaultdict(list)
    for row in _tab_rows(raw, INVOICE_LINES.name):
        number = _text(row.get("invoice_number"))
        if not number:
            continue
        position = parse_int(row.get("line"))
        lines[number].append(InvoiceLine(
            number, position if isinstance(position, int) else len(lines[number]) + 1,
            _text(row.get("service_id")), _text(row.get("description")),
            _date(row.get("period_start"), order), _date(row.get("period_end"), order),
            _decimal(row.get("quantity") or 1), _decimal(row.get("unit_price")),
            _decimal(row.get("amount")), _decimal(row.get("tax_rate")),
            _decimal(row.get("tax"))))
    return {n: sorted(ls, key=lambda x: x.line) for n, ls in lines.items()}


def read_activity(raw: RawBook, order: str) -> list[ActivityRow]:
    result = []
    for row in _tab_rows(raw, ACTIVITY.name):
        when = _datetime(row.get("timestamp"), order)
        action = _text(row.get("action"))
        if when is None or not action:
            continue
        result.append(ActivityRow(when, action, _text(row.get("client_id")),
                                  _text(row.get("invoice_number")), _text(row.get("detail"))))
    return result


