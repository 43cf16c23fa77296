"""The report workbook a bookkeeper opens: formatted, filtered, frozen, with native charts."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from ispsheets.money import minor_units, symbol
from ispsheets.reporting import metrics, tables
from ispsheets.reporting.bulk import BulkRows, splice
from ispsheets.reporting.files import prune_reports, report_path, reports_to_prune
from ispsheets.reporting.inputs import ReportInput

__all__ = ["prune_reports", "report_path", "reports_to_prune", "write_report"]

BRAND = "#1F4E79"


class _Formats:
    def __init__(self, book: Workbook, currency: str) -> None:
        places = minor_units(currency)
        decimals = "." + "0" * places if places else ""
        sign = symbol(currency).replace('"', "")
        money = f'"{sign}"#,##0{decimals};[Red]-"{sign}"#,##0{decimals}'
        self.header = book.add_format({"bold": True, "font_color": "white", "bg_color": BRAND,
                                       "border": 1, "text_wrap": True, "valign": "vcenter"})
        self.title = book.add_format({"bold": True, "font_size": 16, "font_color": BRAND})
        self.note = book.add_format({"italic": True, "font_color": "#666666"})
        self.money = book.add_format({"num_format": money, "valign": "top"})
        self.money_bold = book.add_format({"num_format": money, "bold": True, "top": 1})
        self.money_strong = book.add_format({"num_format": money, "bold": True})
        self.date = book.add_format({"num_format": "yyyy-mm-dd"})
        self.month = book.add_format({"num_format": "mmm yyyy"})
        self.percent = book.add_format({"num_format": '0.0"%"', "valign": "top"})
        self.days = book.add_format({"num_format": "0.0", "valign": "top"})
        self.top = book.add_format({"valign": "top"})
        self.bold = book.add_format({"bold": True, "top": 1})
        self.text = book.add_format({"text_wrap": True, "valign": "top"})
        self.good = book.add_format({"bg_color": "#C6EFCE", "font_color": "#006100"})
        self.bad = book.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"})


def _num(value: Decimal | int | None) -> float | int | None:
    """Excel stores IEEE doubles; exact Decimals become the nearest double only in the file."""
    if value is None:
        return None
    return int(value) if isinstance(value, int) else float(value)


def _printable(sheet: Worksheet, header_row: int | None, fit: bool = True) -> Worksheet:
    """Landscape, one page wide (unless charts sit beside the table: they would shrink it to
    nothing), the header repeated on every printed page."""
    sheet.set_landscape()
    if fit:
        sheet.fit_to_pages(1, 0)
    sheet.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    sheet.set_footer("&L&A&RPage &P of &N")
    if header_row is not None:
        sheet.repeat_rows(header_row)
    return sheet


def _header(sheet: Worksheet, row: int, names: Sequence[str], fmt: Any,
            widths: Sequence[int]) -> None:
    for col, (name, width) in enumerate(zip(names, widths, strict=True)):
        sheet.write_string(row, col, name, fmt)
        sheet.set_column(col, col, width)
    sheet.set_row(row, 30)


FORMULA_WIDTH = 70  # characters: the Summary then prints one page wide at a readable size


def _lines(text: str, width: int) -> int:
    """How many lines `text` wraps to in a column `width` characters wide (by whole words; a
    row's height is not computed when the file is opened, so it is set for the wrapped text)."""
    lines, used = 1, 0
    for word in text.split():
        if used and used + 1 + len(word) > width:
            lines, used = lines + 1, len(word)
        else:
            used += len(word) + (1 if used else 0)
    return lines


def _summary(book: Workbook, f: _Formats, data: ReportInput) -> None:
    sheet = _printable(book.add_worksheet("Summary"), 3)
    sheet.write_string(0, 0, "Billing summary", f.title)
    sheet.write_string(1, 0, "As of")
    sheet.write_datetime(1, 1, dt.datetime.combine(data.as_of, dt.time()), f.date)
    _header(sheet, 3, ["Metric", "Value", "Target", "How it is computed"], f.header,
            [40, 14, 9, FORMULA_WIDTH])
    rows = metrics.summary(data)
    for n, metric in enumerate(rows, start=4):
        sheet.write_string(n, 0, metric.name, f.text)
        fmt = {"money": f.money, "percent": f.percent, "days": f.days}.get(metric.kind, f.top)
        value = _num(metric.value)
        if value is None:
            sheet.write_string(n, 1, "n/a", f.top)
        else:
            sheet.write_number(n, 1, value, fmt)
        sheet.write_string(n, 2, metric.target, f.top)
        sheet.write_string(n, 3, metric.formula, f.text)  # one line: `metrics.explain`
        sheet.set_row(n, 15 * _lines(metric.formula, FORMULA_WIDTH * 13 // 10))  # 1.3 a unit
        if metric.target and value is not None:
            op, number = metric.target.split()
            good, bad = (("<", ">="), (">", "<="))[op == ">"]
            cell = f"B{n + 1}"
            sheet.conditional_format(cell, {"type": "cell", "criteria": good,
                                            "value": float(number), "format": f.good})
            sheet.conditional_format(cell, {"type": "cell", "criteria": bad,
                                            "value": float(number), "format": f.bad})
    sheet.freeze_panes(4, 0)
    sheet.autofilter(3, 0, 3 + len(rows), 3)


def _pivot_table(sheet: Worksheet, f: _Formats, table: pd.DataFrame, top: int, left: int,
                 title: str, note: str) -> tuple[int, int, int]:
    """Write a months × keys table under its title and a line saying what it counts; returns
    (first data row, last data row, last column)."""
    sheet.write_string(top, left, title, f.title)
    sheet.write_string(top + 1, left, note, f.note)
    columns = ["Month", *[str(c) for c in table.columns]]
    _header(sheet, top + 2, columns, f.header, [12] + [14] * (len(columns) - 1))
    row = top + 3
    for index, values in table.iterrows():
        is_total = index == "Total"
        if is_total:
            sheet.write_string(row, left, "Total", f.bold)
        else:
            sheet.write_datetime(row, left, dt.datetime.combine(index, dt.time()), f.month)
        for col, value in enumerate(values, start=1):
            fmt = f.money_bold if is_total else f.money_strong if columns[col] == "Total" \
                else f.money
            sheet.write_number(row, left + col, _num(value), fmt)
        row += 1
    return top + 3, row - 2, left + len(columns) - 1


def _value_axis(table: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """The value axis starts at zero (an axis from 2,100 makes a small difference look big);
    only where a column has a negative month (a refund, a credit) does it go below."""
    rows = table.drop(index="Total")
    lowest = min((rows[c].min() for c in columns), default=0)
    return {"min": 0} if lowest >= 0 else {}


CHART_ROWS = 17  # rows a 300 px chart and its gap take


def _column_chart(book: Workbook, sheet: Worksheet, table: pd.DataFrame, rows: tuple[int, int],
                  columns: Sequence[str], title: str, stacked: bool) -> Any:
    first, last = rows
    options = {"type": "column", "subtype": "stacked"} if stacked else {"type": "column"}
    chart = book.add_chart(options)
    for name in columns:
        col = list(table.columns).index(name) + 1
        chart.add_series({"name": [sheet.name, first - 1, col],
                          "categories": [sheet.name, first, 0, last, 0],
                          "values": [sheet.name, first, col, last, col]})
    chart.set_title({"name": title})
    chart.set_x_axis({"num_format": "mmm yy"})
    chart.set_y_axis(_value_axis(table, columns))
    chart.set_size({"width": 720, "height": 300})
    return chart


def _revenue(book: Workbook, f: _Formats, data: ReportInput) -> None:
    """Three tables one under the other (by issue date, by service month, collected), then the
    charts under them, each pair on its own printed page, the whole one page wide."""
    sheet = _printable(book.add_worksheet("Revenue"), None)
    invoiced = tables.revenue_by_package(data)
    first, last, _ = _pivot_table(
        sheet, f, invoiced, 0, 0, "Invoiced by month × package (by issue date)",
        "Each invoice in the month it was issued: December's invoices issued on November 30 "
        "count in November. Before tax; tax and one-off charges in their own columns.")
    service = tables.revenue_by_service_month(data)
    top = last + 4
    _, last_s, _ = _pivot_table(
        sheet, f, service, top, 0, "Billed by service month × package (by service month)",
        "What a bookkeeper books: each line in the month its service period starts, whatever "
        "day it was invoiced; one-off charges in their invoice's month; tax with its line.")
    collected = tables.collected_by_method(data)
    top = last_s + 4
    first2, last2, last_col2 = _pivot_table(
        sheet, f, collected, top, 0, "Collected by month × payment method",
        "Each payment in the month it is dated; refunds and bounced checks subtract.")

    packages = [c for c in invoiced.columns if c not in (tables.CHARGES, tables.TAX, "Total")]
    apart = [c for c in (tables.CHARGES, tables.TAX) if c in invoiced.columns]
    charts = []
    if packages:
        charts.append(_column_chart(book, sheet, invoiced, (first, last), packages,
                                    "Packages invoiced by month (before tax)", stacked=True))
    if apart:
        charts.append(_column_chart(book, sheet, invoiced, (first, last), apart,
                                    "Tax and one-off charges invoiced by month", stacked=False))
    line = book.add_chart({"type": "line"})
    line.add_series({"name": "Collected", "categories": ["Revenue", first2, 0, last2, 0],
                     "values": ["Revenue", first2, last_col2, last2, last_col2],
                     "marker": {"type": "circle"}})
    line.set_title({"name": "Collected by month"})
    line.set_x_axis({"num_format": "mmm yy"})
    line.set_y_axis(_value_axis(collected, ["Total"]))
    line.set_legend({"none": True})
    line.set_size({"width": 720, "height": 300})
    charts.append(line)
    start = last2 + 3
    breaks = []
    for n, chart in enumerate(charts):
        row = start + n * CHART_ROWS
        if n % 2 == 0:  # two charts a page; a row of margin, or a chart's edge shows above
            breaks.append(row - 1)
        sheet.insert_chart(row, 0, chart)
    sheet.set_h_pagebreaks(breaks)
    sheet.freeze_panes(3, 1)


# Text xlsxwriter writes its own way (control characters and literal `_xHHHH_` escaped, a
# "<r>…</r>" kept as rich text, past 32,767 characters cut): a table with any is written cell
# by cell, by xlsxwriter, so that its cells are the same whichever way it is written.
_XLSXWRITER_OWN = re.compile(r"[\x00-\x08\x0b-\x1f]|_x[0-9a-fA-F]{4}_|\A<r>.*</r>\Z", re.S)


def _spliceable(rows: Sequence[Sequence[Any]]) -> bool:
    return not any(isinstance(value, str) and (len(value) > 16000 or _XLSXWRITER_OWN.search(value))
                   for row in rows for value in row)


def _write_row(sheet: Worksheet, n: int, row: Sequence[Any], columns: Sequence[Any]) -> None:
    """One row cell by cell, each in its column's format (a blank where the value is None)."""
    for col, (value, fmt) in enumerate(zip(row, columns, strict=True)):
        if value is None:
            continue
        if isinstance(value, str):
            sheet.write_string(n, col, value, fmt)
        elif isinstance(value, dt.date):
            sheet.write_datetime(n, col, dt.datetime.combine(value, dt.time()), fmt)
        else:
            sheet.write_number(n, col, _num(value), fmt)


def _table_rows(book: Workbook, rows: Sequence[Sequence[Any]],
                columns: Sequence[tuple[Any, Any]]) -> BulkRows | None:
    """The rows of the last sheet's table under its header, from row 2: spliced in once the
    file is written (`splice`, 20 times faster than xlsxwriter: a billing day of 20,000
    clients has as many rows), after a sample row with each column's format; or written cell
    by cell where a text needs xlsxwriter's own way (`_XLSXWRITER_OWN`). `columns`: per
    column, a sample value of its kind and its format."""
    sheet = book.worksheets()[-1]
    if not _spliceable(rows):
        for n, row in enumerate(rows, start=1):
            _write_row(sheet, n, row, [fmt for _, fmt in columns])
        return None
    if not rows:
        return None
    _write_row(sheet, 1, [value for value, _ in columns], [fmt for _, fmt in columns])
    return BulkRows(len(book.worksheets()) - 1, 1, rows)


def _aging(book: Workbook, f: _Formats, data: ReportInput) -> BulkRows | None:
    """One row per client with an open balance (`_table_rows`: a billing day of 20,000 clients
    has nearly as many), then the totals and a chart under them."""
    sheet = _printable(book.add_worksheet("Aging"), 0)
    rows = tables.aging(data)
    names = ["Client", "Name", *tables.BUCKETS, "Total", "Oldest invoice", "Oldest due",
             "Status", "Last payment"]
    _header(sheet, 0, names, f.header, [12, 26, 13, 13, 13, 13, 13, 14, 15, 12, 12, 13])
    total_row = len(rows) + 1
    sheet.write_string(total_row, 0, "Total", f.bold)
    for col in range(2, 8):
        letter = xlsxwriter.utility.xl_col_to_name(col)
        value = sum((r.total if col == 7 else r.buckets[tables.BUCKETS[col - 2]] for r in rows),
                    Decimal("0"))
        sheet.write_formula(total_row, col, f"=SUBTOTAL(9,{letter}2:{letter}{total_row})",
                            f.money_bold, _num(value))
    sheet.freeze_panes(1, 2)
    sheet.autofilter(0, 0, max(1, len(rows)), len(names) - 1)
    chart = book.add_chart({"type": "bar", "subtype": "stacked"})
    for col, name in enumerate(tables.BUCKETS, start=2):
        chart.add_series({"name": name, "categories": ["Aging", total_row, 0, total_row, 0],
                          "values": ["Aging", total_row, col, total_row, col]})
    chart.set_title({"name": "Receivables by age"})
    chart.set_x_axis({"min": 0})  # a bar chart's x axis is its value axis
    chart.set_size({"width": 640, "height": 220})
    sheet.insert_chart(total_row + 2, 0, chart)  # under the table, whole on a page of its own
    sheet.set_h_pagebreaks([total_row + 1])
    text, day, money = ("", None), (dt.date(2000, 1, 1), f.date), (0, f.money)
    return _table_rows(book, [
        (r.client_id, r.name, *(r.buckets[name] for name in tables.BUCKETS), r.total,
         r.oldest_invoice, r.oldest_due, r.status, r.last_payment) for r in rows],
        [text, text, *[money] * 6, text, day, text, day])


def _outstanding(book: Workbook, f: _Formats, data: ReportInput) -> BulkRows | None:
    """Every open invoice (`_table_rows`)."""
    sheet = _printable(book.add_worksheet("Outstanding"), 0)
    rows = tables.outstanding(data)
    names = ["Invoice", "Client", "Name", "Issued", "Due", "Total", "Paid", "Balance",
             "Days overdue", "Reminder stage"]
    _header(sheet, 0, names, f.header, [13, 12, 26, 12, 12, 13, 13, 13, 10, 18])
    sheet.freeze_panes(1, 1)
    sheet.autofilter(0, 0, max(1, len(rows)), len(names) - 1)
    text, day, money = ("", None), (dt.date(2000, 1, 1), f.date), (0, f.money)
    return _table_rows(book, [
        (r.invoice_number, r.client_id, r.name, r.issue_date, r.due_date, r.total, r.paid,
         r.balance, r.days_overdue, r.reminder_stage) for r in rows],
        [text, text, text, day, day, money, money, money, (0, None), text])


def _history(book: Workbook, f: _Formats, data: ReportInput) -> BulkRows | None:
    """Per client a brought-forward line, then one row per invoice and payment of the months
    shown; xlsxwriter writes the first as the sample row, `splice` writes them all (a year of
    20,000 clients is half a million rows)."""
    sheet = _printable(book.add_worksheet("Client history"), 0)
    rows = tables.client_history(data)
    names = ["Client", "Name", "Date", "Kind", "Reference", "Charged", "Paid", "Balance"]
    _header(sheet, 0, names, f.header, [12, 26, 12, 15, 24, 13, 13, 13])
    sheet.freeze_panes(1, 2)
    sheet.autofilter(0, 0, max(1, len(rows)), len(names) - 1)
    if not rows:
        return None
    first = rows[0]
    for col, fmt in ((0, None), (1, None), (3, None), (4, None)):
        sheet.write_string(1, col, "", fmt)
    sheet.write_datetime(1, 2, dt.datetime.combine(first.date, dt.time()), f.date)
    for col in (5, 6, 7):
        sheet.write_number(1, col, 0, f.money)
    return BulkRows(len(book.worksheets()) - 1, 1, rows)


def new_file_mode() -> int:
    """The mode a file the owner creates gets: 0o644 less the umask (rw-r--r-- by default)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o644 & ~umask


def write_report(data: ReportInput, folder: Path, mode: int | None = None) -> Path:
    """Write `reports/ispsheets-report-YYYY-MM-DD.xlsx`, replacing one of that date atomically,
    readable like the workbook: with `mode` (the workbook's), else `new_file_mode()`."""
    folder.mkdir(parents=True, exist_ok=True)
    target = report_path(folder, data.as_of)
    fd, temp = tempfile.mkstemp(prefix=".report-", suffix=".xlsx", dir=folder)
    os.close(fd)
    try:
        book = xlsxwriter.Workbook(temp, {"constant_memory": False,
                                          "default_date_format": "yyyy-mm-dd"})
        book.set_properties({"title": f"ispsheets report {data.as_of}",
                             "created": dt.datetime.combine(data.as_of, dt.time())})
        formats = _Formats(book, data.currency)
        _summary(book, formats, data)
        _revenue(book, formats, data)
        long_tables = [_aging(book, formats, data), _outstanding(book, formats, data),
                       _history(book, formats, data)]
        book.close()
        splice(Path(temp), [table for table in long_tables if table is not None])
        os.chmod(temp, new_file_mode() if mode is None else mode)
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return target
