"""The archive planner, one rule per test: what moves, and what never does."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ispsheets.archive.limits import row_limit_warnings
from ispsheets.archive.plan import cutoff, plan_archive
from ispsheets.archive.rows import SheetRow
from ispsheets.book.reader import RawBook, RawSheet
from ispsheets.book.records import Invoice
from ispsheets.payments.allocate import PaymentState

D = Decimal
BEFORE = dt.date(2026, 1, 1)


def _invoice(number: str, status: str, due: dt.date) -> Invoice:
    return Invoice(number, "C1", due - dt.timedelta(days=15), None, None, due, D("10"), D("0"),
                   D("10"), status=status)


INVOICES = [_invoice("INV-1", "paid", dt.date(2025, 11, 15)),
            _invoice("INV-2", "void", dt.date(2025, 12, 15)),
            _invoice("INV-3", "open", dt.date(2025, 10, 15)),
            _invoice("INV-4", "partial", dt.date(2025, 10, 15)),
            _invoice("INV-5", "held", dt.date(2025, 10, 15)),
            _invoice("INV-6", "paid", dt.date(2026, 1, 1))]  # due on the cutoff: stays


def _rows() -> dict[str, list[SheetRow]]:
    invoices = [SheetRow("Invoices", n + 1, {"invoice_number": i.invoice_number})
                for n, i in enumerate(INVOICES, start=1)]
    lines = [SheetRow("InvoiceLines", 2, {"invoice_number": "INV-1", "line": 1}),
             SheetRow("InvoiceLines", 3, {"invoice_number": "INV-3", "line": 1})]
    charges = [SheetRow("Charges", 2, {"charge_id": "CHG-1", "date": dt.date(2025, 10, 2)}),
               SheetRow("Charges", 3, {"charge_id": "CHG-3", "date": dt.date(2025, 10, 2)})]
    payments = [SheetRow("Payments", r, {"payment_id": p, "date": dt.date(2025, 11, 10)})
                for r, p in enumerate(("PAY-ALL", "PAY-SPLIT", "PAY-CREDIT", "PAY-OPEN"), 2)]
    activity = [SheetRow("Activity", 2, {"timestamp": dt.datetime(2025, 12, 31, 23, 0),
                                         "action": "run"}),
                SheetRow("Activity", 3, {"timestamp": dt.datetime(2026, 1, 1, 0, 0),
                                         "action": "run"})]
    return {"Invoices": invoices, "InvoiceLines": lines, "Charges": charges,
            "Payments": payments, "Activity": activity}


PAYMENTS = {"PAY-ALL": PaymentState((("INV-1", D("10")),)),
            "PAY-SPLIT": PaymentState((("INV-1", D("5")), ("INV-4", D("5")))),
            "PAY-CREDIT": PaymentState((("INV-1", D("10")),), D("2")),
            "PAY-OPEN": PaymentState((("INV-4", D("3")),))}


def _moved(known=()) -> set[tuple[str, str]]:
    plan = plan_archive(_rows(), INVOICES, PAYMENTS, {"CHG-1": "INV-1", "CHG-3": "INV-3"},
                        BEFORE, known)
    return {(m.tab, m.key) for m in plan.moves}


def test_only_paid_or_void_invoices_due_before_the_cutoff_move() -> None:
    assert {k for t, k in _moved() if t == "Invoices"} == {"INV-1", "INV-2"}


def test_lines_and_billed_charges_go_with_their_invoice() -> None:
    moved = _moved()
    assert ("InvoiceLines", "INV-1#1") in moved and ("Charges", "CHG-1") in moved
    assert ("InvoiceLines", "INV-3#1") not in moved and ("Charges", "CHG-3") not in moved


def test_a_payment_moves_only_when_all_of_it_went_to_moving_invoices() -> None:
    assert {k for t, k in _moved() if t == "Payments"} == {"PAY-ALL"}


def test_a_payment_spread_over_archived_and_moving_invoices_moves() -> None:
    """Archived a quarter at a time, a payment of five invoices moved in different steps
    must still go once the last of them does."""
    plan = plan_archive(_rows(), INVOICES, {**PAYMENTS, "PAY-SPLIT": PaymentState(
        (("INV-0", D("5")), ("INV-1", D("5"))))}, {}, BEFORE, archived={"INV-0"})
    assert {m.key for m in plan.moves if m.tab == "Payments"} == {"PAY-ALL", "PAY-SPLIT"}


def test_a_credit_note_moves_once_its_credit_is_used_on_invoices_that_move() -> None:
    note = Invoice("CN-1", "C1", dt.date(2025, 10, 1), None, None, dt.date(2025, 10, 1),
                   D("-4"), D("0"), D("-4"), status="paid")
    used = {"credit-note:CN-1": {"INV-1": D("4")}}
    half = {"credit-note:CN-1": {"INV-1": D("2")}}
    on_open = {"credit-note:CN-1": {"INV-3": D("4")}}
    rows = {**_rows(), "Invoices": [*_rows()["Invoices"],
                                    SheetRow("Invoices", 9, {"invoice_number": "CN-1"})]}
    for notes, moves in ((used, True), (half, False), (on_open, False)):
        plan = plan_archive(rows, [*INVOICES, note], PAYMENTS, {}, BEFORE, notes=notes)
        assert (("Invoices", "CN-1") in {(m.tab, m.key) for m in plan.moves}) is moves, notes


def test_activity_before_the_cutoff_moves() -> None:
    assert [k for t, k in _moved() if t == "Activity"] == ["2025-12-31T23:00:00|run|||"]


def test_a_row_keyed_before_is_not_planned_again() -> None:
    assert ("Invoices", "INV-1") not in _moved(known={("Invoices", "INV-1")})


def test_zero_months_means_never_and_whole_calendar_months_move() -> None:
    assert cutoff(dt.date(2026, 3, 31), 0) is None
    assert cutoff(dt.date(2026, 3, 31), 1) == dt.date(2026, 2, 1)
    assert cutoff(dt.date(2026, 3, 1), 1) == dt.date(2026, 2, 1)
    assert cutoff(dt.date(2026, 3, 15), 12) == dt.date(2025, 3, 1)


def test_a_tab_past_80_percent_of_excel_rows_is_named_with_the_fix() -> None:
    full = RawSheet("Activity", [["timestamp"]] + [[1]] * 840_000)
    fine = RawSheet("Payments", [["payment_id"]] + [[1]] * 1000)
    problems = row_limit_warnings(RawBook({"Activity": full, "Payments": fine}), 12)
    assert [p.where for p in problems] == ["Activity"]
    assert "80%" in problems[0].message and "archive_after_months" in problems[0].fix


def test_a_restored_invoice_takes_nothing_out_with_it() -> None:
    """Brought back by the owner (keyed before, `restored`), an invoice never moves again by
    itself: nor do its lines, the charges it billed or the payments that paid it."""
    moved = _moved(known={("Invoices", "INV-1")})
    assert not {("InvoiceLines", "INV-1#1"), ("Charges", "CHG-1"), ("Payments", "PAY-ALL")} \
        & moved


def _states(states: dict[tuple[str, str], str]):
    asked: list[tuple[str, frozenset[str]]] = []

    def states_of(tab: str, keys) -> dict[str, str]:
        asked.append((tab, frozenset(keys)))
        return {k: states[tab, k] for k in keys if (tab, k) in states}
    return states_of, asked


def test_the_journal_is_asked_only_about_the_rows_in_play() -> None:
    """A payment spread over an archived invoice and a moving one moves; over a restored one
    (back in the workbook) it stays. The journal's states are asked for the invoices that
    could move, those their payments went to, and the rows that could move: never all."""
    split = {**PAYMENTS, "PAY-SPLIT": PaymentState((("INV-0", D("5")), ("INV-1", D("5"))))}
    for state, moves in (("removed", True), ("restored", False)):
        states_of, asked = _states({("Invoices", "INV-0"): state})
        plan = plan_archive(_rows(), INVOICES, split, {}, BEFORE, states=states_of)
        assert ("PAY-SPLIT" in {m.key for m in plan.moves if m.tab == "Payments"}) is moves
        keys = set().union(*(k for _, k in asked))
        assert "INV-0" in keys and "INV-3" not in keys and "PAY-OPEN" not in keys


def test_rows_read_by_their_key_cells_move_whole() -> None:
    """The plan reads a long tab by its key cells (`TabRows.key_cells`); what moves is the whole
    row, as the workbook shows it."""
    from ispsheets.archive.rows import TabRows

    raw = RawBook({"Invoices": RawSheet("Invoices", [
        ["invoice_number", "client_id", "total", "notes"],
        ["INV-1", "C1", 10, "paid by check"], ["", None, " ", ""], ["", "C9", "", ""],
        ["INV-3", "C1", 10, ""]])})
    tab = TabRows(raw, "Invoices")
    assert [(r.row, dict(r.values)) for r in tab.key_cells()] == [
        (2, {"invoice_number": "INV-1"}), (4, {}), (5, {"invoice_number": "INV-3"})]
    assert [r.row for r in tab.rows()] == [2, 4, 5]  # the same rows, the blank one skipped
    plan = plan_archive({"Invoices": tab.key_cells()}, INVOICES, {}, {}, BEFORE,
                        whole=lambda row: tab.at(row.row))
    assert [(m.key, m.row, dict(m.values)) for m in plan.moves] == [
        ("INV-1", 2, {"invoice_number": "INV-1", "client_id": "C1", "total": 10,
                      "notes": "paid by check"})]


def test_a_row_keyed_before_stays_keyed_whatever_its_tab() -> None:
    """An Activity row the archive holds already (an older workbook put back shows it again)
    is not planned again: the move removes it, never appends it twice."""
    assert not [k for t, k in _moved(known={("Activity", "2025-12-31T23:00:00|run|||")})
                if t == "Activity"]


def test_a_credit_note_used_on_an_archived_invoice_moves() -> None:
    note = Invoice("CN-1", "C1", dt.date(2025, 10, 1), None, None, dt.date(2025, 10, 1),
                   D("-4"), D("0"), D("-4"), status="paid")
    rows = {**_rows(), "Invoices": [*_rows()["Invoices"],
                                    SheetRow("Invoices", 9, {"invoice_number": "CN-1"})]}
    notes = {"credit-note:CN-1": {"INV-0": D("4")}}
    for archived, moves in (({"INV-0"}, True), (set(), False)):
        plan = plan_archive(rows, [*INVOICES, note], PAYMENTS, {}, BEFORE, notes=notes,
                            archived=archived)
        assert (("Invoices", "CN-1") in {(m.tab, m.key) for m in plan.moves}) is moves
