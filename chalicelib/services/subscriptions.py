"""The licence panel: subscriptions and their changes as the customer sees them, a quantity
change (now or at renewal) with its preview, and auto-renewal on or off.

The rules live in `domain.subscriptions`; this module loads, calls a transition, saves with its
audit entry, and queues what the provider must do (`provisioning`)."""
from __future__ import annotations

from dataclasses import replace
import datetime as dt
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol, Tuple

from ..domain import catalog as catalog_rules
from ..domain import contract as contract_rules
from ..domain import subscriptions as rules
from ..domain import terms
from ..domain import billing as billing_rules
from ..domain.billing import describe
from ..domain.contract import Contract
from ..domain.clock import iso, local_day
from ..domain import error_codes as codes
from ..domain.ids import new_id
from ..domain.roles import Role
from ..domain.proration import Period, ProratedLine, Segment, period_containing, prorate
from ..domain.subscriptions import QuantityChange, Subscription
from ..schemas import (array, boolean, cents, closed, component, currency, date, date_time, enum, integer, nullable,
                       shape, text)
from . import audit, dunning, notifications, provisioning
from .caller import Caller
from .catalog import QUANTITY_LIMITS

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..settings import Settings
    from ..storage.licences import SubscriptionRepository
    from ..storage.repositories import CatalogRepository, ContractRepository, OrganizationRepository, UserRepository
    from .audit import Clocked
    from .dunning import PurchaseBlockDeps
    from .notifications import QueuesEmails
    from .provisioning import QueuesChanges

    class PricesDeps(Clocked, Protocol):
        """Prices as the customer pays them today: the catalog, and the contract's billing period."""

        catalog: CatalogRepository
        contracts: ContractRepository

    class PanelDeps(PricesDeps, Protocol):
        """The licence panel: subscriptions with their prices and seat rules, the preview of a change."""

        settings: Settings
        subscriptions: SubscriptionRepository

    class SubscriptionChangeDeps(Clocked, QueuesChanges, Protocol):
        """Planning a change by the seat rules (settings), saving it with its audit entry, and
        queueing it for the provider; the rescission makes its changes with these too."""

        settings: Settings
        subscriptions: SubscriptionRepository

    class CancellationNoticeDeps(Clocked, QueuesEmails, Protocol):
        """A cancellation's email to the organisation's Masters and administrators."""

        settings: Settings
        users: UserRepository
        organizations: OrganizationRepository

    class QuantityChangeDeps(SubscriptionChangeDeps, CancellationNoticeDeps, PurchaseBlockDeps, Protocol):
        """A customer's quantity change: only while the contract is open for changes, an increase
        only while no unpaid invoice blocks purchases (`dunning`); a cancellation (to zero) is told
        to the Masters and administrators."""

        contracts: ContractRepository
        catalog: CatalogRepository  # the product's seat limits (#21 §4)


# --- views --------------------------------------------------------------------------------------

_NULLABLE_REASON = nullable(enum(rules.REDUCTION_REASONS))

QUANTITY_CHANGE = shape(
    "QuantityChange", description="Uma alteração de quantidade (compra, alteração, cancelamento ou expiração).",
    id=text(), subscription_id=text(),
    kind=enum(rules.CHANGE_KINDS),
    from_quantity=integer(minimum=0), quantity=integer(minimum=0), applies=enum(rules.APPLIES),
    status=enum(rules.CHANGE_STATUSES), reason=_NULLABLE_REASON,
    reason_text=nullable(text()), requested_at=date_time(), requested_by=text(),
    effective_on=nullable(date()), attempts=integer(minimum=0), error=nullable(text()),
    applied_at=nullable(date_time()),
    protocol=nullable(text(description="O protocolo de um cancelamento (quantidade zero) ou de uma rescisão.")))


def change_view(change: QuantityChange) -> Dict[str, Any]:
    return {
        "id": change.id, "subscription_id": change.subscription_id, "kind": change.kind,
        "from_quantity": change.from_quantity, "quantity": change.to_quantity, "applies": change.applies,
        "status": change.status, "reason": change.reason, "reason_text": change.reason_text,
        "requested_at": change.requested_at, "requested_by": change.requested_by,
        "effective_on": change.effective_on.isoformat() if change.effective_on else None,
        "attempts": change.attempts, "error": change.error, "applied_at": change.applied_at,
        "protocol": change.protocol,
    }


