"""`python -m tests.faulty FAULT ispsheets-args...`: the real command, with the machine failing
at one edge, as a full disk or a refused permission makes it fail.

Faults (patched in this process before the command starts; PDF workers are forked from it and
inherit them):

- `journal-full:N`: the journal's connection takes N more writes, then answers as SQLite does
  on a full disk: it rolls the open transaction back and raises `database or disk is full`;
  `journal-readonly:N` the same with `attempt to write a readonly database` (its file's
  permissions changed under the run).
- `enospc:pdf`, `enospc:outbox`, `enospc:workbook`, `enospc:report`, `enospc:log`: writing
  invoice PDFs, outbox emails, the workbook's new file, the report (xlsxwriter's
  `FileCreateError`, as it raises it) or the log file fails with `[Errno 28] No space left on
  device`.
- `bug`: an error nobody expected, in the middle of a run.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any


def _enospc(path: object = "") -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _failing_write(*args: Any, **kwargs: Any) -> None:
    raise _enospc(args[0] if args else "")


class _FullStream(io.StringIO):
    """A log file on a full disk: every write fails."""

    def write(self, text: str) -> int:
        raise _enospc("ispsheets.log")


class _FullAfter:
    """The journal's sqlite3 connection on a disk that fills up after `room` writes."""

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    def __init__(self, db: sqlite3.Connection, room: int,
                 error: str = "database or disk is full") -> None:
        self._db, self._room, self._error = db, room, error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def _count(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(self.WRITES):
            self._room -= 1
            if self._room < 0:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")  # SQLite gives up the transaction itself
                raise sqlite3.OperationalError(self._error)

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._count(sql)
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._count(sql)
        return self._db.executemany(sql, *args)


def install(fault: str) -> None:
    if fault.startswith(("journal-full", "journal-readonly")):
        from ispsheets.journal import Journal

        opened = Journal.open.__func__  # type: ignore[attr-defined]
        room = int(fault.partition(":")[2] or 0)
        error = "attempt to write a readonly database" if "readonly" in fault else \
            "database or disk is full"

        def open_full(cls: type[Journal], path: Path, **options: Any) -> Journal:
            journal = opened(cls, path, **options)
            journal._db = _FullAfter(journal._db, room, error)  # type: ignore[assignment]
            return journal

        Journal.open = classmethod(open_full)  # type: ignore[method-assign, assignment]
    elif fault == "enospc:pdf":
        import ispsheets.delivery.pdf as pdf

        pdf.replace_file = _failing_write  # type: ignore[assignment]
    elif fault == "enospc:outbox":
        import ispsheets.delivery.mailer as mailer

        mailer.replace_file = _failing_write  # type: ignore[assignment]
    elif fault == "enospc:workbook":
        import ispsheets.book.xlsx_backend as xlsx

        xlsx.write_package = _failing_write  # type: ignore[assignment]
    elif fault == "enospc:report":
        from xlsxwriter.exceptions import FileCreateError
        from xlsxwriter.workbook import Workbook

        def store(self: Workbook) -> None:
            raise FileCreateError(_enospc(self.filename))

        Workbook._store_workbook = store  # type: ignore[method-assign]
    elif fault == "enospc:log":
        from ispsheets.logs import LogFile

        LogFile._open = lambda self: _FullStream()  # type: ignore[method-assign, assignment, return-value]
    elif fault == "bug":
        import ispsheets.runner as runner

        def settle_ledger(cycle: object) -> None:
            raise ZeroDivisionError("division by zero")

        runner.settle_ledger = settle_ledger  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown fault {fault}")


if __name__ == "__main__":
    install(sys.argv[1])
    logging.raiseExceptions = True  # as in any Python process: the log's own errors would show
    from ispsheets.cli import main

    sys.argv = ["ispsheets", *sys.argv[2:]]
    main()
