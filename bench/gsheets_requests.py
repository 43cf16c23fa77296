"""HTTP requests a daily run makes on a Google Sheet, and its time with Google's latency.

    .venv/bin/python bench/gsheets_requests.py                   # 10 and 2,000 clients
    .venv/bin/python bench/gsheets_requests.py --sizes 10,2000,20000 --latency 0.15

For each size it takes the cached benchmark business of `bench/history.py` (one month of
history), copies its workbook's values into a sheet on the fake Sheets service
(tests/fake_sheets.py), points a copy of its config.yaml at that sheet, and runs
`ispsheets run --date D` in a child process through ISPSHEETS_SHEETS_EMULATOR_HOST, as cron
would, on the quiet day and on the billing day. It prints the requests by kind (each retry would
count), the bytes the values:batchUpdate requests carried, the machine's 1-minute load average
when the case started, and the run's wall time; `--latency S` makes the fake answer every
request S seconds late (Google answers in 100-300 ms). `in fake` is the time the fake itself
took to answer (it runs in this process, beside the run), `xlsx` the same run on the `.xlsx`
workbook just after, for a fair comparison on a busy machine.

This is a benchmark, not a test: the target (the same number of requests whatever the size, at
most 6 for a run that adds no tab; under 5 s at 2,000 clients with 150 ms a request) is checked
and printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import history  # noqa: E402

from ispsheets.book.gsheets_api import EMULATOR_ENV  # noqa: E402
from tests.fake_sheets import FakeSheets  # noqa: E402
from tests.gsheets_harness import sheet_from_xlsx  # noqa: E402

WORK = history.OWN / "gsheets"


def run_case(fake: FakeSheets, source: Path, day: dt.date, latency: float) -> dict[str, object]:
    folder = history.copy_scenario(source, WORK / f"{source.parent.name}-{source.name}")
    key = sheet_from_xlsx(folder / "isp.xlsx", "Benchmark ISP", fake)
    (folder / "isp.xlsx").unlink()
    config = folder / "config.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("path: isp.xlsx", 'path: ""', 1).replace(
        'google_sheet: ""', f'google_sheet: "{key}"', 1), encoding="utf-8")
    fake.latency = latency
    load = os.getloadavg()[0]
    start, sized = len(fake.requests), len(fake.sizes)
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "ispsheets", "run", "--date", day.isoformat(),
                             "--config", str(config)],
                            env={**os.environ, EMULATOR_ENV: fake.host, "COLUMNS": "200"},
                            capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - began
    fake.latency = 0.0
    kinds = Counter(kind for _, kind, _ in fake.requests[start:])
    in_fake = sum(fake.seconds[start:])
    sent = max((up for up, _ in fake.sizes[sized:]), default=0)
    written = sum(up for (_, kind, _), (up, _) in zip(fake.requests[start:], fake.sizes[sized:],
                                                      strict=False)
                  if kind == "values:batchUpdate")
    received = max((down for _, down in fake.sizes[sized:]), default=0)
    del fake.books[key]  # the fake's memory back
    return {"exit": result.returncode, "requests": sum(kinds.values()), "kinds": dict(kinds),
            "seconds": seconds, "in_fake": in_fake, "largest": (sent, received),
            "written": written, "load": load,
            "stderr": result.stderr.strip().splitlines()[-3:]}


def xlsx_seconds(source: Path, day: dt.date) -> float:
    """The same run on the .xlsx, for comparison on the same machine at the same time."""
    folder = history.copy_scenario(source, WORK / f"{source.parent.name}-{source.name}-xlsx")
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ispsheets", "run", "--date", day.isoformat(),
                    "--config", str(folder / "config.yaml")], capture_output=True, timeout=3600,
                   check=False)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,2000")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds added to every answer of the fake (e.g. 0.15)")
    args = parser.parse_args(argv)
    print(f"{'clients':>8} {'day':>8} {'exit':>4} {'requests':>8} {'seconds':>8} "
          f"{'in fake':>8} {'xlsx':>8} {'max up/down MB':>15} {'written MB':>10} {'load':>5}"
          "  by kind")
    with FakeSheets() as fake:
        for n in (int(s) for s in args.sizes.split(",")):
            folders = history.ensure(n, 1)
            for scenario, day in sorted(history.SCENARIOS.items(), key=lambda x: x[1]):
                case = run_case(fake, folders[scenario], day, args.latency)
                xlsx = xlsx_seconds(folders[scenario], day)
                kinds = ", ".join(f"{k} {v}" for k, v in sorted(case["kinds"].items()))
                up, down = case["largest"]
                print(f"{n:>8} {scenario:>8} {case['exit']:>4} {case['requests']:>8} "
                      f"{case['seconds']:>8.2f} {case['in_fake']:>8.2f} {xlsx:>8.2f} "
                      f"{up / 1e6:>7.1f}/{down / 1e6:<7.1f} {case['written'] / 1e6:>10.1f} "
                      f"{case['load']:>5.1f}  {kinds}")
                if case["exit"] not in (0, 1):
                    print("          " + "\n          ".join(case["stderr"]))


if __name__ == "__main__":
    main()
