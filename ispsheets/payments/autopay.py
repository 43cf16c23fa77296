"""Autopay: will a card charge really be attempted for a client's invoices?

The one answer every place asks before it tells a client "autopay is on" (the invoice email)
or acts on `autopay` = yes. A client told that their card will be charged pays nothing and
then gets reminders, a late fee and a suspension; so it is said only when a charge will be
attempted for real.
"""

from __future__ import annotations

from ispsheets.book.records import Client
from ispsheets.config import Config

# Card payments are not built yet: no setting or card on file makes a charge happen. The card
# integration sets this when it lands, and with it the checks below mean what they say.
CARD_PAYMENTS_BUILT = False


def will_charge_card(config: Config, client: Client) -> bool:
    """True only for a client with `autopay` = yes when card payments are set up (a Stripe
    secret key in the environment) and the client has a card on file (a Stripe customer).
    False for everyone today: such clients get the normal how-to-pay text."""
    return (CARD_PAYMENTS_BUILT and client.autopay and bool(client.stripe_customer_id)
            and bool(config.secret(config.stripe.secret_key_env)))
