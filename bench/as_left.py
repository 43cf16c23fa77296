"""Before the clock (`run_bench.py --as-left`): a run's folder as the day before's run left it,
made by the code measured (on PYTHONPATH), through the functions a run itself uses.

    python bench/as_left.py FOLDER

- The journal opened and closed once: its seal beside it where the code writes one, so the
  page check on open is skipped as on a real second day.
- The tab cache (`.ispsheets-cache/`, where the code has one) as that run and the days before
  it left it: the tabs nobody wrote are kept, as the two-reads rule of earlier days kept them
  (`read_xlsx` with the cache, twice); the tabs the day before's run wrote (`WRITTEN`) are not
  (their bytes are new to the next run).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

# The tabs a daily run writes on the days before the benchmark's quiet and billing days (what
# the quiet day's own run writes, as its log says): the tool's columns of Clients (balance),
# Charges (the invoice that billed it; late fees), Invoices (status, amount paid) and Payments
# (applied_to, unapplied). (It appends to Activity too, whose rows a run does not read.)
WRITTEN = ("Clients", "Charges", "Invoices", "Payments")


def main(folder: Path) -> None:
    from ispsheets.journal import Journal

    sealed = {"sealed": True} if "sealed" in inspect.signature(Journal.open).parameters else {}
    Journal.open(folder / "ispsheets.db", **sealed).close()
    tab_cache(folder)


def tab_cache(folder: Path) -> None:
    """The tab cache as the day before's run left it."""
    try:
        from ispsheets.book.backend import TAB_CACHE
        from ispsheets.book.tab_cache import TabCache
    except ImportError:  # code without a tab cache
        return
    from ispsheets.book import reader

    workbook = folder / "isp.xlsx"
    cache = TabCache(folder / TAB_CACHE)
    reader.read_xlsx(workbook, cache)
    reader.read_xlsx(workbook, cache)
    _forget(cache, WRITTEN)


def _forget(cache: object, names: tuple[str, ...]) -> None:
    for name in names:
        for suffix in ("rows", "seen"):
            cache._file(name, suffix).unlink(missing_ok=True)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(Path(sys.argv[1]))
