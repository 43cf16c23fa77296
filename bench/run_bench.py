"""Benchmark the daily run end to end, like cron runs it, and step by step.

    .venv/bin/python bench/run_bench.py          # 200, 2,000, 20,000 clients; 1 and 12 months
    .venv/bin/python bench/run_bench.py --sizes 200,2000 --months 1
    .venv/bin/python bench/run_bench.py --quick  # 200 and 2,000 clients, one run each
    .venv/bin/python bench/run_bench.py --sizes 2000 --months 1,12,36 --windows 0,3,12

For each size and history it generates (once; cached in bench/out/) a workbook and journal
with `bench/history.py`, then times `ispsheets run --date D` on a fresh copy, in a subprocess
(`bench/stopwatch.py`: the real command line with a stopwatch on each step), on a quiet day and on
a billing day. Each case runs `--repeats` times; the table shows medians, the peak RSS of the
run (its process pool included) and what the run did. `--windows` also runs each case after
the closed history went to the archive (`history.windowed`: the real `ispsheets archive`, with
`workbook.archive_after_months` = the window). See bench/README.md.
"""

from __future__ import annotations

import argparse
import compileall
import concurrent.futures
import datetime as dt
import itertools
import json
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))

import history  # noqa: E402
import machine  # noqa: E402
from stopwatch import STEPS  # noqa: E402

from ispsheets.delivery.files import replace_file  # noqa: E402
from ispsheets.steps.cycle import counted  # noqa: E402

RESULTS = history.OWN / "results"
WORK = history.OWN / "run"
# Each run works in a new folder and none is deleted until the end. This machine's disk is ext4
# without a journal, which, choosing an inode for a new file, checks and skips each inode freed
# in the last 5 s (5 min while its inode table block is unwritten): right after the previous
# run's 39,000 invoice and email files were deleted, a new file cost up to 1 ms of kernel CPU
# instead of 0.05 ms (perf: recently_deleted() under __ext4_new_inode), seconds of a run.
_RUNS = itertools.count(1)
DELETED = history.OWN / "run-deleted-at"  # when the last benchmark deleted its run folders
SHORT = {"startup": "start", "prepare": "prep", "allocate": "alloc", "invoice": "invoice",
         "reconcile": "recon", "remind": "remind", "plan_write": "plan_wb",
         "xlsx_write": "xlsx_wr", "write": "wb_rest", "report": "report", "other": "other"}
DID = (("invoices issued", "inv"), ("emails sent", "mail"), ("payments applied", "pay"),
       ("reminders sent", "rem"), ("late fees added", "fee"), ("clients suspended", "susp"),
       ("cells written", "cells"), ("rows appended", "rows"), ("rows archived", "arch"))


# Before the clock (`--as-left`): the folder as the day before's run leaves it, made by the
# code measured: the journal's seal, the tab cache (bench/as_left.py).
AS_LEFT = HERE / "as_left.py"


