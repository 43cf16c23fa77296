"""A Stripe-compatible test server: `localstripe` (PyPI) with the routes it lacks added to its app.

Run it with `python -m tests.stripe_server --port 8420` (the tests start it through the
`stripe_server` fixture on a free 127.0.0.1 port). The `stripe` library talks to it through
`stripe.api_base` exactly as it talks to api.stripe.com; everything added answers in the object
shapes and error bodies of Stripe's API reference.

Added to localstripe, and why:

- `POST /v1/prices`, `GET /v1/prices/{id}`: Payment Links need a Price; a pay link for an
  invoice is a Price with `custom_unit_amount` (minimum, maximum, preset) so the client may pay
  the whole balance or a part of it.
- `POST|GET /v1/payment_links`, `GET|POST /v1/payment_links/{id}`: the pay link of an invoice
  (`metadata`, `payment_intent_data.metadata`, `active`; `url`). Deactivated with
  `active=false`.
- `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions/{id}`, `.../expire`: Checkout in
  `setup` mode (a link where the client adds a card) and in `payment` mode.
- `GET /v1/customers/search`: find a customer by `metadata['client_id']:'C001'` (Stripe's
  search query language, the `metadata[...]` and `email` fields only).
- `GET /v1/payment_intents`, `/v1/charges`, `/v1/refunds`, `/v1/disputes` with `created[gte|gt|
  lte|lt]`, `customer`, `limit` and `starting_after`, newest first: reconciliation pulls what
  happened since its cursor (localstripe lists these without the `created` filters).
- Idempotent requests: a POST with an `Idempotency-Key` already used with the same parameters
  answers the first response again (with `Idempotent-Replayed: true`); with other parameters,
  Stripe's 400 `idempotency_error`.
- Decline codes of Stripe's test cards when charged: 4000000000000002 `card_declined`,
  4000000000009995 `insufficient_funds`, 4000000000000069 `expired_card`,
  4000000000000341 `card_declined`; 4000002500003155 needs authentication (an off-session
  charge fails with `authentication_required`, as Stripe does; on-session it `requires_action`).
  Errors carry `type: card_error`, `code`, `decline_code` and the `payment_intent`.
- A card fee on every charge (2.9 % + 30 cents, Stripe's US list price) in its
  balance transaction, so fees and net can be checked.
- A refund names its `payment_intent` however it was asked for, as Stripe's do.
- Speed, for the benchmark: a charge's refunds are indexed (localstripe scans the whole store
  for each charge it exports), and a customer's subscriptions are an empty list (the tool makes
  none); lists are filtered and cut to a page before they are exported.

Test-only routes (no Stripe equivalent), standing for the client's browser or for time:

- `POST /_test/payment_links/{id}/pay` (`amount` in cents, `card`): the client pays through the
  link; answers the completed Checkout Session or the card error.
- `POST /_test/checkout/sessions/{id}/complete` (`card`): the client finishes a Checkout
  Session; in setup mode the card is attached to the customer (not made default: Stripe does
  not either), in payment mode it is charged.
- `POST /_test/charges/{id}/dispute` (`status`, default `lost`): a dispute on a charge.
- `POST /_test/clock` (`now`, unix seconds): the server's clock, so objects are `created` on the
  day a test's run acts as.
- `POST /_test/fail` (`status`, `count`): the next `count` API requests answer `status` (500,
  429, 503): Stripe having a bad day.
- `DELETE /_config/data` (localstripe's own): forget everything.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError
from localstripe.resources import (
    BalanceTransaction,
    Charge,
    Customer,
    PaymentIntent,
    PaymentMethod,
    Refund,
    store,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DECLINES = {"4000000000000002": "card_declined", "4000000000009995": "insufficient_funds",
            "4000000000000069": "expired_card", "4000000000000341": "card_declined",
            "4000000000000127": "incorrect_cvc"}
MESSAGES = {"card_declined": "Your card was declined.",
            "insufficient_funds": "Your card has insufficient funds.",
            "expired_card": "Your card has expired.",
            "incorrect_cvc": "Your card's security code is incorrect.",
            "authentication_required": "Your card was declined. This transaction requires "
                                       "authentication."}
AUTHENTICATE = {"4000002500003155", "4000002760003184", "4000003800000446"}


# -- the clock, the disk, and localstripe's card rules ------------------------------------------

class _Clock:
    """Stands in for the `time` module inside localstripe's resources."""

    offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


