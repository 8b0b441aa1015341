"""Subscriptions, their quantity timeline, and Microsoft New Commerce commitment rules.

Seats may be reduced or cancelled only within a window (7 days by default) after the purchase,
a renewal, or the addition of those seats. Outside it a reduction is accepted as a change
scheduled for the next renewal. Increases always apply now.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import List, Optional

from .clock import SAO_PAULO, local_day
from .errors import Conflict, InvalidInput, RuleViolation
from .proration import Segment

# Subscription states
PENDING = "pending"  # bought, being provisioned
ACTIVE = "active"
CANCELLED = "cancelled"  # at zero seats
FAILED = "failed"  # the purchase could not be provisioned

# Change states
CHANGE_PENDING = "pending"  # queued for the licence provider
CHANGE_SCHEDULED = "scheduled"  # waits for the renewal
CHANGE_APPLIED = "applied"
CHANGE_FAILED = "failed"
CHANGE_SUPERSEDED = "superseded"  # a scheduled change replaced by a newer request

APPLIES_NOW = "now"
APPLIES_AT_RENEWAL = "at_renewal"

REDUCTION_REASONS = ("rescisao_contrato", "reducao_de_custos", "migracao", "insatisfacao", "outro")
TERMINATION_REASON = "rescisao_contrato"

TERM_MONTHS = {"P1M": 1, "P1Y": 12, "P3Y": 36}


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
    version: int = 1


@dataclass
class QuantityChange:
    id: str
    subscription_id: str
    organization_id: str
    kind: str  # purchase | quantity | renewal
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


def validate_quantity(quantity: int, maximum: int) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 <= quantity <= maximum:
        raise InvalidInput(f"Quantidade deve ser um inteiro entre 0 e {maximum}.", code="invalid_quantity",
                           details={"field": "quantity", "minimum": 0, "maximum": maximum})
    return quantity


def validate_reason(quantity: int, reason: Optional[str]) -> Optional[str]:
    """Going to zero is a cancellation: it must say why (FAQ, compliance)."""
    if reason is not None and reason not in REDUCTION_REASONS:
        raise InvalidInput("Motivo inválido.", code="invalid_reason",
                           details={"field": "reason", "allowed": list(REDUCTION_REASONS)})
    if quantity == 0 and reason is None:
        raise InvalidInput("Informe o motivo para reduzir a zero.", code="reason_required",
                           details={"field": "reason", "allowed": list(REDUCTION_REASONS)})
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
    if subscription.status not in (ACTIVE,):
        raise Conflict("Esta assinatura não pode ser alterada no estado atual.", code="subscription_not_active",
                       details={"status": subscription.status})
    pending = subscription.pending_change
    if pending is not None and pending.applies == APPLIES_NOW:
        raise Conflict("Já existe uma alteração em andamento para esta assinatura.", code="change_in_progress")
    if new_quantity == subscription.quantity and (pending is None):
        raise RuleViolation("A quantidade informada é a atual.", code="quantity_unchanged")


def apply_change(subscription: Subscription, change: QuantityChange, now: datetime) -> Subscription:
    """The provider confirmed: a new timeline segment from today (São Paulo), a new seat window
    for added seats, the pending change cleared."""
    today = local_day(now)
    added = change.to_quantity - change.from_quantity
    timeline = [s for s in subscription.timeline if s.start != today] + [Segment(today, change.to_quantity)]
    windows = list(subscription.windows)
    if change.kind in ("purchase", "renewal"):
        windows.append(SeatWindow(opened_at=now, seats=change.to_quantity))
    elif added > 0:
        windows.append(SeatWindow(opened_at=now, seats=added))
    elif added < 0:
        windows = _consume_windows(windows, -added)
    status = CANCELLED if change.to_quantity == 0 else ACTIVE
    # The term starts when the purchase is provisioned; later changes keep it.
    purchase = change.kind == "purchase"
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
