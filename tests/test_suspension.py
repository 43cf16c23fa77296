"""Suspension at 21 days past due, reconnection once paid, and the owner's word over both."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace
from decimal import Decimal

from ispsheets.book.records import Client, Invoice, Payment
from ispsheets.collections.suspension import (
    Reconnect,
    Release,
    Suspend,
    SuspensionPlan,
    ToolSuspension,
    plan_suspensions,
)
from ispsheets.config import Collections
from ispsheets.payments.allocate import allocate, with_allocation

D = Decimal
DUE = dt.date(2026, 12, 15)
DEFAULT = Collections()  # 21 days, above 0.00, reconnection fee 10.00
ADA = Client("C1", "Ada Lovelace", status="active")


def inv(number: str = "INV-00042", total: str = "49.99", due: dt.date = DUE,
        client: str = "C1", status: str = "open") -> Invoice:
    return Invoice(number, client, due - dt.timedelta(days=15), None, None, due, D(total), D("0"),
                   D(total), status=status)


def allocated(invoices: list[Invoice], payments: list[Payment] = ()) -> list[Invoice]:
    return with_allocation(invoices, allocate(invoices, list(payments)))


def day(offset: int) -> dt.date:
    return DUE + dt.timedelta(days=offset)


def plan(invoices, today, clients=(ADA,), config=DEFAULT, tool_suspended=None, done=(),
         balances=None) -> SuspensionPlan:
    return plan_suspensions(invoices, list(clients), today, config, tool_suspended or {},
                            frozenset(done), balances=balances)


def made(client: str = "C1", invoice: str = "INV-00042") -> dict[str, ToolSuspension]:
    return {client: ToolSuspension(client, f"suspend/{client}/{invoice}", day(21))}


def test_active_client_21_days_past_due_with_49_99_is_suspended():
    result = plan(allocated([inv()]), day(21))
    assert result.suspend == (Suspend("C1", "suspend/C1/INV-00042", ("suspend/C1/INV-00042",),
                                      ("INV-00042",), D("49.99"), day(21)),)
    assert result.reconnect == () and result.released == ()


def test_client_20_days_past_due_is_not_suspended():
    assert plan(allocated([inv()]), day(20)) == SuspensionPlan()


def test_suspension_already_done_is_not_planned_again():
    assert plan(allocated([inv()]), day(25), done={"suspend/C1/INV-00042"}).suspend == ()


def test_overdue_49_99_is_not_above_a_suspend_min_balance_of_50():
    config = Collections(suspend_min_balance=D("50.00"))
    assert plan(allocated([inv()]), day(30), config=config).suspend == ()


def test_two_invoices_past_threshold_99_98_above_50_suspend_keyed_by_the_oldest():
    config = Collections(suspend_min_balance=D("50.00"))
    invoices = allocated([inv("INV-00051", due=day(-31)), inv("INV-00042", due=day(-61))])
    [action] = plan(invoices, day(0), config=config).suspend
    assert action.key == "suspend/C1/INV-00042"
    assert action.keys == ("suspend/C1/INV-00042", "suspend/C1/INV-00051")
    assert action.overdue_balance == D("99.98")


def test_invoice_not_yet_past_threshold_does_not_count_toward_the_minimum():
    config = Collections(suspend_min_balance=D("50.00"))
    invoices = allocated([inv("INV-00042", due=day(-21)), inv("INV-00051", due=day(-20))])
    assert plan(invoices, day(0), config=config).suspend == ()


def test_zero_balance_from_partial_payments_in_every_order_is_never_suspended():
    amounts = [D("10.00"), D("15.00"), D("24.99")]
    for order in itertools.permutations(amounts):
        payments = [Payment(f"P{n}", day(n * 7), "C1", a) for n, a in enumerate(order)]
        invoices = allocated([inv()], payments)
        assert all(plan(invoices, day(n)).suspend == () for n in range(21, 90)), order


def test_client_whose_credit_covers_it_is_not_suspended():
    assert plan(allocated([inv()]), day(30), balances={"C1": D("0.00")}).suspend == ()


def test_cancelled_and_owner_suspended_clients_are_not_suspended_by_the_tool():
    for status in ("cancelled", "suspended"):
        client = replace(ADA, status=status)
        assert plan(allocated([inv()]), day(30), clients=[client]) == SuspensionPlan()


def test_tool_suspended_client_who_pays_is_reconnected_with_a_10_00_fee():
    invoices = allocated([inv()], [Payment("P1", day(25), "C1", D("49.99"))])
    client = replace(ADA, status="suspended")
    result = plan(invoices, day(25), clients=[client], tool_suspended=made())
    assert result.reconnect == (Reconnect("C1", "reconnect/C1/INV-00042", "suspend/C1/INV-00042",
                                          D("10.00"), day(25)),)
    assert result.reconnect[0].fee_description == "Reconnection fee"
    assert result.reconnect[0].fee_taxable is False
    assert result.suspend == () and result.released == ()


def test_reconnection_fee_0_reconnects_with_no_fee():
    invoices = allocated([inv()], [Payment("P1", day(25), "C1", D("49.99"))])
    config = Collections(reconnection_fee=D("0"))
    [action] = plan(invoices, day(25), clients=[replace(ADA, status="suspended")],
                    config=config, tool_suspended=made()).reconnect
    assert action.fee == 0


def test_partial_payment_leaving_the_old_invoice_past_threshold_does_not_reconnect():
    invoices = allocated([inv()], [Payment("P1", day(25), "C1", D("40.00"))])
    result = plan(invoices, day(25), clients=[replace(ADA, status="suspended")],
                  tool_suspended=made())
    assert result == SuspensionPlan()


def test_balance_at_or_below_the_minimum_reconnects():
    config = Collections(suspend_min_balance=D("10.00"))
    invoices = allocated([inv()], [Payment("P1", day(25), "C1", D("40.00"))])  # 9.99 left
    [action] = plan(invoices, day(25), clients=[replace(ADA, status="suspended")],
                    config=config, tool_suspended=made()).reconnect
    assert action.client_id == "C1"


def test_reconnection_already_done_is_not_planned_again():
    invoices = allocated([inv()], [Payment("P1", day(25), "C1", D("49.99"))])
    result = plan(invoices, day(26), clients=[replace(ADA, status="suspended")],
                  tool_suspended=made(), done={"reconnect/C1/INV-00042"})
    assert result == SuspensionPlan()


def test_owner_suspended_client_who_pays_is_never_reconnected():
    invoices = allocated([inv()], [Payment("P1", day(25), "C1", D("49.99"))])
    assert plan(invoices, day(26), clients=[replace(ADA, status="suspended")]) == SuspensionPlan()


def test_owner_setting_a_tool_suspended_client_active_or_cancelled_releases_it():
    for status in ("active", "cancelled"):
        result = plan(allocated([inv()]), day(25), clients=[replace(ADA, status=status)],
                      tool_suspended=made(), done={"suspend/C1/INV-00042"})
        assert result == SuspensionPlan(released=(Release("C1", "suspend/C1/INV-00042",
                                                          status),))


def test_owner_reactivated_client_is_not_suspended_again_for_the_same_invoice():
    invoices = allocated([inv()])
    done = {"suspend/C1/INV-00042"}
    assert all(plan(invoices, day(n), done=done) == SuspensionPlan() for n in range(22, 60))


def test_owner_reactivated_client_is_suspended_again_when_a_new_invoice_crosses_21_days():
    invoices = allocated([inv("INV-00042", due=day(-31)), inv("INV-00051", due=day(0))])
    done = {"suspend/C1/INV-00042"}
    assert plan(invoices, day(20), done=done).suspend == ()
    [action] = plan(invoices, day(21), done=done).suspend
    assert action.key == "suspend/C1/INV-00051"
    assert action.keys == ("suspend/C1/INV-00042", "suspend/C1/INV-00051")


def test_day_by_day_suspend_pay_reconnect_cycle_with_the_runner_bookkeeping():
    """Drive the planner as the runner does: record keys, flip status, forget on reconnect."""
    invoices = [inv()]
    payments = [Payment("P1", day(30), "C1", D("49.99"))]
    client, tool, done, log = ADA, {}, set(), []
    for offset in range(0, 40):
        today = day(offset)
        shown = allocated(invoices, [p for p in payments if p.date <= today])
        result = plan(shown, today, clients=[client], tool_suspended=tool, done=done)
        for action in result.suspend:
            done.update(action.keys)
            tool[action.client_id] = ToolSuspension(action.client_id, action.key, today)
            client = replace(client, status="suspended")
            log.append((offset, "suspend"))
        for action in result.reconnect:
            done.add(action.key)
            del tool[action.client_id]
            client = replace(client, status="active")
            log.append((offset, "reconnect", action.fee))
    assert log == [(21, "suspend"), (30, "reconnect", D("10.00"))]


def test_clients_are_listed_in_client_id_order():
    clients = [Client("C10", "Ten"), Client("C9", "Nine")]
    invoices = allocated([inv("INV-1", client="C10"), inv("INV-2", client="C9")])
    assert [a.client_id for a in plan(invoices, day(21), clients=clients).suspend] == [
        "C9", "C10"]
