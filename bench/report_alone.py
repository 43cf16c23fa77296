"""The report step alone, on the inputs of a real run: to profile it and to compare two codes'
reports cell by cell (`tests/test_report_same_cells.py` compares the same way).

    python bench/report_alone.py capture FOLDER DATE INPUTS     # a run on FOLDER (changed!)
    PYTHONPATH=CODE python bench/report_alone.py write INPUTS OUT [--profile P] [--repeats N]
    python bench/report_alone.py compare OLD.xlsx NEW.xlsx

`capture` runs `ispsheets run --date DATE` in FOLDER (a fresh copy: the run writes it) and
saves, when the report step starts, what the report is computed from (`report_input` without
the archive's figures, as the forked child gets it) and a copy of the journal, into INPUTS (a
folder). `write` reads the figures from that journal and writes the report into OUT, as the
child does (`with_figures`, `write_report`), with the code on PYTHONPATH, and prints its CPU
seconds. `compare` says which parts of the two files differ in their bytes, and where any do, prints
every cell (value, type or number format) that differs.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import time
from pathlib import Path

sys.setrecursionlimit(100000)  # pickling long tuples of records


def capture(folder: Path, day: str, inputs: Path) -> None:
    import ispsheets.runner as runner
    from ispsheets.cli import run_command_line
    from ispsheets.steps import report

    inputs.mkdir(parents=True, exist_ok=True)
    start = runner.start_report

    def saved_then_started(cycle):
        data = report.report_input(cycle, figures=False)
        with open(inputs / "input.pickle", "wb") as out:
            pickle.dump(data, out, protocol=pickle.HIGHEST_PROTOCOL)
        cycle.journal._db.execute("VACUUM INTO ?", (str(inputs / "journal.db"),))
        return start(cycle)

    runner.start_report = saved_then_started
    os.chdir(folder)
    code = run_command_line(["run", "--date", day])
    print(f"run exit {code}; inputs in {inputs}")


def write(inputs: Path, out: Path, profile: Path | None, repeats: int) -> None:
    import gc

    from ispsheets.journal import Journal
    from ispsheets.steps.report import with_figures, write_report

    with open(inputs / "input.pickle", "rb") as source:
        data = pickle.load(source)
    gc.disable()  # as the child
    times = []
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        started = time.process_time()
        profiler = None
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        reader = Journal.read_only(inputs / "journal.db")
        try:
            full = with_figures(data, reader)
        finally:
            reader.close()
        figures = time.process_time() - started
        path = write_report(full, out)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        times.append((figures, time.process_time() - started))
    print(" ".join(f"figures {f:.2f} s, all {t:.2f} s CPU;" for f, t in times), path)


def compare(old: Path, new: Path) -> int:
    """Every cell's value, type and number format; and which parts of the files differ in
    their bytes (none should: xlsxwriter and the splice are deterministic)."""
    import zipfile

    import openpyxl

    with zipfile.ZipFile(old) as x, zipfile.ZipFile(new) as y:
        parts = sorted(set(x.namelist()) | set(y.namelist()))
        changed = [p for p in parts if p not in x.namelist() or p not in y.namelist()
                   or x.read(p) != y.read(p)]
    print(f"{len(parts)} parts, differing in bytes: {changed or 'none'}")
    if not changed:
        return 0  # the same bytes: the same cells (openpyxl takes minutes at 20,000 clients)

    a, b = openpyxl.load_workbook(old), openpyxl.load_workbook(new)
    differences = 0
    if a.sheetnames != b.sheetnames:
        print("sheets:", a.sheetnames, b.sheetnames)
        return 1
    for name in a.sheetnames:
        x, y = a[name], b[name]
        if (x.max_row, x.max_column) != (y.max_row, y.max_column):
            print(name, "size", (x.max_row, x.max_column), (y.max_row, y.max_column))
            differences += 1
        for row_a, row_b in zip(x.iter_rows(), y.iter_rows(), strict=False):
            for c, d in zip(row_a, row_b, strict=False):
                if (c.value, c.number_format, c.data_type) != (d.value, d.number_format,
                                                                d.data_type):
                    differences += 1
                    if differences < 20:
                        print(name, c.coordinate, repr(c.value), repr(d.value),
                              c.number_format, d.number_format)
        cells = x.max_row * x.max_column
        print(f"{name}: {x.max_row} rows x {x.max_column} columns ({cells:,} cells) compared")
    print(f"{differences} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "capture":
        capture(Path(rest[0]).resolve(), rest[1], Path(rest[2]).resolve())
    elif command == "write":
        profile = Path(rest[rest.index("--profile") + 1]) if "--profile" in rest else None
        repeats = int(rest[rest.index("--repeats") + 1]) if "--repeats" in rest else 1
        write(Path(rest[0]), Path(rest[1]), profile, repeats)
    else:
        sys.exit(compare(Path(rest[0]), Path(rest[1])))
