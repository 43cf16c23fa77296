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
