"""Purchase approvals (issue #21 §4): the organisation's approval limit (an attribute of its item,
pattern 1, written on its own value as read, never moving the item's `version`) and the approval
requests (access patterns 66–68)."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

from pynamodb.exceptions import DoesNotExist

from ..domain import approvals as rules
from ..domain import error_codes as codes
from ..domain.approvals import ApprovalRequest
from ..domain.audit import AuditEntry
from ..domain.errors import DomainError
from . import keys
from .models import ApprovalItem, CartLineItem, OrganizationItem
from .repositories import Page, Transaction, _page, append_audit, decode_token


def _item(request: ApprovalRequest) -> ApprovalItem:
    pending = {"gsi2pk": keys.PENDING_APPROVALS_PK,
               "gsi2sk": keys.pending_approval_sk(request.expires_at, request.organization_id, request.id)} \
        if request.status == rules.PENDING else {}
    return ApprovalItem(
        keys.org_approvals_pk(request.organization_id), keys.approval_sk(request.id), **pending,
        id=request.id, organization_id=request.organization_id, kind=request.kind,
        items=list(request.items) if request.kind == rules.CHECKOUT else None, subscription=request.subscription,
        monthly_effect_cents=request.monthly_effect_cents, requested_by=request.requested_by,
        requested_by_id=request.requested_by["id"],
        created_at=request.created_at, expires_at=request.expires_at, status=request.status,
        decided_by=request.decided_by, decided_at=request.decided_at, reason=request.reason, result=request.result,
        version=request.version)


def _request(item: ApprovalItem) -> ApprovalRequest:
    return ApprovalRequest(
        id=item.id, organization_id=item.organization_id, kind=item.kind, items=tuple(item.items or ()),
        subscription=item.subscription, monthly_effect_cents=int(item.monthly_effect_cents),
        requested_by=item.requested_by, created_at=item.created_at, expires_at=item.expires_at, status=item.status,
        decided_by=item.decided_by, decided_at=item.decided_at, reason=item.reason, result=item.result,
        version=int(item.version))


def _created_or_cart_changed(failed) -> DomainError:
    return codes.CART_CHANGED() if "cart" in failed else codes.CONCURRENT_UPDATE()


class ApprovalRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    # --- the limit (pattern 1's item) ---------------------------------------------------------------

    def limit(self, organization_id: str) -> Tuple[Optional[int], int]:
        """The organisation's approval limit (None: no approvals) and its item's version (absent: 1)."""
        try:
            item = OrganizationItem.get(keys.org_pk(organization_id), keys.ORGANIZATION_SK, consistent_read=True)
        except DoesNotExist:
            raise codes.ORGANIZATION_NOT_FOUND()
        limit = item.approval_limit_cents
        return (int(limit) if limit is not None else None), int(item.version or 1)

    def set_limit(self, organization_id: str, limit_cents: Optional[int], expected_limit: Optional[int],
                  audit: AuditEntry) -> None:
        """On the limit as read (`expected_limit`, None: none), with its audit entry: two edits from the
        same picture cannot both pass (VERSION_CONFLICT). The organisation's `version` is neither
        checked nor moved: it is the address edit's If-Match, which a limit change must not break."""
        current = OrganizationItem.approval_limit_cents
        seen = current.does_not_exist() if expected_limit is None else current == expected_limit
        action = current.set(limit_cents) if limit_cents is not None else current.remove()

        def build(tx):
            tx.update(OrganizationItem(keys.org_pk(organization_id), keys.ORGANIZATION_SK), actions=[action],
                      condition=OrganizationItem.pk.exists() & seen, label="organization")
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.VERSION_CONFLICT())

    # --- requests (66: by id; 67: an organisation's, newest first; 68: pending by expiry) -------------

    def create(self, request: ApprovalRequest, audit: AuditEntry,
               cart_lines_to_clear: Sequence[Tuple[str, int]] = ()) -> None:
        """The request (a new id) and, for a checkout, the cart's lines as read (each deleted only if
        still there with that quantity: of two checkouts of one cart at once only one commits), with
        the audit entry, in one transaction."""
        def build(tx):
            tx.save(_item(request), condition=ApprovalItem.pk.does_not_exist(), label="approval")
            for sku, quantity in cart_lines_to_clear:
                tx.delete(CartLineItem(keys.org_pk(request.organization_id), keys.cart_sk(sku)),
                          condition=CartLineItem.pk.exists() & (CartLineItem.quantity == quantity), label="cart")
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=_created_or_cart_changed)

    def get(self, organization_id: str, approval_id: str) -> ApprovalRequest:
        try:
            return _request(ApprovalItem.get(keys.org_approvals_pk(organization_id), keys.approval_sk(approval_id),
                                             consistent_read=True))
        except DoesNotExist:
            raise codes.APPROVAL_NOT_FOUND()

    def list(self, organization_id: str, *, status: Optional[str], requested_by: Optional[str], limit: int,
             next_token: Optional[str]) -> Page:
        pk = keys.org_approvals_pk(organization_id)
        condition = None
        if status is not None:
            condition = ApprovalItem.status == status
        if requested_by is not None:
            mine = ApprovalItem.requested_by_id == requested_by
            condition = mine if condition is None else condition & mine
        results = ApprovalItem.query(pk, ApprovalItem.sk.startswith(keys.APPROVAL_PREFIX), filter_condition=condition,
                                     scan_index_forward=False, limit=limit, consistent_read=True,
                                     last_evaluated_key=decode_token(next_token, ("pk", pk)))
        items, token = _page(results, limit)
        return [_request(i) for i in items], token

    def pending_expired(self, now_iso: str) -> List[Tuple[str, str]]:
        """(organisation, id) of every request still pending whose expiry has passed."""
        # "~" sorts after "#": an expiry equal to now is included (expired at its very instant).
        return [(i.organization_id, i.id) for i in ApprovalItem.pending_by_expiry.query(
            keys.PENDING_APPROVALS_PK, ApprovalItem.gsi2sk < f"{now_iso}~")]

    @staticmethod
    def claim_write(request: ApprovalRequest, *, expected_version: int, not_expired_at: str,
                    audit: Sequence[AuditEntry]) -> Callable[[Any], None]:
        """The approval's transition (`request`, already decided) as a write for the order's own
        transaction (`SubscriptionRepository.save(also=…)`): only while the request is pending, on
        the version read and not expired at `not_expired_at`; labelled "approval"."""
        condition = (ApprovalItem.version == expected_version) & (ApprovalItem.status == rules.PENDING) & \
            (ApprovalItem.expires_at > not_expired_at)

        def build(tx):
            tx.save(_item(request), condition=condition, label="approval")
            for entry in audit:
                append_audit(tx, entry)
        return build

    def save(self, request: ApprovalRequest, *, expected_version: int, expected_status: str,
             audit: AuditEntry, not_expired_at: Optional[str] = None) -> None:
        """A transition, on the version and status read (and, for an approval, on the request not
        being expired at `not_expired_at`): of two decisions at once one writes, the other gets
        APPROVAL_NOT_PENDING and writes nothing."""
        condition = (ApprovalItem.version == expected_version) & (ApprovalItem.status == expected_status)
        if not_expired_at is not None:
            condition &= ApprovalItem.expires_at > not_expired_at

        def build(tx):
            tx.save(_item(request), condition=condition, label="approval")
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.APPROVAL_NOT_PENDING(status="outra decisão chegou antes"))
