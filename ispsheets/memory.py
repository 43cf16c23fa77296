"""Memory a step let go of, given back to the system before the next big step; garbage a
step makes in cycles, collected without walking the whole run's objects.

Python hands small objects back to its own allocator, and C libraries (calamine, zlib, sqlite)
free into the C library's heap; neither returns the freed pages to the system while live
objects sit between them. After the workbook is read (calamine's own copy of every cell, gone
once the rows are Python lists) a run of 20,000 clients held about 100 MB of such free pages
for the rest of the run, and a forked child (the report) counts them too. `malloc_trim(3)`
(glibc) returns them in a few milliseconds; elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim  # glibc only (musl has none)
    except (OSError, AttributeError):
        return None
    return trim


def give_back() -> None:
    """Return the C heap's free pages to the system (glibc); a no-op where it cannot."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@contextmanager
def new_garbage_collected() -> Iterator[None]:
    """Python's cycle collector on for the objects made inside the block alone.

    A run pauses the collector (`runner.run`: walking its millions of objects again and again
    would cost seconds). Rendering an email leaves cycles behind (each template's macros and
    their context: 73 objects an email), which only the collector frees: 19,500 invoice emails
    left 1.4 million objects (about 150 MB) for the rest of the run. Inside the block every
    object made before it is frozen (`gc.freeze`: never walked), so a collection costs what the
    block made; after it, the collector is as it was and the frozen objects are as before.
    """
    was_on = gc.isenabled()
    gc.freeze()
    gc.enable()
    try:
        yield
    finally:
        if not was_on:
            gc.disable()
        gc.unfreeze()
