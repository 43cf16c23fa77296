"""What a run looks up among years of journal rows goes through an index of its own, not a scan
of every row: the messages not sent, the welcome emails, the archived invoices counted, each
client's first invoice, the rows and cells not yet written (schema 6).

What an owner sees: a run on a business with three years behind it does not read 1.6 million
sent emails to find the few still pending. Each lookup is checked twice: its answer (against
the rows filtered by hand) and its query plan (the index named, no scan of the table).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest

from ispsheets.book.records import Invoice
from ispsheets.journal import Journal

NOW = dt.datetime(2026, 11, 30, 6, 0)


def _plans(journal: Journal, call: Callable[[], object]) -> tuple[object, list[str]]:
    """What `call` returns, and the plan of each SELECT it ran."""
    statements: list[str] = []
    journal._db.set_trace_callback(statements.append)
    try:
        result = call()
    finally:
        journal._db.set_trace_callback(None)
    plans = [" | ".join(row[3] for row in journal._db.execute("EXPLAIN QUERY PLAN " + sql))
             for sql in statements if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert plans, "no query ran"
    return result, plans


def _invoice(number: str, client: str) -> Invoice:
    day = dt.date(2026, 11, 30)
    return Invoice(number, client, day, day, day, day, Decimal("10.00"), Decimal("0.00"),
                   Decimal("10.00"))


@pytest.fixture
def journal(tmp_path):
    journal = Journal.open(tmp_path / "ispsheets.db")
    for n, (kind, state) in enumerate([("invoice", "sent"), ("invoice", "pending"),
                                       ("reminder", "unknown"), ("welcome", "sent"),
                                       ("welcome", "pending"), ("receipt", "sent")]):
        journal.begin_message(f"{kind}/{n}", kind, f"C{n}", "", NOW)
        if state != "pending":
            journal.finish_message(f"{kind}/{n}", state, "", NOW)
    journal.record_invoices([(_invoice(f"INV-{n:05}", f"C{n % 2}"), n, [])
                             for n in range(1, 5)], NOW)
    journal.void("INV-00002", NOW)
    journal._db.execute("UPDATE invoices SET archived = 1 WHERE number IN "
                        "('INV-00001', 'INV-00002')")  # as the archive's trigger marks them
    journal.add_tool_row("fee/1", "Charges", {"charge_id": "F1"}, NOW)
    journal.add_cell_write("Invoices", "INV-00003", "status", "paid", NOW)
    yield journal
    journal.close()


@pytest.mark.parametrize(("state", "kind", "keys", "index"), [
    ("pending", None, ["invoice/1", "welcome/4"], "messages_unsent"),
    ("unknown", None, ["reminder/2"], "messages_unsent"),
    ("sent", "welcome", ["welcome/3"], "messages_welcome"),
])
def test_messages_are_found_through_their_index(journal, state, kind, keys, index):
    found, plans = _plans(journal, lambda: journal.messages(state, kind))

    assert [m.key for m in found] == keys  # type: ignore[attr-defined]
    assert all(index in plan and "SCAN messages " not in plan + " " for plan in plans), plans


def test_every_sent_message_is_still_listed_by_a_scan(journal):
    found = journal.messages("sent")
    assert [m.key for m in found] == ["invoice/0", "receipt/5", "welcome/3"]


def test_archived_invoices_not_void_are_counted_through_their_index(journal):
    count, plans = _plans(journal, journal.count_archived_invoices)

    assert count == 1  # INV-00001 (INV-00002 is void, the others live)
    assert any("invoices_archived_counted" in plan for plan in plans), plans


def test_each_clients_first_invoice_is_looked_up_from_the_live_invoices(journal):
    found, plans = _plans(journal, lambda: journal.first_invoices(""))

    # both have a live invoice (INV-00003, INV-00004); their first ones are archived
    assert found == {"C1": ("INV-00001", NOW.isoformat()), "C0": ("INV-00002", NOW.isoformat())}
    assert any("invoices_live" in plan for plan in plans), plans
    assert not any("SCAN invoices USING INDEX invoices_client_seq" in plan for plan in plans)


@pytest.mark.parametrize(("method", "index"), [("unwritten_tool_rows", "tool_rows_unwritten"),
                                               ("unwritten_cell_writes",
                                                "cell_writes_unwritten")])
def test_rows_and_cells_not_yet_written_come_through_their_index(journal, method, index):
    found, plans = _plans(journal, getattr(journal, method))

    assert len(found) == 1  # type: ignore[arg-type]
    assert any(index in plan for plan in plans), plans
