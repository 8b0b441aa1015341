"""The real licence provider: Microsoft Partner Center's REST API (LICENCE_PROVIDER=real).

Authentication is the secure application model: a Microsoft Entra app of the partner's tenant (app
id and secret) and a refresh token a partner admin obtained once, with MFA, consenting to the app
(README, "Parceiros reais"). MSAL exchanges the refresh token for an access token to
`https://api.partnercenter.microsoft.com/.default`; each exchange answers a new refresh token too,
which is written back to the secret (Partner Center's refresh tokens slide: one unused for 90 days
stops working) — at most once a day, as Secrets Manager keeps a limited number of versions.

The contract (learn.microsoft.com/partner-center/developer; tests/fakes/partner_center.py follows it):

    GET   /v1/customers?size=..&filter={"Field":"Domain","Value":..,"Operator":"starts_with"}
    HEAD  /v1/domains/{domain}                          200 taken | 404 free
    POST  /v1/customers                                 201 customer
    GET   /v1/products/{productId}/skus/{skuId}/availabilities?country=BR&targetSegment=commercial
    POST  /v1/customers/{id}/carts                      201 cart {"id", "lineItems"}
    POST  /v1/customers/{id}/carts/{cartId}/checkout    201 {"orders": [...], "orderErrors": [...]}
    GET   /v1/customers/{id}/orders/{orderId}           order {"status", "lineItems": [{"subscriptionId"?}]}
    GET   /v1/customers/{id}/subscriptions?order_id=..  {"items": [...]}
    GET   /v1/customers/{id}/subscriptions/{subId}      subscription
    PATCH /v1/customers/{id}/subscriptions/{subId}      the subscription as read, "quantity" or "status" changed

Every request carries `MS-CorrelationId` (one per operation, shared by its calls: what Microsoft's
support asks for) and `MS-RequestId`. Partner Center applies a write once per MS-RequestId, so a
write's id is derived from the caller's request id and the step (`uuid5`): a retry — of the HTTP
call here, or of the whole operation by the provisioning worker — sends the same id and is not
applied twice. Checking out a cart is idempotent as well (the docs: a second checkout answers the
first one's result).

Failures: Partner Center's error body {"code", "description", "data", "source"} on a 400, 403,
404 or 409 becomes LicenceProviderRejected(code, description), except a 409 saying an operation is
still in progress (LicenceProviderUnavailable: the worker tries later) and a PATCH's 412 (the etag
changed since the GET: read again and PATCHed once more, then LicenceProviderUnavailable); a 401
gets a new access token once;
a 429 waits its Retry-After (at most `max_wait_seconds` in all, then LicenceProviderUnavailable);
a 5xx, a timeout or a connection error is tried `attempts` times with a doubling wait, then
LicenceProviderUnavailable. Nothing here logs or raises a token, a secret or a whole payload.
"""
from __future__ import annotations

import email.utils
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, Optional, Tuple
from urllib.parse import quote

import requests

from .. import observability
from ..observability import tracer
from .licence_provider import (CUSTOMER_INCOMPLETE, Customer, LicenceProviderRejected, LicenceProviderUnavailable,
                               Offer, OrderPending)
from .secrets import JsonSecret, SecretUnavailable

logger = logging.getLogger(__name__)

SCOPE = "https://api.partnercenter.microsoft.com/.default"
LOCALE = "pt-BR"

# Write-request ids are uuid5 of "request id/step" in this namespace: stable across retries.
_REQUEST_ID_NAMESPACE = uuid.UUID("6f1c2a8e-3d2b-4c58-9a57-2b3f0d6c9e41")

# Our refusals (not Partner Center's codes): the reason a request was not even sent.
CUSTOMER_NOT_LINKED = "customer_not_linked"
DOMAIN_TAKEN = "domain_taken"
OFFER_NOT_MAPPED = "offer_not_mapped"
OFFER_UNAVAILABLE = "offer_unavailable"
ORDER_FAILED = "order_failed"

REJECTED_STATUSES = frozenset({400, 403, 404, 409, 412, 422})
OFFER_ID = re.compile(r"[A-Z0-9]{6,20}:[A-Z0-9]{2,10}")
# Ids that become part of a URL path (customers, subscriptions, orders, carts): no dot, no slash.
PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
# The partner's tenant in the authority URL: a GUID or a domain.
TENANT_ID = re.compile(r"[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63}){0,5}")
# The status Partner Center gives a cancelled New Commerce subscription.
DELETED = "deleted"
ROTATION_FIELD = "refresh_token_rotated_at"


