"""An invoice's NFS-e as the back office sees it, and the operator's re-emission.

The billing worker emits the NFS-e with the invoice's other documents (services/documents.py).
When the emitter refuses the DPS for what it says (E-codes), the refusal is recorded on the
invoice (`nfse_failure`), the operators are emailed, and nothing tries again by itself: the same
data would be refused again. Once the data is fixed, an operator re-emits the note here; the same
route emits a note the worker never got to (the emitter was down until the queue gave up).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol

from ..adapters.nfse import NfseRejected, NfseUnavailable
from ..domain import documents as document_rules
from ..domain import error_codes as codes
from ..domain.billing import CANCELLED, Invoice
from ..domain.clock import iso
from ..domain.documents import NFSE_STATUSES, NfseFailure
from ..domain.errors import Conflict
from ..schemas import array, date_time, enum, integer, nullable, shape, text
from . import audit, billing, documents, notifications
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..storage.repositories import OrganizationRepository
    from .billing import InvoiceViewDeps
    # The re-emission takes what the documents step does (`DocumentsDeps`): it emits the note
    # through the same function (`documents.emit_nfse`), whatever that comes to need.
    from .documents import DocumentsDeps

    class BackofficeInvoiceDeps(InvoiceViewDeps, Protocol):
        """An invoice of any organisation, its files' links and its organisation's name."""

        organizations: OrganizationRepository


# How long a re-emission's claim holds: longer than the emitter's call with its retries and the
# files' upload, short enough that a request killed mid-way does not block the next for long.
NFSE_CLAIM = timedelta(minutes=2)


# --- views --------------------------------------------------------------------------------------

NFSE_REJECTION = shape("NfseRejection", description="Um motivo da recusa, como o emissor o deu: o código (E…), "
                                                     "a mensagem e o complemento (null se não houve).",
                       code=text(), message=text(), detail=nullable(text()))
NFSE_FAILURE = shape(
    "NfseFailure", description="A última recusa da NFS-e pelo emissor: os motivos, quando e quantas vezes a nota "
                               "foi recusada. Some quando a nota é emitida.",
    rejections=array(NFSE_REJECTION), failed_at=date_time(), attempts=integer(minimum=1))
BOLETO_REFUSAL = shape("BoletoRefusal", description="Um motivo da recusa do boleto: o código e a mensagem do "
                                                     "banco, ou `payer_address_missing` (o cliente sem endereço, "
                                                     "verificado antes de chamar o banco).",
                       code=text(), message=text())
BOLETO_FAILURE = shape(
    "BoletoFailure", description="A última recusa do registro do boleto: os motivos, quando e quantas vezes. Some "
                                 "quando o boleto é registrado (POST /backoffice/invoices/{id}/boleto).",
    reasons=array(BOLETO_REFUSAL), failed_at=date_time(), attempts=integer(minimum=1))
BACKOFFICE_INVOICE = shape(
    "BackofficeInvoice", description="Uma fatura para o operador: a fatura como o cliente a vê, o cliente, a NFS-e "
                                     "(null se ainda não há) e a situação dela: `issued`, `pending` (ainda não "
                                     "emitida), `rejected` (recusada: `nfse_failure` diz por quê), `cancelled` "
                                     "(cancelada com a fatura) ou `not_issued` (fatura cancelada sem nota); "
                                     "`boleto_failure`: por que a fatura ainda não tem boleto (null se não houve "
                                     "recusa).",
    **billing.INVOICE_DETAIL_FIELDS, organization_id=text(), organization_name=text(),
    nfse_status=enum(NFSE_STATUSES), nfse_failure=nullable(NFSE_FAILURE), nfse=nullable(documents.NFSE),
    boleto_failure=nullable(BOLETO_FAILURE))


def nfse_failure_view(failure: Optional[NfseFailure]) -> Optional[Dict[str, Any]]:
    if failure is None:
        return None
    return {"rejections": [{"code": r.code, "message": r.message, "detail": r.detail} for r in failure.rejections],
            "failed_at": failure.failed_at, "attempts": failure.attempts}


def backoffice_invoice(deps: BackofficeInvoiceDeps, invoice_id: str) -> Dict[str, Any]:
    """Any organisation's invoice, with its NFS-e's situation and, when refused, the emitter's codes."""
    invoice = deps.invoices.get(invoice_id)
    return _backoffice_view(deps, invoice, deps.organizations.get(invoice.organization_id).name)


