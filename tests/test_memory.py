"""Memory a run lets go of: garbage cycles a mailing step makes are collected without walking
the run's older objects, and the collector is left as it was."""

from __future__ import annotations

import gc
import weakref

from ispsheets.memory import give_back, new_garbage_collected


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def churn() -> None:
    """Enough new containers for the collector's youngest generation to run."""
    for _ in range(20):
        [[] for _ in range(1000)]


def test_cycles_made_in_the_block_are_collected_older_ones_are_not_walked():
    was_on = gc.isenabled()
    gc.disable()
    try:
        old = Node()
        old_ref = weakref.ref(old)
        del old  # garbage from before the block: frozen, never walked inside it
        with new_garbage_collected():
            assert gc.isenabled()
            new = Node()
            new_ref = weakref.ref(new)
            del new
            churn()
            assert new_ref() is None
            assert old_ref() is not None
        assert not gc.isenabled()  # as it was before the block
        assert gc.get_freeze_count() == 0  # nothing stays frozen
        churn()
        assert old_ref() is not None  # the collector is off again
        gc.collect()
        assert old_ref() is None
    finally:
        if was_on:
            gc.enable()


def test_the_collector_left_on_stays_on():
    was_on = gc.isenabled()
    gc.enable()
    try:
        with new_garbage_collected():
            pass
        assert gc.isenabled()
        assert gc.get_freeze_count() == 0
    finally:
        if not was_on:
            gc.disable()


def test_give_back_is_harmless():
    kept = [bytes(1000) for _ in range(1000)]
    give_back()
    assert len(kept) == 1000 and all(len(b) == 1000 for b in kept)


def test_a_sheet_let_go_of_keeps_its_header_and_reads_a_lazy_one_again():
    from ispsheets.book.reader import RawSheet

    eager = RawSheet("Clients", [["client_id", "name"], ["C1", "Ann"]])
    eager.forget()
    assert eager.header == ["client_id", "name"]
    assert eager.rows == [["client_id", "name"]]
    reads = []
    lazy = RawSheet("Activity", load=lambda: reads.append(1) or [["timestamp"], ["x"]],
                    header=["timestamp"])
    assert lazy.rows == [["timestamp"], ["x"]]
    lazy.forget()
    assert not lazy.loaded and lazy.header == ["timestamp"]
    assert lazy.rows == [["timestamp"], ["x"]] and len(reads) == 2


def test_the_journal_decodes_again_what_it_let_go_of():
    import datetime as dt
    from decimal import Decimal

    from ispsheets.book.records import Invoice
    from ispsheets.journal import Journal

    journal = Journal.memory()
    invoice = Invoice("INV-00001", "C1", dt.date(2026, 11, 30), dt.date(2026, 12, 1),
                      dt.date(2026, 12, 31), dt.date(2026, 12, 15), Decimal("10.00"),
                      Decimal("0.00"), Decimal("10.00"))
    journal.record_invoices([(invoice, 1, [])], dt.datetime(2026, 11, 30, 6))
    first = journal.invoices()
    journal.forget_decoded()
    again = journal.invoices()
    assert [r.invoice for r in again] == [r.invoice for r in first] == [invoice]
    assert again[0] is not first[0]  # decoded anew
