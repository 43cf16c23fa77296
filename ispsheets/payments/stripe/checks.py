"""`ispsheets check` for Stripe: is the key a secret key, and does Stripe accept it."""

from __future__ import annotations

from ispsheets.config import Config
from ispsheets.payments.stripe.api import StripeApi, StripeFailure
from ispsheets.problems import Problem


def check_stripe(config: Config) -> list[Problem]:
    """One cheap call (the balance) with the key; nothing when no key is set. Never the key."""
    key = config.stripe_key
    if not key:
        return []
    where = "config.yaml: stripe.secret_key_env"
    if not key.startswith(("sk_", "rk_")):
        return [Problem(where, f"the variable {config.stripe.secret_key_env} does not hold a "
                        "Stripe secret key (they start with sk_ or rk_)",
                        "copy the secret key from Stripe's dashboard, Developers > API keys")]
    try:
        StripeApi(key, config.currency, config.stripe.api_base, retries=1).verify()
    except StripeFailure as failure:
        return [failure.problem]
    return []
