"""`ispsheets init --google-sheet KEY`: the starter workbook's tabs, built in an empty Google
Sheet from the same declarations as the `.xlsx` template (schema.py, template.py).

One `spreadsheets:batchUpdate` adds the Instructions tab and every schema tab with its headers
(owner blue, tool grey, a note on each saying what the column means), frozen header row, column
widths, number formats and dropdown validation, and removes the blank tabs a new sheet comes
with; sample rows (`--demo N`) follow in one RAW `values:batchUpdate`. A sheet that holds any
value is refused: nothing of the owner's is ever overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ispsheets.book.gsheets_api import SheetsApi
from ispsheets.book.gsheets_backend import grid_tabs, quote
from ispsheets.book.gsheets_values import NUMBER_FORMATS, to_json
from ispsheets.book.schema import TABS, TABS_BY_NAME, Column, Tab, Who, column_letter
from ispsheets.book.template import (
    BRAND,
    INSTRUCTION_LINES,
    INSTRUCTIONS,
    TOOL_CELL,
    TOOL_GREY,
    header_note,
    validation_for,
)

ROWS = 1000
FIRST_ID = 1001  # sheet ids of the tabs added (a new sheet's own tab is 0)


class SheetNotEmpty(Exception):
    """The sheet already holds values: `where` names the first tab that does."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


def _rgb(hex_color: str) -> dict[str, float]:
    value = hex_color.lstrip("#")
    return {name: int(value[i:i + 2], 16) / 255 for name, i in
            (("red", 0), ("green", 2), ("blue", 4))}


def _text(value: str, **fmt: Any) -> dict[str, Any]:
    cell: dict[str, Any] = {"userEnteredValue": {"stringValue": value}}
    if fmt:
        cell["userEnteredFormat"] = fmt
    return cell


def _validation_rule(column: Column) -> dict[str, Any] | None:
    """template.validation_for's check in Sheets' DataValidationRule terms (warnings only)."""
    check = validation_for(column)
    if check is None:
        return None
    rule: dict[str, Any] = {"strict": False, "inputMessage": check.get("error_message", "")}
    if check["validate"] == "list":
        source = check["source"]
        if isinstance(source, str):  # a named list: the referenced tab's key column
            tab = TABS_BY_NAME[column.references or ""]
            letter = column_letter(tab.columns.index(tab.column(tab.key or "")))
            condition = {"type": "ONE_OF_RANGE",
                         "values": [{"userEnteredValue": f"={quote(tab.name)}!"
                                                         f"${letter}$2:${letter}"}]}
        else:
            condition = {"type": "ONE_OF_LIST",
                         "values": [{"userEnteredValue": str(v)} for v in source]}
        rule["showCustomUi"] = True
    else:
        condition = {"type": "NUMBER_BETWEEN",
                     "values": [{"userEnteredValue": str(check["minimum"])},
                                {"userEnteredValue": str(check["maximum"])}]}
    rule["condition"] = condition
    return rule


def _tab_requests(tab: Tab, sheet_id: int, index: int, brand: str, rows: int
                  ) -> list[dict[str, Any]]:
    width = len(tab.columns)
    props: dict[str, Any] = {"sheetId": sheet_id, "title": tab.name, "index": index,
                             "gridProperties": {"rowCount": rows, "columnCount": width,
                                                "frozenRowCount": 1}}
    if tab.tool_tab:
        props["tabColor"] = _rgb(TOOL_GREY)
    requests: list[dict[str, Any]] = [{"addSheet": {"properties": props}}]
    header = []
    for column in tab.columns:
        tool = column.who is Who.TOOL
        cell = _text(column.name, textFormat={"bold": True, "foregroundColor": _rgb("#FFFFFF")},
                     backgroundColor=_rgb(TOOL_GREY if tool else brand))
        if note := header_note(column):
            cell["note"] = note
        header.append(cell)
    requests.append({"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": 0,
                                               "columnIndex": 0},
                                     "rows": [{"values": header}],
                                     "fields": "userEnteredValue,userEnteredFormat,note"}})
    for col, column in enumerate(tab.columns):
        cells = {"sheetId": sheet_id, "startRowIndex": 1, "endRowIndex": rows,
                 "startColumnIndex": col, "endColumnIndex": col + 1}
        fmt: dict[str, Any] = {}
        if column.kind in NUMBER_FORMATS:
            fmt["numberFormat"] = dict(NUMBER_FORMATS[column.kind])
        if column.who is Who.TOOL and not tab.tool_tab:
            fmt["backgroundColor"] = _rgb(TOOL_CELL)
        if fmt:
            requests.append({"repeatCell": {"range": cells, "cell": {"userEnteredFormat": fmt},
                                            "fields": ",".join(f"userEnteredFormat.{k}"
                                                               for k in fmt)}})
        if rule := _validation_rule(column):
            requests.append({"setDataValidation": {"range": cells, "rule": rule}})
        requests.append({"updateDimensionProperties": {
            "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": col,
                      "endIndex": col + 1},
            "properties": {"pixelSize": column.width * 7 + 10}, "fields": "pixelSize"}})
    return requests


