"""The journal: schema versioning, atomic numbering, stable ids, message and write records."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal

import pytest

from ispsheets.book.records import ActivityRow, Invoice, InvoiceLine
from ispsheets.journal import SCHEMA_VERSION, Billed, Journal, JournalError

NOW = dt.datetime(2026, 11, 30, 6, 0)


def _invoice(number: str, client: str = "C1", total: str = "54.99") -> Invoice:
    line = InvoiceLine(number, 1, "S1", "Home 100 — Dec 1 – Dec 31, 2026", dt.date(2026, 12, 1),
                       dt.date(2026, 12, 31), Decimal("1"), Decimal("49.99"), Decimal("49.99"),
                       Decimal("10"), Decimal("5.00"))
    return Invoice(number, client, dt.date(2026, 11, 30), dt.date(2026, 12, 1),
                   dt.date(2026, 12, 31), dt.date(2026, 12, 15), Decimal("49.99"),
                   Decimal("5.00"), Decimal(total), lines=(line,))


def test_new_journal_is_created_at_the_current_schema_version(tmp_path):
    journal = Journal.open(tmp_path / "ispsheets.db")
    assert journal.version == SCHEMA_VERSION
    journal.close()
    reopened = Journal.open(tmp_path / "ispsheets.db")
    assert reopened.version == SCHEMA_VERSION


def test_journal_from_a_newer_ispsheets_is_refused(tmp_path):
    path = tmp_path / "ispsheets.db"
    Journal.open(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(JournalError, match="newer ispsheets"):
        Journal.open(path)


def test_recorded_invoice_round_trips_with_its_lines_and_billed_keys(tmp_path):
    journal = Journal.open(tmp_path / "j.db")
    journal.record_invoices([(_invoice("INV-00001"), 1,
                              [Billed("period", "S1/2026-12-01", {"amount": "49.99"})])], NOW)
    [stored] = journal.invoices()
    assert stored.seq == 1
    assert stored.invoice == _invoice("INV-00001")
    assert journal.billed("period") == [
        (Billed("period", "S1/2026-12-01", {"amount": "49.99"}), "INV-00001")]
    assert journal.peek_seq("invoice") == 2


def test_numbering_is_all_or_nothing_when_a_sequence_is_skipped(tmp_path):
    journal = Journal.open(tmp_path / "j.db")
    with pytest.raises(JournalError, match="expected 2, got 3"):
        journal.record_invoices([(_invoice("INV-00001"), 1, []),
                                 (_invoice("INV-00003"), 3, [])], NOW)
    assert journal.invoices() == []
    assert journal.peek_seq("invoice") == 1


def test_a_period_is_billed_once_even_if_planned_twice(tmp_path):
    journal = Journal.open(tmp_path / "j.db")
    journal.record_invoices([(_invoice("INV-00001"), 1, [Billed("period", "S1/2026-12-01", {})])],
                            NOW)
    with pytest.raises(sqlite3.IntegrityError):
        journal.record_invoices(
            [(_invoice("INV-00002"), 2, [Billed("period", "S1/2026-12-01", {})])], NOW)
    assert [i.invoice.invoice_number for i in journal.invoices()] == ["INV-00001"]


def test_assigned_id_is_stable_for_a_fingerprint(tmp_path):
    journal = Journal.open(tmp_path / "j.db")
    first = journal.assign_id("Charges", "C1|2026-11-12|Install|75", lambda n: f"CHG-{n:05d}")
    again = journal.assign_id("Charges", "C1|2026-11-12|Install|75", lambda n: f"CHG-{n:05d}")
    other = journal.assign_id("Charges", "C2|2026-11-12|Install|75", lambda n: f"CHG-{n:05d}")
    assert (first, again, other) == ("CHG-00001", "CHG-00001", "CHG-00002")


def test_void_is_recorded_once():
    journal = Journal.memory()
    journal.record_invoices([(_invoice("INV-00001"), 1, [])], NOW)
    assert journal.void("INV-00001", NOW) is True
    assert journal.void("INV-00001", NOW) is False
    assert journal.invoices()[0].voided


def test_voided_numbers_are_the_voided_invoices_in_number_order():
    journal = Journal.memory()
    journal.record_invoices([(_invoice(f"INV-0000{n}"), n, []) for n in (1, 2, 3, 4)], NOW)
    journal.void("INV-00004", NOW)
    journal.void("INV-00002", NOW)
    assert journal.voided_numbers() == ["INV-00002", "INV-00004"]


def test_message_goes_pending_then_sent():
    journal = Journal.memory()
    journal.begin_message("INV-00001/invoice", "invoice", "C1", "INV-00001", NOW)
    assert journal.message("INV-00001/invoice").state == "pending"
    journal.finish_message("INV-00001/invoice", "sent", "2 recipients", NOW)
    record = journal.message("INV-00001/invoice")
    assert (record.state, record.detail) == ("sent", "2 recipients")
    assert journal.messages("pending") == []


def test_abandoned_write_puts_its_activity_back_in_the_queue():
    journal = Journal.memory()
    journal.log(ActivityRow(NOW, "invoice_issued", "C1", "INV-00001", "54.99"))
    [(row_id, _)] = journal.unwritten_activity()
    gen = journal.begin_write([row_id], NOW)
    assert journal.unwritten_activity() == []
    assert list(journal.unfinished_writes()) == [gen]
    journal.abandon_write(gen)
    assert [r.action for _, r in journal.unwritten_activity()] == ["invoice_issued"]
    assert journal.unfinished_writes() == {}


def test_finished_write_is_not_unfinished():
    journal = Journal.memory()
    journal.log(ActivityRow(NOW, "invoice_issued", "C1", "INV-00001", ""))
    gen = journal.begin_write([i for i, _ in journal.unwritten_activity()], NOW)
    journal.finish_write(gen)
    assert journal.unfinished_writes() == {}
    assert journal.unwritten_activity() == []


def test_dry_run_copy_leaves_the_file_untouched(tmp_path):
    journal = Journal.open(tmp_path / "j.db")
    journal.record_invoices([(_invoice("INV-00001"), 1, [])], NOW)
    copy = journal.copy_to_memory()
    copy.record_invoices([(_invoice("INV-00002"), 2, [])], NOW)
    assert len(copy.invoices()) == 2
    assert len(journal.invoices()) == 1


def test_a_version_1_journal_is_migrated_to_the_current_schema(tmp_path):
    from ispsheets.journal import MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[1] + "\nPRAGMA user_version = 1;")
    db.execute("INSERT INTO sequences VALUES ('invoice', 41)")
    db.commit()
    db.close()
    journal = Journal.open(path)
    assert journal.version == SCHEMA_VERSION
    assert journal.peek_seq("invoice") == 42
    assert journal.actions("late_fee") == []


def test_an_action_done_once_is_not_begun_again():
    journal = Journal.memory()
    assert journal.begin_action("late_fee/INV-00001", "late_fee", "C1", "INV-00001", NOW)
    assert journal.action("late_fee/INV-00001").state == "pending"
    journal.finish_action("late_fee/INV-00001", "done", "5.00", NOW)
    assert not journal.begin_action("late_fee/INV-00001", "late_fee", "C1", "INV-00001", NOW)
    assert journal.record_action("payment/PAY-00001", "payment", "C1", "", NOW, "x") is True
    assert journal.record_action("payment/PAY-00001", "payment", "C1", "", NOW, "x") is False
    assert [a.key for a in journal.actions("late_fee", "done")] == ["late_fee/INV-00001"]


def test_a_failed_action_is_begun_again():
    journal = Journal.memory()
    journal.begin_action("provision/suspend/C1", "provision", "C1", "", NOW)
    journal.finish_action("provision/suspend/C1", "failed", "exit 255", NOW)
    assert journal.begin_action("provision/suspend/C1", "provision", "C1", "", NOW)


def test_a_tool_row_is_queued_once_and_leaves_the_queue_with_its_write():
    journal = Journal.memory()
    values = {"charge_id": "CHG-00001", "amount": Decimal("5.00"), "date": dt.date(2026, 12, 30)}
    assert journal.add_tool_row("late_fee/INV-00001", "Charges", values, NOW)
    assert not journal.add_tool_row("late_fee/INV-00001", "Charges", values, NOW)
    [row] = journal.unwritten_tool_rows()
    assert row.values == {"charge_id": "CHG-00001", "amount": "5.00", "date": "2026-12-30"}
    gen = journal.begin_write([], NOW)
    assert journal.unwritten_tool_rows() == []
    journal.abandon_write(gen)
    assert len(journal.unwritten_tool_rows()) == 1
    journal.finish_write(journal.begin_write([], NOW))
    assert journal.unwritten_tool_rows() == []
    assert len(journal.tool_rows("Charges")) == 1


def test_a_cell_write_waits_for_a_finished_write():
    journal = Journal.memory()
    journal.add_cell_write("Clients", "C1", "status", "suspended", NOW)
    gen = journal.begin_write([], NOW)
    journal.abandon_write(gen)
    [write] = journal.unwritten_cell_writes()
    assert (write.tab, write.row_key, write.column, write.value) == ("Clients", "C1", "status",
                                                                    "suspended")


def test_suspensions_are_remembered_until_ended():
    journal = Journal.memory()
    journal.add_suspension("C1", "suspend/C1/INV-00001", dt.date(2026, 12, 22))
    assert journal.suspensions() == {"C1": ("suspend/C1/INV-00001", dt.date(2026, 12, 22))}
    journal.end_suspension("C1")
    assert journal.suspensions() == {}


def test_only_a_voided_invoice_can_be_released_for_rebilling():
    journal = Journal.memory()
    journal.record_invoices([(_invoice("INV-00001"), 1, [Billed("period", "S1/2026-12-01", {})])],
                            NOW)
    with pytest.raises(JournalError, match="not a voided invoice"):
        journal.release_billed("INV-00001")
    journal.void("INV-00001", NOW)
    assert journal.release_billed("INV-00001") == 1
    assert journal.billed() == []


def _archived_business(tmp_path):
    """Three invoices of C1 and one of C2; INV-00001 and INV-00002 keyed for the archive,
    INV-00002 brought back; INV-00001's invoice email sent, reminded and paid by P1."""
    from ispsheets.journal import ArchivedRow

    journal = Journal.open(tmp_path / "j.db")
    journal.record_invoices([(_invoice(f"INV-0000{n}", "C2" if n == 4 else "C1"), n, [])
                             for n in range(1, 5)], NOW)
    for number in ("INV-00001", "INV-00003"):
        journal.begin_message(f"invoice/{number}", "invoice", "C1", number, NOW)
        journal.finish_message(f"invoice/{number}", "sent", "", NOW)
        journal.record_action(f"reminder/{number}/due", "reminder", "C1", number, NOW)
    journal.record_action("payment/P1", "payment", "C1", "INV-00001", NOW, "x")
    journal.record_action("payment/P2", "payment", "C1", "INV-00003", NOW, "y")
    journal.begin_archive([ArchivedRow("Invoices", "INV-00001", 2026, {}),
                           ArchivedRow("Invoices", "INV-00002", 2026, {}),
                           ArchivedRow("Payments", "P1", 2026, {})], NOW)
    journal.set_archive_state([("Invoices", "INV-00002")], "restored", NOW)
    return journal


