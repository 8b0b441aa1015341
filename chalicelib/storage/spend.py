"""The spend aggregate (issue #21 §1): per organisation, month and SKU, the amount its invoices
billed, netted of credits and cancellations (access patterns 58 and 59).

The amounts move by DynamoDB ADD inside the transaction that issues or cancels an invoice
(`InvoiceRepository.issue` / `cancel` call `add_spend`), with the invoice's marker
(pk=INVOICE#<id> sk=SPEND): `counted` when its lines are in, `cancelled` when they were taken out
(or never went in), `pending` when they wait for the backfill. A cancellation takes the lines out
only of a `counted` invoice (the marker's condition), so an invoice issued before the aggregate is
never subtracted; the backfill counts an invoice only on a missing or `pending` marker, so running
it twice counts nothing twice.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

from ..domain import error_codes as codes
from ..domain.billing import CANCELLED, Invoice
from ..domain.spend import SpendRow, spend_deltas
from . import keys
from .models import OrganizationItem, SpendItem, SpendMarkerItem
from .repositories import Transaction

COUNTED, UNCOUNTED, PENDING = "counted", "cancelled", "pending"
PART = "part:"  # `part:<n>`: the first n parts of an invoice too big for one transaction are in
# DynamoDB's limit on the actions of one transaction; each (month, SKU) an invoice moves takes two.
MAX_TRANSACTION_ACTIONS = 100
MARKER_LABEL = "spend_marker"
_BATCH = 100


class NotCounted(Exception):
    """The invoice being cancelled has no `counted` marker: take nothing out (try again so)."""


def fits(deltas: Dict[Tuple[str, str], int], other_actions: int) -> bool:
    return other_actions + 2 * len(deltas) <= MAX_TRANSACTION_ACTIONS


def _marker(invoice: Invoice, state: str) -> SpendMarkerItem:
    return SpendMarkerItem(keys.invoice_pk(invoice.id), keys.SPEND_MARKER_SK, invoice_id=invoice.id,
                           organization_id=invoice.organization_id, state=state)


def add_spend(tx, organization_id: str, deltas: Dict[Tuple[str, str], int]) -> None:
    """The ADDs of one transaction: each (month, SKU) once, under both keys (58, 59)."""
    for (month, sku), amount in deltas.items():
        for pk, sk in ((keys.org_spend_pk(organization_id), keys.org_spend_sk(month, sku)),
                       (keys.month_spend_pk(month), keys.month_spend_sk(organization_id, sku))):
            tx.update(SpendItem(pk, sk), actions=[
                SpendItem.amount_cents.add(amount), SpendItem.organization_id.set(organization_id),
                SpendItem.month.set(month), SpendItem.sku.set(sku)], label="spend")


def mark_issued(tx, invoice: Invoice, counted: bool) -> None:
    """The new invoice's marker (its id is new: nothing to condition on)."""
    tx.save(_marker(invoice, COUNTED if counted else PENDING), label="spend_new")


def mark_cancelled(tx, invoice: Invoice, *, counted: bool) -> None:
    """The cancelled invoice's marker: from `counted` (its lines go out in this transaction), or,
    `counted` False, from nothing or `pending` (nothing to take out)."""
    condition = SpendMarkerItem.state == COUNTED if counted else \
        (SpendMarkerItem.pk.does_not_exist() | (SpendMarkerItem.state == PENDING))
    tx.save(_marker(invoice, UNCOUNTED), condition=condition, label=MARKER_LABEL)


def run_counting(run) -> None:
    """`run(counted)`: a transaction that assumes the invoice it cancels was counted; when its
    marker says otherwise, again without taking its lines out (and once more, should the backfill
    have counted it in between)."""
    for counted in (True, False, True):
        try:
            run(counted)
            return
        except NotCounted:
            continue
    raise codes.CONCURRENT_UPDATE()


def _row(item: SpendItem) -> SpendRow:
    return SpendRow(month=item.month, organization_id=item.organization_id, sku=item.sku,
                    amount_cents=int(item.amount_cents or 0))


class SpendRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    def of_organization(self, organization_id: str, first_month: str, last_month: str) -> List[SpendRow]:
        """Pattern 58: one Query of the organisation's months (at most 36 × its SKUs)."""
        condition = SpendItem.sk.between(f"{first_month}#", f"{last_month}#\uffff")
        return [_row(i) for i in SpendItem.query(keys.org_spend_pk(organization_id), condition)]

    def of_month(self, month: str) -> List[SpendRow]:
        """Pattern 59: every organisation's amounts of a month (one Query, page after page)."""
        return [_row(i) for i in SpendItem.query(keys.month_spend_pk(month))]

    def organization_names(self, organization_ids: Iterable[str]) -> Dict[str, str]:
        """Names by organisation id (BatchGetItem of pattern 1's keys, 100 at a time)."""
        wanted = sorted(set(organization_ids))
        names: Dict[str, str] = {}
        for start in range(0, len(wanted), _BATCH):
            chunk = [(keys.org_pk(o), keys.ORGANIZATION_SK) for o in wanted[start:start + _BATCH]]
            for item in OrganizationItem.batch_get(chunk, attributes_to_get=["id", "name"]):
                names[item.id] = item.name
        return names

    def markers(self, invoice_ids: Iterable[str]) -> Dict[str, str]:
        """The markers' states by invoice id (BatchGetItem; an invoice without one is left out)."""
        wanted = sorted(set(invoice_ids))
        found: Dict[str, str] = {}
        for start in range(0, len(wanted), _BATCH):
            chunk = [(keys.invoice_pk(i), keys.SPEND_MARKER_SK) for i in wanted[start:start + _BATCH]]
            for item in SpendMarkerItem.batch_get(chunk):
                found[item.invoice_id] = item.state
        return found

    def count(self, invoice: Invoice) -> bool:
        """The backfill of one invoice: its lines in (a cancelled one: none), with its marker, only
        if it has none or a `pending` one. False when another writer marked it first.

        An invoice with more SKUs than one transaction holds is counted in parts, in order, each
        part's ADDs with the marker moving `pending` → `part:1` → … → `counted`, conditioned on
        the state before: a rerun (or a second backfill) resumes after the last part written and
        never counts a part twice. While in parts, its cancellation waits (CONCURRENT_UPDATE)."""
        deltas = {} if invoice.status == CANCELLED else spend_deltas(added=invoice)
        if fits(deltas, 1):
            return self._count_part(invoice, deltas, None, UNCOUNTED if invoice.status == CANCELLED else COUNTED)
        items = list(deltas.items())
        size = (MAX_TRANSACTION_ACTIONS - 1) // 2
        parts = [dict(items[i:i + size]) for i in range(0, len(items), size)]
        try:
            state = SpendMarkerItem.get(keys.invoice_pk(invoice.id), keys.SPEND_MARKER_SK, consistent_read=True).state
        except SpendMarkerItem.DoesNotExist:
            state = None
        if state in (COUNTED, UNCOUNTED):
            return False
        start = int(state.split(":", 1)[1]) if state and state.startswith(PART) else 0
        for index in range(start, len(parts)):
            after = COUNTED if index == len(parts) - 1 else f"{PART}{index + 1}"
            if not self._count_part(invoice, parts[index], None if index == 0 else f"{PART}{index}", after):
                return index > start
        return True

    def _count_part(self, invoice: Invoice, deltas, before, after: str) -> bool:
        """One transaction: `deltas` in, the marker from `before` (None: missing or `pending`) to `after`."""
        condition = SpendMarkerItem.pk.does_not_exist() | (SpendMarkerItem.state == PENDING) if before is None \
            else SpendMarkerItem.state == before

        def build(tx):
            tx.save(_marker(invoice, after), condition=condition, label=MARKER_LABEL)
            add_spend(tx, invoice.organization_id, deltas)

        try:
            self._tx.run(build, on_conflict=NotCounted())
        except NotCounted:
            return False
        return True
