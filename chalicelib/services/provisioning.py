"""Provisioning: changes go to the licence provider through one queue, one message per change.

`queue_change` is the only writer of that queue's messages; the worker (`apply_queued_change`)
sends a change to the provider and records the result, and the sweeper re-queues changes whose
message was lost."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Dict, Protocol

from ..adapters.licence_provider import LicenceProviderUnavailable
from ..domain import subscriptions as rules
from ..domain.audit import SYSTEM
from ..domain.clock import iso
from ..domain.subscriptions import QuantityChange, Subscription
from . import audit, contracts, notifications

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.licence_provider import LicenceProvider
    from ..adapters.queue import Queue
    from ..storage.licences import SubscriptionRepository
    from .audit import Clocked
    from .contracts import ContractClosingDeps

    class QueuesChanges(Protocol):
        """The provisioning queue, written by `queue_change` only."""

        provisioning_queue: Queue

    class ProvisioningDeps(ContractClosingDeps, Protocol):
        """The worker: the change and its subscription, the provider, the attempts allowed (settings),
        the requester to tell of a failure, and the contract to close after a rescission."""

        licence_provider: LicenceProvider

    class SweeperDeps(Clocked, QueuesChanges, Protocol):
        """Re-queueing the changes whose message was lost."""

        subscriptions: SubscriptionRepository


APPLY_CHANGE = "apply_change"
# A change still untried after this long lost its queue message (the write and the send are not atomic).
STUCK_AFTER = timedelta(minutes=15)


class RetryLater(Exception):
    """The provider failed; the queue should deliver the message again after `delay_seconds`."""

    def __init__(self, delay_seconds: int, reason: str):
        super().__init__(reason)
        self.delay_seconds = delay_seconds


class ProvisioningFailed(Exception):
    """The last attempt failed: the change is marked failed and the message goes to the DLQ."""


def change_message(organization_id: str, subscription_id: str, change_id: str) -> Dict[str, Any]:
    """The provisioning queue's one message shape."""
    return {"kind": APPLY_CHANGE, "organization_id": organization_id, "subscription_id": subscription_id,
            "change_id": change_id}


def queue_change(deps: QueuesChanges, change: QuantityChange) -> None:
    deps.provisioning_queue.send(change_message(change.organization_id, change.subscription_id, change.id))


# --- the worker ---------------------------------------------------------------------------------

def apply_queued_change(deps: ProvisioningDeps, message: Dict[str, Any], attempt: int) -> str:
    """Send one change to the licence provider and record the result. Repeat-safe: a change
    already applied, failed or superseded is left alone. Returns the change's final status."""
    org, sub_id = message["organization_id"], message["subscription_id"]
    change = deps.subscriptions.get_change(org, sub_id, message["change_id"])
    if change.status != rules.CHANGE_PENDING:
        if change.status == rules.CHANGE_APPLIED and change.to_quantity == 0:
            # A redelivery after a crash between applying and closing: close now if it is due.
            contracts.close_contract_if_all_zero(deps, org, rescission=change.reason == rules.TERMINATION_REASON)
        return change.status
    sub = deps.subscriptions.get(org, sub_id)
    try:
        provider_id = _call_provider(deps, sub, change)
    except LicenceProviderUnavailable as exc:
        return _provider_failed(deps, sub, change, attempt, str(exc))
    applied, done = rules.apply(sub, change, deps.clock(), attempt=attempt, provider_subscription_id=provider_id)
    deps.subscriptions.save([(applied, sub.version)], [done], audit=[audit.entry(
        deps, SYSTEM, org, "subscription.quantity_applied", f"subscription:{sub.id}",
        before={"quantity": sub.quantity, "status": sub.status},
        after={"quantity": applied.quantity, "status": applied.status, "change_id": change.id})])
    if change.to_quantity == 0:
        contracts.close_contract_if_all_zero(deps, org, rescission=change.reason == rules.TERMINATION_REASON)
    return done.status


def _call_provider(deps: ProvisioningDeps, sub: Subscription, change: QuantityChange) -> str:
    # The change id is the provider's request id: a retried call is not applied twice.
    if change.kind == rules.PURCHASE:
        return deps.licence_provider.create_subscription(sub.organization_id, sub.sku, change.to_quantity, change.id)
    deps.licence_provider.update_quantity(sub.provider_subscription_id, change.to_quantity, change.id)
    return sub.provider_subscription_id


def _provider_failed(deps: ProvisioningDeps, sub: Subscription, change: QuantityChange, attempt: int,
                     error: str) -> str:
    if attempt < deps.settings.provisioning_max_attempts:
        deps.subscriptions.record_attempt(rules.record_attempt(change, attempt, error))
        raise RetryLater(deps.settings.provisioning_backoff_seconds * 2 ** (attempt - 1), error)
    after, failed = rules.fail(sub, change, attempt, error)
    deps.subscriptions.save([(after, sub.version)], [failed], audit=[audit.entry(
        deps, SYSTEM, sub.organization_id, "subscription.change_failed", f"subscription:{sub.id}",
        before={"pending_change": change.to_quantity}, after={"status": failed.status, "error": error})])
    requester = deps.users.get(change.requested_by)
    if requester is not None:
        notifications.queue_email(
            deps, template="change_failed", to=[requester.email], delivery_key=f"change_failed#{change.id}",
            context={"user": {"name": requester.name}, "subscription": {"name": sub.name},
                     "change": {"kind": change.kind, "from_quantity": change.from_quantity,
                                "to_quantity": change.to_quantity, "requested_at": change.requested_at},
                     "portal_url": deps.settings.portal_url})
    raise ProvisioningFailed(f"change {change.id} failed after {attempt} attempts: {error}")


# --- the sweeper --------------------------------------------------------------------------------

def requeue_stuck_changes(deps: SweeperDeps) -> int:
    """Queue again the changes saved but never tried (the queue message was lost between the write
    and the send). The worker is repeat-safe, so a change queued twice is applied once."""
    before = iso(deps.clock() - STUCK_AFTER)
    stuck = [(org, sub, change) for org, sub, change, attempts in deps.subscriptions.stale_pending_changes(before)
             if attempts == 0]
    for org, sub, change in stuck:
        deps.provisioning_queue.send(change_message(org, sub, change))
    return len(stuck)
