"""Whose collections a skipped Payments or Charges row holds (the pure part)."""

from __future__ import annotations

from ispsheets.book.records import Client, Layout, Origin, Payment
from ispsheets.collections.holds import held_clients


def _client(cid: str) -> Client:
    return Client(cid, f"Client {cid}")


def _payment(cid: object, row: int, tab: str = "Payments") -> Payment:
    return Payment("", None, cid, None, origin=Origin(Layout(tab), row))  # type: ignore[arg-type]


CLIENTS = [_client(c) for c in ("C-1001", "C-2002", "ZED")]


def test_a_row_holds_its_own_client_then_a_spelling_that_ignores_case_and_dashes():
    held = held_clients({"Payments": [_payment("ZED", 9), _payment("c1001", 4)]}, CLIENTS)
    assert held == {"C-1001": ("Payments!4:4",), "ZED": ("Payments!9:9",)}


def test_a_near_spelling_holds_the_client_it_resembles_and_a_blank_one_holds_nobody():
    held = held_clients({"Charges": [_payment("C-10001", 3, "Charges")],
                         "Payments": [_payment("", 2), _payment(None, 5), _payment("Q-77", 6)]},
                        CLIENTS)
    assert held == {"C-1001": ("Charges!3:3",)}


def test_a_row_of_a_client_whose_own_row_is_skipped_holds_no_neighbour():
    held = held_clients({"Clients": [_client("C-1002")], "Payments": [_payment("C-1002", 2)]},
                        CLIENTS)
    assert held == {}
