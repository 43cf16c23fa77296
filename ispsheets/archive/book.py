"""Which rows the archive holds, by tab, and the archived payments as records (for the
from-scratch replay and the checkpoint's backfill; a normal run reads neither, see
`ispsheets.archive.replay`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ispsheets.archive.values import decode_row
from ispsheets.book.load import load_tab
from ispsheets.book.parse import DateOrder
from ispsheets.book.reader import RawSheet
from ispsheets.book.records import Payment
from ispsheets.book.schema import TABS_BY_NAME
from ispsheets.journal import ArchivedRow, Journal

LIVE_STATES = ("copying", "copied", "removed", "restoring")


@dataclass(frozen=True)
class Archived:
    """Keys of the rows moved (or moving) to the archive, by tab."""

    keys: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    def of(self, tab: str) -> frozenset[str]:
        return self.keys.get(tab, frozenset())

    def invoice_numbers(self) -> frozenset[str]:
        return self.of("Invoices")

    def with_invoices(self, numbers: Collection[str]) -> Archived:
        return Archived({**self.keys, "Invoices": self.of("Invoices") | frozenset(numbers)})


def archived_keys(journal: Journal, shown: Mapping[str, Collection[str]] | None = None
                  ) -> Archived:
    """The rows moved or moving to the archive; with `shown` (tab → keys the workbook shows),
    only those of them, looked up key by key (a run's cost stays with the workbook's rows)."""
    keys: dict[str, set[str]] = {}
    if shown is None:
        states = journal.archive_states(("Invoices", "Charges", "Payments"))
    else:
        states = {(tab, key): state for tab, wanted in shown.items()
                  for key, state in journal.archive_states_of(tab, wanted).items()}
    for (tab, key), state in states.items():
        if state in LIVE_STATES:
            keys.setdefault(tab, set()).add(key)
    return Archived({tab: frozenset(k) for tab, k in keys.items()})


def _records(rows: list[ArchivedRow], tab: str, order: DateOrder) -> list[object]:
    schema = TABS_BY_NAME[tab]
    names = [c.name for c in schema.columns]
    cells: list[list[object]] = [list(names)]
    for row in rows:
        values = decode_row(row.values)
        cells.append([values.get(name) for name in names])
    return load_tab(RawSheet(tab, cells), schema, order).records


def archived_payments(journal: Journal, order: DateOrder) -> list[Payment]:
    """Every payment the archive keyed, as a record (the reference replay and the backfill of
    the checkpoint need them; a normal run never reads them)."""
    rows = [r for r in journal.archived(tab="Payments") if r.state in LIVE_STATES]
    return _records(rows, "Payments", order)  # type: ignore[return-value]
