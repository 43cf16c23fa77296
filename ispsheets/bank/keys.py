"""Exactly once: the key of a statement line, and whether a line was imported before.

A line is known by the bank's transaction id when its format has one, and always by a hash of
the payer's account, the booking date, the amount and the reference, plus its place among
identical lines of its file (two equal transfers on one day are two lines). So a file
imported twice, two statements that overlap, or the same statement downloaded in another
format (whose ids, if any, the bank may number differently) add nothing the second time.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ispsheets.bank.statement import StatementLine, compact


def content_base(line: StatementLine) -> str:
    text = "|".join((compact(line.account), line.booking_date.isoformat(),
                     format(line.amount.normalize(), "f"), compact(line.reference)))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def content_keys(lines: Sequence[StatementLine]) -> list[str]:
    """Each line's content key, `<hash>#n` for the n-th identical line of the file."""
    seen: Counter[str] = Counter()
    keys = []
    for line in lines:
        base = content_base(line)
        seen[base] += 1
        keys.append(f"{base}#{seen[base]}")
    return keys


def id_key(line: StatementLine) -> str | None:
    """The bank's id, scoped by format (an OFX FITID and a CAMT reference are different
    numbering schemes)."""
    return f"{line.format}:{line.bank_id}" if line.bank_id else None


@dataclass
class Seen:
    """Lines imported before: content key → (bank id, format), and the id keys."""

    contents: dict[str, tuple[str, str]] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)

    def add(self, key: str, line: StatementLine) -> None:
        self.contents.setdefault(key, (line.bank_id or "", line.format))
        if (ids := id_key(line)) is not None:
            self.ids.add(ids)

    def storage_key(self, key: str, line: StatementLine) -> str:
        """The journal key for a new line: its content key, unless a line of the same format
        with another id holds it (two transfers the bank tells apart)."""
        return key if key not in self.contents else f"{key}/{line.bank_id}"

    def imported(self, key: str, line: StatementLine) -> bool:
        ids = id_key(line)
        if ids is not None and ids in self.ids:
            return True
        before = self.contents.get(key)
        if before is None:
            return False
        before_id, before_format = before
        if not line.bank_id or not before_id or before_format != line.format:
            return True  # one of the two has no id, or another format numbers differently
        return before_id == line.bank_id


def seen_from(records: Iterable[tuple[str, str, str]]) -> Seen:
    """`Seen` from stored (content key, bank id, format) triples."""
    seen = Seen()
    for key, bank_id, fmt in records:
        base = key.split("/", 1)[0]
        seen.contents.setdefault(base, (bank_id, fmt))
        if bank_id:
            seen.ids.add(f"{fmt}:{bank_id}")
    return seen
