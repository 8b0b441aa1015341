"""Repositories for subscriptions, their change history and carts."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

from pynamodb.exceptions import DoesNotExist, PutError

from ..domain.audit import AuditEntry
from ..domain.contract import Contract
from ..domain import error_codes as codes
from ..domain import webhooks as hooks  # the events a subscription's entry reports
from ..domain.errors import DomainError
from ..domain.organizations import Organization
from ..domain.proration import Segment
from ..domain.subscriptions import CHANGE_PENDING, PendingChange, QuantityChange, SeatWindow, Subscription
from . import keys
from .models import (CartLineItem, ChangeItem, ContractItem, CreditLeftItem, InvoiceGuardItem, OrganizationItem,
                     SubscriptionItem)
from .repositories import (Page, Transaction, _contract, _contract_item, _is_condition_failure, _organization, _page,
                           append_audit, decode_token)

ChangeWrite = Tuple[Subscription, int]  # the new state and the version it replaces


def _item_collection(pk: str, first_sk: str, last_sk: str) -> Iterable[dict]:
    """Raw items of one partition between two sort keys (consistent), every page."""
    connection, start = SubscriptionItem._get_connection(), None
    while True:
        page = connection.query(pk, range_key_condition=SubscriptionItem.sk.between(first_sk, last_sk),
                                consistent_read=True, exclusive_start_key=start)
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


# --- converters ---------------------------------------------------------------------------------

def _subscription_item(sub: Subscription) -> SubscriptionItem:
    renewal = {}
    if sub.renews_on is not None:
        renewal = {"gsi1pk": keys.renewal_pk(sub.renews_on.isoformat()),
                   "gsi1sk": keys.renewal_sk(sub.organization_id, sub.id)}
    pending = sub.pending_change
    return SubscriptionItem(
        keys.org_pk(sub.organization_id), keys.subscription_sk(sub.id), **renewal,
        id=sub.id, organization_id=sub.organization_id, sku=sub.sku, name=sub.name, family=sub.family,
        term=sub.term, billing_frequency=sub.billing_frequency, status=sub.status, quantity=sub.quantity,
        auto_renew=sub.auto_renew,
        started_on=sub.started_on.isoformat() if sub.started_on else None,
        renews_on=sub.renews_on.isoformat() if sub.renews_on else None,
        timeline=[[s.start.isoformat(), s.quantity] for s in sub.timeline],
        windows=[[w.opened_at.isoformat(), w.seats] for w in sub.windows],
        pending_change=pending.__dict__ if pending else None,
        provider_subscription_id=sub.provider_subscription_id, suspension=sub.suspension, version=sub.version,
    )


def _subscription(item: SubscriptionItem) -> Subscription:
    return Subscription(
        id=item.id, organization_id=item.organization_id, sku=item.sku, name=item.name, family=item.family,
        term=item.term, billing_frequency=item.billing_frequency, status=item.status,
        quantity=int(item.quantity), auto_renew=bool(item.auto_renew),
        started_on=date.fromisoformat(item.started_on) if item.started_on else None,
        renews_on=date.fromisoformat(item.renews_on) if item.renews_on else None,
        timeline=[Segment(date.fromisoformat(d), int(q)) for d, q in (item.timeline or [])],
        windows=[SeatWindow(datetime.fromisoformat(t), int(n)) for t, n in (item.windows or [])],
        pending_change=PendingChange(**item.pending_change) if item.pending_change else None,
        provider_subscription_id=item.provider_subscription_id,
        suspension=int(item.suspension) if item.suspension is not None else None, version=int(item.version),
    )


def _change_item(change: QuantityChange) -> ChangeItem:
    pending = {"gsi2pk": keys.PENDING_CHANGES_PK, "gsi2sk": keys.created_sk(change.requested_at, change.id)} \
        if change.status == CHANGE_PENDING else {}
    return ChangeItem(
        keys.changes_pk(change.organization_id, change.subscription_id), keys.change_sk(change.id), **pending,
        id=change.id, subscription_id=change.subscription_id, organization_id=change.organization_id,
        kind=change.kind, from_quantity=change.from_quantity, to_quantity=change.to_quantity,
        requested_at=change.requested_at, requested_by=change.requested_by, applies=change.applies,
        status=change.status, reason=change.reason, reason_text=change.reason_text,
        effective_on=change.effective_on.isoformat() if change.effective_on else None,
        attempts=change.attempts, error=change.error, applied_at=change.applied_at, protocol=change.protocol,
        order_id=change.order_id, order_polls=change.order_polls or None, order_polled_at=change.order_polled_at,
    )


def _change(item: ChangeItem) -> QuantityChange:
    return QuantityChange(
        id=item.id, subscription_id=item.subscription_id, organization_id=item.organization_id, kind=item.kind,
        from_quantity=int(item.from_quantity), to_quantity=int(item.to_quantity), requested_at=item.requested_at,
        requested_by=item.requested_by, applies=item.applies, status=item.status, reason=item.reason,
        reason_text=item.reason_text,
        effective_on=date.fromisoformat(item.effective_on) if item.effective_on else None,
        attempts=int(item.attempts or 0), error=item.error, applied_at=item.applied_at, protocol=item.protocol,
        order_id=item.order_id, order_polls=int(item.order_polls or 0), order_polled_at=item.order_polled_at,
    )


@dataclass(frozen=True)
class BillingRead:
    """What the billing worker needs of an organisation for one period, read at once (pattern 12):
    the organisation (the taker of its documents), its contract, the id of the period's invoice if
    its guard is there, and every subscription."""

    organization: Optional[Organization]
    contract: Optional[Contract]
    invoiced: Optional[str]
    subscriptions: List[Subscription]
    # (invoice, credit note) of each note with something left, oldest first: the markers sorted in
    # the same range (complete once the backfill's marker says so: services/credit_markers.py).
    credits_left: List[Tuple[str, str]] = field(default_factory=list)


def _stale_or_cart_changed(failed) -> DomainError:
    # A cart line gone or changed under a checkout: another checkout (or an edit) got there first.
    # Anything else (a subscription's or the contract's version, an id already taken) is stale.
    if "approval" in failed:  # the approval claimed with the order: another decision came first
        return codes.APPROVAL_NOT_PENDING(status="outra decisão chegou antes")
    return codes.CART_CHANGED() if "cart" in failed else codes.VERSION_CONFLICT()


class SubscriptionRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    def get(self, organization_id: str, subscription_id: str) -> Subscription:
        try:
            return _subscription(SubscriptionItem.get(keys.org_pk(organization_id),
                                                      keys.subscription_sk(subscription_id), consistent_read=True))
        except DoesNotExist:
            raise codes.SUBSCRIPTION_NOT_FOUND()

    def list(self, organization_id: str) -> List[Subscription]:
        """Every subscription of the organisation, one query."""
        return [_subscription(i) for i in SubscriptionItem.query(
            keys.org_pk(organization_id), SubscriptionItem.sk.startswith(keys.SUBSCRIPTION_PREFIX),
            consistent_read=True)]

    def panel(self, organization_id: str) -> Tuple[Optional[Contract], List[Subscription]]:
        """The licence panel: the contract (whose closing day sets the prices shown) and every
        subscription, in one query over the organisation's item collection, from `CONTRACT` to the
        last `SUB#` (the few small items sorted between them are skipped)."""
        contract, subscriptions = None, []
        for raw in _item_collection(keys.org_pk(organization_id), keys.CONTRACT_SK, keys.SUBSCRIPTION_PREFIX + "\uffff"):
            sk = raw["sk"]["S"]
            if sk == keys.CONTRACT_SK:
                contract = _contract(ContractItem.from_raw_data(raw))
            elif sk.startswith(keys.SUBSCRIPTION_PREFIX):
                subscriptions.append(_subscription(SubscriptionItem.from_raw_data(raw)))
        return contract, subscriptions

    def for_billing(self, organization_id: str, period_end: date) -> BillingRead:
        """The billing worker's one read (issue #22 §1): the same query as `panel`, from `CONTRACT`
        to the last `SUB#`, which holds the contract, the credit notes left (`CREDITLEFT#…`), the
        organisation (`ORG`), the periods' guards (`INVOICED#<period end>`: this period's says
        whether it is billed) and the subscriptions. Nothing else sorts in that range (carts sort
        before, the suspension after); the other periods' guards (one a month) are skipped.
        Consistent: a guard written by another worker a moment ago is seen."""
        organization = contract = invoiced = None
        subscriptions, credits_left = [], []
        guard_sk = keys.invoice_guard_sk(period_end.isoformat())
        for raw in _item_collection(keys.org_pk(organization_id), keys.CONTRACT_SK, keys.SUBSCRIPTION_PREFIX + "\uffff"):
            sk = raw["sk"]["S"]
            if sk == keys.CONTRACT_SK:
                contract = _contract(ContractItem.from_raw_data(raw))
            elif sk == keys.ORGANIZATION_SK:
                organization = _organization(OrganizationItem.from_raw_data(raw))
            elif sk == guard_sk:
                invoiced = InvoiceGuardItem.from_raw_data(raw).invoice_id
            elif sk.startswith(keys.SUBSCRIPTION_PREFIX):
                subscriptions.append(_subscription(SubscriptionItem.from_raw_data(raw)))
            elif sk.startswith(keys.CREDIT_LEFT_PREFIX):
                left = CreditLeftItem.from_raw_data(raw)
                credits_left.append((left.invoice_id, left.credit_note_id))
        return BillingRead(organization, contract, invoiced, subscriptions, credits_left)

    def renewing_on(self, day: date) -> List[Tuple[str, str]]:
        """(organisation, subscription) ids whose renewal date is `day` (the renewal index)."""
        return [(i.organization_id, i.id) for i in SubscriptionItem.by_renewal.query(keys.renewal_pk(day.isoformat()))]

    def get_change(self, organization_id: str, subscription_id: str, change_id: str) -> QuantityChange:
        try:
            return _change(ChangeItem.get(keys.changes_pk(organization_id, subscription_id),
                                          keys.change_sk(change_id), consistent_read=True))
        except DoesNotExist:
            raise codes.CHANGE_NOT_FOUND()

    def changes(self, organization_id: str, subscription_id: str, *, limit: int, next_token: Optional[str]) -> Page:
        pk = keys.changes_pk(organization_id, subscription_id)
        results = ChangeItem.query(pk, limit=limit, scan_index_forward=False,
                                   last_evaluated_key=decode_token(next_token, ("pk", pk)))
        items, token = _page(results, limit)
        return [_change(i) for i in items], token

    def save(self, writes: Sequence[ChangeWrite], changes: Sequence[QuantityChange], audit: Sequence[AuditEntry],
             *, created: Sequence[Subscription] = (), cart_lines_to_clear: Iterable[Tuple[str, str, int]] = (),
             new_changes: Sequence[QuantityChange] = (), contract: Optional[Tuple[Contract, int]] = None,
             also: Optional[Callable[[Any], None]] = None) -> None:
        """One transaction: subscriptions (optimistic lock on their version), their change records and
        the audit trail. `created` and `new_changes` must not exist yet; `changes` are updates of
        existing ones.

        `cart_lines_to_clear` are (organisation, sku, quantity) as the checkout read them: each is
        deleted only if it is still there with that quantity, so of two checkouts of one cart at once
        only one commits (the other's transaction fails as CART_CHANGED and buys nothing).

        `contract` is (the new contract, the version it replaces), written on that version: the
        acceptance and what it orders commit together, so of two acceptances at once one orders
        and the other writes nothing (VERSION_CONFLICT).

        `also(tx)` adds another conditional write to the same transaction (a purchase approval's
        claim, labelled "approval": the claim and the order commit together or not at all)."""
        def build(tx):
            if also is not None:
                also(tx)
            if contract is not None:
                accepted, expected_version = contract
                tx.save(_contract_item(accepted), condition=ContractItem.version == expected_version,
                        label="contract")
            for sub in created:
                tx.save(_subscription_item(sub), condition=SubscriptionItem.pk.does_not_exist())
            for sub, expected_version in writes:
                tx.save(_subscription_item(sub), condition=SubscriptionItem.version == expected_version)
            for change in new_changes:
                tx.save(_change_item(change), condition=ChangeItem.pk.does_not_exist())
            for change in changes:
                tx.save(_change_item(change), condition=ChangeItem.pk.exists())
            for organization_id, sku, quantity in cart_lines_to_clear:
                tx.delete(CartLineItem(keys.org_pk(organization_id), keys.cart_sk(sku)),
                          condition=CartLineItem.pk.exists() & (CartLineItem.quantity == quantity), label="cart")
            subjects = {sub.id: hooks.subscription_data(sub) for sub in [*created, *(s for s, _ in writes)]}
            for entry in audit:
                append_audit(tx, entry, subjects)

        self._tx.run(build, on_conflict=_stale_or_cart_changed)

    def record_attempt(self, change: QuantityChange) -> None:
        """A provider attempt failed: keep the count and the error, unless another delivery of the
        same message has settled the change meanwhile (then nothing is overwritten)."""
        # Nor an order another delivery recorded meanwhile: the change would be ordered again.
        same_order = ChangeItem.order_id.does_not_exist() if change.order_id is None \
            else ChangeItem.order_id == change.order_id
        try:
            _change_item(change).save(condition=ChangeItem.pk.exists() & (ChangeItem.status == CHANGE_PENDING)
                                      & same_order)
        except PutError as exc:
            if not _is_condition_failure(exc):
                raise

    def record_order(self, change: QuantityChange) -> bool:
        """The provider's pending order on the change (`rules.order_pending`), while the change is
        still pending and has no other order: a delivery that settled it meanwhile is not undone, and
        one change never holds two orders."""
        condition = ChangeItem.pk.exists() & (ChangeItem.status == CHANGE_PENDING) & \
            (ChangeItem.order_id.does_not_exist() | (ChangeItem.order_id == change.order_id))
        try:
            _change_item(change).save(condition=condition)
        except PutError as exc:
            if not _is_condition_failure(exc):
                raise
            return False
        return True

    def stale_pending_changes(self, requested_before: str) -> List[QuantityChange]:
        """Changes still pending since before then (the index projects every attribute)."""
        return [_change(i) for i in ChangeItem.pending.query(keys.PENDING_CHANGES_PK,
                                                             ChangeItem.gsi2sk < requested_before)]


class CartRepository:
    def lines(self, organization_id: str) -> List[Tuple[str, int]]:
        return [(i.sku, int(i.quantity)) for i in CartLineItem.query(
            keys.org_pk(organization_id), CartLineItem.sk.startswith(keys.CART_PREFIX), consistent_read=True)]

    def put(self, organization_id: str, sku: str, quantity: int, at: str) -> None:
        CartLineItem(keys.org_pk(organization_id), keys.cart_sk(sku), sku=sku, quantity=quantity, added_at=at).save()

    def remove(self, organization_id: str, sku: str) -> None:
        CartLineItem(keys.org_pk(organization_id), keys.cart_sk(sku)).delete()
