"""The journal lost, damaged or older than the workbook, and the workbook put back from a backup.

One small ISP is run through a month and a half (module fixture): invoices, a late fee, a
suspension and a reconnection with its fee. Each test copies it, does what an owner might do
(delete the journal, empty it, restore a backup) and checks what a client or the owner would
see: the outbox, the workbook, the exit code and the message.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ispsheets.book.changes import ChangeSet, SetCell
from ispsheets.book.xlsx_generation import read_generation
from ispsheets.journal import Journal
from ispsheets.runner import RunOptions, run
from tests.scenario import Business, row
from tests.scenario import outbox_bytes as _outbox
from tests.scenario import twin as _copy
from tests.test_cli_commands import ispsheets

D = Decimal
NOV_30, DEC_31 = dt.date(2026, 11, 30), dt.date(2026, 12, 31)
RUN_DAYS = (NOV_30, dt.date(2026, 12, 15), dt.date(2026, 12, 30), DEC_31, dt.date(2027, 1, 6),
            dt.date(2027, 1, 9))
NEXT_DAYS = (dt.date(2027, 1, 16), dt.date(2027, 1, 31))
COMMANDS = ("run", "invoice", "send", "reconcile", "remind", "status", "report", "check")


def _rows() -> dict[str, list[tuple[object, ...]]]:
    packages = [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                    interval="monthly", tax_rate=D("10"), setup_fee=D("25"))]
    clients, services = [], []
    for n, client_id in enumerate(("PAYS", "LATE", "NEVER"), start=1):
        clients.append(row("Clients", client_id=client_id, name=f"Client {client_id.title()}",
                           email=f"{client_id.lower()}@example.com", status="active"))
        services.append(row("Services", service_id=f"S{n}", client_id=client_id,
                            package_id="HOME", start_date=dt.date(2026, 12, 1)))
    return {"Packages": packages, "Clients": clients, "Services": services}


LATE_PAYMENT = "P-LATE-1"


def _owed(business: Business, client_id: str) -> str:
    return str(sum((i.total for i in business.book().invoices if i.client_id == client_id),
                   D("0")))


@pytest.fixture(scope="module")
def played(tmp_path_factory) -> Business:
    """Late fees for LATE and NEVER (Dec 30), both suspended (Jan 6), LATE pays everything and
    is reconnected with the fee (Jan 9); a copy of the workbook is kept before every run, as an
    owner's own backups would be."""
    business = Business.create(tmp_path_factory.mktemp("played"), _rows())
    copies = business.folder / "owner-copies"
    copies.mkdir()
    for day in RUN_DAYS:
        if day == dt.date(2026, 12, 15):
            business.pay("PAYS", _owed(business, "PAYS"), dt.date(2026, 12, 5))
        if day == dt.date(2027, 1, 9):
            business.pay("LATE", _owed(business, "LATE"), day, payment_id=LATE_PAYMENT)
        shutil.copy(business.workbook, copies / f"before-{day.isoformat()}.xlsx")
        assert business.run(day).exit_code == 0
    assert len(business.activity("late_fee_added")) == 2
    assert business.activity("client_reconnected")
    assert business.clients()["NEVER"].status == "suspended"
    return business


def _journal(business: Business) -> Path:
    return business.config.journal_path


def _drop_journal(business: Business) -> None:
    for path in business.folder.glob("ispsheets.db*"):
        path.unlink()


# -- a journal that cannot be trusted stops every command ----------------------------------------


@pytest.mark.parametrize("damage", ["deleted", "emptied"])
def test_a_deleted_or_emptied_journal_stops_the_run_before_anything_is_sent(played, tmp_path,
                                                                           damage):
    shop = _copy(played, tmp_path / "shop")
    _drop_journal(shop)
    if damage == "emptied":
        _journal(shop).write_bytes(b"")
    outbox, workbook = _outbox(shop), shop.workbook.read_bytes()
    pdfs = sorted((shop.folder / "invoices").iterdir())

    result = ispsheets("run", "--date", "2027-01-31", cwd=shop.folder)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    said = " ".join((result.stdout + result.stderr).split())
    state = "missing" if damage == "deleted" else "empty (0 bytes)"
    assert f"error ispsheets.db: the journal is {state}, but the workbook shows 6 invoice(s) " \
           "(INV-00001, INV-00002 … INV-00006)" in said
    assert "nothing was done; run `ispsheets recover-journal --dry-run`" in said
    assert _outbox(shop) == outbox and shop.workbook.read_bytes() == workbook
    assert sorted((shop.folder / "invoices").iterdir()) == pdfs
    assert _journal(shop).exists() == (damage == "emptied")  # a missing one is not created
    status = ispsheets("status", cwd=shop.folder)
    assert status.returncode == 2 and f"the journal is {state}" in " ".join(status.stdout.split())
    assert _journal(shop).exists() == (damage == "emptied")
    assert not _journal(shop).exists() or _journal(shop).stat().st_size == 0  # left as it was