def run_once(source: Path, day: dt.date, *, window: int = 0, code: Path = ROOT,
             what_if: str = "", timeout: float | None = None,
             profile: Path | None = None, as_left: bool = False,
             report_profile: Path | None = None) -> dict[str, Any]:
    """One `ispsheets run` on a fresh copy of `source` (with `archive_after_months: window`),
    in a child process (the ispsheets package of `code`); killed with its process pool after
    `timeout` seconds."""
    # A folder of its own, deleted only when the benchmark ends: see _RUNS.
    folder = history.copy_scenario(
        source, WORK / source.parent.name / f"{source.name}-w{window}-{os.getpid()}-"
        f"{next(_RUNS)}", window=window)
    # As a pip install leaves it: the package's bytecode compiled once, not at every run (this
    # machine sets PYTHONDONTWRITEBYTECODE, so an editable checkout would compile ~120 modules,
    # 0.2-0.3 s, in every timed run).
    compileall.compile_dir(code / "ispsheets", quiet=1)
    if as_left:
        subprocess.run([sys.executable, str(AS_LEFT), str(folder)], check=True,
                       env={**os.environ, "PYTHONPATH": str(code)})
    os.sync()  # the copy on disk before the clock starts, not written back during the run
    times = folder / "times.json"
    command = [sys.executable, str(HERE / "stopwatch.py"), str(times), "run",
               "--date", day.isoformat()]
    if profile is not None:
        command[1:1] = ["-m", "cProfile", "-o", str(profile)]
    env = {**os.environ, "PYTHONPATH": str(code), "BENCH_WHAT_IF": what_if,
           "BENCH_PROFILE": "1" if profile is not None else "",
           "BENCH_REPORT_PROFILE": str(report_profile) if report_profile is not None else ""}
    load = os.getloadavg()[0]
    file_ms = file_cost_ms(folder)
    with open(folder / "stdout.txt", "wb") as out, open(folder / "stderr.txt", "wb") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=folder, stdout=out, stderr=err, env=env,
                                 start_new_session=True)
        status, usage = _wait(child.pid, started + timeout if timeout else None)
        wall = time.perf_counter() - started
    if status is None:
        return {"wall": wall, "steps": {}, "exit": -9, "rss_mb": usage.ru_maxrss / 1024,
                "cpu": usage.ru_utime + usage.ru_stime, "load": load, "file_ms": file_ms,
                "summary": f"killed after {timeout:.0f} s", "timed_out": True}
    child.returncode = os.waitstatus_to_exitcode(status)
    if not times.is_file():
        raise SystemExit(f"the run failed (exit {child.returncode}); see {folder}/stderr.txt")
    timed = json.loads(times.read_text(encoding="utf-8"))
    stdout = (folder / "stdout.txt").read_text(encoding="utf-8", errors="replace")
    summary = next((line for line in stdout.splitlines()
                    if line.startswith(day.isoformat() + ":")), "")
    return {"wall": wall, "steps": timed["steps"], "cpu_steps": timed.get("cpu_steps", {}),
            "children_cpu_steps": timed.get("children_cpu_steps", {}),
            "exit": child.returncode,
            "rss_mb": usage.ru_maxrss / 1024, "cpu": usage.ru_utime + usage.ru_stime,
            "load": load, "file_ms": file_ms, "summary": summary}


def file_cost_ms(folder: Path, count: int = 300) -> float:
    """What writing one small file costs in `folder` now (`replace_file`, as the outbox and
    the PDFs write), in ms: 0.05 ms on this machine's disk, up to 1 ms for minutes
    after many files were deleted (see _RUNS). A billing day at 20,000 clients writes 39,000
    such files, so the column says how much of a run's spread is the disk's."""
    probe = folder / ".file-probe"
    probe.mkdir(exist_ok=True)
    data = b"x" * 8000  # an invoice email with its PDF attached
    started = time.perf_counter()
    for i in range(count):
        replace_file(probe / f"m{i}.eml", data)
    return (time.perf_counter() - started) / count * 1000  # the files stay: see _RUNS


def _wait(pid: int, deadline: float | None) -> tuple[int | None, Any]:
    """The child's exit status and resource use; None (and the group killed) at `deadline`."""
    while True:
        done, status, usage = os.wait4(pid, 0 if deadline is None else os.WNOHANG)
        if done:
            return status, usage
        if time.perf_counter() > deadline:  # type: ignore[operator]
            os.killpg(pid, signal.SIGKILL)  # the run and its PDF workers, started by us
            _, _, usage = os.wait4(pid, 0)
            return None, usage
        time.sleep(0.2)


def did(summary: str) -> str:
    plural = {counted(1, what).split(" ", 1)[1]: what for what, _ in DID}  # "1 fee added"
    counts = {plural.get(what, what): int(n)
              for n, what in re.findall(r"(\d+) ([a-z ]+?)(?:;|$)", summary)}
    return " ".join(f"{counts[what]}{short}" for what, short in DID if counts.get(what))


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    if any(r.get("timed_out") for r in runs):
        return {**runs[0], "walls": [round(r["wall"], 2) for r in runs], "did": runs[0]["summary"]}
    steps = {s: statistics.median(r["steps"].get(s, 0.0) for r in runs) for s in STEPS}
    cpu_steps = {s: statistics.median(r.get("cpu_steps", {}).get(s, 0.0) for r in runs)
                 for s in STEPS}
    return {"wall": statistics.median(r["wall"] for r in runs),
            "walls": [round(r["wall"], 2) for r in runs], "steps": steps,
            "cpu_steps": cpu_steps,
            "children_cpu_steps": {s: statistics.median(
                r.get("children_cpu_steps", {}).get(s, 0.0) for r in runs) for s in STEPS},
            "rss_mb": max(r["rss_mb"] for r in runs),
            "cpu": statistics.median(r["cpu"] for r in runs),
            "load": max(r["load"] for r in runs), "exit": max(r["exit"] for r in runs),
            "file_ms": statistics.median(r.get("file_ms", 0.0) for r in runs),
            "did": did(runs[0]["summary"]), "summary": runs[0]["summary"]}


