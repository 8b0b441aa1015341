"""Subscriptions, their quantity timeline, and Microsoft New Commerce commitment rules.

Seats may be reduced or cancelled only within a window (7 days by default) after the purchase,
a renewal, or the addition of those seats. Outside it a reduction is accepted as a change
scheduled for the next renewal. Increases always apply now.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import List, Optional, Tuple

from .audit import SYSTEM
from .clock import SAO_PAULO, iso, local_day
from . import error_codes as codes
from .proration import Segment
from . import terms

# Subscription states
PENDING = "pending"  # bought, being provisioned
ACTIVE = "active"
CANCELLED = "cancelled"  # at zero seats
FAILED = "failed"  # the purchase could not be provisioned
# Suspended at the licence provider for an invoice long overdue (services/suspensions.py): the
# customer cannot use the licences, but the commitment stands, so it is billed as if active, and
# its quantity cannot change until it is reactivated.
SUSPENDED = "suspended"
STATUSES = (PENDING, ACTIVE, CANCELLED, FAILED, SUSPENDED)
# As users read them (the portal's own labels: templates/portal/app.js statusCell).
STATUS_LABELS = {PENDING: "em provisionamento", ACTIVE: "ativa", CANCELLED: "cancelada", FAILED: "falhou",
                 SUSPENDED: "suspensa"}
# Billed for the days they are held: a suspended subscription keeps its commitment.
BILLED_STATUSES = (ACTIVE, SUSPENDED)

# Change states
CHANGE_PENDING = "pending"  # queued for the licence provider
CHANGE_SCHEDULED = "scheduled"  # waits for the renewal
CHANGE_APPLIED = "applied"
CHANGE_FAILED = "failed"
CHANGE_SUPERSEDED = "superseded"  # a scheduled change replaced by a newer request
CHANGE_STATUSES = (CHANGE_PENDING, CHANGE_SCHEDULED, CHANGE_APPLIED, CHANGE_FAILED, CHANGE_SUPERSEDED)

# What a change is: a purchase, a quantity the customer asked for, a lapse at a renewal not made.
PURCHASE = "purchase"
QUANTITY = "quantity"
EXPIRY = "expiry"
CHANGE_KINDS = (PURCHASE, QUANTITY, EXPIRY)

APPLIES_NOW = "now"
APPLIES_AT_RENEWAL = "at_renewal"
APPLIES = (APPLIES_NOW, APPLIES_AT_RENEWAL)

REDUCTION_REASONS = ("rescisao_contrato", "reducao_de_custos", "migracao", "insatisfacao", "outro")
TERMINATION_REASON = "rescisao_contrato"
LAPSE_REASON_TEXT = "Renovação automática desativada"

# Quantity bounds: a change may go to zero (a cancellation), a purchase buys at least one seat.
# The maximum is the reseller's setting (`MAX_QUANTITY`); `QuantityLimits` carries all of them.
MIN_QUANTITY = 0
MIN_PURCHASE_QUANTITY = 1

TERM_MONTHS = terms.TERM_MONTHS


@dataclass(frozen=True)
class QuantityLimits:
    """The rules on seat counts, declared once and served to the portal (`GET /me`)."""

    maximum: int
    cancellation_window: timedelta

    @property
    def cancellation_window_days(self) -> int:
        return self.cancellation_window.days


@dataclass(frozen=True)
class SeatWindow:
    """Seats that may still be removed until `opened_at` + the window (purchase, renewal, addition)."""

    opened_at: datetime
    seats: int


@dataclass(frozen=True)
class PendingChange:
    change_id: str
    quantity: int
    requested_at: str
    requested_by: str
    applies: str


@dataclass
class Subscription:
    id: str
    organization_id: str
    sku: str
    name: str
    family: str
    term: str
    billing_frequency: str
    status: str
    quantity: int
    auto_renew: bool = True
    started_on: Optional[date] = None
    renews_on: Optional[date] = None
    timeline: List[Segment] = field(default_factory=list)
    windows: List[SeatWindow] = field(default_factory=list)
    pending_change: Optional[PendingChange] = None
    provider_subscription_id: Optional[str] = None
    # The number of the organisation's suspension that suspended it (domain/suspensions.py), while
    # it is suspended.
    suspension: Optional[int] = None
    version: int = 1


@dataclass
class QuantityChange:
    id: str
    subscription_id: str
    organization_id: str
    kind: str  # CHANGE_KINDS
    from_quantity: int
    to_quantity: int
    requested_at: str
    requested_by: str
    applies: str
    status: str
    reason: Optional[str] = None
    reason_text: Optional[str] = None
    effective_on: Optional[date] = None
    attempts: int = 0
    error: Optional[str] = None
    applied_at: Optional[str] = None
    # A cancellation's protocol number (`cancellation_protocol`): what the customer is told, and
    # quotes; every change of one rescission carries the rescission's.
    protocol: Optional[str] = None
    # A purchase the provider accepted as an asynchronous order (New Commerce): its order id, how
    # many times the worker has asked for its outcome and when last. A change with an order id is
    # never ordered again: the worker asks for the order's outcome instead.
    order_id: Optional[str] = None
    order_polls: int = 0
    order_polled_at: Optional[str] = None


# How many times the worker asks for a pending order's outcome before giving up on the change (at
# the provider's Retry-After, 10 s to 10 min apart: hours). Polls are not failed attempts.
MAX_ORDER_POLLS = 120


def cancellation_protocol(requested_on: date, request_id: str) -> str:
    """'CANC-20261129-7K3MQX2A': the São Paulo day of the request and the last 8 characters of its
    id (random bits of a ULID-like id), upper case. Derived once when the request is made and stored
    with its change(s) and in the audit trail, so it never changes; unique in practice (40 random
    bits per day), readable over the phone."""
    return f"CANC-{requested_on:%Y%m%d}-{request_id[-8:].upper()}"


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def renewal_after(start: date, term: str) -> date:
    return add_months(start, TERM_MONTHS[term])


def validate_quantity(quantity: int, maximum: int, minimum: int = MIN_QUANTITY) -> int:
    """A quantity for a change (0 cancels) or, with `minimum=MIN_PURCHASE_QUANTITY`, a purchase."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not minimum <= quantity <= maximum:
        raise codes.INVALID_QUANTITY(field="quantity", minimum=minimum, maximum=maximum)
    return quantity


