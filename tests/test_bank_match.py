"""The matching rules, one by one, in order, each explained; nothing guessed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ispsheets.bank.match import (
    Memory,
    OpenInvoice,
    invoice_numbers_in,
    match_lines,
    prepare_rules,
)
from ispsheets.bank.statement import StatementLine

D = Decimal
CLIENTS = [("ALICE", ""), ("BOB", ""), ("CAROL", "KD-7731"), ("DAVE", ""), ("ERIN", ""),
           ("FRANK", ""), ("GINA", ""), ("HEIDI", ""), ("12", "")]
INVOICES = [(f"INV-{n:05d}", c) for n, (c, _) in enumerate(CLIENTS[:8], start=1)]
PRICES = {"ALICE": "49.99", "BOB": "49.99", "CAROL": "49.99", "DAVE": "49.99", "ERIN": "79.00",
          "FRANK": "59.00", "GINA": "59.00", "HEIDI": "59.00"}
OPEN = [OpenInvoice(n, c, D(PRICES[c])) for n, c in INVOICES]
RULES = prepare_rules("INV-{seq:05d}", INVOICES, CLIENTS, "EUR")


def line(reference: str, amount: str = "49.99", name: str = "", account: str = "",
         day: int = 2, currency: str = "EUR", position: int = 1) -> StatementLine:
    return StatementLine(dt.date(2026, 12, day), D(amount), currency, reference, name, account,
                         None, "s.xml", position, "camt")


def one(text: str, **kw: str) -> tuple[str, str, str]:
    [result] = match_lines([line(text, **kw)], RULES, Memory(), OPEN)
    return result.client_id, result.invoice_number, result.rule


@pytest.mark.parametrize("text", ["inv 1", "INV00001", "Inv-1", "INV-00001", "Invoice 1 thx",
                                  "Rechnung inv. no 00001", "i n v 1", "payment for INV 0001"])
def test_invoice_number_written_loosely_finds_the_invoice(text: str) -> None:
    assert one(text) == ("ALICE", "INV-00001", "invoice number")


def test_invoice_number_that_does_not_exist_is_not_a_match() -> None:
    assert invoice_numbers_in("INV 99", RULES) == []
    assert invoice_numbers_in("INV 12 2026", RULES) == []  # 12 is not an invoice
    assert one("INV 99", amount="12.34")[2] == ""


def test_invoice_number_beats_a_client_id_in_the_same_reference() -> None:
    assert one("BOB pays INV-00004") == ("DAVE", "INV-00004", "invoice number")


def test_invoices_of_two_clients_named_is_not_a_match_by_invoice() -> None:
    [result] = match_lines([line("INV 1 and INV 2", amount="5.00")], RULES, Memory(), OPEN)
    assert result.client_id == ""
    assert "invoices of 2 clients (ALICE, BOB)" in result.why


def test_client_id_as_a_word_of_the_reference() -> None:
    assert one("Internet bob december") == ("BOB", "", "client id")
    assert one("BOBBY december", amount="5.00")[0] == ""  # not a word of its own


def test_a_short_numeric_client_id_is_not_looked_for() -> None:
    assert one("12 months", amount="5.00")[0] == ""


def test_bank_reference_written_with_other_spacing() -> None:
    assert one("Kd 7731 Dezember") == ("CAROL", "", "bank reference")
    assert one("kd7731") == ("CAROL", "", "bank reference")
    assert one("Kd 7732", amount="5.00")[0] == ""


def test_known_account_then_known_name() -> None:
    memory = Memory()
    first = line("INV 4", account="DE44500105175407324931", name="D. Dorsey")
    later = line("Danke", amount="20.00", account="DE44500105175407324931", day=16,
                 position=2)
    by_name = line("thanks", amount="20.00", name="d. dorsey", day=17, position=3)
    results = match_lines([first, later, by_name], RULES, memory, OPEN)
    assert [(r.client_id, r.rule) for r in results] == [
        ("DAVE", "invoice number"), ("DAVE", "known account"), ("DAVE", "known name")]
    assert "DE44500105175407324931 paid for DAVE before" in results[1].why


def test_an_account_that_paid_for_two_clients_is_not_a_match() -> None:
    memory = Memory()
    memory.accounts["DE1"] = {"ALICE", "BOB"}
    [result] = match_lines([line("x", amount="5.00", account="DE1")], RULES, memory, OPEN)
    assert result.client_id == "" and "paid for ALICE, BOB before" in result.why


def test_unique_open_amount() -> None:
    assert one("monthly", amount="79.00") == ("ERIN", "INV-00005", "amount")


def test_an_amount_shared_by_open_invoices_is_left_unmatched_and_says_whose() -> None:
    [result] = match_lines([line("payment", amount="59.00")], RULES, Memory(), OPEN)
    assert result.client_id == ""
    assert result.why == ("3 open invoices of 59.00 (INV-00006 FRANK, INV-00007 GINA, "
                          "INV-00008 HEIDI)")


def test_earlier_lines_close_the_invoices_they_pay_before_the_amount_rule() -> None:
    lines = [line("gina", amount="59.00", position=1), line("frank", amount="59.00", position=2),
             line("?", amount="59.00", position=3, day=3)]
    results = match_lines(lines, RULES, Memory(), OPEN)
    assert [(r.client_id, r.rule) for r in results] == [
        ("GINA", "client id"), ("FRANK", "client id"), ("HEIDI", "amount")]


def test_amount_rule_can_be_turned_off() -> None:
    rules = prepare_rules("INV-{seq:05d}", INVOICES, CLIENTS, "EUR", by_amount=False)
    [result] = match_lines([line("monthly", amount="79.00")], rules, Memory(), OPEN)
    assert result.client_id == ""


def test_another_currency_is_never_matched() -> None:
    [result] = match_lines([line("INV 1", currency="USD")], RULES, Memory(), OPEN)
    assert result.client_id == "" and result.why == "in USD, but invoices are in EUR"


def test_nothing_found_says_so() -> None:
    [result] = match_lines([line("Sammelzahlung", amount="1234.56")], RULES, Memory(), OPEN)
    assert result.why == ("no invoice number, client id or known payer in it, and no open "
                          "invoice of 1234.56")


def test_number_format_without_letters_needs_the_number_as_formatted() -> None:
    rules = prepare_rules("{seq:06d}", [("000042", "BOB")], CLIENTS, "EUR")
    assert invoice_numbers_in("Rechnung 000042", rules) == ["000042"]
    assert invoice_numbers_in("Rechnung 42 von 2026", rules) == []


def test_a_short_prefix_is_not_found_inside_a_word() -> None:
    rules = prepare_rules("R-{seq:04d}", [("R-0012", "BOB")], CLIENTS, "EUR")
    assert invoice_numbers_in("Transfer 12 thanks", rules) == []
    assert invoice_numbers_in("r 12", rules) == ["R-0012"]