def header() -> str:
    cells = ["clients", "months", "window", "day"] + [SHORT.get(s, s) for s in STEPS] + [
        "total", "RSS MB", "load", "file", "mach", "did"]
    return _line(cells)


def _line(cells: list[str]) -> str:
    widths = [7, 6, 6, 7] + [7] * len(STEPS) + [7, 7, 5, 5, 4, 0]
    return " ".join(c.rjust(w) if w else c for c, w in zip(cells, widths, strict=True))


def row(case: dict[str, Any]) -> str:
    result = case["result"]
    cells = [f"{case['clients']:,}", str(case["months"]), str(case.get("window", 0)),
             case["scenario"]]
    if result.get("timed_out"):
        cells += ["-"] * len(STEPS) + [f">{result['wall']:.0f}"]
    else:
        cells += [f"{result['steps'][s]:.2f}" for s in STEPS] + [f"{result['wall']:.2f}"]
    cells += [f"{result['rss_mb']:.0f}", f"{result['load']:.1f}",
              f"{result.get('file_ms', 0.0):.2f}",
              f"{result['machine_ms']:.0f}" if "machine_ms" in result else "-",
              result["did"] + ("" if result["exit"] == 0 else f" exit {result['exit']}")]
    return _line(cells)


def cpu_row(case: dict[str, Any]) -> str:
    """The CPU seconds of each step under the row, the children's shown apart (`1.2+3.4`:
    the PDF workers' in `send`, the report child's in `report`); total: the run's with every
    child."""
    result = case["result"]
    cpu = result.get("cpu_steps") or {}
    kids = result.get("children_cpu_steps") or {}
    cells = ["", "", "", "cpu"] + [
        (f"{cpu.get(s, 0.0):.2f}" if cpu else "-")
        + (f"+{kids[s]:.1f}" if kids.get(s, 0.0) >= 0.05 else "") for s in STEPS]
    return _line([*cells, f"{result.get('cpu', 0.0):.2f}", "", "", "", "", ""])


def verdicts(cases: list[dict[str, Any]]) -> list[str]:
    """The targets: 200 clients under 2 s; 20,000 with a year under 30 s; 12 months no more
    than 1.3 times 1 month (all without archive: window 0); then issue #18's, with archived
    history (`archive_verdicts`)."""
    lines = []
    wall = {(c["clients"], c["months"], c["scenario"]): c["result"]["wall"] for c in cases
            if not c["result"].get("timed_out") and not c.get("window", 0)}
    lines += [_verdict(f"{c['clients']:,} clients, {c['months']} mo, window "
                       f"{c.get('window', 0)}, {c['scenario']}: killed after "
                       f"{c['result']['wall']:.0f} s", False)
              for c in cases if c["result"].get("timed_out")]
    for (n, months, scenario), seconds in sorted(wall.items()):
        if n == 200:
            lines.append(_verdict(f"200 clients, {months} mo, {scenario}: {seconds:.2f} s < 2 s",
                                  seconds < 2))
        if n == 20000 and months == 12:
            lines.append(_verdict(f"20,000 clients, 12 mo, {scenario}: {seconds:.2f} s < 30 s",
                                  seconds < 30))
        if months == 12 and (n, 1, scenario) in wall:
            ratio = seconds / wall[n, 1, scenario]
            lines.append(_verdict(f"{n:,} clients, {scenario}: 12 mo / 1 mo = {ratio:.2f} "
                                  "<= 1.3", ratio <= 1.3))
    return lines + archive_verdicts(cases)


