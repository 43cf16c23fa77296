"""Collections held: no reminder, late fee or suspension for a client while one of their
Payments or Charges rows is skipped for an error.

A skipped Payments row may be money the client did pay; a skipped Charges row may be a credit
they are owed. Until the owner fixes the row, what the tool thinks the client owes is a guess,
and a threat or a fee on a guess is what an owner would never want. The row's client is its
client_id (ignoring case, spaces and dashes), or, when that names no client, the one or two
clients it is a near spelling of (holding is the safe side of a guess).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ispsheets.book.records import Client
from ispsheets.book.schema import normalise_header

HELD_TABS = ("Payments", "Charges")


def _clients_named(text: str, normalised: Mapping[str, list[str]],
                   elsewhere: frozenset[str]) -> list[str]:
    """The clients a skipped row's client_id names: exactly, or ignoring case, spaces and
    dashes, or (when it is no client at all) as a near spelling."""
    key = normalise_header(text)
    if key in normalised:
        return list(normalised[key])
    if key in elsewhere:  # a client whose own row is skipped: no collections for them anyway
        return []
    close = difflib.get_close_matches(key, list(normalised), n=2, cutoff=0.85)
    return [cid for near in close for cid in normalised[near]]


def held_clients(skipped: Mapping[str, Iterable[Any]], clients: Sequence[Client]
                 ) -> dict[str, tuple[str, ...]]:
    """client_id → the skipped Payments and Charges rows (`Payments!12:12`) that hold their
    collections, in sheet order. `skipped` is per tab (`Book.skipped`), Clients included."""
    normalised: dict[str, list[str]] = {}
    for client in clients:
        normalised.setdefault(normalise_header(client.client_id), []).append(client.client_id)
    elsewhere = frozenset(normalise_header(c.client_id) for c in skipped.get("Clients", ())
                          if isinstance(c.client_id, str) and c.client_id)
    held: dict[str, list[str]] = {}
    for tab in HELD_TABS:
        for record in sorted(skipped.get(tab, ()), key=lambda r: r.origin.row):
            text = record.client_id
            if not isinstance(text, str) or not text:
                continue
            for cid in _clients_named(text, normalised, elsewhere):
                rows = held.setdefault(cid, [])
                if str(record.origin) not in rows:
                    rows.append(str(record.origin))
    return {cid: tuple(rows) for cid, rows in held.items()}
