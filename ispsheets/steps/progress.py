"""Progress of long work: a rich bar on a terminal, a start and an end line for cron."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

steps_log = logging.getLogger("ispsheets.steps")


@contextmanager
def progress(label: str, total: int, on_terminal: bool) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`; shows a bar when attached to a terminal and the work is long."""
    started = time.perf_counter()
    if on_terminal and total >= 20:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task(label, total=total)
            yield lambda n=1: bar.advance(task, n)
    else:
        steps_log.info("%s: %d to do", label, total)
        yield lambda n=1: None
    steps_log.info("%s: %d done in %.1f s", label, total, time.perf_counter() - started)
