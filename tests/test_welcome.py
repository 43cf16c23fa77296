"""The welcome email: once per client with the first invoice ispsheets issues; never for
clients moved in from before ispsheets or billed before welcomes existed; off by config."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ispsheets.book.changes import AppendRow, ChangeSet
from tests.scenario import Business, row

D = Decimal
CONFIG = """
currency: EUR
company: {name: "Prairie Net", email: billing@prairie.example.com, address: "1 Main St",
          phone: "(217) 555-0142"}
invoicing: {payment_instructions: "IBAN DE89 3704 0044 0532 0130 00"}
"""


def _rows() -> dict[str, list[tuple[object, ...]]]:
    return {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly", download_mbps=D("100"), upload_mbps=D("20"))],
        "Clients": [row("Clients", client_id="NEW", name="Nora New", email="nora@x.example",
                        bank_reference="KD-7731", billing_day=5),
                    row("Clients", client_id="OLD", name="Otto Old", email="otto@x.example")],
        "Services": [row("Services", service_id="S-NEW", client_id="NEW", package_id="HOME",
                         start_date=dt.date(2026, 12, 5)),
                     row("Services", service_id="S-OLD", client_id="OLD", package_id="HOME",
                         start_date=dt.date(2026, 6, 1),
                         billed_through=dt.date(2026, 11, 30))],
    }


def _welcomes(business: Business) -> list:
    return [m for m in business.mails() if m.kind == "welcome"]


def test_a_new_client_is_welcomed_once_with_services_billing_day_and_how_to_pay(tmp_path):
    business = Business.create(tmp_path, _rows(), CONFIG, welcome=True)
    business.run_days(dt.date(2026, 11, 29), dt.date(2027, 1, 5))
    [welcome] = _welcomes(business)
    assert welcome.to == "nora@x.example" and welcome.subject == "Welcome to Prairie Net"
    assert welcome.day == dt.date(2026, 12, 4)  # with the first invoice, issued the day before
    text = " ".join(welcome.text.split())
    for expected in ("Home 100: €49.99 monthly (100/20 Mbps), from Dec 5, 2026",
                     "billed in advance on day 5 of the month",
                     "Your first invoice, INV-00002 for €49.99, is due Dec 19, 2026",
                     "write KD-7731 as the reference",
                     "IBAN DE89 3704 0044 0532 0130 00", "call us at (217) 555-0142"):
        assert expected in text, expected
    assert welcome.attachments == ()
    assert [(r["client_id"], r["invoice_number"]) for r in business.activity("welcome_sent")] \
        == [("NEW", "INV-00002")]
    # OLD (moved in with billed_through) was billed from Dec 1 by ispsheets: no welcome


def test_clients_billed_before_welcomes_existed_get_none_and_it_can_be_turned_off(tmp_path):
    business = Business.create(tmp_path, _rows(), CONFIG + "email: {send_welcome: false}\n",
                               welcome=True)
    business.run(dt.date(2026, 12, 4))
    assert _welcomes(business) == []
    (tmp_path / "config.yaml").write_text((tmp_path / "config.yaml").read_text().replace(
        "send_welcome: false", "send_welcome: true"))
    business.reload_config()
    business.edit(ChangeSet(appends=(
        AppendRow("Clients", {"client_id": "LATER", "name": "Lea Later",
                              "email": "lea@x.example"}),
        AppendRow("Services", {"service_id": "S-LATER", "client_id": "LATER",
                               "package_id": "HOME", "start_date": dt.date(2026, 12, 10)}))))
    business.run(dt.date(2026, 12, 9))
    business.run(dt.date(2026, 12, 10))
    assert [m.to for m in _welcomes(business)] == ["lea@x.example"]  # NEW was billed before


def test_dry_run_plans_the_welcome_and_sends_nothing(tmp_path):
    business = Business.create(tmp_path, _rows(), CONFIG, welcome=True)
    report = business.run(dt.date(2026, 12, 4), dry_run=True)
    assert ("welcome", "NEW", "with INV-00001") in report.plan
    assert not [p for p in report.plan if p[0] == "welcome" and p[1] == "OLD"]
    assert not (tmp_path / "outbox").exists()
