"""Named points where a test can kill the run as `kill -9` would (`ISPSHEETS_KILL_AT=name`,
or `name@N` to die the Nth time the point is reached).

The crash-safety tests run the real command in a subprocess, kill it at each of these points
and run it again; production runs never set the variable, and a check costs one dict lookup.
"""

from __future__ import annotations

import os

POINTS = ("invoices-recorded", "message-handed-over", "fee-recorded", "suspension-recorded",
          "before-workbook-write", "workbook-temp-written", "workbook-replaced",
          "report-written")
# Reached only while bank statements are imported (tests/test_bank_import.py kills there).
BANK_POINTS = ("bank-line-recorded",)
# Reached only while closed history moves to the archive (tests/test_archive.py kills there).
ARCHIVE_POINTS = ("archive-keyed", "archive-appended", "archive-removed", "restore-appended")
# Reached between two rounds of a long move to the archive (`ispsheets.archive.rounds`; tests/
# test_archive_rounds.py kills there).
ROUND_POINTS = ("archive-round",)
# Reached only when reminders go into the outbox (tests/test_reminder_batch.py kills there).
REMINDER_POINTS = ("outbox-batch-committed",)


_reached: dict[str, int] = {}


def checkpoint(name: str) -> None:
    """Die here, at once and without cleanup, if the environment asks for it."""
    wanted = os.environ.get("ISPSHEETS_KILL_AT")
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] >= int(nth or 1):
        os._exit(137)