CLOCK = _Clock()
resources.time = CLOCK  # type: ignore[attr-defined]
resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]


def _charging_is_declined(self: PaymentMethod) -> bool:
    return self.type == "card" and self._card_number in DECLINES


def _requires_authentication(self: PaymentMethod) -> bool:
    return self.type == "card" and self._card_number in AUTHENTICATE


PaymentMethod._charging_is_declined = _charging_is_declined  # type: ignore[method-assign]
PaymentMethod._requires_authentication = _requires_authentication  # type: ignore[method-assign]
PaymentMethod._attaching_is_declined = lambda self: False  # type: ignore[method-assign]

_charge_auth_failure = Charge._set_auth_failure


def _set_auth_failure(self: Charge) -> None:
    _charge_auth_failure(self)
    pm = PaymentMethod._api_retrieve(self.payment_method)
    code = DECLINES.get(getattr(pm, "_card_number", ""), "card_declined")
    self.failure_code = code
    self.failure_message = MESSAGES[code]
    self.outcome = {"type": "issuer_declined", "reason": code}


Charge._set_auth_failure = _set_auth_failure  # type: ignore[method-assign]

_txn_init = BalanceTransaction.__init__


def _txn_with_fee(self: BalanceTransaction, *args: Any, **kwargs: Any) -> None:
    _txn_init(self, *args, **kwargs)
    if self.type == "charge":
        self.fee = round(self.amount * 0.029) + 30
        self.fee_details = [{"amount": self.fee, "currency": self.currency,
                             "description": "Stripe processing fees", "type": "stripe_fee"}]


BalanceTransaction.__init__ = _txn_with_fee  # type: ignore[method-assign]


class CardError(UserError):
    """Stripe's 402: `type: card_error` with `code`, `decline_code` and the PaymentIntent."""

    def __init__(self, code: str, intent: PaymentIntent | None = None, charge: str = "") -> None:
        contents: dict[str, Any] = {"code": code, "decline_code": code,
                                    "message": MESSAGES.get(code, "Your card was declined.")}
        if charge:
            contents["charge"] = charge
        if intent is not None:
            contents["payment_intent"] = intent._export()
        super().__init__(402, contents["message"], contents)
        self.body["error"]["type"] = "card_error"
        if code == "authentication_required":
            self.body["error"]["code"] = "authentication_required"


_pi_init = PaymentIntent.__init__


def _pi_init_more(self: PaymentIntent, *args: Any, description: str | None = None,
                  statement_descriptor_suffix: str | None = None,
                  receipt_email: str | None = None, **kwargs: Any) -> None:
    """localstripe's PaymentIntent, also taking the fields the tool sends."""
    _pi_init(self, *args, **kwargs)
    self.description = description
    self.statement_descriptor_suffix = statement_descriptor_suffix
    self.receipt_email = receipt_email


PaymentIntent.__init__ = _pi_init_more  # type: ignore[method-assign]

_refund_init = Refund.__init__


def _refund_with_intent(self: Refund, *args: Any, **kwargs: Any) -> None:
    """A refund names its PaymentIntent, as Stripe's do, however it was asked for."""
    _refund_init(self, *args, **kwargs)
    if self.payment_intent is None:
        self.payment_intent = Charge._api_retrieve(self.charge).payment_intent


Refund.__init__ = _refund_with_intent  # type: ignore[method-assign]
Charge.refunds = property(  # type: ignore[assignment,method-assign]
    lambda self: _refund_list(self.id))


