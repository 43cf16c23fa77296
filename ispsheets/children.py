"""Processes a run forks (PDF workers, the report writer): they never outlive it."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def die_with_parent() -> None:
    """End this child when the run does, even one killed with `kill -9` (Linux): an orphan
    would wait for ever or hold the run's lock, memory and output pipes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no prctl to be had: the child lives as before
        return
    if os.getppid() == 1:  # the run died before the call took effect
        os._exit(1)
