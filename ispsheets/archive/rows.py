"""The rows of the tabs the archive works on, with their sheet row numbers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ispsheets.book import parse
from ispsheets.book.reader import RawBook
from ispsheets.book.schema import TABS_BY_NAME, find_tab, normalise_header

# The tabs rows move out of, in the order they are removed.
ARCHIVED_TABS = ("Invoices", "InvoiceLines", "Charges", "Payments", "Activity")


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


def sheet_rows(raw: RawBook, tab_name: str) -> list[SheetRow]:
    """Every non-blank row below the header of a tab ([] if the workbook has no such tab)."""
    tab = TABS_BY_NAME[tab_name]
    name = find_tab(raw.names, tab)
    if name is None:
        return []
    sheet = raw.sheets[name]
    by_header = {normalise_header(c.name): c.name for c in tab.columns}
    names: list[str | None] = []
    for text in sheet.header:
        if parse.is_blank(text):
            names.append(None)
            continue
        header = parse.parse_text(text)
        names.append(by_header.get(normalise_header(header), header))
    rows = []
    for index, cells in enumerate(sheet.rows[1:], start=2):
        values = {n: v for n, v in zip(names, cells, strict=False)
                  if n is not None and not parse.is_blank(v)}
        if values:
            rows.append(SheetRow(tab_name, index, values))
    return rows


def all_rows(raw: RawBook) -> dict[str, list[SheetRow]]:
    return {tab: sheet_rows(raw, tab) for tab in ARCHIVED_TABS}