def _refund_list(charge: str) -> Any:
    """A charge's refunds without scanning every object in the store (localstripe does)."""
    found = resources.List("/v1/charges/" + charge + "/refunds")
    found._list = [r for r in REFUNDS if r.charge == charge]
    return found


REFUNDS: list[Refund] = []
# Exporting a customer lists its subscriptions by scanning the whole store (localstripe): the
# tool makes none, so the list is empty at once (a bench of 2,000 customers stays linear).
Customer.subscriptions = property(  # type: ignore[assignment,method-assign]
    lambda self: resources.List("/v1/customers/" + self.id + "/subscriptions"))
_refund_init_indexed = Refund.__init__


def _refund_indexed(self: Refund, *args: Any, **kwargs: Any) -> None:
    _refund_init_indexed(self, *args, **kwargs)
    REFUNDS.append(self)


Refund.__init__ = _refund_indexed  # type: ignore[method-assign]


def _report_failure(self: PaymentIntent) -> None:
    resources.schedule_webhook(resources.Event("payment_intent.payment_failed", self))
    raise CardError(self.latest_charge.failure_code, self, self.latest_charge.id)


PaymentIntent._report_failure = _report_failure  # type: ignore[method-assign]
_pi_api_create = PaymentIntent._api_create.__func__  # type: ignore[attr-defined]


def _pi_create(cls: type[PaymentIntent], confirm: Any = None, off_session: Any = None,
               **data: Any) -> PaymentIntent:
    """Off-session and the card wants authentication: Stripe fails the payment at once with
    `authentication_required` (the client must come back on-session), as here."""
    off = str(off_session).lower() == "true"
    if off and data.get("payment_method"):
        pm = PaymentMethod._api_retrieve(data["payment_method"])
        if pm._requires_authentication():
            intent = _pi_api_create(cls, **data)
            intent.payment_method = None
            intent._authentication_failed = True
            raise CardError("authentication_required", intent)
    return _pi_api_create(cls, confirm=confirm, off_session=off_session, **data)  # type: ignore[no-any-return]


PaymentIntent._api_create = classmethod(_pi_create)  # type: ignore[method-assign,assignment]
PaymentIntent.amount_received = property(  # type: ignore[attr-defined]
    lambda self: self.amount if self.status == "succeeded" else 0)


# -- objects localstripe does not have -----------------------------------------------------------

def _now() -> int:
    return int(CLOCK.time())


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(7)


KIND_PREFIX = {"price": "price_", "payment_link": "plink_", "checkout.session": "cs_test_",
               "dispute": "dp_"}
OBJECTS: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KIND_PREFIX}


def _make(kind: str, **fields: Any) -> dict[str, Any]:
    obj = {"id": _new_id(KIND_PREFIX[kind]), "object": kind, "created": _now(),
           "livemode": False, **fields}
    OBJECTS[kind][obj["id"]] = obj
    return obj


def _get(kind: str, object_id: str) -> dict[str, Any]:
    obj = OBJECTS[kind].get(object_id)
    if obj is None:
        raise UserError(404, f"No such {kind.split('.')[-1]}: '{object_id}'",
                        {"code": "resource_missing"})
    return obj


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(400, f"Invalid integer: {value}", {"param": name}) from None


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


async def _params(request: web.Request) -> dict[str, Any]:
    data = await server.get_post_data(request) if request.method == "POST" else None
    params = dict(data or {})
    params.update(server.unflatten_data(request.query) or {})
    return params


def _json(obj: Any, status: int = 200) -> web.Response:
    return server.json_response(obj, status=status)


