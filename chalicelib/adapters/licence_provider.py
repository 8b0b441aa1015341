"""The licence provider: Microsoft Partner Center's subscription operations, behind an interface.

`SimulatedLicenseProvider` stands in for Partner Center locally and in tests: it keeps its
subscriptions in memory, can be slowed down and made to fail (a rate, or the next N calls), and
is idempotent per request id as Partner Center is per MS-RequestId.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Dict, List, Optional, Protocol, Tuple


class LicenceProviderUnavailable(Exception):
    """A transient provider failure: try again later."""


class LicenceProvider(Protocol):
    def create_subscription(self, customer_id: str, sku: str, quantity: int, request_id: str) -> str: ...

    def update_quantity(self, provider_subscription_id: str, quantity: int, request_id: str) -> None: ...

    def cancel(self, provider_subscription_id: str, request_id: str) -> None: ...

    # Suspension for non-payment and its undoing. The Partner Center adapter will send, for each,
    # `PATCH {baseURL}/v1/customers/{customer-tenant-id}/subscriptions/{subscription-id}` with the
    # subscription resource as read by GET, its `status` set to "suspended" (resp. "active"), and
    # `request_id` as the `MS-RequestId` header, so a retry of the same request is not applied twice
    # (Partner Center: "Suspend a subscription" / "Reactivate a suspended subscription"). Both are
    # repeat-safe: suspending a suspended subscription (or reactivating an active one) is a no-op.
    def suspend(self, provider_subscription_id: str, request_id: str) -> None: ...

    def reactivate(self, provider_subscription_id: str, request_id: str) -> None: ...

    def get(self, provider_subscription_id: str) -> Dict: ...


class SimulatedLicenseProvider:
    def __init__(self, failure_rate: float = 0.0, delay_seconds: float = 0.0, seed: Optional[int] = None):
        self.failure_rate = failure_rate
        self.delay_seconds = delay_seconds
        self._random = random.Random(seed)
        self._failures_left = 0
        self._subscriptions: Dict[str, Dict] = {}
        self._done: Dict[str, str] = {}  # request id → provider subscription id
        self._lock = threading.Lock()
        self.calls = 0
        # Every status PATCH sent to the simulator (subscription, status, request id), repeats and
        # failed ones included: what tests count.
        self.status_requests: List[Tuple[str, str, str]] = []

    def fail_next(self, count: int) -> None:
        """Make the next `count` calls fail (tests drive the retry path with this)."""
        self._failures_left = count

    def _call(self) -> None:
        self.calls += 1
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if self._failures_left > 0:
            self._failures_left -= 1
            raise LicenceProviderUnavailable("simulated outage")
        if self.failure_rate and self._random.random() < self.failure_rate:
            raise LicenceProviderUnavailable("simulated random failure")

    def create_subscription(self, customer_id: str, sku: str, quantity: int, request_id: str) -> str:
        with self._lock:
            self._call()
            if request_id not in self._done:
                provider_id = str(uuid.uuid4())
                self._subscriptions[provider_id] = {"id": provider_id, "customer_id": customer_id,
                                                    "offer_id": sku, "quantity": quantity, "status": "active"}
                self._done[request_id] = provider_id
            return self._done[request_id]

    def update_quantity(self, provider_subscription_id: str, quantity: int, request_id: str) -> None:
        with self._lock:
            self._call()
            subscription = self._subscriptions.setdefault(
                provider_subscription_id, {"id": provider_subscription_id, "status": "active"})
            subscription["quantity"] = quantity
            # A subscription suspended for non-payment stays so whatever its quantity.
            subscription["status"] = "suspended" if quantity == 0 or subscription.get("status") == "suspended" \
                else "active"
            self._done[request_id] = provider_subscription_id

    def cancel(self, provider_subscription_id: str, request_id: str) -> None:
        self.update_quantity(provider_subscription_id, 0, request_id)

    def suspend(self, provider_subscription_id: str, request_id: str) -> None:
        self._set_status(provider_subscription_id, "suspended", request_id)

    def reactivate(self, provider_subscription_id: str, request_id: str) -> None:
        self._set_status(provider_subscription_id, "active", request_id)

    def _set_status(self, provider_subscription_id: str, status: str, request_id: str) -> None:
        with self._lock:
            self.status_requests.append((provider_subscription_id, status, request_id))
            self._call()
            if request_id in self._done:
                return  # a repeat of a request already applied: the same answer, nothing done again
            subscription = self._subscriptions.setdefault(
                provider_subscription_id, {"id": provider_subscription_id, "status": "active"})
            subscription["status"] = status
            self._done[request_id] = provider_subscription_id

    def get(self, provider_subscription_id: str) -> Dict:
        with self._lock:
            return dict(self._subscriptions[provider_subscription_id])