PENDING_CHANGE = shape(
    "PendingChange", description="A alteração em andamento (now) ou agendada para a renovação (at_renewal).",
    id=text(), quantity=integer(minimum=0), requested_at=date_time(), requested_by=text(),
    applies=enum(rules.APPLIES))

TIMELINE_SEGMENT = shape("TimelineSegment", description="A quantidade a partir de um dia (São Paulo).",
                         **{"from": date()}, quantity=integer(minimum=0))

# (`component(…, closed(…))`: a property is called "name", which `shape` takes as its own.)
SUBSCRIPTION = component("Subscription", closed({
    "id": text(), "sku": text(), "name": text(), "family": text(), "quantity": integer(minimum=0),
    "unit_price_cents": nullable(cents()), "currency": currency(),
    "status": {**enum(rules.STATUSES), "description": "`suspended`: suspensa na Microsoft por fatura vencida (continua "
               "sendo cobrada; a quantidade não muda até ser reativada, o que acontece quando a fatura é paga)."},
    "term": enum(catalog_rules.TERMS), "billing_frequency": enum(catalog_rules.BILLING_FREQUENCIES),
    "plan_label": text(), "auto_renew": boolean(), "started_on": nullable(date()), "renews_on": nullable(date()),
    "cancellation_allowed_until": nullable(date_time()), "reducible_now": integer(minimum=0),
    "pending_change": nullable(PENDING_CHANGE), "timeline": array(TIMELINE_SEGMENT), "version": integer(minimum=1),
    "quantity_limits": QUANTITY_LIMITS,
}, description="Uma assinatura como o painel de licenças a mostra."))


def subscription_view(deps: PanelDeps, sub: Subscription, prices: Dict[str, Optional[int]]) -> Dict[str, Any]:
    now = deps.clock()
    window = deps.settings.quantity_limits.cancellation_window
    deadline = rules.cancellation_allowed_until(sub, now, window)
    pending = sub.pending_change
    return {
        "id": sub.id, "sku": sub.sku, "name": sub.name, "family": sub.family, "quantity": sub.quantity,
        "unit_price_cents": prices.get(sub.sku), "currency": "BRL", "status": sub.status, "term": sub.term,
        "billing_frequency": sub.billing_frequency, "plan_label": terms.plan_label(sub.term, sub.billing_frequency),
        "auto_renew": sub.auto_renew,
        "started_on": sub.started_on.isoformat() if sub.started_on else None,
        "renews_on": sub.renews_on.isoformat() if sub.renews_on else None,
        "cancellation_allowed_until": deadline.isoformat() if deadline else None,
        "reducible_now": rules.reducible_seats(sub, now, window),
        "pending_change": None if pending is None else {
            "id": pending.change_id, "quantity": pending.quantity, "requested_at": pending.requested_at,
            "requested_by": pending.requested_by, "applies": pending.applies},
        "timeline": [{"from": s.start.isoformat(), "quantity": s.quantity} for s in sub.timeline],
        "version": sub.version,
        "quantity_limits": _quantity_limits(deps, sub.sku),
    }


def _quantity_limits(deps: PricesDeps, sku: str) -> Dict[str, Any]:
    """The product's seat limits (#21 §4); a product the catalog no longer has: none of its own."""
    product = next((p for p in deps.catalog.list() if p.sku == sku), None)
    return catalog_rules.quantity_limits_view(product) if product is not None else \
        {"minimum": rules.MIN_PURCHASE_QUANTITY, "maximum": None}


def ensure_product_limits(deps: PricesDeps, sub: Subscription, quantity: int) -> None:
    """A non-zero quantity within the product's limits (#21 §4); going to zero is a cancellation's business."""
    product = deps.catalog.get(sub.sku) if quantity > 0 else None
    if product is not None:
        catalog_rules.ensure_quantity_allowed(product, quantity)


QUANTITY_BOUNDS = shape("QuantityBounds", minimum=integer(minimum=0), maximum=integer(minimum=1))

LIMITS = shape("Limits", description="As regras de quantidade que o portal aplica enquanto o usuário digita.",
               quantity=QUANTITY_BOUNDS, purchase_quantity=QUANTITY_BOUNDS,
               cancellation_window_days=integer(minimum=0), cart_max_lines=integer(minimum=1))


