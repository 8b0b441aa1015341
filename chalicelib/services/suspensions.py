"""Suspension at the licence provider for an invoice long overdue, and reactivation once it is no
longer warranted (paid, disputed, or held by an operator).

`suspend_due` is the daily job (after the overdue run): it finds the organisations through the
(status, due date) index of overdue invoices and the index of suspensions under way — never a
Scan — and, for each, opens, keeps or lifts its suspension (`domain.suspensions`). `after_payment`
lifts a suspension the moment a payment makes it unwarranted; what a provider failure leaves, the
next daily run finishes.

Every provider call is claimed first (a conditional write per suspension, action and
subscription), so two runs at once call the provider once per subscription; its request id is
derived from the suspension and the subscription, so a retry after a failure or a crash is the same
request; the subscription is saved on its version after the call, with the claim marked done and
its audit entry, in one transaction.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Dict, List, Optional, Protocol

from .. import observability
from ..adapters.licence_provider import LicenceProviderRejected, LicenceProviderUnavailable
from ..domain import billing as billing_rules
from ..domain import subscriptions as rules
from ..domain import suspensions as states
from ..domain.audit import SYSTEM
from ..domain.billing import Invoice
from ..domain.clock import iso, local_day
from ..domain.dunning import suspending_invoice, suspension_day_for
from ..domain.errors import StaleVersion
from ..domain.subscriptions import Subscription
from ..domain.suspensions import Suspension
from . import audit, notifications
from .dunning import policy_of, warned_on
from .provisioning import microsoft_customer_id

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.licence_provider import LicenceProvider
    from ..storage.billing import InvoiceRepository
    from ..storage.licences import SubscriptionRepository
    from ..storage.repositories import OrganizationRepository
    from ..storage.suspensions import SuspensionRepository
    from .dunning import PolicyDeps, WarningDeps
    from .notifications import QueuesEmails
    from .provisioning import CustomerLinkDeps

    class SuspensionDeps(CustomerLinkDeps, PolicyDeps, WarningDeps, QueuesEmails, Protocol):
        """The organisation's collectable invoices and policy, its suspension and subscriptions, the
        provider (and the organisation's customer there), and the email to the billing contacts and
        the operators (settings)."""

        invoices: InvoiceRepository
        organizations: OrganizationRepository
        subscriptions: SubscriptionRepository
        suspensions: SuspensionRepository
        licence_provider: LicenceProvider


log = logging.getLogger("csp_portal.services.suspensions")

# Longer than a provider call can take (the job's Lambda times out first): a claim left by a run
# that died mid-call lets the next run call again, with the same request id.
CLAIM_LEASE = timedelta(minutes=15)


def suspend_due(deps: SuspensionDeps) -> Dict[str, int]:
    """The daily run: every organisation with an overdue invoice (few: read them all, since an
    organisation's own policy may suspend earlier than the reseller's) or with a suspension under
    way is reviewed. One organisation's trouble does not stop the others."""
    today = local_day(deps.clock())
    organizations = {i.organization_id for i in deps.invoices.due_before(billing_rules.OVERDUE, today)}
    organizations |= set(deps.suspensions.under_way())
    outcome = {"suspended": 0, "reactivated": 0, "failed": 0}
    for organization_id in sorted(organizations):
        try:
            for key, count in review(deps, organization_id).items():
                outcome[key] += count
        except StaleVersion:
            # Another run moved this suspension meanwhile; whatever is left, the next run sees.
            log.info("suspension of %s moved by another run", organization_id)
        except Exception:  # noqa: BLE001 - one organisation's trouble must not stop the others
            # A race on its items (a transaction conflict), a provider's unexpected answer, a
            # throttled table: its claims expire and the next run finishes it.
            log.exception("suspension of %s left for the next run", organization_id)
            outcome["failed"] += 1
    return outcome


def after_payment(deps: SuspensionDeps, paid: Invoice) -> None:
    """A payment landed on `paid`: lift the organisation's suspension if nothing warrants it any
    more. Never fails the payment (already recorded): a provider failure or a race is left for the
    daily run, which lifts what is left."""
    suspension = deps.suspensions.get(paid.organization_id)
    if suspension is None or suspension.state not in states.UNDER_WAY:
        return  # the common case: one read, nothing to do
    try:
        review(deps, paid.organization_id, paid=paid)
    except Exception:  # noqa: BLE001 — the payment stands whatever happens here
        log.exception("reactivation after the payment of invoice %s left for the daily run", paid.id)


def review(deps: SuspensionDeps, organization_id: str, paid: Optional[Invoice] = None) -> Dict[str, int]:
    """Open, keep or lift the organisation's suspension as its invoices and policy warrant today.
    A suspension being lifted is always finished first. An operator's hold (`hold_suspension`)
    makes it unwarranted, so a hold on an organisation already suspended reactivates it: the hold is
    the operator's way to give service back while a payment is negotiated."""
    outcome = {"suspended": 0, "reactivated": 0, "failed": 0}
    suspension = deps.suspensions.get(organization_id)
    if suspension is not None and suspension.state == states.LIFTING:
        return _lift(deps, suspension, outcome)
    warranted = _warranting_invoice(deps, organization_id, paid)
    if warranted is not None:
        if suspension is None or suspension.state == states.LIFTED:
            suspension = _open(deps, organization_id, suspension, warranted)
        return _suspend_all(deps, suspension, outcome)
    if suspension is not None and suspension.state == states.SUSPENDED:
        lifting = states.begin_lifting(suspension, iso(deps.clock()))
        deps.suspensions.save(lifting, suspension.version, audit=audit.entry(
            deps, SYSTEM, organization_id, "suspension.lifting", f"suspension:{suspension.number}",
            before={"state": suspension.state}, after={"state": lifting.state}))
        return _lift(deps, lifting, outcome)
    return outcome


def _warranting_invoice(deps: SuspensionDeps, organization_id: str, paid: Optional[Invoice]) -> Optional[Invoice]:
    """The invoice that warrants a suspension today, read again consistently: the index lags its
    writes, and a payment that landed this morning (or the one just saved) must count before the
    provider is called."""
    invoices = {i.id: i for i in deps.invoices.collectable_of(organization_id)}
    if paid is not None:
        invoices[paid.id] = paid
    policy, today = policy_of(deps, organization_id), local_day(deps.clock())
    for _ in range(len(invoices)):
        candidate = suspending_invoice(policy, invoices.values(), today)
        if candidate is None:
            return None
        fresh = candidate if paid is not None and candidate.id == paid.id else deps.invoices.get(candidate.id)
        if suspending_invoice(policy, [fresh], today) is not None:
            # Never before the warning's notice has run: a warning sent late moves the day.
            earliest = suspension_day_for(policy, fresh, warned_on(deps, fresh), today)
            return fresh if earliest is not None and earliest <= today else None
        invoices[fresh.id] = fresh  # paid or disputed since the index was written: look at the next one
    return None


def _open(deps: SuspensionDeps, organization_id: str, previous: Optional[Suspension], invoice: Invoice) -> Suspension:
    opened = states.open_suspension(previous, organization_id, invoice, iso(deps.clock()))
    try:
        deps.suspensions.save(opened, previous.version if previous else None, audit=audit.entry(
            deps, SYSTEM, organization_id, "suspension.opened", f"suspension:{opened.number}",
            before=None, after={"state": opened.state, "invoice_id": invoice.id, "invoice_number": invoice.number,
                                "days_overdue": (local_day(deps.clock()) - invoice.due_date).days}))
    except StaleVersion:
        current = deps.suspensions.get(organization_id)  # another run opened it first: go on with it
        if current is None or current.state != states.SUSPENDED:
            raise
        return current
    return opened


def _suspend_all(deps: SuspensionDeps, suspension: Suspension, outcome: Dict[str, int]) -> Dict[str, int]:
    for sub in deps.subscriptions.list(suspension.organization_id):
        if rules.suspendable(sub):
            done = _call(deps, suspension, states.SUSPEND, sub)
            if done:
                outcome["suspended"] += 1
            elif done is False:
                outcome["failed"] += 1
    # A payment that landed during these calls began lifting the suspension but could not finish
    # while they were in flight: finished now rather than at tomorrow's run.
    current = deps.suspensions.get(suspension.organization_id)
    if current is not None and current.number == suspension.number and current.state == states.LIFTING:
        return _lift(deps, current, outcome)
    # Told once every subscription is suspended: by the run that suspended the last of them.
    if outcome["suspended"] and not outcome["failed"]:
        _tell(deps, suspension, "subscriptions_suspended",
              [s for s in deps.subscriptions.list(suspension.organization_id) if s.status == rules.SUSPENDED])
    return outcome


def _lift(deps: SuspensionDeps, suspension: Suspension, outcome: Dict[str, int]) -> Dict[str, int]:
    for sub in deps.subscriptions.list(suspension.organization_id):
        if sub.status == rules.SUSPENDED:
            done = _call(deps, suspension, states.REACTIVATE, sub)
            if done:
                outcome["reactivated"] += 1
            elif done is False:
                outcome["failed"] += 1
    remaining = [s for s in deps.subscriptions.list(suspension.organization_id) if s.status == rules.SUSPENDED]
    # A run that read the suspension before it began lifting may still be suspending one: closed
    # now, that subscription would stay suspended with no suspension under way to lift it.
    in_flight = deps.suspensions.calls_in_flight(suspension.organization_id, suspension.number, states.SUSPEND,
                                                 iso(deps.clock()))
    if remaining or in_flight:
        return outcome  # a provider failure or another run's call in flight: the next run finishes it
    closed = states.lifted(suspension, iso(deps.clock()))
    try:
        deps.suspensions.save(closed, suspension.version, audit=audit.entry(
            deps, SYSTEM, suspension.organization_id, "suspension.lifted", f"suspension:{suspension.number}",
            before={"state": suspension.state}, after={"state": closed.state}))
    except StaleVersion:
        return outcome  # another run closed it
    reactivated = [s for s in deps.subscriptions.list(suspension.organization_id)
                   if s.status == rules.ACTIVE and s.quantity > 0]
    _tell(deps, suspension, "subscriptions_reactivated", reactivated)
    return outcome


def _call(deps: SuspensionDeps, suspension: Suspension, action: str, sub: Subscription) -> Optional[bool]:
    """Claim, call the provider, save: True when done here, False when the provider failed (the
    claim is released for the next run), None when another run holds or made the call, or the
    provider refused it (settled: the operators are told)."""
    now = deps.clock()
    org = suspension.organization_id
    if not deps.suspensions.claim(org, suspension.number, action, sub.id, now=iso(now), until=iso(now + CLAIM_LEASE)):
        return None
    request_id = states.request_id(suspension, action, sub.id)
    try:
        customer_id = microsoft_customer_id(deps, org)
        if action == states.SUSPEND:
            deps.licence_provider.suspend(customer_id, sub.provider_subscription_id, request_id)
        else:
            deps.licence_provider.reactivate(customer_id, sub.provider_subscription_id, request_id)
    except LicenceProviderRejected as exc:
        # Asking again would be refused again: this call is settled (its claim done) and the
        # operators, who can act at the provider, told once; the subscription stays as it is.
        log.warning("%s of subscription %s refused by the provider: %s", action, sub.id, exc.code)
        reason = f"{exc.description} (código {exc.code})"
        deps.suspensions.refuse(org, suspension.number, action, sub.id, audit=audit.entry(
            deps, SYSTEM, org, f"subscription.{action}_refused", f"subscription:{sub.id}",
            before={"status": sub.status}, after={"status": sub.status, "error": reason,
                                                  "suspension": suspension.number, "provider_request_id": request_id}))
        _tell_refusal(deps, suspension, action, sub, reason)
        return None  # not left for the next run: no run calls again
    except LicenceProviderUnavailable as exc:
        log.warning("%s of subscription %s failed at the provider: %s", action, sub.id, observability.scrub(exc))
        deps.suspensions.release(org, suspension.number, action, sub.id, audit=audit.entry(
            deps, SYSTEM, org, f"subscription.{action}_failed", f"subscription:{sub.id}",
            before={"status": sub.status}, after={"status": sub.status, "error": str(exc),
                                                  "suspension": suspension.number}))
        return False
    for _ in range(3):  # the subscription may have moved during the call (a renewal, the panel)
        if (action == states.SUSPEND and sub.status != rules.ACTIVE) or \
                (action == states.REACTIVATE and sub.status != rules.SUSPENDED):
            return None  # no longer what was called for; the claim stays until its lease ends
        after = rules.suspend(sub, suspension.number) if action == states.SUSPEND else rules.reactivate(sub)
        try:
            deps.suspensions.save_subscription(after, sub.version, number=suspension.number, action=action,
                                               audit=audit.entry(
                deps, SYSTEM, org, "subscription.suspended" if action == states.SUSPEND
                else "subscription.reactivated", f"subscription:{sub.id}",
                before={"status": sub.status}, after={"status": after.status, "suspension": suspension.number,
                                                      "provider_request_id": request_id}))
            return True
        except StaleVersion:
            sub = deps.subscriptions.get(org, sub.id)
    return None


def _tell_refusal(deps: SuspensionDeps, suspension: Suspension, action: str, sub: Subscription, reason: str) -> None:
    """The operators, once per suspension, action and subscription (the delivery key)."""
    organization = deps.organizations.get(suspension.organization_id)
    notifications.queue_email(
        deps, template="subscription_provider_refused", to=[deps.settings.operators_email],
        delivery_key=f"provider_refused#{suspension.organization_id}#{suspension.number}#{action}#{sub.id}",
        context={"organization": {"name": organization.name}, "invoice": {"number": suspension.invoice_number},
                 "subscription": {"name": sub.name, "quantity": sub.quantity}, "action": action,
                 "reason": reason, "portal_url": deps.settings.portal_url})


def _tell(deps: SuspensionDeps, suspension: Suspension, template: str, subs: List[Subscription]) -> None:
    """One email per suspension and per lifting (the delivery key), to the billing contacts and the
    operators; rendered with what the subscriptions are now."""
    if not subs:
        return
    contract = deps.contracts.get(suspension.organization_id)
    organization = deps.organizations.get(suspension.organization_id)
    recipients = notifications.with_operators(contract.billing_contacts if contract else [],
                                              deps.settings.operators_email)
    notifications.queue_email(
        deps, template=template, to=recipients, organization_id=suspension.organization_id,
        delivery_key=f"{template}#{suspension.organization_id}#"
                                                             f"{suspension.number}",
        context={"organization": {"name": organization.name},
                 "invoice": {"number": suspension.invoice_number},
                 "subscriptions": [{"name": s.name, "quantity": s.quantity} for s in subs],
                 "portal_url": deps.settings.portal_url})