class _PreconditionFailed(LicenceProviderUnavailable):
    """A 412: the If-Match etag no longer matches (the subscription changed between our GET and our
    PATCH). `_patch` reads it again and PATCHes once more; anywhere else, an outage-like failure."""


# A 409 for a resource an operation is still working on (a change, a provisioning), not a conflict
# with what was asked: Partner Center's codes for it are not all published, so its words decide too
# (to confirm in the integration sandbox). Another 409 (a domain taken) stays a refusal.
IN_PROGRESS_CODES = frozenset({"800002", "OperationInProgress", "ConcurrentOperation"})
IN_PROGRESS_WORDS = re.compile(r"in progress|being processed|currently processing|another (?:operation|request)|"
                               r"pending operation|try again later", re.IGNORECASE)


def _in_progress(data: object) -> bool:
    if not isinstance(data, dict):
        return False
    return str(data.get("code") or "") in IN_PROGRESS_CODES or bool(
        IN_PROGRESS_WORDS.search(str(data.get("description") or "")))


class _Transient(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


@dataclass
class _Operation:
    """One call of the Protocol: its correlation id and its caller's request id."""

    name: str
    request_id: Optional[str]
    correlation_id: str

    def write_id(self, step: str) -> str:
        """The MS-RequestId of the operation's `step`: the same every time the operation is retried."""
        if self.request_id is None:
            return str(uuid.uuid4())
        return str(uuid.uuid5(_REQUEST_ID_NAMESPACE, f"{self.request_id}/{step}"))


class _DefaultsSession(requests.Session):
    """A requests.Session with a timeout and a CA bundle on every request (MSAL's calls included:
    MSAL passes no timeout of its own to an http_client it is given)."""

    def __init__(self, timeout: float, verify):
        super().__init__()
        self.verify = verify
        self._timeout = timeout

    def request(self, method, url, **kwargs):  # noqa: D401 - requests' signature
        kwargs.setdefault("timeout", self._timeout)
        # Per request: requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE override a session's own.
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, **kwargs)


def _short(text: object, limit: int = 300) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[:limit - 1] + "…"


