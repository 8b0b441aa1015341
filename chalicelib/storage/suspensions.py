"""The suspension of an organisation at the licence provider, and the claims on its provider calls
(access patterns 43 and 44)."""
from __future__ import annotations

from typing import List, Optional

from pynamodb.exceptions import DoesNotExist, PutError

from ..domain import error_codes as codes
from ..domain import webhooks as hooks  # the events a subscription's entry reports
from ..domain.audit import AuditEntry
from ..domain.subscriptions import Subscription
from ..domain.suspensions import UNDER_WAY, Suspension
from . import keys
from .licences import _subscription_item
from .models import SubscriptionItem, SuspensionClaimItem, SuspensionItem
from .repositories import Transaction, _is_condition_failure, append_audit


def _suspension_item(suspension: Suspension) -> SuspensionItem:
    under_way = {"gsi2pk": keys.SUSPENSIONS_UNDER_WAY_PK, "gsi2sk": suspension.organization_id} \
        if suspension.state in UNDER_WAY else {}
    return SuspensionItem(
        keys.org_pk(suspension.organization_id), keys.SUSPENSION_SK, **under_way,
        organization_id=suspension.organization_id, number=suspension.number, state=suspension.state,
        invoice_id=suspension.invoice_id, invoice_number=suspension.invoice_number,
        started_at=suspension.started_at, lifting_at=suspension.lifting_at, lifted_at=suspension.lifted_at,
        version=suspension.version)


def _suspension(item: SuspensionItem) -> Suspension:
    return Suspension(organization_id=item.organization_id, number=int(item.number), state=item.state,
                      invoice_id=item.invoice_id, invoice_number=int(item.invoice_number),
                      started_at=item.started_at, lifting_at=item.lifting_at, lifted_at=item.lifted_at,
                      version=int(item.version))


def _claim_key(organization_id: str, number: int, action: str, subscription_id: str):
    return keys.org_pk(organization_id), keys.suspension_claim_sk(number, action, subscription_id)


class SuspensionRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    def get(self, organization_id: str) -> Optional[Suspension]:
        """The organisation's latest suspension (consistent), or None if it was never suspended."""
        try:
            return _suspension(SuspensionItem.get(keys.org_pk(organization_id), keys.SUSPENSION_SK,
                                                  consistent_read=True))
        except DoesNotExist:
            return None

    def under_way(self) -> List[str]:
        """Organisations with a suspension in force or being lifted (the sparse index, 44)."""
        return [i.organization_id for i in SuspensionItem.under_way.query(keys.SUSPENSIONS_UNDER_WAY_PK)]

    def save(self, suspension: Suspension, expected_version: Optional[int], audit: AuditEntry) -> None:
        """On the version read (`None`: the organisation's first, which must not exist yet): of two
        runs opening or moving the same suspension at once, one writes and the other gets
        VERSION_CONFLICT."""
        def build(tx):
            condition = SuspensionItem.pk.does_not_exist() if expected_version is None \
                else SuspensionItem.version == expected_version
            tx.save(_suspension_item(suspension), condition=condition)
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.VERSION_CONFLICT())

    def claim(self, organization_id: str, number: int, action: str, subscription_id: str, *, now: str,
              until: str) -> bool:
        """Claim one provider call before making it: True for the one caller that may call. Refused
        while another holds it (until `until`, when a run that died mid-call lets go) and once the
        call is done."""
        pk, sk = _claim_key(organization_id, number, action, subscription_id)
        item = SuspensionClaimItem(pk, sk, organization_id=organization_id, subscription_id=subscription_id,
                                   action=action, number=number, claimed_until=until, done=False)
        try:
            item.save(condition=SuspensionClaimItem.pk.does_not_exist()
                      | ((SuspensionClaimItem.done == False) & (SuspensionClaimItem.claimed_until < now)))  # noqa: E712
        except PutError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def calls_in_flight(self, organization_id: str, number: int, action: str, now: str) -> int:
        """Claims of one suspension's `action` still held (not done, lease not over): consistent
        Query pk=ORG#<org> sk begins_with SUSPENSION#<number>#<action>#."""
        prefix = keys.suspension_claim_sk(number, action, "")
        return sum(1 for i in SuspensionClaimItem.query(
            keys.org_pk(organization_id), SuspensionClaimItem.sk.startswith(prefix), consistent_read=True)
            if not i.done and i.claimed_until >= now)

    def release(self, organization_id: str, number: int, action: str, subscription_id: str,
                audit: AuditEntry) -> None:
        """The provider failed: the claim goes (the next run calls again, with the same request id),
        and the failure is in the trail."""
        pk, sk = _claim_key(organization_id, number, action, subscription_id)

        def build(tx):
            tx.delete(SuspensionClaimItem(pk, sk), condition=SuspensionClaimItem.done == False)  # noqa: E712
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.CONCURRENT_UPDATE())

    def refuse(self, organization_id: str, number: int, action: str, subscription_id: str,
               audit: AuditEntry) -> None:
        """The provider refused the call for what it asked: the claim is kept, done, so no run of
        this suspension calls again (the operators were told), and the refusal is in the trail."""
        pk, sk = _claim_key(organization_id, number, action, subscription_id)

        def build(tx):
            tx.save(SuspensionClaimItem(pk, sk, organization_id=organization_id, subscription_id=subscription_id,
                                        action=action, number=number, claimed_until="", done=True),
                    condition=SuspensionClaimItem.done == False)  # noqa: E712
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.CONCURRENT_UPDATE())

    def save_subscription(self, subscription: Subscription, expected_version: int, *, number: int, action: str,
                          audit: AuditEntry) -> None:
        """After the provider's answer: the subscription on its version, the claim done and the audit
        entry, in one transaction (a stale version raises VERSION_CONFLICT and writes nothing)."""
        pk, sk = _claim_key(subscription.organization_id, number, action, subscription.id)

        def build(tx):
            tx.save(_subscription_item(subscription), condition=SubscriptionItem.version == expected_version,
                    label="subscription")
            tx.save(SuspensionClaimItem(pk, sk, organization_id=subscription.organization_id,
                                        subscription_id=subscription.id, action=action, number=number,
                                        claimed_until="", done=True), label="claim")
            append_audit(tx, audit, {subscription.id: hooks.subscription_data(subscription)})

        self._tx.run(build, on_conflict=codes.VERSION_CONFLICT())