@pytest.mark.parametrize("command", COMMANDS)
def test_a_garbage_journal_is_a_clear_stop_for_every_command(played, tmp_path, command):
    shop = _copy(played, tmp_path / "shop")
    _drop_journal(shop)
    _journal(shop).write_bytes(b"this is not a database, it is a text file " * 200)
    outbox = _outbox(shop)

    result = ispsheets(command, cwd=shop.folder)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    said = " ".join((result.stdout + result.stderr).split())
    assert "ispsheets.db: the journal cannot be read (file is not a database)" in said
    assert "ispsheets recover-journal" in said
    assert _outbox(shop) == outbox


def test_a_truncated_journal_is_the_same_clear_stop(played, tmp_path):
    shop = _copy(played, tmp_path / "shop")
    data = _journal(shop).read_bytes()
    assert len(data) > 3 * 4096
    _journal(shop).write_bytes(data[:3 * 4096])

    result = ispsheets("run", "--date", "2027-01-31", cwd=shop.folder)

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "ispsheets.db: the journal cannot be read (database disk image is malformed)" in \
        " ".join(result.stderr.split())


def test_a_journal_older_than_the_workbook_stops_the_run(played, tmp_path):
    shop = _copy(played, tmp_path / "shop")
    old_copy = sorted((shop.folder / "backups").glob("*.ispsheets.db"))[0]
    _drop_journal(shop)
    shutil.copy(old_copy, _journal(shop))
    outbox = _outbox(shop)

    result = ispsheets("run", "--date", "2027-01-31", cwd=shop.folder)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "the journal is older than the workbook" in " ".join(result.stderr.split())
    assert _outbox(shop) == outbox


# -- recovery --------------------------------------------------------------------------------


