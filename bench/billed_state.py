"""The billing state's cost with and without the archive's summary, on a generated business.

    .venv/bin/python bench/billed_state.py bench/out/n2000-m12-s2026-v2/billing --months 3

On a copy of the journal, the invoices due more than `--months` months before the benchmarked
day are marked archived (as the archive's triggers would) and summarized (`record_billed`, as
the checkpoint does). Then, medians of 5: the from-scratch state (every billed row) and the
state from the live invoices plus the summary; and both plan the same invoices that day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ispsheets.billing.archived import billed_state, record_billed  # noqa: E402
from ispsheets.billing.invoicing import BilledState, BillingRules, plan_invoices  # noqa: E402
from ispsheets.billing.periods import add_months  # noqa: E402
from ispsheets.book.load import load_book  # noqa: E402
from ispsheets.book.reader import read_xlsx  # noqa: E402
from ispsheets.config import load_config  # noqa: E402
from ispsheets.journal import Journal  # noqa: E402

DAYS = {"billing": dt.date(2026, 11, 30), "quiet": dt.date(2026, 11, 22)}


def timed(make: Callable[[], BilledState]) -> tuple[str, BilledState]:
    """Medians of 5: wall clock and CPU time (the CPU time shows less of a busy machine)."""
    wall, cpu, state = [], [], None
    for _ in range(5):
        start, start_cpu = time.perf_counter(), time.process_time()
        state = make()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    assert state is not None
    return f"{statistics.median(wall):.3f} s (cpu {statistics.median(cpu):.3f} s)", state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--months", type=int, default=3)
    args = parser.parse_args()
    config, problems = load_config(args.folder / "config.yaml")
    assert config is not None, problems
    day = DAYS.get(args.folder.name, dt.date(2026, 11, 30))
    book = load_book(read_xlsx(args.folder / "isp.xlsx"), config.workbook.date_order)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "ispsheets.db"
        shutil.copy(args.folder / "ispsheets.db", copy)
        start = time.perf_counter()
        journal = Journal.open(copy)  # makes the billed_invoice index if missing
        opened = time.perf_counter() - start
        before, reference = timed(lambda: BilledState.from_billed(
            journal.billed(), journal.peek_seq("invoice"), journal.voided_numbers()))
        cutoff = add_months(day, -args.months)
        with journal.transaction() as db:
            db.execute("UPDATE invoices SET archived = 1 WHERE due_date < ?", (cutoff.isoformat(),))
        numbers = journal.unfrozen_archived()
        start = time.perf_counter()
        record_billed(journal, numbers)
        journal.mark_frozen(numbers)
        summarized = time.perf_counter() - start
        after, state = timed(lambda: billed_state(journal, book))
        rules = BillingRules.from_config(config)
        start = time.process_time()
        planned = plan_invoices(book, rules, day, state)
        planning = time.process_time() - start
        same = planned == plan_invoices(book, rules, day, reference)
        live = len(journal.billed_live())
        total = len(journal.billed())
        journal.close()
    print(f"{args.folder}: {len(numbers)} invoices archived (due before {cutoff}), "
          f"billed rows {total} ({live} live)")
    print(f"  open (index made if missing) {opened:.2f} s; summary of the archived "
          f"{summarized:.2f} s once")
    print(f"  billed_state: every row {before}, live + summary {after}; "
          f"same plan: {same}")
    print(f"  plan_invoices from it: cpu {planning:.3f} s ({len(planned.invoices)} invoices)")
    print(f"  load average {Path('/proc/loadavg').read_text().split()[0]}")


if __name__ == "__main__":
    main()
