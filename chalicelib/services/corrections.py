"""Corrections of an issued invoice, by an operator: its cancellation (the boleto cancelled at the
bank, the NFS-e through the emitter's cancellation event, optionally a corrected invoice issued
in its place at once) and credit notes, applied to the organisation's next invoices.

Numbers stay gapless: a cancelled invoice keeps its number and shows "Cancelada"; its replacement
takes the next number. Refunds of paid money are not done here (an invoice with payments cannot
be cancelled)."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol

from .. import observability
from ..adapters.bank import BankRejected, BankUnavailable
from ..adapters.certificates import CertificateUnavailable
from ..adapters.nfse import (CANCEL_ISSUE_ERROR, CANCEL_OTHER, NfseCancellationRefused, NfseUnavailable)
from ..domain import billing as rules
from ..domain import credits as credit_rules
from ..domain import error_codes as codes
from ..domain import limits
from ..domain.billing import Cancellation, Invoice
from ..domain.clock import iso
from ..domain.credits import CreditNote
from ..domain.documents import with_active_cancelled
from ..domain.errors import Conflict, ServiceUnavailable
from ..domain.ids import new_id
from ..schemas import array, cents, date_time, integer, nullable, shape, text
from . import audit, billing, documents, notifications
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..storage.billing import InvoiceRepository
    from ..storage.repositories import ContractRepository, OrganizationRepository
    from .audit import Clocked
    from .billing import IssueDeps
    from .documents import Configured, DocumentsDeps, PaidAtBankDeps
    from .notifications import QueuesEmails

    class CancelDeps(IssueDeps, DocumentsDeps, PaidAtBankDeps, Protocol):
        """The invoice claimed, cancelled at the bank and the NFS-e emitter, saved cancelled (a
        replacement issued and its documents made as the billing worker does), contacts emailed."""

    class CreditNoteDeps(Clocked, Configured, QueuesEmails, Protocol):
        """A credit note against an invoice, bounded by its total; the billing contacts emailed."""

        invoices: InvoiceRepository
        contracts: ContractRepository
        organizations: OrganizationRepository

    class CreditNoteListDeps(Protocol):
        """An invoice's credit notes."""

        invoices: InvoiceRepository


log = logging.getLogger("csp_portal.corrections")
# Longer than a cancellation can take (bank, emitter, a replacement's documents), short enough
# that a request killed mid-way does not block the next for long.
CANCEL_CLAIM = timedelta(minutes=2)
REASON_MIN, REASON_MAX = limits.CORRECTION_REASON_MIN, limits.CORRECTION_REASON_MAX
MAX_CREDIT_ATTEMPTS = 5


def _reason(reason: str) -> str:
    """The body schema bounds the length; blanks around it do not count."""
    cleaned = " ".join((reason or "").split())
    if len(cleaned) < REASON_MIN:
        raise codes.TOO_SHORT(field="reason")
    if len(cleaned) > REASON_MAX:
        raise codes.TOO_LONG(field="reason", max_length=REASON_MAX)
    return cleaned


# --- views --------------------------------------------------------------------------------------

CANCELLED = shape(
    "CancelledInvoice", description="A fatura cancelada (mantém o número, status `cancelled`) e, se pedida e "
                                    "houver o que faturar, a que a substitui, com o número seguinte.",
    invoice=billing.INVOICE_SUMMARY, cancellation=billing.CANCELLATION, reissued_invoice=nullable(billing.INVOICE_SUMMARY))

CREDIT_NOTE = shape(
    "CreditNote", description="Uma nota de crédito sobre uma fatura: abatida das próximas faturas da organização "
                              "como linha negativa; `applied_to_invoice_id` é a primeira fatura em que foi usada "
                              "(null até lá), `remaining_cents` o que ainda resta abater.",
    id=text(), invoice_id=text(), invoice_number=integer(minimum=1), amount_cents=cents(),
    remaining_cents=cents(), reason=text(), created_at=date_time(), applied_to_invoice_id=nullable(text()))
CREDIT_NOTE_LIST = shape("CreditNoteList", description="As notas de crédito de uma fatura, da mais antiga à mais "
                                                       "recente.", items=array(CREDIT_NOTE))


def credit_note_view(credit: CreditNote) -> Dict[str, Any]:
    return {"id": credit.id, "invoice_id": credit.invoice_id, "invoice_number": credit.invoice_number,
            "amount_cents": credit.amount_cents, "remaining_cents": credit.remaining_cents, "reason": credit.reason,
            "created_at": credit.created_at, "applied_to_invoice_id": credit.applied_to_invoice_id}


# --- cancellation -------------------------------------------------------------------------------