def test_recover_journal_then_run_repeats_no_number_email_fee_or_period(played, tmp_path):
    intact, shop = _copy(played, tmp_path / "intact"), _copy(played, tmp_path / "shop")
    _drop_journal(shop)
    before = _outbox(shop)

    dry = ispsheets("recover-journal", "--dry-run", cwd=shop.folder)
    assert dry.returncode == 0 and "would rebuild ispsheets.db" in dry.stdout
    assert not _journal(shop).exists()
    done = ispsheets("recover-journal", cwd=shop.folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rebuilt ispsheets.db from isp.xlsx" in done.stdout
    assert "the next is INV-00007" in " ".join(done.stdout.split())

    for business in (intact, shop):  # NEVER pays up: the tool's suspension ends
        business.pay("NEVER", _owed(business, "NEVER"), NEXT_DAYS[0], payment_id="P-NEVER-1")
    for day in NEXT_DAYS:
        assert intact.run(day).exit_code == shop.run(day).exit_code == 0
    assert len(shop.activity("client_reconnected")) == 2
    assert shop.clients()["NEVER"].status == "active"
    # the same emails, and none of the old ones written again
    assert sorted(_outbox(shop)) == sorted(_outbox(intact))
    assert {k: v for k, v in _outbox(shop).items() if k in before} == before
    keys = [m.key for m in shop.mails()]
    assert len(keys) == len(set(keys))
    # the same invoices, numbers never reused, each service period billed once
    numbers = [i.invoice_number for i in shop.book().invoices]
    assert len(numbers) == len(set(numbers))
    assert {i.invoice_number: i.total for i in shop.book().invoices} == \
        {i.invoice_number: i.total for i in intact.book().invoices}
    periods = Counter((r["service_id"], r["period_start"]) for r in shop.sheet("InvoiceLines")
                      if r["period_start"])
    assert periods and max(periods.values()) == 1
    assert shop.sheet("Charges") == intact.sheet("Charges")
    # and the runs since did the same things: no payment logged, fee or reminder stage again
    assert _since(shop, NEXT_DAYS[0]) == _since(intact, NEXT_DAYS[0])


def _since(business: Business, day: dt.date) -> list[tuple[object, ...]]:
    """The Activity rows of the runs from `day` on: what they did, without the time."""
    return [(r["action"], r["client_id"], r["invoice_number"], r["detail"])
            for r in business.activity() if r["timestamp"] >= dt.datetime.combine(day, dt.time())]


def test_recovery_without_the_activity_tab_still_never_fees_twice(played, tmp_path):
    """The owner moved the Activity rows out (the tab was full): the fee rows themselves and
    Invoices.reminder_stage still tell what was done."""
    intact, shop = _copy(played, tmp_path / "intact"), _copy(played, tmp_path / "shop")
    _drop_journal(shop)
    _clear_tab(shop, "Activity")
    assert not shop.activity()
    assert ispsheets("recover-journal", cwd=shop.folder).returncode == 0

    for day in NEXT_DAYS:
        intact.run(day)
        shop.run(day)

    assert [r for r in shop.sheet("Charges") if str(r["description"]).startswith("Late")] == \
        [r for r in intact.sheet("Charges") if str(r["description"]).startswith("Late")]
    fees = [(r["client_id"], r["invoice_number"]) for r in intact.activity("late_fee_added")
            if r["timestamp"] >= dt.datetime.combine(NEXT_DAYS[0], dt.time())]
    assert fees and [(r["client_id"], r["invoice_number"])
                     for r in shop.activity("late_fee_added")] == fees
    assert _since(shop, NEXT_DAYS[0]) == _since(intact, NEXT_DAYS[0])


def _clear_tab(business: Business, tab: str) -> None:
    """Delete every row but the header of a tab (as the owner would in Excel)."""
    import zipfile

    from ispsheets.book.xlsx_package import Package
    from ispsheets.book.xlsx_workbook import Workbook

    data = business.workbook.read_bytes()
    part = Workbook(Package(data)).find(tab)
    assert part is not None
    with zipfile.ZipFile(business.workbook) as source:
        members = {name: source.read(name) for name in source.namelist()}
    xml = members[part.part].decode()
    start, end = xml.index("<sheetData>"), xml.index("</sheetData>")
    first_row_end = xml.index("</row>", start) + len("</row>")
    members[part.part] = (xml[:first_row_end] + xml[end:]).encode()
    with zipfile.ZipFile(business.workbook, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in members.items():
            target.writestr(name, content)


def test_a_journal_that_does_not_know_the_workbook_s_invoices_stops_the_run(played, tmp_path):
    shop = _copy(played, tmp_path / "shop")
    _drop_journal(shop)
    Journal.open(_journal(shop)).close()  # a new, empty journal (run from another folder?)
    outbox = _outbox(shop)

    result = ispsheets("invoice", "--date", "2027-01-31", cwd=shop.folder)

    assert result.returncode == 2
    said = " ".join(result.stderr.split())
    assert "the journal does not know 6 invoice(s) the workbook shows (INV-00001, INV-00002 " \
           "… INV-00006)" in said and "ispsheets recover-journal" in said
    assert _outbox(shop) == outbox


def test_recover_journal_leaves_a_sound_journal_alone(played, tmp_path):
    shop = _copy(played, tmp_path / "shop")
    journal = _journal(shop).read_bytes()

    result = ispsheets("recover-journal", cwd=shop.folder)

    assert result.returncode == 0 and "nothing to recover" in result.stdout
    assert _journal(shop).read_bytes() == journal


def test_recover_journal_keeps_the_damaged_file(played, tmp_path):
    shop = _copy(played, tmp_path / "shop")
    _drop_journal(shop)
    _journal(shop).write_bytes(b"garbage" * 100)

    assert ispsheets("recover-journal", cwd=shop.folder).returncode == 0

    kept = list(shop.folder.glob("ispsheets.db.broken-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"garbage" * 100
    assert ispsheets("run", "--dry-run", "--date", "2027-01-16", cwd=shop.folder).returncode \
        == 0


# -- copies and generations ------------------------------------------------------------------


def test_every_workbook_backup_has_a_journal_copy_beside_it_that_opens(played):
    backups = played.folder / "backups"
    workbooks = sorted(backups.glob("isp-*.xlsx"))
    copies = sorted(backups.glob("isp-*.ispsheets.db"))
    assert workbooks and [p.name.removesuffix(".ispsheets.db") for p in copies] == \
        [p.stem for p in workbooks]  # two kept (workbook.backups: 2), pruned together
    newest = Journal.open(copies[-1])
    try:
        assert newest.invoice_numbers() == {i.invoice_number for i in played.book().invoices}
        assert newest.last_write() == read_generation(played.workbook)
    finally:
        newest.close()


def test_the_workbook_carries_the_generation_of_the_last_write(played):
    journal = Journal.open(_journal(played))
    try:
        assert read_generation(played.workbook) == journal.last_write() > 1
    finally:
        journal.close()


# -- a workbook backup put back ----------------------------------------------------------------


def test_restoring_an_older_workbook_puts_back_fees_statuses_and_bills_the_same(played,
                                                                                tmp_path):
    intact, shop = _copy(played, tmp_path / "intact"), _copy(played, tmp_path / "shop")
    # the owner puts back their copy from before Dec 30's run (no late fees, no suspensions,
    # no reconnection yet), then types in again the one payment that came since
    shutil.copy(shop.folder / "owner-copies" / "before-2026-12-30.xlsx", shop.workbook)
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


def _billed(path: Path) -> set[tuple[str, str, str]]:
    journal = Journal.open(path)
    try:
        return {(b.kind, b.key, number) for b, number in journal.billed()}
    finally:
        journal.close()


def test_recovery_bills_what_the_journal_billed_a_voided_and_rebilled_invoice_included(
        played, tmp_path):
    shop = _copy(played, tmp_path / "shop")
    pays_january = next(i.invoice_number for i in shop.book().invoices
                        if i.client_id == "PAYS" and i.issue_date == DEC_31)
    shop.edit(ChangeSet(sets=(SetCell("Invoices", pays_january, "status", "void"),)))
    shop.run(NEXT_DAYS[0])
    assert ispsheets("rebill", pays_january, cwd=shop.folder).returncode == 0
    shop.run(NEXT_DAYS[1])
    billed = _billed(_journal(shop))
    assert ("period", "S1/2027-01-01", pays_january) not in billed  # billed again, later

    lost = _copy(shop, tmp_path / "lost")
    _drop_journal(lost)
    assert ispsheets("recover-journal", cwd=lost.folder).returncode == 0

    assert _billed(_journal(lost)) == billed


# -- any of it, in any order -------------------------------------------------------------------

MISHAPS = ("none", "restore an older copy", "restore an older copy, the report first",
           "journal deleted", "journal garbage", "journal lost, its newest copy put back")
COPIES = tuple(f"before-{day.isoformat()}" for day in RUN_DAYS[1:])


def _retype_lost_payments(shop: Business, intact: Business) -> None:
    """What the owner typed after the copy was saved, typed in again."""
    have = {(p.client_id, p.date, p.amount) for p in shop.book().payments}
    for payment in intact.book().payments:
        if (payment.client_id, payment.date, payment.amount) not in have:
            shop.pay(payment.client_id, str(payment.amount), payment.date, payment.method,
                     payment_id=payment.payment_id)


@pytest.mark.slow
@example(mishaps=["restore an older copy, the report first", "none"], copy=COPIES[1])
@example(mishaps=["restore an older copy", "journal deleted"], copy=COPIES[0])
@example(mishaps=["journal garbage", "restore an older copy"], copy=COPIES[2])
@example(mishaps=["none", "restore an older copy"], copy=COPIES[3])
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mishaps=st.lists(st.sampled_from(MISHAPS), min_size=len(NEXT_DAYS),
                        max_size=len(NEXT_DAYS)),
       copy=st.sampled_from(COPIES))
def test_owner_mishaps_between_runs_change_nothing_a_client_sees(played, tmp_path_factory,
                                                                 mishaps, copy):
    from ispsheets.recovery.command import recover

    base = tmp_path_factory.mktemp("mishaps")
    intact, shop = _copy(played, base / "intact"), _copy(played, base / "shop")
    for day, mishap in zip(NEXT_DAYS, mishaps, strict=True):
        if mishap.startswith("restore an older copy"):
            shutil.copy(shop.folder / "owner-copies" / f"{copy}.xlsx", shop.workbook)
            _retype_lost_payments(shop, intact)
            if mishap.endswith("the report first"):  # reads only: queues, writes nothing
                now = dt.datetime.combine(day, dt.time(5))
                report = run(shop.config, RunOptions(day, now, steps=("report",), write=False))
                assert any("the run puts back" in str(p) for p in report.problems)
        elif mishap == "journal lost, its newest copy put back":
            newest = sorted((shop.folder / "backups").glob("*.ispsheets.db"))[-1]
            _drop_journal(shop)
            shutil.copy(newest, _journal(shop))
        elif mishap.startswith("journal"):
            _drop_journal(shop)
            if mishap == "journal garbage":
                _journal(shop).write_bytes(b"\x00garbage" * 512)
            assert shop.run(day).exit_code == 2  # stops, nothing done
            assert not recover(shop.config, dt.datetime.combine(day, dt.time(6))).failed
        assert intact.run(day).exit_code == shop.run(day).exit_code == 0

    assert shop.sheet("Charges") == intact.sheet("Charges")
    assert {c.client_id: c.status for c in shop.book().clients} == \
        {c.client_id: c.status for c in intact.book().clients}
    assert {i.invoice_number: (i.total, i.balance, i.status) for i in shop.book().invoices} == \
        {i.invoice_number: (i.total, i.balance, i.status) for i in intact.book().invoices}
    assert sorted(_outbox(shop)) == sorted(_outbox(intact))
    assert _since(shop, NEXT_DAYS[0]) == _since(intact, NEXT_DAYS[0])
