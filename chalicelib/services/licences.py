"""The licence panel: subscriptions, quantity changes (now or at renewal), cancellation,
contract termination, the provisioning worker and the renewal job."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Optional

from ..adapters.licence_provider import LicenceProviderUnavailable
from ..domain import contract as contract_rules
from ..domain import subscriptions as rules
from ..domain.audit import SYSTEM
from ..domain.clock import iso, local_day
from ..domain.errors import Conflict, StaleVersion
from ..domain.ids import new_id
from ..domain.proration import Period, ProratedLine, period_containing, prorate
from ..domain.subscriptions import PendingChange, QuantityChange, Subscription
from . import audit, catalog, notifications
from .caller import Caller


class RetryLater(Exception):
    """The provider failed; the queue should deliver the message again after `delay_seconds`."""

    def __init__(self, delay_seconds: int, reason: str):
        super().__init__(reason)
        self.delay_seconds = delay_seconds


class ProvisioningFailed(Exception):
    """The last attempt failed: the change is marked failed and the message goes to the DLQ."""


def _window(deps) -> timedelta:
    return timedelta(days=deps.settings.cancellation_window_days)


# --- views --------------------------------------------------------------------------------------

def change_view(change: QuantityChange) -> Dict[str, Any]:
    return {
        "id": change.id, "subscription_id": change.subscription_id, "kind": change.kind,
        "from_quantity": change.from_quantity, "quantity": change.to_quantity, "applies": change.applies,
        "status": change.status, "reason": change.reason, "reason_text": change.reason_text,
        "requested_at": change.requested_at, "requested_by": change.requested_by,
        "effective_on": change.effective_on.isoformat() if change.effective_on else None,
        "attempts": change.attempts, "error": change.error, "applied_at": change.applied_at,
    }


def subscription_view(deps, sub: Subscription, prices: Dict[str, int]) -> Dict[str, Any]:
    now = deps.clock()
    deadline = rules.cancellation_allowed_until(sub, now, _window(deps))
    pending = sub.pending_change
    return {
        "id": sub.id, "sku": sub.sku, "name": sub.name, "family": sub.family, "quantity": sub.quantity,
        "unit_price_cents": prices.get(sub.sku), "currency": "BRL", "status": sub.status, "term": sub.term,
        "billing_frequency": sub.billing_frequency, "auto_renew": sub.auto_renew,
        "started_on": sub.started_on.isoformat() if sub.started_on else None,
        "renews_on": sub.renews_on.isoformat() if sub.renews_on else None,
        "cancellation_allowed_until": deadline.isoformat() if deadline else None,
        "reducible_now": rules.reducible_seats(sub, now, _window(deps)),
        "pending_change": None if pending is None else {
            "id": pending.change_id, "quantity": pending.quantity, "requested_at": pending.requested_at,
            "requested_by": pending.requested_by, "applies": pending.applies},
        "timeline": [{"from": s.start.isoformat(), "quantity": s.quantity} for s in sub.timeline],
        "version": sub.version,
    }


def list_subscriptions(deps, caller: Caller) -> List[Dict[str, Any]]:
    prices = catalog.prices_today(deps)
    return [subscription_view(deps, s, prices) for s in deps.subscriptions.list(caller.organization_id)]


def get_subscription(deps, caller: Caller, subscription_id: str) -> Dict[str, Any]:
    sub = deps.subscriptions.get(caller.organization_id, subscription_id)
    return subscription_view(deps, sub, catalog.prices_today(deps))


def list_changes(deps, caller: Caller, subscription_id: str, *, limit: int, next_token: Optional[str]):
    deps.subscriptions.get(caller.organization_id, subscription_id)  # 404 for another organisation's
    return deps.subscriptions.changes(caller.organization_id, subscription_id, limit=limit, next_token=next_token)


# --- changes ------------------------------------------------------------------------------------

def _active_contract(deps, organization_id: str, *, to_zero: bool = False):
    contract = deps.contracts.get(organization_id)
    # While a rescission runs, cancelling what is left is still allowed.
    allowed = (contract_rules.ACTIVE, contract_rules.TERMINATING) if to_zero else (contract_rules.ACTIVE,)
    if contract.status not in allowed:
        raise Conflict("O contrato não está ativo (aceite o contrato antes).", code="contract_not_active",
                       details={"status": contract.status})
    return contract


def _plan_change(deps, caller: Caller, sub: Subscription, quantity: int, reason: Optional[str],
                 reason_text: Optional[str], now: datetime):
    """The change record and the subscription as it will be stored, plus a superseded scheduled change."""
    rules.ensure_changeable(sub, quantity)
    applies = rules.decide_applies(sub, quantity, now, _window(deps))
    change = QuantityChange(
        id=new_id(), subscription_id=sub.id, organization_id=sub.organization_id, kind="quantity",
        from_quantity=sub.quantity, to_quantity=quantity, requested_at=iso(now), requested_by=caller.user.id,
        applies=applies, reason=reason, reason_text=(reason_text or "").strip() or None,
        status=rules.CHANGE_PENDING if applies == rules.APPLIES_NOW else rules.CHANGE_SCHEDULED,
        effective_on=local_day(now) if applies == rules.APPLIES_NOW else sub.renews_on,
    )
    superseded = []
    if sub.pending_change is not None and quantity > sub.quantity:
        raise Conflict("Há uma redução agendada para a renovação. Para comprar mais licenças agora, cancele a "
                       "redução antes (altere para a quantidade atual) ou agende outra quantidade.",
                       code="scheduled_reduction_pending",
                       details={"scheduled_quantity": sub.pending_change.quantity})
    if sub.pending_change is not None:  # a scheduled change: the newer request replaces it
        old = deps.subscriptions.get_change(sub.organization_id, sub.id, sub.pending_change.change_id)
        superseded.append(replace(old, status=rules.CHANGE_SUPERSEDED))
    planned = replace(sub, pending_change=PendingChange(change_id=change.id, quantity=quantity,
                                                        requested_at=change.requested_at,
                                                        requested_by=caller.user.id, applies=applies),
                      version=sub.version + 1)
    return change, planned, superseded


def request_quantity_change(deps, caller: Caller, subscription_id: str, *, quantity: int,
                            reason: Optional[str] = None, reason_text: Optional[str] = None,
                            expected_version: Optional[int] = None) -> QuantityChange:
    sub = deps.subscriptions.get(caller.organization_id, subscription_id)  # 404 first: nothing else leaks
    quantity = rules.validate_quantity(quantity, deps.settings.max_quantity)
    reason = rules.validate_reason(quantity, reason)
    _active_contract(deps, caller.organization_id, to_zero=quantity == 0)
    if expected_version is not None and expected_version != sub.version:
        raise StaleVersion("A assinatura foi alterada por outra pessoa; recarregue e tente de novo.")
    change, planned, superseded = _plan_change(deps, caller, sub, quantity, reason, reason_text, deps.clock())
    deps.subscriptions.save(
        [(planned, sub.version)], superseded, new_changes=[change],
        audit=[audit.entry(deps, caller.actor, caller.organization_id, "subscription.quantity_requested",
                           f"subscription:{sub.id}", before={"quantity": sub.quantity},
                           after=change_view(change))])
    if change.applies == rules.APPLIES_NOW:
        queue_provisioning(deps, change)
    return change


def queue_provisioning(deps, change: QuantityChange) -> None:
    deps.provisioning_queue.send({"kind": "apply_change", "organization_id": change.organization_id,
                                  "subscription_id": change.subscription_id, "change_id": change.id})


def preview_quantity_change(deps, caller: Caller, subscription_id: str, quantity: int) -> Dict[str, Any]:
    """What the change adds to (or removes from) the current period's invoice, before confirming."""
    sub = deps.subscriptions.get(caller.organization_id, subscription_id)
    quantity = rules.validate_quantity(quantity, deps.settings.max_quantity)
    contract = deps.contracts.get(caller.organization_id)
    now = deps.clock()
    applies = rules.decide_applies(sub, quantity, now, _window(deps))
    if applies == rules.APPLIES_AT_RENEWAL:
        # Nothing changes in the current period: the reduction waits for the renewal.
        return {"applies": applies, "effective_on": sub.renews_on.isoformat() if sub.renews_on else None,
                "amount_cents": 0, "currency": "BRL", "lines": []}
    today = local_day(now)
    period = period_containing(today, contract.closing_day)
    price = deps.prices.price_on(sub.sku, period.start) or 0
    # The rest of the period, today included, moves from the current quantity to the new one:
    # the "+" line is exactly the line the invoice will carry for that segment.
    remainder = Period(today, period.end)
    removed = ProratedLine(sub.quantity, today, period.end, remainder.days, period.days, price,
                           prorate(price, sub.quantity, remainder.days, period.days))
    added = ProratedLine(quantity, today, period.end, remainder.days, period.days, price,
                         prorate(price, quantity, remainder.days, period.days))
    lines = [_line(removed, sub.name, -1), _line(added, sub.name, +1)]
    return {"applies": applies, "effective_on": today.isoformat(), "period_start": period.start.isoformat(),
            "period_end": period.end.isoformat(), "currency": "BRL",
            "amount_cents": added.amount_cents - removed.amount_cents,
            "lines": [line for line in lines if line["amount_cents"]]}


