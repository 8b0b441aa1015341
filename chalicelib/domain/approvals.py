"""Purchase approvals: an Adm's purchase whose monthly effect is above the organisation's limit
waits for a Master's decision (issue #21 §4).

Pure rules: who needs approval, the monthly effect of a purchase, the request's transitions."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Dict, FrozenSet, Iterable, Optional, Tuple

from .roles import Role

CHECKOUT, QUANTITY_INCREASE = "checkout", "quantity_increase"
KINDS = (CHECKOUT, QUANTITY_INCREASE)

PENDING, APPROVED, REJECTED, EXPIRED, FAILED = "pending", "approved", "rejected", "expired", "failed"
STATUSES = (PENDING, APPROVED, REJECTED, EXPIRED, FAILED)

# A request not decided within this is expired: it can never be approved after it.
EXPIRY = timedelta(days=7)

MAX_REASON_LENGTH = 500


@dataclass(frozen=True)
class ApprovalRequest:
    id: str
    organization_id: str
    kind: str
    # checkout: [{sku, name, quantity, unit_price_cents, monthly_cents}] as reviewed and priced
    items: Tuple[Dict[str, Any], ...]
    # quantity_increase: {id, sku, name, from_quantity, quantity, version, unit_price_cents}
    subscription: Optional[Dict[str, Any]]
    monthly_effect_cents: int
    requested_by: Dict[str, str]  # {id, email, name}
    created_at: str
    expires_at: str
    status: str = PENDING
    decided_by: Optional[Dict[str, str]] = None
    decided_at: Optional[str] = None
    reason: Optional[str] = None
    # approved: {subscription_ids: [...]} (checkout) or {change_id} (quantity increase)
    result: Optional[Dict[str, Any]] = None
    version: int = 1


def may_need_approval(roles: FrozenSet[Role], limit_cents: Optional[int]) -> bool:
    """Only an Adm's purchase (not a Master's, not an operator's acting for the customer) waits,
    and only under a limit the Master set (none: no approvals)."""
    return limit_cents is not None and Role.ADM in roles and not roles & {Role.MASTER, Role.OPERATOR}


def needs_approval(roles: FrozenSet[Role], limit_cents: Optional[int], monthly_effect_cents: int) -> bool:
    """... and only when its monthly effect is strictly above the limit."""
    return may_need_approval(roles, limit_cents) and monthly_effect_cents > limit_cents


def monthly_cents(unit_price_cents: Optional[int], quantity: int) -> int:
    """A line's monthly effect. The catalog's unit price is the monthly price of a seat in every
    plan: an up-front plan charges it × 12 (or × 36) at once, so its monthly equivalent is the unit
    price itself (the up-front charge divided by its months)."""
    return (unit_price_cents or 0) * max(quantity, 0)


def checkout_effect(items: Iterable[Dict[str, Any]]) -> int:
    return sum(monthly_cents(i["unit_price_cents"], i["quantity"]) for i in items)


def increase_effect(unit_price_cents: Optional[int], from_quantity: int, to_quantity: int) -> int:
    """(new − current) seats at the monthly price; a decrease has no effect (never approved)."""
    return monthly_cents(unit_price_cents, to_quantity - from_quantity)


def expires_at(created: datetime) -> datetime:
    return created + EXPIRY


def is_expired(request: ApprovalRequest, now_iso: str) -> bool:
    return request.status == PENDING and request.expires_at <= now_iso


def decided(request: ApprovalRequest, status: str, by: Optional[Dict[str, str]], at: str, *,
            reason: Optional[str] = None, result: Optional[Dict[str, Any]] = None) -> ApprovalRequest:
    return replace(request, status=status, decided_by=by if by is not None else request.decided_by,
                   decided_at=at if request.decided_at is None else request.decided_at, reason=reason,
                   result=result, version=request.version + 1)
