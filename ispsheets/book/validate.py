"""Cross-tab checks, each a small function returning problems; bad rows are left out of the book."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ispsheets.book.records import Book
from ispsheets.problems import Problem, warning


def _duplicates(records: Sequence[Any], key: str, tab: str) -> tuple[set[int], list[Problem]]:
    """Rows whose non-blank key appears more than once: all of them are skipped."""
    rows: dict[str, list[Any]] = defaultdict(list)
    for record in records:
        if value := getattr(record, key):
            rows[value].append(record)
    bad: set[int] = set()
    problems = []
    for value, same in rows.items():
        if len(same) < 2:
            continue
        cells = [r.origin.cell(key) for r in same]
        for record in same:
            bad.add(id(record))
            others = ", ".join(c.split("!")[1] for c in cells if c != record.origin.cell(key))
            problems.append(Problem(record.origin.cell(key),
                                    f"{key} {value!r} is used again in {others}; "
                                    f"all {len(same)} rows are skipped",
                                    f"give each row its own {key}"))
    return bad, problems


def _missing_reference(record: Any, column: str, known: set[str], tab: str) -> Problem | None:
    value = getattr(record, column)
    if value in known:
        return None
    return Problem(record.origin.cell(column), f"{column} {value!r} is not on the {tab} tab",
                   f"type a {column} that exists on {tab}, or add it there first")


def check_services_of_cancelled_clients(book: Book, today: dt.date | None = None) -> list[Problem]:
    cancelled = {c.client_id for c in book.clients if c.status == "cancelled"}
    return [Problem(s.origin.cell("end_date"),
                    f"client {s.client_id} is cancelled but service {s.service_id} has no end date",
                    "type the service's last day in end_date, or set the client active again")
            for s in book.services if s.client_id in cancelled and s.end_date is None]


def check_clients_without_service(book: Book, today: dt.date | None = None) -> list[Problem]:
    served = {s.client_id for s in book.services}
    return [warning(c.origin.cell("client_id"), f"client {c.client_id} has no service",
                    "add a row on the Services tab, or set status to cancelled")
            for c in book.clients if c.status == "active" and c.client_id not in served]


def check_payment_invoices(book: Book, today: dt.date | None = None) -> list[Problem]:
    numbers = {i.invoice_number for i in book.invoices}
    return [warning(p.origin.cell("invoice_number"),
                    f"invoice {p.invoice_number!r} is not on the Invoices tab",
                    "check the number; the payment goes to the oldest open invoices meanwhile")
            for p in book.payments if p.invoice_number and p.invoice_number not in numbers]


BookCheck = Callable[[Book, "dt.date | None"], list[Problem]]
WARNING_CHECKS: tuple[BookCheck, ...] = (check_clients_without_service, check_payment_invoices)


def validate(book: Book) -> Book:
    """Drop rows with duplicate keys or unknown references; add every problem found."""
    problems = list(book.problems)

    bad_packages, found = _duplicates(book.packages, "package_id", "Packages")
    problems += found
    packages = tuple(p for p in book.packages if id(p) not in bad_packages)
    bad_clients, found = _duplicates(book.clients, "client_id", "Clients")
    problems += found
    clients = tuple(c for c in book.clients if id(c) not in bad_clients)

    client_ids = {c.client_id for c in clients}
    package_ids = {p.package_id for p in packages}

    bad_services, found = _duplicates(book.services, "service_id", "Services")
    problems += found
    services = []
    for service in book.services:
        refs = [_missing_reference(service, "client_id", client_ids, "Clients"),
                _missing_reference(service, "package_id", package_ids, "Packages")]
        refs = [p for p in refs if p]
        problems += refs
        if not refs and id(service) not in bad_services:
            services.append(service)

    def keep_known_clients(records: Sequence[Any], key: str, tab: str) -> tuple[Any, ...]:
        nonlocal problems
        bad, dup = _duplicates(records, key, tab)
        problems += dup
        kept = []
        for record in records:
            ref = _missing_reference(record, "client_id", client_ids, "Clients")
            if ref:
                problems.append(ref)
            elif id(record) not in bad:
                kept.append(record)
        return tuple(kept)

    charges = keep_known_clients(book.charges, "charge_id", "Charges")
    payments = keep_known_clients(book.payments, "payment_id", "Payments")

    checked = replace(book, packages=packages, clients=clients, services=tuple(services),
                      charges=charges, payments=payments)
    cancelled_problems = check_services_of_cancelled_clients(checked)
    problems += cancelled_problems
    skip = {p.where for p in cancelled_problems}
    services = [s for s in services if s.origin.cell("end_date") not in skip]
    checked = replace(checked, services=tuple(services))
    for check in WARNING_CHECKS:
        problems += check(checked, None)
    return replace(checked, problems=tuple(problems))