def _backoffice_view(deps: InvoiceViewDeps, invoice: Invoice, organization_name: str) -> Dict[str, Any]:
    nfse = invoice.nfse
    return {**billing.invoice_detail(deps, invoice), "organization_id": invoice.organization_id,
            "organization_name": organization_name, "nfse_status": invoice.nfse_status,
            "nfse_failure": nfse_failure_view(invoice.nfse_failure),
            "nfse": None if nfse is None else documents.note_view(deps, nfse),
            "boleto_failure": boleto_failure_view(invoice.boleto_failure)}


def boleto_failure_view(failure) -> Optional[Dict[str, Any]]:
    if failure is None:
        return None
    return {"reasons": [{"code": code, "message": message} for code, message in failure.reasons],
            "failed_at": failure.failed_at, "attempts": failure.attempts}


# --- the operator's re-emission -----------------------------------------------------------------

def reemit(deps: DocumentsDeps, caller: Caller, invoice_id: str) -> Dict[str, Any]:
    """Send the invoice's DPS to the emitter again: for an invoice without a note (refused, or
    never emitted because the emitter was down). Of requests at once, one calls the emitter (a
    claim on the invoice's version first), the others answer 409.

    Issued: the failure cleared, the note stored with the audit entry (onto the invoice as it is
    then, should another write have come meanwhile), emailed to the billing contacts. An invoice
    whose documents step never finished gets the whole step instead (PDF, boleto, note, and the
    one invoice email carrying them). Refused again: the refusal recorded (one attempt more), the operators emailed, 422
    with the codes. The emitter down: nothing recorded, the claim released, 503."""
    invoice = deps.invoices.get(invoice_id)  # operators: any organisation's invoice
    if invoice.status == CANCELLED:
        raise codes.NFSE_INVOICE_CANCELLED(number=invoice.number)
    if invoice.nfse is not None:
        raise codes.NFSE_ALREADY_ISSUED(number=invoice.number, nfse_number=invoice.nfse.number)
    organization = deps.organizations.get(invoice.organization_id)
    claim_until = deps.clock() + NFSE_CLAIM
    claimed_version = deps.invoices.claim_nfse(invoice.id, invoice.version, deps.clock(), claim_until)
    if invoice.email_queued_at is None:
        # The documents step never finished (the emitter was down until the queue gave up): no PDF,
        # boleto or invoice email yet. Emitting only the note would leave the customer without them,
        # and a later run of the step would email the note a second time: the step itself runs here
        # (repeat-safe, the same one the worker runs), and its one email carries every document.
        invoice = _finish_documents(deps, invoice, claimed_version, claim_until)
        if invoice.nfse is not None:
            return _backoffice_view(deps, invoice, organization.name)
        if invoice.email_queued_at is None and not documents.awaits_boleto(invoice):
            # The email is queued (its delivery key sends it once) but another write beat its mark.
            raise codes.CONCURRENT_UPDATE()
        # The note stood refused and only the invoice email's mark was missing: emitted below.
        claim_until = deps.clock() + NFSE_CLAIM
        claimed_version = deps.invoices.claim_nfse(invoice.id, invoice.version, deps.clock(), claim_until)
    try:
        nfse = documents.emit_nfse(deps, invoice)
    except NfseRejected as refusal:
        _record_refusal(deps, caller, invoice, claimed_version, claim_until, refusal, organization)
        raise _rejected(invoice, refusal.rejections)
    except NfseUnavailable as outage:
        deps.invoices.release_nfse(invoice.id, claim_until)
        raise codes.NFSE_EMITTER_UNAVAILABLE() from outage
    except BaseException:
        deps.invoices.release_nfse(invoice.id, claim_until)
        raise
    try:
        issued = _record_note(deps, caller, invoice, claimed_version, nfse)
    except BaseException:
        deps.invoices.release_nfse(invoice.id, claim_until)
        raise
    if issued is None:
        # Someone else recorded the note meanwhile (the emitter answers the same note for the
        # invoice's DPS): it is theirs to email.
        return _backoffice_view(deps, deps.invoices.get(invoice.id), organization.name)
    contract = deps.contracts.get(invoice.organization_id)
    # An invoice email still waiting for its refused boleto carries the note when it goes out.
    if issued.status != CANCELLED and contract is not None and contract.billing_contacts \
            and not documents.awaits_boleto(issued):
        notifications.queue_email(
            deps, template="nfse_issued", to=list(contract.billing_contacts),
            delivery_key=f"nfse_issued#{invoice.id}", invoice_id=invoice.id,
            organization_id=invoice.organization_id,
            attachments=documents.nfse_attachments(nfse),
            context={**documents.email_context(deps, issued, organization),
                     "nfse": {"number": nfse.number, "issued_at": nfse.issued_at}})
    return _backoffice_view(deps, issued, organization.name)


