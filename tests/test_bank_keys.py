"""Exactly once: which statement lines were imported before."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ispsheets.bank.keys import Seen, content_keys, seen_from
from ispsheets.bank.statement import StatementLine


def line(reference: str = "INV 1", amount: str = "49.99", account: str = "DE02 1203",
         bank_id: str | None = None, fmt: str = "csv", day: int = 2) -> StatementLine:
    return StatementLine(dt.date(2026, 12, day), Decimal(amount), "EUR", reference, "Alice",
                         account, bank_id, "s", 1, fmt)


def test_two_identical_transfers_on_one_day_are_two_lines() -> None:
    first, second = content_keys([line(), line()])
    assert first != second and first.endswith("#1") and second.endswith("#2")
    seen = Seen()
    seen.add(first, line())
    assert seen.imported(first, line()) and not seen.imported(second, line())


def test_the_key_ignores_spacing_and_case_of_reference_and_account() -> None:
    assert content_keys([line("inv 1", account="de021203")]) == \
        content_keys([line("INV  1", account="DE02 1203")])
    assert content_keys([line(amount="49.990")]) == content_keys([line()])
    assert content_keys([line(amount="49.98")]) != content_keys([line()])


def test_a_bank_id_seen_before_is_imported_whatever_the_content() -> None:
    seen = Seen()
    [key] = content_keys([line(bank_id="A1", fmt="camt")])
    seen.add(key, line(bank_id="A1", fmt="camt"))
    [other] = content_keys([line("corrected text", bank_id="A1", fmt="camt")])
    assert seen.imported(other, line("corrected text", bank_id="A1", fmt="camt"))


def test_same_content_other_format_is_the_same_line_even_with_other_ids() -> None:
    [key] = content_keys([line(bank_id="2026120200017", fmt="camt")])
    seen = seen_from([(key, "2026120200017", "camt")])
    assert seen.imported(key, line(bank_id="B-0001", fmt="mt940"))
    assert seen.imported(key, line(bank_id=None, fmt="csv"))


def test_same_content_same_format_other_id_is_another_transfer() -> None:
    [key] = content_keys([line(bank_id="A1", fmt="camt")])
    seen = seen_from([(key, "A1", "camt")])
    assert not seen.imported(key, line(bank_id="A2", fmt="camt"))
    stored = seen.storage_key(key, line(bank_id="A2", fmt="camt"))
    assert stored == f"{key}/A2"
    again = seen_from([(key, "A1", "camt"), (stored, "A2", "camt")])
    assert again.imported(key, line(bank_id="A2", fmt="camt"))
