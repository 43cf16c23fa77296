"""The starter workbook, built from the one schema declaration (`ispsheets/book/schema.py`).

`sheet_templates/isp-template.xlsx` is this function's output; regenerate it with
`python -m ispsheets.book.template` after changing the schema (a test fails until you do).
xlsxwriter writes it, fast enough for a demo of 20,000 clients.
"""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from ispsheets.book.schema import (
    CLIENTS,
    PACKAGES,
    PAYMENT_METHODS,
    TABS,
    TABS_BY_NAME,
    Column,
    Kind,
    Tab,
    Who,
    column_letter,
)

BRAND = "#1F4E79"
TOOL_GREY = "#7F7F7F"
TOOL_CELL = "#F2F2F2"  # background of a tool column's cells on an owner tab
LAST_ROW = 1_048_575  # 0-based: validations and formats cover the whole column
TEMPLATE_PATH = Path("sheet_templates/isp-template.xlsx")
INSTRUCTIONS = "Instructions"
INSTRUCTIONS_WIDTH = 88  # characters of an Instructions line: fits a portrait page in print
TOOL_NOTE = "Written by ispsheets: read it, do not type here (edits may be overwritten)."

NUMBER_FORMATS: Mapping[Kind, str] = {
    Kind.MONEY: "#,##0.00", Kind.DATE: "yyyy-mm-dd", Kind.DATETIME: "yyyy-mm-dd hh:mm",
    # A plain number shown with a % sign: 8.25 stays 8.25 (Excel's 0.00% would store 0.0825).
    Kind.PERCENT: '0.00"%"', Kind.INT: "0",
    # Text keeps ids and phone numbers exactly as typed: 00123 stays 00123.
    Kind.KEY: "@", Kind.TEXT: "@", Kind.EMAILS: "@",
}

# Named ranges that follow the key column of a tab as it grows (no blanks in the dropdown).
LIST_NAMES = {PACKAGES.name: "package_ids", CLIENTS.name: "client_ids"}


def _list_range(tab: Tab) -> str:
    key = column_letter(tab.columns.index(tab.column(tab.key or "")))
    return (f"=OFFSET('{tab.name}'!${key}$2,0,0,"
            f"MAX(1,COUNTA('{tab.name}'!${key}:${key})-1),1)")


def validation_for(column: Column) -> dict[str, Any] | None:
    """The dropdown or range check for a column, in xlsxwriter's terms (None: no check).

    Every check only warns: the owner may still type `Y` for yes, and `ispsheets check` is
    the real judge.
    """
    base = {"ignore_blank": True, "error_type": "warning", "error_title": column.name}
    if column.references in LIST_NAMES:
        return {**base, "validate": "list", "source": "=" + LIST_NAMES[column.references],
                "error_message": f"Not a {column.name} from the {column.references} tab "
                                 "(yet). Keep it anyway?"}
    if column.kind in (Kind.CHOICE, Kind.BOOL) and column.choices:
        choices = ", ".join(column.choices)
        return {**base, "validate": "list", "source": list(column.choices),
                "error_message": f"ispsheets expects one of: {choices}. Keep it anyway?"}
    if column.name == "method":
        return {**base, "validate": "list", "source": list(PAYMENT_METHODS),
                "error_type": "information",
                "error_message": "Not one of the usual methods; that is fine."}
    if column.name == "billing_day":
        return {**base, "validate": "integer", "criteria": "between", "minimum": 1,
                "maximum": 28, "error_message": "Billing day must be 1 to 28 (or blank)."}
    if column.kind is Kind.PERCENT:
        return {**base, "validate": "decimal", "criteria": "between", "minimum": 0,
                "maximum": 100, "error_message": "Type a percent from 0 to 100, e.g. 8.25."}
    return None


def header_note(column: Column) -> str:
    """The comment on a header cell: what the column means and who writes it."""
    lines = [column.help[:1].upper() + column.help[1:] + "." if column.help else ""]
    kind_hint = {Kind.MONEY: "An amount, e.g. 49.99.", Kind.DATE: "A date, e.g. 2026-12-01.",
                 Kind.PERCENT: "A percent: 8.25 means 8.25 %.", Kind.BOOL: "Yes or no."}
    if column.references:
        lines.append(f"A {column.name} from the {column.references} tab.")
    elif column.kind is Kind.CHOICE:
        lines.append(f"One of: {', '.join(column.choices)}.")
    elif column.kind in kind_hint:
        lines.append(kind_hint[column.kind])
    if column.who is Who.TOOL:
        lines.append(TOOL_NOTE)
    elif column.who is Who.BOTH:
        lines.append("You type it; ispsheets also sets it (see the Instructions tab).")
    return "\n".join(line for line in lines if line)


