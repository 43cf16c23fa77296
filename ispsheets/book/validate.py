"""Cross-tab checks, each a small function returning problems; bad rows are left out of the book.

Errors (a duplicate key, an id that does not exist, a service of a cancelled client) drop the
row; warnings (a client with no active service, a payment naming an unknown invoice) only tell.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ispsheets.book.known import KnownRows
from ispsheets.book.records import Book, Origin
from ispsheets.book.schema import normalise_header
from ispsheets.problems import Problem, warning


@dataclass(frozen=True)
class _Known:
    """The keys of one tab: those usable, and those whose row was skipped (with its place)."""

    tab: str
    usable: frozenset[str]
    skipped: Mapping[str, Origin]


def _row(origin: Origin) -> str:
    return f"{origin.layout.tab}!{origin.row}:{origin.row}"


def _duplicates(records: Sequence[Any], key: str,
                known: KnownRows | None = None) -> tuple[set[int], list[Problem]]:
    """Rows whose non-blank key appears more than once: all of them are skipped, unless the
    journal knows one of them (`known`): that row keeps the id and only the others are."""
    rows: dict[str, list[Any]] = defaultdict(list)
    for record in records:
        if value := getattr(record, key):
            rows[value].append(record)
    bad: set[int] = set()
    problems = []
    for value, same in rows.items():
        if len(same) < 2:
            continue
        keeper = None
        if known is not None:
            keeper = next((r for r in sorted(same, key=lambda r: r.origin.row)
                           if known.knows(r)), None)
        for record in same:
            if record is keeper:
                continue
            bad.add(id(record))
            if keeper is not None:
                problems.append(Problem(
                    record.origin.cell(key),
                    f"{key} {value} is already used by row {keeper.origin.row}",
                    "clear the cell, the tool will fill a new id"))
                continue
            others = ", ".join(str(r.origin.row) for r in same if r is not record)
            rows_word = "row" if len(same) == 2 else "rows"
            problems.append(Problem(
                record.origin.cell(key),
                f"{key} {value} is also used on {rows_word} {others}; "
                f"all {len(same)} rows are skipped",
                f"give each row its own {key} (or delete the copy)"))
    return bad, problems


def _known(tab: str, key: str, kept: Iterable[Any], skipped: Iterable[Any]) -> _Known:
    skipped_at: dict[str, Origin] = {}
    for record in skipped:
        value = getattr(record, key)
        if isinstance(value, str) and value:
            skipped_at.setdefault(value, record.origin)
    return _Known(tab, frozenset(getattr(r, key) for r in kept), skipped_at)


def _missing_reference(record: Any, column: str, known: _Known) -> Problem | None:
    """`client_id C9 is not on the Clients tab`, or that its row there is skipped."""
    value = getattr(record, column)
    if not value or value in known.usable:  # blank: already reported as a cell problem
        return None
    where = record.origin.cell(column)
    if value in known.skipped:
        row = _row(known.skipped[value])
        return Problem(where, f"{column} {value} is on the {known.tab} tab, but that row "
                              f"({row}) is skipped", f"fix the problems reported on {row}")
    wanted = normalise_header(value)
    similar = sorted(k for k in known.usable if normalise_header(k) == wanted)
    if similar:
        return Problem(where, f"{column} {value} is not on the {known.tab} tab "
                              f"(did you mean {similar[0]}?)",
                       f"type it exactly as on the {known.tab} tab: {similar[0]}")
    return Problem(where, f"{column} {value} is not on the {known.tab} tab",
                   f"type a {column} from the {known.tab} tab, or add it there first")


def _keep(records: Sequence[Any], bad: set[int]) -> tuple[Any, ...]:
    return tuple(r for r in records if id(r) not in bad)


def _refs(records: Sequence[Any], checks: Sequence[tuple[str, _Known]],
          problems: list[Problem]) -> set[int]:
    bad = set()
    for record in records:
        for column, known in checks:
            if problem := _missing_reference(record, column, known):
                problems.append(problem)
                bad.add(id(record))
    return bad


def check_services_of_cancelled_clients(book: Book, today: dt.date) -> list[Problem]:
    """A cancelled client's service needs an end date, or it would go on billing."""
    cancelled = {c.client_id for c in book.clients if c.status == "cancelled"}
    return [Problem(s.origin.cell("end_date"),
                    f"client {s.client_id} is cancelled but service {s.service_id} has no "
                    "end date", "type the service's last day in end_date, or set the client's "
                    "status back to active")
            for s in book.services if s.client_id in cancelled and s.end_date is None]


def check_clients_without_service(book: Book, today: dt.date,
                                  skipped_services: Sequence[Any] = ()) -> list[Problem]:
    """An active (or suspended) client none of whose services is still running."""
    ends: dict[str, list[dt.date | None]] = defaultdict(list)
    for service in (*book.services, *skipped_services):
        if service.client_id:
            end = service.end_date
            ends[service.client_id].append(end if isinstance(end, dt.date) else None)
    problems = []
    for client in book.clients:
        if client.status == "cancelled":
            continue
        where = client.origin.cell("client_id")
        if client.client_id not in ends:
            problems.append(warning(where, f"client {client.client_id} has no service",
                                    "add a row for them on the Services tab, or set status to "
                                    "cancelled if they left"))
        elif all(end is not None and end < today for end in ends[client.client_id]):
            last = max(end for end in ends[client.client_id] if end is not None)
            problems.append(warning(where, f"client {client.client_id} has no active service "
                                           f"(the last one ended {last.isoformat()})",
                                    "add their new service on the Services tab, or set status "
                                    "to cancelled if they left"))
    return problems


