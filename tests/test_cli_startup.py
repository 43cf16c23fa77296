"""Commands import what they need when they need it: `--help`, `check` and `status` answer
without loading the report writer (pandas), and `--help` without the config model (pydantic)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from ispsheets.scaffold import init_project

HEAVY = ("pandas", "numpy", "xlsxwriter", "reportlab", "pydantic")
PROBE = """
import sys
from ispsheets.cli import run_command_line
code = run_command_line(sys.argv[1:])
print("loaded:", *sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def loaded_by(args: tuple[str, ...], cwd: Path) -> set[str]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("loaded:"), result.stderr
    return set(line.split()[1:])


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shop")
    init_project(folder, 5, dt.date(2026, 11, 20))
    return folder


def test_help_loads_neither_pandas_nor_pydantic(shop):
    assert loaded_by(("--help",), shop) == set()
    # a command's own help: typer (0.29) imports pydantic itself to read the options' types
    assert loaded_by(("run", "--help"), shop) - {"pydantic"} == set()


@pytest.mark.parametrize("command", [("check",), ("status", "--date", "2026-11-30"),
                                     ("run", "--dry-run", "--date", "2026-11-30")])
def test_check_status_and_dry_runs_never_load_the_report_writer_or_the_pdf_library(shop,
                                                                                   command):
    assert loaded_by(command, shop) == {"pydantic"}


def test_a_real_run_still_writes_its_report(shop, tmp_path):
    init_project(tmp_path, 3, dt.date(2026, 11, 20))
    assert {"pandas", "reportlab"} <= loaded_by(("run", "--date", "2026-11-30"), tmp_path)
    assert (tmp_path / "reports" / "ispsheets-report-2026-11-30.xlsx").is_file()


def test_the_default_config_name_is_the_config_modules():
    from ispsheets import cli, config

    assert cli.CONFIG_NAME == config.CONFIG_NAME
