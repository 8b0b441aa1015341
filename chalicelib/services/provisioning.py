"""Provisioning: changes go to the licence provider through one queue, one message per change.

`queue_change` writes that queue's messages (and the worker, to ask again about a pending order);
the worker (`apply_queued_change`) sends a change to the provider and records the result, and the
sweeper re-queues changes whose message was lost.

Every provider call names the organisation's customer at the provider (`microsoft_customer_id`:
linked or created before its first call, then recorded on the organisation). A purchase orders the
catalog product's offer; New Commerce may answer with an order still being provisioned, whose
outcome the worker asks later, never ordering twice for one change."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol

from .. import observability
from ..observability import Metric
from ..adapters.licence_provider import (CUSTOMER_NOT_LINKED, Customer, LicenceProviderRejected,
                                         LicenceProviderUnavailable, Offer, OrderPending, onmicrosoft_domain)
from ..domain import error_codes as codes
from ..domain import subscriptions as rules
from ..domain.audit import SYSTEM
from ..domain.clock import iso
from ..domain.errors import DomainError
from ..domain.organizations import Organization
from ..domain.subscriptions import QuantityChange, Subscription
from . import audit, contracts, notifications

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.licence_provider import LicenceProvider
    from ..adapters.queue import Queue
    from ..storage.licences import SubscriptionRepository
    from ..storage.repositories import CatalogRepository, OrganizationRepository, UserRepository
    from .audit import Clocked
    from .contracts import ContractClosingDeps

    class QueuesChanges(Protocol):
        """The provisioning queue, written by `queue_change` (and the worker's polls of an order) only."""

        provisioning_queue: Queue

    class CustomerLinkDeps(Clocked, Protocol):
        """The organisation's customer at the licence provider: the organisation, its first Master
        (the customer's contact) and the provider."""

        organizations: OrganizationRepository
        users: UserRepository
        licence_provider: LicenceProvider

    class ProvisioningDeps(ContractClosingDeps, QueuesChanges, Protocol):
        """The worker: the change and its subscription, the catalog's offer, the provider, the
        attempts allowed (settings), the requester and the operators to tell of a failure, the queue
        to ask again about a pending order, and the contract to close after a rescission."""

        catalog: CatalogRepository
        licence_provider: LicenceProvider

    class SweeperDeps(Clocked, QueuesChanges, Protocol):
        """Re-queueing the changes whose message was lost."""

        subscriptions: SubscriptionRepository


log = logging.getLogger("csp_portal.services.provisioning")

APPLY_CHANGE = "apply_change"
# A change still untried after this long lost its queue message (the write and the send are not atomic).
STUCK_AFTER = timedelta(minutes=15)
# A pending order is asked about again after the provider's Retry-After, within these bounds: the
# upper one below STUCK_AFTER, so the sweeper never takes a poll in its delay for a lost message.
ORDER_POLL_DELAY = (10, 600)
# MS-RequestId of an organisation's customer creation or link: one per organisation, so two
# workers (or a retry) ask the provider the same request and one customer is made.
_CUSTOMER_REQUESTS = uuid.UUID("8d5e6f7a-2b1c-4c3d-9e8f-0a1b2c3d4e5f")


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


# --- the organisation's customer at the provider -------------------------------------------------

def customer_request_id(organization_id: str) -> str:
    return str(uuid.uuid5(_CUSTOMER_REQUESTS, f"customer:{organization_id}"))


def microsoft_customer_id(deps: CustomerLinkDeps, organization_id: str) -> str:
    """The organisation's customer id at the licence provider: the one recorded, or the tenant the
    provider links (an existing Microsoft customer, by its domain) or creates, recorded now. The
    request id is the organisation's, so two workers at once (two purchases) make one customer; the
    id is recorded only while none is (`organization.microsoft_linked` in the trail), and the loser
    of that race uses the winner's. Raises what the provider raises."""
    organization = deps.organizations.get(organization_id)
    if organization.microsoft_customer_id:
        return organization.microsoft_customer_id
    domain = organization.tenant_domain
    if not domain and not organization.existing_microsoft_customer:
        # A new customer that gave no domain: its tenant is created under one derived from its
        # name and id (stable, so a retry asks the same), never a first purchase refused for it.
        domain = onmicrosoft_domain(organization.name, organization.id)
    customer = Customer(organization_id=organization.id, name=organization.name, cnpj=organization.cnpj,
                        domain=domain,
                        existing_microsoft_customer=organization.existing_microsoft_customer,
                        email=_first_master_email(deps, organization.id), address=organization.address)
    customer_id = deps.licence_provider.ensure_customer(customer, customer_request_id(organization.id))
    if deps.organizations.link_microsoft_customer(organization.id, customer_id, audit.entry(
            deps, SYSTEM, organization.id, "organization.microsoft_linked", f"organization:{organization.id}",
            before={"microsoft_customer_id": None},
            after={"microsoft_customer_id": customer_id, "tenant_domain": organization.tenant_domain, "domain": domain,
                   "existing_microsoft_customer": organization.existing_microsoft_customer})):
        return customer_id
    recorded = deps.organizations.get(organization.id).microsoft_customer_id
    if recorded is None:  # a transaction conflict, nothing recorded: the next delivery tries again
        raise LicenceProviderUnavailable("the customer's id could not be recorded yet")
    return recorded


def _first_master_email(deps: CustomerLinkDeps, organization_id: str) -> Optional[str]:
    masters, token = [], None
    while True:
        users, token = deps.users.list(organization_id, limit=100, next_token=token)
        masters += [u for u in users if u.is_master]
        if not token:
            break
    return min(masters, key=lambda u: (u.created_at or "", u.email)).email if masters else None


# --- the worker ---------------------------------------------------------------------------------

def apply_queued_change(deps: ProvisioningDeps, message: Dict[str, Any], attempt: int) -> str:
    """Send one change to the licence provider and record the result. Repeat-safe: a change
    already applied, failed or superseded is left alone, and a purchase the provider took as an
    order is never ordered again (its outcome is asked). Returns the change's status."""
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
    except OrderPending as pending:
        return _order_pending(deps, sub, change, attempt, pending)
    except LicenceProviderRejected as exc:
        # Refused for what was asked: asking again would be refused again.
        return _fail(deps, sub, change, attempt, _refusal(deps, org, exc), tell_operators=True)
    except DomainError as exc:  # ours, before any call: a product the real provider cannot order
        if exc.code != codes.OFFER_NOT_MAPPED.code:
            return _unexpected(deps, sub, change, attempt, exc)
        return _fail(deps, sub, change, attempt, exc.message, tell_operators=True)
    except LicenceProviderUnavailable as exc:
        return _provider_failed(deps, sub, change, attempt, str(exc))
    except Exception as exc:  # noqa: BLE001 - see _unexpected
        return _unexpected(deps, sub, change, attempt, exc)
    applied, done = rules.apply(sub, change, deps.clock(), attempt=attempt, provider_subscription_id=provider_id)
    deps.subscriptions.save([(applied, sub.version)], [done], audit=[audit.entry(
        deps, SYSTEM, org, "subscription.quantity_applied", f"subscription:{sub.id}",
        before={"quantity": sub.quantity, "status": sub.status},
        after={"quantity": applied.quantity, "status": applied.status, "change_id": change.id,
               **({"order_id": change.order_id} if change.order_id else {})})])
    if change.to_quantity == 0:
        contracts.close_contract_if_all_zero(deps, org, rescission=change.reason == rules.TERMINATION_REASON)
    return done.status


def _offer(deps: ProvisioningDeps, sub: Subscription) -> Offer:
    """What to order, from the catalog: Partner Center needs the product's offer id (the
    simulator orders the SKU)."""
    product = deps.catalog.get(sub.sku)
    offer_id = product.offer_id if product is not None else None
    if offer_id is None and deps.settings.licence_provider == "real":
        raise codes.OFFER_NOT_MAPPED(sku=sub.sku)
    return Offer(sku=sub.sku, offer_id=offer_id, term=sub.term, billing_frequency=sub.billing_frequency)


def _call_provider(deps: ProvisioningDeps, sub: Subscription, change: QuantityChange) -> str:
    # The change id is the provider's request id: a retried call is not applied twice.
    if change.kind == rules.PURCHASE:
        if change.order_id is not None:  # ordered already: only its outcome is asked, never a second order
            return deps.licence_provider.order_outcome(microsoft_customer_id(deps, sub.organization_id),
                                                       change.order_id)
        offer = _offer(deps, sub)
        customer_id = microsoft_customer_id(deps, sub.organization_id)
        return deps.licence_provider.create_subscription(customer_id, offer, change.to_quantity, change.id)
    # Quantity 0 cancels: the provider accepts it inside its cancellation window only (the domain
    # sends a reduction now only inside ours) and refuses it otherwise, a permanent failure.
    customer_id = microsoft_customer_id(deps, sub.organization_id)
    deps.licence_provider.update_quantity(customer_id, sub.provider_subscription_id, change.to_quantity, change.id)
    return sub.provider_subscription_id


def _refusal(deps: ProvisioningDeps, organization_id: str, exc: LicenceProviderRejected) -> str:
    """The requester's and the operators' words for a provider's refusal."""
    if exc.code == CUSTOMER_NOT_LINKED:
        organization: Organization = deps.organizations.get(organization_id)
        return codes.MICROSOFT_CUSTOMER_NOT_LINKED(domain=organization.tenant_domain or organization.name).message
    return codes.LICENCE_PROVIDER_REJECTED(description=exc.description, provider_code=exc.code).message


def _order_pending(deps: ProvisioningDeps, sub: Subscription, change: QuantityChange, attempt: int,
                   pending: OrderPending) -> str:
    """The provider took the purchase as an order still being provisioned: the order is kept on the
    change and asked about after its Retry-After, in a new message. Not through this message's
    visibility: each redelivery counts towards the queue's redrive limit, and a poll is no failure.
    A generous number of polls, then the change fails and the operators check the order."""
    if change.order_polls >= rules.MAX_ORDER_POLLS:
        return _fail(deps, sub, change, attempt, codes.ORDER_STILL_PENDING(
            order_id=pending.order_id, polls=change.order_polls).message, tell_operators=True)
    polled = rules.order_pending(change, pending.order_id, deps.clock())
    if not deps.subscriptions.record_order(polled):
        return rules.CHANGE_PENDING  # another delivery settled the change, or holds the order: it polls
    low, high = ORDER_POLL_DELAY
    delay = min(max(int(pending.retry_after_seconds or 0), low), high)
    deps.provisioning_queue.send(change_message(sub.organization_id, sub.id, change.id), delay_seconds=delay)
    log.info("change %s: order %s pending at the provider (poll %d), asked again in %ds", change.id,
             pending.order_id, polled.order_polls, delay)
    return rules.CHANGE_PENDING


def _provider_failed(deps: ProvisioningDeps, sub: Subscription, change: QuantityChange, attempt: int,
                     error: str) -> str:
    if attempt < deps.settings.provisioning_max_attempts:
        deps.subscriptions.record_attempt(rules.record_attempt(change, attempt, error))
        raise RetryLater(deps.settings.provisioning_backoff_seconds * 2 ** (attempt - 1), error)
    return _fail(deps, sub, change, attempt, error, tell_operators=False)


def _unexpected(deps: ProvisioningDeps, sub: Subscription, change: QuantityChange, attempt: int,
                exc: Exception) -> str:
    """Anything else the call raised (an id the adapter refuses, a secret unreadable, a bug) is a
    failed attempt like an outage: recorded, retried with backoff, failed for good after the
    attempts allowed with the requester told. Left unrecorded, the change would stay at attempts
    == 0, and the sweeper would queue it again every 15 minutes forever. The record names the
    exception's class only: its text may quote what a user must not read."""
    log.exception("change %s: unexpected failure calling the licence provider (attempt %d)", change.id, attempt)
    return _provider_failed(deps, sub, change, attempt, f"falha inesperada ao chamar o provedor ({type(exc).__name__})")


def _fail(deps: ProvisioningDeps, sub: Subscription, change: QuantityChange, attempt: int, error: str, *,
          tell_operators: bool) -> str:
    """The change fails for good: recorded, the requester told (and the operators, when what failed
    needs them: a refusal, an offer missing, an order that never completed), the message to the DLQ."""
    after, failed = rules.fail(sub, change, attempt, error)
    deps.subscriptions.save([(after, sub.version)], [failed], audit=[audit.entry(
        deps, SYSTEM, sub.organization_id, "subscription.change_failed", f"subscription:{sub.id}",
        before={"pending_change": change.to_quantity},
        after={"status": failed.status, "error": error, **({"order_id": change.order_id} if change.order_id else {})})])
    requester = deps.users.get(change.requested_by)
    recipients = [requester.email] if requester is not None else []
    if tell_operators:
        recipients = list(dict.fromkeys([*recipients, deps.settings.operators_email]))
    if recipients:
        notifications.queue_email(
            deps, template="change_failed", to=recipients, delivery_key=f"change_failed#{change.id}",
            organization_id=change.organization_id,
            context={"user": {"name": requester.name if requester is not None else "equipe"},
                     "subscription": {"name": sub.name},
                     "change": {"kind": change.kind, "from_quantity": change.from_quantity,
                                "to_quantity": change.to_quantity, "requested_at": change.requested_at},
                     "reason": error if tell_operators else None,
                     "portal_url": deps.settings.portal_url})
    observability.count(Metric.PROVISIONING_FAILURES)
    raise ProvisioningFailed(f"change {change.id} failed after {attempt} attempts: {error}")


# --- the sweeper --------------------------------------------------------------------------------

def requeue_stuck_changes(deps: SweeperDeps) -> int:
    """Queue again the changes saved but never tried (the queue message was lost between the write
    and the send). The worker is repeat-safe, so a change queued twice is applied once."""
    before = iso(deps.clock() - STUCK_AFTER)
    stuck = [c for c in deps.subscriptions.stale_pending_changes(before) if _lost(c, before)]
    for change in stuck:
        deps.provisioning_queue.send(change_message(change.organization_id, change.subscription_id, change.id))
    return len(stuck)


def _lost(change: QuantityChange, before: str) -> bool:
    """Never tried; or ordered and not asked about for longer than any poll's delay (the poll's
    message was lost). A change with an order is only ever asked about, never ordered again."""
    if change.order_id is not None:
        return change.order_polled_at is not None and change.order_polled_at < before
    return change.attempts == 0