def check_payment_invoices(book: Book, today: dt.date,
                           skipped_invoices: Sequence[Any] = (),
                           archived: Mapping[str, str] | None = None) -> list[Problem]:
    """A payment naming an invoice that is not there (nor in the archive: `archived`, number →
    client), or that is another client's."""
    owner = dict(archived or {})
    owner.update((i.invoice_number, i.client_id) for i in (*book.invoices, *skipped_invoices)
                 if i.invoice_number)
    problems = []
    for p in book.payments:
        if not p.invoice_number:
            continue
        if p.invoice_number not in owner:
            problems.append(warning(
                p.origin.cell("invoice_number"),
                f"invoice {p.invoice_number} is not on the Invoices tab",
                "check the number (or clear it); the payment goes to the client's oldest "
                "open invoices meanwhile"))
        elif owner[p.invoice_number] and owner[p.invoice_number] != p.client_id:
            problems.append(warning(
                p.origin.cell("invoice_number"),
                f"invoice {p.invoice_number} belongs to client {owner[p.invoice_number]}, "
                f"not {p.client_id}", "check the client_id and the invoice_number"))
    return problems


def check_duplicate_invoices(book: Book, today: dt.date) -> list[Problem]:
    """Two Invoices rows with one number: the tool's own rows were copied by hand."""
    rows: dict[str, list[Any]] = defaultdict(list)
    for invoice in book.invoices:
        rows[invoice.invoice_number].append(invoice)
    return [warning(i.origin.cell("invoice_number"),
                    f"invoice {number} is on rows {', '.join(str(r.origin.row) for r in same)}",
                    "delete the copy; ispsheets keeps its own record of every invoice")
            for number, same in rows.items() if len(same) > 1 for i in same[1:]]


BookCheck = Callable[[Book, dt.date], list[Problem]]


def validate(book: Book, skipped: Mapping[str, Sequence[Any]] | None = None,
             today: dt.date | None = None, known: KnownRows | None = None) -> Book:
    """Drop rows with duplicate keys or unknown references; add every problem found.

    `skipped` holds, per tab name, the (partial) records of rows already skipped for bad
    cells, so a reference to them is explained rather than called unknown. `known` (from the
    journal) decides which of two Charges or Payments rows with one id keeps it.
    """
    skipped = skipped or {}
    today = today or dt.date.today()
    problems = list(book.problems)

    bad, found = _duplicates(book.packages, "package_id")
    problems += found
    packages = _keep(book.packages, bad)
    known_packages = _known("Packages", "package_id", packages,
                            [*skipped.get("Packages", ()), *(p for p in book.packages
                                                             if id(p) in bad)])
    bad, found = _duplicates(book.clients, "client_id")
    problems += found
    clients = _keep(book.clients, bad)
    known_clients = _known("Clients", "client_id", clients,
                           [*skipped.get("Clients", ()), *(c for c in book.clients
                                                           if id(c) in bad)])

    bad, found = _duplicates(book.services, "service_id")
    problems += found
    bad |= _refs(book.services, (("client_id", known_clients),
                                 ("package_id", known_packages)), problems)
    services = _keep(book.services, bad)

    def by_known_clients(records: Sequence[Any], key: str) -> tuple[Any, ...]:
        bad, found = _duplicates(records, key, known)
        problems.extend(found)
        bad |= _refs(records, (("client_id", known_clients),), problems)
        return _keep(records, bad)

    charges = by_known_clients(book.charges, "charge_id")
    payments = by_known_clients(book.payments, "payment_id")
    # rows already skipped for a bad cell: their references are told now too, all at once
    _refs(skipped.get("Services", ()), (("client_id", known_clients),
                                        ("package_id", known_packages)), problems)
    for tab in ("Charges", "Payments"):
        _refs(skipped.get(tab, ()), (("client_id", known_clients),), problems)

    checked = replace(book, packages=packages, clients=clients, services=services,
                      charges=charges, payments=payments)
    cancelled = check_services_of_cancelled_clients(checked, today)
    problems += cancelled
    ended_wrongly = {p.where for p in cancelled}
    checked = replace(checked, services=tuple(s for s in services
                                              if s.origin.cell("end_date") not in ended_wrongly))
    still = {id(s) for s in checked.services}
    problems += check_clients_without_service(checked, today, [
        *skipped.get("Services", ()), *(s for s in book.services if id(s) not in still)])
    problems += check_payment_invoices(checked, today, skipped.get("Invoices", ()),
                                       known.archived_invoices if known else None)
    problems += check_duplicate_invoices(checked, today)
    return replace(checked, problems=tuple(problems))