async def create_price(request: web.Request) -> web.Response:
    p = await _params(request)
    custom = p.get("custom_unit_amount") or None
    if custom is not None:
        custom = {"enabled": _bool(custom.get("enabled")),
                  "minimum": _int(custom["minimum"], "minimum") if "minimum" in custom else None,
                  "maximum": _int(custom["maximum"], "maximum") if "maximum" in custom else None,
                  "preset": _int(custom["preset"], "preset") if "preset" in custom else None}
    elif "unit_amount" not in p:
        raise UserError(400, "Missing required param: unit_amount.", {"param": "unit_amount"})
    if not p.get("currency"):
        raise UserError(400, "Missing required param: currency.", {"param": "currency"})
    product = p.get("product") or _new_id("prod_")
    price = _make("price", active=True, currency=p["currency"], custom_unit_amount=custom,
                  unit_amount=_int(p["unit_amount"], "unit_amount") if "unit_amount" in p
                  else None, product=product, metadata=p.get("metadata") or {},
                  type="one_time", billing_scheme="per_unit",
                  product_data=p.get("product_data"))
    return _json(price)


async def create_payment_link(request: web.Request) -> web.Response:
    p = await _params(request)
    items = p.get("line_items") or []
    if not items:
        raise UserError(400, "Missing required param: line_items.", {"param": "line_items"})
    lines = []
    for item in items:
        price = _get("price", item.get("price", ""))
        lines.append({"price": price["id"], "quantity": _int(item.get("quantity", 1),
                                                              "quantity")})
    host = request.host
    link_id = _new_id("plink_")
    link = _make("payment_link", active=True, metadata=p.get("metadata") or {},
                 line_items={"object": "list", "data": lines},
                 payment_intent_data=p.get("payment_intent_data") or {},
                 currency=_get("price", lines[0]["price"])["currency"],
                 url=f"http://{host}/pay/{link_id}")
    OBJECTS["payment_link"].pop(link["id"])
    link["id"] = link_id
    OBJECTS["payment_link"][link_id] = link
    return _json(link)


def get_object(kind: str) -> Handler:
    async def get(request: web.Request) -> web.Response:
        return _json(_get(kind, request.match_info["id"]))
    return get


async def update_payment_link(request: web.Request) -> web.Response:
    p = await _params(request)
    link = _get("payment_link", request.match_info["id"])
    if "active" in p:
        link["active"] = _bool(p["active"])
    if "metadata" in p:
        link["metadata"].update(p["metadata"])
    return _json(link)


async def create_checkout_session(request: web.Request) -> web.Response:
    p = await _params(request)
    mode = p.get("mode")
    if mode not in ("payment", "setup"):
        raise UserError(400, "Invalid mode: must be one of payment, setup or subscription",
                        {"param": "mode"})
    if p.get("customer"):
        Customer._api_retrieve(p["customer"])
    session_id = _new_id("cs_test_")
    session = _make("checkout.session", mode=mode, customer=p.get("customer"),
                    metadata=p.get("metadata") or {}, status="open", payment_status="unpaid",
                    payment_intent=None, setup_intent=None, success_url=p.get("success_url"),
                    cancel_url=p.get("cancel_url"), line_items=p.get("line_items"),
                    payment_intent_data=p.get("payment_intent_data") or {},
                    currency=p.get("currency"), expires_at=_now() + 24 * 3600,
                    amount_total=None,
                    url=f"http://{request.host}/c/pay/{session_id}")
    OBJECTS["checkout.session"].pop(session["id"])
    session["id"] = session_id
    OBJECTS["checkout.session"][session_id] = session
    return _json(session)


async def expire_checkout_session(request: web.Request) -> web.Response:
    session = _get("checkout.session", request.match_info["id"])
    if session["status"] != "open":
        raise UserError(400, "Only Checkout Sessions with a status of open can be expired.")
    session["status"] = "expired"
    return _json(session)


def _card(number: str, customer: str | None) -> PaymentMethod:
    pm = PaymentMethod(type="card", card={"number": number, "exp_month": "12",
                                          "exp_year": "2030", "cvc": "123"})
    if customer:
        pm.customer = customer
    return pm