def test_runs_read_only_what_the_archive_did_not_take(tmp_path):
    """Schema 5's triggers mark what the archive took; the run's reads leave it out."""
    journal = _archived_business(tmp_path)
    assert [r.invoice.invoice_number for r in journal.invoices()] == [
        "INV-00002", "INV-00003", "INV-00004"]
    assert len(journal.invoices(include_archived=True)) == 4
    assert [n for n, _ in journal.sent_invoice_times()] == ["INV-00003"]
    assert [a.invoice_number for a in journal.actions("reminder", "done", live=True)] == [
        "INV-00003"]
    assert len(journal.actions("reminder", "done")) == 2
    assert set(journal.action_details("payment", live=True)) == {"payment/P2"}
    assert journal.invoice_numbers(live=True) == {"INV-00002", "INV-00003", "INV-00004"}
    assert journal.unknown_invoices(["INV-00001", "INV-00004", "INV-00009"]) == {"INV-00009"}
    assert journal.archived_invoice_clients(["INV-00001", "INV-00003", "INV-00009"]) == {
        "INV-00001": "C1"}
    assert journal.unfrozen_archived() == ["INV-00001"]
    journal.set_archive_state([("Invoices", "INV-00001")], "restored", NOW)  # back again
    assert [a.invoice_number for a in journal.actions("reminder", "done", live=True)] == [
        "INV-00001", "INV-00003"]


