"""Addresses no email goes to (access patterns 55 and 56): SES reported a hard bounce or a
complaint for them. One item per address, under the sha256 of the address.

The suppression is global (SES's reputation is the account's: no email goes to the address,
whoever it is about), but it belongs to the organisation it was recorded for (`organization_id`,
the email's tag): only that organisation sees it on its contract and lifts it by changing its
billing contacts; one without an organisation (a user's or a lead's address) is lifted only by an
operator."""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist

from ..domain import error_codes as codes
from ..domain.audit import AuditEntry
from ..domain.ids import digest
from ..domain.mail_events import Suppression
from . import keys
from .models import TableItem
from .repositories import Transaction, append_audit

# BatchGetItem reads at most 100 keys at a time; a message has at most 50 recipients and a
# contract 10 billing contacts.
BATCH = 100


class SuppressedAddressItem(TableItem):
    """An address no email goes to (pattern 55). Written once per suppression (`attribute_not_exists`,
    with its audit entry); deleted when the billing contacts of its organisation no longer list it, or by an operator."""

    email = UnicodeAttribute()
    kind = UnicodeAttribute()  # bounce | complaint
    since = UnicodeAttribute()
    event_id = UnicodeAttribute()  # SES's feedbackId: the same event delivered twice is recognised
    diagnostic = UnicodeAttribute(null=True)  # SES's diagnostic code or complaint type, trimmed
    organization_id = UnicodeAttribute(null=True)  # the email's organisation (its tag), when known
    template = UnicodeAttribute(null=True)


class AlreadySuppressed(Exception):
    """The address was suppressed already (by this event delivered again, or an earlier one)."""


def _key(address: str):
    return keys.suppressed_address_pk(digest(address)), keys.SUPPRESSED_ADDRESS_SK


def _suppression(item: SuppressedAddressItem) -> Suppression:
    return Suppression(email=item.email, kind=item.kind, since=item.since, event_id=item.event_id,
                       diagnostic=item.diagnostic, organization_id=item.organization_id, template=item.template)


class SuppressionRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    def suppress(self, suppression: Suppression, audit: Optional[AuditEntry]) -> None:
        """Record the suppression once, with its audit entry (when the organisation is known), in one
        transaction on `attribute_not_exists`: AlreadySuppressed when the address is suppressed
        already, and then nothing is written."""
        pk, sk = _key(suppression.email)

        def build(tx):
            tx.save(SuppressedAddressItem(pk, sk, email=suppression.email, kind=suppression.kind,
                                          since=suppression.since, event_id=suppression.event_id,
                                          diagnostic=suppression.diagnostic,
                                          organization_id=suppression.organization_id,
                                          template=suppression.template),
                    condition=SuppressedAddressItem.pk.does_not_exist(), label="suppression")
            if audit is not None:
                append_audit(tx, audit)

        self._tx.run(build, on_conflict=lambda labels: AlreadySuppressed() if "suppression" in labels
                     else codes.CONCURRENT_UPDATE())

    def get(self, address: str) -> Optional[Suppression]:
        try:
            return _suppression(SuppressedAddressItem.get(*_key(address), consistent_read=True))
        except DoesNotExist:
            return None

    def of(self, addresses: Iterable[str]) -> Dict[str, Suppression]:
        """Pattern 56: which of `addresses` (normalised) are suppressed, by address (a message's
        recipients before it is sent, a contract's billing contacts in its view)."""
        wanted = list(dict.fromkeys(a.strip().lower() for a in addresses if a))
        found: Dict[str, Suppression] = {}
        for start in range(0, len(wanted), BATCH):
            for item in SuppressedAddressItem.batch_get([_key(a) for a in wanted[start:start + BATCH]]):
                found[item.email] = _suppression(item)
        return found

    def lift(self, address: str, audit: AuditEntry) -> None:
        """The operator's lift (`DELETE /backoffice/suppressed-addresses/{email}`): the item deleted
        with its audit entry in one transaction on `attribute_exists`; SUPPRESSION_NOT_FOUND when
        the address is not suppressed (never was, or lifted at the same moment)."""
        def build(tx):
            add_lift(tx, address, audit)

        self._tx.run(build, on_conflict=lambda labels: codes.SUPPRESSION_NOT_FOUND() if "suppression" in labels
                     else codes.CONCURRENT_UPDATE())

    def checking_none_of(self, addresses: Iterable[str]) -> Callable[[Any], None]:
        """What the email worker's batch claim adds to its transaction (EmailDeliveries.claim_all's
        `also`): a ConditionCheck per address that it is not suppressed (label "suppression")."""
        def build(tx):
            for address in addresses:
                add_not_suppressed(tx, address)

        return build

    def lifting(self, lifts: List[Tuple[str, AuditEntry]], organization_id: str) -> Callable[[Any], None]:
        """What a change of billing contacts adds to its transaction (ContractRepository.save's
        `also`): each address's lift, with its audit entry, if still the organisation's."""
        def build(tx):
            for address, audit in lifts:
                add_lift(tx, address, audit, organization_id)

        return build


def add_lift(tx, address: str, audit: AuditEntry, organization_id: Optional[str] = None) -> None:
    """The suppression's Delete and its audit entry, added to a transaction (a change of billing
    contacts lifts in the contract's own transaction: services/contracts.py). With
    `organization_id`, only a suppression recorded for that organisation is lifted: the condition
    fails (the label "suppression") when another organisation's event suppressed it meanwhile."""
    pk, sk = _key(address)
    condition = SuppressedAddressItem.pk.exists()
    if organization_id is not None:
        condition = condition & (SuppressedAddressItem.organization_id == organization_id)
    tx.delete(SuppressedAddressItem(pk, sk), condition=condition, label="suppression")
    append_audit(tx, audit)


def add_not_suppressed(tx, address: str) -> None:
    """A ConditionCheck (label "suppression") that `address` is not suppressed, added to a
    transaction: the email worker's claim of a batch (pattern 10 with 55's keys, issue #22 §5)."""
    pk, sk = _key(address.strip().lower())
    tx.check(SuppressedAddressItem, pk, sk, condition=SuppressedAddressItem.pk.does_not_exist(), label="suppression")