def archive_verdicts(cases: list[dict[str, Any]]) -> list[str]:
    """Issue #18's targets, from the cases of this benchmark run: with window 12, 36 months at
    most 1.1 times 12 months and 12 months at most 1.3 times 1 month (every size and day
    measured); 20,000 clients with 36 months, window 3: quiet < 8 s, billing < 25 s, peak
    RSS < 1.2 GB; window 12: quiet < 15 s, billing < 30 s. Each line says the load average
    and the cost of a new file when its runs started (`load`, `file`): this machine is
    shared."""
    done = {(c["clients"], c["months"], c.get("window", 0), c["scenario"]): c["result"]
            for c in cases if not c["result"].get("timed_out")}
    lines = []
    for (n, months, window, scenario), result in sorted(done.items()):
        where = f"{n:,} clients, window {window}, {scenario}"
        moved = re.search(r"(\d+) rows? archived", result.get("summary", ""))
        if moved:  # the benchmarked day is then not the day it stands for
            lines.append(f"  note {where}, {months} mo: the run itself archived "
                         f"{moved.group(1)} row(s)")
        for low, limit in ((12, 1.1), (1, 1.3)):
            base = done.get((n, low, window, scenario))
            if window == 12 and base is not None and months == {12: 36, 1: 12}[low]:
                ratio = result["wall"] / base["wall"]
                lines.append(_verdict(
                    f"{where}: {months} mo / {low} mo = {result['wall']:.2f} / "
                    f"{base['wall']:.2f} s = {ratio:.2f} <= {limit} {_context(result, base)}",
                    ratio <= limit))
        if n == 20000 and months == 36:
            limit = {(3, "quiet"): 8, (3, "billing"): 25, (12, "quiet"): 15,
                     (12, "billing"): 30}.get((window, scenario))
            if limit is not None:
                lines.append(_verdict(f"{where}, 36 mo: {result['wall']:.2f} s < {limit} s "
                                      f"{_context(result)}", result["wall"] < limit))
            if window == 3:
                lines.append(_verdict(f"{where}, 36 mo: peak RSS {result['rss_mb']:.0f} MB "
                                      "< 1,200 MB", result["rss_mb"] < 1200))
    return lines


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _folders(n: int, months: int, window: int, seed: int, code: Path, step: int,
             made_by: str | None) -> dict[str, Path]:
    """The case's scenario folders, made (when not cached) in a process of their own: a run's
    `RSS MB` is `wait4`'s peak, which on Linux starts from what this process held when it
    started the run, so a history generated in here (hundreds of MB at 20,000 clients) would
    show in every later run's peak."""
    spawn = multiprocessing.get_context("spawn")
    # The generation first, in a process that then ends: the history it made stays in its heap
    # (12 GB at 20,000 clients x 36 months), which beside the archive's own child was killed
    # by the system for want of memory.
    if history.cached(n, months, seed) is None:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            pool.submit(history.ensure, n, months, seed, log=_log).result()
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return pool.submit(history.windowed, n, months, window, seed, code=code, step=step,
                           made_by=made_by, log=_log).result()


def _context(*results: dict[str, Any]) -> str:
    """The machine's state when these runs started (load average, ms per new file), and the
    runs' CPU seconds (which other work on the machine changes less than wall time)."""
    loads = "/".join(f"{r['load']:.1f}" for r in results)
    files = "/".join(f"{r.get('file_ms', 0.0):.2f}" for r in results)
    cpu = "/".join(f"{r.get('cpu', 0.0):.1f}" for r in results)
    speed = "/".join(f"{r['machine_ms']:.0f}" for r in results if "machine_ms" in r)
    return (f"(load {loads}, file {files} ms, CPU {cpu} s"
            + (f", machine {speed} ms" if speed else "") + ")")


