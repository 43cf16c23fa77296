"""A big business's report is written by a forked child beside the workbook write-back: the
same file as when written in the run's own process, and a failure there is not swallowed."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import openpyxl
import pytest

import ispsheets.steps.report as report_step
from tests.scenario import Business, row

D = Decimal
DAY = dt.date(2026, 12, 1)
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _business(folder):
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly", tax_rate=D("8.25"))],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example")
                    for c in ("A1", "B2")],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 11, 10)) for c in ("A1", "B2")],
    }
    business = Business.create(folder, rows)
    business.run(dt.date(2026, 11, 10))
    business.pay("A1", "40.00", dt.date(2026, 11, 20))
    return business


def _cells(path):
    book = openpyxl.load_workbook(path)
    return {sheet.title: [[c.value for c in r] for r in sheet.iter_rows()]
            for sheet in book.worksheets}


def test_a_report_written_by_the_child_is_the_one_the_run_itself_writes(tmp_path, monkeypatch):
    here = _business(tmp_path / "here").run(DAY)
    monkeypatch.setattr(report_step, "FORK_FROM_INVOICES", 0)
    parent = os.getpid()
    child = _business(tmp_path / "child").run(DAY)
    assert os.getpid() == parent  # the child left without running the caller's code
    assert here.exit_code == child.exit_code == 0
    assert child.report_file.endswith("ispsheets-report-2026-12-01.xlsx")
    assert _cells(child.report_file) == _cells(here.report_file)
    assert sorted(p.name for p in (tmp_path / "child" / "reports").iterdir()) == [
        "ispsheets-report-2026-11-10.xlsx", "ispsheets-report-2026-12-01.xlsx"]  # no temp


def test_a_report_that_fails_in_the_child_fails_the_run_with_its_error_line(tmp_path,
                                                                            monkeypatch):
    business = _business(tmp_path)

    def broken(data, folder, mode=None):
        raise ValueError("no room for the report")

    monkeypatch.setattr(report_step, "FORK_FROM_INVOICES", 0)
    monkeypatch.setattr(report_step, "write_report", broken)
    report = business.run(DAY)
    assert report.exit_code == 3  # the child's traceback goes to the log file, not the owner
    [problem] = [p for p in report.problems if "report could not be written" in p.message]
    assert "(ValueError: no room for the report)" in problem.message
    assert business.invoices()  # the workbook was still written back before the error


def test_the_run_pauses_the_cycle_collector_and_gives_it_back(tmp_path, monkeypatch):
    import gc

    business = _business(tmp_path)
    seen = []
    real = report_step.write_report

    def watching(data, folder, mode=None):
        seen.append(gc.isenabled())
        return real(data, folder, mode)

    monkeypatch.setattr(report_step, "write_report", watching)
    assert gc.isenabled()
    business.run(DAY)
    assert seen == [False] and gc.isenabled()


def test_the_child_writes_the_report_with_the_cycle_collector_off(tmp_path, monkeypatch):
    import gc

    business = _business(tmp_path)
    real, seen = report_step.write_report, tmp_path / "collector.txt"

    def watching(data, folder, mode=None):
        seen.write_text(f"{os.getpid()} {gc.isenabled()}")
        return real(data, folder, mode)

    monkeypatch.setattr(report_step, "FORK_FROM_INVOICES", 0)
    monkeypatch.setattr(report_step, "write_report", watching)
    gc.enable()  # even were it on in the run
    report = business.run(DAY)
    assert report.exit_code == 0 and report.report_file
    pid, enabled = seen.read_text().split()
    assert int(pid) != os.getpid() and enabled == "False"
    assert gc.isenabled()


def test_a_child_that_cannot_answer_still_leaves_and_never_runs_the_rest_of_the_run(
        tmp_path, monkeypatch):
    """The parent gone, the pipe broken: the child must end there, not go on to write the
    workbook or send email as a second copy of the run."""
    business = _business(tmp_path)

    def broken_pipe(*args, **kwargs):
        raise BrokenPipeError("the run is gone")

    monkeypatch.setattr(report_step, "FORK_FROM_INVOICES", 0)
    monkeypatch.setattr(report_step.pickle, "dump", broken_pipe)
    parent = os.getpid()
    report = business.run(DAY)
    assert os.getpid() == parent
    assert report.exit_code == 3
    assert any("the report process died" in p.message for p in report.problems)
    runs = [a for a in business.activity() if a["action"] == "invoice_issued"]
    assert len(runs) == len({a["invoice_number"] for a in runs})  # nothing done twice


FORKED_PROBE = """
import sys
import ispsheets.steps.report as report_step
from ispsheets.cli import run_command_line
report_step.FORK_FROM_INVOICES = 0  # a big business: its report written by a forked child
code = run_command_line(sys.argv[1:])
print("loaded:", *sorted(m for m in ("pandas", "xlsxwriter") if m in sys.modules),
      file=sys.stderr)
"""


def test_a_run_whose_child_writes_the_report_never_loads_its_writer_itself(tmp_path):
    """pandas and xlsxwriter (half a second) are the child's to import: the run's own process
    did so once more after its wait, only to prune old reports."""
    import subprocess
    import sys

    from ispsheets.scaffold import init_project

    init_project(tmp_path, 5, dt.date(2026, 11, 20))
    result = subprocess.run([sys.executable, "-c", FORKED_PROBE, "run", "--date", "2026-12-01"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.stderr.strip().splitlines()[-1] == "loaded:", result.stderr
    assert (tmp_path / "reports" / "ispsheets-report-2026-12-01.xlsx").is_file()