def _rejected(invoice: Invoice, rejections):
    return codes.NFSE_REJECTED(
        number=invoice.number, reasons="; ".join(f"{r.code}: {r.message}" for r in rejections),
        rejections=[{"code": r.code, "message": r.message, "detail": r.detail} for r in rejections])


def _finish_documents(deps: DocumentsDeps, invoice: Invoice, claimed_version: int, claim_until) -> Invoice:
    """The documents step run for the operator, over the claim's version (its first save takes
    the claim with it). Answers the invoice as recorded; raises 422 when it was the note's first
    refusal (recorded and the operators told by the step, as on the worker's run), 503 when the
    emitter is down (nothing recorded)."""
    try:
        prepared = documents.prepare(deps, replace(invoice, version=claimed_version))
    except NfseUnavailable as outage:
        raise codes.NFSE_EMITTER_UNAVAILABLE() from outage
    finally:
        # Ours only: gone already when the step saved; dropped when it failed.
        deps.invoices.release_nfse(invoice.id, claim_until)
    if prepared.nfse is None and invoice.nfse_failure is None and prepared.nfse_failure is not None:
        raise _rejected(prepared, prepared.nfse_failure.rejections)
    return deps.invoices.get(invoice.id)


def _record_note(deps: DocumentsDeps, caller: Caller, invoice: Invoice, claimed_version: int, nfse,
                 attempts: int = 3) -> Optional[Invoice]:
    """The note the emitter issued saved on the invoice with its audit entry (the failure cleared).
    Issued is issued: a write that came between the claim and the save (a payment, the overdue job)
    only means saving the note onto the invoice as it is now, never losing it. None when the
    invoice already has a note (recorded by someone else: the emitter's note for this DPS).

    Such a write puts the item whole, so it also drops this request's claim (`nfse_until`), and a
    second re-emission may then start: harmless, as the DPS is numbered by the invoice, the
    emitter answers it the same note, and whichever saves second finds it recorded here. The
    worker's documents step is not such a writer: once the invoice email is marked it saves
    nothing more, and before that the re-emission runs the step itself (`_finish_documents`)."""
    failure = invoice.nfse_failure
    current, expected = invoice, claimed_version
    for _ in range(attempts):
        if current.nfse is not None:
            return None
        issued = replace(current, nfse=nfse, nfse_failure=None, version=expected + 1)
        try:
            deps.invoices.save(issued, expected_version=expected, audit=audit.entry(
                deps, caller.actor, invoice.organization_id, "nfse.issued", f"invoice:{invoice.id}",
                # Attempts, not codes: the trail is the customer's to read (see documents.nfse_rejected_audit).
                before={"refused_attempts": failure.attempts if failure else 0},
                after={"number": nfse.number, "issued_at": nfse.issued_at}), nfse_rejected=False)
            return issued
        except Conflict:
            current = deps.invoices.get(invoice.id)
            expected = current.version
    raise codes.CONCURRENT_UPDATE()


def _record_refusal(deps: DocumentsDeps, caller: Caller, invoice: Invoice, claimed_version: int, claim_until,
                    refusal: NfseRejected, organization) -> None:
    """The refusal on the invoice (over the claim's version: the claim goes with it), one attempt
    more, with its audit entry; the operators told (queued first: see documents.prepare)."""
    failure = document_rules.nfse_rejected(invoice.nfse_failure, refusal.rejections, iso(deps.clock()))
    refused = replace(invoice, nfse_failure=failure, version=claimed_version + 1)
    try:
        documents.queue_nfse_rejected(deps, refused, organization, reemission=True)
        deps.invoices.save(refused, expected_version=claimed_version,
                           audit=documents.nfse_rejected_audit(deps, caller.actor, refused), nfse_rejected=True)
    except BaseException:
        deps.invoices.release_nfse(invoice.id, claim_until)
        raise
