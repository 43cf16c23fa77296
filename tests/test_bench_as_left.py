"""`run_bench.py --as-left`: the tab cache as the day before's run left it, for the code measured
(`bench/as_left.py`): every tab a run parses in full is kept, but the tabs the day before's run
wrote (their bytes are new to the next run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import ispsheets.book.reader as reader
from ispsheets.book.backend import TAB_CACHE
from ispsheets.book.tab_cache import TabCache
from tests.scenario import Business
from tests.test_scenario_edges import _rows

ROOT = Path(__file__).resolve().parent.parent
EAGER = {"Instructions", "Packages", "Clients", "Services", "Charges", "Invoices",
         "InvoiceLines", "Payments", "BankUnmatched"}


def _as_left():
    spec = importlib.util.spec_from_file_location("bench_as_left", ROOT / "bench" / "as_left.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def folder(tmp_path) -> Path:
    business = Business.create(tmp_path, _rows("A", "B"))
    assert business.config.journal_path.parent == tmp_path
    return tmp_path


def _held(folder: Path) -> set[str]:
    cache = TabCache(folder / TAB_CACHE)
    return {name for name, key in reader._tab_keys(folder / "isp.xlsx").items()
            if cache.rows(name, key) is not None}


def test_the_journal_is_sealed_and_only_the_tabs_nobody_wrote_are_kept(folder):
    _as_left().main(folder)
    assert (folder / "ispsheets.db").exists()  # the journal opened and closed (its seal)
    assert _held(folder) & EAGER == EAGER - {"Clients", "Charges", "Invoices", "Payments"}


def test_a_day_after_the_prime_reads_as_the_cache_says(folder):
    _as_left().tab_cache(folder)
    fresh = reader.read_xlsx(folder / "isp.xlsx")
    cached = reader.read_xlsx(folder / "isp.xlsx", TabCache(folder / TAB_CACHE))
    assert {n: s.rows for n, s in cached.sheets.items() if s.loaded} == \
        {n: s.rows for n, s in fresh.sheets.items() if s.loaded}


def test_the_sheets_the_day_before_wrote_are_left_in_recorded_pieces(folder):
    from ispsheets.book.backend import PIECES
    from ispsheets.book.xlsx_package import Package
    from ispsheets.book.xlsx_pieces import Memory
    from ispsheets.book.xlsx_workbook import Workbook

    before = reader.read_xlsx(folder / "isp.xlsx")
    _as_left().main(folder)
    package = Package((folder / "isp.xlsx").read_bytes())
    memory = Memory(folder / TAB_CACHE / PIECES)
    for name in ("Clients", "Charges", "Invoices", "InvoiceLines", "Payments", "Activity"):
        found = Workbook(package).find(name)
        assert found is not None
        info = package.infos[found.part]
        assert memory.reuse(found.part, info.CRC, info.compress_size, info.file_size,
                            package.raw(found.part)) is not None, name
    after = reader.read_xlsx(folder / "isp.xlsx")
    assert {n: s.rows for n, s in after.sheets.items()} == \
        {n: s.rows for n, s in before.sheets.items()}
