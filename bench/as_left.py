"""Before the clock (`run_bench.py --as-left`): a run's folder as the day before's run left it,
made by the code measured (on PYTHONPATH), through the functions a run itself uses.

    python bench/as_left.py FOLDER

- The journal opened and closed once: its seal beside it where the code writes one, so the
  page check on open is skipped as on a real second day.
- The tab cache (`.ispsheets-cache/`, where the code has one) as that run and the days before
  it left it: the tabs nobody wrote are kept, as the two-reads rule of earlier days kept them
  (`read_xlsx` with the cache, twice); the tabs the day before's run wrote (`WRITTEN`) are not
  (their bytes are new to the next run).
- The journal's copies beside the workbook backups (`backups/`), as the two days before left
  them: the older one a whole copy of the journal (with its chunk digests where the code
  keeps them: the run brings that copy up to date in place, `ispsheets/chunk_copy.py`), the
  newer one a stand-in (a run never reads it, only keeps it), each beside a workbook backup
  stand-in. Made the same for every code, so the page cache holds the same files. (A real
  second day's older copy is two runs behind the journal, this one one: its patch writes
  fewer chunks than a real day's would.)
- The deflate pieces of the sheets the tool writes (`PIECED`), where the code remembers them
  (`xlsx_pieces`): those members deflated again in pieces by the run's own functions, their
  cells unchanged, and recorded as the write that last changed them records them (the day
  before's run for `WRITTEN` and Activity; the last billing day or archive move for
  InvoiceLines). A folder archived by older code holds none, so without this a benchmark's
  first day could never copy a piece: a real second day can. (A workbook the owner saved in
  Excel since holds none either: its next write deflates whole, as before.)
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

# The tabs a daily run writes on the days before the benchmark's quiet and billing days (what
# the quiet day's own run writes, as its log says): the tool's columns of Clients (balance),
# Charges (the invoice that billed it; late fees), Invoices (status, amount paid) and Payments
# (applied_to, unapplied). (It appends to Activity too, whose rows a run does not read.)
WRITTEN = ("Clients", "Charges", "Invoices", "Payments")
PIECED = (*WRITTEN, "InvoiceLines", "Activity")  # every tab the tool writes


def main(folder: Path) -> None:
    from ispsheets.journal import Journal

    sealed = {"sealed": True} if "sealed" in inspect.signature(Journal.open).parameters else {}
    Journal.open(folder / "ispsheets.db", **sealed).close()
    journal_copies(folder)
    deflate_pieces(folder)
    tab_cache(folder)


OLDER, NEWER = "isp-20200101-060000", "isp-20200102-060000"  # before any run's backup


def journal_copies(folder: Path) -> None:
    """The journal's copies the two days before left beside their workbook backups."""
    import shutil

    backups = folder / "backups"
    backups.mkdir(exist_ok=True)
    for stem in (OLDER, NEWER):
        (backups / f"{stem}.xlsx").write_bytes(b"a workbook backup stand-in")
    (backups / f"{NEWER}.ispsheets.db").write_bytes(b"a journal copy stand-in")
    older = backups / f"{OLDER}.ispsheets.db"
    try:
        from ispsheets import chunk_copy
    except ImportError:  # code that copies whole
        shutil.copyfile(folder / "ispsheets.db", older)
        return
    copied = chunk_copy.copy_file(folder / "ispsheets.db", older, None)
    chunk_copy.record(older, copied.digests)


def deflate_pieces(folder: Path) -> None:
    """The pieces of the sheets the tool writes, as the writes that last changed them left
    them."""
    try:
        from ispsheets.book.backend import PIECES, TAB_CACHE
        from ispsheets.book.xlsx_pieces import Memory
    except ImportError:  # code without the memory
        return
    import datetime as dt

    from ispsheets.book.xlsx_package import Package, deflate, write_package
    from ispsheets.book.xlsx_workbook import Workbook

    workbook = folder / "isp.xlsx"
    package = Package(workbook.read_bytes())
    book = Workbook(package)
    parts = [found.part for name in PIECED
             if (found := book.find(name)) is not None and package.has(found.part)]
    members = {part: deflate([package.read(part)]) for part in parts}
    temp = workbook.with_name(workbook.name + ".as-left")
    with temp.open("wb") as handle:
        write_package(handle, package, package.names, members, dt.datetime.now())
    os.replace(temp, workbook)
    Memory(folder / TAB_CACHE / PIECES).save({p: m.record() for p, m in members.items()})


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
