"""The licence provider: Microsoft Partner Center's customer and subscription operations, behind an
interface. `adapters/partner_center.py` is the real one (LICENCE_PROVIDER=real).

`SimulatedLicenseProvider` stands in for Partner Center locally and in tests: it keeps its
subscriptions in memory, can be slowed down and made to fail (a rate, or the next N calls), and
is idempotent per request id as Partner Center is per MS-RequestId.
"""
from __future__ import annotations

import hashlib
import random
import re
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Protocol, Tuple

from ..domain.addresses import Address


class LicenceProviderUnavailable(Exception):
    """A transient provider failure (outage, timeout, 429 or 5xx after the retries): try again later."""


class LicenceProviderRejected(Exception):
    """The provider refused the request for what it says (a 400 or 409 with its error code): trying
    again as is would be refused again. `code` and `description` are the provider's."""

    def __init__(self, code: str, description: str):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


# The `LicenceProviderRejected.code` for a customer tenant that has not accepted the reseller
# relationship (Partner Center's invitation): the product tells the requester and the operators so.
CUSTOMER_NOT_LINKED = "customer_not_linked"
# A new customer the provider cannot create: Partner Center needs its domain, the admin's email and
# the company's address (both adapters refuse it, so the tests see the real rule).
CUSTOMER_INCOMPLETE = "customer_incomplete"

# Legal-form words a razão social ends with: not part of a tenant's name.
_LEGAL_FORMS = frozenset({"ltda", "sa", "me", "epp", "eireli", "slu", "ss", "cia"})
_DOMAIN_PREFIX_LENGTH = 27  # the .onmicrosoft.com prefix's length, suffix included


def onmicrosoft_domain(name: str, organization_id: str) -> str:
    """The `<prefix>.onmicrosoft.com` domain a new customer's tenant is created under when the
    organisation gave none: the razão social in ASCII letters and digits (accents dropped, legal
    forms such as Ltda left out), cut so that, with five hex digits of the organisation id's hash
    (stable: the same organisation always asks the same domain, so a retried creation finds its
    tenant; and two companies of one name ask different ones), it has at most 27 characters."""
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii").lower()
    words = [w for w in re.findall(r"[a-z0-9]+", ascii_name)]
    kept = [w for w in words if w not in _LEGAL_FORMS] or words
    suffix = hashlib.sha256(organization_id.encode("utf-8")).hexdigest()[:5]
    slug = "".join(kept)[:_DOMAIN_PREFIX_LENGTH - len(suffix)] or "cliente"
    if not slug[0].isalpha():
        slug = ("c" + slug)[:_DOMAIN_PREFIX_LENGTH - len(suffix)]
    return f"{slug}{suffix}.onmicrosoft.com"


class OrderPending(Exception):
    """The order was accepted but its subscription is not provisioned yet (New Commerce orders are
    asynchronous): ask `order_outcome(customer_id, order_id)` later."""

    def __init__(self, order_id: str, retry_after_seconds: int = 60):
        super().__init__(f"order {order_id} is still being provisioned")
        self.order_id = order_id
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class Customer:
    """An organisation as the provider registers it (Partner Center's customer, a Microsoft Entra
    tenant): linked by its domain when it already has one, created otherwise."""

    organization_id: str
    name: str  # razão social
    cnpj: Optional[str]
    domain: Optional[str]  # its tenant's domain (contoso.onmicrosoft.com, or a verified domain)
    existing_microsoft_customer: bool  # True: link the existing tenant; False: create one under `domain`
    email: Optional[str]  # the customer's admin contact (the first master)
    address: Optional[Address]


@dataclass(frozen=True)
class Offer:
    """What to order: our SKU, the provider's offer it maps to and the New Commerce term and plan."""

    sku: str
    offer_id: Optional[str]  # Partner Center's "productId:skuId" (e.g. CFQ7TTC0LCHC:0002); None for the simulator
    term: str  # P1M, P1Y, P3Y
    billing_frequency: str  # monthly, annual, triennial


