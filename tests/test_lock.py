"""One run at a time; a lock left by a killed run is taken over."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys

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
    assert path.read_text() == f"pid {proc.pid}"  # the killed run's file is still there
    with run_lock(path):
        assert path.read_text() == f"pid {os.getpid()}"


def test_lock_is_released_and_its_file_removed_after_the_block(tmp_path):
    path = tmp_path / "ispsheets.lock"
    with run_lock(path):
        assert path.read_text() == f"pid {os.getpid()}"
    assert not path.exists()
    proc = _holder(path)  # another process takes it at once
    proc.kill()
    proc.wait()


def test_lock_file_is_removed_when_the_block_fails(tmp_path):
    path = tmp_path / "ispsheets.lock"
    with pytest.raises(RuntimeError), run_lock(path):
        raise RuntimeError("the run failed")
    assert not path.exists()


def test_a_lock_file_removed_between_open_and_lock_is_not_trusted(tmp_path, monkeypatch):
    """The holder ended (and removed the file) after we opened it but before we locked it: the
    lock we get is on a deleted file, so we must lock the file the name leads to now."""
    path = tmp_path / "ispsheets.lock"
    real_flock = fcntl.flock
    locked = []

    def flock_after_the_holder_left(fd, operation):
        if not locked:
            path.unlink()
        locked.append(os.fstat(fd).st_ino)
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_the_holder_left)
    with run_lock(path):
        assert len(locked) == 2 and locked[1] == path.stat().st_ino
        monkeypatch.setattr(fcntl, "flock", real_flock)
        with pytest.raises(AlreadyRunning), run_lock(path):
            pass  # the file the name leads to is the one held


STRESS = """
import os, sys, time
from pathlib import Path
from ispsheets.lock import AlreadyRunning, run_lock
path, log, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
done = 0
while done < rounds:
    try:
        with run_lock(path):
            os.write(out, b"in\\n")
            time.sleep(0.0005)
            os.write(out, b"out\\n")
        done += 1
    except AlreadyRunning:
        pass
"""


def test_runs_racing_for_the_lock_are_never_inside_together(tmp_path):
    path, log = tmp_path / "ispsheets.lock", tmp_path / "log"
    procs = [subprocess.Popen([sys.executable, "-c", STRESS, str(path), str(log), "150"])
             for _ in range(3)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    lines = log.read_text().split()
    assert lines == ["in", "out"] * 450
    assert not path.exists()