def validate_reason(quantity: int, reason: Optional[str]) -> Optional[str]:
    """Going to zero is a cancellation: it must say why (FAQ, compliance)."""
    if reason is not None and reason not in REDUCTION_REASONS:
        raise codes.INVALID_REASON(field="reason", allowed=list(REDUCTION_REASONS))
    if quantity == 0 and reason is None:
        raise codes.REASON_REQUIRED(field="reason", allowed=list(REDUCTION_REASONS))
    return reason


def open_windows(subscription: Subscription, now: datetime, window: timedelta) -> List[SeatWindow]:
    return [w for w in subscription.windows if w.opened_at <= now < w.opened_at + window]


def reducible_seats(subscription: Subscription, now: datetime, window: timedelta) -> int:
    """How many seats may be removed right now: those bought, renewed or added within the window."""
    return min(subscription.quantity, sum(w.seats for w in open_windows(subscription, now, window)))


def cancellation_allowed_until(subscription: Subscription, now: datetime, window: timedelta) -> Optional[datetime]:
    """The deadline the panel shows, in São Paulo time: the end of the latest window (even if past)."""
    if not subscription.windows:
        return None
    latest = max(w.opened_at for w in subscription.windows)
    return (latest + window).astimezone(SAO_PAULO)


def decide_applies(subscription: Subscription, new_quantity: int, now: datetime, window: timedelta) -> str:
    """Increases and in-window reductions apply now; other reductions wait for the renewal."""
    reduction = subscription.quantity - new_quantity
    if reduction <= 0 or reduction <= reducible_seats(subscription, now, window):
        return APPLIES_NOW
    return APPLIES_AT_RENEWAL