def _line(line, name: str, sign: int) -> Dict[str, Any]:
    return {"description": f"{name} — {line.quantity} licenças × {line.days}/{line.period_days} dias",
            "quantity": line.quantity, "days": line.days, "period_days": line.period_days,
            "unit_price_cents": line.unit_price_cents, "amount_cents": sign * line.amount_cents}


def set_auto_renew(deps, caller: Caller, subscription_id: str, *, auto_renew: bool,
                   expected_version: Optional[int]) -> Subscription:
    sub = deps.subscriptions.get(caller.organization_id, subscription_id)
    if expected_version is not None and expected_version != sub.version:
        raise StaleVersion("A assinatura foi alterada por outra pessoa; recarregue e tente de novo.")
    changed = replace(sub, auto_renew=auto_renew, version=sub.version + 1)
    deps.subscriptions.save([(changed, sub.version)], [], audit=[audit.entry(
        deps, caller.actor, caller.organization_id, "subscription.auto_renew_changed", f"subscription:{sub.id}",
        before={"auto_renew": sub.auto_renew}, after={"auto_renew": auto_renew})])
    return changed


def terminate_contract(deps, caller: Caller, *, reason_text: Optional[str]) -> Dict[str, Any]:
    """Rescission: every subscription to zero with "rescisao_contrato"; the contract closes when
    the last one reaches zero (at once inside the window, at renewal outside it).

    The contract and each subscription are separate writes (a contract can hold more subscriptions
    than one transaction takes). A rescission a failure cut short is finished by asking again: it
    changes the subscriptions not yet on their way to zero."""
    contract = _active_contract(deps, caller.organization_id, to_zero=True)
    now = deps.clock()
    all_subs = deps.subscriptions.list(caller.organization_id)
    if any(s.status == rules.PENDING for s in all_subs):
        raise Conflict("Há uma compra em provisionamento; aguarde a conclusão para rescindir o contrato.",
                       code="purchase_in_progress")
    subs = [s for s in all_subs if s.status == rules.ACTIVE and s.quantity > 0
            and not (s.pending_change is not None and s.pending_change.quantity == 0)]
    planned = [_plan_change(deps, caller, s, 0, rules.TERMINATION_REASON, reason_text, now) + (s,) for s in subs]
    terminating = contract
    if contract.status != contract_rules.TERMINATING:
        terminating = replace(contract, status=contract_rules.TERMINATING, version=contract.version + 1)
        deps.contracts.save(terminating, expected_version=contract.version, audit=audit.entry(
            deps, caller.actor, caller.organization_id, "contract.termination_requested", f"contract:{contract.id}",
            before={"status": contract.status}, after={"status": terminating.status, "reason_text": reason_text}))
    for change, sub_after, superseded, sub_before in planned:
        deps.subscriptions.save([(sub_after, sub_before.version)], superseded, new_changes=[change], audit=[
            audit.entry(deps, caller.actor, caller.organization_id, "subscription.quantity_requested",
                        f"subscription:{sub_before.id}", before={"quantity": sub_before.quantity},
                        after=change_view(change))])
        if change.applies == rules.APPLIES_NOW:
            queue_provisioning(deps, change)
    if not planned:
        close_contract_if_all_zero(deps, caller.organization_id)
    return {"status": terminating.status, "changes": [change_view(p[0]) for p in planned]}


