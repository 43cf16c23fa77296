"""Property: whatever ordinary mistakes the owner makes between daily runs (typing payments,
with typos, reusing an id, renaming a tab and renaming it back, deleting rows and putting them
back), no client is fined, suspended or sent a final notice while what they owe, counted with
every payment the journal knows, is not overdue."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ispsheets.book.changes import AppendRow, ChangeSet
from ispsheets.journal import Journal
from ispsheets.problems import ExitCode
from tests.scenario import Business, row

D = Decimal
CLIENTS = ("A", "B", "C")
OWNER_TABS = ("Packages", "Clients", "Services", "Charges", "Payments")
FIRST = dt.date(2026, 11, 30)
RUN_DAYS = [FIRST + dt.timedelta(days=3 * n) for n in range(17)]  # to Jan 17: fees, suspensions
LATE_FEE_DAYS, FINAL_NOTICE_DAYS, SUSPEND_DAYS = 14, 14, 21


@dataclass(frozen=True)
class Pay:
    client: str
    amount: str
    typo: bool = False  # "49.99x": a skipped row, fixed two runs later


@dataclass(frozen=True)
class PayWithCopiedId:
    client: str
    amount: str
    pick: int  # which existing row's payment_id is copied


@dataclass(frozen=True)
class RenameTab:
    tab: str
    runs: int  # renamed back before the run this many runs later


@dataclass(frozen=True)
class DeleteRow:
    tab: str
    pick: int
    runs: int  # put back (pasted at the bottom) before the run this many runs later


amounts = st.sampled_from(["20.00", "49.99", "100.00", "150.00"])
actions = st.one_of(
    st.builds(Pay, st.sampled_from(CLIENTS), amounts, st.booleans()),
    st.builds(PayWithCopiedId, st.sampled_from(CLIENTS), amounts, st.integers(0, 20)),
    st.builds(RenameTab, st.sampled_from(OWNER_TABS), st.integers(1, 2)),
    st.builds(DeleteRow, st.sampled_from(("Payments", "Charges")), st.integers(0, 20),
              st.integers(1, 2)),
)
plans = st.lists(st.lists(actions, max_size=2), min_size=len(RUN_DAYS),
                 max_size=len(RUN_DAYS))


class Owner:
    """Performs the owner's actions on the workbook, and undoes the temporary ones on time."""

    def __init__(self, business: Business) -> None:
        self.business = business
        self.later: dict[int, list[tuple[str, object]]] = defaultdict(list)
        self.renamed: dict[str, str] = {}  # tab -> the name it has now

    def name(self, tab: str) -> str:
        return self.renamed.get(tab, tab)

    def _book(self) -> openpyxl.Workbook:
        return openpyxl.load_workbook(self.business.workbook)

    def undo_due(self, run: int) -> None:
        for kind, what in self.later.pop(run, []):
            book = self._book()
            if kind == "rename":
                new, old = what  # type: ignore[misc]
                book[new].title = old
                del self.renamed[old]
            elif kind == "restore":
                tab, values = what  # type: ignore[misc]
                book[self.name(tab)].append(values)
            elif kind == "fix":  # the first row still showing the typo (rows may have moved)
                sheet = book[self.name("Payments")]
                column = [c.value for c in sheet[1]].index("amount") + 1
                cell = next((sheet.cell(r, column) for r in range(2, sheet.max_row + 1)
                             if sheet.cell(r, column).value == what), None)
                if cell is not None:
                    cell.value = D(str(what).rstrip("x"))
            book.save(self.business.workbook)

    def do(self, action: object, run: int, day: dt.date) -> None:
        if isinstance(action, Pay | PayWithCopiedId) and "Payments" in self.renamed:
            return  # (the owner types into the tab whatever its name; the harness cannot)
        if isinstance(action, Pay):
            amount: object = action.amount + "x" if action.typo else D(action.amount)
            self.business.edit(ChangeSet(appends=(AppendRow("Payments", {
                "date": day, "client_id": action.client, "amount": amount,
                "method": "check"}),)))
            if action.typo:
                self.later[run + 2].append(("fix", amount))
        elif isinstance(action, PayWithCopiedId):
            ids = [r["payment_id"] for r in self.business.sheet("Payments") if r["payment_id"]]
            if ids:
                self.business.pay(action.client, action.amount, day,
                                  payment_id=str(ids[action.pick % len(ids)]))
        elif isinstance(action, RenameTab):
            book = self._book()
            if action.tab not in self.renamed:
                book[action.tab].title = action.tab + " 2026"
                self.renamed[action.tab] = action.tab + " 2026"
                book.save(self.business.workbook)
                self.later[run + action.runs].append(("rename", (action.tab + " 2026",
                                                                 action.tab)))
        elif isinstance(action, DeleteRow):
            book = self._book()
            sheet = book[self.name(action.tab)]
            rows = [r for r in range(2, sheet.max_row + 1)
                    if any(c.value is not None for c in sheet[r])]
            if not rows:
                return
            number = rows[action.pick % len(rows)]
            values = [c.value for c in sheet[number]]
            sheet.delete_rows(number)
            book.save(self.business.workbook)
            self.later[run + action.runs].append(("restore", (action.tab, values)))


