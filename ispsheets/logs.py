"""Where a run tells what it does: a rotating log file always, plain lines on stderr for cron.

On a terminal the summary and progress bars say enough; without one (cron) each step writes a
plain line, so the mail cron sends reads like a diary of the run.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from logging.handlers import RotatingFileHandler

from ispsheets.config import Config

FORMAT = "%(asctime)s %(levelname)s {prefix}%(message)s"


class LogFile(RotatingFileHandler):
    """The log file; when it cannot be written (disk full, permissions) it says so once on
    stderr and stays quiet after, instead of a traceback for every line."""

    broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        self.broken = True
        error = sys.exc_info()[1]
        _warn(self.baseFilename, error)


def _warn(path: str, error: BaseException | None) -> None:
    what = getattr(error, "strerror", None) or str(error)
    with contextlib.suppress(OSError, ValueError):  # no stderr either: nothing to tell
        sys.stderr.write(f"warning {path}: cannot be written ({what}) — the run goes on "
                         "without its log file; free disk space or let this user write "
                         "there (paths.logs in config.yaml)\n")


def log_file() -> str | None:
    """Where the log file of this process is, if it has one that works."""
    for handler in logging.getLogger("ispsheets").handlers:
        if isinstance(handler, LogFile) and not handler.broken:
            return handler.baseFilename
    return None


def setup_logging(config: Config, tty: bool, *, to_file: bool = True,
                  dry_run: bool = False) -> None:
    """A dry run's lines say `dry-run:` after the level, so the log never tells as done what
    only would have been (`INFO dry-run: invoice_issued C0033 INV-00154 ...`)."""
    prefix = "dry-run: " if dry_run else ""
    logger = logging.getLogger("ispsheets")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    if to_file:
        folder = config.path(config.paths.logs)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handler = LogFile(folder / "ispsheets.log", maxBytes=5_000_000, backupCount=5,
                              encoding="utf-8")
        except OSError as exc:
            handler = None
            _warn(str(folder / "ispsheets.log"), exc)
        if handler is not None:
            handler.setFormatter(logging.Formatter(FORMAT.format(prefix=prefix)))
            logger.addHandler(handler)
    if not logger.handlers:  # nowhere to write: not Python's last resort (stderr) either
        logger.addHandler(logging.NullHandler())
    if not tty:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.INFO)
        console.addFilter(lambda record: record.name == "ispsheets.steps")
        console.setFormatter(logging.Formatter(f"%(asctime)s {prefix}%(message)s", "%H:%M:%S"))
        logger.addHandler(console)
