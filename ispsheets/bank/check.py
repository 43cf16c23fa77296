"""`ispsheets check` for bank transfers: the settings, the clients' bank references, and what
is waiting in `bank.inbox` (each file's format and lines, or why it cannot be read)."""

from __future__ import annotations

from collections import defaultdict

from ispsheets.bank.read import NAMES, read_statement
from ispsheets.bank.statement import StatementError, compact
from ispsheets.book.records import Book
from ispsheets.config import Config
from ispsheets.problems import Problem, warning


def check_bank(config: Config, book: Book | None) -> tuple[list[str], list[Problem]]:
    """Lines to show (one per inbox file) and problems."""
    problems: list[Problem] = []
    settings = config.bank
    if settings.csv.decimal == (settings.csv.delimiter or ";"):
        problems.append(Problem("config.yaml: bank.csv.delimiter",
                                f"the delimiter and the decimal mark are both "
                                f"{settings.csv.decimal!r}",
                                "European exports use delimiter ';' with decimal ','"))
    if book is not None:
        owners: dict[str, list[str]] = defaultdict(list)
        for client in book.clients:
            if client.bank_reference:
                owners[compact(client.bank_reference)].append(client.client_id)
        for client in book.clients:
            others = [c for c in owners.get(compact(client.bank_reference), [])
                      if c != client.client_id] if client.bank_reference else []
            if others:
                problems.append(warning(client.origin.cell("bank_reference"),
                                        f"bank_reference {client.bank_reference!r} is also "
                                        f"{', '.join(others)}'s",
                                        "give each client their own, or a transfer with it "
                                        "cannot be matched by it"))
    if not settings.inbox:
        return [], problems
    inbox = config.path(settings.inbox)
    if not inbox.is_dir():
        problems.append(warning("config.yaml: bank.inbox", f"{inbox} is not a folder",
                                "create it and put your bank's statement files there"))
        return [], problems
    shown: list[str] = []
    files = sorted(p for p in inbox.iterdir() if p.is_file()
                   and not p.name.startswith((".", "~")))
    for path in files:
        try:
            statement = read_statement(path, config)
        except StatementError as exc:
            problems.append(exc.problem)
            continue
        credits = sum(line.is_credit for line in statement.lines)
        shown.append(f"{settings.inbox}/{path.name}: {NAMES[statement.format]}, "
                     f"{len(statement.lines)} lines ({credits} credits)")
        problems.extend(statement.problems)
    if not files:
        shown.append(f"{settings.inbox}: no statement files waiting")
    return shown, problems