class PartnerCenter:
    """`LicenceProvider` over Partner Center. `credentials` answers {"tenant_id", "app_id",
    "app_secret", "refresh_token"} (and, once written back, "refresh_token_rotated_at")."""

    def __init__(self, api, credentials: JsonSecret, *, sleep: Callable[[float], None] = time.sleep,
                 http_session: Optional[requests.Session] = None, attempts: int = 4, backoff_seconds: float = 1.0,
                 max_wait_seconds: float = 20.0, rotate_every: timedelta = timedelta(days=1),
                 monotonic: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._api = api
        self._base = api.api_url.rstrip("/") + "/v1"
        self._credentials = credentials
        self._sleep = sleep
        self._session = http_session or _DefaultsSession(api.timeout_seconds, api.ca_bundle or True)
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._max_wait = max_wait_seconds
        self._rotate_every = rotate_every
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()
        self._app = None
        self._app_key: Optional[Tuple[str, str, str]] = None
        self._token: Optional[str] = None
        self._token_expires_at = 0.0

    def __repr__(self) -> str:
        return f"PartnerCenter({self._api.api_url!r})"

    # -- the Protocol -----------------------------------------------------------------------------

    def ensure_customer(self, customer: Customer, request_id: str) -> str:
        op = self._operation("ensure_customer", request_id)
        domain = (customer.domain or "").strip().lower()
        if not domain:
            # provisioning names a new customer's domain (licence_provider.onmicrosoft_domain): only
            # an existing Microsoft customer registered without its tenant's domain gets here.
            raise LicenceProviderRejected(CUSTOMER_INCOMPLETE, "O cliente não tem domínio Microsoft (tenant) informado.")
        found = self._find_customer(op, domain)
        if found:
            return found
        if customer.existing_microsoft_customer:
            raise LicenceProviderRejected(CUSTOMER_NOT_LINKED, (
                f"O tenant {domain} não está entre os clientes do parceiro no Partner Center: o convite de "
                "revenda ainda não foi aceito. Um administrador global do cliente precisa aceitar o link de "
                "convite (Partner Center → Clientes → Solicitar uma relação de revendedor); depois disso, "
                "tente de novo."))
        if customer.address is None or not customer.email:
            raise LicenceProviderRejected(CUSTOMER_INCOMPLETE, (
                "Para criar o tenant Microsoft do cliente, o Partner Center exige o e-mail do administrador e o "
                "endereço da empresa; complete o cadastro e tente de novo."))
        status, _ = self._call(op, "HEAD", f"/domains/{quote(domain, safe='')}", expect=(200, 404))
        if status == 200:
            raise LicenceProviderRejected(DOMAIN_TAKEN, (
                f"O domínio {domain} já pertence a outro tenant Microsoft, que não é cliente do parceiro. Se ele é "
                "do cliente, marque-o como cliente Microsoft existente e envie o convite de revenda; senão, "
                "escolha outro domínio .onmicrosoft.com."))
        _, created = self._call(op, "POST", "/customers", body=self._customer_body(customer, domain),
                                request_id=op.write_id("customer"), expect=(200, 201))
        customer_id = self._customer_id(created)
        if not customer_id:
            raise LicenceProviderUnavailable("Partner Center answered a new customer without an id")
        logger.info("Partner Center: customer %s created for %s", customer_id, customer.organization_id)
        return customer_id

    def create_subscription(self, customer_id: str, offer: Offer, quantity: int, request_id: str) -> str:
        op = self._operation("create_subscription", request_id)
        customer_path = self._customer_path(customer_id)
        if not offer.offer_id or not OFFER_ID.fullmatch(offer.offer_id):
            raise LicenceProviderRejected(OFFER_NOT_MAPPED, (
                f"O SKU {offer.sku} não tem a oferta do Partner Center (productId:skuId) configurada no catálogo."))
        if quantity < 1:
            raise ValueError("an order needs at least one seat")
        catalog_item_id = self._catalog_item(op, offer)
        line = {"id": 0, "catalogItemId": catalog_item_id, "quantity": quantity,
                "billingCycle": offer.billing_frequency, "termDuration": offer.term}
        _, cart = self._call(op, "POST", f"{customer_path}/carts", body={"lineItems": [line]},
                             request_id=op.write_id("cart"), expect=(200, 201))
        cart_id = cart.get("id") if isinstance(cart, dict) else None
        if not isinstance(cart_id, str) or not PATH_ID.fullmatch(cart_id):
            raise LicenceProviderUnavailable("Partner Center answered a cart without an id")
        for item in cart.get("lineItems") or []:
            error = item.get("error") if isinstance(item, dict) else None
            if error:
                raise LicenceProviderRejected(str(error.get("errorCode") or ORDER_FAILED),
                                              _short(error.get("errorDescription")))
        _, result = self._call(op, "POST", f"{customer_path}/carts/{cart_id}/checkout",
                               request_id=op.write_id("checkout"), expect=(200, 201))
        orders = result.get("orders") if isinstance(result, dict) else None
        errors = result.get("orderErrors") if isinstance(result, dict) else None
        if not orders:
            first = errors[0] if errors and isinstance(errors[0], dict) else {}
            raise LicenceProviderRejected(str(first.get("errorCode") or ORDER_FAILED),
                                          _short(first.get("errorDescription") or "o pedido não foi criado"))
        order = orders[0]
        order_id = order.get("id")
        if not isinstance(order_id, str) or not order_id:
            raise LicenceProviderUnavailable("Partner Center answered an order without an id")
        subscription_id = self._provisioned(order)
        if subscription_id:
            logger.info("Partner Center: order %s made subscription %s", order_id, subscription_id)
            return subscription_id
        raise OrderPending(order_id)

    def order_outcome(self, customer_id: str, order_id: str) -> str:
        op = self._operation("order_outcome", None)
        customer_path = self._customer_path(customer_id)
        self._check_id(order_id, "order_id")
        _, order = self._call(op, "GET", f"{customer_path}/orders/{order_id}")
        status = str(order.get("status") or "").lower() if isinstance(order, dict) else ""
        if status == "cancelled":
            raise LicenceProviderRejected(ORDER_FAILED, f"O pedido {order_id} foi cancelado no Partner Center.")
        subscription_id = self._provisioned(order) if isinstance(order, dict) else None
        if subscription_id:
            return subscription_id
        if status == "completed":
            _, listed = self._call(op, "GET", f"{customer_path}/subscriptions", params={"order_id": order_id})
            for item in (listed.get("items") or []) if isinstance(listed, dict) else []:
                if isinstance(item, dict) and item.get("id"):
                    return str(item["id"])
        raise OrderPending(order_id)

    def update_quantity(self, customer_id: str, provider_subscription_id: str, quantity: int, request_id: str) -> None:
        if quantity < 0:
            raise ValueError("quantity cannot be negative")
        if quantity == 0:
            self.cancel(customer_id, provider_subscription_id, request_id)
            return
        op = self._operation("update_quantity", request_id)
        self._patch(op, customer_id, provider_subscription_id, "quantity", quantity)

    def cancel(self, customer_id: str, provider_subscription_id: str, request_id: str) -> None:
        # New Commerce cancels inside its window only (refundOptions); past it Partner Center
        # refuses the PATCH, which reaches the caller as LicenceProviderRejected with its code.
        self._patch(self._operation("cancel", request_id), customer_id, provider_subscription_id, "status", DELETED)

    def suspend(self, customer_id: str, provider_subscription_id: str, request_id: str) -> None:
        self._patch(self._operation("suspend", request_id), customer_id, provider_subscription_id,
                    "status", "suspended")

    def reactivate(self, customer_id: str, provider_subscription_id: str, request_id: str) -> None:
        self._patch(self._operation("reactivate", request_id), customer_id, provider_subscription_id,
                    "status", "active")

    def get(self, customer_id: str, provider_subscription_id: str) -> Dict:
        op = self._operation("get", None)
        return self._normalised(customer_id, self._subscription(op, customer_id, provider_subscription_id))

    # -- steps ------------------------------------------------------------------------------------

    @staticmethod
    def _operation(name: str, request_id: Optional[str]) -> _Operation:
        # MS-CorrelationId must be a GUID: ours when it is one; else a new one, logged (with ours on
        # the line) so that Microsoft's support and our logs can be matched.
        correlation_id = observability.partner_correlation_id()
        if correlation_id != observability.correlation_id():
            logger.info("Partner Center %s: MS-CorrelationId %s", name, correlation_id)
        return _Operation(name=name, request_id=request_id, correlation_id=correlation_id)

    @staticmethod
    def _check_id(value: str, name: str) -> None:
        # It becomes part of a URL path.
        if not isinstance(value, str) or not PATH_ID.fullmatch(value):
            raise ValueError(f"{name} is not an identifier")

    def _customer_path(self, customer_id: str) -> str:
        self._check_id(customer_id, "customer_id")
        return f"/customers/{customer_id}"

    @staticmethod
    def _customer_id(resource: object) -> Optional[str]:
        if not isinstance(resource, dict):
            return None
        profile = resource.get("companyProfile") if isinstance(resource.get("companyProfile"), dict) else {}
        value = resource.get("id") or profile.get("tenantId")
        return str(value) if value else None

    def _find_customer(self, op: _Operation, domain: str) -> Optional[str]:
        query = json.dumps({"Field": "Domain", "Value": domain, "Operator": "starts_with"}, separators=(",", ":"))
        _, listed = self._call(op, "GET", "/customers", params={"size": "100", "filter": query})
        for item in (listed.get("items") or []) if isinstance(listed, dict) else []:
            profile = item.get("companyProfile") if isinstance(item, dict) else None
            # starts_with also finds contoso.onmicrosoft.com.br for contoso.onmicrosoft.com: the exact one only.
            if isinstance(profile, dict) and str(profile.get("domain") or "").lower() == domain:
                return self._customer_id(item)
        return None

    def _customer_body(self, customer: Customer, domain: str) -> dict:
        address = customer.address
        line2 = ", ".join(part for part in (address.complement, address.district) if part)
        default_address = {
            "country": self._api.country, "city": address.city, "state": address.state,
            "addressLine1": f"{address.street}, {address.number}", "postalCode": f"{address.cep[:5]}-{address.cep[5:]}",
            # The billing contact: the customer's razão social stands for the person, whom the portal does not know.
            "firstName": "Administrador", "lastName": customer.name[:40],
        }
        if line2:
            default_address["addressLine2"] = line2
        body = {"companyProfile": {"domain": domain},
                "billingProfile": {"email": customer.email, "culture": LOCALE, "language": "pt",
                                   "companyName": customer.name, "defaultAddress": default_address}}
        if customer.cnpj:
            body["companyProfile"]["organizationRegistrationNumber"] = customer.cnpj
        return body

    def _catalog_item(self, op: _Operation, offer: Offer) -> str:
        product_id, sku_id = offer.offer_id.split(":")
        _, listed = self._call(op, "GET", f"/products/{product_id}/skus/{sku_id}/availabilities",
                               params={"country": self._api.country, "targetSegment": "commercial"})
        for availability in (listed.get("items") or []) if isinstance(listed, dict) else []:
            if not isinstance(availability, dict) or availability.get("isPurchasable") is False:
                continue
            for term in availability.get("terms") or []:
                if not isinstance(term, dict) or term.get("duration") != offer.term:
                    continue
                cycle = term.get("billingCycle")
                if cycle is None or str(cycle).lower() == offer.billing_frequency:
                    catalog_item_id = availability.get("catalogItemId") or (
                        f"{product_id}:{sku_id}:{availability.get('id')}")
                    return str(catalog_item_id)
        raise LicenceProviderRejected(OFFER_UNAVAILABLE, (
            f"A oferta {offer.offer_id} não está disponível no Partner Center para {self._api.country} com prazo "
            f"{offer.term} e cobrança {offer.billing_frequency}."))

    @staticmethod
    def _provisioned(order: dict) -> Optional[str]:
        for line in order.get("lineItems") or []:
            if isinstance(line, dict) and line.get("subscriptionId"):
                return str(line["subscriptionId"])
        return None

    def _subscription(self, op: _Operation, customer_id: str, subscription_id: str) -> dict:
        self._check_id(subscription_id, "provider_subscription_id")
        _, resource = self._call(op, "GET", f"{self._customer_path(customer_id)}/subscriptions/{subscription_id}")
        if not isinstance(resource, dict) or not resource.get("id"):
            raise LicenceProviderUnavailable(f"Partner Center answered an unreadable subscription {subscription_id}")
        return resource

    def _patch(self, op: _Operation, customer_id: str, subscription_id: str, field: str, value) -> None:
        """PATCH the subscription as read with `field` changed; nothing sent when it has the value already
        (a repeat of a suspension, a reactivation or a cancellation). Sent with the read's etag
        (If-Match): a 412 means the subscription changed in between (an auto-renewal, the partner's
        portal), so it is read again and PATCHed once more, under the new state's request id
        (below); a second 412 is
        LicenceProviderUnavailable (the worker tries later), never a refusal of what was asked."""
        for round_ in (1, 2):
            resource = self._subscription(op, customer_id, subscription_id)
            current = resource.get(field)
            if (str(current).lower() if field == "status" else current) == value:
                return
            changed = {**resource, field: value}
            headers = {}
            attributes = resource.get("attributes")
            etag = attributes.get("etag") if isinstance(attributes, dict) else None
            if etag:
                headers["If-Match"] = etag
            # The request id names the state it changes: the same state again (a retry, by the
            # worker too) sends the same id, so a PATCH applied and unanswered is not applied
            # twice (read again, it has the value: nothing sent); a state changed since (a new
            # etag) gets a new one, as Partner Center would answer an id's first answer again.
            step = f"{field}={value}@{etag}" if etag else f"{field}={value}"
            try:
                self._call(op, "PATCH", f"{self._customer_path(customer_id)}/subscriptions/{subscription_id}",
                           body=changed, request_id=op.write_id(step), headers=headers)
            except _PreconditionFailed:
                if round_ == 2:
                    raise
                logger.info("Partner Center: subscription %s changed since read (412): reading it again "
                            "(correlation %s)", subscription_id, op.correlation_id)
                continue
            logger.info("Partner Center: subscription %s %s set to %s", subscription_id, field, value)
            return

    @staticmethod
    def _normalised(customer_id: str, resource: dict) -> Dict:
        catalog_item_id = str(resource.get("offerId") or "")
        refund_until = [option.get("expiresAt") for option in resource.get("refundOptions") or []
                        if isinstance(option, dict) and option.get("expiresAt")]
        status = str(resource.get("status") or "").lower()
        return {
            "id": str(resource["id"]),
            "customer_id": customer_id,
            "offer_id": ":".join(catalog_item_id.split(":")[:2]),  # productId:skuId, as the catalog maps it
            "catalog_item_id": catalog_item_id,
            "quantity": int(resource.get("quantity") or 0),
            # Partner Center's "deleted" is a cancelled subscription.
            "status": "cancelled" if status == DELETED else status,
            "term": resource.get("termDuration"),
            "billing_cycle": str(resource.get("billingCycle") or "").lower() or None,
            "cancellable_until": max(refund_until) if refund_until else None,
            "commitment_end": resource.get("commitmentEndDate"),
        }

    # -- HTTP -------------------------------------------------------------------------------------

    @tracer.capture_method(capture_response=False)  # answers name customers: not in the trace
    def _call(self, op: _Operation, method: str, path: str, *, body: Optional[dict] = None,
              params: Optional[dict] = None, request_id: Optional[str] = None, headers: Optional[dict] = None,
              expect: Tuple[int, ...] = (200,)) -> Tuple[int, object]:
        """One request with its retries: (status, decoded JSON) for a status in `expect`; raises
        LicenceProviderRejected, LicenceProviderUnavailable."""
        request_id = request_id or str(uuid.uuid4())  # a read's: the same on its retries too
        url = self._base + path
        what = f"{method} {path}"
        waited = 0.0
        failures = 0
        renewed = False
        while True:
            token = self._access_token(renew=False)
            try:
                response = self._session.request(
                    method, url, params=params, json=body,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                             "MS-RequestId": request_id, "MS-CorrelationId": op.correlation_id,
                             "X-Locale": LOCALE, **(headers or {})})
            except requests.RequestException as error:
                failures += 1
                last = type(error).__name__
                if failures >= self._attempts:
                    raise LicenceProviderUnavailable(
                        f"Partner Center unavailable: {what} after {failures} attempts ({last}); "
                        f"correlation {op.correlation_id}") from None
                waited += self._wait(self._backoff * 2 ** (failures - 1), what, last, op)
                continue
            status = response.status_code
            if status in expect:
                return status, self._json(response)
            if status == 401 and not renewed:
                # The access token expired or was revoked early: one new one, then the same request.
                renewed = True
                self._access_token(renew=True)
                continue
            if status == 429:
                delay = self._retry_after(response) or self._backoff * 2 ** failures
                if waited + delay > self._max_wait:
                    raise LicenceProviderUnavailable(
                        f"Partner Center throttled {what} (429, Retry-After {delay:g} s) past the {self._max_wait:g} s "
                        f"a call may wait; correlation {op.correlation_id}")
                waited += self._wait(delay, what, "429", op)
                continue
            if status >= 500:
                failures += 1
                if failures >= self._attempts:
                    raise LicenceProviderUnavailable(
                        f"Partner Center unavailable: {what} answered {status} {failures} times; "
                        f"correlation {op.correlation_id}")
                waited += self._wait(self._backoff * 2 ** (failures - 1), what, str(status), op)
                continue
            data = self._json(response)
            if status == 412:
                raise _PreconditionFailed(f"Partner Center answered 412 to {what} (changed since read); "
                                          f"correlation {op.correlation_id}")
            if status == 409 and _in_progress(data):
                logger.info("Partner Center: %s waits for an operation in progress (correlation %s)", what,
                            op.correlation_id)
                raise LicenceProviderUnavailable(f"Partner Center answered 409 to {what}: an operation is still in "
                                                 f"progress; correlation {op.correlation_id}")
            if status in REJECTED_STATUSES:
                code = str(data.get("code")) if isinstance(data, dict) and data.get("code") not in (None, "") \
                    else str(status)
                description = _short(data.get("description")) if isinstance(data, dict) else ""
                logger.info("Partner Center refused %s: %s (correlation %s)", what, code, op.correlation_id)
                raise LicenceProviderRejected(code, description or f"Partner Center answered {status} to {what}")
            raise LicenceProviderUnavailable(
                f"Partner Center answered {status} to {what}; correlation {op.correlation_id}")

    def _wait(self, seconds: float, what: str, why: str, op: _Operation) -> float:
        logger.warning("Partner Center: %s failed (%s), waiting %.1f s (correlation %s)",
                       what, why, seconds, op.correlation_id)
        self._sleep(seconds)
        return seconds

    def _retry_after(self, response) -> Optional[float]:
        value = (response.headers.get("Retry-After") or "").strip()
        if not value:
            return None
        if value.isdigit():
            return float(value)
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return max(0.0, (moment - self._now()).total_seconds())

    @staticmethod
    def _json(response) -> object:
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            return {}

    # -- tokens -----------------------------------------------------------------------------------

    def _access_token(self, *, renew: bool) -> str:
        with self._lock:
            if renew or self._token is None or self._monotonic() >= self._token_expires_at:
                self._token = None
                self._acquire()
            return self._token

    def _values(self) -> Dict[str, str]:
        try:
            return self._credentials.values()
        except SecretUnavailable as error:
            raise LicenceProviderUnavailable(f"Partner Center credentials unavailable: {error}") from None

    def _acquire(self) -> None:
        """A new access token from the refresh token (lock held). A refused refresh token is read
        again from the secret once: another container may have rotated it, or an operator replaced it."""
        values = self._values()
        result = self._exchange(values)
        if "access_token" not in result and result.get("error") == "invalid_grant":
            self._credentials.forget()
            fresh = self._values()
            if fresh.get("refresh_token") != values.get("refresh_token"):
                values, result = fresh, self._exchange(fresh)
        if "access_token" not in result:
            codes = ",".join(str(code) for code in result.get("error_codes") or [])
            hint = (" A partner admin must consent again and put the new refresh token in the secret "
                    "(README, \"Parceiros reais\")." if result.get("error") == "invalid_grant" else "")
            raise LicenceProviderUnavailable(
                f"Microsoft Entra ID refused the Partner Center credentials of {self._credentials.secret_id}: "
                f"{result.get('error') or 'no token'}{f' (AADSTS {codes})' if codes else ''}.{hint}")
        self._token = result["access_token"]
        lifetime = float(result.get("expires_in") or 3600)
        # Renewed five minutes early (or halfway, for a short one): never sent about to expire.
        self._token_expires_at = self._monotonic() + max(lifetime - min(300.0, lifetime / 2), 1.0)
        rotated = result.get("refresh_token")
        if rotated and rotated != values.get("refresh_token"):
            self._write_back(values, rotated)

    def _exchange(self, values: Dict[str, str]) -> dict:
        app = self._msal_app(values)
        try:
            result = app.acquire_token_by_refresh_token(values["refresh_token"], scopes=[SCOPE])
        except requests.RequestException as error:
            raise LicenceProviderUnavailable(f"Microsoft Entra ID unreachable ({type(error).__name__})") from None
        except ValueError:
            raise LicenceProviderUnavailable("Microsoft Entra ID answered an unreadable token response") from None
        return result if isinstance(result, dict) else {}

    def _msal_app(self, values: Dict[str, str]):
        import msal  # only the real provider needs it

        tenant = values.get("tenant_id", "")
        if not TENANT_ID.fullmatch(tenant):
            raise LicenceProviderUnavailable(f"{self._credentials.secret_id}: tenant_id is not a tenant id or domain")
        key = (tenant, values.get("app_id", ""), values.get("app_secret", ""))
        if self._app is None or self._app_key != key:
            try:
                self._app = msal.ConfidentialClientApplication(
                    values["app_id"], client_credential=values["app_secret"],
                    authority=f"{self._api.authority_host}/{tenant}", http_client=self._session,
                    # The authority is the one configured (Microsoft's login host, or a fake's): no
                    # instance discovery at login.microsoftonline.com for it.
                    instance_discovery=False)
            except requests.RequestException as error:
                raise LicenceProviderUnavailable(f"Microsoft Entra ID unreachable ({type(error).__name__})") from None
            except ValueError:
                # MSAL's text quotes the discovery answer: not repeated here.
                raise LicenceProviderUnavailable(
                    f"Microsoft Entra ID does not know the tenant of {self._credentials.secret_id} "
                    "(its OpenID configuration was refused)") from None
            self._app_key = key
        return self._app

    def _write_back(self, values: Dict[str, str], rotated: str) -> None:
        """Keep the slid refresh token: written to the secret when the one there is a day old or more."""
        last = values.get(ROTATION_FIELD)
        try:
            due = last is None or self._now() - datetime.fromisoformat(last) >= self._rotate_every
        except (TypeError, ValueError):
            due = True
        if not due:
            return
        try:
            self._credentials.put({**values, "refresh_token": rotated, ROTATION_FIELD: self._now().isoformat()})
        except Exception as error:  # noqa: BLE001 - the token works; only its keeping failed
            logger.warning("Partner Center: the rotated refresh token could not be written to %s (%s)",
                           self._credentials.secret_id, type(error).__name__)

