"""A small ISP on disk, run day by day the way cron runs it, with payments typed in between.

`Business` writes a real config.yaml and a real .xlsx workbook, runs the real daily cycle for a
given date (in-process, through `ispsheets.runner.run`), types payments into the Payments tab
as the owner would, and reads back what a person would see: the workbook, the outbox, the
activity log.

With `backend="gsheets"` (or ISPSHEETS_TEST_BACKEND=gsheets for a whole test session) the same
business keeps its books in a Google Sheet on the fake Sheets service (tests/fake_sheets.py)
instead, reached through the real command's emulator address.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import shutil
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from ispsheets.book.changes import AppendRow, ChangeSet, SetCell
from ispsheets.book.load import load_book
from ispsheets.book.reader import RawBook, read_xlsx
from ispsheets.book.records import Book
from ispsheets.book.schema import TABS_BY_NAME
from ispsheets.book.template import build_template
from ispsheets.book.xlsx_backend import apply_changes
from ispsheets.config import Config, load_config
from ispsheets.runner import STEPS, RunOptions, RunReport, run

D = Decimal
BASE_CONFIG = """
company: {name: "Prairie Net", email: billing@prairie.example.com, address: "1 Main St"}
timezone: UTC
workbook: {path: isp.xlsx, backups: 2}
"""
BACKEND_ENV = "ISPSHEETS_TEST_BACKEND"  # xlsx (default) or gsheets


def row(tab: str, **values: object) -> tuple[object, ...]:
    """A row in the schema's column order, for `build_template(demo_rows=...)`."""
    return tuple(values.get(c.name) for c in TABS_BY_NAME[tab].columns)


@dataclass(frozen=True)
class Mail:
    key: str
    kind: str  # the journal key's first part: invoice, reminder, late_fee, suspend, ...
    to: str
    subject: str
    text: str
    attachments: tuple[str, ...]
    path: Path
    day: dt.date | None  # the run that wrote it


