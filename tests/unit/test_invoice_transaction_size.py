"""`InvoiceRepository.issue` keeps its transaction within DynamoDB's 100 actions by counting the
actions of a dry build of that very transaction (audit entries, their outbox items, the spend
markers, credits, the replaced invoice…): an invoice with many SKUs and credits, and its re-issue,
are written at once, their spend left `pending` for the backfill only when it does not fit."""
from dataclasses import replace
from datetime import date

import pytest

from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.billing import CANCELLED, Invoice, InvoiceLine
from chalicelib.domain.credits import CreditNote
from chalicelib.storage.billing import InvoiceRepository
from chalicelib.storage.models import SpendMarkerItem


class RecordingTransaction:
    """The repository's transaction runner, faked: each transaction's actions, refused above 100
    as DynamoDB (and moto) refuse them."""

    def __init__(self):
        self.transactions = []

    def run(self, build, on_conflict=None, on_returned=None):
        actions = []

        class Tx:
            def __getattr__(self, name):
                return lambda item, *args, **kwargs: actions.append((name, item))

        build(Tx())
        assert len(actions) <= 100, f"{len(actions)} actions in one transaction"
        self.transactions.append(actions)


def _invoice(skus, number=7, invoice_id="inv-new"):
    lines = [InvoiceLine(description=sku, sku=sku, quantity=1, days=30, period_days=30, unit_price_cents=1000,
                         amount_cents=1000, start=date(2026, 10, 11), end=date(2026, 11, 10)) for sku in skus]
    return Invoice(id=invoice_id, organization_id="org-1", contract_id="ct-1", number=number,
                   period_start=date(2026, 10, 11), period_end=date(2026, 11, 10), issued_at="2026-11-11T12:00:00+00:00",
                   due_date=date(2026, 11, 20), lines=lines, total_cents=1000 * len(lines), payment_method="boleto")


def _entry(action, target):
    return AuditEntry(id=f"a-{action}-{target}", organization_id="org-1", at="2026-11-11T12:00:00+00:00",
                      actor_id="system", actor_email=None, action=action, target=target, before=None,
                      after={"status": "open"})


def _credit(n):
    note = CreditNote(id=f"cn-{n}", organization_id="org-1", invoice_id="inv-old", invoice_number=1, amount_cents=100,
                      reason="Desconto", created_at="2026-11-01T12:00:00+00:00", created_by="op", remaining_cents=100)
    return note, replace(note, remaining_cents=0, version=2)


def _marker_state(actions, invoice_id):
    [marker] = [item for _, item in actions if isinstance(item, SpendMarkerItem) and item.invoice_id == invoice_id]
    return marker.state


def _spend_updates(actions):
    return [item for name, item in actions if name == "update"]


@pytest.mark.parametrize("skus", [47, 46, 45])
def test_an_invoice_with_many_skus_and_a_credit_is_issued_in_one_transaction(skus):
    tx = RecordingTransaction()
    invoice = _invoice([f"SKU-{n:02d}" for n in range(skus)])
    InvoiceRepository(tx).issue(invoice, _entry("invoice.issued", f"invoice:{invoice.id}"), credits=[_credit(1)])
    [actions] = tx.transactions
    # guard, invoice, counter, audit + its outbox item, spend marker, credit and its place in the
    # organisation's collection (used up: deleted): 8, and 2 per SKU when counted.
    counted = 8 + 2 * skus <= 100
    assert _marker_state(actions, invoice.id) == ("counted" if counted else "pending")
    assert len(_spend_updates(actions)) == (2 * skus if counted else 0)


@pytest.mark.parametrize("skus", [46, 45])
def test_the_first_boletos_record_counts_in_the_issue_transaction_size(skus):
    tx = RecordingTransaction()
    invoice = _invoice([f"SKU-{n:02d}" for n in range(skus)])
    InvoiceRepository(tx).issue(invoice, _entry("invoice.issued", f"invoice:{invoice.id}"), credits=[_credit(1)],
                                boleto=("001", "12345670000000007"))
    [actions] = tx.transactions
    # The 8 above, the boleto's record, and 2 per SKU when counted: 46 SKUs no longer fit.
    counted = 9 + 2 * skus <= 100
    assert _marker_state(actions, invoice.id) == ("counted" if counted else "pending")
    assert len(_spend_updates(actions)) == (2 * skus if counted else 0)
    assert len(actions) == 9 + (2 * skus if counted else 0)


@pytest.mark.parametrize("skus", [25, 26])
def test_a_re_issue_of_an_invoice_with_many_skus_is_written_in_one_transaction(skus):
    tx = RecordingTransaction()
    old = replace(_invoice([f"OLD-{n:02d}" for n in range(20)], number=3, invoice_id="inv-old"), status=CANCELLED)
    new = _invoice([f"SKU-{n:02d}" for n in range(skus)])
    InvoiceRepository(tx).issue(new, _entry("invoice.issued", f"invoice:{new.id}"),
                                replacing=(old, 2, _entry("invoice.cancelled", f"invoice:{old.id}")))
    [actions] = tx.transactions
    assert _marker_state(actions, old.id) == "cancelled"
    # The replaced one's lines go out (2 per SKU) in any case; the new one's in only if they fit.
    fixed = 4 + 2 + 3 + 1  # guard, invoice, counter, audit+outbox; replaced, its audit+outbox; 2 markers
    counted = fixed + 2 * 20 + 2 * skus <= 100
    assert _marker_state(actions, new.id) == ("counted" if counted else "pending")
    assert len(_spend_updates(actions)) == 2 * 20 + (2 * skus if counted else 0)
