"""Before any step: make the journal and the book agree on what happened before this run."""

from __future__ import annotations

from dataclasses import replace

from ispsheets.book.known import KnownRows
from ispsheets.book.reader import RawBook
from ispsheets.book.records import Book
from ispsheets.book.schema import ACTIVITY, TABS_BY_NAME, find_tab, normalise_header
from ispsheets.ids import assign_missing_ids
from ispsheets.journal import Journal
from ispsheets.steps.cycle import Cycle


def known_rows(journal: Journal) -> KnownRows:
    """The Payments rows the journal logged and the Charges rows it billed or added, by id,
    with what it saw in them."""
    payments = {a.key.removeprefix("payment/"): a.detail for a in journal.actions("payment")}
    charges = {billed.key: str(billed.data.get("date", "")) for billed, _ in
               journal.billed("charge")}
    for row in journal.tool_rows("Charges"):
        charge_id = row.values.get("charge_id")
        if charge_id:
            charges.setdefault(str(charge_id), str(row.values.get("date", ""))[:10])
    return KnownRows(payments, charges)


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


def _activity_shown(raw: RawBook) -> set[tuple[str, str, str]]:
    columns = [column_values(raw, ACTIVITY.name, c) for c in ("action", "invoice_number",
                                                               "detail")]
    return {tuple("" if v is None else str(v) for v in row) for row in zip(*columns, strict=True)}


def settle_unfinished_writes(journal: Journal, raw: RawBook) -> None:
    """A run killed around the workbook save: did what it carried reach the workbook?

    Every write carries Activity rows; if all of them are in the Activity tab the file was
    replaced and the write is done, otherwise it never happened and its rows are queued again.
    """
    unfinished = journal.unfinished_writes()
    if not unfinished:
        return
    shown = _activity_shown(raw)
    for gen, rows in unfinished.items():
        if rows and all((r.action, r.invoice_number, r.detail) in shown for r in rows):
            journal.finish_write(gen)
        else:
            journal.abandon_write(gen)


def sync_voids(cycle: Cycle) -> None:
    """An owner's `void` in the Invoices tab is recorded for good in the journal."""
    for row in cycle.book.invoices:
        if row.status == "void" and cycle.journal.void(row.invoice_number, cycle.now):
            cycle.log("invoice_voided", row.client_id, row.invoice_number, "voided by the owner")


def overlay_pending_statuses(book: Book, journal: Journal) -> Book:
    """Client statuses the tool set but has not written yet count as written."""
    pending = {w.row_key: w.value for w in journal.unwritten_cell_writes()
               if w.tab == "Clients" and w.column == "status"}
    if not pending:
        return book
    clients = tuple(replace(c, status=pending[c.client_id]) if c.client_id in pending else c
                    for c in book.clients)
    return replace(book, clients=clients)


def prepare(cycle: Cycle) -> None:
    settle_unfinished_writes(cycle.journal, cycle.raw)
    sync_voids(cycle)
    cycle.book, fills = assign_missing_ids(cycle.book, cycle.journal)
    cycle.fills.extend(fills)
    cycle.book = overlay_pending_statuses(cycle.book, cycle.journal)
