"""The operator's new registration of an invoice's refused boleto.

The billing worker registers the boleto with the invoice's other documents (services/documents.py).
When it is refused for what it says — the bank's validation, or the payer's address missing,
which the product checks before calling the bank — the refusal is recorded on the invoice
(`boleto_failure`), the operators are emailed, the customer's invoice email waits, and nothing
tries again by itself: the same data would be refused again. Once the data is fixed (the address
through `PUT /backoffice/organizations/{id}/address`), an operator registers the boleto here; the
invoice's documents step then finishes and its email goes out with the boleto.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Dict

from ..adapters.bank import BankRejected, BankUnavailable
from ..adapters.nfse import NfseUnavailable
from ..domain import documents as document_rules
from ..domain import error_codes as codes
from ..domain.billing import CANCELLED, PAID, Invoice
from ..domain.clock import iso, local_day
from ..domain.documents import Boleto, BoletoKind
from ..domain.errors import Conflict
from . import audit, documents, nfse_issuing
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    # The new registration finishes the invoice's documents step (`documents.prepare`), so it takes
    # what that step does, whatever that comes to need.
    from .documents import DocumentsDeps


# How long the registration's claim holds: longer than the bank's call, the PDF and the save, short
# enough that a request killed mid-way does not block the next for long.
REGISTRATION_CLAIM = timedelta(minutes=2)


def register_again(deps: DocumentsDeps, caller: Caller, invoice_id: str) -> Dict[str, Any]:
    """Register the invoice's boleto at the bank again (after its refusal, the data fixed), then
    finish the invoice's documents: its email, with the boleto, goes to the billing contacts.
    Answers the invoice as the back office sees it.

    Repeat-safe: an invoice that has its boleto only finishes its documents (nothing is sent to
    the bank again). Of requests at once, one registers (the second copy's claim, which also
    excludes a second copy and a cancellation), the others answer 409. The payer without an
    address is refused before anything is claimed or sent (422). Refused by the bank again: the
    refusal recorded (one attempt more), the operators emailed, 422 with the bank's reasons. The
    bank down: nothing recorded, the claim released, 503. The bank's codes not holding: the
    registration withdrawn, the operators emailed, nothing saved, 503."""
    invoice = deps.invoices.get(invoice_id)  # operators: any organisation's invoice
    _check_needs_boleto(invoice)
    organization = deps.organizations.get(invoice.organization_id)
    if invoice.active_boleto is None:
        documents.check_payer(organization)
        invoice = _register(deps, caller, invoice, organization)
    if invoice.email_queued_at is None:
        try:
            documents.prepare(deps, invoice)
        except NfseUnavailable as outage:
            # The boleto stands; the note (and with it the email) is finished by asking again.
            raise codes.NFSE_EMITTER_UNAVAILABLE() from outage
    return nfse_issuing.backoffice_invoice(deps, invoice.id)


def _check_needs_boleto(invoice: Invoice) -> None:
    reason = None
    if invoice.payment_method != "boleto":
        reason = "é paga por depósito"
    elif invoice.status == CANCELLED:
        reason = "está cancelada"
    elif invoice.status == PAID:
        reason = "já está paga"
    elif invoice.total_cents <= 0:
        reason = "não tem valor a cobrar"
    elif invoice.active_boleto is None and invoice.boletos:
        reason = "seus boletos foram cancelados"
    if reason is not None:
        raise codes.BOLETO_NOT_NEEDED(number=invoice.number, reason=reason)


def _register(deps: DocumentsDeps, caller: Caller, invoice: Invoice, organization) -> Invoice:
    now = deps.clock()
    claim_until = now + REGISTRATION_CLAIM
    claimed_version = deps.invoices.claim_second_copy(invoice.id, invoice.version, now, claim_until)
    today = local_day(now)
    # Past its due date (the refusal waited for the operator), the boleto is the second copy a
    # customer would ask for: a due date ahead, the fine and interest to it, as the bank registers them.
    late = today > invoice.due_date
    kind = BoletoKind.SECOND_COPY if late else BoletoKind.ORIGINAL
    due, amount = documents.second_copy_terms(deps.settings, invoice, today) if late \
        else (invoice.due_date, invoice.balance_cents)
    new = None
    try:
        # A fresh nosso número: the invoice's own may be one the bank saw withdrawn (codes that did
        # not hold), and a bank refuses a nosso número used before.
        new = documents.new_boleto(deps, invoice, due, amount, kind, organization, fresh_number=True)
        saved = _save(deps, caller, invoice, claimed_version, new)
    except BankRejected as refusal:
        _record_refusal(deps, caller, invoice, claimed_version, claim_until, refusal, organization)
        raise documents.bank_rejected(refusal) from refusal
    except BaseException as failure:
        deps.invoices.release_second_copy(invoice.id, claim_until)
        if new is not None:
            documents.withdraw_unsaved(deps, new)
        if isinstance(failure, BankUnavailable):
            raise codes.BANK_UNAVAILABLE() from failure
        raise
    return saved


def _save(deps: DocumentsDeps, caller: Caller, invoice: Invoice, claimed_version: int, new: Boleto,
          attempts: int = 3) -> Invoice:
    """The boleto saved on the invoice (the failure cleared) with its audit entry. Registered is
    registered: a write that came between the claim and the save (a payment, the overdue job) only
    means saving it onto the invoice as it is now. Raises when the invoice got a boleto meanwhile."""
    failure = invoice.boleto_failure
    current, expected = invoice, claimed_version
    for _ in range(attempts):
        # Paid meanwhile (a deposit) is as cancelled: the boleto registered is withdrawn, never left payable.
        if current.active_boleto is not None or current.status in (CANCELLED, PAID):
            raise codes.CONCURRENT_UPDATE()
        registered = replace(current, boletos=current.boletos + (new,), boleto_failure=None, version=expected + 1)
        try:
            deps.invoices.save(registered, expected_version=expected, audit=audit.entry(
                deps, caller.actor, invoice.organization_id, "boleto.registered", f"invoice:{invoice.id}",
                before={"refused_attempts": failure.attempts if failure else 0},
                after={"nosso_numero": new.nosso_numero, "due_date": new.due_date.isoformat(),
                       "amount_cents": new.amount_cents}), boleto_rejected=False)
            return registered
        except Conflict:
            current = deps.invoices.get(invoice.id)
            expected = current.version
    raise codes.CONCURRENT_UPDATE()


def _record_refusal(deps: DocumentsDeps, caller: Caller, invoice: Invoice, claimed_version: int, claim_until,
                    refusal: BankRejected, organization) -> None:
    """The refusal on the invoice (over the claim's version: the claim goes with it), one attempt
    more, with its audit entry; the operators told (queued first: see documents.prepare)."""
    failure = document_rules.boleto_rejected(invoice.boleto_failure, refusal.errors, iso(deps.clock()))
    refused = replace(invoice, boleto_failure=failure, version=claimed_version + 1)
    try:
        documents.queue_boleto_rejected(deps, refused, organization)
        deps.invoices.save(refused, expected_version=claimed_version,
                           audit=documents.boleto_rejected_audit(deps, caller.actor, refused), boleto_rejected=True)
    except BaseException:
        deps.invoices.release_second_copy(invoice.id, claim_until)
        raise

