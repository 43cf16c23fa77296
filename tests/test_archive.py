"""Closed history moves to yearly archive workbooks, and nothing in the numbers changes.

One small ISP's fourteen months, run on the same days twice: once keeping everything in the
workbook (archive_after_months: 0), once archiving after 2 months. What the owner and the
clients see (balances, statuses, open invoices, every email, the report) is the same.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from ispsheets.book.reader import read_xlsx
from ispsheets.faults import ARCHIVE_POINTS
from tests.scenario import Business, row

pytestmark = pytest.mark.slow  # fourteen months, twice: ~45 s

D = Decimal
FIRST, LAST = dt.date(2025, 11, 30), dt.date(2027, 1, 24)
RUN_DAYS = (1, 10, 17, 24, 30)

CLIENTS = {
    "ONTIME": "pays each invoice 5 days after it is issued",
    "LATE": "pays each invoice 25 days after its due date: reminders, fee, suspension",
    "SPLIT": "pays 30.00 twice a month: payments split over invoices",
    "STOPS": "pays on time until March 2026, then never again",
}


def _rows() -> dict[str, list[tuple[object, ...]]]:
    packages = [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                    interval="monthly", download_mbps=100, upload_mbps=20)]
    clients, services = [], []
    for n, client_id in enumerate(CLIENTS, start=1):
        clients.append(row("Clients", client_id=client_id, name=f"Client {client_id.title()}",
                           email=f"{client_id.lower()}@example.com"))
        services.append(row("Services", service_id=f"S{n}", client_id=client_id,
                            package_id="HOME", start_date=dt.date(2025, 12, 1)))
    return {"Packages": packages, "Clients": clients, "Services": services}


def _days(run_days: tuple[int, ...] = RUN_DAYS) -> list[dt.date]:
    """The days from FIRST to LAST whose day of the month is one of `run_days`."""
    days, day = [], FIRST
    while day <= LAST:
        if day.day in run_days:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _set_months(business: Business, months: int) -> None:
    path = business.folder / "config.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["workbook"]["archive_after_months"] = months
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    business.reload_config()


def _typed_before(day: dt.date) -> list[tuple[str, str, dt.date]]:
    """(client, amount, date) the owner types in before the run of `day`."""
    typed = []
    if day.day == 10:  # invoices issued on the last day of the month, due the 15th
        typed.append(("ONTIME", "49.99", day))
        if day < dt.date(2026, 3, 1):
            typed.append(("STOPS", "49.99", day))
    if day.day == 10 and day.month % 2 == 0:
        typed.append(("LATE", "99.98", day))  # two months at a time: fees follow
    if day.day in (10, 24):
        typed.append(("SPLIT", "30.00", day))
    return typed


def _live(folder: Path, months: int) -> Business:
    business = Business.create(folder, _rows())
    _set_months(business, months)
    for day in _days():
        for client, amount, when in _typed_before(day):
            business.pay(client, amount, when)
        report = business.run(day)
        assert report.exit_code.value <= 1, report.problems
    return business


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Business, Business]:
    return (_live(tmp_path_factory.mktemp("kept"), 0),
            _live(tmp_path_factory.mktemp("archived"), 2))


def test_archive_moves_settled_rows_out(pair) -> None:
    kept, archived = pair
    assert len(archived.sheet("Invoices")) < len(kept.sheet("Invoices"))
    files = sorted((archived.folder / "archive").glob("*.xlsx"))
    assert [f.name for f in files] == ["isp-2025.xlsx", "isp-2026.xlsx"]
    assert archived.activity("archived")


def _rows_by_key(business: Business, tab: str, key: str, *, archive: bool) -> dict:
    books = [business.workbook]
    if archive:
        books += sorted((business.folder / "archive").glob("*.xlsx"))
    found: dict[object, dict] = {}
    for path in books:
        sheet = read_xlsx(path).sheets[tab]
        header = [str(h) for h in sheet.header]
        for cells in sheet.rows[1:]:
            values = dict(zip(header, cells, strict=False))
            ident = tuple(values[k] for k in key.split("+"))
            assert ident not in found, f"{ident} shown twice ({path.name})"
            found[ident] = values
    return found


def test_every_row_is_in_the_workbook_or_its_archive_exactly_once(pair) -> None:
    kept, archived = pair
    for tab, key in (("Invoices", "invoice_number"), ("InvoiceLines", "invoice_number+line"),
                     ("Payments", "payment_id"), ("Charges", "charge_id")):
        assert _rows_by_key(archived, tab, key, archive=True) == \
            _rows_by_key(kept, tab, key, archive=False), tab
    in_archive = [tuple(r) for p in sorted((archived.folder / "archive").glob("*.xlsx"))
                  for r in read_xlsx(p).sheets["Activity"].rows[1:]]
    assert in_archive
    everything = in_archive + [tuple(r.values()) for r in archived.activity()]
    assert sorted(r for r in everything if r[1] != "archived") == \
        sorted(tuple(r.values()) for r in kept.activity())


def test_nothing_open_moves(pair) -> None:
    _, archived = pair
    for path in (archived.folder / "archive").glob("*.xlsx"):
        statuses = {r[11] for r in read_xlsx(path).sheets["Invoices"].rows[1:]}
        assert statuses <= {"paid", "void"}, path.name
    shown = {r["invoice_number"]: r["status"] for r in archived.sheet("Invoices")}
    assert {"open", "partial"} & set(shown.values())  # STOPS' invoices stay, however old


def test_balances_statuses_and_invoices_are_the_same(pair) -> None:
    kept, archived = pair
    assert archived.clients() == kept.clients()
    assert archived.clients()["STOPS"].balance > 0
    assert archived.clients()["STOPS"].status == "suspended"
    open_kept = {r["invoice_number"]: r for r in kept.sheet("Invoices")
                 if r["status"] not in ("paid", "void")}
    open_archived = {r["invoice_number"]: r for r in archived.sheet("Invoices")
                     if r["status"] not in ("paid", "void")}
    assert open_archived == open_kept


def test_every_email_is_the_same(pair) -> None:
    kept, archived = pair
    assert [(m.key, m.to, m.subject, m.text, m.day) for m in archived.mails()] == \
        [(m.key, m.to, m.subject, m.text, m.day) for m in kept.mails()]
    kinds = {m.kind for m in kept.mails()}
    assert {"invoice", "reminder", "suspend", "receipt"} <= kinds, kinds
    fees = [r for r in kept.sheet("Charges") if str(r["description"]).startswith("Late fee")]
    assert fees and _rows_by_key(archived, "Charges", "charge_id", archive=True)


def test_the_report_is_the_same(pair) -> None:
    kept, archived = pair
    def last_report(business: Business) -> dict:
        path = sorted((business.folder / "reports").glob("*.xlsx"))[-1]
        return {name: sheet.rows for name, sheet in read_xlsx(path).sheets.items()}
    assert last_report(archived) == last_report(kept)


def test_status_is_the_same(pair) -> None:
    from rich.console import Console

    from ispsheets.status import show_status

    def shown(business: Business) -> list[str]:
        console = Console(record=True, width=160)
        show_status(business.config, LAST + dt.timedelta(days=1), console)
        lines = console.export_text().splitlines()
        plan = next(i for i, line in enumerate(lines)
                    if line.startswith(("What the run of", "The run of")))
        return lines[:plan]  # what the business is; what the next run does may differ
    kept, archived = pair
    assert shown(archived) == shown(kept)


# -- a kill in the middle of the move ----------------------------------------------------------

SHORT_LAST = dt.date(2026, 3, 24)


def _short_story(business: Business, first: dt.date, last: dt.date) -> list[dt.date]:
    """Run the run days from first to last; the days whose run archived something."""
    archived_on = []
    for day in _days():
        if first <= day <= last:
            for client, amount, when in _typed_before(day):
                business.pay(client, amount, when)
            report = business.run(day)
            assert report.exit_code.value <= 1, report.problems
            if report.counts["rows archived"]:
                archived_on.append(day)
    return archived_on


def _everything(business: Business) -> dict[str, object]:
    seen: dict[str, object] = {}
    for tab, key in (("Invoices", "invoice_number"), ("InvoiceLines", "invoice_number+line"),
                     ("Payments", "payment_id"), ("Charges", "charge_id")):
        seen[tab] = {k: {c: v for c, v in r.items() if c != "sent_at"}  # run-time stamps
                     for k, r in _rows_by_key(business, tab, key, archive=True).items()}
        seen[f"{tab} in the workbook"] = sorted(str(r[key.split("+")[0]])
                                                for r in business.sheet(tab))
    rows = [tuple(r) for p in sorted((business.folder / "archive").glob("*.xlsx"))
            for r in read_xlsx(p).sheets["Activity"].rows[1:]]
    rows += [tuple(r.values()) for r in business.activity()]
    seen["Activity"] = sorted(r[1:] for r in rows if r[1] != "archived")
    seen["mails"] = [m.key for m in business.mails()]
    seen["clients"] = business.clients()
    return seen


@pytest.fixture(scope="module")
def short_story(tmp_path_factory) -> tuple[dict[str, object], dt.date]:
    business = Business.create(tmp_path_factory.mktemp("undisturbed"), _rows())
    _set_months(business, 1)
    archived_on = _short_story(business, FIRST, SHORT_LAST)
    return _everything(business), archived_on[0]


@pytest.mark.parametrize("point", [p for p in ARCHIVE_POINTS if p.startswith("archive")])
def test_a_run_killed_in_the_move_is_finished_by_the_next(tmp_path, short_story, point) -> None:
    undisturbed, day = short_story
    business = Business.create(tmp_path, _rows())
    _set_months(business, 1)
    _short_story(business, FIRST, day - dt.timedelta(days=1))
    for client, amount, when in _typed_before(day):
        business.pay(client, amount, when)
    killed = subprocess.run(
        [sys.executable, "-m", "ispsheets", "run", "--date", day.isoformat(),
         "--config", str(tmp_path / "config.yaml")],
        env={**os.environ, "ISPSHEETS_KILL_AT": point}, capture_output=True, text=True,
        timeout=120)
    assert killed.returncode == 137, killed.stderr  # it really died there
    business.run(day)  # cron runs again
    _short_story(business, day + dt.timedelta(days=1), SHORT_LAST)
    assert _everything(business) == undisturbed


# -- the command -------------------------------------------------------------------------------


def _command(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ispsheets", *args,
                           "--config", str(folder / "config.yaml")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def never_archived(tmp_path_factory) -> Business:
    business = Business.create(tmp_path_factory.mktemp("never"), _rows())
    _set_months(business, 0)
    _short_story(business, FIRST, SHORT_LAST)
    assert not (business.folder / "archive").exists()  # 0 = never
    return business


def _copy(business: Business, folder: Path) -> Business:
    """A copy of a module fixture's business, for a test that changes it."""
    import shutil

    shutil.copytree(business.folder, folder)
    copy = Business(folder)
    copy.reload_config()
    return copy


