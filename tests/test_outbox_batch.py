"""Invoice emails into the outbox are keyed OUTBOX_BATCH to a journal transaction, whichever
PDF groups they came in: committed when full and at the end, rolled back by a crash."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from ispsheets.journal import Journal
from ispsheets.steps import deliver
from ispsheets.steps.deliver import OutboxBatch

NOW = dt.datetime(2026, 11, 30, 6, 0)


def _cycle(tmp_path, transport: str) -> SimpleNamespace:
    journal = Journal.open(tmp_path / "ispsheets.db")
    return SimpleNamespace(journal=journal, postman=SimpleNamespace(transport=transport))


def _send(cycle: SimpleNamespace, batch: OutboxBatch, number: int) -> bool:
    """One message keyed as `send_message` keys it; whether a transaction is open after."""
    batch.before()
    cycle.journal.begin_message(f"invoice/INV-{number}", "invoice", "C1", f"INV-{number}", NOW,
                                "outbox")
    batch.after()
    return cycle.journal._db.in_transaction


def test_a_transaction_holds_a_full_batch_and_the_rest_is_committed_at_the_end(tmp_path,
                                                                                monkeypatch):
    monkeypatch.setattr(deliver, "OUTBOX_BATCH", 3)
    cycle = _cycle(tmp_path, "outbox")
    with OutboxBatch(cycle) as batch:
        open_after = [_send(cycle, batch, n) for n in range(7)]
    assert open_after == [True, True, False, True, True, False, True]
    assert not cycle.journal._db.in_transaction
    assert all(cycle.journal.message(f"invoice/INV-{n}") for n in range(7))


def test_a_crash_rolls_back_only_the_open_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(deliver, "OUTBOX_BATCH", 3)
    cycle = _cycle(tmp_path, "outbox")
    with pytest.raises(RuntimeError), OutboxBatch(cycle) as batch:
        for n in range(5):
            _send(cycle, batch, n)
        raise RuntimeError("the run dies")
    kept = [n for n in range(5) if cycle.journal.message(f"invoice/INV-{n}")]
    assert kept == [0, 1, 2]  # the full batch was committed; the next run writes 3 and 4 again


def test_over_smtp_each_message_keeps_its_own_transactions(tmp_path):
    cycle = _cycle(tmp_path, "smtp")
    with OutboxBatch(cycle) as batch:
        assert [_send(cycle, batch, n) for n in range(3)] == [False, False, False]
