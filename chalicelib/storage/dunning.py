"""Dunning steps taken on invoices (access pattern 41): one item per (invoice, step), written once,
in the transaction of its audit entry and on the invoice as read."""
from __future__ import annotations

from typing import Optional, Set

from pynamodb.exceptions import DoesNotExist

from ..domain import error_codes as codes
from ..domain.audit import AuditEntry
from ..domain.billing import Invoice
from . import keys
from .models import DunningStepItem, InvoiceItem
from .repositories import Transaction, append_audit


class DunningStepRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    def taken(self, invoice_id: str) -> Set[str]:
        """The keys of the steps already taken on the invoice."""
        return {item.step for item in DunningStepItem.query(
            keys.invoice_pk(invoice_id), DunningStepItem.sk.startswith(keys.DUNNING_STEP_PREFIX),
            consistent_read=True)}

    def taken_at(self, invoice_id: str, step: str) -> Optional[str]:
        """When a step was taken on the invoice (its instant, ISO), or None."""
        try:
            return DunningStepItem.get(keys.invoice_pk(invoice_id), keys.dunning_step_sk(step),
                                       consistent_read=True).taken_at
        except DoesNotExist:
            return None

    def take(self, invoice: Invoice, step: str, *, day: int, days_overdue: int, taken_at: str,
             audit: AuditEntry) -> None:
        """Record the step once: the step's item with `attribute_not_exists` (a second run, or two
        at once, cannot take it again) and the invoice unchanged since it was read (a payment or a
        dispute that landed in between stops the step). Conflict when either fails."""
        def build(tx):
            tx.check(InvoiceItem, keys.invoice_pk(invoice.id), keys.INVOICE_SK,
                     condition=InvoiceItem.version == invoice.version, label="invoice")
            tx.save(DunningStepItem(keys.invoice_pk(invoice.id), keys.dunning_step_sk(step), invoice_id=invoice.id,
                                    organization_id=invoice.organization_id, step=step, day=day,
                                    days_overdue=days_overdue, balance_cents=invoice.balance_cents,
                                    taken_at=taken_at),
                    condition=DunningStepItem.pk.does_not_exist(), label="step")
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.CONCURRENT_UPDATE())