def _verdict(text: str, ok: bool) -> str:
    return f"  {'ok  ' if ok else 'MISS'} {text}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200,2000,20000", help="client counts, e.g. 200,2000")
    parser.add_argument("--months", default="1,12", help="months of history, e.g. 1,12")
    parser.add_argument("--scenarios", default="quiet,billing", help="quiet, billing or both")
    parser.add_argument("--windows", default="0",
                        help="workbook.archive_after_months to run with, e.g. 0,3,12 (0: no "
                        "archive; else the history archived first, cached per code)")
    parser.add_argument("--archive-step", type=int, default=history.ARCHIVE_STEP_MONTHS,
                        help="make a window's folders archiving this many months at a time "
                        "(0: all in one move: faster, far more memory)")
    parser.add_argument("--archived-by", default=None, metavar="HASH",
                        help="use the window folders another code made (its hash: the folder "
                        "name's end) instead of archiving with this code; only while the "
                        "journal's schema is the same (profiling changing code)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (median shown)")
    parser.add_argument("--quick", action="store_true",
                        help="200 and 2,000 clients, one run each")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--label", default="", help="name of the results file")
    parser.add_argument("--profile", action="store_true",
                        help="also write a cProfile of one run per case into bench/out/profiles/")
    parser.add_argument("--profile-report", action="store_true",
                        help="also write a cProfile of the report's forked child (one run per "
                        "case) into bench/out/profiles/ (*-report.prof)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="kill a run after this many seconds (shown as >N)")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="a source tree to run instead of this checkout (before/after)")
    parser.add_argument("--keep-runs", action="store_true",
                        help="leave the run folders in bench/out/run/ (for benchmarks run one "
                        "after another: deleting them makes new files slower for minutes)")
    parser.add_argument("--as-left", action="store_true",
                        help="open and close each run's journal once first (not timed), as "
                        "the day before's run leaves it")
    parser.add_argument("--what-if", default="", help="try suggested fixes to code this "
                        "benchmark does not own: gc, deliver (see bench/stopwatch.py)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats = "200,2000", 1
    sizes = [int(s) for s in args.sizes.split(",")]
    months_list = [int(m) for m in args.months.split(",")]
    scenarios = [s.strip() for s in args.scenarios.split(",")]
    windows = [int(w) for w in args.windows.split(",")]
    cases: list[dict[str, Any]] = []
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, machine reference "
          f"{machine.reference_ms():.0f} ms (bench/machine.py); times in seconds "
          f"(medians of {args.repeats}); each step without the steps timed inside it"
          + (f"; code {args.code}" if args.code != ROOT else "")
          + (f"; archived by code {args.archived_by}" if args.archived_by else "")
          + (f"; WHAT-IF {args.what_if}" if args.what_if else ""), flush=True)
    since = time.time() - float(DELETED.read_text()) if DELETED.is_file() else None
    if since is not None and since < 300:
        print(f"note: the last benchmark deleted its run folders {since:.0f} s ago; new files "
              "cost more for up to 5 minutes after (the `file` column shows it)", flush=True)
    print(header(), flush=True)
    code = args.code.resolve()
    for months, n, window in itertools.product(months_list, sizes, windows):
        folders = _folders(n, months, window, args.seed, code, args.archive_step,
                           args.archived_by)
        for scenario in scenarios:
            day = history.SCENARIOS[scenario]
            options = {"window": window, "code": code, "what_if": args.what_if,
                       "timeout": args.timeout, "as_left": args.as_left}
            speed = machine.reference_ms(5)
            runs = []
            for _ in range(args.repeats):
                runs.append(run_once(folders[scenario], day, **options))
                if runs[-1].get("timed_out"):
                    break
            if args.profile:
                target = (history.OWN / "profiles"
                          / f"n{n}-m{months}-w{window}-{scenario}.prof")
                target.parent.mkdir(parents=True, exist_ok=True)
                run_once(folders[scenario], day, profile=target, **options)
            if args.profile_report:
                target = (history.OWN / "profiles"
                          / f"n{n}-m{months}-w{window}-{scenario}-report.prof")
                target.parent.mkdir(parents=True, exist_ok=True)
                profiled = run_once(folders[scenario], day, report_profile=target, **options)
                if not runs:  # --repeats 0: the profiled run is the row (its child slower)
                    runs.append(profiled)
            case = {"clients": n, "months": months, "window": window, "scenario": scenario,
                    "result": {**median_run(runs), "machine_ms": speed}}
            cases.append(case)
            print(row(case), flush=True)
            print(cpu_row(case), flush=True)
    print("\nTargets (2 cores, PDFs and outbox emails included; window = "
          "workbook.archive_after_months, 0 = no archive):")
    print("\n".join(verdicts(cases)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = args.label or dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(cases, indent=1), encoding="utf-8")
    print(f"\nresults: {path}")
    if not args.keep_runs:
        shutil.rmtree(WORK, ignore_errors=True)
        DELETED.write_text(str(time.time()), encoding="utf-8")


if __name__ == "__main__":
    main()