def test_each_clients_first_invoice_is_found_since_a_day(tmp_path):
    journal = _archived_business(tmp_path)
    assert journal.first_invoices("") == {"C1": ("INV-00001", NOW.isoformat()),
                                          "C2": ("INV-00004", NOW.isoformat())}
    later = (NOW + dt.timedelta(days=1)).isoformat()
    assert journal.first_invoices(later) == {}
    journal.record_invoices([(_invoice("INV-00005", "C3"), 5, []),
                             (_invoice("INV-00006", "C1"), 6, [])], NOW + dt.timedelta(days=2))
    assert set(journal.first_invoices(later)) == {"C3"}  # C1's first came before


def test_a_rehearsal_undoes_a_failed_step_as_a_run_does_and_keeps_nothing(tmp_path):
    """A dry run on a journal too big to copy into memory (`Journal.rehearse`)."""
    import hashlib

    path = tmp_path / "ispsheets.db"
    journal = Journal.open(path)
    journal.set_sequence("invoice", 7)
    journal.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    journal = Journal.open(path).rehearse()
    with journal.transaction():
        journal.set_sequence("invoice", 8)
    with pytest.raises(RuntimeError), journal.transaction():
        journal.set_sequence("invoice", 9)
        raise RuntimeError("a step fails half-way")
    assert journal.peek_seq("invoice") == 9  # the first step stands, the failed one is undone
    journal.close()

    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert Journal.open(path).peek_seq("invoice") == 8