def _shop(folder: Path) -> Business:
    return Business.create(folder, {
        "Packages": [row("Packages", package_id="HOME", name="Home", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example")
                    for c in CLIENTS],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in CLIENTS],
    })


def _overdue(journal: Journal, client: str, day: dt.date, days: int) -> Decimal:
    """What `client` owes on invoices at least `days` past due, every payment the journal
    logged applied oldest invoice first (as the contract allocates unnamed payments)."""
    late = sum((j.invoice.total for j in journal.invoices() if not j.voided
                and j.invoice.client_id == client
                and (day - j.invoice.due_date).days >= days), D(0))
    paid = sum((D(a.detail.split("|")[2]) for a in journal.actions("payment")
                if a.detail.split("|")[1] == client), D(0))
    return late - paid


def _acted(journal: Journal) -> set[tuple[str, str, int]]:
    """(key, client, days past due it needs) of every fee, suspension and final notice done."""
    done = {(a.key, a.client_id, LATE_FEE_DAYS) for a in journal.actions("late_fee", "done")}
    done |= {(a.key, a.client_id, SUSPEND_DAYS) for a in journal.actions("suspend", "done")}
    done |= {(a.key, a.client_id, FINAL_NOTICE_DAYS) for a in journal.actions("reminder", "done")
             if a.key.endswith("/final_notice")}
    return done


# Each example is 17 real runs (~2-5 s): a few examples, the same ones every time (derandomize),
# and no shrinking (a failure prints the whole plan; shrinking runs took minutes).
@pytest.mark.slow
@settings(max_examples=10, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plans)
def test_no_fee_suspension_or_final_notice_while_known_payments_cover_the_overdue(plan):
    with tempfile.TemporaryDirectory() as folder:
        business = _shop(Path(folder))
        owner = Owner(business)
        seen: set[tuple[str, str, int]] = set()
        for run, (day, owner_actions) in enumerate(zip(RUN_DAYS, plan, strict=True)):
            owner.undo_due(run)
            for action in owner_actions:
                owner.do(action, run, day)
            report = business.run(day)
            assert report.exit_code in (ExitCode.OK, ExitCode.ROWS_SKIPPED,
                                        ExitCode.BAD_CONFIG), report.problems
            journal = Journal.open(Path(folder) / "ispsheets.db")
            try:
                acted = _acted(journal)
                for key, client, days in sorted(acted - seen):
                    owed = _overdue(journal, client, day, days)
                    assert owed > 0, (day, key, client, owed, plan)
            finally:
                journal.close()
            seen = acted