def close_contract_if_all_zero(deps, organization_id: str, rescission: bool = False) -> bool:
    """Close a contract under rescission once nothing is left. Reducing every subscription to zero
    with the reason "rescisão de contrato", one by one, is a rescission too (FAQ)."""
    contract = deps.contracts.get(organization_id)
    closable = contract.status == contract_rules.TERMINATING or (rescission and contract.status == contract_rules.ACTIVE)
    if not closable:
        return False
    subs = deps.subscriptions.list(organization_id)
    if any(s.quantity > 0 or s.pending_change is not None for s in subs):
        return False
    closed = replace(contract, status=contract_rules.TERMINATED, terminated_at=iso(deps.clock()),
                     final_invoice_due=True, version=contract.version + 1)
    try:
        deps.contracts.save(closed, expected_version=contract.version, audit=audit.entry(
            deps, SYSTEM, organization_id, "contract.terminated", f"contract:{contract.id}",
            before={"status": contract.status}, after={"status": closed.status, "final_invoice_due": True}))
    except StaleVersion:
        return False  # another worker closed it first
    organization = deps.organizations.get(organization_id)
    users, _ = deps.users.list(organization_id, limit=100, next_token=None)
    notifications.queue_email(
        deps, template="contract_terminated", to=sorted({u.email for u in users}),
        delivery_key=f"contract_terminated#{contract.id}",
        context={"organization": {"name": organization.name}, "terminated_at": closed.terminated_at,
                 "portal_url": deps.settings.portal_url})
    return True