def ensure_changeable(subscription: Subscription, new_quantity: int) -> None:
    if subscription.status == SUSPENDED:
        raise codes.SUBSCRIPTION_SUSPENDED(name=subscription.name)
    if subscription.status not in (ACTIVE,):
        raise codes.SUBSCRIPTION_NOT_ACTIVE(status=subscription.status)
    pending = subscription.pending_change
    if pending is not None and pending.applies == APPLIES_NOW:
        raise codes.CHANGE_IN_PROGRESS()
    if new_quantity == subscription.quantity and (pending is None):
        raise codes.QUANTITY_UNCHANGED()


def apply_change(subscription: Subscription, change: QuantityChange, now: datetime) -> Subscription:
    """The provider confirmed: a new timeline segment from today (São Paulo), a new seat window
    for added seats, the pending change cleared."""
    today = local_day(now)
    added = change.to_quantity - change.from_quantity
    timeline = [s for s in subscription.timeline if s.start != today] + [Segment(today, change.to_quantity)]
    windows = list(subscription.windows)
    if change.kind == PURCHASE:
        windows.append(SeatWindow(opened_at=now, seats=change.to_quantity))
    elif added > 0:
        windows.append(SeatWindow(opened_at=now, seats=added))
    elif added < 0:
        windows = _consume_windows(windows, -added)
    status = CANCELLED if change.to_quantity == 0 else ACTIVE
    if status == ACTIVE and subscription.status == SUSPENDED:
        status = SUSPENDED  # a change in flight (a reduction at renewal) does not lift a suspension
    # The term starts when the purchase is provisioned; later changes keep it.
    purchase = change.kind == PURCHASE
    started_on = today if purchase else subscription.started_on
    renews_on = renewal_after(today, subscription.term) if purchase else subscription.renews_on
    return replace(subscription, quantity=change.to_quantity, timeline=sorted(timeline, key=lambda s: s.start),
                   windows=windows, pending_change=None, status=status, started_on=started_on,
                   renews_on=renews_on, version=subscription.version + 1)


def _consume_windows(windows: List[SeatWindow], seats: int) -> List[SeatWindow]:
    """Removed seats come out of the newest windows first (they are the ones being undone)."""
    remaining = seats
    kept: List[SeatWindow] = []
    for window in sorted(windows, key=lambda w: w.opened_at, reverse=True):
        taken = min(window.seats, remaining)
        remaining -= taken
        if window.seats - taken > 0:
            kept.append(SeatWindow(window.opened_at, window.seats - taken))
    return sorted(kept, key=lambda w: w.opened_at)


# --- transitions --------------------------------------------------------------------------------
# Each takes the current values and returns the new ones; services only load, call and save.

@dataclass(frozen=True)
class PlannedChange:
    """A requested change as it will be stored: the change record, the subscription showing it as
    pending, and a scheduled change it replaces (if any)."""

    change: QuantityChange
    subscription: Subscription
    superseded: List[QuantityChange]


@dataclass(frozen=True)
class Renewal:
    """A subscription at its renewal: its new term, the changes that moved, the change to send to
    the provider (a scheduled reduction, or the lapse to zero), if any."""

    subscription: Subscription
    updated_changes: List[QuantityChange]
    new_changes: List[QuantityChange]
    to_provision: Optional[QuantityChange]


def pending(change: QuantityChange) -> PendingChange:
    """What the panel shows of a change in flight or scheduled."""
    return PendingChange(change_id=change.id, quantity=change.to_quantity, requested_at=change.requested_at,
                         requested_by=change.requested_by, applies=change.applies)


def supersede(change: QuantityChange) -> QuantityChange:
    return replace(change, status=CHANGE_SUPERSEDED)


