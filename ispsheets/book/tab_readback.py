"""The tabs a run wrote, kept in the tab cache while the run waits for its report.

Every run rewrites some tabs (Invoices, Payments, Clients on most days), so the two-reads rule
of the tab cache (`tab_cache`) never keeps them and the next run parses them again: at 20,000
clients about two of the quiet day's seconds. Right after the write the run reads those tabs
back from the file, in a thread, while its report is written (by a child process on a big
business: the run's own process then only waits, and a core is free), and keeps them. The
next run takes them from the cache unless someone edited them since.

It is only a cache: a read-back that fails keeps nothing and changes nothing else (a line in the
log says why); one still going when the report is done stops before its next tab, and what it
had not kept yet is parsed by the next run as before. The cost is moved into the wait, not
removed: the same parse, one run earlier.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ispsheets.book.reader import keep_written_tabs
from ispsheets.book.tab_cache import TabCache

log = logging.getLogger("ispsheets.book")

Stop = Callable[[], None]


def start_read_back(path: Path, cache_dir: Path) -> Stop:
    """Start reading back the tabs just written to the workbook at `path` into the tab cache
    in `cache_dir`; call what is returned to stop it (at its next tab) and wait for it."""
    stopping = threading.Event()
    thread = threading.Thread(target=_read_back, args=(path, cache_dir, stopping),
                              name="tab-read-back", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join()

    return stop


def _read_back(path: Path, cache_dir: Path, stopping: threading.Event) -> None:
    started = time.perf_counter()
    try:
        kept = keep_written_tabs(path, TabCache(cache_dir), stopping.is_set)
        stopped = stopping.is_set()
    except Exception as exc:  # whatever the file or calamine made of it: the cache is a cache
        log.info("tab cache: the tabs this run wrote were not kept (%s: %s)",
                 type(exc).__name__, exc)
        return
    log.info("tab cache: kept %s as this run wrote them (%.2f s%s)",
             ", ".join(kept) or "no tab", time.perf_counter() - started,
             "; stopped: the report was done first" if stopped else "")
