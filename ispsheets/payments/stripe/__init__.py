"""Card payments through Stripe: the API client, the journal tables, the pure plans."""
