"""Pay links: a Stripe Payment Link for the balance of every open invoice, replaced when the
balance changes; invoices carry their active link (email, PDF, Invoices.pay_link).

When the portal is set up (`portal.base_url` and its secret), the pay link is the portal's
link for the invoice instead (it signs the client in, where they pay by Checkout) and no
Payment Links are made; those made before are deactivated.
"""

from __future__ import annotations

from decimal import Decimal

from ispsheets.faults import checkpoint
from ispsheets.ledger import copy_invoice
from ispsheets.payments.stripe.api import Link, StripeApi, StripeFailure
from ispsheets.payments.stripe.plan import OPEN, plan_links
from ispsheets.payments.stripe.store import StripeStore
from ispsheets.problems import warning
from ispsheets.steps.cycle import Cycle
from ispsheets.steps.portal import account_link


def portal_pays(cycle: Cycle) -> bool:
    """Clients pay in the portal: its address is set and its secret known."""
    return bool(account_link(cycle, "-", "-"))


def pay_links(cycle: Cycle, api: StripeApi, store: StripeStore) -> None:
    """A Payment Link for the balance of every open invoice; stale ones deactivated."""
    settings = cycle.config.stripe
    for record in store.links(("pending",)):  # keyed by a run that stopped: same key again
        invoice = cycle.invoice(record.invoice_number)
        client_id = invoice.client_id if invoice else ""
        try:
            link = make_link(cycle, api, store, record.invoice_number, client_id,
                             record.amount, record.key)
        except StripeFailure as failure:
            if not failure.key_reused:
                raise
            store.finish_link(record.key, "abandoned", cycle.now)  # a new key next
            cycle.problem(warning("config.yaml: stripe", f"a pay link for "
                                  f"{record.invoice_number} begun by an interrupted run could "
                                  "not be finished (a setting changed since)",
                                  "in Stripe's dashboard, deactivate any other active link "
                                  f"for {record.invoice_number}"))
            continue
        store.finish_link(record.key, "active", cycle.now, link.id, link.url)
    active = store.links(("active",))
    current = {r.invoice_number: (r.key, r.amount) for r in active}
    ids = {r.key: r.link_id for r in active}
    plan = plan_links(cycle.invoices, current, settings.pay_links and not portal_pays(cycle))
    for key, number in plan.deactivate:
        api.deactivate_link(ids[key])
        store.finish_link(key, "inactive", cycle.now)
        cycle.plan("pay link", "", f"{number}: old link deactivated")
    for number, client_id, amount in plan.create:
        key = f"paylink/{number}/{store.link_count(number) + 1}"
        store.begin_link(key, number, amount, cycle.now)
        link = make_link(cycle, api, store, number, client_id, amount, key)
        checkpoint("pay-link-made")
        store.finish_link(key, "active", cycle.now, link.id, link.url)
        cycle.report.counts["pay links made"] += 1


def make_link(cycle: Cycle, api: StripeApi, store: StripeStore, number: str, client_id: str,
              amount: Decimal, key: str) -> Link:
    """The link, on the Price for its amount (made once for each amount and minimum)."""
    currency = cycle.config.currency
    minimum = min(cycle.config.stripe.partial_minimum, amount)
    price_key = f"price/{currency}/{minimum}/{amount}"
    price = store.get(price_key)
    if not price:
        price = api.price(amount, minimum, f"{cycle.config.company.name} invoice",
                          f"ispsheets/{price_key}")
        store.put(price_key, price)
    return api.pay_link(number, client_id, price, f"ispsheets/{key}")


def show_links(cycle: Cycle, store: StripeStore) -> None:
    """Invoices carry their active link: in emails, on the PDF, in Invoices.pay_link."""
    links = {r.invoice_number: r.url for r in store.links(("active",))}
    if cycle.config.stripe.pay_links and portal_pays(cycle):
        links = {i.invoice_number: account_link(cycle, i.client_id, i.invoice_number)
                 for i in cycle.invoices if i.status in OPEN
                 and (i.balance if i.balance is not None else i.total) > 0}
    cycle.invoices = [copy_invoice(i, pay_link=links.get(i.invoice_number, ""))
                      for i in cycle.invoices]
