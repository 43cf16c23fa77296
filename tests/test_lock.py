"""One run at a time; a lock left by a killed run is taken over."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from ispsheets.lock import AlreadyRunning, run_lock

HOLD = """
import sys, time
from pathlib import Path
from ispsheets.lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def _holder(path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_is_refused_and_names_the_holder(tmp_path):
    path = tmp_path / "ispsheets.lock"
    proc = _holder(path)
    try:
        with pytest.raises(AlreadyRunning, match=f"pid {proc.pid}"), run_lock(path):
            pass
    finally:
        proc.kill()
        proc.wait()


def test_lock_of_a_killed_run_is_taken_over(tmp_path):
    path = tmp_path / "ispsheets.lock"
    proc = _holder(path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    with run_lock(path):
        assert time.monotonic() < deadline
        assert path.read_text().startswith("pid ")


def test_lock_is_released_after_the_block(tmp_path):
    path = tmp_path / "ispsheets.lock"
    with run_lock(path):
        pass
    with run_lock(path):
        pass