def plan_change(subscription: Subscription, quantity: int, *, change_id: str, now: datetime, requested_by: str,
                reason: Optional[str], reason_text: Optional[str], window: timedelta,
                scheduled: Optional[QuantityChange] = None) -> PlannedChange:
    """A quantity change asked for now. Increases and in-window reductions apply now; other
    reductions wait for the renewal. A newer request replaces a scheduled one (`scheduled`, the
    change the subscription shows as pending), but buying more while a reduction is scheduled is
    refused: the customer undoes the reduction first."""
    ensure_changeable(subscription, quantity)
    applies = decide_applies(subscription, quantity, now, window)
    change = QuantityChange(
        id=change_id, subscription_id=subscription.id, organization_id=subscription.organization_id,
        kind=QUANTITY, from_quantity=subscription.quantity, to_quantity=quantity, requested_at=iso(now),
        requested_by=requested_by, applies=applies, reason=reason, reason_text=(reason_text or "").strip() or None,
        status=CHANGE_PENDING if applies == APPLIES_NOW else CHANGE_SCHEDULED,
        effective_on=local_day(now) if applies == APPLIES_NOW else subscription.renews_on)
    if subscription.pending_change is not None and quantity > subscription.quantity:
        raise codes.SCHEDULED_REDUCTION_PENDING(scheduled_quantity=subscription.pending_change.quantity)
    superseded = []
    if subscription.pending_change is not None:  # a scheduled change: the newer request replaces it
        if scheduled is None or scheduled.id != subscription.pending_change.change_id:
            raise ValueError("plan_change needs the scheduled change the subscription shows as pending")
        superseded.append(supersede(scheduled))
    planned = replace(subscription, pending_change=pending(change), version=subscription.version + 1)
    return PlannedChange(change, planned, superseded)


def purchase(*, subscription_id: str, change_id: str, organization_id: str, sku: str, name: str, family: str,
             term: str, billing_frequency: str, quantity: int, now: datetime,
             requested_by: str) -> Tuple[Subscription, QuantityChange]:
    """A bought product: a subscription `pending` until the provider confirms the purchase change."""
    change = QuantityChange(id=change_id, subscription_id=subscription_id, organization_id=organization_id,
                            kind=PURCHASE, from_quantity=0, to_quantity=quantity, requested_at=iso(now),
                            requested_by=requested_by, applies=APPLIES_NOW, status=CHANGE_PENDING,
                            effective_on=local_day(now))
    subscription = Subscription(id=subscription_id, organization_id=organization_id, sku=sku, name=name,
                                family=family, term=term, billing_frequency=billing_frequency, status=PENDING,
                                quantity=0, pending_change=pending(change))
    return subscription, change


def apply(subscription: Subscription, change: QuantityChange, now: datetime, *, attempt: int,
          provider_subscription_id: Optional[str]) -> Tuple[Subscription, QuantityChange]:
    """The provider confirmed the change: the subscription as `apply_change` makes it, and the
    change recorded as applied today."""
    applied = replace(apply_change(subscription, change, now), provider_subscription_id=provider_subscription_id)
    done = replace(change, status=CHANGE_APPLIED, applied_at=iso(now), effective_on=local_day(now), attempts=attempt)
    return applied, done


def order_pending(change: QuantityChange, order_id: str, now: datetime) -> QuantityChange:
    """The provider accepted the purchase as an order not yet provisioned: the change keeps the
    order (asked about from now on, never placed again) and counts this poll."""
    if change.order_id is not None and change.order_id != order_id:
        raise ValueError(f"change {change.id} has order {change.order_id}, not {order_id}")
    return replace(change, order_id=order_id, order_polls=change.order_polls + 1, order_polled_at=iso(now))


def record_attempt(change: QuantityChange, attempt: int, error: str) -> QuantityChange:
    """A provider attempt failed and will be retried: the change keeps the count and the error."""
    return replace(change, attempts=attempt, error=error)


def fail(subscription: Subscription, change: QuantityChange, attempt: int,
         error: str) -> Tuple[Subscription, QuantityChange]:
    """The last attempt failed: the change is failed and no longer pending; a purchase that never
    reached the provider leaves its subscription failed, any other change leaves it as it was."""
    failed = replace(record_attempt(change, attempt, error), status=CHANGE_FAILED)
    after = replace(subscription, pending_change=None, version=subscription.version + 1,
                    status=FAILED if change.kind == PURCHASE else subscription.status)
    return after, failed


def nothing_left(subscriptions: List[Subscription]) -> bool:
    """Every subscription at zero with no change in flight or scheduled: a rescission is complete."""
    return not any(s.quantity > 0 or s.pending_change is not None for s in subscriptions)