def test_archive_command_dry_run_then_move_then_restore(tmp_path, never_archived) -> None:
    business = _copy(never_archived, tmp_path / "copy")
    folder = business.folder
    invoices_before = business.sheet("Invoices")
    balances = {c: x.balance for c, x in business.clients().items()}

    planned = _command(folder, "archive", "--before", "2026-02-01", "--date", "2026-03-25",
                       "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "dated before 2026-02-01" in planned.stdout
    assert business.sheet("Invoices") == invoices_before

    moved = _command(folder, "archive", "--before", "2026-02-01", "--date", "2026-03-25")
    assert moved.returncode == 0, moved.stderr + moved.stdout
    shown = {r["invoice_number"] for r in business.sheet("Invoices")}
    assert "INV-00002" not in shown  # ONTIME's December invoice, paid Dec 10
    assert {r["invoice_number"] for r in invoices_before
            if r["status"] not in ("paid", "void")} <= shown
    assert {r["invoice_number"] for r in invoices_before if r["due_date"] >= dt.date(2026, 2, 1)
            } <= shown
    archived = read_xlsx(folder / "archive" / "isp-2025.xlsx").sheets["Invoices"].rows
    assert "INV-00002" in [r[0] for r in archived]
    assert {c: x.balance for c, x in business.clients().items()} == balances

    refused = _command(folder, "rebill", "INV-00002")
    assert refused.returncode == 2
    assert "archive --restore INV-00002" in " ".join(refused.stderr.split())

    restored = _command(folder, "archive", "--restore", "INV-00002")
    assert restored.returncode == 0, restored.stderr
    assert "INV-00002" in {r["invoice_number"] for r in business.sheet("Invoices")}
    archived = read_xlsx(folder / "archive" / "isp-2025.xlsx").sheets["Invoices"].rows
    assert "INV-00002" not in [r[0] for r in archived]
    assert [r for r in business.sheet("InvoiceLines") if r["invoice_number"] == "INV-00002"]
    assert [r for r in business.sheet("Payments") if r["applied_to"] == "INV-00002:49.99"]

    again = _command(folder, "archive", "--before", "2026-02-01", "--date", "2026-03-26")
    assert again.returncode == 0, again.stderr
    assert "INV-00002" in {r["invoice_number"] for r in business.sheet("Invoices")}
    assert {c: x.balance for c, x in business.clients().items()} == balances


def test_check_says_an_edit_in_the_archive_is_ignored(tmp_path, never_archived) -> None:
    import shutil

    from ispsheets.book.changes import ChangeSet, SetCell
    from ispsheets.book.xlsx_backend import apply_changes

    folder = tmp_path / "copy"
    shutil.copytree(never_archived.folder, folder)
    moved = _command(folder, "archive", "--before", "2026-03-01", "--date", "2026-03-25")
    assert moved.returncode == 0, moved.stderr
    assert "Payments" not in _command(folder, "check").stdout + _command(folder, "check").stderr
    path = folder / "archive" / "isp-2026.xlsx"
    payment = read_xlsx(path).sheets["Payments"].rows[1][0]
    apply_changes(path, ChangeSet(sets=(SetCell("Payments", payment, "amount", D("1.00")),)),
                  backup_dir=tmp_path / "b", keep_backups=0, expected_fingerprint=None,
                  now=dt.datetime(2026, 3, 25))
    checked = _command(folder, "check")
    said = " ".join((checked.stdout + checked.stderr).split())
    assert f"({payment}) was changed after it moved to the archive (amount)" in said
    assert "the change is ignored" in said


def _moved_copy(tmp_path: Path, never_archived: Business, before: str) -> Business:
    """A copy of the never-archived business after `ispsheets archive --before BEFORE`."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(never_archived.folder, folder)
    moved = _command(folder, "archive", "--before", before, "--date", "2026-03-25")
    assert moved.returncode == 0, moved.stderr
    business = Business(folder)
    business.reload_config()
    return business


def test_check_reads_only_the_archive_years_whose_files_changed(tmp_path, never_archived,
                                                               monkeypatch) -> None:
    """Years of archive files as the archive wrote them are hashed, not read (at 20,000
    clients with three years, reading them all took `check` past 13 GB)."""
    import ispsheets.archive.parts as parts
    from ispsheets.book.changes import ChangeSet, SetCell
    from ispsheets.book.check import check_workbook
    from ispsheets.book.xlsx_backend import apply_changes

    business = _moved_copy(tmp_path, never_archived, "2026-03-01")
    folder = business.folder
    assert sorted(p.name for p in (folder / "archive").glob("*.xlsx")) == \
        ["isp-2025.xlsx", "isp-2026.xlsx"]
    read = files_read(monkeypatch, parts)

    assert not [p for p in check_workbook(business.config).problems if "archive" in p.where]
    assert read == []

    path = folder / "archive" / "isp-2026.xlsx"
    payment = read_xlsx(path).sheets["Payments"].rows[1][0]
    apply_changes(path, ChangeSet(sets=(SetCell("Payments", payment, "amount", D("1.00")),)),
                  backup_dir=tmp_path / "b", keep_backups=0, expected_fingerprint=None,
                  now=dt.datetime(2026, 3, 25))
    said = [str(p) for p in check_workbook(business.config).problems]
    assert read == ["isp-2026.xlsx"]
    assert any(f"({payment}) was changed after it moved" in p for p in said), said


def test_check_knows_the_archived_invoice_a_payment_names_as_the_run_does(
        tmp_path, never_archived) -> None:
    from ispsheets.book.check import check_workbook

    business = _moved_copy(tmp_path, never_archived, "2026-02-01")
    assert "INV-00002" not in {r["invoice_number"] for r in business.sheet("Invoices")}
    business.pay("ONTIME", "5.00", dt.date(2026, 3, 26), invoice_number="INV-00002")
    business.pay("ONTIME", "5.00", dt.date(2026, 3, 26), invoice_number="INV-09999")

    said = [str(p) for p in check_workbook(business.config).problems
            if "is not on the Invoices tab" in str(p)]
    ran = [str(p) for p in business.run(dt.date(2026, 3, 26)).problems
           if "is not on the Invoices tab" in str(p)]

    assert [p.split(":")[0] for p in said] == [p.split(":")[0] for p in ran]
    assert len(said) == 1 and "INV-09999" in said[0]  # the archived one is known


def test_an_older_workbook_put_back_loses_its_archived_rows_again(tmp_path, never_archived
                                                                   ) -> None:
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(never_archived.folder, folder)
    older = (folder / "isp.xlsx").read_bytes()
    moved = _command(folder, "archive", "--before", "2026-03-01", "--date", "2026-03-25")
    assert moved.returncode == 0, moved.stderr
    (folder / "isp.xlsx").write_bytes(older)  # the owner puts back the copy from before
    business = Business(folder)
    business.reload_config()
    report = business.run(dt.date(2026, 3, 25))
    assert report.exit_code.value <= 1, report.problems
    for tab, key in (("Invoices", "invoice_number"), ("Payments", "payment_id")):
        assert _rows_by_key(business, tab, key, archive=True)  # each row once (asserted inside)
    assert {c: x.balance for c, x in business.clients().items()} == \
        {c: x.balance for c, x in never_archived.clients().items()}


def test_an_archived_invoice_open_again_comes_back(tmp_path, never_archived) -> None:
    business = _moved_copy(tmp_path, never_archived, "2026-03-01")
    folder = business.folder
    assert "INV-00002" not in business.invoices()
    balance = business.clients()["ONTIME"].balance
    business.pay("ONTIME", "-49.99", dt.date(2026, 3, 26), "refund", invoice_number="INV-00002")
    report = business.run(dt.date(2026, 3, 26))
    assert report.exit_code.value <= 1, report.problems
    assert any("INV-00002 was in the archive" in p.message for p in report.problems)
    back = business.invoices()["INV-00002"]
    assert back.status == "open" and back.balance == D("49.99")
    assert business.clients()["ONTIME"].balance == balance + D("49.99")
    archived = read_xlsx(folder / "archive" / "isp-2025.xlsx").sheets["Invoices"].rows
    assert "INV-00002" not in [r[0] for r in archived]


def test_a_lost_journal_is_rebuilt_from_the_workbook_and_its_archives(tmp_path, never_archived
                                                                       ) -> None:
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(never_archived.folder, folder)
    moved = _command(folder, "archive", "--before", "2026-03-01", "--date", "2026-03-25")
    assert moved.returncode == 0, moved.stderr
    business = Business(folder)
    business.reload_config()
    balances = {c: x.balance for c, x in business.clients().items()}
    business.config.journal_path.unlink()
    rebuilt = _command(folder, "recover-journal")
    assert rebuilt.returncode == 0, rebuilt.stderr + rebuilt.stdout
    assert "recorded as archived" in rebuilt.stdout
    report = business.run(dt.date(2026, 3, 26))
    assert report.exit_code.value <= 1, report.problems
    assert report.issued == []  # nothing billed again: the archived periods are known
    assert {c: x.balance for c, x in business.clients().items()} == balances
    assert "INV-00002" not in business.invoices()  # and stays in the archive


# Fixed cutoffs rather than a Hypothesis search: each example is several real runs (seconds);
# these cut before, inside and after LATE's fee-and-suspension months and STOPS' last payment.
@pytest.mark.parametrize("before", ["2025-12-20", "2026-01-16", "2026-02-11", "2026-03-24"])
def test_any_cutoff_changes_nothing_the_next_runs_do(tmp_path, never_archived, before) -> None:
    import shutil

    kept, cut = tmp_path / "kept", tmp_path / "cut"
    shutil.copytree(never_archived.folder, kept)
    shutil.copytree(never_archived.folder, cut)
    moved = _command(cut, "archive", "--before", before, "--date", "2026-03-24")
    assert moved.returncode == 0, moved.stderr
    seen = []
    for folder in (kept, cut):
        business = Business(folder)
        business.reload_config()
        for day in (dt.date(2026, 3, 31), dt.date(2026, 4, 10), dt.date(2026, 4, 17)):
            for client, amount, when in _typed_before(day):
                business.pay(client, amount, when)
            assert business.run(day).exit_code.value <= 1
        seen.append((business.clients(),
                     [(m.key, m.subject, m.text) for m in business.mails()],
                     {n: (i.status, i.balance, i.reminder_stage)
                      for n, i in business.invoices().items()
                      if i.status not in ("paid", "void")}))
    assert seen[1] == seen[0]


def test_a_restore_killed_half_way_is_finished_by_running_it_again(tmp_path, never_archived
                                                                   ) -> None:
    business = _copy(never_archived, tmp_path / "copy")
    folder = business.folder
    moved = _command(folder, "archive", "--before", "2026-02-01", "--date", "2026-03-25")
    assert moved.returncode == 0, moved.stderr
    killed = subprocess.run(
        [sys.executable, "-m", "ispsheets", "archive", "--restore", "INV-00002",
         "--config", str(folder / "config.yaml")],
        env={**os.environ, "ISPSHEETS_KILL_AT": "restore-appended"}, capture_output=True,
        text=True, timeout=120)
    assert killed.returncode == 137, killed.stderr
    assert "INV-00002" in business.invoices()  # appended, not yet out of the archive
    report = business.run(dt.date(2026, 3, 26))  # a run in between counts it once
    assert report.exit_code.value <= 1, report.problems
    assert {c: x.balance for c, x in business.clients().items()} == \
        {c: x.balance for c, x in never_archived.clients().items()}
    again = _command(folder, "archive", "--restore", "INV-00002")
    assert again.returncode == 0, again.stderr
    for tab, key in (("Invoices", "invoice_number"), ("InvoiceLines", "invoice_number+line"),
                     ("Payments", "payment_id")):
        _rows_by_key(business, tab, key, archive=True)  # each row once (asserted inside)
    archived = read_xlsx(folder / "archive" / "isp-2025.xlsx").sheets["Invoices"].rows
    assert "INV-00002" not in [r[0] for r in archived]


# -- what a move reads ---------------------------------------------------------------------------


def _archive_in_process(business: Business, before: str, day: dt.date):
    """`ispsheets archive --before … --date …`, in this process (so what it reads is seen)."""
    from ispsheets.runner import RunOptions, run

    return run(business.config, RunOptions(
        today=day, now=dt.datetime.combine(day, dt.time(7)), steps=("archive",),
        archive_before=dt.date.fromisoformat(before)))


def files_read(monkeypatch, *modules) -> list[str]:
    """The names of the files `read_xlsx` reads through `modules` from now on, in order."""
    read: list[str] = []

    def reading(path: Path):
        read.append(path.name)
        return read_xlsx(path)

    for module in modules:
        monkeypatch.setattr(module, "read_xlsx", reading)
    return read


def test_an_archive_file_the_move_wrote_last_is_appended_to_unread(tmp_path, never_archived,
                                                                     monkeypatch) -> None:
    """A month's move costs the rows moved, not the year's file: the file is read (to skip
    rows it shows already) only when it changed since the archive last wrote it."""
    import ispsheets.archive.move as move
    from ispsheets.book.changes import ChangeSet, SetCell
    from ispsheets.book.xlsx_backend import apply_changes

    business = _copy(never_archived, tmp_path / "copy")
    read = files_read(monkeypatch, move)
    day = dt.date(2026, 3, 25)
    assert _archive_in_process(business, "2026-01-01", day).exit_code.value == 0
    assert _archive_in_process(business, "2026-02-01", day).exit_code.value == 0
    assert read == []  # the files were new, or as the move before left them
    moved = {p.name for p in (business.folder / "archive").glob("*.xlsx")}
    assert moved == {"isp-2025.xlsx", "isp-2026.xlsx"}
    path = business.folder / "archive" / "isp-2026.xlsx"
    payment = read_xlsx(path).sheets["Payments"].rows[1][0]
    apply_changes(path, ChangeSet(sets=(SetCell("Payments", payment, "amount", D("1.00")),)),
                  backup_dir=tmp_path / "b", keep_backups=0, expected_fingerprint=None,
                  now=dt.datetime(2026, 3, 25))  # the owner edits the archive file
    assert _archive_in_process(business, "2026-03-01", day).exit_code.value == 0
    assert read == ["isp-2026.xlsx"]  # edited since: read, its keys checked
    for tab, key in (("Invoices", "invoice_number"), ("InvoiceLines", "invoice_number+line"),
                     ("Payments", "payment_id"), ("Charges", "charge_id")):
        _rows_by_key(business, tab, key, archive=True)  # each row once (asserted inside)


def test_a_workbook_and_journal_put_back_together_move_no_row_twice(tmp_path, never_archived
                                                                    ) -> None:
    """The owner puts back last week's workbook and journal (but not the archive files): the
    rows they show that the archive holds already are removed again, never appended twice."""
    business = _copy(never_archived, tmp_path / "copy")
    folder = business.folder
    older = {name: (folder / name).read_bytes() for name in ("isp.xlsx", "ispsheets.db")}
    for before in ("2026-01-01", "2026-02-01"):
        moved = _command(folder, "archive", "--before", before, "--date", "2026-03-25")
        assert moved.returncode == 0, moved.stderr + moved.stdout
    archived = {p.name: read_xlsx(p).sheets["Activity"].rows
                for p in sorted((folder / "archive").glob("*.xlsx"))}
    for name, data in older.items():
        (folder / name).write_bytes(data)
    again = _command(folder, "archive", "--before", "2026-02-01", "--date", "2026-03-25")
    assert again.returncode == 0, again.stderr + again.stdout
    for tab, key in (("Invoices", "invoice_number"), ("InvoiceLines", "invoice_number+line"),
                     ("Payments", "payment_id"), ("Charges", "charge_id")):
        _rows_by_key(business, tab, key, archive=True)  # each row once (asserted inside)
    assert {p.name: read_xlsx(p).sheets["Activity"].rows
            for p in sorted((folder / "archive").glob("*.xlsx"))} == archived
    assert {c: x.balance for c, x in business.clients().items()} == \
        {c: x.balance for c, x in never_archived.clients().items()}


def test_the_move_drops_the_texts_only_the_moved_rows_used(tmp_path, never_archived) -> None:
    """A workbook the owner saved in Excel holds its texts in the shared string table: the
    archive's write drops the ones only the moved rows used, and every cell reads as the
    same move into a workbook without that table leaves it."""
    from tests.test_xlsx_compact import as_saved_by_excel, used_items

    plain = _copy(never_archived, tmp_path / "plain")
    saved = _copy(never_archived, tmp_path / "saved")
    items = as_saved_by_excel(saved.workbook)
    day = dt.date(2026, 3, 25)
    for business in (plain, saved):
        assert _archive_in_process(business, "2026-03-01", day).exit_code.value == 0
    count, used = used_items(saved.workbook)
    assert used == set(range(count)) and count < items * 3 / 4  # only used items
    left, right = read_xlsx(plain.workbook).sheets, read_xlsx(saved.workbook).sheets
    assert left.keys() == right.keys()
    for tab in left:
        assert right[tab].rows == left[tab].rows, tab