def _pay(amount: int, currency: str, number: str, metadata: dict[str, Any],
         customer: str | None, description: str = "") -> PaymentIntent:
    pm = _card(number, None)
    intent = PaymentIntent._api_create(amount=amount, currency=currency, customer=customer,
                                       payment_method=pm.id, metadata=dict(metadata),
                                       confirm="true", description=description or None)
    return intent  # type: ignore[no-any-return]


async def pay_payment_link(request: web.Request) -> web.Response:
    """The client opens the link, types an amount and a card, and pays."""
    p = await _params(request)
    link = _get("payment_link", request.match_info["id"])
    if not link["active"]:
        raise UserError(400, "This payment link is no longer active.",
                        {"code": "payment_link_inactive"})
    price = _get("price", link["line_items"]["data"][0]["price"])
    custom = price["custom_unit_amount"]
    amount = _int(p.get("amount", (custom or {}).get("preset") or price["unit_amount"]),
                  "amount")
    if custom and not ((custom["minimum"] or 0) <= amount <= (custom["maximum"] or amount)):
        raise UserError(400, "The amount is outside what this link accepts.",
                        {"param": "amount"})
    metadata = (link["payment_intent_data"] or {}).get("metadata") or {}
    intent = _pay(amount, price["currency"], p.get("card", "4242424242424242"), metadata,
                  p.get("customer"))
    paid = intent.status == "succeeded"
    session = _make("checkout.session", mode="payment", customer=intent.customer,
                    payment_link=link["id"], metadata=link["metadata"],
                    status="complete" if paid else "open",
                    payment_status="paid" if paid else "unpaid", payment_intent=intent.id,
                    amount_total=amount,
                    currency=price["currency"], url=None)
    return _json(session)


async def complete_checkout_session(request: web.Request) -> web.Response:
    p = await _params(request)
    session = _get("checkout.session", request.match_info["id"])
    if session["status"] != "open":
        raise UserError(400, "This Checkout Session is no longer open.")
    number = p.get("card", "4242424242424242")
    if session["mode"] == "setup":
        pm = _card(number, session["customer"])
        session["setup_intent"] = _new_id("seti_")
        session["payment_method"] = pm.id
    else:
        item = (session["line_items"] or [{}])[0]
        data = item.get("price_data") or {}
        amount = _int(data.get("unit_amount"), "unit_amount") * _int(item.get("quantity", 1),
                                                                      "quantity")
        metadata = session["payment_intent_data"].get("metadata") or {}
        intent = _pay(amount, data.get("currency", "usd"), number, metadata,
                      session["customer"])
        session["payment_intent"] = intent.id
        session["amount_total"] = amount
        session["payment_status"] = "paid" if intent.status == "succeeded" else "unpaid"
    session["status"] = "complete"
    return _json(session)


async def dispute_charge(request: web.Request) -> web.Response:
    p = await _params(request)
    charge = Charge._api_retrieve(request.match_info["id"])
    dispute = _make("dispute", amount=charge.amount, currency=charge.currency,
                    charge=charge.id, payment_intent=charge.payment_intent,
                    status=p.get("status", "lost"), reason=p.get("reason", "fraudulent"),
                    metadata={})
    return _json(dispute)


async def set_clock(request: web.Request) -> web.Response:
    p = await _params(request)
    CLOCK.offset = float(p["now"]) - time.time()
    return _json({"now": _now()})


FAILING: dict[str, int] = {"status": 0, "count": 0}


async def fail_next(request: web.Request) -> web.Response:
    p = await _params(request)
    FAILING.update(status=_int(p.get("status", 500), "status"),
                   count=_int(p.get("count", 1), "count"))
    return _json(FAILING)


async def flush(request: web.Request) -> web.Response:
    store.clear()
    for objects in OBJECTS.values():
        objects.clear()
    IDEMPOTENT.clear()
    REFUNDS.clear()
    FAILING.update(status=0, count=0)
    CLOCK.offset = 0.0
    return web.Response()


