"""Where a run's memory goes: `ispsheets run` on a fresh copy of a cached business, with the
resident memory of the run's process and of each child it forks (report writer, PDF workers)
sampled every 20 ms and at the start and end of every step `bench/stopwatch.py` times.

    .venv/bin/python bench/memwatch.py --sizes 2000 --months 12 --window 12 \
        --archived-by bd6f85d2cfea --scenario quiet [--code DIR]

Prints, for the run's process, the step in which its peak (VmHWM) was reached and the most it
held in each step; for each child, its peak and the run's step at that time; and the most the
run and its children held together. `run_bench.py`'s `RSS MB` column is `wait4`'s
`ru_maxrss`: the largest of these peaks, process by process (a forked child counts the pages
it shares with the run), never their sum.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def status(pid: int | str) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of a process in MB (empty once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) // 1024
    return out


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                kids = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                if kid not in found:
                    found.append(kid)
                    todo.append(kid)
    return found


def watched_run(out: Path, args: list[str]) -> None:
    """In the run's process: the stopwatch's run, sampled."""
    sys.path.insert(0, str(HERE))
    import stopwatch

    me = os.getpid()
    stack = ["other"]
    started = time.perf_counter()
    marks: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    children: dict[int, dict[str, Any]] = {}
    done = threading.Event()

    def sample() -> dict[str, Any]:
        own = status(me)
        kids = {}
        for kid in descendants(me):
            s = status(kid)
            if s:
                kids[kid] = s
                seen = children.setdefault(kid, {"peak": 0, "hwm": 0, "step": "", "t": 0.0,
                                                 "first": round(time.perf_counter() - started,
                                                                2), "run_rss": 0})
                if s["VmRSS"] > seen["peak"]:
                    seen.update(peak=s["VmRSS"], step=stack[-1], run_rss=own.get("VmRSS", 0),
                                t=round(time.perf_counter() - started, 2))
                seen["hwm"] = max(seen["hwm"], s.get("VmHWM", 0))
                seen["last"] = round(time.perf_counter() - started, 2)
        return {"t": round(time.perf_counter() - started, 3), "step": stack[-1],
                "rss": own.get("VmRSS", 0), "hwm": own.get("VmHWM", 0),
                "anon": own.get("RssAnon", 0), "kids": sum(k["VmRSS"] for k in kids.values())}

    def sampler() -> None:
        while not done.wait(0.02):
            samples.append(sample())

    wrap = stopwatch.Stopwatch.wrap

    def marked_wrap(self: Any, step: str, function: Any) -> Any:
        timed = wrap(self, step, function)

        @functools.wraps(function)
        def marked(*a: Any, **k: Any) -> Any:
            stack.append(step)
            marks.append({"event": "enter", **sample()})
            traced("enter", step)
            try:
                return timed(*a, **k)
            finally:
                if f"leave:{step}" in os.environ.get("MEMWATCH_GC", "").split(","):
                    import gc
                    t0 = time.perf_counter()
                    if os.environ.get("MEMWATCH_GC_TYPES"):
                        gc.set_debug(gc.DEBUG_SAVEALL)
                    found = gc.collect()
                    if gc.garbage:
                        import collections
                        kinds = collections.Counter(
                            f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
                        print(f"memwatch: garbage {kinds.most_common(25)}", file=sys.stderr)
                        gc.set_debug(0)
                        gc.garbage.clear()
                    print(f"memwatch: gc after {step}: {found} unreachable, "
                          f"{time.perf_counter() - t0:.2f} s", file=sys.stderr)
                marks.append({"event": "leave", **sample()})
                traced("leave", step)
                stack.pop()
        return marked

    trace = os.environ.get("MEMWATCH_TRACE", "")
    if trace:
        import tracemalloc

        tracemalloc.start(int(os.environ.get("MEMWATCH_FRAMES", "1")))
    report = out.with_suffix(".trace.txt")

    def traced(event: str, step: str) -> None:
        if not trace or (f"{event}:{step}" not in trace.split(",") and event != "child"):
            return
        snap = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        with open(report, "a") as f:
            f.write(f"== {event} {step}: traced {current >> 20} MB (peak {peak >> 20})\n")
            by = "traceback" if int(os.environ.get("MEMWATCH_FRAMES", "1")) > 1 else "lineno"
            for stat in snap.statistics(by)[:40]:
                f.write(f"{stat.size >> 20:6} MB {stat.count:9} "
                        f"{' <- '.join(str(fr) for fr in stat.traceback)}\n")

    stopwatch.Stopwatch.wrap = marked_wrap  # type: ignore[method-assign]
    if os.environ.get("MEMWATCH_IMPORT"):  # a probe of one's own, e.g. around a step's parts
        import runpy

        runpy.run_path(os.environ["MEMWATCH_IMPORT"])
    if trace and "splice" in trace.split(","):  # in the report's child, what it holds then
        import ispsheets.reporting.workbook as workbook

        splice = workbook.splice

        def traced_splice(*a: Any, **k: Any) -> Any:
            traced("child", "splice")
            return splice(*a, **k)

        workbook.splice = traced_splice
    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    code = stopwatch.main([str(out.with_suffix(".times.json")), *args])
    stack.append("end")
    done.set()
    thread.join()
    samples.append(sample())
    out.write_text(json.dumps({"marks": marks, "samples": samples,
                               "children": {str(k): v for k, v in children.items()},
                               "exit": code}), encoding="utf-8")
    import ispsheets.cli as cli

    if hasattr(cli, "end_process"):
        cli.end_process(code)
    sys.exit(code)


def summary(data: dict[str, Any]) -> str:
    points = sorted(data["marks"] + data["samples"], key=lambda p: p["t"])
    lines = []
    # the step in which the run's own high-water mark rose last
    top, where, hwm = 0, "", 0
    by_step: dict[str, int] = {}
    for p in points:
        by_step[p["step"]] = max(by_step.get(p["step"], 0), p["rss"])
        if p["hwm"] > hwm:
            hwm, where = p["hwm"], p["step"]
        top = max(top, p["rss"] + p["kids"])
    lines.append(f"run's process: peak {hwm} MB, reached in step {where!r}")
    lines.append("  most held in each step: " + ", ".join(
        f"{s} {m}" for s, m in sorted(by_step.items(), key=lambda kv: -kv[1])))
    for pid, child in data["children"].items():
        lines.append(f"child {pid}: peak {max(child['peak'], child['hwm'])} MB at "
                     f"{child['t']} s (run in {child['step']!r}, holding {child['run_rss']} MB)"
                     f"; alive {child['first']}-{child.get('last')} s")
    lines.append(f"run + children together, at most: {top} MB")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, default=2000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--archived-by", default="")
    parser.add_argument("--scenario", default="quiet")
    parser.add_argument("--code", type=Path, default=ROOT)
    parser.add_argument("--timeline", action="store_true", help="print every sample")
    options = parser.parse_args()
    sys.path.insert(0, str(HERE))
    sys.path.insert(1, str(ROOT))
    import history
    import run_bench

    folders = history.windowed(options.sizes, options.months, options.window, 2026,
                               code=options.code, made_by=options.archived_by)
    day = history.SCENARIOS[options.scenario]
    folder = history.copy_scenario(folders[options.scenario], run_bench.WORK / "memwatch" /
                                   f"{options.sizes}-{options.months}-{os.getpid()}",
                                   window=options.window)
    env = {**os.environ, "PYTHONPATH": str(options.code)}
    subprocess.run([sys.executable, str(run_bench.AS_LEFT), str(folder)], check=True, env=env)
    os.sync()
    out = folder / "memory.json"
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with open(folder / "stdout.txt", "wb") as stdout, open(folder / "stderr.txt", "wb") as err:
        child = subprocess.Popen([sys.executable, __file__, "--watched", str(out), "run",
                                  "--date", day.isoformat()], cwd=folder, env=env,
                                 stdout=stdout, stderr=err)
        _, _, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    data = json.loads(out.read_text(encoding="utf-8"))
    if options.timeline:
        for p in sorted(data["marks"] + data["samples"], key=lambda p: p["t"]):
            print(f"{p['t']:8.2f} {p.get('event', ''):5} {p['step']:10} rss {p['rss']:5} "
                  f"anon {p['anon']:5} hwm {p['hwm']:5} kids {p['kids']:5}")
    print(f"{options.sizes} clients x {options.months} mo, window {options.window}, "
          f"{options.scenario}; code {options.code}; load {load:.1f}")
    print(summary(data))
    print(f"wait4 ru_maxrss {usage.ru_maxrss / 1024:.0f} MB; wall {wall:.1f} s; "
          f"cpu {usage.ru_utime + usage.ru_stime:.1f} s; exit {data['exit']}")
    for line in (folder / "stderr.txt").read_text(errors="replace").splitlines():
        if line.startswith("memwatch:"):
            print(line)
    trace = out.with_suffix(".trace.txt")
    if trace.exists():
        kept = run_bench.WORK.parent / f"memwatch-{options.sizes}-{options.scenario}.trace.txt"
        trace.replace(kept)
        print(f"tracemalloc snapshots: {kept}")
    shutil_rm(folder)


def shutil_rm(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--watched":
        watched_run(Path(sys.argv[2]), sys.argv[3:])
    else:
        main()
