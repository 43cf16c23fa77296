"""A paid invoice downloaded from the portal shows PAID: rendered once from the journal's
invoice (read only) with what was paid, kept in `portal/paid/`, and served instead of the PDF
that was emailed when it was still open."""

from __future__ import annotations

from pathlib import Path

from ispsheets.book.records import Client
from ispsheets.delivery.document import InvoiceDocument, safe_filename
from ispsheets.journal import Journal
from ispsheets.ledger import copy_invoice
from ispsheets.money import ZERO
from ispsheets.portal.context import Portal
from ispsheets.portal.view import ClientView, InvoiceView


def paid_copy(portal: Portal, client: ClientView, invoice: InvoiceView) -> Path | None:
    """The PAID copy of a paid invoice (made on first request); None if it cannot be made."""
    config = portal.config
    path = config.portal_folder / "paid" / (safe_filename(invoice.number) + ".pdf")
    if path.is_file():
        return path
    if not config.journal_path.is_file():
        return None
    journal = Journal.read_only(config.journal_path)
    try:
        record = journal.invoice(invoice.number)
    finally:
        journal.close()
    if record is None or record.invoice.client_id != client.client_id:
        return None
    from ispsheets.delivery.pdf import render_invoice

    paid = copy_invoice(record.invoice, paid=invoice.paid, balance=ZERO, status="paid")
    record_client = Client(client.client_id, client.name, client.emails,
                           address=client.address)
    doc = InvoiceDocument.from_config(config, record_client, paid, pay_link="",
                                      paper=config.invoicing.paper)
    font = config.invoicing.pdf_font
    path.parent.mkdir(parents=True, exist_ok=True)
    return render_invoice(doc, path, config.path(font) if font else None)