def limits_view(limits: rules.QuantityLimits) -> Dict[str, Any]:
    """The seat rules as the portal applies them while the user types."""
    return {"quantity": {"minimum": rules.MIN_QUANTITY, "maximum": limits.maximum},
            "purchase_quantity": {"minimum": rules.MIN_PURCHASE_QUANTITY, "maximum": limits.maximum},
            "cancellation_window_days": limits.cancellation_window_days,
            "cart_max_lines": catalog_rules.MAX_CART_LINES}


def prices_for(deps: PricesDeps, organization_id: str) -> Dict[str, Optional[int]]:
    return prices_now(deps, deps.contracts.find(organization_id))


def prices_now(deps: PricesDeps, contract: Optional[Contract]) -> Dict[str, Optional[int]]:
    """Each product's price as this customer pays it now (`catalog_rules.quote`): the price of
    their current billing period; today's price for the reseller's own staff (no contract)."""
    today = local_day(deps.clock())
    closing_day = contract.closing_day if contract is not None else None
    return {p.sku: catalog_rules.quote(p, today, closing_day).unit_price_cents for p in deps.catalog.list(today)}


def list_subscriptions(deps: PanelDeps, caller: Caller) -> List[Dict[str, Any]]:
    contract, subs = deps.subscriptions.panel(caller.organization_id)
    prices = prices_now(deps, contract)
    return [subscription_view(deps, s, prices) for s in subs]


def get_subscription(deps: PanelDeps, caller: Caller, subscription_id: str) -> Dict[str, Any]:
    sub = deps.subscriptions.get(caller.organization_id, subscription_id)
    return subscription_view(deps, sub, prices_for(deps, caller.organization_id))


def list_changes(deps: PanelDeps, caller: Caller, subscription_id: str, *, limit: int, next_token: Optional[str]):
    deps.subscriptions.get(caller.organization_id, subscription_id)  # 404 for another organisation's
    return deps.subscriptions.changes(caller.organization_id, subscription_id, limit=limit, next_token=next_token)


# --- changes ------------------------------------------------------------------------------------

def plan_change(deps: SubscriptionChangeDeps, caller: Caller, sub: Subscription, quantity: int, reason: Optional[str],
                reason_text: Optional[str], now: datetime) -> rules.PlannedChange:
    """The domain's plan for this request, with the scheduled change it may replace loaded."""
    scheduled = None
    if sub.pending_change is not None and sub.pending_change.applies == rules.APPLIES_AT_RENEWAL \
            and quantity <= sub.quantity:
        scheduled = deps.subscriptions.get_change(sub.organization_id, sub.id, sub.pending_change.change_id)
    return rules.plan_change(sub, quantity, change_id=new_id(), now=now, requested_by=caller.user.id,
                             reason=reason, reason_text=reason_text,
                             window=deps.settings.quantity_limits.cancellation_window, scheduled=scheduled)


def save_planned(deps: SubscriptionChangeDeps, caller: Caller, before: Subscription,
                 planned: rules.PlannedChange, also: Optional[Callable[[Any], None]] = None) -> None:
    """Store a planned change with its audit entry (and `also`, another write in the same
    transaction: an approval's claim), then queue it if it applies now."""
    deps.subscriptions.save(
        [(planned.subscription, before.version)], planned.superseded, new_changes=[planned.change], also=also,
        audit=[audit.entry(deps, caller.actor, caller.organization_id, "subscription.quantity_requested",
                           f"subscription:{before.id}", before={"quantity": before.quantity},
                           after=change_view(planned.change))])
    if planned.change.applies == rules.APPLIES_NOW:
        provisioning.queue_change(deps, planned.change)