# -- lists with `created` filters, and customer search --------------------------------------------

def _created_ok(created: int, bounds: Any) -> bool:
    if not isinstance(bounds, dict):
        return bounds in (None, "") or created == _int(bounds, "created")
    checks = {"gt": created.__gt__, "gte": created.__ge__, "lt": created.__lt__,
              "lte": created.__le__}
    return all(checks[op](_int(v, "created")) for op, v in bounds.items() if op in checks)


def _page(request: web.Request, items: list[dict[str, Any]], params: dict[str, Any]
          ) -> web.Response:
    items = [i for i in items if _created_ok(i["created"], params.get("created"))]
    items.sort(key=lambda i: (i["created"], i["id"]), reverse=True)
    if params.get("starting_after"):
        ids = [i["id"] for i in items]
        if params["starting_after"] in ids:
            items = items[ids.index(params["starting_after"]) + 1:]
    limit = min(_int(params.get("limit", 10), "limit"), 100)
    return _json({"object": "list", "url": request.path, "data": items[:limit],
                  "has_more": len(items) > limit})


async def list_objects(request: web.Request) -> web.Response:
    """A page of objects, filtered and cut before localstripe exports them (its export of a
    charge scans the whole store for refunds: a page of 100 out of 20,000 stays fast)."""
    params = await _params(request)
    expand = [e.removeprefix("data.") for e in params.pop("expand", None) or []]
    kind = request.path.rsplit("/", 1)[-1]
    if kind in ("disputes", "payment_links"):
        items = list(OBJECTS[kind.removesuffix("s")].values())
        if params.get("customer"):
            items = [i for i in items if i.get("customer") == params["customer"]]
        return _page(request, items, params)
    cls = {"payment_intents": PaymentIntent, "charges": Charge, "refunds": Refund}[kind]
    prefix = cls.object + ":"
    objects = [obj for key, obj in list(store.items()) if key.startswith(prefix)
               and _created_ok(obj.created, params.get("created"))
               and (not params.get("customer")
                    or getattr(obj, "customer", None) == params["customer"])]
    objects.sort(key=lambda o: (o.created, o.id), reverse=True)
    if params.get("starting_after"):
        ids = [o.id for o in objects]
        if params["starting_after"] in ids:
            objects = objects[ids.index(params["starting_after"]) + 1:]
    limit = min(_int(params.get("limit", 10), "limit"), 100)
    items = [o._export(expand=expand) for o in objects[:limit]]
    for item in items:  # Stripe gives ids unless expanded; localstripe inlines objects
        latest = item.get("latest_charge")
        if isinstance(latest, dict) and not any(e.startswith("latest_charge") for e in expand):
            item["latest_charge"] = latest["id"]
    return _json({"object": "list", "url": request.path, "data": items,
                  "has_more": len(objects) > limit})


def _search_matches(customer: dict[str, Any], query: str) -> bool:
    for clause in query.split(" AND "):
        field, _, value = clause.partition(":")
        value = value.strip().strip("'\"")
        field = field.strip()
        if field.startswith("metadata["):
            key = field[len("metadata["):-1].strip("'\"")
            if (customer.get("metadata") or {}).get(key) != value:
                return False
        elif field in ("email", "name"):
            if customer.get(field) != value:
                return False
        else:
            raise UserError(400, f"Field '{field}' is an unsupported search field for "
                            "customers.", {"param": "query"})
    return True


async def search_customers(request: web.Request) -> web.Response:
    params = await _params(request)
    query = params.get("query") or ""
    if not query:
        raise UserError(400, "Missing required param: query.", {"param": "query"})
    customers = [obj for key, obj in list(store.items()) if key.startswith("customer:")]
    found = [c._export() for c in customers if _search_matches(
        {"metadata": c.metadata, "email": c.email, "name": c.name}, query)]
    found.sort(key=lambda c: (c["created"], c["id"]))
    return _json({"object": "search_result", "url": "/v1/customers/search", "data": found,
                  "has_more": False, "next_page": None})


