"""A local Microsoft Partner Center and its Microsoft Entra ID authority: one HTTPS server (a
certificate of tests/fakes/sefin_nacional.CertificateAuthority) answering both, as published.

Sources (learn.microsoft.com; the payloads below are shaped on their examples):
- authority: "Microsoft identity platform and OAuth 2.0 On-Behalf-Of / refresh token flow" and
  "OpenID Connect on the Microsoft identity platform" — `/{tenant}/v2.0/.well-known/openid-configuration`,
  `POST /{tenant}/oauth2/v2.0/token` (grant_type=refresh_token, client_id, client_secret, scope)
  → {"token_type", "scope", "expires_in", "access_token", "refresh_token"} or
  {"error", "error_description", "error_codes"}; partner-center/developer "Enable the secure
  application model" (app + a partner admin's refresh token).
- partner-center/developer: "Partner Center REST headers" (MS-RequestId, MS-CorrelationId,
  X-Locale), "Partner Center REST error codes" ({"code", "description", "data", "source"}; 2001
  quantity change while suspended, 2011 deleted subscription cannot be updated), "API throttling
  guidance" (429 + Retry-After), "Get a customer by name" (the `filter` JSON, starts_with),
  "Verify domain availability" (HEAD /v1/domains/{domain}: 200 taken, 404 free), "Create a
  customer", "Get a list of availabilities for a SKU (by country)", "Create a cart", "Checkout a
  cart" (idempotent per cart), "Get an order by ID" (status pending|completed|cancelled), "Get a
  list of subscriptions by order", "Change the quantity of a subscription", "Suspend a
  subscription", "Reactivate a suspended subscription", "Cancel a commercial marketplace or new
  commerce subscription" (PATCH status "deleted" while `refundOptions[].expiresAt` is ahead; past
  the window "the API will throw an error" — the docs name no code, this fake answers 400 with
  CANCELLATION_WINDOW_CLOSED below).
- Offers: Microsoft 365 Business Basic CFQ7TTC0LH18:0001 (availability CFQ7TTC0K971, from the
  cancellation article's example) and Microsoft 365 Business Premium CFQ7TTC0LCHC:0002 (its
  availability ids here are made up: they change over time, the adapter reads them).

    with FakePartnerCenter(CertificateAuthority()) as pc:
        PartnerCenterApi(api_url=pc.url, authority_host=pc.url, ca_bundle=pc.ca_bundle, ...)
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Deque, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.sefin_nacional import CertificateAuthority

TENANT = "3c6e1e4b-59d5-4c1e-9a4e-partner00001"
APP_ID = "9f1b7a52-1d2c-4f8e-8a4b-app000000001"
APP_SECRET = "segredo-do-app-de-teste"
REFRESH_TOKEN = "rt-inicial-de-teste"
SCOPE = "https://api.partnercenter.microsoft.com/.default"

# This fake's answer to a cancellation past New Commerce's window (the docs name no code).
CANCELLATION_WINDOW_CLOSED = "800002"
QUANTITY_WHILE_SUSPENDED = "2001"
DELETED_CANNOT_BE_UPDATED = "2011"

CATALOG = {
    ("CFQ7TTC0LH18", "0001"): [  # Microsoft 365 Business Basic
        ("CFQ7TTC0K971", [("P1Y", "monthly"), ("P1Y", "annual")]),
        ("CFQ7TTC0K5DM", [("P1M", "monthly")]),
    ],
    ("CFQ7TTC0LCHC", "0002"): [  # Microsoft 365 Business Premium
        ("CFQ7TTC0PB0M", [("P1M", "monthly")]),
        ("CFQ7TTC0PB0P", [("P1Y", "monthly"), ("P1Y", "annual")]),
        ("CFQ7TTC0PB0Q", [("P3Y", "triennial")]),
    ],
}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query
    query: Dict[str, str]
    request_id: Optional[str]
    correlation_id: Optional[str]
    locale: Optional[str]
    body: Optional[dict]


@dataclass
class _Order:
    id: str
    customer_id: str
    lines: List[dict]
    polls_left: int
    status: str = "pending"


@dataclass
class _State:
    customers: Dict[str, dict] = field(default_factory=dict)
    taken_domains: set = field(default_factory=set)
    carts: Dict[str, dict] = field(default_factory=dict)
    orders: Dict[str, _Order] = field(default_factory=dict)
    subscriptions: Dict[str, dict] = field(default_factory=dict)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakePartnerCenter:
    """The server; a context manager. Tests read `requests` (the API's), `token_requests` and the
    state; they script failures with `fail_next`, `throttle_next`, `refuse_next`, `expire_tokens`."""

    def __init__(self, authority: Optional[CertificateAuthority] = None):
        self.authority = authority or CertificateAuthority()
        self._lock = threading.RLock()
        self._directory: Optional[str] = None
        self._server: Optional[ThreadingHTTPServer] = None
        self.reset()

    def reset(self) -> None:
        """Forget every customer, order, token and script (the server keeps running)."""
        self.requests: List[Recorded] = []
        self.token_requests: List[Dict[str, str]] = []  # grant_type, client_id and which refresh token
        self.refused_handshakes: List[str] = []
        self.state = _State()
        self.valid_refresh_tokens = {REFRESH_TOKEN}
        self.refresh_tokens_issued: List[str] = []
        self.access_token_seconds = 3600
        self.orders_provision_after_polls = 0  # 0: a checkout answers the subscription at once
        self.orders_name_subscriptions = True  # False: an order's lines carry no subscriptionId (ask by order)
        self._access_tokens: Dict[str, float] = {}  # token -> monotonic expiry
        self._applied: Dict[Tuple[str, str, str], Tuple[int, object]] = {}  # (method, path, MS-RequestId)
        self._script: Deque[Tuple[str, object, Optional[str], Optional[str]]] = deque()

    # -- life -----------------------------------------------------------------------------------

    def __enter__(self) -> "FakePartnerCenter":
        self._directory = tempfile.mkdtemp(prefix="fake-partner-center-")
        certificate, key = self.authority.issue_server()
        paths = {}
        for name, content in (("server.pem", certificate), ("server.key", key), ("ca.pem", self.authority.certificate_pem)):
            paths[name] = os.path.join(self._directory, name)
            with open(paths[name], "wb") as handle:
                handle.write(content)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(paths["server.pem"], paths["server.key"])
        self.ca_bundle = paths["ca.pem"]
        self._server = _TlsServer(("127.0.0.1", 0), _Handler, context=context, fake=self)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._directory, ignore_errors=True)

    # -- what a test sets up --------------------------------------------------------------------

    def add_customer(self, domain: str, name: str = "Cliente Existente Ltda") -> str:
        """A customer in the partner's list (its reseller relationship accepted)."""
        customer_id = str(uuid.uuid4())
        with self._lock:
            self.state.customers[customer_id] = {
                "id": customer_id, "commerceId": str(uuid.uuid4()),
                "companyProfile": {"tenantId": customer_id, "domain": domain, "companyName": name},
                "relationshipToPartner": "reseller", "attributes": {"objectType": "Customer"}}
            self.state.taken_domains.add(domain.lower())
        return customer_id

    def add_foreign_tenant(self, domain: str) -> None:
        """A Microsoft tenant that is not the partner's customer (no reseller relationship)."""
        with self._lock:
            self.state.taken_domains.add(domain.lower())

    def close_cancellation_window(self, subscription_id: str) -> None:
        with self._lock:
            self.state.subscriptions[subscription_id]["refundOptions"] = [
                {"type": "Full", "expiresAt": _iso(datetime.now(timezone.utc) - timedelta(days=1))}]

    # -- scripts --------------------------------------------------------------------------------

    # Each script meets the next API request of `method` (any, when None) whose path ends with
    # `path` (any, when None).

    def fail_next(self, count: int = 1, status: int = 503, method: Optional[str] = None,
                  path: Optional[str] = None) -> None:
        """The next `count` requests answer `status` without being processed."""
        for _ in range(count):
            self._script.append(("fail", status, method, path))

    def throttle_next(self, retry_after: str = "7", count: int = 1, method: Optional[str] = None,
                      path: Optional[str] = None) -> None:
        """The next `count` requests answer 429 with this Retry-After."""
        for _ in range(count):
            self._script.append(("throttle", retry_after, method, path))

    def lose_answer_next(self, method: Optional[str] = None, path: Optional[str] = None) -> None:
        """The next request is applied, and answered 503: the client cannot know it was."""
        self._script.append(("lose", None, method, path))

    def refuse_next(self, code: str, description: str, status: int = 400, method: Optional[str] = None,
                    path: Optional[str] = None) -> None:
        """The next request is refused with Partner Center's error body."""
        self._script.append(("refuse", (status, code, description), method, path))

    def change_before_next_patch(self, count: int = 1) -> None:
        """The next `count` PATCHes of a subscription find it changed since it was read (another
        writer: its etag moves just before the PATCH is handled)."""
        for _ in range(count):
            self._script.append(("concurrent", None, "PATCH", None))

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401)."""
        with self._lock:
            for token in self._access_tokens:
                self._access_tokens[token] = 0.0

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self.valid_refresh_tokens.clear()

    def _scripted(self, method: str, path: str):
        with self._lock:
            for index, (kind, value, verb, where) in enumerate(self._script):
                if (verb is None or verb == method) and (where is None or path.endswith(where)):
                    del self._script[index]
                    return kind, value
        return None

    # -- what a test reads ----------------------------------------------------------------------

    def calls(self, method: str, contains: str = "") -> List[Recorded]:
        return [r for r in self.requests if r.method == method and contains in r.path]

    # -- the authority --------------------------------------------------------------------------

    def authority_answer(self, method: str, path: str, form: Dict[str, str]) -> Tuple[int, dict, dict]:
        base = f"{self.url}/{TENANT}"
        if method == "GET" and path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            return 200, {"issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                         "token_endpoint": f"{base}/oauth2/v2.0/token",
                         "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                         "jwks_uri": f"{base}/discovery/v2.0/keys", "response_types_supported": ["code"],
                         "token_endpoint_auth_methods_supported": ["client_secret_post"]}, {}
        if method == "POST" and path == f"/{TENANT}/oauth2/v2.0/token":
            with self._lock:
                return self._token(form)
        if path.startswith("/") and "/v2.0/.well-known/" in path:
            return 400, {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found.",
                         "error_codes": [90002]}, {}
        return 404, {"error": "not_found"}, {}

    def _token(self, form: Dict[str, str]) -> Tuple[int, dict, dict]:
        self.token_requests.append({"grant_type": form.get("grant_type", ""), "client_id": form.get("client_id", ""),
                                    "refresh_token": form.get("refresh_token", "")})
        if form.get("client_id") != APP_ID or form.get("client_secret") != APP_SECRET:
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.",
                         "error_codes": [7000215]}, {}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type", "error_codes": [70003]}, {}
        if SCOPE not in (form.get("scope") or "").split():
            return 400, {"error": "invalid_scope", "error_codes": [70011]}, {}
        if form.get("refresh_token") not in self.valid_refresh_tokens:
            return 400, {"error": "invalid_grant", "error_description": "AADSTS700082: The refresh token has expired "
                         "due to inactivity.", "error_codes": [700082]}, {}
        access = "at-" + secrets.token_urlsafe(24)
        rotated = "rt-" + secrets.token_urlsafe(24)
        self._access_tokens[access] = time.monotonic() + self.access_token_seconds
        self.valid_refresh_tokens.add(rotated)  # the old one stays valid until it expires, as Entra's do
        self.refresh_tokens_issued.append(rotated)
        return 200, {"token_type": "Bearer", "scope": f"{SCOPE} offline_access", "expires_in": self.access_token_seconds,
                     "ext_expires_in": self.access_token_seconds, "access_token": access, "refresh_token": rotated}, {}

    def token_is_valid(self, header: Optional[str]) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        with self._lock:
            return self._access_tokens.get(header[len("Bearer "):], 0.0) > time.monotonic()

    # -- the API --------------------------------------------------------------------------------

    def api_answer(self, method: str, path: str, query: Dict[str, str], headers, body) -> Tuple[int, object, dict]:
        request_id = headers.get("MS-RequestId")
        if method in ("POST", "PATCH", "PUT") and request_id:
            with self._lock:
                done = self._applied.get((method, path, request_id))
            if done:
                return done[0], done[1], {}  # the same request again: its answer, nothing applied twice
        status, answer = self._route(method, path, query, headers, body)
        if method in ("POST", "PATCH", "PUT") and request_id and status < 500:
            with self._lock:
                self._applied[(method, path, request_id)] = (status, answer)
        return status, answer, {}

    @staticmethod
    def error(code: str, description: str) -> dict:
        return {"code": code, "description": description, "data": [], "source": "PartnerFD"}

    def _route(self, method: str, path: str, query: Dict[str, str], headers, body) -> Tuple[int, object]:
        with self._lock:
            if method == "GET" and path == "/v1/customers":
                return self._customers(query)
            match = re.fullmatch(r"/v1/domains/([^/]+)", path)
            if method == "HEAD" and match:
                return (200 if unquote(match.group(1)).lower() in self.state.taken_domains else 404), None
            if method == "POST" and path == "/v1/customers":
                return self._create_customer(body)
            match = re.fullmatch(r"/v1/products/([^/]+)/skus/([^/]+)/availabilities", path)
            if method == "GET" and match:
                return self._availabilities(match.group(1), match.group(2), query)
            match = re.fullmatch(r"/v1/customers/([^/]+)(/.*)", path)
            if not match:
                return 404, self.error("1000", "Not found")
            customer_id, rest = match.groups()
            if customer_id not in self.state.customers:
                return 404, self.error("1000", f"Customer {customer_id} not found")
            if method == "POST" and rest == "/carts":
                return self._create_cart(customer_id, body)
            found = re.fullmatch(r"/carts/([^/]+)/checkout", rest)
            if method == "POST" and found:
                return self._checkout(customer_id, found.group(1))
            found = re.fullmatch(r"/orders/([^/]+)", rest)
            if method == "GET" and found:
                return self._order(customer_id, found.group(1))
            if method == "GET" and rest == "/subscriptions":
                items = [s for s in self.state.subscriptions.values() if s["_customer"] == customer_id
                         and (not query.get("order_id") or s["orderId"] == query["order_id"])]
                return 200, {"totalCount": len(items), "items": [self._public(s) for s in items],
                             "attributes": {"objectType": "Collection"}}
            found = re.fullmatch(r"/subscriptions/([^/]+)", rest)
            if found:
                subscription = self.state.subscriptions.get(found.group(1))
                if subscription is None or subscription["_customer"] != customer_id:
                    return 404, self.error("1000", "Subscription not found")
                if method == "GET":
                    return 200, self._public(subscription)
                if method == "PATCH":
                    expected = headers.get("If-Match")
                    if expected and expected != subscription["attributes"]["etag"]:
                        # Optimistic concurrency: the subscription changed since the client read it.
                        return 412, self.error("412", "The subscription has been modified since it was read "
                                                      "(etag mismatch).")
                    return self._patch(subscription, body)
            return 404, self.error("1000", "Not found")

    def _customers(self, query: Dict[str, str]) -> Tuple[int, object]:
        items = list(self.state.customers.values())
        if query.get("filter"):
            wanted = json.loads(query["filter"])
            if wanted.get("Operator") != "starts_with" or wanted.get("Field") not in ("Domain", "CompanyName"):
                return 400, self.error("400", "Invalid filter")
            key = "domain" if wanted["Field"] == "Domain" else "companyName"
            items = [c for c in items if str(c["companyProfile"][key]).lower().startswith(str(wanted["Value"]).lower())]
        size = int(query.get("size") or 100)
        return 200, {"totalCount": len(items), "items": items[:size], "attributes": {"objectType": "Collection"}}

    def _create_customer(self, body) -> Tuple[int, object]:
        try:
            domain = body["companyProfile"]["domain"].lower()
            billing = body["billingProfile"]
            address = billing["defaultAddress"]
            missing = [k for k in ("country", "city", "state", "addressLine1", "postalCode", "firstName", "lastName")
                       if not address.get(k)]
            missing += [k for k in ("email", "culture", "language", "companyName") if not billing.get(k)]
        except (KeyError, TypeError, AttributeError):
            return 400, self.error("800002", "Invalid request input")
        if missing:
            return 400, self.error("3000", f"Invalid property: {', '.join(missing)}")
        if domain in self.state.taken_domains:
            return 409, self.error("2000", f"Domain {domain} already exists")
        customer_id = self.add_customer(domain, billing["companyName"])
        self.state.customers[customer_id]["billingProfile"] = billing
        return 201, self.state.customers[customer_id]

    def _availabilities(self, product_id: str, sku_id: str, query: Dict[str, str]) -> Tuple[int, object]:
        if query.get("country") != "BR":
            return 400, self.error("2030", "Partner is not onboarded to sell in country")
        offers = CATALOG.get((product_id, sku_id))
        if offers is None:
            return 404, self.error("1000", "Product or SKU not found")
        items = [{"id": availability_id, "productId": product_id, "skuId": sku_id,
                  "catalogItemId": f"{product_id}:{sku_id}:{availability_id}", "defaultCurrency": "BRL",
                  "segment": "Commercial", "country": "BR", "isPurchasable": True, "isRenewable": True,
                  "terms": [{"duration": duration, "billingCycle": cycle, "description": f"{duration} {cycle}"}
                            for duration, cycle in terms]}
                 for availability_id, terms in offers]
        return 200, {"totalCount": len(items), "items": items, "attributes": {"objectType": "Collection"}}

    def _terms_of(self, catalog_item_id: str):
        parts = catalog_item_id.split(":")
        if len(parts) != 3:
            return None
        for availability_id, terms in CATALOG.get((parts[0], parts[1]), []):
            if availability_id == parts[2]:
                return terms
        return None

    def _create_cart(self, customer_id: str, body) -> Tuple[int, object]:
        lines = body.get("lineItems") if isinstance(body, dict) else None
        if not lines:
            return 400, self.error("800009", "Error in Cart item(s)")
        for line in lines:
            terms = self._terms_of(str(line.get("catalogItemId") or ""))
            if terms is None:
                return 400, self.error("800004", "Invalid offer Id")
            if (line.get("termDuration"), line.get("billingCycle")) not in terms:
                return 400, self.error("800009", "Error in Cart item(s): term or billing cycle not available")
            if not isinstance(line.get("quantity"), int) or line["quantity"] < 1:
                return 400, self.error("800017", "The quantity is not available for this catalog item")
        cart_id = str(uuid.uuid4())
        now = _iso(datetime.now(timezone.utc))
        cart = {"id": cart_id, "creationTimestamp": now, "lastModifiedTimestamp": now,
                "expirationTimestamp": _iso(datetime.now(timezone.utc) + timedelta(days=7)),
                "lastModifiedUser": "admin@parceiro.onmicrosoft.com", "status": "Active",
                "lineItems": [dict(line) for line in lines], "_customer": customer_id}
        self.state.carts[cart_id] = cart
        return 201, {k: v for k, v in cart.items() if not k.startswith("_")}

    def _checkout(self, customer_id: str, cart_id: str) -> Tuple[int, object]:
        cart = self.state.carts.get(cart_id)
        if cart is None or cart["_customer"] != customer_id:
            return 404, self.error("800008", "Unable to retrieve cart Id")
        if cart["status"] == "Ordered":
            return 201, cart["_result"]  # the docs: checking out again answers the first checkout
        order = _Order(id=secrets.token_hex(6), customer_id=customer_id,
                       lines=[dict(line) for line in cart["lineItems"]], polls_left=self.orders_provision_after_polls)
        self.state.orders[order.id] = order
        if order.polls_left == 0:
            self._provision(order)
        cart["status"] = "Ordered"
        cart["_result"] = {"orders": [self._order_resource(order)], "orderErrors": [],
                           "attributes": {"objectType": "CartCheckoutResult"}}
        return 201, cart["_result"]

    def _provision(self, order: _Order) -> None:
        now = datetime.now(timezone.utc)
        for number, line in enumerate(order.lines):
            subscription_id = str(uuid.uuid4())
            line["_subscription"] = subscription_id
            years = {"P1M": 0, "P1Y": 1, "P3Y": 3}[line["termDuration"]]
            self.state.subscriptions[subscription_id] = {
                "id": subscription_id, "_customer": order.customer_id, "offerId": line["catalogItemId"],
                "offerName": "Microsoft 365", "friendlyName": "Microsoft 365",
                "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
                "quantity": line["quantity"], "unitType": "Licenses", "creationDate": _iso(now),
                "effectiveStartDate": _iso(now),
                "commitmentEndDate": _iso(now + timedelta(days=30 if years == 0 else 365 * years)),
                "status": "active", "autoRenewEnabled": True, "isTrial": False, "billingType": "license",
                "billingCycle": line["billingCycle"], "termDuration": line["termDuration"],
                "refundOptions": [{"type": "Full", "expiresAt": _iso(now + timedelta(days=7))}],
                "isMicrosoftProduct": True, "contractType": "subscription", "orderId": order.id,
                "attributes": {"etag": secrets.token_hex(8), "objectType": "Subscription"}}
        order.status = "completed"

    def _order_resource(self, order: _Order) -> dict:
        lines = []
        for number, line in enumerate(order.lines):
            item = {"lineItemNumber": number, "offerId": line["catalogItemId"], "termDuration": line["termDuration"],
                    "transactionType": "New", "quantity": line["quantity"], "billingCycle": line["billingCycle"]}
            if line.get("_subscription") and self.orders_name_subscriptions:
                item["subscriptionId"] = line["_subscription"]
            lines.append(item)
        return {"id": order.id, "alternateId": order.id, "referenceCustomerId": order.customer_id,
                "billingCycle": order.lines[0]["billingCycle"], "currencyCode": "BRL", "lineItems": lines,
                "creationDate": _iso(datetime.now(timezone.utc)), "status": order.status,
                "transactionType": "UserPurchase", "attributes": {"objectType": "Order"}}

    def _order(self, customer_id: str, order_id: str) -> Tuple[int, object]:
        order = self.state.orders.get(order_id)
        if order is None or order.customer_id != customer_id:
            return 404, self.error("1000", "Order not found")
        if order.status == "pending":
            order.polls_left -= 1
            if order.polls_left <= 0:
                self._provision(order)
        return 200, self._order_resource(order)

    @staticmethod
    def _public(subscription: dict) -> dict:
        return json.loads(json.dumps({k: v for k, v in subscription.items() if not k.startswith("_")}))

    def _patch(self, subscription: dict, body) -> Tuple[int, object]:
        if not isinstance(body, dict) or body.get("id") != subscription["id"]:
            return 400, self.error("3000", "Invalid property: the body is not the subscription")
        if subscription["status"] == "deleted":
            return 400, self.error(DELETED_CANNOT_BE_UPDATED,
                                   f"Subscription with id {subscription['id']} and deleted status cannot be updated.")
        window_open = datetime.now(timezone.utc) < max(
            datetime.strptime(o["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            for o in subscription["refundOptions"])
        status = str(body.get("status") or subscription["status"]).lower()
        quantity = body.get("quantity", subscription["quantity"])
        if status == "deleted":
            if not window_open:
                return 400, self.error(CANCELLATION_WINDOW_CLOSED,
                                       "Cancellation is not allowed: the cancellation window of this subscription "
                                       "has passed.")
            subscription["status"] = "deleted"
        elif quantity != subscription["quantity"]:
            if subscription["status"] == "suspended":
                return 400, self.error(QUANTITY_WHILE_SUSPENDED, "Subscription quantity cannot be increased or "
                                       "decreased while subscription is being suspended")
            if not isinstance(quantity, int) or quantity < 1:
                return 400, self.error("2002", "Subscription quantity is not within minimum and maximum allowed quantity")
            if quantity < subscription["quantity"] and not window_open:
                return 400, self.error(CANCELLATION_WINDOW_CLOSED, "Seats can be reduced only inside the "
                                       "cancellation window.")
            subscription["quantity"] = quantity
        elif status in ("suspended", "active"):
            subscription["status"] = status
        else:
            return 400, self.error("3000", f"Invalid property: status {status}")
        subscription["attributes"]["etag"] = secrets.token_hex(8)
        return 200, self._public(subscription)


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, *, context: ssl.SSLContext, fake: FakePartnerCenter):
        self.context = context
        self.fake = fake
        super().__init__(address, handler)

    def finish_request(self, request, client_address) -> None:
        try:
            request.settimeout(10)
            secured = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            self.fake.refused_handshakes.append(getattr(error, "reason", None) or type(error).__name__)
            return
        try:
            self.RequestHandlerClass(secured, client_address, self)
        finally:
            try:
                secured.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args) -> None:
        pass

    def _handle(self, method: str) -> None:
        fake: FakePartnerCenter = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        extra: dict = {}
        if parts.path.startswith("/v1/"):
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            fake.requests.append(Recorded(method, parts.path, query, self.headers.get("MS-RequestId"),
                                          self.headers.get("MS-CorrelationId"), self.headers.get("X-Locale"), body))
            valid = fake.token_is_valid(self.headers.get("Authorization"))
            scripted = fake._scripted(method, parts.path) if valid else None
            if not valid:
                status, answer = 401, None
                extra = {"WWW-Authenticate": "Bearer error=\"invalid_token\""}
            elif scripted and scripted[0] == "lose":
                fake.api_answer(method, parts.path, query, self.headers, body)  # applied; its answer is lost
                status, answer = 503, {"code": "503", "description": "Service unavailable"}
            elif scripted and scripted[0] == "fail":
                status, answer = scripted[1], {"code": str(scripted[1]), "description": "Service unavailable"}
            elif scripted and scripted[0] == "throttle":
                status, answer = 429, {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in "
                                       f"{scripted[1]} seconds."}
                extra = {"Retry-After": scripted[1]}
            elif scripted and scripted[0] == "concurrent":
                with fake._lock:
                    subscription = fake.state.subscriptions.get(parts.path.rsplit("/", 1)[-1])
                    if subscription is not None:
                        subscription["attributes"]["etag"] = secrets.token_hex(8)
                status, answer, extra = fake.api_answer(method, parts.path, query, self.headers, body)
            elif scripted and scripted[0] == "refuse":
                code_status, code, description = scripted[1]
                status, answer = code_status, fake.error(code, description)
            else:
                status, answer, extra = fake.api_answer(method, parts.path, query, self.headers, body)
        else:
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()} if raw else {}
            status, answer, extra = fake.authority_answer(method, parts.path, form)
        data = b"" if answer is None or method == "HEAD" else json.dumps(answer).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            if self.headers.get("MS-CorrelationId"):
                self.send_header("MS-CorrelationId", self.headers["MS-CorrelationId"])
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(data)
        except OSError:
            pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_HEAD(self) -> None:
        self._handle("HEAD")