INSTRUCTION_LINES: tuple[tuple[str, str], ...] = (
    ("title", "Your billing workbook"),
    ("", "Type your plans, clients and services here; ispsheets invoices, emails, collects "
         "and writes the results back every day."),
    ("head", "The tabs"),
    *(("", f"{tab.name}: {tab.help}") for tab in TABS),
    ("head", "Whose columns"),
    ("", "Blue headers are yours: type in them; ispsheets never changes them."),
    ("", "Grey headers are written by ispsheets (Invoices, InvoiceLines and Activity are all "
         "grey): read them, do not type there."),
    ("", "Hover over a header to see what the column means. Header names, column order and "
         "row order are free: sort as you like, and add your own columns and tabs."),
    ("head", "Every day"),
    ("", "The daily `ispsheets run` issues the invoices that are due, emails them, applies "
         "the payments on the Payments tab, sends reminders, adds late fees, suspends and "
         "reconnects, and fills in the grey columns."),
    ("", "Record every payment you receive on the Payments tab. With Stripe set up (see "
         "the README), card payments and autopay are added there by the run itself."),
    ("", "If the workbook is open in Excel during a run, nothing is lost: the next run "
         "completes the write."),
    ("", "Run `ispsheets check` after editing: it lists every problem by cell, e.g. "
         "Services!D7, with how to fix it."),
    ("head", "How do I"),
    ("", "Add a client: a row on Clients, then a row on Services (start_date = first day)."),
    ("", "Change a plan: type an end_date on the old Services row and add a new row."),
    ("", "Record a payment: a row on Payments (date, client_id, amount)."),
    ("", "Charge or credit once: a row on Charges (a negative amount is a credit)."),
    ("", "Cancel an invoice: set its status to void on the Invoices tab. Never delete an "
         "Invoices row; ispsheets would write it back."),
    ("", "Send a held invoice: ispsheets holds an invoice far above what the client normally "
         "pays (status held, not sent). Check it, then set its status to open to send it, or "
         "void to cancel it."),
    ("", "Let a client go: an end_date on each of their services, then status cancelled."),
)


class _Formats:
    """The workbook's cell formats, created once."""

    def __init__(self, book: xlsxwriter.Workbook, brand: str) -> None:
        header = {"bold": True, "font_color": "#FFFFFF", "valign": "vcenter", "border": 1,
                  "border_color": "#BFBFBF"}
        self.owner_header = book.add_format({**header, "bg_color": brand})
        self.tool_header = book.add_format({**header, "bg_color": TOOL_GREY})
        self.title = book.add_format({"bold": True, "font_size": 16, "font_color": brand})
        self.head = book.add_format({"bold": True, "font_size": 12, "font_color": brand})
        self.text = book.add_format({"valign": "top"})
        self.columns: dict[tuple[Kind, bool], Any] = {}
        for kind in Kind:
            for tool in (False, True):
                spec: dict[str, Any] = {}
                if kind in NUMBER_FORMATS:
                    spec["num_format"] = NUMBER_FORMATS[kind]
                if tool:
                    spec["bg_color"] = TOOL_CELL
                self.columns[kind, tool] = book.add_format(spec) if spec else None


def _write_instructions(sheet: Worksheet, formats: _Formats) -> None:
    """One printed line per row, wrapped here: a cell that wraps by itself overlaps the next
    row in LibreOffice (it keeps the row's stored height), and a wide column is cut in print."""
    sheet.set_column(0, 0, INSTRUCTIONS_WIDTH + 8, formats.text)
    sheet.hide_gridlines(2)
    sheet.set_portrait()
    sheet.fit_to_pages(1, 0)  # as wide as one page, as many pages long as it takes
    row = 0
    for style, text in INSTRUCTION_LINES:
        if style == "head":
            row += 1
        if style in ("title", "head"):
            sheet.set_row(row, 24 if style == "title" else 18)
            sheet.write_string(row, 0, text, formats.title if style == "title" else formats.head)
            row += 1
            continue
        for line in textwrap.wrap(text, INSTRUCTIONS_WIDTH, subsequent_indent="  "):
            sheet.write_string(row, 0, line, formats.text)
            row += 1
    sheet.activate()


def _write_tab(sheet: Worksheet, tab: Tab, formats: _Formats,
               rows: Sequence[Sequence[object]]) -> None:
    if tab.tool_tab:
        sheet.set_tab_color(TOOL_GREY)
    for index, column in enumerate(tab.columns):
        tool = column.who is Who.TOOL
        grey_cells = tool and not tab.tool_tab
        sheet.set_column(index, index, column.width, formats.columns[column.kind, grey_cells])
        sheet.write_string(0, index, column.name,
                           formats.tool_header if tool else formats.owner_header)
        if note := header_note(column):
            sheet.write_comment(0, index, note,
                                {"author": "ispsheets", "x_scale": 2.2, "y_scale": 1.1})
        if check := validation_for(column):
            sheet.data_validation(1, index, LAST_ROW, index, check)
    sheet.set_row(0, 20)
    sheet.freeze_panes(1, 0)
    for number, row in enumerate(rows, start=1):
        sheet.write_row(number, 0, row)


def build_template(path: Path, *, demo_rows: Mapping[str, Sequence[Sequence[object]]] | None
                   = None, brand_color: str = BRAND) -> Path:
    """Write the starter workbook to `path`: an Instructions tab, then one tab per schema tab.

    `demo_rows` maps tab names to rows in the schema's column order (see `ispsheets.demo`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {
        "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
        "default_date_format": NUMBER_FORMATS[Kind.DATE]})
    book.set_properties({"title": "ispsheets workbook", "author": "ispsheets",
                         "created": dt.datetime(2026, 1, 1)})
    formats = _Formats(book, brand_color)
    _write_instructions(book.add_worksheet(INSTRUCTIONS), formats)
    for tab in TABS:
        _write_tab(book.add_worksheet(tab.name), tab, formats,
                   (demo_rows or {}).get(tab.name, ()))
    for tab_name, name in LIST_NAMES.items():
        book.define_name(name, _list_range(TABS_BY_NAME[tab_name]))
    book.close()
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m ispsheets.book.template [PATH]`: rewrite the committed template."""
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0]) if args else TEMPLATE_PATH
    print(f"wrote {build_template(target)}")


if __name__ == "__main__":
    main()
