"""What a run cannot avoid doing with its workbook, with no processing at all.

    .venv/bin/python bench/floor.py                  # 20,000 clients, 1 and 12 months
    .venv/bin/python bench/floor.py --sizes 2000,20000 --t1 2000=1.3,20000=6.1

The contract (shared/WORKBOOK.md) keeps the whole history in the workbook: one Invoices row per
invoice forever (the owner may void any of them), every payment in Payments (the owner may
correct any of them), an append-only Activity tab. So every daily run must at least

- parse every tab the owner may have edited: the owner tabs, Invoices and Payments (tool-only
  InvoiceLines and Activity are left out: a run could do without reading them);
- rewrite, on a quiet day, the parts whose cells change: Clients (balances), Invoices
  (reminder stages, paid), Payments (applied_to) and Activity (new rows appended), each
  inflated and deflated again (the owner types payments in every day, and Excel recompresses
  every part when it saves, so no compressed bytes of a changed part can be reused);
- write the new file beside the old one, flush it to disk, and keep the old one as a backup.

This script times exactly that on the benchmark's cached quiet-day workbooks
(`bench/history.py`), taking the best of `--repeats` and granting perfect use of every core
(parse and rewrite times, measured in one thread, divided by the core count). It then compares
how much that floor grows from 1 month of history to 12 with what the target allows: 12 months
at most 1.3 times the 1-month run, i.e. 0.3 x the measured 1-month quiet-day run (`--t1`, else
the newest results file of `bench/run_bench.py` that has it). Nothing of ispsheets' own
processing is counted: no records, no journal, no allocation, no emails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import history  # noqa: E402
from python_calamine import CalamineWorkbook  # noqa: E402

from ispsheets.book.xlsx_package import LEVEL, Package, deflate  # noqa: E402
from ispsheets.book.xlsx_workbook import Workbook  # noqa: E402

MUST_PARSE = ("Packages", "Clients", "Services", "Charges", "Invoices", "Payments")
MUST_REWRITE = ("Clients", "Invoices", "Payments", "Activity")
ALLOWED_GROWTH = 0.3  # 12 months may cost 1.3 x 1 month


def best(repeats: int, work: Callable[[], object]) -> float:
    """The fastest of `repeats` timings of `work()`, in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def parse_seconds(path: Path, tab: str, repeats: int) -> float:
    book = CalamineWorkbook.from_path(str(path))
    return best(repeats, lambda: book.get_sheet_by_name(tab).to_python(skip_empty_area=False))


def rewrite_seconds(package: Package, part: str, repeats: int) -> float:
    """Inflate one member and deflate it again at the writer's level, in one thread."""
    return best(repeats, lambda: deflate([package.read(part)], None, LEVEL).data())


def save_seconds(path: Path, repeats: int) -> float:
    """Write the file's bytes beside it and fsync them, plus a backup copy of the old file."""
    data = path.read_bytes()
    folder = Path(tempfile.mkdtemp(dir=path.parent))
    try:
        def work() -> None:
            with open(folder / "new.xlsx", "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            shutil.copyfile(path, folder / "backup.xlsx")
        return best(repeats, work)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def floor(path: Path, repeats: int, cores: int) -> dict[str, float]:
    package = Package(path.read_bytes())
    workbook = Workbook(package)
    parse = sum(parse_seconds(path, tab, repeats) for tab in MUST_PARSE)
    rewrite = 0.0
    for tab in MUST_REWRITE:
        sheet = workbook.find(tab)
        if sheet is not None:
            rewrite += rewrite_seconds(package, sheet.part, repeats)
    save = save_seconds(path, repeats)
    return {"parse": parse / cores, "rewrite": rewrite / cores, "save": save,
            "total": (parse + rewrite) / cores + save, "mb": path.stat().st_size / 1e6}


def newest_quiet_run(n: int) -> float | None:
    """The 1-month quiet-day run time at `n` clients from the newest results file."""
    results = sorted(history.OUT.joinpath("results").glob("*.json"),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for path in results:
        for case in json.loads(path.read_text(encoding="utf-8")):
            if (case["clients"], case["months"], case["scenario"]) == (n, 1, "quiet"):
                return float(case["result"]["wall"])
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000", help="client counts, e.g. 2000,20000")
    parser.add_argument("--repeats", type=int, default=3, help="timings per part (best kept)")
    parser.add_argument("--t1", default="",
                        help="1-month quiet-day run times, e.g. 2000=1.3,20000=6.1 (seconds; "
                        "default: from the newest results file that has the size)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    given = {int(n): float(t) for n, t in (item.split("=") for item in args.t1.split(",") if item)}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    print(f"{cores} cores, zlib {zlib.ZLIB_VERSION}, deflate level {LEVEL}; best of "
          f"{args.repeats}; parse and rewrite divided by {cores} (perfect use of every core)")
    print(f"{'clients':>8} {'months':>6} {'file MB':>8} {'parse':>7} {'rewrite':>8} "
          f"{'save':>6} {'floor':>7}")
    for n in (int(s) for s in args.sizes.split(",")):
        floors = {}
        for months in (1, 12):
            path = history.ensure(n, months, args.seed)["quiet"] / "isp.xlsx"
            f = floors[months] = floor(path, args.repeats, cores)
            print(f"{n:>8,} {months:>6} {f['mb']:>8.1f} {f['parse']:>7.2f} {f['rewrite']:>8.2f} "
                  f"{f['save']:>6.2f} {f['total']:>7.2f}")
        growth = floors[12]["total"] - floors[1]["total"]
        t1 = given.get(n) or newest_quiet_run(n)
        if t1 is None:
            print(f"  floor grows {growth:.2f} s from 1 to 12 months; no 1-month run to compare "
                  "(run bench/run_bench.py or give --t1)")
            continue
        allowed = ALLOWED_GROWTH * t1
        verdict = "the 1.3x target is out of reach" if growth > allowed else "within reach"
        print(f"  floor grows {growth:.2f} s from 1 to 12 months; 1.3x of the {t1:.1f} s "
              f"1-month quiet day allows {allowed:.2f} s: {verdict}")


if __name__ == "__main__":
    main()