class LicenceProvider(Protocol):
    """Every call carries a request id (Partner Center's MS-RequestId): a retry of the same request
    is not applied twice. Each raises LicenceProviderUnavailable (retry later) or
    LicenceProviderRejected (do not)."""

    def ensure_customer(self, customer: Customer, request_id: str) -> str:
        """The customer's id at the provider (its tenant id): the tenant linked by its domain, or
        created. Repeat-safe (a second call finds the customer made by the first)."""

    def create_subscription(self, customer_id: str, offer: Offer, quantity: int, request_id: str) -> str:
        """Order the offer (cart, checkout) and answer the new subscription's id, or raise
        OrderPending with the order to ask about."""

    def order_outcome(self, customer_id: str, order_id: str) -> str:
        """The subscription an order made once provisioned; OrderPending while it is not."""

    def update_quantity(self, customer_id: str, provider_subscription_id: str, quantity: int, request_id: str) -> None:
        """Change the seats; quantity 0 cancels (inside the provider's cancellation window)."""

    def cancel(self, customer_id: str, provider_subscription_id: str, request_id: str) -> None: ...

    # Suspension for non-payment and its undoing: `PATCH {baseURL}/v1/customers/{customer-tenant-id}/
    # subscriptions/{subscription-id}` with the subscription as read by GET, its `status` set to
    # "suspended" (resp. "active"), `request_id` as the `MS-RequestId` header (Partner Center:
    # "Suspend a subscription" / "Reactivate a suspended subscription"). Both are repeat-safe:
    # suspending a suspended subscription (or reactivating an active one) is a no-op.
    def suspend(self, customer_id: str, provider_subscription_id: str, request_id: str) -> None: ...

    def reactivate(self, customer_id: str, provider_subscription_id: str, request_id: str) -> None: ...

    def get(self, customer_id: str, provider_subscription_id: str) -> Dict:
        """The subscription as the provider has it: at least id, offer_id, quantity, status."""


