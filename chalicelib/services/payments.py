"""Payments on an invoice: recorded by an operator (a deposit, a boleto seen paid) and, through
`settle`, by every other source of payments."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol

from ..domain import billing as rules
from ..domain import error_codes as codes
from ..domain.audit import Actor
from ..domain.billing import Invoice
from ..domain.clock import iso, local_day
from ..domain.cnab240 import nosso_numero_key
from ..domain.ids import digest, new_id
from ..schemas import shape
from ..domain.users import RESELLER_ORGANIZATION_ID
from . import audit, documents, notifications, suspensions
from .billing import _INVOICE_VIEW_FIELDS, invoice_view
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..storage.billing import InvoiceRepository
    from ..storage.repositories import AuditRepository
    from .audit import Clocked
    from ..settings import Settings
    from .notifications import QueuesEmails
    from .suspensions import SuspensionDeps

    class PaymentDeps(SuspensionDeps, Protocol):
        """A payment recorded on an invoice, and the organisation's suspension lifted if the
        payment makes it unwarranted."""

        invoices: InvoiceRepository

    class UnappliedDeps(Clocked, QueuesEmails, Protocol):
        """Money the bank received for an invoice that takes no payment: audited, operators told."""

        audit: AuditRepository
        settings: Settings


# The invoice as `invoice_view` builds it: without the PDF link and email error `GET /invoices/{id}` adds.
PAYMENT_RECORDED = shape("PaymentRecorded", description="A fatura depois do pagamento, com suas linhas e pagamentos.",
                         **_INVOICE_VIEW_FIELDS)


def bank_payment_id(bank_code: str, nosso_numero: str, paid_on: Optional[date], paid_cents: int) -> str:
    """The id of a boleto's payment as the bank reports it — bank, nosso número (its digits, as
    `domain.cnab240.nosso_numero_key` compares them), day paid, amount paid — the same whichever way
    it arrives: a CNAB retorno's line or the bank's webhook confirmed with its API. Recorded only if
    absent, so the payment is recorded once however often and by however many paths it is reported.
    ("cnab240" is where these ids were first made: kept, so payments already recorded keep theirs.)"""
    return digest("\x1f".join(("cnab240", bank_code, nosso_numero_key(nosso_numero),
                               paid_on.isoformat() if paid_on else "", str(paid_cents))))


def record_payment(deps: PaymentDeps, caller: Caller, invoice_id: str, *, amount_cents: int, paid_on: str,
                   method: str) -> Dict[str, Any]:
    invoice = deps.invoices.get(invoice_id)  # operators: any organisation's invoice
    try:
        paid_day = date.fromisoformat(paid_on)
    except ValueError:
        raise codes.INVALID_DATE(field="paid_on")
    updated = settle(deps, caller.actor, invoice, amount_cents=amount_cents, paid_on=paid_day, method=method,
                     recorded_by=caller.user.id)
    return invoice_view(updated, deps.invoices.payments(invoice.id))


def settle(deps: PaymentDeps, actor: Actor, invoice: Invoice, *, amount_cents: int, paid_on: date, method: str,
           recorded_by: str, payment_id: Optional[str] = None,
           source: Optional[Dict[str, Any]] = None) -> Invoice:
    """Record one payment on the invoice as read: its version is the condition, so two payments
    at once cannot both count on the same balance (the second gets 409 and may retry). A
    `payment_id` derived from the payment's source (a bank return's line) makes a replay write
    nothing: the payment item is written with `attribute_not_exists`. `source` (the return file and
    line it came from) goes into the audit entry."""
    rules.validate_payment(invoice, amount_cents, method)
    rules.check_paid_on(invoice, paid_on, local_day(deps.clock()))
    paid, status = rules.after_payment(invoice, amount_cents)
    updated = replace(invoice, paid_cents=paid, status=status, version=invoice.version + 1)
    # A refused boleto's invoice paid otherwise (a deposit): it leaves the refused list (pattern 53),
    # and its held email (with the NFS-e) goes now, queued before the save says so.
    settles_refused = status == rules.PAID and invoice.boleto_failure is not None
    if settles_refused and invoice.email_queued_at is None:
        documents.queue_held_invoice_email(deps, updated, deps.contracts.get(invoice.organization_id),
                                           deps.organizations.get(invoice.organization_id))
        updated = replace(updated, email_queued_at=iso(deps.clock()))
    payment = {"id": payment_id or new_id(), "invoice_id": invoice.id, "amount_cents": amount_cents,
               "paid_on": paid_on.isoformat(), "method": method, "recorded_by": recorded_by,
               "recorded_at": iso(deps.clock())}
    deps.invoices.save(updated, expected_version=invoice.version, payment=payment,
                       boleto_rejected=False if settles_refused else None, audit=audit.entry(
        deps, actor, invoice.organization_id, "invoice.payment_recorded", f"invoice:{invoice.id}",
        before={"status": invoice.status, "paid_cents": invoice.paid_cents},
        after={"status": status, "paid_cents": paid, "amount_cents": amount_cents, "method": method,
               **({"source": source} if source else {})}))
    # Recorded: a suspension this payment makes unwarranted is lifted now (never failing the payment).
    suspensions.after_payment(deps, updated)
    return updated


def unapplied(deps: UnappliedDeps, actor: Actor, invoice: Invoice, *, payment_id: str, nosso_numero: str,
              paid_cents: int, paid_on: date, source: Dict[str, Any]) -> None:
    """A boleto's payment the bank received for an invoice already paid or cancelled: nothing is
    recorded on the invoice, but the money is the customer's, to refund or credit. Audited in the
    reseller's trail each time a bank path reports it, the operators emailed once per payment (the
    delivery key names the payment's id, the same from the webhook and a return file)."""
    details = {"invoice_id": invoice.id, "invoice_number": invoice.number, "invoice_status": invoice.status,
               "nosso_numero": nosso_numero, "paid_cents": paid_cents, "paid_on": paid_on.isoformat(),
               "payment_id": payment_id, "source": source}
    deps.audit.append(audit.entry(deps, actor, RESELLER_ORGANIZATION_ID, "payment.unapplied",
                                  f"invoice:{invoice.id}", after=details))
    notifications.queue_email(
        deps, template="payment_unapplied", to=[deps.settings.operators_email],
        delivery_key=f"payment_unapplied#{payment_id}",
        context={**details, "organization_id": invoice.organization_id, "portal_url": deps.settings.portal_url})