# --- the provisioning worker --------------------------------------------------------------------

def apply_queued_change(deps, message: Dict[str, Any], attempt: int) -> str:
    """Send one change to the licence provider and record the result. Repeat-safe: a change
    already applied, failed or superseded is left alone. Returns the change's final status."""
    org, sub_id = message["organization_id"], message["subscription_id"]
    change = deps.subscriptions.get_change(org, sub_id, message["change_id"])
    if change.status != rules.CHANGE_PENDING:
        if change.status == rules.CHANGE_APPLIED and change.to_quantity == 0:
            # A redelivery after a crash between applying and closing: close now if it is due.
            close_contract_if_all_zero(deps, org, rescission=change.reason == rules.TERMINATION_REASON)
        return change.status
    sub = deps.subscriptions.get(org, sub_id)
    try:
        provider_id = _call_provider(deps, sub, change)
    except LicenceProviderUnavailable as exc:
        return _provider_failed(deps, sub, change, attempt, str(exc))
    now = deps.clock()
    applied = replace(rules.apply_change(sub, change, now), provider_subscription_id=provider_id)
    done = replace(change, status=rules.CHANGE_APPLIED, applied_at=iso(now), effective_on=local_day(now),
                   attempts=attempt)
    deps.subscriptions.save([(applied, sub.version)], [done], audit=[audit.entry(
        deps, SYSTEM, org, "subscription.quantity_applied", f"subscription:{sub.id}",
        before={"quantity": sub.quantity, "status": sub.status},
        after={"quantity": applied.quantity, "status": applied.status, "change_id": change.id})])
    if change.to_quantity == 0:
        close_contract_if_all_zero(deps, org, rescission=change.reason == rules.TERMINATION_REASON)
    return done.status


def _call_provider(deps, sub: Subscription, change: QuantityChange) -> str:
    # The change id is the provider's request id: a retried call is not applied twice.
    if change.kind == "purchase":
        return deps.licence_provider.create_subscription(sub.organization_id, sub.sku, change.to_quantity, change.id)
    deps.licence_provider.update_quantity(sub.provider_subscription_id, change.to_quantity, change.id)
    return sub.provider_subscription_id


def _provider_failed(deps, sub: Subscription, change: QuantityChange, attempt: int, error: str) -> str:
    tried = replace(change, attempts=attempt, error=error)
    if attempt < deps.settings.provisioning_max_attempts:
        deps.subscriptions.record_attempt(tried)
        raise RetryLater(deps.settings.provisioning_backoff_seconds * 2 ** (attempt - 1), error)
    failed = replace(tried, status=rules.CHANGE_FAILED)
    after = replace(sub, pending_change=None, version=sub.version + 1,
                    status=rules.FAILED if change.kind == "purchase" else sub.status)
    deps.subscriptions.save([(after, sub.version)], [failed], audit=[audit.entry(
        deps, SYSTEM, sub.organization_id, "subscription.change_failed", f"subscription:{sub.id}",
        before={"pending_change": change.to_quantity}, after={"status": failed.status, "error": error})])
    requester = deps.users.get(change.requested_by)
    if requester is not None:
        notifications.queue_email(
            deps, template="change_failed", to=[requester.email], delivery_key=f"change_failed#{change.id}",
            context={"user": {"name": requester.name}, "subscription": {"name": sub.name},
                     "change": {"from_quantity": change.from_quantity, "to_quantity": change.to_quantity,
                                "requested_at": change.requested_at},
                     "portal_url": deps.settings.portal_url})
    raise ProvisioningFailed(f"change {change.id} failed after {attempt} attempts: {error}")


