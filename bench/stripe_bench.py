"""Card payments at size, against the local Stripe test server (tests/stripe_server.py).

    .venv/bin/python bench/stripe_bench.py                # 2,000 autopay clients; 20,000 payments
    .venv/bin/python bench/stripe_bench.py --clients 200 --payments 2000   # quick

1. **Autopay**: N autopay clients, each with a Stripe customer and a card saved beforehand (not
   timed), invoiced and charged by `ispsheets run` on their billing day, twice: the first month
   (the run finds each customer by search) and the next (customers known to the journal).
   Reported: seconds of the run, Stripe requests made, requests per autopay invoice
   (target: at most 2 once customers are known).
2. **Pull**: M succeeded payments made on the server (not timed), then pulled as a run pulls
   them (`StripeApi.movements` and the journal's record, one row per payment). Reported:
   seconds, requests (pages of 100).
3. **Pay links**: the requests per pay link (a Payment Link each; a Price once per amount).

The server is a single-threaded Python process on the same machine: its own time is included,
so the seconds are an upper bound for what Stripe's API would take, not a measure of it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ispsheets.journal import Journal  # noqa: E402
from ispsheets.payments.stripe.api import StripeApi  # noqa: E402
from ispsheets.payments.stripe.store import StripeStore  # noqa: E402
from tests.scenario import Business, row  # noqa: E402
from tests.stripe_fixtures import KEY, StripeTestServer, free_port  # noqa: E402

D = Decimal


def _post(session: requests.Session, server: StripeTestServer, path: str,
          data: dict[str, str]) -> dict:
    response = session.post(server.base + path, data=data,
                            headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    response.raise_for_status()
    return response.json()


def autopay(server: StripeTestServer, clients: int, folder: Path) -> None:
    ids = [f"C{n:05d}" for n in range(1, clients + 1)]
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}",
                        email=f"{c.lower()}@x.example", autopay="yes") for c in ids],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in ids],
    }
    business = Business.create(folder, rows, f"stripe: {{api_base: '{server.base}'}}\n")
    session = requests.Session()
    for c in ids:
        customer = _post(session, server, "/v1/customers",
                         {"name": f"Client {c}", "metadata[client_id]": c})
        server.add_card(customer["id"])
    os.environ["STRIPE_SECRET_KEY"] = KEY
    for day in (dt.date(2026, 11, 30), dt.date(2026, 12, 31)):
        server.clock(dt.datetime.combine(day, dt.time(6, 15)))
        start = time.perf_counter()
        report = business.run(day)
        seconds = time.perf_counter() - start
        charged = report.counts["autopay charged"]
        made = report.counts["stripe requests"]
        waited = report.counts["stripe milliseconds"] / 1000
        print(f"autopay {day}: {clients} clients, {charged} charged, exit "
              f"{int(report.exit_code)}, run {seconds:.1f} s ({waited:.1f} s waiting on the "
              f"server), {made} Stripe requests, "
              f"{made / max(charged, 1):.2f} per autopay invoice")


def pull(server: StripeTestServer, payments: int, folder: Path) -> None:
    session = requests.Session()
    customer = _post(session, server, "/v1/customers", {"name": "Payer"})
    pm = server.add_card(customer["id"])
    server.clock(dt.datetime(2026, 12, 1, 12))
    start = time.perf_counter()
    for n in range(payments):
        _post(session, server, "/v1/payment_intents", {
            "amount": str(4999 + n % 100), "currency": "usd", "customer": customer["id"],
            "payment_method": pm, "confirm": "true",
            "metadata[invoice_number]": f"INV-{n:05d}", "metadata[client_id]": "C1"})
    print(f"pull: {payments} payments made on the server in "
          f"{time.perf_counter() - start:.1f} s (setup, not the pull)")
    api = StripeApi(KEY, "USD", server.base)
    journal = Journal.open(folder / "pull.db")
    store = StripeStore(journal)
    now = dt.datetime(2026, 12, 31, 6)
    start = time.perf_counter()
    seen = 0
    since = int(dt.datetime(2026, 11, 30, tzinfo=dt.UTC).timestamp())
    movements = list(api.movements(since))
    listed = time.perf_counter() - start
    for first in range(0, len(movements), 500):  # as the run's pull: a transaction a batch
        with journal.transaction():
            seen += sum(store.add_movement(m, now) for m in movements[first:first + 500])
    seconds = time.perf_counter() - start
    print(f"pull: {seen} payments pulled and recorded in {seconds:.1f} s (listing "
          f"{listed:.1f} s, {api.seconds:.1f} s of it waiting on the server), "
          f"{api.requests} requests")
    journal.close()


def pay_links(server: StripeTestServer) -> None:
    """Ten invoices of the same amount: the Price is made once, then one request a link."""
    api = StripeApi(KEY, "USD", server.base)
    price = api.price(D("49.99"), D("5.00"), "Bench invoice", "bench/price")
    for n in range(10):
        api.pay_link(f"INV-{n}", "C1", price, f"bench/{n}")
    print(f"pay links: {api.requests} requests for 10 links of one amount "
          f"({api.requests / 10:.1f} a link: the Price once, then a Payment Link each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--payments", type=int, default=20000)
    args = parser.parse_args()
    server = StripeTestServer(free_port())
    try:
        with tempfile.TemporaryDirectory() as folder:
            pay_links(server)
            server.reset()
            autopay(server, args.clients, Path(folder) / "autopay")
            if args.payments:
                server.reset()
                pull(server, args.payments, Path(folder))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
