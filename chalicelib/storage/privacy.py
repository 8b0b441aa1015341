"""LGPD storage: export records, an organisation's items read whole for its export, and the
updates that anonymise them. Reads go by the documented access patterns (no Scan)."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Dict, Iterable, List, Optional

from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import DoesNotExist

from ..domain import error_codes as codes
from ..domain.audit import AuditEntry
from ..domain.privacy import DataExport
from . import keys
from .models import (
    AuditItem,
    ChangeItem,
    ContractItem,
    CreditNoteItem,
    DataExportItem,
    InvoiceItem,
    LeadItem,
    OrganizationItem,
    PaymentItem,
    SubscriptionItem,
    TicketAttachmentItem,
    TicketItem,
    TicketMessageItem,
    UserItem,
)
from .repositories import Transaction, append_audit

# Keys and index attributes say where an item lives, not what it holds: left out of the export.
_STORAGE_ATTRIBUTES = {"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"}
# The back office's working state on an invoice, not the customer's data: the emitter's refusal
# of its NFS-e (E-codes and schema complaints, shown only to operators), the bank's refusal of its
# boleto (likewise) and the requests' claims.
_INTERNAL_INVOICE_ATTRIBUTES = {"nfse_failure", "boleto_failure", "nfse_until", "second_copy_until", "cancel_until"}


def _plain(value: Any) -> Any:
    if isinstance(value, MapAttribute):
        return {k: _plain(v) for k, v in value.as_dict().items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def row(item, internal=frozenset()) -> Dict[str, Any]:
    """An item as a plain, JSON-safe row, without its storage keys nor the `internal` attributes."""
    return {k: _plain(v) for k, v in sorted(item.attribute_values.items())
            if k not in _STORAGE_ATTRIBUTES and k not in internal}


def _export_item(export: DataExport) -> DataExportItem:
    return DataExportItem(keys.org_exports_pk(export.organization_id), keys.export_sk(export.id), id=export.id,
                          organization_id=export.organization_id, key=export.key, requested_by=export.requested_by,
                          created_at=export.created_at, size_bytes=export.size_bytes, rows=export.rows,
                          expires_at=export.expires_at)


def _export(item: DataExportItem) -> DataExport:
    return DataExport(id=item.id, organization_id=item.organization_id, key=item.key, requested_by=item.requested_by,
                      created_at=item.created_at, expires_at=item.expires_at, size_bytes=int(item.size_bytes),
                      rows=int(item.rows))


class PrivacyRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    # --- exports (access pattern 39) ---------------------------------------------------------

    def add_export(self, export: DataExport, audit: AuditEntry) -> None:
        """The export's record with its audit entry: who exported, when, in one transaction."""
        def build(tx):
            tx.save(_export_item(export), condition=DataExportItem.pk.does_not_exist(), label="export")
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.VERSION_CONFLICT())

    def export(self, organization_id: str, export_id: str) -> Optional[DataExport]:
        try:
            return _export(DataExportItem.get(keys.org_exports_pk(organization_id), keys.export_sk(export_id),
                                              consistent_read=True))
        except DoesNotExist:
            return None

    # --- an organisation's items, whole (patterns 1, 3, 5, 6, 11, 15, 19, 19d, 20, 27, 28) ------

    def tables(self, organization_id: str) -> Dict[str, List[Dict[str, Any]]]:
        org_pk = keys.org_pk(organization_id)
        organization = [row(i) for i in OrganizationItem.query(org_pk, OrganizationItem.sk == keys.ORGANIZATION_SK)]
        contract = [row(i) for i in ContractItem.query(org_pk, ContractItem.sk == keys.CONTRACT_SK,
                                                       consistent_read=True)]
        users = [row(i) for i in UserItem.by_organization.query(keys.org_users_pk(organization_id))]
        subscriptions = list(SubscriptionItem.query(org_pk, SubscriptionItem.sk.startswith(keys.SUBSCRIPTION_PREFIX),
                                                    consistent_read=True))
        changes = [row(c) for s in subscriptions
                   for c in ChangeItem.query(keys.changes_pk(organization_id, s.id))]
        invoices = list(InvoiceItem.by_organization.query(keys.org_invoices_pk(organization_id)))
        payments = [row(p) for i in invoices
                    for p in PaymentItem.query(keys.invoice_pk(i.id), PaymentItem.sk.startswith(keys.PAYMENT_PREFIX))]
        credit_notes = [row(c) for i in invoices for c in CreditNoteItem.query(
            keys.invoice_pk(i.id), CreditNoteItem.sk.startswith(keys.CREDIT_NOTE_PREFIX))]
        tickets = list(TicketItem.by_organization.query(keys.org_tickets_pk(organization_id)))
        messages = [{"ticket_id": t.id, **row(m)} for t in tickets for m in self.ticket_messages(t.id)]
        # The attachments' records (name, size, type, who, when); the files stay behind their links.
        attachments = [row(a) for t in tickets for a in self.ticket_attachments(t.id)]
        audit = [row(a) for a in AuditItem.query(keys.audit_pk(organization_id))]
        return {"organization": organization, "contract": contract, "users": users,
                "subscriptions": [row(s) for s in subscriptions], "subscription_changes": changes,
                "invoices": [row(i, _INTERNAL_INVOICE_ATTRIBUTES) for i in invoices], "payments": payments, "credit_notes": credit_notes,
                "tickets": [row(t) for t in tickets], "ticket_messages": messages,
                "ticket_attachments": attachments, "audit": audit}

    # --- anonymisation --------------------------------------------------------------------------

    def retained_until(self, cutoff: str) -> List[str]:
        """Organisations whose contract ended before `cutoff` and are not yet anonymised (pattern 40)."""
        return [i.organization_id for i in ContractItem.by_retention.query(
            keys.RETENTION_PK, ContractItem.gsi2sk < cutoff)]

    def users(self, organization_id: str) -> List[UserItem]:
        return list(UserItem.by_organization.query(keys.org_users_pk(organization_id)))

    def organization_cnpj(self, organization_id: str) -> Optional[str]:
        try:
            return OrganizationItem.get(keys.org_pk(organization_id), keys.ORGANIZATION_SK).cnpj
        except DoesNotExist:
            return None

    def lead(self, cnpj: str) -> Optional[LeadItem]:
        try:
            return LeadItem.get(keys.lead_pk(cnpj), keys.LEAD_SK, consistent_read=True)
        except DoesNotExist:
            return None

    def contract(self, organization_id: str) -> Optional[ContractItem]:
        try:
            return ContractItem.get(keys.org_pk(organization_id), keys.CONTRACT_SK, consistent_read=True)
        except DoesNotExist:
            return None

    def tickets(self, organization_id: str) -> List[TicketItem]:
        return list(TicketItem.by_organization.query(keys.org_tickets_pk(organization_id)))

    def ticket_attachments(self, ticket_id: str) -> Iterable[TicketAttachmentItem]:
        return TicketAttachmentItem.query(keys.ticket_pk(ticket_id),
                                          TicketAttachmentItem.sk.startswith(keys.TICKET_ATTACHMENT_PREFIX))

    def ticket_messages(self, ticket_id: str) -> Iterable[TicketMessageItem]:
        return TicketMessageItem.query(keys.ticket_pk(ticket_id),
                                       TicketMessageItem.sk.startswith(keys.TICKET_MESSAGE_PREFIX))

    def changes(self, organization_id: str) -> List[ChangeItem]:
        subs = SubscriptionItem.query(keys.org_pk(organization_id),
                                      SubscriptionItem.sk.startswith(keys.SUBSCRIPTION_PREFIX))
        return [c for s in subs for c in ChangeItem.query(keys.changes_pk(organization_id, s.id))]

    def audit_entries(self, organization_id: str) -> Iterable[AuditItem]:
        return AuditItem.query(keys.audit_pk(organization_id))

    @staticmethod
    def update(item, changes: Dict[str, Any]) -> None:
        """Set (or, for None, remove) the given attributes of an existing item: one repeat-safe UpdateItem.

        The only writer that edits audit entries: the trail is append-only, except that anonymisation
        takes the personal data out of it (LGPD art. 16: kept after the purpose only when anonymised)."""
        model = type(item)
        actions = []
        for name, value in changes.items():
            attribute = getattr(model, name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        if actions:
            item.update(actions=actions, condition=model.pk.exists())

    def anonymise_user(self, user: UserItem, name: str, email: str) -> None:
        # The organisation's user index is keyed by email: the key moves with it.
        self.update(user, {"name": name, "email": email, "gsi1sk": keys.user_email_sk(email)})

    def finish_anonymisation(self, organization_id: str, at: str, audit: AuditEntry) -> None:
        """The contract leaves the retention index, marked, with the (impersonal) audit entry."""
        def build(tx):
            tx.update(ContractItem(keys.org_pk(organization_id), keys.CONTRACT_SK),
                      actions=[ContractItem.anonymised_at.set(at), ContractItem.gsi2pk.remove(),
                               ContractItem.gsi2sk.remove()],
                      condition=ContractItem.pk.exists(), label="contract")
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.CONTRACT_NOT_FOUND())
