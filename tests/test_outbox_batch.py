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


class _Message(SimpleNamespace):
    def to_bytes(self) -> bytes:
        return f"X-Ispsheets-Key: {self.key}\n\nhello\n".encode()


def _postman_cycle(tmp_path) -> SimpleNamespace:
    config = SimpleNamespace(email=SimpleNamespace(smtp=SimpleNamespace(host=""),
                                                   outbox="outbox"),
                             path=lambda p: tmp_path / p)
    cycle = SimpleNamespace(journal=Journal.open(tmp_path / "ispsheets.db"), config=config,
                            postman=None)
    cycle.postman = deliver.Postman(config)
    cycle.postman._mailer = deliver.Outbox(tmp_path / "outbox")
    return cycle


def _remind(cycle: SimpleNamespace, batch: OutboxBatch, client: str) -> None:
    key = f"reminder/{client}/2026-12-15"
    batch.before()
    cycle.journal.begin_message(key, "first_reminder", client, "", NOW, "outbox")
    result = cycle.postman.send(_Message(key=key))
    cycle.journal.finish_message(key, result.state, result.detail, NOW)
    batch.after()


def _outbox(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "outbox").glob("*.eml"))


def test_held_back_messages_reach_the_outbox_when_their_batch_is_committed(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(deliver, "OUTBOX_BATCH", 2)
    cycle = _postman_cycle(tmp_path)
    seen = []
    with OutboxBatch(cycle, hold_back=True) as batch:
        for client in ("C1", "C2", "C3"):
            _remind(cycle, batch, client)
            seen.append(len(_outbox(tmp_path)))
    assert seen == [0, 2, 2]  # the first two at their commit; the third at the end
    assert len(_outbox(tmp_path)) == 3
    assert list((tmp_path / "outbox" / deliver.HELD).iterdir()) == []
    # the journal says where each is, as a message written straight into the outbox would
    record = cycle.journal.message("reminder/C3/2026-12-15")
    assert record.state == "sent"
    assert record.detail == f"written to {tmp_path / 'outbox' / _outbox(tmp_path)[2]}"


def test_held_back_messages_of_a_rolled_back_batch_are_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr(deliver, "OUTBOX_BATCH", 2)
    cycle = _postman_cycle(tmp_path)
    with pytest.raises(RuntimeError), OutboxBatch(cycle, hold_back=True) as batch:
        for client in ("C1", "C2", "C3"):
            _remind(cycle, batch, client)
        raise RuntimeError("the run dies")
    assert len(_outbox(tmp_path)) == 2  # the committed batch
    assert cycle.journal.message("reminder/C3/2026-12-15") is None
    assert list((tmp_path / "outbox" / deliver.HELD).iterdir()) == []


def test_a_killed_run_s_held_messages_are_settled_by_the_journal(tmp_path):
    """Sent (committed) ones move into the outbox; the others, a file that is not a message
    the journal knows, and a half-written one are deleted."""
    cycle = _postman_cycle(tmp_path)
    cycle.dry_run = False
    held = deliver.Outbox(tmp_path / "outbox" / deliver.HELD)
    for client in ("C1", "C2"):
        held.send(_Message(key=f"reminder/{client}/2026-12-15"))
    (held.folder / "stray.eml").write_bytes(b"Subject: no key\n\n")
    (held.folder / ".reminder_C3.eml.tmp").write_bytes(b"X-Ispsheets-Key: rem")  # killed write
    cycle.journal.begin_message("reminder/C1/2026-12-15", "first_reminder", "C1", "", NOW,
                                "outbox")
    cycle.journal.finish_message("reminder/C1/2026-12-15", "sent", "written", NOW)
    deliver.settle_held_back(cycle)
    assert _outbox(tmp_path) == [deliver.Outbox(tmp_path).path("reminder/C1/2026-12-15").name]
    assert list(held.folder.iterdir()) == []


def test_a_dry_run_leaves_held_messages_alone(tmp_path):
    cycle = _postman_cycle(tmp_path)
    cycle.dry_run = True
    held = deliver.Outbox(tmp_path / "outbox" / deliver.HELD)
    held.send(_Message(key="reminder/C1/2026-12-15"))
    deliver.settle_held_back(cycle)
    assert len(list(held.folder.iterdir())) == 1 and _outbox(tmp_path) == []
