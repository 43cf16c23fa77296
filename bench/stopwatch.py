"""`ispsheets` with a stopwatch on each step: what `bench/run_bench.py` runs in a subprocess.

    python bench/stopwatch.py TIMES.json run --date 2026-11-30

Runs the real command line (`ispsheets.cli.run_command_line`, and ends the process as the
console script does) in this process, after wrapping the step functions the runner calls; each
step's time excludes the steps timed inside it (so `send` is the emails, without the PDFs).
Writes {"steps": {name: seconds}, "cpu_steps": {name: CPU seconds}, "children_cpu_steps": {name:
CPU seconds}, "total": s, "exit": code} to TIMES.json and exits with the command's exit code (a
step's CPU seconds are this process's and those of the children it waited for during the step;
`children_cpu_steps` the latter alone: the PDF pool's workers in `send`).
`BENCH_WHAT_IF=gc,deliver` tries the fixes suggested for code outside the
benchmark's reach (see `what_if`; also nogc); off unless set.
`BENCH_REPORT_PROFILE=PATH` writes a cProfile of the report's forked child (the whole child:
the archive's figures read and the report written) to PATH; the run's own process is not
profiled (`run_bench.py --profile-report`).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import functools  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

# (module, attribute, step): every name the runner looks the function up by.
TIMED = (
    ("ispsheets.book.backend", "XlsxBackend.read", "read"),
    ("ispsheets.runner", "load_book", "load"),
    ("ispsheets.runner", "prepare", "prepare"),
    ("ispsheets.runner", "allocate_payments", "allocate"),
    ("ispsheets.steps.invoice", "allocate_payments", "allocate"),
    ("ispsheets.steps.invoice", "issue_invoices", "invoice"),
    ("ispsheets.steps.reconcile", "reconcile", "reconcile"),
    ("ispsheets.steps.deliver", "render_pdfs", "pdf"),
    ("ispsheets.steps.deliver", "deliver", "send"),
    ("ispsheets.steps.collect", "collect", "remind"),
    ("ispsheets.runner", "write_back", "write"),
    ("ispsheets.runner", "build_ledger", "ledger"),
    ("ispsheets.runner", "plan_writeback", "plan_write"),
    ("ispsheets.book.backend", "XlsxBackend.write", "xlsx_write"),
    ("ispsheets.steps.report", "write_report_step", "report"),
    ("ispsheets.runner", "start_report", "report"),  # big books: fork, write beside
    ("ispsheets.steps.report", "wait_for_report", "report"),  # the workbook, then wait
    ("ispsheets.runner", "archive_history", "archive"),  # closed history to archive/
)
STEPS = ("startup", "read", "load", "prepare", "allocate", "invoice", "reconcile", "pdf", "send",
         "remind", "ledger", "plan_write", "xlsx_write", "write", "report", "archive", "other")


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds of this process and of the children it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system, \
        t.children_user + t.children_system


class Stopwatch:
    """Exclusive time per step: a step's own time, less the timed steps it called; wall and
    CPU seconds (and of those, the children's)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.children: dict[str, float] = defaultdict(float)
        self._inner: list[tuple[float, float, float]] = []

    def wrap(self, step: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, (cpu, kids) = time.perf_counter(), cpu_seconds()
            self._inner.append((0.0, 0.0, 0.0))
            try:
                return function(*args, **kwargs)
            finally:
                now, kids_now = cpu_seconds()
                elapsed, used, by_kids = time.perf_counter() - started, now - cpu, kids_now - kids
                inner, inner_cpu, inner_kids = self._inner.pop()
                self.seconds[step] += elapsed - inner
                self.cpu[step] += used - inner_cpu
                self.children[step] += by_kids - inner_kids
                if self._inner:
                    outer, outer_cpu, outer_kids = self._inner[-1]
                    self._inner[-1] = (outer + elapsed, outer_cpu + used, outer_kids + by_kids)
        return timed


def install(watch: Stopwatch) -> None:
    for module_name, attribute, step in TIMED:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        if hasattr(owner, name):  # an older or newer tree may lack a step
            setattr(owner, name, watch.wrap(step, getattr(owner, name)))


# -- what-ifs: the fixes suggested for code the benchmark does not own, tried without editing
# it (BENCH_WHAT_IF=gc,deliver). Never on by default: the table measures the code as it is.

def what_if(names: set[str]) -> None:
    import gc

    if "nogc" in names:  # the run would switch the cyclic garbage collector off
        gc.disable()
    if "gc" in names:  # the runner would call gc.freeze() once the book is loaded
        import ispsheets.runner as runner

        load_book = runner.load_book

        def load_then_freeze(*args: Any, **kwargs: Any) -> Any:
            book = load_book(*args, **kwargs)
            gc.freeze()
            return book

        runner.load_book = load_then_freeze
    if "deliver" in names:
        import ispsheets.steps.deliver as deliver

        # each reminder and queued email builds {number: invoice} of every invoice: once
        # per list of invoices instead
        invoice_map = deliver._invoice_map
        built: dict[int, tuple[Any, dict[str, Any]]] = {}

        def invoice_map_once(cycle: Any) -> dict[str, Any]:
            invoices = cycle.invoices
            known = built.get(id(invoices))
            if known is None or known[0] is not invoices or len(known[1]) != len(invoices):
                known = built[id(invoices)] = (invoices, invoice_map(cycle))
            return known[1]

        deliver._invoice_map = invoice_map_once


def profile_report_child(path: str) -> None:
    """Profile the forked child that writes a big business's report (`_report_child`): it
    leaves by `os._exit`, so the profile is written just before."""
    import cProfile

    import ispsheets.steps.report as report

    child = getattr(report, "_report_child", None)
    if child is None:  # an older tree
        return

    def profiled(*args: Any, **kwargs: Any) -> Any:
        profiler = cProfile.Profile()
        exit_now = os._exit

        def dump_then_exit(code: int) -> None:
            profiler.disable()
            profiler.dump_stats(path)
            exit_now(code)

        os._exit = dump_then_exit  # this child's only
        profiler.enable()
        return child(*args, **kwargs)

    report._report_child = profiled


def main(argv: list[str]) -> int:
    times_path, args = Path(argv[0]), argv[1:]
    watch = Stopwatch()
    import ispsheets.cli as cli

    run_command_line = getattr(cli, "run_command_line", _older_command_line(cli))
    what_if({n for n in os.environ.get("BENCH_WHAT_IF", "").split(",") if n})
    install(watch)
    if os.environ.get("BENCH_REPORT_PROFILE"):
        profile_report_child(os.environ["BENCH_REPORT_PROFILE"])
    watch.seconds["startup"] = time.perf_counter() - STARTED
    watch.cpu["startup"] = cpu_seconds()[0]
    code = run_command_line(args)
    total = time.perf_counter() - STARTED
    watch.seconds["other"] = total - sum(watch.seconds.values())
    watch.cpu["other"] = cpu_seconds()[0] - sum(watch.cpu.values())
    watch.children["other"] = cpu_seconds()[1] - sum(watch.children.values())
    times_path.write_text(json.dumps({"steps": dict(watch.seconds), "cpu_steps": dict(watch.cpu),
                                      "children_cpu_steps": dict(watch.children),
                                      "total": total, "exit": code}), encoding="utf-8")
    return code


def _older_command_line(cli: Any) -> Callable[[list[str]], int]:
    """How code from before `run_command_line` (a `--code` tree) ran a command."""
    def run(args: list[str]) -> int:
        try:
            cli.main(args)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return 0
    return run


if __name__ == "__main__":
    code = main(sys.argv[1:])
    import ispsheets.cli as cli

    # As the console script ends; but under cProfile (BENCH_PROFILE) the interpreter must exit
    # normally, or the profile is never written.
    if hasattr(cli, "end_process") and not os.environ.get("BENCH_PROFILE"):
        cli.end_process(code)
    sys.exit(code)