def _instructions(sheet_id: int, brand: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for style, text in INSTRUCTION_LINES:
        if style == "head":
            rows.append({"values": [{}]})
        size = {"title": 16, "head": 12}.get(style)
        fmt = {"textFormat": {"bold": True, "fontSize": size, "foregroundColor": _rgb(brand)}} \
            if size else {"wrapStrategy": "WRAP"}
        rows.append({"values": [_text(text, **fmt)]})
    return [
        {"addSheet": {"properties": {"sheetId": sheet_id, "title": INSTRUCTIONS, "index": 0,
                                     "gridProperties": {"rowCount": max(len(rows), 50),
                                                        "columnCount": 1}}}},
        {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                         "rows": rows, "fields": "userEnteredValue,userEnteredFormat"}},
        {"updateDimensionProperties": {
            "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": 0,
                      "endIndex": 1}, "properties": {"pixelSize": 780}, "fields": "pixelSize"}},
    ]


def template_requests(blank_tabs: Sequence[int], brand: str = BRAND, rows: int = ROWS
                      ) -> list[dict[str, Any]]:
    """The batchUpdate requests that turn a blank sheet into the starter workbook."""
    requests = _instructions(FIRST_ID, brand)
    for number, tab in enumerate(TABS, start=1):
        requests += _tab_requests(tab, FIRST_ID + number, number, brand, rows)
    requests += [{"deleteSheet": {"sheetId": sheet_id}} for sheet_id in blank_tabs]
    return requests


def demo_values(rows: Mapping[str, Sequence[Sequence[object]]]) -> list[dict[str, Any]]:
    """Sample rows (schema column order) as RAW value ranges under each tab's header."""
    data = []
    for name, tab_rows in rows.items():
        if not tab_rows:
            continue
        width = len(TABS_BY_NAME[name].columns)
        data.append({"range": f"{quote(name)}!A2:{column_letter(width - 1)}{len(tab_rows) + 1}",
                     "majorDimension": "ROWS",
                     "values": [[None if v is None else to_json(v) for v in r]  # type: ignore[arg-type]
                                for r in tab_rows]})
    return data


def fill_sheet(api: SheetsApi, demo_rows: Mapping[str, Sequence[Sequence[object]]] | None,
               brand: str = BRAND) -> str:
    """Build the starter workbook in the (empty) sheet; its title. Raises SheetNotEmpty when a
    tab holds a value, before anything is written."""
    metadata = api.metadata()
    tabs = grid_tabs(metadata)
    found = api.batch_get([quote(t.title) for t in tabs]) if tabs else []
    for tab, value_range in zip(tabs, found, strict=True):
        if any(v not in ("", None) for row in value_range.get("values", []) for v in row):
            raise SheetNotEmpty(tab.title)
    rows = max([ROWS, *(len(r) + 1 for r in (demo_rows or {}).values())])
    api.batch_update(template_requests([t.sheet_id for t in tabs], brand, rows))
    if demo_rows:
        api.values_update(demo_values(demo_rows), "RAW")
    return str(metadata.get("properties", {}).get("title", ""))