def request_quantity_change(deps: QuantityChangeDeps, caller: Caller, subscription_id: str, *, quantity: int,
                            reason: Optional[str] = None, reason_text: Optional[str] = None,
                            expected_version: Optional[int] = None,
                            claim: Optional[Callable[[Dict[str, Any]], Callable[[Any], None]]] = None) -> QuantityChange:
    """`claim(result)`: a purchase approval's own write, committed with the change (services/approvals.py)."""
    sub = deps.subscriptions.get(caller.organization_id, subscription_id)  # 404 first: nothing else leaks
    quantity = rules.validate_quantity(quantity, deps.settings.quantity_limits.maximum)
    ensure_product_limits(deps, sub, quantity)
    reason = rules.validate_reason(quantity, reason)
    contract_rules.ensure_open_for_changes(deps.contracts.get(caller.organization_id), to_zero=quantity == 0)
    if expected_version is not None and expected_version != sub.version:
        raise codes.VERSION_CONFLICT()
    if quantity > sub.quantity:  # more seats is a purchase: the dunning block applies; a reduction never
        rules.ensure_changeable(sub, quantity)  # suspended, not active, a change under way: said first
        dunning.ensure_purchases_allowed(deps, caller.organization_id)
    now = deps.clock()
    planned = plan_change(deps, caller, sub, quantity, reason, reason_text, now)
    if quantity == 0:
        planned = with_protocol(planned, rules.cancellation_protocol(local_day(now), planned.change.id))
    save_planned(deps, caller, sub, planned,
                 also=claim({"change_id": planned.change.id}) if claim is not None else None)
    if quantity == 0:
        notify_cancellation(deps, caller, planned.change.protocol, [(sub, planned.change)], rescission=False)
    return planned.change


def with_protocol(planned: rules.PlannedChange, protocol: str) -> rules.PlannedChange:
    """A cancellation's change, carrying its protocol number (stored with it, shown in the answer
    and in the audit entry)."""
    return replace(planned, change=replace(planned.change, protocol=protocol))


def notify_cancellation(deps: CancellationNoticeDeps, caller: Caller, protocol: str,
                        changes: List[Tuple[Subscription, QuantityChange]], *, rescission: bool) -> None:
    """One email per cancellation or rescission request to the organisation's Masters and
    administrators (the profiles that may cancel): what was cancelled, from when — today, or the
    renewal when the reduction waits for it — and the protocol number (the FAQ: a cancellation is
    "efetivada e documentada" in the portal). The delivery key is the protocol: sent once."""
    organization = deps.organizations.get(caller.organization_id)
    recipients, token = set(), None
    while True:
        users, token = deps.users.list(caller.organization_id, limit=100, next_token=token)
        recipients |= {u.email for u in users if u.roles & {Role.MASTER, Role.ADM}}
        if token is None:
            break
    items = [{"name": sub.name, "from_quantity": change.from_quantity, "applies": change.applies,
              "effective_on": change.effective_on.isoformat() if change.effective_on else None}
             for sub, change in changes]
    days = [item["effective_on"] for item in items if item["effective_on"]]
    notifications.queue_email(
        deps, template="cancellation_registered", to=sorted(recipients), delivery_key=f"cancellation#{protocol}",
        organization_id=caller.organization_id,
        context={"organization": {"name": organization.name}, "protocol": protocol, "rescission": rescission,
                 "items": items, "effective_until": max(days) if days else None,
                 "requested_by": caller.user.name, "requested_at": iso(deps.clock()),
                 "portal_url": deps.settings.portal_url})


# `closed`, not `shape`: one of the line's properties is itself called "description".
PREVIEW_LINE = component("PreviewLine", closed(
    {"description": text(), "sku": text(), "quantity": integer(minimum=0), "days": integer(minimum=0),
     "period_days": integer(minimum=1), "unit_price_cents": cents(), "amount_cents": cents()},
    description="Uma linha pró-rata da fatura do período (negativa: a quantidade que sai)."))

QUANTITY_PREVIEW = shape(
    "QuantityPreview", optional=["period_start", "period_end"],
    description="O que a alteração soma à (ou tira da) fatura do período corrente. Uma redução para a "
                "renovação (at_renewal) não muda o período: sem `period_start`/`period_end`, sem linhas.",
    applies=enum(rules.APPLIES), effective_on=nullable(date()), period_start=date(), period_end=date(),
    currency=currency(), amount_cents=cents(), lines=array(PREVIEW_LINE), cancellation_window_days=integer(minimum=0))


