"""The daily renewal job: subscriptions start their next term on their renewal day, with the
reduction scheduled for it; those that do not renew lapse to zero (`domain.subscriptions`)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol

from ..domain import subscriptions as rules
from ..domain.audit import SYSTEM
from ..domain.errors import StaleVersion
from ..domain.ids import new_id
from ..domain.subscriptions import Subscription
from . import audit, provisioning

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..storage.licences import SubscriptionRepository
    from .audit import Clocked
    from .provisioning import QueuesChanges

    class RenewalDeps(Clocked, QueuesChanges, Protocol):
        """The subscriptions due, the day, and the queue for the reductions scheduled for renewal."""

        subscriptions: SubscriptionRepository


RENEWAL_LOOKBACK_DAYS = 7  # a missed or deferred renewal is picked up by the following runs


def renew_due(deps: RenewalDeps, day: date) -> int:
    """Renew every subscription whose renewal date is `day` or a recent day still unrenewed.
    Repeat-safe per subscription."""
    renewed = 0
    for offset in range(RENEWAL_LOOKBACK_DAYS):
        for org, sub_id in deps.subscriptions.renewing_on(day - timedelta(days=offset)):
            renewed += _renew_with_retry(deps, org, sub_id, day)
    return renewed


def _renew_with_retry(deps: RenewalDeps, org: str, sub_id: str, today: date, attempts: int = 3) -> int:
    for _ in range(attempts):
        sub = deps.subscriptions.get(org, sub_id)
        if not rules.due_for_renewal(sub, today):
            return 0  # already renewed (the index lags), not due, not renewable, or a change in flight
        try:
            _renew(deps, sub)
            return 1
        except StaleVersion:
            continue  # changed meanwhile: read it again
    return 0


def _renew(deps: RenewalDeps, sub: Subscription) -> None:
    scheduled = None
    if sub.pending_change is not None and sub.pending_change.applies == rules.APPLIES_AT_RENEWAL:
        scheduled = deps.subscriptions.get_change(sub.organization_id, sub.id, sub.pending_change.change_id)
    renewal = rules.renew_or_lapse(sub, sub.renews_on, deps.clock(), change_id=new_id(), scheduled=scheduled)
    renewed, to_provision = renewal.subscription, renewal.to_provision
    deps.subscriptions.save(
        [(renewed, sub.version)], renewal.updated_changes, new_changes=renewal.new_changes, audit=[audit.entry(
            deps, SYSTEM, sub.organization_id, "subscription.renewed", f"subscription:{sub.id}",
            before={"renews_on": sub.renews_on.isoformat()},
            after={"renews_on": renewed.renews_on.isoformat() if renewed.renews_on else None,
                   "scheduled_quantity": to_provision.to_quantity if to_provision else None})])
    if to_provision is not None:
        provisioning.queue_change(deps, to_provision)