@dataclass
class Business:
    folder: Path
    config: Config = field(init=False)
    reports: list[tuple[dt.date, RunReport]] = field(default_factory=list)
    mailed_on: dict[str, dt.date] = field(default_factory=dict)  # outbox file → run day
    sheet_key: str = ""  # the Google Sheet on the fake service, when not an .xlsx

    @classmethod
    def create(cls, folder: Path, rows: Mapping[str, Sequence[tuple[object, ...]]],
               config: str = "", welcome: bool = False,
               backend: str | None = None) -> Business:
        """`welcome`: send welcome emails (off unless a test is about them, so the other
        tests' mail counts stay what their stories are about); `backend`: `xlsx` or `gsheets`
        (default: $ISPSHEETS_TEST_BACKEND, else xlsx)."""
        folder.mkdir(parents=True, exist_ok=True)
        build_template(folder / "isp.xlsx", demo_rows=rows)
        base, key = BASE_CONFIG, ""
        if (backend or os.environ.get(BACKEND_ENV, "xlsx")) == "gsheets":
            from tests.gsheets_harness import sheet_from_xlsx

            key = sheet_from_xlsx(folder / "isp.xlsx")
            (folder / "isp.xlsx").rename(folder / "template-values.xlsx")
            base = base.replace("{path: isp.xlsx,", f"{{google_sheet: {key},")
        text = base + textwrap.dedent(config)
        if not welcome:
            data = yaml.safe_load(text)
            data.setdefault("email", {}).setdefault("send_welcome", False)
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        (folder / "config.yaml").write_text(text, encoding="utf-8")
        business = cls(folder, sheet_key=key)
        business.reload_config()
        return business

    def reload_config(self) -> None:
        loaded, problems = load_config(self.folder / "config.yaml")
        assert loaded is not None, problems
        self.config = loaded

    @property
    def workbook(self) -> Path:
        return self.folder / "isp.xlsx"

    # -- acting ---------------------------------------------------------------------------------

    def run(self, day: dt.date, steps: tuple[str, ...] = STEPS, *, dry_run: bool = False,
            resend: tuple[str, ...] = ()) -> RunReport:
        now = dt.datetime.combine(day, dt.time(6, 15))
        report = run(self.config, RunOptions(today=day, now=now, dry_run=dry_run, steps=steps,
                                             resend=resend))
        self.reports.append((day, report))
        for path in (self.folder / "outbox").glob("*.eml"):
            self.mailed_on.setdefault(path.name, day)
        return report

    def run_days(self, first: dt.date, last: dt.date,
                 before: Mapping[dt.date, Iterable[Any]] | None = None,
                 skip: Iterable[dt.date] = ()) -> None:
        """Run every day from first to last; `before[day]` are callables run before that day's
        run (the owner typing payments in)."""
        skipped = set(skip)
        day = first
        while day <= last:
            for action in (before or {}).get(day, ()):
                action()
            if day not in skipped:
                self.run(day)
            day += dt.timedelta(days=1)

    def edit(self, changes: ChangeSet) -> None:
        """The owner editing the workbook (as if in Excel, or in the browser)."""
        if self.sheet_key:
            from tests.gsheets_harness import edit_sheet

            edit_sheet(self.sheet_key, changes)
            return
        apply_changes(self.workbook, changes, backup_dir=self.folder / "owner-backups",
                      keep_backups=0, expected_fingerprint=None,
                      now=dt.datetime(2026, 1, 1))

    def pay(self, client_id: str, amount: str, day: dt.date, method: str = "check",
            invoice_number: str = "", payment_id: str = "") -> None:
        values: dict[str, Any] = {"date": day, "client_id": client_id, "amount": D(amount),
                                  "method": method, "reference": f"typed {day.isoformat()}"}
        if invoice_number:
            values["invoice_number"] = invoice_number
        if payment_id:
            values["payment_id"] = payment_id
        self.edit(ChangeSet(appends=(AppendRow("Payments", values),)))

    def set_status(self, client_id: str, status: str) -> None:
        self.edit(ChangeSet(sets=(SetCell("Clients", client_id, "status", status),)))

    # -- looking --------------------------------------------------------------------------------

    def raw(self) -> RawBook:
        if self.sheet_key:
            from tests.gsheets_harness import read_sheet

            return read_sheet(self.sheet_key)
        return read_xlsx(self.workbook)

    def book(self) -> Book:
        return load_book(self.raw(), self.config.workbook.date_order)

    def sheet(self, tab: str) -> list[dict[str, object]]:
        """A tab's rows as header → raw value dicts (what calamine reads)."""
        sheet = self.raw().sheets[tab]
        header = [str(h) for h in sheet.header]
        return [dict(zip(header, r, strict=False)) for r in sheet.rows[1:]
                if any(v not in (None, "") for v in r)]

    def invoices(self) -> dict[str, Any]:
        return {i.invoice_number: i for i in self.book().invoices}

    def clients(self) -> dict[str, Any]:
        return {c.client_id: c for c in self.book().clients}

    def activity(self, action: str | None = None) -> list[dict[str, object]]:
        rows = self.sheet("Activity")
        return [r for r in rows if action is None or r["action"] == action]

    def mails(self) -> list[Mail]:
        result = []
        for path in sorted((self.folder / "outbox").glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            key = str(msg["X-Ispsheets-Key"])
            text = msg.get_body(("plain",))
            files = tuple(part.get_filename() or "" for part in msg.iter_attachments())
            result.append(Mail(key, key.split("/")[0], str(msg["To"]), str(msg["Subject"]),
                               text.get_content() if text else "", files, path,
                               self.mailed_on.get(path.name)))
        return sorted(result, key=lambda m: (m.day or dt.date.min, m.key))

    def mails_to(self, client_id: str) -> list[Mail]:
        address = self.clients()[client_id].emails[0]
        return [m for m in self.mails() if address in m.to]


def twin(business: Business, folder: Path) -> Business:
    """A copy of `business` (workbook, journal, outbox, everything) in `folder`."""
    shutil.copytree(business.folder, folder)
    copy = Business(folder)
    copy.reload_config()
    return copy


def outbox_bytes(business: Business) -> dict[str, bytes]:
    """Every email of the outbox, by file name."""
    return {p.name: p.read_bytes() for p in (business.folder / "outbox").glob("*.eml")}