# Paths localstripe already routes (to handlers without these features): answered first.
OVERRIDES: dict[tuple[str, str], Handler] = {
    ("GET", "/v1/customers/search"): search_customers,
    ("GET", "/v1/payment_intents"): list_objects,
    ("GET", "/v1/charges"): list_objects,
    ("GET", "/v1/refunds"): list_objects,
}


# -- idempotent requests, injected failures -----------------------------------------------------

IDEMPOTENT: dict[tuple[str, str], tuple[list[tuple[str, str]], int, bytes]] = {}


def _api_key(request: web.Request) -> str:
    return request.headers.get("Authorization", "")


@web.middleware
async def stripe_features(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Injected failures, Stripe's idempotent replay, and the overridden routes."""
    api = request.path.startswith("/v1/")
    if api and FAILING["count"] > 0:
        FAILING["count"] -= 1
        status = FAILING["status"]
        kind = "rate_limit_error" if status == 429 else "api_error"
        headers = {"Stripe-Should-Retry": "true"} if status != 429 else {}
        return server.json_response({"error": {"type": kind, "message": "Injected failure"}},
                                    status=status, headers=headers)
    handler = OVERRIDES.get((request.method, request.path), handler)
    key = request.headers.get("Idempotency-Key")
    if not (api and request.method == "POST" and key):
        return await handler(request)
    body = await request.read()
    params = sorted(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    seen = IDEMPOTENT.get((_api_key(request), key))
    if seen is not None:
        first_params, status, first_body = seen
        if first_params != params:
            return server.json_response({"error": {
                "type": "idempotency_error",
                "message": "Keys for idempotent requests can only be used with the same "
                           "parameters they were first used with. Try using a key other than "
                           f"'{key}' if you meant to execute a different request."}},
                status=400)
        return web.Response(body=first_body, status=status, content_type="application/json",
                            headers={"Idempotent-Replayed": "true", "Idempotency-Key": key})
    try:
        response = await handler(request)
    except UserError as exc:
        response = exc.to_response()
    if isinstance(response, web.Response) and response.status in (200, 402):
        # what began executing is kept (Stripe does not keep validation errors or 5xx)
        IDEMPOTENT[(_api_key(request), key)] = (params, response.status,
                                                bytes(response.body or b""))  # type: ignore[arg-type]
    response.headers["Idempotency-Key"] = key
    return response


def make_app() -> web.Application:
    """localstripe's app with the routes above; call once per process."""
    app = server.app
    app.middlewares.insert(1, stripe_features)  # inside error_middleware, before auth
    router = app.router
    router.add_post("/v1/prices", create_price)
    router.add_post("/v1/payment_links", create_payment_link)
    router.add_post("/v1/payment_links/{id}", update_payment_link)
    router.add_post("/v1/checkout/sessions", create_checkout_session)
    router.add_post("/v1/checkout/sessions/{id}/expire", expire_checkout_session)
    router.add_get("/v1/disputes", list_objects)
    router.add_get("/v1/payment_links", list_objects)
    for path, kind in (("prices", "price"), ("payment_links", "payment_link"),
                       ("checkout/sessions", "checkout.session"), ("disputes", "dispute")):
        router.add_get(f"/v1/{path}/{{id}}", get_object(kind))
    router.add_post("/_test/payment_links/{id}/pay", pay_payment_link)
    router.add_post("/_test/checkout/sessions/{id}/complete", complete_checkout_session)
    router.add_post("/_test/charges/{id}/dispute", dispute_charge)
    router.add_post("/_test/clock", set_clock)
    router.add_post("/_test/fail", fail_next)
    router.add_delete("/_test/data", flush)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    print(f"stripe test server on http://{args.host}:{args.port}", flush=True)
    web.run_app(make_app(), sock=sock, print=None, access_log=None)


if __name__ == "__main__":
    main()