def preview_quantity_change(deps: PanelDeps, caller: Caller, subscription_id: str, quantity: int) -> Dict[str, Any]:
    """What the change adds to (or removes from) the current period's invoice, before confirming."""
    sub = deps.subscriptions.get(caller.organization_id, subscription_id)
    limits = deps.settings.quantity_limits
    quantity = rules.validate_quantity(quantity, limits.maximum)
    ensure_product_limits(deps, sub, quantity)
    contract = deps.contracts.get(caller.organization_id)
    now = deps.clock()
    applies = rules.decide_applies(sub, quantity, now, limits.cancellation_window)
    window = {"cancellation_window_days": limits.cancellation_window_days}
    if applies == rules.APPLIES_AT_RENEWAL:
        # Nothing changes in the current period: the reduction waits for the renewal.
        return {"applies": applies, "effective_on": sub.renews_on.isoformat() if sub.renews_on else None,
                "amount_cents": 0, "currency": "BRL", "lines": [], **window}
    today = local_day(now)
    period = period_containing(today, contract.closing_day)
    if terms.upfront_months(sub.term, sub.billing_frequency) is not None:
        return {"applies": applies, "effective_on": today.isoformat(), "period_start": period.start.isoformat(),
                "period_end": period.end.isoformat(), "currency": "BRL", **window,
                **_upfront_preview(deps, sub, quantity, today)}
    # The price of the period (in force on its first day), as the panel shows it and billing charges it.
    price = prices_now(deps, contract).get(sub.sku) or 0
    # The rest of the period, today included, moves from the current quantity to the new one:
    # the "+" line is exactly the line the invoice will carry for that segment.
    remainder = Period(today, period.end)
    removed = ProratedLine(sub.quantity, today, period.end, remainder.days, period.days, price,
                           prorate(price, sub.quantity, remainder.days, period.days))
    added = ProratedLine(quantity, today, period.end, remainder.days, period.days, price,
                         prorate(price, quantity, remainder.days, period.days))
    lines = [_line(removed, sub, -1), _line(added, sub, +1)]
    return {"applies": applies, "effective_on": today.isoformat(), "period_start": period.start.isoformat(),
            "period_end": period.end.isoformat(), "currency": "BRL",
            "amount_cents": added.amount_cents - removed.amount_cents,
            "lines": [line for line in lines if line["amount_cents"]], **window}


def _upfront_preview(deps: PanelDeps, sub: Subscription, quantity: int, today: dt.date) -> Dict[str, Any]:
    """A term paid up front: what the change adds to (or credits on) the invoice, i.e. the
    difference between the invoice's own lines for today with the quantity as it is and as it
    would be — seats added or removed pro rata to the end of the term (or of its year)."""
    product = deps.catalog.get(sub.sku)
    changed = replace(sub, timeline=[s for s in sub.timeline if s.start != today] + [Segment(today, quantity)])
    today_only = Period(today, today)

    def lines_of(subscription: Subscription):
        return billing_rules.invoice_lines([billing_rules.billable(subscription)],
                                           lambda sku, day: catalog_rules.price_on(product, day) or 0, today_only)

    before, after = lines_of(sub), lines_of(changed)
    shown = [(line, -1) for line in before if line not in after] + [(line, +1) for line in after if line not in before]
    return {"amount_cents": sum(l.amount_cents for l in after) - sum(l.amount_cents for l in before),
            "lines": [{"description": line.description, "sku": line.sku, "quantity": line.quantity,
                       "days": line.days, "period_days": line.period_days,
                       "unit_price_cents": line.unit_price_cents, "amount_cents": sign * line.amount_cents}
                      for line, sign in shown if line.amount_cents]}


def _line(line: ProratedLine, sub: Subscription, sign: int) -> Dict[str, Any]:
    return {"description": describe(sub.name, line.quantity, line.days, line.period_days, terms.monthly_note(sub.term)),
            "sku": sub.sku,
            "quantity": line.quantity, "days": line.days, "period_days": line.period_days,
            "unit_price_cents": line.unit_price_cents, "amount_cents": sign * line.amount_cents}


def set_auto_renew(deps: SubscriptionChangeDeps, caller: Caller, subscription_id: str, *, auto_renew: bool,
                   expected_version: Optional[int]) -> Subscription:
    sub = deps.subscriptions.get(caller.organization_id, subscription_id)
    if expected_version is not None and expected_version != sub.version:
        raise codes.VERSION_CONFLICT()
    changed = rules.set_auto_renew(sub, auto_renew)
    deps.subscriptions.save([(changed, sub.version)], [], audit=[audit.entry(
        deps, caller.actor, caller.organization_id, "subscription.auto_renew_changed", f"subscription:{sub.id}",
        before={"auto_renew": sub.auto_renew}, after={"auto_renew": auto_renew})])
    return changed
