"""Every call to Stripe, through the official `stripe` library: the one module that imports it
(inside the functions that use it, so a run without a key never loads it).

It answers with the project's own frozen records and turns Stripe's errors into `StripeFailure`
(carrying a `Problem`), so everything above it knows nothing of the SDK. Network errors, 429
and 5xx are retried by the library itself (`max_network_retries`, exponential backoff with
jitter, the same idempotency key on every try).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from ispsheets.money import minor_units
from ispsheets.problems import Problem

if TYPE_CHECKING:  # imported when first used: `import stripe` costs a run 0.2 s, key or not
    import stripe

T = TypeVar("T")
WHERE = "config.yaml: stripe"
RETRIES = 3  # network errors, 409, 429 and 5xx: tried again with backoff this many times
CONNECT_SECONDS, READ_SECONDS = 10, 30  # a Stripe that hangs costs a run at most this a try


class StripeFailure(Exception):
    """A Stripe call that did not happen (or whose outcome is unknown): tried again next run."""

    def __init__(self, problem: Problem, key_reused: bool = False) -> None:
        super().__init__(str(problem))
        self.problem = problem
        # Stripe refused an idempotency key sent again with other parameters: that request
        # will never go through as it is
        self.key_reused = key_reused


@dataclass(frozen=True)
class Card:
    payment_method: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    def expires_in(self, day: dt.date) -> bool:
        return (self.exp_year, self.exp_month) == (day.year, day.month)

    def expired_on(self, day: dt.date) -> bool:
        return (self.exp_year, self.exp_month) < (day.year, day.month)


@dataclass(frozen=True)
class Customer:
    id: str
    client_id: str
    name: str
    email: str
    card: Card | None = None


@dataclass(frozen=True)
class Movement:
    """Money that moved on Stripe: a payment (positive), a refund or a lost dispute (negative)."""

    id: str  # the Payments row's reference: pi_…, re_…, dp_…
    kind: str  # payment | refund | dispute
    amount: Decimal
    fee: Decimal
    created: int  # unix seconds
    customer: str
    payment_intent: str
    charge: str
    invoice_number: str = ""
    client_id: str = ""


@dataclass(frozen=True)
class ChargeResult:
    """An off-session charge: `succeeded`, `declined` or `requires_action`."""

    state: str
    reference: str  # the PaymentIntent
    decline_code: str = ""
    message: str = ""
    movement: Movement | None = None


@dataclass(frozen=True)
class Link:
    id: str
    url: str


@dataclass(frozen=True)
class Checkout:
    """A Checkout Session as Stripe tells it (the portal trusts this, not the URL it came back
    on): `paid` only when the session is complete and its payment went through."""

    id: str
    mode: str  # payment | setup
    client_id: str  # from the session's metadata
    customer: str
    paid: bool
    complete: bool
    amount: Decimal  # what was paid (payment mode); 0 otherwise
    payment_intent: str
    invoice_number: str = ""


def to_minor(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(minor_units(currency)).to_integral_value())


def from_minor(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-minor_units(currency))


def _problem(exc: stripe.StripeError, doing: str) -> Problem:
    """One line naming what failed and what to do; never the key."""
    import stripe

    message = (exc.user_message or str(exc._message or "")).strip()  # type: ignore[attr-defined]
    if isinstance(exc, stripe.AuthenticationError):
        return Problem(WHERE, f"Stripe refused the secret key while {doing}",
                       "set a valid key (sk_test_… or sk_live_…) in the variable "
                       "stripe.secret_key_env names")
    if isinstance(exc, stripe.PermissionError):
        return Problem(WHERE, f"the key may not do this ({doing})",
                       "use a secret key, or a restricted key with write access")
    if isinstance(exc, stripe.APIConnectionError):
        return Problem(WHERE, f"Stripe could not be reached while {doing}",
                       "check the network or stripe.api_base; the next run catches up")
    if isinstance(exc, stripe.RateLimitError):
        return Problem(WHERE, f"Stripe's rate limit held while {doing}",
                       "nothing is lost; the next run catches up")
    if isinstance(exc, stripe.APIError):
        return Problem(WHERE, f"Stripe answered with an error while {doing} "
                       f"({exc.http_status})", "nothing is lost; the next run catches up")
    return Problem(WHERE, f"Stripe said no while {doing}: {message}",
                   "check the setting or the client's data; it is tried again next run")


class StripeApi:
    """Stripe for one business: its key, currency and (for tests) api_base."""

    def __init__(self, key: str, currency: str, api_base: str = "",
                 retries: int = RETRIES) -> None:
        import stripe

        addresses: dict[str, str] = {"api": api_base.rstrip("/")} if api_base else {}
        self._client = stripe.StripeClient(
            key, base_addresses=addresses,  # type: ignore[arg-type]
            max_network_retries=retries,
            http_client=stripe.RequestsClient(timeout=(CONNECT_SECONDS, READ_SECONDS)))
        self.currency = currency
        self.requests = 0  # requests made (each library call; retries not counted)
        self.seconds = 0.0  # time spent in them

    def _call(self, doing: str, call: Callable[[], T]) -> T:
        import stripe

        self.requests += 1
        start = time.perf_counter()
        try:
            return call()
        except stripe.StripeError as exc:
            raise StripeFailure(_problem(exc, doing),
                                isinstance(exc, stripe.IdempotencyError)) from exc
        finally:
            self.seconds += time.perf_counter() - start

    def _minor(self, amount: Decimal) -> int:
        return to_minor(amount, self.currency)

    def _major(self, amount: int) -> Decimal:
        return from_minor(amount, self.currency)

    # -- the key ------------------------------------------------------------------------------

    def verify(self) -> None:
        """One cheap call (the balance) to see the key works."""
        self._call("checking the key", self._client.v1.balance.retrieve)

    # -- customers ----------------------------------------------------------------------------

    def customer(self, customer_id: str) -> Customer | None:
        """The customer with its default card; None if it does not exist or was deleted."""
        import stripe

        try:
            obj = self._call("reading a customer", lambda: self._client.v1.customers.retrieve(
                customer_id, params={"expand": ["invoice_settings.default_payment_method"]}))
        except StripeFailure as failure:
            cause = failure.__cause__
            if isinstance(cause, stripe.InvalidRequestError) and cause.http_status == 404:
                return None
            raise
        if getattr(obj, "deleted", False):
            return None
        return self._customer(obj)

    def find_customer(self, client_id: str) -> Customer | None:
        """The oldest customer whose metadata names this client (made by an earlier run)."""
        query = f"metadata['client_id']:'{client_id.replace(chr(39), '')}'"
        found = self._call("searching customers", lambda: self._client.v1.customers.search(
            params={"query": query}))
        if not found.data:
            return None
        return self.customer(found.data[0].id)  # its default card, expanded

    def create_customer(self, client_id: str, name: str, email: str, key: str) -> Customer:
        obj = self._call("creating a customer", lambda: self._client.v1.customers.create(
            params={"name": name, "email": email, "metadata": {"client_id": client_id}},
            options={"idempotency_key": key}))
        return self._customer(obj)

    def update_customer(self, customer_id: str, name: str, email: str) -> None:
        self._call("updating a customer", lambda: self._client.v1.customers.update(
            customer_id, params={"name": name, "email": email}))

    def make_default(self, customer_id: str, payment_method: str) -> None:
        self._call("saving a default card", lambda: self._client.v1.customers.update(
            customer_id, params={"invoice_settings": {"default_payment_method": payment_method}}))

    def saved_cards(self, customer_id: str) -> list[Card]:
        """Cards attached to the customer, newest first (a finished setup Checkout adds one)."""
        found = self._call("listing cards", lambda: self._client.v1.payment_methods.list(
            params={"customer": customer_id, "type": "card", "limit": 100}))
        cards = sorted(found.data, key=lambda pm: pm.created, reverse=True)
        return [_card(pm) for pm in cards]

    def _customer(self, obj: Any) -> Customer:
        default = _f(_f(obj, "invoice_settings"), "default_payment_method")
        card = _card(default) if default is not None and not isinstance(default, str) else None
        if isinstance(default, str):
            card = Card(default, "", "", 0, 0)
        return Customer(obj.id, _f(_f(obj, "metadata"), "client_id", ""),
                        _f(obj, "name") or "", _f(obj, "email") or "", card)

    # -- charging -----------------------------------------------------------------------------

    def charge(self, customer_id: str, payment_method: str, amount: Decimal,
               metadata: dict[str, str], key: str, descriptor: str = "") -> ChargeResult:
        """An off-session PaymentIntent, confirmed at once, under an idempotency key."""
        import stripe

        params: dict[str, Any] = {
            "amount": self._minor(amount), "currency": self.currency.lower(),
            "customer": customer_id, "payment_method": payment_method, "off_session": True,
            "confirm": True, "metadata": metadata,
            "description": f"Invoice {metadata.get('invoice_number', '')}".strip()}
        if descriptor:
            params["statement_descriptor_suffix"] = descriptor[:22]
        self.requests += 1
        start = time.perf_counter()
        try:
            intent = self._client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": key})
        except stripe.CardError as exc:
            error = exc.error
            pi = getattr(error, "payment_intent", None) if error else None
            code = (getattr(error, "decline_code", None) or exc.code or "card_declined")
            state = "requires_action" if code == "authentication_required" else "declined"
            return ChargeResult(state, pi.id if pi is not None else "", code,
                                exc.user_message or str(exc._message or ""))  # type: ignore[attr-defined]
        except stripe.StripeError as exc:
            raise StripeFailure(_problem(exc, "charging a card"),
                                isinstance(exc, stripe.IdempotencyError)) from exc
        finally:
            self.seconds += time.perf_counter() - start
        if intent.status == "requires_action":
            return ChargeResult("requires_action", intent.id, "authentication_required")
        if intent.status != "succeeded":
            error = _f(intent, "last_payment_error") or {}
            return ChargeResult("declined", intent.id, _f(error, "decline_code")
                                or _f(error, "code") or intent.status,
                                _f(error, "message") or "")
        return ChargeResult("succeeded", intent.id, movement=self._payment(intent))

    # -- pay links ----------------------------------------------------------------------------

    def price(self, balance: Decimal, minimum: Decimal, name: str, key: str) -> str:
        """A Price the client may pay between `minimum` and `balance` of (Payment Links take a
        Price, not an amount): one for each such pair, shared by every invoice with it."""
        low = self._minor(min(minimum, balance))
        high = self._minor(balance)
        price = self._call("creating a price", lambda: self._client.v1.prices.create(
            params={"currency": self.currency.lower(), "product_data": {"name": name},
                    "custom_unit_amount": {"enabled": True, "minimum": low, "maximum": high,
                                           "preset": high}},
            options={"idempotency_key": key}))
        return str(price.id)

    def pay_link(self, invoice_number: str, client_id: str, price: str, key: str) -> Link:
        """A Payment Link for one invoice: its number shown on the page and carried in the
        metadata of the link and of the payment it takes."""
        metadata = {"invoice_number": invoice_number, "client_id": client_id}
        link = self._call("creating a pay link", lambda: self._client.v1.payment_links.create(
            params={"line_items": [{"price": price, "quantity": 1}], "metadata": metadata,
                    "payment_intent_data": {"metadata": metadata},
                    "custom_text": {"submit": {"message": f"Invoice {invoice_number}"}}},
            options={"idempotency_key": key}))
        return Link(link.id, link.url)

    def deactivate_link(self, link_id: str) -> None:
        self._call("deactivating a pay link", lambda: self._client.v1.payment_links.update(
            link_id, params={"active": False}))

    def card_setup_link(self, customer_id: str, client_id: str, return_url: str, key: str,
                        cancel_url: str = "") -> Link:
        """A Checkout Session in setup mode: where the client saves a card."""
        params: dict[str, Any] = {"mode": "setup", "customer": customer_id,
                                  "currency": self.currency.lower(), "success_url": return_url,
                                  "metadata": {"client_id": client_id}}
        if cancel_url:
            params["cancel_url"] = cancel_url
        session = self._call("creating a card link",
                             lambda: self._client.v1.checkout.sessions.create(
                                 params=params,  # type: ignore[arg-type]
                                 options={"idempotency_key": key}))
        return Link(session.id, session.url or "")

    def payment_checkout(self, amount: Decimal, client_id: str, invoice_number: str,
                         name: str, success_url: str, cancel_url: str, email: str = "",
                         customer_id: str = "") -> Link:
        """A Checkout Session in payment mode for exactly `amount` (the portal's pay form):
        the client and invoice in the metadata of the session and of the payment it takes,
        so the daily pull files the payment under the client."""
        metadata = {"client_id": client_id}
        if invoice_number:
            metadata["invoice_number"] = invoice_number
        params: dict[str, Any] = {
            "mode": "payment", "success_url": success_url, "cancel_url": cancel_url,
            "line_items": [{"quantity": 1, "price_data": {
                "currency": self.currency.lower(), "unit_amount": self._minor(amount),
                "product_data": {"name": name}}}],
            "metadata": metadata, "payment_intent_data": {"metadata": metadata}}
        if customer_id:
            params["customer"] = customer_id
        elif email:
            params["customer_email"] = email
        session = self._call("starting a card payment",
                             lambda: self._client.v1.checkout.sessions.create(
                                 params=params))  # type: ignore[arg-type]
        return Link(session.id, session.url or "")

    def checkout(self, session_id: str) -> Checkout | None:
        """A Checkout Session read back from Stripe; None when there is no such session."""
        import stripe

        try:
            obj = self._call("reading a checkout session",
                             lambda: self._client.v1.checkout.sessions.retrieve(session_id))
        except StripeFailure as failure:
            cause = failure.__cause__
            if isinstance(cause, stripe.InvalidRequestError) and cause.http_status == 404:
                return None
            raise
        metadata = _f(obj, "metadata") or {}
        intent = _f(obj, "payment_intent") or ""
        intent = intent if isinstance(intent, str) else intent.id
        complete = _f(obj, "status") == "complete"
        paid = complete and _f(obj, "payment_status") == "paid"
        total = _f(obj, "amount_total")
        return Checkout(obj.id, _f(obj, "mode", ""), _f(metadata, "client_id", ""),
                        _f(obj, "customer") or "", paid, complete,
                        self._major(total) if paid and total is not None else Decimal("0"),
                        intent, _f(metadata, "invoice_number", ""))

    # -- reconciliation -----------------------------------------------------------------------

    def movements(self, since: int) -> Iterator[Movement]:
        """Succeeded payments, refunds and lost disputes created at or after `since`."""
        created = {"gte": since}
        intents = self._call("listing payments", lambda: self._client.v1.payment_intents.list(
            params={"created": created, "limit": 100,
                    "expand": ["data.latest_charge.balance_transaction"]}))
        for intent in self._paged(intents, "listing payments"):
            if intent.status == "succeeded":
                yield self._payment(intent)
        refunds = self._call("listing refunds", lambda: self._client.v1.refunds.list(
            params={"created": created, "limit": 100}))
        for refund in self._paged(refunds, "listing refunds"):
            if refund.status in ("succeeded", "pending"):
                yield taken_back(refund, "refund", self.currency)
        disputes = self._call("listing disputes", lambda: self._client.v1.disputes.list(
            params={"created": {"gte": since - 120 * 86400}, "limit": 100}))
        for dispute in self._paged(disputes, "listing disputes"):
            if dispute.status == "lost":
                yield taken_back(dispute, "dispute", self.currency)

    def _paged(self, first: Any, doing: str) -> Iterator[Any]:
        page = first
        while True:
            yield from page.data
            if not page.has_more:
                return
            page = self._call(doing, page.next_page)

    def _payment(self, intent: Any) -> Movement:
        return payment_movement(intent, self.currency)


def payment_movement(intent: Any, currency: str) -> Movement:
    """A succeeded PaymentIntent (its charge's balance transaction expanded, for the fee)."""
    latest = _f(intent, "latest_charge")
    charge_id = latest if isinstance(latest, str) else (latest.id if latest else "")
    fee = Decimal("0")
    if latest is not None and not isinstance(latest, str):
        txn = _f(latest, "balance_transaction")
        if txn is not None and not isinstance(txn, str):
            fee = from_minor(txn.fee, currency)
    metadata = _f(intent, "metadata") or {}
    received = _f(intent, "amount_received") or intent.amount
    return Movement(intent.id, "payment", from_minor(received, currency), fee, intent.created,
                    _f(intent, "customer") or "", intent.id, charge_id,
                    _f(metadata, "invoice_number", ""), _f(metadata, "client_id", ""))


def taken_back(obj: Any, kind: str, currency: str) -> Movement:
    """A refund or a lost dispute: negative, going where its payment went."""
    return Movement(obj.id, kind, -from_minor(obj.amount, currency), Decimal("0"),
                    obj.created, "", _f(obj, "payment_intent") or "", _f(obj, "charge") or "")


def webhook_movement(payload: bytes, signature: str, secret: str, currency: str
                     ) -> Movement | None:
    """The money an event from Stripe's webhook moved, after checking Stripe's signature
    (`Stripe-Signature` header, signed with the endpoint's secret): a succeeded payment, a
    refund, a lost dispute; None for any other event. A bad signature is a StripeFailure."""
    import stripe

    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise StripeFailure(Problem("config.yaml: stripe.webhook_secret_env",
                                    "a webhook call did not carry Stripe's signature",
                                    "check the endpoint's signing secret; the call was "
                                    "ignored")) from exc
    obj = event.data.object
    if event.type == "payment_intent.succeeded":
        return payment_movement(obj, currency)
    if event.type in ("refund.created", "refund.updated") and \
            _f(obj, "status") in ("succeeded", "pending"):
        return taken_back(obj, "refund", currency)
    if event.type == "charge.dispute.closed" and _f(obj, "status") == "lost":
        return taken_back(obj, "dispute", currency)
    return None


def _f(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a Stripe object (or of a plain dict), `default` when it is absent."""
    if obj is None:
        return default
    if isinstance(obj, dict) and not hasattr(obj, "to_dict"):
        return obj.get(name, default)
    value = getattr(obj, name, None)
    return default if value is None else value


def _card(pm: Any) -> Card:
    card = _f(pm, "card") or {}
    return Card(pm.id, _f(card, "brand", ""), _f(card, "last4", ""),
                int(_f(card, "exp_month", 0)), int(_f(card, "exp_year", 0)))


def when(created: int, tz: dt.tzinfo) -> dt.datetime:
    """A Stripe timestamp in the configured time zone, naive (as the run's clock)."""
    return dt.datetime.fromtimestamp(created, dt.UTC).astimezone(tz).replace(tzinfo=None)