def suspendable(subscription: Subscription) -> bool:
    """What a suspension suspends at the provider: an active subscription with seats, known to the
    provider, with no change in flight (that one settles first; the next daily run suspends it)."""
    in_flight = subscription.pending_change is not None and subscription.pending_change.applies == APPLIES_NOW
    return subscription.status == ACTIVE and subscription.quantity > 0 and not in_flight \
        and subscription.provider_subscription_id is not None


def suspend(subscription: Subscription, suspension: int) -> Subscription:
    """The provider suspended it for the organisation's suspension number `suspension`."""
    if subscription.status != ACTIVE:
        raise ValueError(f"only an active subscription is suspended, not a {subscription.status} one")
    return replace(subscription, status=SUSPENDED, suspension=suspension, version=subscription.version + 1)


def reactivate(subscription: Subscription) -> Subscription:
    """The provider reactivated it: active again, as it was before the suspension."""
    if subscription.status != SUSPENDED:
        raise ValueError(f"only a suspended subscription is reactivated, not a {subscription.status} one")
    return replace(subscription, status=ACTIVE, suspension=None, version=subscription.version + 1)


def set_auto_renew(subscription: Subscription, auto_renew: bool) -> Subscription:
    return replace(subscription, auto_renew=auto_renew, version=subscription.version + 1)


def due_for_renewal(subscription: Subscription, today: date) -> bool:
    """Renewable now: active, its renewal day reached, and no change in flight (that one settles
    first; a later run renews it)."""
    # A suspended subscription renews too: its commitment stands while it is suspended.
    if subscription.renews_on is None or subscription.renews_on > today or subscription.status not in BILLED_STATUSES:
        return False
    return not (subscription.pending_change is not None and subscription.pending_change.applies == APPLIES_NOW)


def renew(subscription: Subscription, day: date, now: datetime,
          scheduled: Optional[QuantityChange] = None) -> Renewal:
    """An auto-renewing subscription starts its next term on `day`: a reduction scheduled for the
    renewal is sent to the provider now, and every seat of the new term opens a window."""
    updated, to_provision = [], None
    if scheduled is not None:
        to_provision = replace(scheduled, status=CHANGE_PENDING, applies=APPLIES_NOW, effective_on=day)
        updated.append(to_provision)
    return Renewal(_next_term(subscription, day, now, to_provision, renews=True), updated, [], to_provision)


def lapse(subscription: Subscription, day: date, now: datetime, *, change_id: str,
          scheduled: Optional[QuantityChange] = None) -> Renewal:
    """A subscription that does not renew goes to zero on its renewal day, whatever was scheduled."""
    expiry = QuantityChange(
        id=change_id, subscription_id=subscription.id, organization_id=subscription.organization_id, kind=EXPIRY,
        from_quantity=subscription.quantity, to_quantity=0, requested_at=iso(now), requested_by=SYSTEM.user_id,
        applies=APPLIES_NOW, status=CHANGE_PENDING, reason="outro", reason_text=LAPSE_REASON_TEXT,
        effective_on=day)
    updated = [supersede(scheduled)] if scheduled is not None else []
    return Renewal(_next_term(subscription, day, now, expiry, renews=False), updated, [expiry], expiry)


def renew_or_lapse(subscription: Subscription, day: date, now: datetime, *, change_id: str,
                   scheduled: Optional[QuantityChange] = None) -> Renewal:
    if subscription.auto_renew:
        return renew(subscription, day, now, scheduled)
    return lapse(subscription, day, now, change_id=change_id, scheduled=scheduled)


def _next_term(subscription: Subscription, day: date, now: datetime, to_provision: Optional[QuantityChange],
               *, renews: bool) -> Subscription:
    return replace(
        subscription, renews_on=renewal_after(day, subscription.term) if renews else None,
        windows=subscription.windows + [SeatWindow(opened_at=now, seats=subscription.quantity)],
        pending_change=None if to_provision is None else pending(to_provision),
        version=subscription.version + 1)
