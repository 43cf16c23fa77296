"""Autopay: will a card charge really be attempted for a client's invoices?

The one answer every place asks before it tells a client "autopay is on" (the invoice email)
or acts on `autopay` = yes (the Stripe autopay plan). A client told that their card will be
charged pays nothing and then gets reminders, a late fee and a suspension; so it is said only
when a charge will be attempted for real: card payments set up (a Stripe key), `autopay` =
yes, a card on file (known from Stripe through the journal), and the client not cancelled.
"""

from __future__ import annotations

from ispsheets.book.records import Client
from ispsheets.config import Config


def card_will_be_charged(stripe_on: bool, client: Client, has_card: bool) -> bool:
    """The rule, pure: Stripe configured, autopay = yes, a card on file, not cancelled."""
    return stripe_on and client.autopay and has_card and client.status != "cancelled"


def will_charge_card(config: Config, client: Client, has_card: bool) -> bool:
    """`card_will_be_charged` with Stripe's key read from the environment (or `.env`), read
    only for a client the rest of the rule allows (most of a billing day's emails need none)."""
    if not (client.autopay and has_card):
        return False
    return card_will_be_charged(bool(config.stripe_key), client, has_card)
