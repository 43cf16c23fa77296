"""`ispsheets demo`: a small ISP's last quarter, played day by day, so every feature has a story.

The demo workbook (`ispsheets.demo`) starts `days` ago. Each simulated morning the owner types in
the payments that arrived (most clients pay on time, some late, some in part, one never), then
the daily run does its job for that date, exactly as cron would. At the end the folder holds a
quarter of invoices, PDFs, emails, fees, a suspension and a reconnection, and the report.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from ispsheets.book.changes import AppendRow, ChangeSet
from ispsheets.book.records import Invoice
from ispsheets.book.xlsx_backend import apply_changes
from ispsheets.config import CONFIG_NAME, Config, load_config
from ispsheets.runner import STEPS, RunOptions, RunReport, run
from ispsheets.scaffold import WORKBOOK_NAME, init_project

ZERO = Decimal("0")
CENT = Decimal("0.01")

# Who pays how: (profile, share of clients). Three active clients get fixed profiles so even
# a small demo shows one who never pays, a late payer fined, suspended and reconnected, and a
# partial payer.
PROFILES = (("on time", 0.62), ("card", 0.14), ("late", 0.12), ("partial", 0.12))
FIXED = ("never", "very late", "partial")

DEMO_COMPANY = {
    'name: "Your ISP"': 'name: "Prairie Sky Wireless"',
    'address: ""  ': 'address: "210 Grain Elevator Rd, Hays, KS 67601"',
    'email: "billing@example.com"': 'email: "billing@prairiesky.example.com"',
    'phone: ""    ': 'phone: "(785) 555-0142"',
    'website: ""  ': 'website: "prairiesky.example.com"',
    'logo: ""     ': 'logo: "logo.png"',
    'tax_id: ""   ': 'tax_id: "KS-48-1234567"',
    'payment_instructions: ""': 'payment_instructions: "Check to Prairie Sky Wireless, or bank '
                                'transfer to First Plains Bank, acct 4410-2231 (put your '
                                'client ID in the memo)"',
}


@dataclass
class Owner:
    """The owner at the desk: types in the payments that arrived, one profile per client."""

    seed: int
    profiles: dict[str, str] = field(default_factory=dict)
    due: dict[dt.date, list[tuple[str, str, str]]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def cast(self, clients: list[tuple[str, str]]) -> None:
        """Give the fixed profiles to the 2nd, 9th and 10th active clients (the demo's first
        seven each show a feature), and a random one to everybody else."""
        active = [cid for cid, status in clients if status == "active"]
        chosen = [active[i] for i in (1, 8, 9) if i < len(active)]
        for client_id, profile in zip(chosen, FIXED, strict=False):
            self.profiles[client_id] = profile
        for client_id, _ in clients:
            if client_id not in self.profiles:
                roll, total = random.Random(f"{self.seed}/{client_id}").random(), 0.0
                self.profiles[client_id] = PROFILES[-1][0]
                for name, share in PROFILES:
                    total += share
                    if roll < total:
                        self.profiles[client_id] = name
                        break

    def plan(self, invoice: Invoice) -> None:
        """Decide, when an invoice is first seen, when and how its client pays it."""
        rng = random.Random(f"{self.seed}/{invoice.invoice_number}")
        profile = self.profiles.get(invoice.client_id, "on time")
        issued = invoice.issue_date
        due = invoice.due_date
        schedule: list[tuple[dt.date, str]] = []
        if profile == "on time":
            schedule = [(issued + dt.timedelta(days=rng.randint(2, 14)), "invoice")]
        elif profile == "card":  # the owner runs the card the next morning
            schedule = [(issued + dt.timedelta(days=rng.randint(1, 2)), "invoice")]
        elif profile == "late":
            schedule = [(due + dt.timedelta(days=rng.randint(4, 16)), "balance")]
        elif profile == "very late":
            schedule = [(due + dt.timedelta(days=rng.randint(24, 30)), "balance")]
        elif profile == "partial":
            schedule = [(issued + dt.timedelta(days=rng.randint(3, 12)), "half"),
                        (due + dt.timedelta(days=rng.randint(5, 12)), "balance")]
        for day, what in schedule:
            self.due.setdefault(day, []).append((invoice.client_id, invoice.invoice_number,
                                                 what))

    def payments(self, day: dt.date, invoices: dict[str, Invoice],
                 balances: dict[str, Decimal]) -> list[dict[str, object]]:
        """The Payments rows typed in on `day`."""
        rows = []
        for client_id, number, what in self.due.pop(day, []):
            invoice = invoices.get(number)
            if invoice is None or invoice.status == "void":
                continue
            if what == "balance":
                amount = balances.get(client_id, ZERO)
            elif what == "half":
                amount = (invoice.total / 2).quantize(CENT, ROUND_HALF_UP)
            else:
                amount = invoice.balance or ZERO
            if amount <= 0:
                continue
            profile = self.profiles.get(client_id, "")
            method = "card" if profile == "card" else random.Random(
                f"{self.seed}/{number}/{what}").choice(("check", "cash", "bank transfer"))
            rows.append({"date": day, "client_id": client_id, "amount": amount,
                         "method": method, "invoice_number": number if what == "invoice" else None,
                         "reference": f"#{random.Random(number).randint(1001, 9999)}"
                         if method == "check" else None})
        return rows


def _demo_config(folder: Path) -> None:
    path = folder / CONFIG_NAME
    text = path.read_text(encoding="utf-8")
    for old, new in DEMO_COMPANY.items():
        text = text.replace(old, new.ljust(len(old)) if len(new) < len(old) else new, 1)
    text = text.replace("timezone: UTC      ", "timezone: America/Chicago", 1)
    text = text.replace("  tax_rate: 0  ", "  tax_rate: 6.5", 1)
    path.write_text(text, encoding="utf-8")
    _logo(folder / "logo.png")


def _logo(path: Path) -> None:
    """A small logo: a sky-blue disc with three signal arcs, in the brand colour."""
    from PIL import Image, ImageDraw

    size = 240
    image = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, size - 8, size - 8), fill=(31, 78, 121, 255))
    centre = (size // 2, int(size * 0.68))
    for n, radius in enumerate((30, 58, 86)):
        box = (centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius)
        draw.arc(box, 215, 325, fill=(255, 214, 102, 255) if n == 0 else (255, 255, 255, 255),
                 width=12)
    draw.ellipse((centre[0] - 10, centre[1] - 10, centre[0] + 10, centre[1] + 10),
                 fill=(255, 214, 102, 255))
    image.save(path)


def play(folder: Path, clients: int, days: int, today: dt.date,
         progress: Callable[[dt.date, RunReport], None] | None = None) -> list[RunReport]:
    """Create the demo business in `folder` as of `days` ago and run every day up to `today`."""
    start = today - dt.timedelta(days=days)
    init_project(folder, clients, start)
    _demo_config(folder)
    config, problems = load_config(folder / CONFIG_NAME)
    assert config is not None, problems
    owner = Owner(seed=2026)
    owner.cast(_clients(folder))
    reports = []
    day = start
    balances: dict[str, Decimal] = {}
    invoices: dict[str, Invoice] = {}
    while day <= today:
        rows = owner.payments(day, invoices, balances)
        if rows:
            _type_in(config, rows, day)
        report = run(config, RunOptions(today=day, now=dt.datetime.combine(day, dt.time(6, 0)),
                                        steps=STEPS))
        reports.append(report)
        if report.snapshot is not None:
            invoices = {i.invoice_number: i for i in report.snapshot.invoices}
            balances = dict(report.snapshot.balances)
            for invoice in report.snapshot.invoices:
                if invoice.invoice_number not in owner.seen:
                    owner.seen.add(invoice.invoice_number)
                    owner.plan(invoice)
        if progress is not None:
            progress(day, report)
        day += dt.timedelta(days=1)
    return reports


def _clients(folder: Path) -> list[tuple[str, str]]:
    """(client_id, status) in the demo workbook's order."""
    from ispsheets.book.reader import read_xlsx

    sheet = read_xlsx(folder / WORKBOOK_NAME).sheets["Clients"]
    return [(str(r[0]), str(r[8])) for r in sheet.rows[1:] if r and r[0]]


def _type_in(config: Config, rows: list[dict[str, object]], day: dt.date) -> None:
    """The owner typing payments into the Payments tab (as in Excel: no ids, the tool adds them)."""
    path = config.workbook_path
    changes = ChangeSet(appends=tuple(AppendRow("Payments", row) for row in rows))
    apply_changes(path, changes, backup_dir=path.parent / "backups", keep_backups=0,
                  expected_fingerprint=None, now=dt.datetime.combine(day, dt.time(5, 0)))
