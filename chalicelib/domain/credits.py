"""Credit notes: an amount granted back against an issued invoice, applied to the organisation's
next invoices as negative lines until it is used up. Pure: the corrections service grants them,
the billing worker applies them (inside the next invoice's issue transaction), the credit-note
repository stores them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Optional, Sequence, Tuple

from . import error_codes as codes
from .billing import CANCELLED, Invoice, InvoiceLine
from .money import format_brl
from .proration import Period

# The `sku` of a credit line: the credit note's id follows, so the line names what it consumed.
CREDIT_SKU_PREFIX = "CREDITO:"


@dataclass(frozen=True)
class CreditApplication:
    invoice_id: str
    invoice_number: int
    amount_cents: int


@dataclass(frozen=True)
class CreditNote:
    id: str
    organization_id: str
    invoice_id: str
    invoice_number: int
    amount_cents: int
    reason: str
    created_at: str
    created_by: str
    remaining_cents: int
    applications: Tuple[CreditApplication, ...] = ()
    version: int = 1

    @property
    def applied_to_invoice_id(self) -> Optional[str]:
        """The first invoice it was (partly) applied to; None until then."""
        return self.applications[0].invoice_id if self.applications else None


def creditable_cents(invoice: Invoice) -> int:
    """What may still be credited on an invoice: its total less the credits already granted."""
    return max(0, invoice.total_cents - invoice.credited_cents)


def check_credit(invoice: Invoice, amount_cents: int) -> None:
    if invoice.status == CANCELLED:
        raise codes.INVOICE_NOT_CREDITABLE(number=invoice.number)
    if amount_cents <= 0:
        raise codes.INVALID_AMOUNT(field="amount_cents")
    available = creditable_cents(invoice)
    if amount_cents > available:
        raise codes.CREDIT_EXCEEDS_INVOICE(number=invoice.number, available_cents=available,
                                           available=format_brl(available))


def credit_sku(credit: CreditNote) -> str:
    """A credit line's `sku`: where the note is kept (its invoice) and its id, to give it back if
    the invoice that used it is cancelled."""
    return f"{CREDIT_SKU_PREFIX}{credit.invoice_id}:{credit.id}"


def credits_used_by(invoice: Invoice) -> List[Tuple[str, str, int]]:
    """(credit's invoice id, credit id, amount) of each credit line on an invoice."""
    used = []
    for line in invoice.lines:
        if line.sku.startswith(CREDIT_SKU_PREFIX):
            credit_invoice_id, _, credit_id = line.sku[len(CREDIT_SKU_PREFIX):].partition(":")
            used.append((credit_invoice_id, credit_id, -line.amount_cents))
    return used


def given_back(credit: CreditNote, invoice_id: str) -> CreditNote:
    """A credit note once the invoice that used (part of) it is cancelled: that part is left again."""
    mine = [a for a in credit.applications if a.invoice_id == invoice_id]
    return replace(credit, remaining_cents=credit.remaining_cents + sum(a.amount_cents for a in mine),
                   applications=tuple(a for a in credit.applications if a.invoice_id != invoice_id),
                   version=credit.version + 1)


def credit_description(credit: CreditNote) -> str:
    return f"Crédito — nota de crédito sobre a fatura nº {credit.invoice_number}: {credit.reason}"


# Each credit note an invoice uses is two writes in its issue's transaction (the note, and its place
# in the organisation's collection), within DynamoDB's 100 actions: the notes beyond wait for the next.
MAX_CREDITS_PER_INVOICE = 20


def apply_credits(lines: Sequence[InvoiceLine], credits: Sequence[CreditNote], period: Period,
                  invoice_id: str, invoice_number: int) -> Tuple[List[InvoiceLine], List[Tuple[CreditNote, CreditNote]]]:
    """The invoice's lines with one negative line per credit it uses (oldest credit first, at most
    MAX_CREDITS_PER_INVOICE), and each credit used as (as read, after): the total never goes below
    zero, what is left of a credit stays for the next invoice. No lines, no credit used: credits
    reduce a bill, they never make one."""
    total = sum(l.amount_cents for l in lines)
    result, used = list(lines), []
    for credit in sorted(credits, key=lambda c: (c.created_at, c.id)):
        if len(used) == MAX_CREDITS_PER_INVOICE:
            break
        take = min(credit.remaining_cents, total)
        if take <= 0:
            continue
        total -= take
        result.append(InvoiceLine(
            description=credit_description(credit), sku=credit_sku(credit), quantity=1,
            days=period.days, period_days=period.days, unit_price_cents=-take, amount_cents=-take,
            start=period.start, end=period.end))
        used.append((credit, replace(
            credit, remaining_cents=credit.remaining_cents - take, version=credit.version + 1,
            applications=credit.applications + (CreditApplication(invoice_id, invoice_number, take),))))
    return result, used


# A credit an invoice leaves when its own lines sum below zero (seats removed from a term paid up
# front): a credit note against that invoice, created by the system.
REDUCTION_REASON = "Crédito de licenças reduzidas no período"
# The `sku` of the line that carries it: the note's invoice and id follow, as on a credit line.
CARRIED_SKU_PREFIX = "CREDITO-TRANSPORTADO:"


def credit_left_by(lines: Sequence[InvoiceLine], period: Period, *, credit_id: str, organization_id: str,
                   invoice_id: str, invoice_number: int, created_at: str,
                   created_by: str) -> Tuple[List[InvoiceLine], Optional[CreditNote]]:
    """An invoice whose lines sum below zero closes at zero: the rest becomes a credit note against
    it (the next invoices use it as they use any credit note), and one line moves that amount to
    the note, so the invoice's lines still add up to its total. No money made or lost: the note is
    exactly what the lines left below zero. Otherwise the lines as they are and no note."""
    total = sum(l.amount_cents for l in lines)
    if total >= 0:
        return list(lines), None
    note = CreditNote(id=credit_id, organization_id=organization_id, invoice_id=invoice_id,
                      invoice_number=invoice_number, amount_cents=-total, reason=REDUCTION_REASON,
                      created_at=created_at, created_by=created_by, remaining_cents=-total)
    carried = InvoiceLine(
        description=f"Crédito transportado para as próximas faturas (nota de crédito): {REDUCTION_REASON}",
        sku=f"{CARRIED_SKU_PREFIX}{invoice_id}:{credit_id}", quantity=1, days=period.days,
        period_days=period.days, unit_price_cents=-total, amount_cents=-total, start=period.start, end=period.end)
    return list(lines) + [carried], note