def cancel_invoice(deps: CancelDeps, caller: Caller, invoice_id: str, *, reason: str,
                   reissue: bool) -> Dict[str, Any]:
    """Cancel an open or overdue invoice without payments; with `reissue`, issue its replacement at once.

    Claim first (a conditional, version-checked write: of cancellations at once, one proceeds),
    then the emitter and the bank, then the invoice saved cancelled in one transaction (with its
    replacement and the period's guard moved to it). If the bank or the emitter is down, the claim
    is released and nothing is saved: the invoice stays as it was, cancellable again; calling them
    again is harmless (the bank cancels a boleto idempotently, the emitter's "already cancelled"
    is taken as done)."""
    reason = _reason(reason)
    invoice = deps.invoices.get(invoice_id)  # operators: any organisation's invoice
    rules.check_cancellable(invoice)
    _check_nfse_cancellable(invoice)  # before the claim and the bank: a refusal here changes nothing
    now = deps.clock()
    claim_until = now + CANCEL_CLAIM
    claimed_version = deps.invoices.claim_cancellation(invoice.id, invoice.version, now, claim_until)
    try:
        if invoice.active_boleto is not None:
            # Paid at the bank and not yet told: settled, not cancelled (409; the operator refunds or
            # credits). Asked before the note is cancelled; the bank down answers 503, nothing done.
            try:
                documents.settle_if_paid_at_bank(
                    deps, invoice, invoice.active_boleto,
                    lambda: deps.invoices.release_cancellation(invoice.id, claim_until), codes.INVOICE_PAID_AT_BANK)
            except BankUnavailable as outage:
                raise codes.BANK_UNAVAILABLE() from outage
        # The note first: the national system may refuse its cancellation for good (a deadline, a
        # rule), and a boleto cancelled at the bank for an invoice that then stays open could no
        # longer be paid. A bank outage after the event leaves the note cancelled and the invoice
        # cancellable again: the retry takes the emitter's "already cancelled" as done.
        protocol = _cancel_nfse(deps, invoice, reason, reissue)
        boleto = invoice.active_boleto
        if boleto is not None:
            try:
                deps.bank.cancel(boleto.nosso_numero)
            except BankUnavailable as outage:
                _record_note_cancelled(deps, caller, invoice, claimed_version, protocol)
                raise codes.BANK_UNAVAILABLE() from outage
            except BankRejected as refusal:
                # The bank refuses the baixa (e.g. minutes after the registration): as for an
                # outage, the invoice stays open and payable, cancellable again; 422 with its reasons.
                _record_note_cancelled(deps, caller, invoice, claimed_version, protocol)
                raise documents.bank_rejected(refusal) from refusal
        cancelled_at = iso(deps.clock())
        pdf_key = documents.cancelled_invoice_pdf(deps, invoice, cancelled_at, reason)
        cancelled, replacement = _record(deps, caller, replace(invoice, pdf_key=pdf_key), claimed_version, reason,
                                         reissue, protocol, cancelled_at)
    except BaseException:
        deps.invoices.release_cancellation(invoice.id, claim_until)
        raise
    contract = deps.contracts.get(invoice.organization_id)
    if replacement is not None:
        replacement = _prepare_replacement(deps, replacement, contract)
    _email_cancellation(deps, cancelled, replacement, contract)
    return {"invoice": billing.invoice_summary(cancelled), "cancellation": billing.cancellation_view(cancelled.cancellation),
            "reissued_invoice": billing.invoice_summary(replacement) if replacement is not None else None}


def _record_note_cancelled(deps: CancelDeps, caller: Caller, invoice: Invoice, claimed_version: int,
                           protocol: Optional[str]) -> None:
    """The note's event went through but the bank did not: the invoice stays open (its boleto
    payable) and says its note is cancelled, with the audit entry, so the back office sees it and
    the next attempt does not send the event again. Saved over the claim, which goes with it."""
    if invoice.nfse is None or protocol is None or invoice.nfse.cancelled_protocol:
        return
    noted = replace(invoice, nfse=replace(invoice.nfse, cancelled_protocol=protocol), version=claimed_version + 1)
    try:
        deps.invoices.save(noted, expected_version=claimed_version, audit=audit.entry(
            deps, caller.actor, invoice.organization_id, "nfse.cancelled", f"invoice:{invoice.id}",
            after={"nfse_number": invoice.nfse.number, "nfse_protocol": protocol, "invoice_status": invoice.status}))
    except Conflict:
        # The claim expired and someone wrote meanwhile: the event is registered all the same, and
        # the next attempt is answered "already cancelled".
        log.warning("invoice %s: note %s cancelled but not recorded", invoice.number, invoice.nfse.number)


