"""The rows of the tabs the archive works on, with their sheet row numbers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ispsheets.book import parse
from ispsheets.book.reader import RawBook, RawSheet
from ispsheets.book.schema import TABS_BY_NAME, find_tab, normalise_header

# The tabs rows move out of, in the order they are removed.
ARCHIVED_TABS = ("Invoices", "InvoiceLines", "Charges", "Payments", "Activity")

# The cells a row is keyed and dated by (`plan.row_key`, `plan.expect_of`, the plan's dates):
# all a move needs of a row that stays.
KEY_COLUMNS = {"Invoices": ("invoice_number",), "InvoiceLines": ("invoice_number", "line"),
               "Charges": ("charge_id", "date"), "Payments": ("payment_id", "date"),
               "Activity": ("timestamp", "action", "client_id", "invoice_number", "detail")}


@dataclass(frozen=True)
class SheetRow:
    """One row as read: schema columns by their schema name, other columns by their header."""

    tab: str
    row: int  # 1-based sheet row
    values: Mapping[str, object] = field(hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def text(self, column: str) -> str:
        value = self.values.get(column)
        return "" if parse.is_blank(value) else parse.parse_text(value)


class TabRows:
    """One tab's non-blank rows below the header, made one at a time as they are used (none
    kept): whole (`rows`), or with their key cells alone (`key_cells`, the cheap pass over a long
    tab that finds the few rows a move needs whole, `at`)."""

    def __init__(self, raw: RawBook, tab_name: str) -> None:
        self.tab = tab_name
        tab = TABS_BY_NAME[tab_name]
        name = find_tab(raw.names, tab)
        self._sheet: RawSheet | None = raw.sheets[name] if name is not None else None
        by_header = {normalise_header(c.name): c.name for c in tab.columns}
        names: list[str | None] = []
        for text in self._sheet.header if self._sheet is not None else ():
            if parse.is_blank(text):
                names.append(None)
                continue
            header = parse.parse_text(text)
            names.append(by_header.get(normalise_header(header), header))
        self._named = [(n, i) for i, n in enumerate(names) if n is not None]
        self._keyed = [(n, i) for n, i in self._named if n in KEY_COLUMNS[tab_name]]

    def _cells(self) -> list[list[object]]:
        return self._sheet.rows if self._sheet is not None else []

    def _values(self, cells: list[object]) -> dict[str, object]:
        width = len(cells)
        return {n: cells[i] for n, i in self._named
                if i < width and not parse.is_blank(cells[i])}

    def rows(self) -> Iterator[SheetRow]:
        """Every non-blank row, whole."""
        rows = self._cells()
        for index in range(1, len(rows)):
            values = self._values(rows[index])
            if values:
                yield SheetRow(self.tab, index + 1, values)

    def key_cells(self) -> Iterator[SheetRow]:
        """Every non-blank row (the same rows as `rows`) with its `KEY_COLUMNS` cells alone."""
        rows = self._cells()
        for index in range(1, len(rows)):
            cells = rows[index]
            width = len(cells)
            values = {n: cells[i] for n, i in self._keyed
                      if i < width and not parse.is_blank(cells[i])}
            if values or any(i < width and not parse.is_blank(cells[i])
                             for _, i in self._named):
                yield SheetRow(self.tab, index + 1, values)

    def at(self, row: int) -> SheetRow:
        """Sheet row `row` (a number `rows` or `key_cells` gave), whole."""
        return SheetRow(self.tab, row, self._values(self._cells()[row - 1]))


def sheet_rows(raw: RawBook, tab_name: str) -> list[SheetRow]:
    """Every non-blank row below the header of a tab ([] if the workbook has no such tab)."""
    return list(TabRows(raw, tab_name).rows())


def all_rows(raw: RawBook) -> dict[str, list[SheetRow]]:
    return {tab: sheet_rows(raw, tab) for tab in ARCHIVED_TABS}
