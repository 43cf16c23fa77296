"""What the archive took, as the portal shows it: a signed-in client's settled invoices and
payments that moved out of the workbook (`ispsheets.archive`), so clients keep their whole
history and their PDFs after the owner archives.

The run publishes only the live business (`view.publish`: its cost must not grow with the
years behind it); these are read from the journal, read-only, by the client's index, when the
client opens a page. An archived invoice is settled for good (paid in full: void ones are not
shown, as the report does not count them), so nothing here is computed: the figures are those
the archive froze when the rows moved.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

from ispsheets.delivery.document import safe_filename
from ispsheets.journal import Journal
from ispsheets.money import ZERO
from ispsheets.portal.view import InvoiceView, PaymentView


def _date(text: object) -> dt.date | None:
    return dt.date.fromisoformat(str(text)) if text else None


def archived_history(journal_path: Path, client_id: str
                     ) -> tuple[list[InvoiceView], list[PaymentView]]:
    """The client's archived invoices and payments ([] and [] without a journal, or when it
    cannot be read now: the page still shows the live ones)."""
    if not journal_path.is_file():
        return [], []
    try:
        journal = Journal.read_only(journal_path)
    except sqlite3.Error:
        return [], []
    try:
        rows = journal.client_archived_figures(client_id)
        paid_ids = [key for kind, key, _, _ in rows if kind == "payment"]
        applied: dict[str, list[str]] = {}
        for pair in sorted(journal.frozen_from(paid_ids), key=lambda p: p.invoice_number):
            applied.setdefault(pair.source, []).append(f"{pair.invoice_number}:{pair.amount}")
    except sqlite3.Error:
        return [], []
    finally:
        journal.close()
    invoices, payments = [], []
    for kind, key, day, data in rows:
        if kind == "invoice":
            total = Decimal(data["total"])
            starts = [s for _, s, _, _ in data.get("lines", []) if s]
            invoices.append(InvoiceView(
                key, client_id, dt.date.fromisoformat(data["issued"]),
                dt.date.fromisoformat(data["due"]), _date(min(starts, default=None)), None,
                total, total, ZERO, "paid", _date(data.get("paid_on")),
                safe_filename(key) + ".pdf"))
        else:
            payments.append(PaymentView(key, client_id, dt.date.fromisoformat(day),
                                        Decimal(data["amount"]), str(data.get("method") or ""),
                                        "", ";".join(applied.get(key, []))))
    return invoices, payments
