"""A Google Sheet put back to an older version (File > Version history > Restore this version):
the next run notices it by the write generation the sheet carries (a hidden `_ispsheets` tab)
and puts back the fees, statuses and Activity the tool had written since, as it does for an
older .xlsx copy (tests/test_journal_trust.py)."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import pytest

from ispsheets.book.gsheets_backend import STAMP_TAB
from ispsheets.journal import Journal
from tests.fake_sheets import FakeSheets
from tests.gsheets_harness import clean_fake, new_key, read_sheet
from tests.scenario import Business
from tests.test_journal_trust import LATE_PAYMENT, NEXT_DAYS, RUN_DAYS, _owed, _rows

DEC_30 = dt.date(2026, 12, 30)


@pytest.fixture
def fake() -> FakeSheets:
    return clean_fake()


def _copy(business: Business, folder, fake: FakeSheets) -> Business:
    """The business folder (journal and all) and its sheet, copied."""
    shutil.copytree(business.folder, folder)
    key = new_key()
    fake.restore_version(key, fake.version(business.sheet_key))
    config = folder / "config.yaml"
    config.write_text(config.read_text().replace(business.sheet_key, key))
    twin = Business(folder, sheet_key=key)
    twin.reload_config()
    return twin


def _outbox(business: Business) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (business.folder / "outbox").glob("*.eml")}


@pytest.mark.slow
def test_a_restored_older_version_gets_back_fees_statuses_and_activity(tmp_path, fake):
    played = Business.create(tmp_path / "played", _rows(), backend="gsheets")
    versions = {}
    for day in RUN_DAYS:
        if day == dt.date(2026, 12, 15):
            played.pay("PAYS", _owed(played, "PAYS"), dt.date(2026, 12, 5))
        if day == dt.date(2027, 1, 9):
            played.pay("LATE", _owed(played, "LATE"), day, payment_id=LATE_PAYMENT)
        versions[day] = fake.version(played.sheet_key)
        assert played.run(day).exit_code == 0
    journal = Journal.open(played.config.journal_path)
    try:  # the sheet carries the generation of the last write, in a hidden tab
        last = journal.last_write()
        assert fake.values(played.sheet_key, STAMP_TAB)[0][1] == last > 1
        assert fake.sheet(played.sheet_key, STAMP_TAB).hidden
    finally:
        journal.close()
    assert STAMP_TAB not in read_sheet(played.sheet_key).sheets  # not one of the owner's tabs

    intact = _copy(played, tmp_path / "intact", fake)
    shop = _copy(played, tmp_path / "shop", fake)
    # the owner restores the version from before Dec 30's run (no late fees, suspensions or
    # reconnection yet), then types in again the one payment that came since
    fake.restore_version(shop.sheet_key, versions[DEC_30])
    paid = next(p for p in intact.book().payments if p.payment_id == LATE_PAYMENT)
    shop.pay("LATE", str(paid.amount), paid.date, payment_id=LATE_PAYMENT)
    restored = shop.book()
    assert not any(c.description.startswith(("Late fee", "Reconnection"))
                   for c in restored.charges)
    assert {c.client_id: c.status for c in restored.clients}["NEVER"] == "active"

    reports = [(intact.run(day), shop.run(day)) for day in NEXT_DAYS]

    said = [str(p) for _, r in reports for p in r.problems if "older than" in str(p)]
    assert len(said) == 1 and "put back 3 Charges row(s)" in said[0], said
    assert shop.sheet("Charges") == intact.sheet("Charges")
    assert {c.client_id: c.status for c in shop.book().clients} == \
        {c.client_id: c.status for c in intact.book().clients}
    assert shop.clients()["NEVER"].status == "suspended"
    assert {i.invoice_number: (i.total, i.balance, i.status) for i in shop.book().invoices} == \
        {i.invoice_number: (i.total, i.balance, i.status) for i in intact.book().invoices}
    assert [r.billed_total for _, r in reports] == [r.billed_total for r, _ in reports]
    assert sorted(_outbox(shop)) == sorted(_outbox(intact))
    assert [(r["action"], r["client_id"], r["invoice_number"]) for r in shop.activity()] == \
        [(r["action"], r["client_id"], r["invoice_number"]) for r in intact.activity()]
    assert sum(r.billed_total for _, r in reports) > Decimal("0")


def test_two_writes_in_one_run_add_the_hidden_tab_once(tmp_path, fake):
    """The stamp tab added by a first write is known to a second one of the same backend
    (from the batchUpdate's answer), which only writes the new number."""
    from ispsheets.book.changes import AppendRow, ChangeSet
    from tests.gsheets_harness import backend

    business = Business.create(tmp_path, _rows(), backend="gsheets")
    sheet = backend(business.sheet_key, tmp_path / "backups")
    sheet.read()
    now = dt.datetime(2026, 12, 1, 6, 0)
    row = {"timestamp": now, "action": "note", "client_id": "PAYS", "invoice_number": "",
           "detail": "x"}
    sheet.write(ChangeSet(appends=(AppendRow("Activity", row),)), now, generation=1)
    sheet.write(ChangeSet(appends=(AppendRow("Activity", {**row, "detail": "y"}),)), now,
                generation=2)
    assert fake.values(business.sheet_key, STAMP_TAB)[0][1] == 2
    assert sheet.generation is None  # as read: only a read tells what the sheet holds
    assert sheet.read() and sheet.generation == 2
