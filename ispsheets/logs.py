"""Where a run tells what it does: a rotating log file always, plain lines on stderr for cron.

On a terminal the summary and progress bars say enough; without one (cron) each step writes a
plain line, so the mail cron sends reads like a diary of the run.
"""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler

from ispsheets.config import Config

FORMAT = "%(asctime)s %(levelname)s %(message)s"


def setup_logging(config: Config, tty: bool, *, to_file: bool = True) -> None:
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
            handler = RotatingFileHandler(folder / "ispsheets.log", maxBytes=5_000_000,
                                          backupCount=5, encoding="utf-8")
        except OSError:
            handler = None
        if handler is not None:
            handler.setFormatter(logging.Formatter(FORMAT))
            logger.addHandler(handler)
    if not logger.handlers:  # nowhere to write: not Python's last resort (stderr) either
        logger.addHandler(logging.NullHandler())
    if not tty:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.INFO)
        console.addFilter(lambda record: record.name == "ispsheets.steps")
        console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(console)
