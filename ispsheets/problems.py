"""Problems are values: each names where it is (`Tab!Cell`), what is wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class ExitCode(IntEnum):
    """Exit statuses of the contract; stable for cron and scripts."""

    OK = 0
    ROWS_SKIPPED = 1
    BAD_CONFIG = 2
    WRITE_FAILED = 3


@dataclass(frozen=True)
class Problem:
    """One thing wrong, at one place: `Services!D7: ... — ...`."""

    where: str
    message: str
    fix: str = ""
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} — {self.fix}" if self.fix else text


def warning(where: str, message: str, fix: str = "") -> Problem:
    return Problem(where, message, fix, Severity.WARNING)


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def warnings(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if not p.is_error]


def tally(problems: Iterable[Problem]) -> str:
    """The one way `check`, `run` and `status` count problems: `2 error(s) (2 rows skipped),
    1 warning(s)`. The `row skipped` line that follows a bad row's errors counts as a skipped
    row, not as one more error."""
    problems = list(problems)
    skipped = sum(p.is_error and p.message.startswith("row skipped") for p in problems)
    n_errors = sum(p.is_error for p in problems) - skipped
    rows = f" ({skipped} row{'s' if skipped != 1 else ''} skipped)" if skipped else ""
    return f"{n_errors} error(s){rows}, {len(problems) - n_errors - skipped} warning(s)"
