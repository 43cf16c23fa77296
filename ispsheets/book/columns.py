"""One column of a tab as read: every cell under a header, found by the header's name."""

from __future__ import annotations

from ispsheets.book.reader import RawBook
from ispsheets.book.schema import TABS_BY_NAME, find_tab, normalise_header


def column_values(raw: RawBook, tab_name: str, column: str) -> list[object]:
    """Every cell under `column` in a tab (below the header), or [] if there is none."""
    name = find_tab(raw.names, TABS_BY_NAME[tab_name])
    if name is None:
        return []
    sheet = raw.sheets[name]
    wanted = normalise_header(column)
    index = next((i for i, h in enumerate(sheet.header) if normalise_header(h) == wanted), None)
    if index is None:
        return []
    return [row[index] if index < len(row) else None for row in sheet.rows[1:]]
