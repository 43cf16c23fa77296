"""The move itself, key first: the journal keys every row (`copying`), the rows are appended
to the year's archive workbook, part by part (`parts`; `copied` with each part's digest and
row counts), then removed from the workbook (`removed`).

A kill anywhere leaves rows in one of those states, and the next run finishes them: a row
still `copying` is appended only if no part of its year shows its key yet, a row
`copied` is removed from the workbook only where it is still found by its key. So a row is
never lost and never shown twice once the move is done.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ispsheets.archive import parts
from ispsheets.archive.plan import Move, expect_of, keyed
from ispsheets.archive.rows import ARCHIVED_TABS, TabRows
from ispsheets.archive.values import decode_row, encode_row
from ispsheets.book.backend import Backend
from ispsheets.book.cell_types import typed_row
from ispsheets.book.changes import AppendRow, ChangeSet, DeleteRow
from ispsheets.book.parse import DateOrder
from ispsheets.book.reader import RawBook, read_xlsx
from ispsheets.config import Config
from ispsheets.faults import checkpoint
from ispsheets.journal import ArchivedRow, Journal


@dataclass
class Moved:
    """What a move did: rows per tab, and the archive files written."""

    rows: Counter[str] = field(default_factory=Counter)
    files: dict[Path, Counter[str]] = field(default_factory=dict)
    removed: int = 0


def key_first(journal: Journal, moves: Sequence[Move], now: dt.datetime) -> None:
    journal.begin_archive((ArchivedRow(m.tab, m.key, m.year, encode_row(m.values))
                           for m in moves), now)


def shown_keys(raw: RawBook, order: DateOrder) -> dict[str, set[str]]:
    """The keys of the rows a workbook (or an archive file) shows, by tab."""
    return {tab: {key for key, _ in keyed(TabRows(raw, tab).key_cells(), order)}
            for tab in ARCHIVED_TABS}


def copy_to_archive(config: Config, journal: Journal, now: dt.datetime,
                    moved: Moved) -> None:
    """Append every row still `copying` to its year's last part (unless a part shows it
    already), going on in a new part when a tab would pass `parts.PART_ROWS` (`parts`)."""
    from ispsheets.book.xlsx_backend import fingerprint

    order = config.workbook.date_order
    by_year: dict[int, list[ArchivedRow]] = {}
    for row in journal.archived("copying"):
        by_year.setdefault(row.year, []).append(row)
    for year, rows in sorted(by_year.items()):
        paths = parts.year_parts(config, year)
        changed = [p for p in paths if fingerprint(p) != journal.archive_file_digest(p.name)]
        used: dict[str, int] | None = None
        if changed:
            # changed since the archive last wrote them (a kill before their rows were marked
            # copied, the owner, a journal put back): they may show some of these rows already
            books = [(path, read_xlsx(path)) for path in paths]
            present = {tab: {key for key, _, _ in parts.year_rows(books, tab, order)}
                       for tab in ARCHIVED_TABS}
            rows = [r for r in rows if r.key not in present[r.tab]]
            used = parts.rows_used(books[-1][1])
        elif paths:
            used = journal.archive_file_rows(paths[-1].name)
            if used is None:  # written before the archive counted them
                used = parts.rows_used(read_xlsx(paths[-1]))
        chunks = parts.split_into_parts(_in_tab_order(rows), used or {}, parts.PART_ROWS)
        kept = {(r.tab, r.key) for r in rows}
        shown = [(r.tab, r.key) for r in by_year[year] if (r.tab, r.key) not in kept]
        for index, chunk in enumerate(chunks):
            copied = [(r.tab, r.key) for r in chunk] + (shown if index == 0 else [])
            if not copied:
                continue  # the last part is full: the rows start the next one
            path = paths[-1] if index == 0 and paths else parts.next_part(config, year)
            reach = parts.reach_after((used or {}) if index == 0 else {}, chunk)
            _append(config, path, chunk, now)
            checkpoint("archive-appended")
            journal.copied_to(copied, path.name, fingerprint(path), now, reach)
            moved.files.setdefault(path, Counter()).update(t for t, _ in copied)
            moved.rows.update(t for t, _ in copied)


def _append(config: Config, path: Path, rows: Sequence[ArchivedRow], now: dt.datetime) -> None:
    """Append `rows` (in tab order) to the archive part at `path` (made if new)."""
    from ispsheets.book.template import build_template
    from ispsheets.book.xlsx_backend import apply_changes

    if not path.exists():  # made whole beside it, then put in place: a kill leaves none
        temp = path.with_name(f".{path.stem}.new.xlsx")
        build_template(temp)
        temp.replace(path)
    appends = tuple(AppendRow(r.tab, typed_row(r.tab, decode_row(r.values))) for r in rows)
    if appends:
        apply_changes(path, ChangeSet(appends=appends), backup_dir=path.parent / "backups",
                      keep_backups=config.workbook.backups, expected_fingerprint=None,
                      now=now)


def _in_tab_order(rows: Iterable[ArchivedRow]) -> list[ArchivedRow]:
    return sorted(rows, key=lambda r: ARCHIVED_TABS.index(r.tab))


# tab → key → (sheet row, the cells it must still show to be removed)
Shown = dict[str, dict[str, tuple[int, dict[str, str]]]]


def shown_moving(config: Config, journal: Journal, raw: RawBook) -> Shown:
    """The rows of the workbook `raw` the archive keyed (moving, moved, or shown again), found
    by their key: the workbook's rows are read by their key cells, and the journal asked
    about their keys. All `remove_from_workbook` needs of the workbook, so a long move lets
    the workbook's cells go before it copies and removes its rows."""
    order = config.workbook.date_order
    shown: Shown = {}
    for tab in ARCHIVED_TABS:
        rows = TabRows(raw, tab)
        found = {key: row.row for key, row in keyed(rows.key_cells(), order)}
        shown[tab] = {key: (found[key], expect_of(rows.at(found[key]), order))
                      for key, state in journal.archive_states_of(tab, found).items()
                      if state in ("copying", "copied", "removed")}
    return shown


