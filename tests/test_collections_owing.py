"""Collections plan from the invoices still owing (`steps/collect.py owing`): a small balance
is owed as much as a large one, through `ispsheets run`: its reminder and its late fee."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.scenario import Business, row

D = Decimal


def test_a_small_balance_gets_its_reminder_and_late_fee(tmp_path):
    business = Business.create(tmp_path, {
        "Packages": [row("Packages", package_id="MINI", name="Mini", price=D("0.50"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id="SMALL", name="Small", email="s@x.example"),
                    row("Clients", client_id="BIG", name="Big", email="b@x.example")],
        "Services": [row("Services", service_id="S1", client_id="SMALL", package_id="MINI",
                         start_date=dt.date(2026, 12, 1)),
                     row("Services", service_id="S2", client_id="BIG", package_id="MINI",
                         start_date=dt.date(2026, 12, 1), price=D("80.00"))]})
    business.run_days(dt.date(2026, 11, 30), dt.date(2026, 12, 30))
    reminded = {client: [m.day for m in business.mails_to(client) if m.kind == "reminder"]
                for client in ("SMALL", "BIG")}
    assert reminded["SMALL"] == reminded["BIG"] and len(reminded["SMALL"]) >= 2
    fees = [(c.client_id, c.description) for c in business.book().charges]
    assert sorted(fees) == [("BIG", "Late fee for INV-00001"), ("SMALL", "Late fee for INV-00002")]