def _check_nfse_cancellable(invoice: Invoice) -> None:
    """A note from before the national NFS-e has no access key, so no event can name it: its
    invoice is refused before anything is claimed or sent (the municipality cancels it by hand)."""
    if invoice.nfse is not None and not invoice.nfse.access_key:
        raise codes.NFSE_CANCELLATION_REFUSED(number=invoice.nfse.number, reason="nota sem chave de acesso")


def _cancel_nfse(deps: CancelDeps, invoice: Invoice, reason: str, reissue: bool) -> Optional[str]:
    """The NFS-e's cancellation event (e101101), signed with the reseller's A1; its protocol, or
    None without a note to cancel."""
    if invoice.nfse is None:
        return None
    if invoice.nfse.cancelled_protocol:
        return invoice.nfse.cancelled_protocol  # an earlier attempt registered the event
    _check_nfse_cancellable(invoice)
    from ..fiscal.events import signed_cancellation  # lxml and the bindings: only where a note is cancelled

    settings = deps.settings
    try:
        certificate = deps.nfse_certificate.certificate()
    except CertificateUnavailable as missing:
        raise codes.NFSE_CERTIFICATE_UNAVAILABLE(reason=str(missing)) from missing
    event_id, signed = signed_cancellation(
        invoice.nfse.access_key, certificate,
        author_cnpj=settings.nfse_registration.cnpj, environment=settings.nfse_environment,
        requested_at=deps.clock(),
        # A note replaced by a corrected one was an error of issue; otherwise "other", with the text.
        reason_code=CANCEL_ISSUE_ERROR if reissue else CANCEL_OTHER, reason=reason)
    try:
        return deps.nfse_emitter.cancel(invoice.nfse.access_key, signed).protocol
    except NfseUnavailable as outage:
        raise codes.NFSE_EMITTER_UNAVAILABLE() from outage
    except NfseCancellationRefused as refused:
        if refused.reason == "already_cancelled":
            # An earlier attempt registered the event, then failed before saving (the bank was
            # down): it is done. Its request's id is how the national system knows the event.
            return event_id
        why = "; ".join(f"{r.code}: {r.message}" for r in refused.rejections) or refused.reason
        raise codes.NFSE_CANCELLATION_REFUSED(number=invoice.nfse.number, reason=why) from refused


def _given_back(deps: CancelDeps, invoice: Invoice) -> List[tuple]:
    """The credit notes the invoice used, each (as read, given back): usable again."""
    changes = []
    for credit_invoice_id, credit_id, _ in credit_rules.credits_used_by(invoice):
        credit = deps.invoices.credit_note(credit_invoice_id, credit_id)
        if credit is not None:
            changes.append((credit, credit_rules.given_back(credit, invoice.id)))
    return changes


def _record(deps: CancelDeps, caller: Caller, invoice: Invoice, claimed_version: int, reason: str, reissue: bool,
            protocol: Optional[str], cancelled_at: str):
    """Save the invoice cancelled over the claim; with `reissue`, in the same transaction as its replacement."""
    given_back = _given_back(deps, invoice)
    cancellation = Cancellation(cancelled_at=cancelled_at, cancelled_by=caller.user.id, reason=reason,
                                nfse_protocol=protocol)
    boleto = invoice.active_boleto

    def cancelling(replacement: Optional[Invoice]):
        done = replace(cancellation, reissued_invoice_id=replacement.id if replacement else None,
                       reissued_number=replacement.number if replacement else None)
        cancelled = replace(invoice, status=rules.CANCELLED, boletos=with_active_cancelled(invoice.boletos),
                            cancellation=done, version=claimed_version + 1)
        entry = audit.entry(
            deps, caller.actor, invoice.organization_id, "invoice.cancelled", f"invoice:{invoice.id}",
            before={"status": invoice.status, "number": invoice.number},
            after={"status": rules.CANCELLED, "reason": reason,
                   "nosso_numero": boleto.nosso_numero if boleto else None,
                   "nfse_number": invoice.nfse.number if invoice.nfse else None, "nfse_protocol": protocol,
                   "reissued_invoice_id": done.reissued_invoice_id, "reissued_number": done.reissued_number,
                   "credits_given_back": {after.id: after.remaining_cents - before.remaining_cents
                                          for before, after in given_back}})
        return cancelled, claimed_version, entry

    if reissue:
        contract = deps.contracts.get(invoice.organization_id)
        holder = {}

        def cancelling_for(replacement):
            holder["cancelled"], version, entry = cancelling(replacement)
            return holder["cancelled"], version, entry

        replacement = billing.issue_replacement(deps, contract, invoice, cancelling_for, given_back)
        if replacement is not None:
            return holder["cancelled"], replacement
    cancelled, version, entry = cancelling(None)
    deps.invoices.cancel(cancelled, version, entry, restored=given_back)
    return cancelled, None