class SimulatedLicenseProvider:
    """Partner Center in memory, on the `LicenceProvider` interface. Customers are kept by their
    domain (a customer without one, or a new one without email or address, is refused as
    customer_incomplete, as Partner Center refuses it): an existing Microsoft customer is linked, a new
    one created, and `ensure_customer` finds the one a first call made. Tests can make the next
    orders pending for some polls (`pending_orders`), refuse a domain's link (`refuse_link`: its
    tenant never accepted the reseller relationship) or the next call (`reject_next`), and fail
    calls as an outage would (`fail_next`, a rate)."""

    def __init__(self, failure_rate: float = 0.0, delay_seconds: float = 0.0, seed: Optional[int] = None):
        self.failure_rate = failure_rate
        self.delay_seconds = delay_seconds
        self._random = random.Random(seed)
        self._failures_left = 0
        self._rejection: Optional[Tuple[str, str]] = None
        self._pending_polls = 0
        self._subscriptions: Dict[str, Dict] = {}
        self._customers: Dict[str, Dict] = {}  # domain (or organisation id) → the customer
        self._unlinked: set = set()
        self._orders: Dict[str, Dict] = {}  # order id → {"request_id", "customer_id", "polls_left", "subscription"}
        self._done: Dict[str, str] = {}  # request id → what it answered (subscription, customer or order id)
        self._lock = threading.Lock()
        self.calls = 0
        # Every status PATCH sent to the simulator (subscription, status, request id), repeats and
        # failed ones included: what tests count.
        self.status_requests: List[Tuple[str, str, str]] = []
        # Every call as (operation, customer id or None, request id or order id): what tests check.
        self.requests: List[Tuple[str, Optional[str], str]] = []

    # --- what tests set up ---------------------------------------------------------------------

    def fail_next(self, count: int) -> None:
        """Make the next `count` calls fail (tests drive the retry path with this)."""
        self._failures_left = count

    def reject_next(self, code: str, description: str) -> None:
        """Make the next call refused for what it asks (LicenceProviderRejected), as Partner Center's 400s."""
        self._rejection = (code, description)

    def pending_orders(self, polls: int) -> None:
        """The next orders are asynchronous: each is still pending for its first `polls` outcome queries."""
        self._pending_polls = polls

    def refuse_link(self, domain: str) -> None:
        """This tenant never accepted the reseller relationship: linking it is refused (customer_not_linked)."""
        self._unlinked.add(domain.lower())

    @property
    def customers(self) -> List[Dict]:
        with self._lock:
            return [dict(c) for c in self._customers.values()]

    def orders(self) -> List[Dict]:
        with self._lock:
            return [dict(o, order_id=k) for k, o in self._orders.items()]

    def _call(self, operation: str, customer_id: Optional[str], reference: str) -> None:
        self.calls += 1
        self.requests.append((operation, customer_id, reference))
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if self._failures_left > 0:
            self._failures_left -= 1
            raise LicenceProviderUnavailable("simulated outage")
        if self.failure_rate and self._random.random() < self.failure_rate:
            raise LicenceProviderUnavailable("simulated random failure")
        if self._rejection is not None:
            code, description = self._rejection
            self._rejection = None
            raise LicenceProviderRejected(code, description)

    # --- the interface -------------------------------------------------------------------------

    def ensure_customer(self, customer: Customer, request_id: str) -> str:
        with self._lock:
            self._call("ensure_customer", None, request_id)
            key = (customer.domain or "").lower()
            if key in self._customers:
                return self._customers[key]["id"]
            if customer.existing_microsoft_customer and key in self._unlinked:
                raise LicenceProviderRejected(
                    CUSTOMER_NOT_LINKED, f"The customer tenant {customer.domain} has not accepted the reseller "
                                           "relationship request.")
            if not customer.domain or not customer.existing_microsoft_customer and (
                    not customer.email or customer.address is None):
                # What Partner Center refuses (adapters/partner_center.py): a tenant is linked or
                # created by its domain, and a new one needs the admin's email and the address.
                raise LicenceProviderRejected(
                    CUSTOMER_INCOMPLETE, "A new customer needs its domain, the admin's email and the company's "
                                         "address.")
            self._customers[key] = {"id": str(uuid.uuid4()), "domain": customer.domain,
                                    "organization_id": customer.organization_id, "name": customer.name,
                                    "email": customer.email, "linked": customer.existing_microsoft_customer}
            self._done[request_id] = self._customers[key]["id"]
            return self._customers[key]["id"]

    def create_subscription(self, customer_id: str, offer: Offer, quantity: int, request_id: str) -> str:
        with self._lock:
            self._call("create_subscription", customer_id, request_id)
            order = next((k for k, o in self._orders.items() if o["request_id"] == request_id), None)
            if order is None:  # a repeat of the same request is the same order
                order = str(uuid.uuid4())
                provider_id = str(uuid.uuid4())
                self._subscriptions[provider_id] = {
                    "id": provider_id, "customer_id": customer_id, "offer_id": offer.offer_id or offer.sku,
                    "sku": offer.sku, "term": offer.term, "billing_frequency": offer.billing_frequency,
                    "quantity": quantity, "status": "active"}
                self._orders[order] = {"request_id": request_id, "customer_id": customer_id,
                                       "polls_left": self._pending_polls, "subscription": provider_id}
            if self._orders[order]["polls_left"] > 0:
                raise OrderPending(order, retry_after_seconds=60)
            return self._orders[order]["subscription"]

    def order_outcome(self, customer_id: str, order_id: str) -> str:
        with self._lock:
            self._call("order_outcome", customer_id, order_id)
            order = self._orders.get(order_id)
            if order is None or order["customer_id"] != customer_id:
                raise LicenceProviderRejected("order_not_found", f"Order {order_id} not found for this customer.")
            if order["polls_left"] > 0:
                order["polls_left"] -= 1
                raise OrderPending(order_id, retry_after_seconds=60)
            return order["subscription"]

    def update_quantity(self, customer_id: str, provider_subscription_id: str, quantity: int, request_id: str) -> None:
        with self._lock:
            self._call("update_quantity", customer_id, request_id)
            subscription = self._subscriptions.setdefault(
                provider_subscription_id, {"id": provider_subscription_id, "customer_id": customer_id,
                                           "status": "active"})
            subscription["quantity"] = quantity
            # A subscription suspended for non-payment stays so whatever its quantity.
            subscription["status"] = "suspended" if quantity == 0 or subscription.get("status") == "suspended" \
                else "active"
            self._done[request_id] = provider_subscription_id

    def cancel(self, customer_id: str, provider_subscription_id: str, request_id: str) -> None:
        self.update_quantity(customer_id, provider_subscription_id, 0, request_id)

    def suspend(self, customer_id: str, provider_subscription_id: str, request_id: str) -> None:
        self._set_status(customer_id, provider_subscription_id, "suspended", request_id)

    def reactivate(self, customer_id: str, provider_subscription_id: str, request_id: str) -> None:
        self._set_status(customer_id, provider_subscription_id, "active", request_id)

    def _set_status(self, customer_id: str, provider_subscription_id: str, status: str, request_id: str) -> None:
        with self._lock:
            self.status_requests.append((provider_subscription_id, status, request_id))
            self._call(status, customer_id, request_id)
            if request_id in self._done:
                return  # a repeat of a request already applied: the same answer, nothing done again
            subscription = self._subscriptions.setdefault(
                provider_subscription_id, {"id": provider_subscription_id, "customer_id": customer_id,
                                           "status": "active"})
            subscription["status"] = status
            self._done[request_id] = provider_subscription_id

    def get(self, customer_id: str, provider_subscription_id: str) -> Dict:
        with self._lock:
            return dict(self._subscriptions[provider_subscription_id])
