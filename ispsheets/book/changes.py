"""A change set: what the tool writes back, each row located by its key, never by its position.

Backends (`.xlsx`, Google Sheets) apply a change set in this order: key fills, then cell sets,
then appends; row deletions (the archive's) come in a change set of their own. Missing tool
tabs and columns are created on the way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

Value = str | Decimal | int | dt.date | dt.datetime | None


@dataclass(frozen=True)
class SetCell:
    """Set `column` of every row of `tab` whose key column holds `key` (tool columns only)."""

    tab: str
    key: str
    column: str
    value: Value


@dataclass(frozen=True)
class FillKey:
    """Fill a blank `charge_id`/`payment_id` in the row read at `row`, if it still shows `expect`.

    `expect` holds owner cells of that row as the tool read them (normalised text); a row that
    no longer matches is left alone, and the next run tries again.
    """

    tab: str
    row: int
    column: str
    value: str
    expect: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expect", MappingProxyType(dict(self.expect)))


@dataclass(frozen=True)
class AppendRow:
    """A new row at the end of `tab`; columns not named stay blank."""

    tab: str
    values: Mapping[str, Value] = field(hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))


@dataclass(frozen=True)
class DeleteRow:
    """Remove the row read at `row` of `tab` if it still shows `expect` (the rows below move
    up). Only the archive moves rows out of the workbook (`ispsheets.archive`); `expect` holds
    the row's key cells as the tool read them, normalised like `FillKey.expect`."""

    tab: str
    row: int
    expect: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expect", MappingProxyType(dict(self.expect)))


@dataclass(frozen=True)
class ChangeSet:
    fills: tuple[FillKey, ...] = ()
    sets: tuple[SetCell, ...] = ()
    appends: tuple[AppendRow, ...] = ()
    deletes: tuple[DeleteRow, ...] = ()
    # A write that deletes rows drops the shared strings no cell uses any more
    # (`xlsx_compact`); off for a round of the archive's move that more rounds follow (the
    # last one drops them: holding every rewritten sheet for it costs memory in each round).
    compact: bool = True

    def __bool__(self) -> bool:
        return bool(self.fills or self.sets or self.appends or self.deletes)

    def __add__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(self.fills + other.fills, self.sets + other.sets,
                         self.appends + other.appends, self.deletes + other.deletes)

    def tabs(self) -> set[str]:
        return ({f.tab for f in self.fills} | {s.tab for s in self.sets}
                | {a.tab for a in self.appends} | {d.tab for d in self.deletes})


@dataclass(frozen=True)
class WriteResult:
    """What a backend did: cells written, rows appended, and keys it could not find."""

    cells_set: int = 0
    keys_filled: int = 0
    rows_appended: int = 0
    missing_keys: tuple[SetCell, ...] = ()
    unmatched_fills: tuple[FillKey, ...] = ()
    backup: str = ""
    rows_deleted: int = 0


class WorkbookWriteError(Exception):
    """The workbook could not be written (locked, read-only, unreachable): exit 3, nothing lost."""

    def __init__(self, where: str, message: str, fix: str) -> None:
        super().__init__(f"{where}: {message} — {fix}")
        self.where, self.message, self.fix = where, message, fix


@dataclass
class WriteTally:
    """What a backend's write did so far, counted as it goes (becomes a WriteResult)."""

    cells_set: int = 0
    keys_filled: int = 0
    rows_appended: int = 0
    rows_deleted: int = 0
    unmatched_deletes: list[DeleteRow] = field(default_factory=list)
    missing_keys: list[SetCell] = field(default_factory=list)
    unmatched_fills: list[FillKey] = field(default_factory=list)
