"""Read every tab of a workbook in one pass, exactly as laid out (row 1 = header row)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class RawSheet:
    """One tab's cells as raw values; `rows[0]` is sheet row 1. Blank rows are kept."""

    name: str
    rows: list[list[object]] = field(hash=False, compare=False)

    @property
    def header(self) -> list[object]:
        return self.rows[0] if self.rows else []


@dataclass(frozen=True)
class RawBook:
    """All tabs of a workbook, in workbook order."""

    sheets: dict[str, RawSheet] = field(hash=False, compare=False)

    @property
    def names(self) -> list[str]:
        return list(self.sheets)


def _clean(value: object) -> object:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def raw_sheet_from_frame(name: str, frame: pd.DataFrame) -> RawSheet:
    rows = [[_clean(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    while rows and all(v is None or v == "" for v in rows[-1]):
        rows.pop()
    return RawSheet(name, rows)


def read_xlsx(path: Path) -> RawBook:
    """All tabs through pandas' calamine engine, as objects (no type guessing: `00123` stays)."""
    frames = pd.read_excel(path, sheet_name=None, header=None, dtype=object, engine="calamine",
                           na_filter=False)
    return RawBook({name: raw_sheet_from_frame(name, frame) for name, frame in frames.items()})
