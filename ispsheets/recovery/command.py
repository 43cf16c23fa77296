"""`ispsheets recover-journal`: read, plan, and (unless --dry-run) write."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ispsheets.config import Config
from ispsheets.problems import Problem
from ispsheets.recovery.plan import plan_recovery
from ispsheets.recovery.write import apply_recovery


@dataclass
class Outcome:
    """What `recover` did, for the command to print."""

    lines: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    changed: bool = False
    failed: bool = False


def recover(config: Config, now: dt.datetime, *, dry_run: bool = False,
            force: bool = False) -> Outcome:
    """Rebuild the journal from the workbook, unless the journal is sound (then `force`)."""
    from ispsheets.archive.files import with_archive_files
    from ispsheets.book.backend import WorkbookReadError, open_backend
    from ispsheets.book.load import load_book
    from ispsheets.journal_guard import JournalStop, open_trusted, shown_invoice_numbers
    from ispsheets.lock import AlreadyRunning, run_lock

    outcome = Outcome()
    try:
        backend = open_backend(config)
        raw = backend.read()
    except WorkbookReadError as exc:
        outcome.problems.append(exc.problem)
        outcome.failed = True
        return outcome
    shown = raw
    raw = with_archive_files(raw, config)  # what moved to archive/ was billed and paid too
    book = load_book(raw, config.workbook.date_order, today=now.date())
    path = config.journal_path
    if path.exists() and not force:
        try:
            open_trusted(config, shown_invoice_numbers(shown), backend.generation).close()
        except JournalStop:
            pass
        else:
            outcome.lines.append(f"{config.paths.journal} is readable and knows every invoice "
                                 "the workbook shows: nothing to recover (--force rebuilds "
                                 "it anyway)")
            return outcome
    recovery = plan_recovery(book, raw, config, backend.generation)
    outcome.problems.extend(recovery.problems)
    verb = "would rebuild" if dry_run else "rebuilt"
    outcome.lines.append(f"{verb} {config.paths.journal} from {backend.name}:")
    outcome.lines.extend(f"  {line}" for line in recovery.summary())
    if dry_run:
        outcome.lines.append("dry run, nothing changed; run without --dry-run to rebuild")
        return outcome
    try:
        with run_lock(path.with_suffix(".lock")):
            kept = apply_recovery(path, recovery, now)
            archived = _record_archive(config, now)
    except AlreadyRunning as exc:
        outcome.problems.append(Problem(exc.path.name, f"an ispsheets run is busy "
                                        f"({exc.holder})", "wait for it to end, then recover"))
        outcome.failed = True
        return outcome
    outcome.changed = True
    if archived:
        outcome.lines.append(f"  {archived} rows of archive/ recorded as archived")
    if kept is not None:
        outcome.lines.append(f"the old file is kept as {kept.name}")
    outcome.lines.append("next: `ispsheets run --dry-run` shows what the next run will do")
    return outcome


def _record_archive(config: Config, now: dt.datetime) -> int:
    """The rebuilt journal learns which rows live in archive/ (so they still count)."""
    from ispsheets.archive.files import record_archive_files
    from ispsheets.journal import Journal

    journal = Journal.open(config.journal_path)
    try:
        return record_archive_files(config, journal, now)
    finally:
        journal.close()
