"""Collections held: no reminder, late fee or suspension for a client while one of their
Payments or Charges rows is skipped for an error.

A skipped Payments row may be money the client did pay; a skipped Charges row may be a credit
they are owed. Until the owner fixes the row, what the tool thinks the client owes is a guess,
and a threat or a fee on a guess is what an owner would never want. The row's client is its
client_id, or, when that names no client, the clients it is a near spelling of (holding is the
safe side of a guess).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ispsheets.book.records import Client
from ispsheets.book.schema import normalise_header

HELD_TABS = ("Payments", "Charges")


def _clients_named(text: str, ids: Sequence[str], normalised: Mapping[str, list[str]]
                   ) -> list[str]:
    if text in normalised.get(normalise_header(text), ()):
        return [text]
    same = normalised.get(normalise_header(text))
    if same:
        return list(same)
    close = difflib.get_close_matches(normalise_header(text), list(normalised), n=3, cutoff=0.75)
    return [cid for key in close for cid in normalised[key]]


def held_clients(skipped: Mapping[str, Iterable[Any]], clients: Sequence[Client]
                 ) -> dict[str, tuple[str, ...]]:
    """client_id → the skipped Payments and Charges rows (`Payments!12:12`) that hold their
    collections, in sheet order."""
    ids = [c.client_id for c in clients]
    normalised: dict[str, list[str]] = {}
    for cid in ids:
        normalised.setdefault(normalise_header(cid), []).append(cid)
    held: dict[str, list[str]] = {}
    for tab in HELD_TABS:
        for record in sorted(skipped.get(tab, ()), key=lambda r: r.origin.row):
            text = record.client_id
            if not isinstance(text, str) or not text:
                continue
            for cid in _clients_named(text, ids, normalised):
                rows = held.setdefault(cid, [])
                if str(record.origin) not in rows:
                    rows.append(str(record.origin))
    return {cid: tuple(rows) for cid, rows in held.items()}