# --- the renewal job ----------------------------------------------------------------------------

RENEWAL_LOOKBACK_DAYS = 7  # a missed or deferred renewal is picked up by the following runs


def renew_due(deps, day: date) -> int:
    """Renew every subscription whose renewal date is `day` or a recent day still unrenewed: apply
    the scheduled change (or let a non-renewing one lapse to zero) and start the next term.
    Repeat-safe per subscription."""
    renewed = 0
    for offset in range(RENEWAL_LOOKBACK_DAYS):
        for org, sub_id in deps.subscriptions.renewing_on(day - timedelta(days=offset)):
            renewed += _renew_with_retry(deps, org, sub_id, day)
    return renewed


def _renew_with_retry(deps, org: str, sub_id: str, today: date, attempts: int = 3) -> int:
    for _ in range(attempts):
        sub = deps.subscriptions.get(org, sub_id)
        if sub.renews_on is None or sub.renews_on > today or sub.status != rules.ACTIVE:
            return 0  # already renewed (the index lags), not due, or not renewable
        if sub.pending_change is not None and sub.pending_change.applies == rules.APPLIES_NOW:
            return 0  # a change is in flight: renew once it has settled (a later run)
        try:
            _renew(deps, sub, sub.renews_on)
            return 1
        except StaleVersion:
            continue  # changed meanwhile: read it again
    return 0


def _renew(deps, sub: Subscription, day: date) -> None:
    now = deps.clock()
    pending_change: Optional[QuantityChange] = None
    changes: List[QuantityChange] = []
    new_changes: List[QuantityChange] = []
    scheduled = None
    if sub.pending_change is not None and sub.pending_change.applies == rules.APPLIES_AT_RENEWAL:
        scheduled = deps.subscriptions.get_change(sub.organization_id, sub.id, sub.pending_change.change_id)
    if not sub.auto_renew:
        # Not renewing: the subscription lapses to zero, whatever was scheduled.
        if scheduled is not None:
            changes.append(replace(scheduled, status=rules.CHANGE_SUPERSEDED))
        pending_change = QuantityChange(
            id=new_id(), subscription_id=sub.id, organization_id=sub.organization_id, kind="expiry",
            from_quantity=sub.quantity, to_quantity=0, requested_at=iso(now), requested_by=SYSTEM.user_id,
            applies=rules.APPLIES_NOW, status=rules.CHANGE_PENDING, reason="outro",
            reason_text="Renovação automática desativada", effective_on=day)
        new_changes.append(pending_change)
    elif scheduled is not None:
        pending_change = replace(scheduled, status=rules.CHANGE_PENDING, applies=rules.APPLIES_NOW, effective_on=day)
        changes.append(pending_change)
    renewed = replace(
        sub, renews_on=rules.renewal_after(day, sub.term) if sub.auto_renew else None,
        windows=sub.windows + [rules.SeatWindow(opened_at=now, seats=sub.quantity)],
        pending_change=None if pending_change is None else PendingChange(
            change_id=pending_change.id, quantity=pending_change.to_quantity,
            requested_at=pending_change.requested_at, requested_by=pending_change.requested_by,
            applies=rules.APPLIES_NOW),
        version=sub.version + 1)
    deps.subscriptions.save([(renewed, sub.version)], changes, new_changes=new_changes, audit=[audit.entry(
        deps, SYSTEM, sub.organization_id, "subscription.renewed", f"subscription:{sub.id}",
        before={"renews_on": sub.renews_on.isoformat()},
        after={"renews_on": renewed.renews_on.isoformat() if renewed.renews_on else None,
               "scheduled_quantity": pending_change.to_quantity if pending_change else None})])
    if pending_change is not None:
        queue_provisioning(deps, pending_change)


# --- the sweeper --------------------------------------------------------------------------------

STUCK_AFTER = timedelta(minutes=15)


def requeue_stuck_changes(deps) -> int:
    """Queue again the changes saved but never tried (the queue message was lost between the write
    and the send). The worker is repeat-safe, so a change queued twice is applied once."""
    before = iso(deps.clock() - STUCK_AFTER)
    stuck = [(org, sub, change) for org, sub, change, attempts in deps.subscriptions.stale_pending_changes(before)
             if attempts == 0]
    for org, sub, change in stuck:
        deps.provisioning_queue.send({"kind": "apply_change", "organization_id": org, "subscription_id": sub,
                                      "change_id": change})
    return len(stuck)