def _prepare_replacement(deps: CancelDeps, replacement: Invoice, contract) -> Invoice:
    """The replacement's documents and email, as the billing worker makes them. If the bank or the
    emitter fails now, the replacement stands (issued, numbered) and a rerun of the period's billing
    finishes its documents (`billing._finish_existing`): the cancellation is not undone for it."""
    try:
        return documents.prepare(deps, replacement, contract, just_issued=True)
    except (BankUnavailable, NfseUnavailable, Conflict, ServiceUnavailable) as failure:
        # ServiceUnavailable: the bank's codes did not hold (bank_codes_mismatch; withdrawn, the
        # operators told). A refused boleto is recorded on the replacement, not raised.
        log.warning("invoice %s: issued in place of a cancelled one, documents left for a rerun: %s",
                    replacement.number, observability.scrub(failure))
        return deps.invoices.get(replacement.id)


def _email_cancellation(deps: CancelDeps, cancelled: Invoice, replacement: Optional[Invoice], contract) -> None:
    if not contract.billing_contacts:
        return
    organization = deps.organizations.get(cancelled.organization_id)
    notifications.queue_email(
        deps, template="invoice_cancelled", to=list(contract.billing_contacts),
        delivery_key=f"invoice_cancelled#{cancelled.id}", invoice_id=cancelled.id,
        organization_id=cancelled.organization_id,
        context={**documents.email_context(deps, cancelled, organization),
                 "reason": cancelled.cancellation.reason,
                 "had_boleto": bool(cancelled.boletos), "had_nfse": cancelled.nfse is not None,
                 "reissued": None if replacement is None else {
                     "number": replacement.number, "total_cents": replacement.total_cents,
                     "due_date": replacement.due_date.isoformat()}})


# --- credit notes -------------------------------------------------------------------------------

def grant_credit_note(deps: CreditNoteDeps, caller: Caller, invoice_id: str, *, amount_cents: int,
                      reason: str) -> Dict[str, Any]:
    """A credit note against an issued invoice, never beyond its total less the credits granted on
    it: the note and the invoice's credited total are written together, over the invoice as read
    (two notes at once: the second reads the first's total again, then fits or is refused)."""
    reason = _reason(reason)
    for _ in range(MAX_CREDIT_ATTEMPTS):
        invoice = deps.invoices.get(invoice_id)  # operators: any organisation's invoice
        credit_rules.check_credit(invoice, amount_cents)
        credit = CreditNote(id=new_id(), organization_id=invoice.organization_id, invoice_id=invoice.id,
                            invoice_number=invoice.number, amount_cents=amount_cents, reason=reason,
                            created_at=iso(deps.clock()), created_by=caller.user.id, remaining_cents=amount_cents)
        credited = replace(invoice, credited_cents=invoice.credited_cents + amount_cents, version=invoice.version + 1)
        try:
            deps.invoices.grant_credit(credited, invoice.version, credit, audit.entry(
                deps, caller.actor, invoice.organization_id, "invoice.credit_note_granted", f"invoice:{invoice.id}",
                before={"credited_cents": invoice.credited_cents},
                after={"credit_note_id": credit.id, "amount_cents": amount_cents, "reason": reason,
                       "credited_cents": credited.credited_cents}), now=deps.clock())
            break
        except Conflict as conflict:
            if conflict.code not in (codes.VERSION_CONFLICT.code, codes.CONCURRENT_UPDATE.code):
                raise
    else:
        raise codes.CONCURRENT_UPDATE()
    contract = deps.contracts.get(invoice.organization_id)
    if contract.billing_contacts:
        organization = deps.organizations.get(invoice.organization_id)
        notifications.queue_email(
            deps, template="credit_note_granted", to=list(contract.billing_contacts),
            delivery_key=f"credit_note#{credit.id}", invoice_id=invoice.id,
            organization_id=invoice.organization_id,
            context={"organization": {"name": organization.name},
                     "invoice": {"number": invoice.number, "total_cents": invoice.total_cents},
                     "credit": {"amount_cents": amount_cents, "reason": reason},
                     "portal_url": deps.settings.portal_url})
    return credit_note_view(credit)


def list_credit_notes(deps: CreditNoteListDeps, invoice_id: str) -> Dict[str, Any]:
    invoice = deps.invoices.get(invoice_id)  # 404 for an unknown invoice
    return {"items": [credit_note_view(c) for c in deps.invoices.credit_notes(invoice.id)]}