def remove_from_workbook(config: Config, journal: Journal, backend: Backend,
                         now: dt.datetime, moved: Moved, raw: RawBook | None = None,
                         compact: bool = True, shown: Shown | None = None) -> None:
    """Remove every `copied` row from the workbook, found by its key as the workbook is now,
    and every `removed` one it shows again (an older copy of the workbook put back).
    `raw`: the workbook as `backend` last read it, if nothing wrote it since (a save in
    between makes the write refuse; the next run removes them), or `shown`, what
    `shown_moving` found in it. `compact`: drop the shared strings left unused
    (`ChangeSet.compact`)."""
    copied = journal.archive_keys("copied")
    if shown is None:
        shown = shown_moving(config, journal, raw if raw is not None else backend.read())
    deletes = []
    for tab in ARCHIVED_TABS:
        found = shown.get(tab, {})
        gone = {key for key, state in journal.archive_states_of(tab, found).items()
                if state in ("copied", "removed")}
        for row, expect in sorted(found[key] for key in gone):
            deletes.append(DeleteRow(tab, row, expect))
    if not copied and not deletes:
        return
    if deletes:
        written = backend.write(ChangeSet(deletes=tuple(deletes), compact=compact), now)
        moved.removed += written.rows_deleted
        if written.rows_deleted != len(deletes):
            return  # some rows changed under the tool: the next run finds them again
    checkpoint("archive-removed")
    journal.set_archive_state(copied, "removed", now)


def move(config: Config, journal: Journal, backend: Backend, moves: Sequence[Move],
         now: dt.datetime, on_keyed: Callable[[], None] | None = None,
         raw: RawBook | None = None, compact: bool = True, shown: Shown | None = None
         ) -> Moved:
    """Key, copy, remove: the new `moves` and whatever an earlier, killed move left;
    `on_keyed` runs once they are keyed (the archive's checkpoint: a kill before it ends
    leaves them unfrozen, and the next run freezes them from the whole history). `raw`: the
    workbook as `backend` last read it (the rows are removed from it: not read again).
    `compact`: False in a round of a long move that more rounds follow (`remove_from_workbook`);
    `shown`: instead of `raw`, what `shown_moving` found in it once the rows were keyed.
    Raises WorkbookWriteError when a file cannot be written (the next run goes on)."""
    moved = Moved()
    key_first(journal, moves, now)
    if on_keyed is not None:
        on_keyed()
    checkpoint("archive-keyed")
    copy_to_archive(config, journal, now, moved)
    remove_from_workbook(config, journal, backend, now, moved, raw, compact, shown)
    return moved
