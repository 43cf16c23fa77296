"""The run's bank step: the owner's assignments, then the statement files (given to
`import-bank`, or waiting in `bank.inbox`), each line recorded once; the payments are allocated
in the same run."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from ispsheets.bank.assign import apply_assignments, assignments
from ispsheets.bank.importer import BankJournal, FileResult, import_statement, with_pending
from ispsheets.bank.read import read_statement
from ispsheets.bank.statement import StatementError
from ispsheets.steps.cycle import Cycle

log = logging.getLogger("ispsheets.bank")


def inbox_files(cycle: Cycle) -> list[Path]:
    """Files waiting in `bank.inbox` (hidden files and folders left alone)."""
    if not cycle.config.bank.inbox:
        return []
    inbox = cycle.config.path(cycle.config.bank.inbox)
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.startswith((".", "~")))


def move_imported(cycle: Cycle, path: Path) -> Path:
    """Move a fully imported file to `bank.imported` (a number added if the name is taken)."""
    target_dir = cycle.config.path(cycle.config.bank.imported)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    number = 1
    while target.exists():
        number += 1
        target = target_dir / f"{path.stem}-{number}{path.suffix}"
    shutil.move(str(path), target)
    return target


def import_files(cycle: Cycle, bank: BankJournal, paths: Iterable[Path], move: bool
                 ) -> list[FileResult]:
    results = []
    for path in paths:
        try:
            statement = read_statement(path, cycle.config)
        except StatementError as exc:
            cycle.problem(exc.problem)
            results.append(FileResult(path.name, problems=[exc.problem]))
            continue
        result = import_statement(cycle, bank, statement)
        for problem in result.problems:
            cycle.problem(problem)
        report = cycle.report
        report.counts["bank payments imported"] += result.payments
        report.counts["bank lines unmatched"] += result.unmatched
        report.counts["bank lines imported before"] += result.duplicates
        report.counts["bank debits ignored"] += result.debits
        cycle.log("bank_imported", "", "", result.text())
        log.info("%s", result.text())
        if move and not cycle.dry_run:
            move_imported(cycle, path)
        results.append(result)
        if result.payments:
            with_pending(cycle)  # the next file is matched against what this one paid
    return results


def import_bank(cycle: Cycle, files: Sequence[Path] = ()) -> list[FileResult]:
    """The run's bank step (after the day's invoices are allocated): queued payments counted,
    the owner's assignments applied, then the given files (or the inbox's) imported; the
    payments are allocated again if any were added."""
    with_pending(cycle)
    from_inbox = not files and "reconcile" in cycle.options.steps
    paths = list(files) or (inbox_files(cycle) if from_inbox else [])
    results: list[FileResult] = []
    wanted = assignments(cycle)
    if not paths and not wanted:
        return results  # the journal's bank lines are read only when there is work
    bank = BankJournal(cycle.journal)
    if assigned := apply_assignments(cycle, bank, wanted):
        cycle.report.counts["bank payments imported"] += assigned
    results = import_files(cycle, bank, paths, move=from_inbox)
    with_pending(cycle)
    return results
