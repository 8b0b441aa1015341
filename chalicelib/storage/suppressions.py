"""Addresses no email goes to (access patterns 55 and 56): SES reported a hard bounce or a
complaint for them. One item per address, under the sha256 of the address."""
from __future__ import annotations

from typing import Dict, Iterable, Optional

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
    with its audit entry); deleted when the billing contacts that listed it no longer do."""

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
        """The address is tried again: its item deleted with the audit entry, in one transaction
        (an address not suppressed any more is left alone)."""
        pk, sk = _key(address)

        def build(tx):
            tx.delete(SuppressedAddressItem(pk, sk), condition=SuppressedAddressItem.pk.exists(), label="suppression")
            append_audit(tx, audit)

        try:
            self._tx.run(build, on_conflict=lambda labels: AlreadySuppressed() if "suppression" in labels
                         else codes.CONCURRENT_UPDATE())
        except AlreadySuppressed:
            return  # lifted already (another change of contacts, at the same moment)
