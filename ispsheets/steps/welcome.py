"""The welcome email: once per client, when the client's first invoice is issued.

Never for a client moved in from before ispsheets (a service with `billed_through`), nor for
clients who already had invoices when this version first ran (the journal notes that moment,
`welcome/since`, and only clients whose first invoice is not older get one). The message is
keyed `welcome/<client_id>`, so it goes out once however often the run is repeated.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ispsheets.book.records import Client, Package, Service
from ispsheets.steps.cycle import Cycle
from ispsheets.steps.deliver import SENT_NOW, _context, send_message

SINCE = "welcome/since"


def welcome_key(client_id: str) -> str:
    return f"welcome/{client_id}"


def _since(cycle: Cycle) -> str:
    """When welcomes began (the first run of a version that sends them), as stored."""
    record = cycle.journal.action(SINCE)
    if record is not None:
        return record.detail
    since = cycle.now.isoformat()
    if not cycle.dry_run:
        cycle.journal.record_action(SINCE, "welcome_since", "", "", cycle.now, since)
    return since


def _service_rows(cycle: Cycle, client: Client) -> list[dict[str, Any]]:
    packages: dict[str, Package] = cycle.book.package_map()
    rows = []
    services: list[Service] = [s for s in cycle.book.services if s.client_id == client.client_id
                               and (s.end_date is None or s.end_date >= cycle.today)]
    for service in services:
        package = packages.get(service.package_id)
        if package is None:
            continue
        price = service.price if service.price is not None else package.price
        if service.discount_pct:
            price = (price * (100 - service.discount_pct) / 100).quantize(Decimal("0.01"))
        speed = "/".join(f"{v:f}" for v in (package.download_mbps, package.upload_mbps)
                         if v is not None)
        speed = f"{speed} Mbps" if speed else ""
        rows.append({"name": package.name, "price": price, "interval": package.interval,
                     "quantity": service.quantity, "start_date": service.start_date,
                     "speed": speed})
    return rows


def send_welcomes(cycle: Cycle) -> None:
    """A welcome to each client whose first invoice ispsheets issued and who has none yet."""
    if not cycle.config.email.send_welcome:
        return
    since = _since(cycle)
    candidates = {client: number for client, (number, created)
                  in cycle.journal.first_invoices(since).items() if created >= since}
    if not candidates:
        return
    moved_in = {s.client_id for s in cycle.book.services if s.billed_through is not None}
    sent = {m.key for m in cycle.journal.messages(state="sent", kind="welcome")}
    for client in cycle.book.clients:
        number = candidates.get(client.client_id)
        if number is None or client.client_id in moved_in or client.status == "cancelled" \
                or welcome_key(client.client_id) in sent:
            continue
        if cycle.dry_run:
            cycle.plan("welcome", client.client_id, f"with {number}")
            continue
        invoice = cycle.invoice(number)
        context = _context(cycle, client, [invoice] if invoice else [], extra={
            "services": _service_rows(cycle, client),
            "billing_day": client.billing_day or cycle.config.invoicing.billing_day,
            "due_days": cycle.config.invoicing.due_days,
            "transfer_reference": client.bank_reference or client.client_id})
        if send_message(cycle, "welcome", welcome_key(client.client_id), client, context,
                        number) == SENT_NOW:
            cycle.report.counts["welcome emails sent"] += 1
            cycle.log("welcome_sent", client.client_id, number, f"to {', '.join(client.emails)}")
