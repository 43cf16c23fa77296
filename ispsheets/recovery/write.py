"""A new journal from a recovery plan, swapped in beside the old file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ispsheets.journal import Journal
from ispsheets.recovery.record import Recovery


def write_journal(journal: Journal, recovery: Recovery, now: dt.datetime) -> None:
    """Fill an empty journal with `recovery`, in one transaction."""
    with journal.transaction():
        for invoice, seq, billed, void in recovery.invoices:
            journal.add_recovered_invoice(invoice, seq, billed, now if void else None, now)
        for name, value in recovery.sequences.items():
            journal.set_sequence(name, value)
        for message in recovery.messages:
            journal.begin_message(message.key, message.kind, message.client_id,
                                  message.invoice_number, message.when, "recovered")
            journal.finish_message(message.key, "sent", "recovered from the workbook",
                                   message.when)
        for action in recovery.actions.values():
            journal.record_action(action.key, action.kind, action.client_id,
                                  action.invoice_number, now, action.detail)
        for key, tab, values in recovery.tool_rows:
            journal.add_tool_row(key, tab, values, now)
        for client_id, (key, day) in recovery.suspended.items():
            journal.add_suspension(client_id, key, day)
        for client_id, status in recovery.statuses.items():
            journal.add_cell_write("Clients", client_id, "status", status, now)
        journal.add_written_activity(recovery.activity, recovery.generation or 1, now)


def apply_recovery(path: Path, recovery: Recovery, now: dt.datetime) -> Path | None:
    """Build the new journal beside `path`, keep the old file (if any) as
    `<name>.broken-YYYYMMDD-HHMMSS`, and put the new one in its place; the kept file."""
    temp = path.with_name(f".{path.name}.recovering")
    for leftover in (temp, *_sidecars(temp)):
        leftover.unlink(missing_ok=True)
    journal = Journal.open(temp)
    try:
        write_journal(journal, recovery, now)
    finally:  # closing the last connection folds the write-ahead log into the file
        journal.close()
    kept = None
    if path.exists():
        kept = path.with_name(f"{path.name}.broken-{now:%Y%m%d-%H%M%S}")
        path.replace(kept)
        for sidecar in _sidecars(path):
            if sidecar.exists():
                sidecar.replace(kept.with_name(kept.name + sidecar.name[len(path.name):]))
    for sidecar in _sidecars(temp):
        sidecar.unlink(missing_ok=True)
    temp.replace(path)
    return kept


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


