"""Before anything trusts the journal: is it there, readable, and as new as the workbook?

The journal decides what was numbered, billed and sent. A journal that was deleted, emptied,
damaged or replaced by an older copy would have the next run number, bill and email everything
again, so every command stops first (exit 2, nothing done) and names the way back:
`ispsheets recover-journal`, which rebuilds it from the workbook (`ispsheets/recovery.py`).
Its pages are checked unless the file is exactly as the last command that closed it left it
(`journal_seal`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ispsheets.book.reader import RawBook
from ispsheets.book.schema import INVOICES
from ispsheets.config import Config
from ispsheets.journal import Journal, JournalError, JournalUnreadable
from ispsheets.problems import Problem

RECOVER_COMMAND = "ispsheets recover-journal"


class JournalStop(Exception):
    """The journal cannot be trusted; `problem` says why and how to recover."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def recovery_fix(config: Config) -> str:
    name = config.journal_path.name
    return (f"nothing was done; run `{RECOVER_COMMAND} --dry-run` to see what it rebuilds from "
            f"the workbook, then `{RECOVER_COMMAND}` (or put the newest "
            f"`backups/*.{name}` copy back as {name})")


def shown_invoice_numbers(raw: RawBook) -> list[str]:
    """Invoice numbers of the Invoices rows the tool wrote (a number and a client)."""
    from ispsheets.book.columns import column_values

    numbers = column_values(raw, INVOICES.name, "invoice_number")
    clients = column_values(raw, INVOICES.name, "client_id")
    return [str(n).strip() for n, c in zip(numbers, clients, strict=False)
            if n not in (None, "") and str(n).strip() and c not in (None, "")]


def _listed(numbers: list[str]) -> str:
    ordered = sorted(numbers)
    if len(ordered) <= 3:
        return ", ".join(ordered)
    return f"{ordered[0]}, {ordered[1]} … {ordered[-1]}"


def _empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True


def open_trusted(config: Config, shown: Iterable[str], generation: int | None) -> Journal:
    """The journal, once it is readable and knows every invoice the workbook shows (and every
    write the workbook was stamped with). Raises JournalStop otherwise; a missing or empty
    file is never created or touched when the workbook shows invoices."""
    where, path, fix = config.paths.journal, config.journal_path, recovery_fix(config)
    numbers = sorted(set(shown))
    if _empty(path) and (numbers or generation):
        state = "missing" if not path.exists() else "empty (0 bytes)"
        what = (f"{len(numbers)} invoice(s) ({_listed(numbers)})" if numbers
                else f"write #{generation} of the tool")
        raise JournalStop(Problem(where, f"the journal is {state}, but the workbook shows "
                                  f"{what}: a run now would number, bill and email them again",
                                  fix))
    try:
        journal = Journal.open(path, sealed=True)  # every page checked, unless as last left
    except JournalUnreadable as exc:
        raise JournalStop(Problem(where, f"the journal {exc}", fix)) from exc
    except JournalError as exc:
        raise JournalStop(Problem(where, str(exc), "nothing was done; check the file can be "
                                  "read and written (and is not from a newer ispsheets: "
                                  "upgrade then)")) from exc
    try:
        problem = _disagreement(journal, numbers, generation, where, fix)
    except BaseException:
        journal.close()
        raise
    if problem is not None:
        journal.close()
        raise JournalStop(problem)
    return journal


def _disagreement(journal: Journal, numbers: list[str], generation: int | None, where: str,
                  fix: str) -> Problem | None:
    unknown = sorted(journal.unknown_invoices(numbers))
    if unknown:
        return Problem(where, f"the journal does not know {len(unknown)} invoice(s) the "
                       f"workbook shows ({_listed(unknown)}): it was deleted, emptied or "
                       "replaced, and a run now would number, bill and email them again", fix)
    newest = journal.newest_write()
    if generation is not None and generation > newest:
        return Problem(where, f"the journal is older than the workbook (the workbook holds "
                       f"the tool's write #{generation}, the journal knows writes up to "
                       f"#{newest}): an older copy was put back, and a run now could send "
                       "or fee things again", fix)
    return None


def journal_problems(config: Config, shown: Iterable[str],
                     generation: int | None) -> list[Problem]:
    """For `check`: what stops every run, as problems (the journal is not created)."""
    if not config.journal_path.exists() and not set(shown) and not generation:
        return []
    try:
        open_trusted(config, shown, generation).close()
    except JournalStop as stop:
        return [stop.problem]
    return []
