"""`ispsheets archive --restore INV-…`: an archived invoice comes back into the workbook with
its lines, the charges it billed and the payments applied to it; it never moves out again by
itself. Key first (`restoring`), rows appended to the workbook, removed from the archive file,
then `restored`; run again after a failure and it finishes."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ispsheets.archive.book import LIVE_STATES
from ispsheets.archive.move import shown_keys
from ispsheets.archive.parts import found_in_parts, year_parts
from ispsheets.archive.plan import expect_of
from ispsheets.archive.values import decode, decode_row
from ispsheets.book.backend import open_backend
from ispsheets.book.cell_types import typed_row
from ispsheets.book.changes import AppendRow, ChangeSet, DeleteRow, Value
from ispsheets.book.records import ActivityRow
from ispsheets.config import Config
from ispsheets.faults import checkpoint
from ispsheets.journal import ArchivedRow, Journal
from ispsheets.problems import Problem


@dataclass
class Restored:
    rows: Counter[str] = field(default_factory=Counter)
    problem: Problem | None = None


def _applied_numbers(row: ArchivedRow) -> set[str]:
    text = decode(row.values.get("applied_to"))
    return {part.split(":")[0].strip() for part in str(text or "").split(";") if part.strip()}


def rows_of_invoice(journal: Journal, number: str) -> list[ArchivedRow]:
    """The archived rows that come back with an invoice ([] if it is not archived)."""
    live = [r for r in journal.archived() if r.state in LIVE_STATES]
    if not any(r.tab == "Invoices" and r.key == number for r in live):
        return []
    charges = {billed.key for billed, on in journal.billed("charge") if on == number}
    return [r for r in live if (r.tab == "Invoices" and r.key == number)
            or (r.tab == "InvoiceLines" and r.key.startswith(f"{number}#"))
            or (r.tab == "Charges" and r.key in charges)
            or (r.tab == "Payments" and number in _applied_numbers(r))]


def restore_invoice(config: Config, journal: Journal, number: str, now: dt.datetime,
                    current: Mapping[str, Value] | None = None,
                    why: str = "by the owner") -> Restored:
    """Bring `number` back; raises WorkbookWriteError when a file cannot be written.
    `current`: the Invoices tool cells as they should read now (else as they moved)."""
    from ispsheets.book.xlsx_backend import apply_changes

    rows = rows_of_invoice(journal, number)
    if not rows:
        return Restored(problem=Problem(number, "is not in the archive",
                                        "check the number (`ispsheets status` lists invoices)"))
    if any(r.state == "copying" for r in rows):
        return Restored(problem=Problem(number, "is still moving to the archive",
                                        "run `ispsheets run` once to finish the move, then "
                                        "restore it"))
    keys = [(r.tab, r.key) for r in rows]
    journal.set_archive_state(keys, "restoring", now)
    backend = open_backend(config)
    order = config.workbook.date_order
    present = shown_keys(backend.read(), order)
    appends = tuple(AppendRow(r.tab, typed_row(r.tab, {
        **decode_row(r.values), **(current if current and r.tab == "Invoices" else {})}))
        for r in rows if r.key not in present.get(r.tab, ()))
    if appends:
        backend.write(ChangeSet(appends=appends), now)
    checkpoint("restore-appended")
    for year in sorted({r.year for r in rows}):
        found = found_in_parts(year_parts(config, year), order)
        by_part: dict[Path, list[DeleteRow]] = {}
        for r in rows:
            at = found[r.tab].get(r.key) if r.year == year else None
            if at is not None:
                by_part.setdefault(at[0], []).append(
                    DeleteRow(r.tab, at[1].row, expect_of(at[1], order)))
        for path, deletes in by_part.items():
            apply_changes(path, ChangeSet(deletes=tuple(deletes)),
                          backup_dir=path.parent / "backups",
                          keep_backups=config.workbook.backups, expected_fingerprint=None,
                          now=now)
    journal.set_archive_state(keys, "restored", now)
    invoice = next(r for r in rows if r.tab == "Invoices")
    client = str(decode(invoice.values.get("client_id")) or "")
    journal.log(ActivityRow(now, "archived", client, number,
                            f"{number} brought back from the archive {why}"))
    return Restored(Counter(r.tab for r in rows))
