"""An invoice's documents — the invoice PDF, the boleto (registered at the bank, with its Pix
code) and the NFS-e — made once per invoice, kept in S3, emailed to the billing contacts; and the
second copy of an overdue boleto."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol, Tuple

from .. import observability
from ..adapters.bank import PAID, BankRejected, BankUnavailable, BoletoRequest, Payer, Registration
from ..adapters.certificates import CertificateUnavailable
from ..adapters.nfse import NfseRejected
from ..domain import billing as billing_rules
from ..domain import boleto as boleto_rules
from ..domain import pix
from ..domain import documents as document_rules
from ..domain import nfse as nfse_rules
from ..domain.nfse import CERTIFICATE_UNAVAILABLE, Rejection
from ..domain.audit import SYSTEM
from ..domain.billing import Invoice
from ..domain.clock import iso, local_day
from ..domain.documents import Boleto, BoletoKind, Nfse
from ..domain import error_codes as codes
from ..domain.errors import Conflict, DomainError, InvalidInput
from ..domain.organizations import format_cnpj
from ..schemas import array, cents, currency, date_time, enum, nullable, shape, text
from ..schemas import date as date_schema
from . import audit, boleto_print, notifications
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.bank import Bank
    from ..adapters.certificates import SecretsManagerCertificate
    from ..adapters.documents import S3DocumentStore
    from ..adapters.nfse import NfseEmitter
    from ..settings import Settings
    from ..storage.billing import InvoiceRepository
    from ..storage.repositories import AuditRepository, ContractRepository, OrganizationRepository
    from .audit import Clocked
    from ..adapters.licence_provider import LicenceProvider
    from ..storage.dunning import DunningStepRepository
    from ..storage.licences import SubscriptionRepository
    from ..storage.repositories import UserRepository
    from ..storage.suspensions import SuspensionRepository
    from .notifications import QueuesEmails

    class Configured(Protocol):
        """The settings: the beneficiary, the bank's layout, the portal's address."""

        settings: Settings

    class StoredDocuments(Protocol):
        """The documents' store in S3, and its download links."""

        documents: S3DocumentStore

    class TimesRendering(Protocol):
        """The render observer, told how long each PDF took."""

        on_render: Callable[[str, float], None]

    class InvoiceFilesDeps(StoredDocuments, Protocol):
        """An invoice and the links to its files."""

        invoices: InvoiceRepository

    class BoletoDeps(Clocked, Configured, TimesRendering, InvoiceFilesDeps, QueuesEmails, Protocol):
        """A boleto registered at the bank, rendered and stored (the operators told when the bank's
        codes do not hold)."""

        bank: Bank

    class DocumentsDeps(BoletoDeps, QueuesEmails, Protocol):
        """An issued invoice's documents (PDF, boleto, NFS-e) and its email to the billing contacts."""

        nfse_emitter: NfseEmitter
        nfse_certificate: SecretsManagerCertificate
        contracts: ContractRepository
        organizations: OrganizationRepository

    class InvoicePdfDeps(Configured, TimesRendering, InvoiceFilesDeps, Protocol):
        """The invoice's PDF, rendered on its first download, stored and recorded on the invoice."""

        organizations: OrganizationRepository

    class InvoiceEmailDeps(Configured, QueuesEmails, Protocol):
        """The invoice email to the billing contacts (its attachments named by their S3 keys)."""

    class TellsOperators(Configured, QueuesEmails, Protocol):
        """An email to the operators' address in the settings."""

    class CancelledPdfDeps(Configured, TimesRendering, StoredDocuments, Protocol):
        """A cancelled invoice's PDF, marked as such."""

        organizations: OrganizationRepository

    class PaidAtBankDeps(Clocked, Configured, QueuesEmails, Protocol):
        """The bank asked about a boleto about to be replaced; a payment it received settled as the
        bank's webhook settles it (bank_webhooks.BankWebhookDeps' fields, spelled out: that protocol
        reaches this module's through payments and suspensions, an import cycle for a type checker)."""

        bank: Bank
        invoices: InvoiceRepository
        audit: AuditRepository
        contracts: ContractRepository
        organizations: OrganizationRepository
        dunning_steps: DunningStepRepository
        licence_provider: LicenceProvider
        subscriptions: SubscriptionRepository
        suspensions: SuspensionRepository
        users: UserRepository

    class SecondCopyDeps(BoletoDeps, PaidAtBankDeps, QueuesEmails, Protocol):
        """A second boleto for an overdue invoice; the old one cancelled at the bank (or the failure audited)."""

        organizations: OrganizationRepository
        audit: AuditRepository


log = logging.getLogger("csp_portal.documents")
# How long a second copy's claim holds: longer than a request can take (bank, PDF, save), short
# enough that a request killed mid-way does not block the next for long.
SECOND_COPY_CLAIM = timedelta(minutes=2)


def boleto_layout(settings):
    if settings.boleto_bank == "itau":
        return boleto_rules.ItauCarteira109(settings.boleto_itau_agencia, settings.boleto_itau_conta,
                                            settings.boleto_itau_carteira)
    return boleto_rules.BancoDoBrasilConvenio7(settings.boleto_bb_convenio, settings.boleto_bb_carteira)


def _prefix(invoice: Invoice) -> str:
    return f"organizations/{invoice.organization_id}/invoices/{invoice.number:08d}"


def _cnpj(value: Optional[str]) -> str:
    return format_cnpj(value) if value and len(value) == 14 else (value or "")


def deposit_details(settings: Settings, invoice: Invoice) -> Optional[Dict[str, Any]]:
    """Where a `deposito` invoice is paid (bank, agency, account, favorecido, CNPJ, Pix key); None
    for a boleto invoice. The same dict goes to the invoice email, its PDF and `GET /invoices/{id}`."""
    if invoice.payment_method != "deposito":
        return None
    account = settings.deposit_account
    return {"bank": account.bank, "agency": account.agency, "account": account.account,
            "beneficiary": account.beneficiary, "cnpj": account.cnpj, "pix_key": account.pix_key}


def _document_lines(invoice: Invoice) -> List[Dict[str, Any]]:
    """The rows the PDF, the NFS-e and the email show: the invoice's lines, which add up to its total
    (credit notes used are negative lines; a credit left for the next invoices is a line too)."""
    return [{"description": l.description, "amount_cents": l.amount_cents} for l in invoice.lines]


def _parties(settings, organization):
    beneficiary = {"name": settings.beneficiary_name, "document": _cnpj(settings.beneficiary_cnpj)}
    customer = {"name": organization.name, "document": _cnpj(organization.cnpj)}
    return beneficiary, customer


def _render(deps: TimesRendering, document: str, data: Dict[str, Any]) -> bytes:
    """One of the PDFs (`invoice`, `boleto`, `nfse`), timed for the container's render observer."""
    from ..rendering import danfse, pdf  # their builders import reportlab on first use

    build = {"invoice": pdf.invoice_pdf, "boleto": pdf.boleto_pdf,
             "nfse": lambda note: danfse.danfse_pdf(note["xml"], homologation=note["homologation"])}[document]
    started = time.perf_counter()
    try:
        return build(data)
    finally:
        deps.on_render(document, time.perf_counter() - started)


# --- boleto -------------------------------------------------------------------------------------

def boleto_request(settings: Settings, invoice: Invoice, made, organization, issued_on: date,
                   kind: BoletoKind = BoletoKind.ORIGINAL) -> BoletoRequest:
    """What the bank registers: our codes, the payer with its address, and the fine and interest
    the bank itself charges after the due date (the same terms the boleto prints). A second copy's
    amount holds the fine and interest already: no new fine, interest on the open balance only."""
    second = kind is BoletoKind.SECOND_COPY
    return BoletoRequest(
        nosso_numero=made.nosso_numero, barcode=made.barcode, issued_on=issued_on, due_date=made.due_date,
        amount_cents=made.amount_cents, document_number=f"FAT-{invoice.number}", document_kind="DS",
        fine_rate=Decimal(0) if second else Decimal(settings.late_fine_rate),
        monthly_interest=Decimal(settings.late_monthly_interest),
        interest_base_cents=invoice.balance_cents if second else None,
        payable_days_after_due=settings.bank_api.payable_days_after_due,
        payer=Payer(document=organization.cnpj or "", name=organization.name, address=organization.address))


def check_payer(organization) -> None:
    """Refuse, before the bank is called, a boleto the bank would refuse for its payer (no address):
    422 naming what to fix. Nothing is written or registered."""
    if document_rules.payer_problems(organization.id, organization.address):
        raise codes.BOLETO_PAYER_ADDRESS_MISSING(organization_id=organization.id)


def original_boleto_number(settings: Settings, invoice: Invoice) -> Optional[Tuple[str, str]]:
    """(bank code, nosso número) of the first boleto the invoice will have, known at its issue (its
    nosso número is the invoice number, `_new_boleto`); None when it has none (a deposit, nothing
    to pay). The issue's transaction records it for the bank's return files (pattern 47)."""
    if invoice.payment_method != "boleto" or invoice.total_cents <= 0:
        return None
    layout = boleto_layout(settings)
    return layout.bank_code, layout.nosso_numero(invoice.number)


def _new_boleto(deps: BoletoDeps, invoice: Invoice, due: date, amount_cents: int, parties, kind: BoletoKind,
                organization, fresh_number: bool = False, indexed: bool = False) -> Tuple[Boleto, Dict[str, bytes]]:
    """A boleto registered at the bank, with the bank's own Pix and its PDF in S3; as kept on the
    invoice, with its PDF's bytes by S3 key (for the email to attach without reading them back).

    The first boleto's nosso número is the invoice number, so a retried documents step registers
    the same boleto again (the bank answers with the same registration) instead of a second one;
    second copies and an operator's new registration (`fresh_number`: the invoice number may be
    one the bank saw withdrawn) take the next of the sequence. Its nosso número is recorded
    against the invoice first, for the bank's return files; `indexed`: the first boleto of an
    invoice this container just issued, whose record the issue's transaction wrote already
    (`original_boleto_number`).

    Nothing the bank answers is shown or kept before it is checked: its barcode and linha
    digitável must be our FEBRABAN maths' (`bank_codes_mismatch` otherwise: the registration
    withdrawn, the operators told), its Pix a dynamic BR Code naming the location it answered.
    Raises BankRejected (the bank's validation) and BankUnavailable as the bank does.
    """
    check_payer(organization)  # never left for the bank to refuse
    settings = deps.settings
    layout = boleto_layout(settings)
    sequence = invoice.number if kind is BoletoKind.ORIGINAL and not fresh_number \
        else layout.second_copy_base + deps.invoices.next_boleto_sequence()
    made = boleto_rules.make_boleto(layout, sequence, due, amount_cents)
    # Before the bank: a boleto that can be paid is always one a bank return file finds (pattern 47).
    if not (indexed and kind is BoletoKind.ORIGINAL and not fresh_number):
        deps.invoices.register_boleto(made.bank_code, made.nosso_numero, invoice.id, invoice.organization_id,
                                      iso(deps.clock()))
    request = boleto_request(settings, invoice, made, organization, local_day(deps.clock()), kind)
    registration = deps.bank.register(request)
    try:
        boleto_rules.check_bank_codes(made, registration.barcode, registration.digitable_line)
        pix_payload, pix_location, pix_expires_on = _bank_pix(registration, amount_cents)
    except DomainError as mismatch:  # bank_codes_mismatch: nothing of it is shown or kept
        _withdraw_mismatched(deps, invoice, organization, made, registration, mismatch)
        raise
    pdf = _render(deps, "boleto", boleto_print.pdf_data(settings, invoice, made, request, kind, pix_payload, parties,
                                                        local_day(deps.clock()), pix_expires_on=pix_expires_on))
    key = deps.documents.put(f"{_prefix(invoice)}/boleto-{made.nosso_numero}.pdf", pdf, "application/pdf")
    return document_rules.issued_boleto(made, kind, pix_payload=pix_payload, pdf_key=key,
                                        registration_id=registration.registration_id, issued_at=iso(deps.clock()),
                                        pix_location=pix_location, pix_expires_on=pix_expires_on), {key: pdf}


def new_boleto(deps: BoletoDeps, invoice: Invoice, due: date, amount_cents: int, kind: BoletoKind, organization,
               fresh_number: bool = False) -> Boleto:
    """A boleto for the invoice registered at the bank now (see `_new_boleto`), for the operator's
    new registration of a refused one (services/boleto_registration.py)."""
    boleto, _ = _new_boleto(deps, invoice, due, amount_cents, _parties(deps.settings, organization), kind,
                            organization, fresh_number=fresh_number)
    return boleto


def _bare_location(url: str) -> str:
    """A Pix location as a BR Code writes it: no scheme (banks answer it with or without one)."""
    return url.split("://", 1)[1] if "://" in url else url


def _bank_pix(registration: Registration, amount_cents: int):
    """The bank's Pix for the boleto (payload, location, last day payable), after checking it: a
    dynamic BR Code (valid CRC, Pix's GUI, a location, never a static key) naming the location
    the bank answered, and the boleto's amount when it states one. (None, None, None) when the
    bank answered no Pix: the boleto then has none, never a static fallback that would stay
    payable after a second copy."""
    charge = registration.pix
    if charge is None:
        return None, None, None
    try:
        location = pix.dynamic_location(charge.emv)
        stated = pix.parse(charge.emv).get("54")
        # Compared as a number: "1500.00" and "1500.0" state the same amount.
        stated_cents = None if stated is None else Decimal(stated) * 100
    except (InvalidInput, ArithmeticError):
        raise codes.BANK_CODES_MISMATCH(field="pix", reason="not_dynamic") from None
    if _bare_location(location) != _bare_location(charge.location_url or ""):
        raise codes.BANK_CODES_MISMATCH(field="pix", reason="other_location")
    if stated_cents is not None and stated_cents != amount_cents:
        raise codes.BANK_CODES_MISMATCH(field="pix", reason="other_amount")
    return charge.emv, location, charge.expires_on


def _withdraw_mismatched(deps: BoletoDeps, invoice: Invoice, organization, made, registration: Registration,
                         mismatch: DomainError) -> None:
    """A registration whose codes are not ours is withdrawn at once (it would pay something else,
    or nothing), and the operators are told what the bank answered against what we computed: one
    email per boleto (its delivery key)."""
    withdrawn = True
    try:
        deps.bank.cancel(made.nosso_numero)
    except (BankUnavailable, BankRejected):
        # The bank may refuse a baixa too (e.g. minutes after the registration): the mismatch
        # still answers as such, and the email says the boleto stands and must be withdrawn.
        withdrawn = False
        log.exception("could not withdraw the mismatched boleto %s at the bank", made.nosso_numero)
    log.error("invoice %s: the bank answered codes that are not boleto %s's (%s)", invoice.number,
              made.nosso_numero, mismatch.details)
    charge = registration.pix
    notifications.queue_email(
        deps, template="bank_codes_mismatch", to=[deps.settings.operators_email],
        delivery_key=f"bank_codes_mismatch#{invoice.id}#{made.nosso_numero}",
        context={"organization": {"name": organization.name, "cnpj": _cnpj(organization.cnpj)},
                 "invoice": {"id": invoice.id, "number": invoice.number},
                 "nosso_numero": made.nosso_numero, "field": mismatch.details.get("field"),
                 "reason": mismatch.details.get("reason"), "withdrawn": withdrawn,
                 "ours": {"barcode": made.barcode, "digitable_line": made.digitable_line,
                          "amount_cents": made.amount_cents, "due_date": made.due_date.isoformat()},
                 "bank": {"barcode": registration.barcode, "digitable_line": registration.digitable_line,
                          "pix_location": charge.location_url if charge else None,
                          "pix_emv": charge.emv if charge else None},
                 "portal_url": deps.settings.portal_url})


# --- the documents of an issued invoice ---------------------------------------------------------

def prepare(deps: DocumentsDeps, invoice: Invoice, contract=None, attempts: int = 3, *, organization=None,
            just_issued: bool = False) -> Invoice:
    return prepare_counted(deps, invoice, contract, attempts, organization=organization, just_issued=just_issued)[0]


def prepare_counted(deps: DocumentsDeps, invoice: Invoice, contract=None, attempts: int = 3, *, organization=None,
                    just_issued: bool = False, run_id: Optional[str] = None) -> Tuple[Invoice, bool]:
    """Make whatever the invoice still lacks (PDF, boleto, NFS-e), queue its email with them, and
    record both (the documents and `email_queued_at`) in one write. The billing worker calls it
    right after issuing, contract and organisation in hand.

    Repeat-safe: every step is idempotent (fixed S3 keys, the boleto's nosso número is the invoice
    number, the NFS-e is requested once per invoice id, the email has a delivery key), so a crash or
    a concurrent writer only means doing it again; a concurrent worker's documents win, and the
    email always carries the documents the invoice records.

    A boleto the bank (or our check of its payer) refuses is recorded on the invoice and the
    operators told; the invoice email waits for the boleto (an operator registers it again,
    services/boleto_registration.py, which then finishes here). The bank's codes not holding
    (`bank_codes_mismatch`) and an outage fail the step, for the queue's retry.

    `organization`: the billing worker read it with the contract (one query); others pass none.
    `just_issued`: the invoice was issued by this process a moment ago (`billing._issue`), its
    first boleto's nosso número recorded in the same transaction. `run_id`: the billing run whose
    worker this is: the contract counted issued in it in the same write. Answers the invoice and
    whether that write was made (`prepare`: the invoice only)."""
    if organization is None:
        organization = deps.organizations.get(invoice.organization_id)
    for _ in range(attempts):
        contents: Dict[str, bytes] = {}
        changes = _missing_documents(deps, invoice, organization, boleto_indexed=just_issued, contents=contents)
        ready = replace(invoice, **changes)
        entries = []
        if "nfse_failure" in changes:
            # Queued before it is recorded (one email per refusal, by its delivery key): a crash in
            # between tells the operators again on the retry, never leaves them unaware.
            queue_nfse_rejected(deps, ready, organization)
            entries.append(nfse_rejected_audit(deps, SYSTEM, ready))
        if "boleto_failure" in changes:
            queue_boleto_rejected(deps, ready, organization)  # the same order, for the same reason
            entries.append(boleto_rejected_audit(deps, SYSTEM, ready))
        if ready.email_queued_at is None and not awaits_boleto(ready):
            # Queued BEFORE the documents and the mark are written, in one save with them (issue
            # #22 §1): a crash between the send and the write means the retry makes the documents
            # again and queues the email again, and its delivery key makes that one email. The
            # documents made again are the same (the same nosso número and registration, the same
            # DPS and so the same note, fixed S3 keys), so the email carries what the invoice records.
            _queue_invoice_email(deps, ready, contract or deps.contracts.get(invoice.organization_id), organization,
                                 contents)
            ready = replace(ready, email_queued_at=iso(deps.clock()))
        if ready == invoice:
            break  # nothing missing, the email queued before
        ready = replace(ready, version=invoice.version + 1)
        try:
            deps.invoices.save(ready, expected_version=invoice.version, audit=entries,
                               nfse_rejected=True if "nfse_failure" in changes else None,
                               boleto_rejected=True if "boleto_failure" in changes else None,
                               run_issued=(run_id, iso(deps.clock())) if run_id is not None else None)
            return ready, run_id is not None
        except Conflict:
            # A payment, the overdue job or a duplicate delivery wrote first: look again (what it
            # recorded is kept; what is still missing is made again, the same, and saved).
            invoice = deps.invoices.get(invoice.id)
    else:
        raise codes.CONCURRENT_UPDATE()
    return invoice, False


def _invoice_pdf_data(deps: Configured, invoice: Invoice, parties) -> Dict[str, Any]:
    beneficiary, customer = parties
    return {
        "number": invoice.number, "issuer": beneficiary, "customer": customer,
        "period_start": invoice.period_start.isoformat(), "period_end": invoice.period_end.isoformat(),
        "issued_on": invoice.issued_at, "due_date": invoice.due_date.isoformat(),
        "payment_method": invoice.payment_method, "total_cents": invoice.total_cents,
        "deposit": deposit_details(deps.settings, invoice),
        "lines": _document_lines(invoice)}


def cancelled_invoice_pdf(deps: CancelledPdfDeps, invoice: Invoice, cancelled_at: str, reason: str) -> str:
    """The invoice's PDF again, marked "CANCELADA" with the day and the reason, stored beside the
    original (kept, when a download rendered it); the key the cancelled invoice links to. Rendered
    from the invoice's data alone: the original need not exist (it is made on first download)."""
    organization = deps.organizations.get(invoice.organization_id)
    data = {**_invoice_pdf_data(deps, invoice, _parties(deps.settings, organization)),
            # No account to pay into on a cancelled invoice.
            "cancellation": {"cancelled_at": cancelled_at, "reason": reason}, "deposit": None}
    pdf = _render(deps, "invoice", data)
    return deps.documents.put(f"{_prefix(invoice)}/fatura-{invoice.number}-cancelada.pdf", pdf, "application/pdf")


def _missing_documents(deps: DocumentsDeps, invoice: Invoice, organization, boleto_indexed: bool = False,
                       contents: Optional[Dict[str, bytes]] = None) -> Dict[str, Any]:
    """What the invoice lacks, made now: its changes. `contents` is given the bytes of the files
    made (by S3 key), for the email to attach from memory."""
    contents = {} if contents is None else contents
    # The invoice's own PDF is not made here: no email attaches it, so it is rendered on its first
    # download (`invoice_pdf_url`, issue #22).
    parties = _parties(deps.settings, organization)
    changes: Dict[str, Any] = {}
    # An invoice the credit notes paid in full (total zero) has nothing for a boleto to collect.
    # A refused boleto is not sent again on the worker's retries (the same data is refused again):
    # the operator's new registration does, once the data is fixed. An outage or the bank's codes
    # not holding fails the step, and the queue's retry registers it later.
    if invoice.payment_method == "boleto" and not invoice.boletos and invoice.total_cents > 0 \
            and invoice.boleto_failure is None:
        problems = document_rules.payer_problems(organization.id, organization.address)
        try:
            if problems:  # checked here, never left for the bank to refuse
                raise BankRejected(problems)
            boleto, made = _new_boleto(deps, invoice, invoice.due_date, invoice.total_cents, parties,
                                       BoletoKind.ORIGINAL, organization, indexed=boleto_indexed)
            changes["boletos"] = (boleto,)
            contents.update(made)
        except BankRejected as refusal:
            # The codes only: the bank's messages may quote the payer.
            log.warning("invoice %s: the boleto was refused: %s", invoice.number,
                        ", ".join(code for code, _ in refusal.errors))
            changes["boleto_failure"] = document_rules.boleto_rejected(None, refusal.errors, iso(deps.clock()))
    # A refused DPS is not sent again on the worker's retries (the same data is refused again):
    # the operator's re-emission (services/nfse_issuing.py) does, once the data is fixed. An
    # outage (NfseUnavailable) fails the step, and the queue's retry emits it later.
    if invoice.nfse is None and invoice.nfse_failure is None:
        try:
            changes["nfse"], made = _emit_nfse(deps, invoice, organization)
            contents.update(made)
        except NfseRejected as refusal:
            # The E-codes only: the emitter's messages may quote the taker.
            log.warning("invoice %s: the NFS-e emitter refused the DPS: %s", invoice.number,
                        ", ".join(r.code for r in refusal.rejections))
            changes["nfse_failure"] = document_rules.nfse_rejected(None, refusal.rejections, iso(deps.clock()))
    return changes


def awaits_boleto(invoice: Invoice) -> bool:
    """A boleto invoice whose boleto was refused and not registered since: its email (which would
    say "pague com o boleto anexo") waits for the boleto."""
    return invoice.payment_method == "boleto" and invoice.active_boleto is None \
        and invoice.boleto_failure is not None and invoice.total_cents > 0 \
        and invoice.status not in (billing_rules.PAID, billing_rules.CANCELLED)  # nothing left to wait for


def queue_boleto_rejected(deps: TellsOperators, invoice: Invoice, organization) -> None:
    """The operators told why the invoice's boleto could not be registered (the bank's reasons, or
    the payer's address missing) and what to do. One email per refusal (the delivery key names the
    invoice and the attempt)."""
    failure = invoice.boleto_failure
    settings = deps.settings
    notifications.queue_email(
        deps, template="boleto_rejected", to=[settings.operators_email],
        # No invoice_id: a permanent failure of the operators' address is not the customer's email_error.
        delivery_key=f"boleto_rejected#{invoice.id}#{failure.attempts}",
        context={"organization": {"id": organization.id, "name": organization.name,
                                  "cnpj": _cnpj(organization.cnpj)},
                 "invoice": {"id": invoice.id, "number": invoice.number, "total_cents": invoice.total_cents,
                             "due_date": invoice.due_date.isoformat(),
                             "period_start": invoice.period_start.isoformat(),
                             "period_end": invoice.period_end.isoformat()},
                 "reasons": [{"code": code, "message": message} for code, message in failure.reasons],
                 "address_missing": any(code == document_rules.PAYER_ADDRESS_MISSING for code, _ in failure.reasons),
                 "attempts": failure.attempts, "failed_at": failure.failed_at,
                 "email_held": invoice.email_queued_at is None, "portal_url": settings.portal_url})


def boleto_rejected_audit(deps: Clocked, actor, invoice: Invoice):
    """The audit entry written with the boleto's refusal recorded on the invoice (attempts only:
    the trail is the customer's to read, the bank's codes are the operators')."""
    return audit.entry(deps, actor, invoice.organization_id, "boleto.rejected", f"invoice:{invoice.id}",
                       after={"attempts": invoice.boleto_failure.attempts})


def queue_nfse_rejected(deps: TellsOperators, invoice: Invoice, organization, reemission: bool = False) -> None:
    """The operators told of the emitter's refusal of an invoice's DPS: each code, its message and
    what to do. One email per refusal (the delivery key names the invoice and the attempt).
    `reemission`: refused on an operator's re-emission (the invoice went out earlier), not on the
    invoice's documents step (whose email, with the boleto or the deposit details, goes out now)."""
    failure = invoice.nfse_failure
    settings = deps.settings
    notifications.queue_email(
        deps, template="nfse_rejected", to=[settings.operators_email],
        # No invoice_id: a permanent failure of the operators' address is not the customer's email_error.
        delivery_key=f"nfse_rejected#{invoice.id}#{failure.attempts}",
        context={"organization": {"name": organization.name, "cnpj": _cnpj(organization.cnpj)},
                 "invoice": {"id": invoice.id, "number": invoice.number, "total_cents": invoice.total_cents,
                             "period_start": invoice.period_start.isoformat(),
                             "period_end": invoice.period_end.isoformat()},
                 "rejections": [{"code": r.code, "message": r.message, "detail": r.detail}
                                for r in failure.rejections],
                 "attempts": failure.attempts, "failed_at": failure.failed_at,
                 # What the email says went to the customer, true for each invoice.
                 "reemission": reemission, "payment_method": invoice.payment_method,
                 "has_boleto": invoice.active_boleto is not None,
                 "email_held": awaits_boleto(invoice),
                 "portal_url": settings.portal_url})


def nfse_rejected_audit(deps: Clocked, actor, invoice: Invoice):
    """The audit entry written with the refusal recorded on the invoice."""
    failure = invoice.nfse_failure
    # Without the codes: the organisation's trail is the customer's to read (GET /audit, the LGPD
    # export), and the customer is told "em processamento", never the emitter's codes; they stay on
    # the invoice for the back office and in the operators' email.
    return audit.entry(deps, actor, invoice.organization_id, "nfse.rejected", f"invoice:{invoice.id}",
                       after={"attempts": failure.attempts})


def emit_nfse(deps: DocumentsDeps, invoice: Invoice) -> Nfse:
    """The invoice's NFS-e emitted now (its files in S3), for the operator's re-emission. Raises
    NfseRejected or NfseUnavailable as the emitter does."""
    nfse, _ = _emit_nfse(deps, invoice, deps.organizations.get(invoice.organization_id))
    return nfse


def nfse_attachments(nfse: Nfse) -> List[dict]:
    return [{"key": nfse.pdf_key, "filename": f"nfse-{nfse.number}.pdf", "content_type": "application/pdf"},
            {"key": nfse.xml_key, "filename": f"nfse-{nfse.number}.xml", "content_type": "application/xml"}]


def _emit_nfse(deps: DocumentsDeps, invoice: Invoice, organization) -> Tuple[Nfse, Dict[str, bytes]]:
    """The invoice's DPS built from the settings (registration, service terms, environment) and the
    customer, signed with the reseller's A1 and sent; the note answered kept in S3 with its access
    key, and its XML and PDF bytes by S3 key (for the email, without reading them back). The DPS is numbered by the invoice, so a retry declares the same DPS and the emitter
    answers the note it already generated."""
    from ..fiscal.dps import sign_dps  # lxml and the bindings: only where a note is emitted

    settings = deps.settings
    dps = nfse_rules.dps_for_invoice(invoice, organization, settings.nfse_registration, settings.nfse_terms,
                                     environment=settings.nfse_environment, issued_at=deps.clock(),
                                     series=settings.nfse_dps_series)
    try:
        certificate = deps.nfse_certificate.certificate()
    except CertificateUnavailable as missing:
        # Recorded on the invoice as the emitter's refusals are (the operators are told, and
        # re-emit once the secret is fixed); nothing was sent.
        raise NfseRejected((Rejection(CERTIFICATE_UNAVAILABLE, "O certificado digital A1 da emissão não está "
                                      "disponível; nada foi enviado ao emissor.", str(missing)),)) from missing
    dps_id, signed = sign_dps(dps, certificate)
    issued = deps.nfse_emitter.emit(dps_id, signed)
    xml = issued.xml.encode()
    xml_key = deps.documents.put(f"{_prefix(invoice)}/nfse-{issued.number}.xml", xml, "application/xml")
    # The DANFSe is drawn from the note the emitter answered, so the PDF says what the note says.
    # Without fiscal value (marked so) unless the real Sefin's production environment issued it.
    homologation = settings.nfse_provider == "simulated" or settings.nfse_environment != nfse_rules.PRODUCTION
    pdf = _render(deps, "nfse", {"xml": issued.xml, "homologation": homologation})
    pdf_key = deps.documents.put(f"{_prefix(invoice)}/nfse-{issued.number}.pdf", pdf, "application/pdf")
    return Nfse(number=issued.number, verification_code=issued.verification_code or None,
                issued_at=issued.issued_at, xml_key=xml_key, pdf_key=pdf_key,
                access_key=issued.access_key or None), {xml_key: xml, pdf_key: pdf}


def _attachments(invoice: Invoice, boleto: Optional[Boleto], contents: Optional[Dict[str, bytes]] = None
                 ) -> List[dict]:
    """The email's files by S3 key; each made just now also carries its bytes (`content`), which
    the email then attaches without reading S3 back (`notifications.queue_email`)."""
    attachments = []
    if boleto is not None:
        attachments.append({"key": boleto.pdf_key, "filename": f"boleto-fatura-{invoice.number}.pdf",
                            "content_type": "application/pdf"})
    if invoice.nfse is not None:
        attachments.extend(nfse_attachments(invoice.nfse))
    for attachment in attachments:
        if contents and attachment["key"] in contents:
            attachment["content"] = contents[attachment["key"]]
    return attachments


def _queue_invoice_email(deps: InvoiceEmailDeps, invoice: Invoice, contract, organization,
                         contents: Optional[Dict[str, bytes]] = None) -> None:
    """The monthly email to every billing contact, documents attached (`contents`: the bytes of
    those just made, by S3 key); its delivery key makes it one email per invoice however often it
    is queued."""
    if contract.billing_contacts:
        notifications.queue_email(
            deps, template="invoice_issued", to=list(contract.billing_contacts),
            delivery_key=f"invoice_issued#{invoice.id}", invoice_id=invoice.id, organization_id=invoice.organization_id,
            attachments=_attachments(invoice, invoice.active_boleto, contents),
            # Without its NFS-e (refused, to be emitted again by the operators): the email says it follows.
            context={**email_context(deps, invoice, organization), "nfse_follows": invoice.nfse is None})


def queue_held_invoice_email(deps: InvoiceEmailDeps, invoice: Invoice, contract, organization) -> None:
    """The invoice email held for a refused boleto, sent once the invoice is paid otherwise (by
    deposit): with its NFS-e, without a boleto (the email's delivery key: one email per invoice)."""
    _queue_invoice_email(deps, invoice, contract, organization)


def email_context(deps: Configured, invoice: Invoice, organization) -> Dict[str, Any]:
    boleto = invoice.active_boleto
    return {"organization": {"name": organization.name},
            "invoice": {"number": invoice.number, "period_start": invoice.period_start.isoformat(),
                        "period_end": invoice.period_end.isoformat(), "due_date": invoice.due_date.isoformat(),
                        "total_cents": invoice.total_cents, "balance_cents": invoice.balance_cents,
                        "payment_method": invoice.payment_method,
                        "lines": _document_lines(invoice)},
            "boleto": None if boleto is None else {
                "digitable_line": boleto_rules.format_digitable_line(boleto.digitable_line),
                "due_date": boleto.due_date.isoformat(), "amount_cents": boleto.amount_cents,
                # The bank's Pix for this boleto (null when it answered none): never the static key.
                "pix_payload": boleto.pix_payload,
                "pix_expires_on": boleto.pix_expires_on.isoformat() if boleto.pix_expires_on else None},
            "deposit": deposit_details(deps.settings, invoice),
            "portal_url": deps.settings.portal_url}


# --- FATURAS: downloads and second copy --------------------------------------------------------

REPLACED_BOLETO = shape(
    "ReplacedBoleto", description="Um boleto anterior da fatura, substituído por uma segunda via e baixado no banco: "
                                  "ele e o seu Pix não são mais aceitos.",
    nosso_numero=text(), due_date=date_schema(), amount_cents=cents())

BOLETO = shape(
    "Boleto", description="`replaced` lista, do mais antigo ao mais recente, os boletos que segundas vias "
                          "substituíram. "
                          "O boleto em vigor da fatura (o original ou a segunda via): códigos, Pix e PDF. "
                          "`pix_payload` é o Pix \"copia e cola\" que o banco gerou para este boleto (BR Code "
                          "dinâmico: `pix_location` é a URL da cobrança que ele nomeia, `pix_expires_on` o último "
                          "dia em que é pagável); cancelado com o boleto quando sai a segunda via. Os três são null "
                          "quando o banco não devolveu Pix; `pix_location` e `pix_expires_on` também em boletos "
                          "anteriores ao Pix do banco.",
    barcode=text(pattern=r"^\d{44}$"), digitable_line=text(pattern=r"^\d{47}$"), digitable_line_formatted=text(),
    nosso_numero=text(), bank_code=text(pattern=r"^\d{3}$"), due_date=date_schema(), amount_cents=cents(),
    currency=currency(), pix_payload=nullable(text()), pix_location=nullable(text()),
    pix_expires_on=nullable(date_schema()), kind=enum([kind.value for kind in BoletoKind]),
    pdf_url=text(format="uri"), replaced=array(REPLACED_BOLETO))


def boleto_view(deps: InvoiceFilesDeps, caller: Caller, invoice_id: str) -> Dict[str, Any]:
    invoice = deps.invoices.get_in_organization(caller.organization_id, invoice_id)
    boleto = invoice.active_boleto
    if boleto is None:
        raise codes.BOLETO_NOT_AVAILABLE()
    return {"barcode": boleto.barcode, "digitable_line": boleto.digitable_line,
            "digitable_line_formatted": boleto_rules.format_digitable_line(boleto.digitable_line),
            "nosso_numero": boleto.nosso_numero, "bank_code": boleto.bank_code,
            "due_date": boleto.due_date.isoformat(), "amount_cents": boleto.amount_cents, "currency": "BRL",
            "pix_payload": boleto.pix_payload, "pix_location": boleto.pix_location,
            "pix_expires_on": boleto.pix_expires_on.isoformat() if boleto.pix_expires_on else None,
            "kind": boleto.kind.value,
            "pdf_url": deps.documents.link(boleto.pdf_key, f"boleto-fatura-{invoice.number}.pdf"),
            "replaced": [{"nosso_numero": b.nosso_numero, "due_date": b.due_date.isoformat(),
                          "amount_cents": b.amount_cents}
                         for b in invoice.boletos if b.status is document_rules.BoletoStatus.SUPERSEDED]}


NFSE = shape("Nfse", description="A NFS-e da fatura como o emissor a numerou, com links do XML e do PDF. "
                                  "`access_key` é a chave de acesso da NFS-e nacional (50 dígitos; null em notas "
                                  "anteriores a ela); `verification_code` só existe nessas notas antigas.",
             number=text(), issued_at=date_time(), access_key=nullable(text(pattern=r"^\d{50}$")),
             verification_code=nullable(text()), xml_url=text(format="uri"), pdf_url=text(format="uri"))


def nfse_view(deps: InvoiceFilesDeps, caller: Caller, invoice_id: str) -> Dict[str, Any]:
    invoice = deps.invoices.get_in_organization(caller.organization_id, invoice_id)
    if invoice.nfse is None:
        raise codes.NFSE_NOT_AVAILABLE()
    return note_view(deps, invoice.nfse)


def note_view(deps: StoredDocuments, nfse: Nfse) -> Dict[str, Any]:
    """A note as `NFSE` shows it, to the customer and to the back office."""
    return {"number": nfse.number, "issued_at": nfse.issued_at, "access_key": nfse.access_key,
            "verification_code": nfse.verification_code,
            "xml_url": deps.documents.link(nfse.xml_key, f"nfse-{nfse.number}.xml"),
            "pdf_url": deps.documents.link(nfse.pdf_key, f"nfse-{nfse.number}.pdf")}


def invoice_pdf_url(deps: InvoicePdfDeps, invoice: Invoice) -> Optional[str]:
    """The link to the invoice's PDF (None before its documents step has run: `pdf_handed_out`).
    Rendered and stored the first time it is asked for (billing no longer renders it, issue #22),
    from the same data billing used (`_invoice_pdf_data`), at the same key."""
    if not billing_rules.pdf_handed_out(invoice):
        return None
    key = invoice.pdf_key or _render_invoice_pdf(deps, invoice)
    return deps.documents.link(key, f"fatura-{invoice.number}.pdf")


def _render_invoice_pdf(deps: InvoicePdfDeps, invoice: Invoice) -> str:
    """The invoice's PDF rendered, put at its fixed key and recorded on the invoice without moving
    its version; the key the invoice records then. Two requests at once render the same bytes to the
    same key: one record wins, the other is fine. A PDF recorded meanwhile (a cancellation's) wins."""
    key = f"{_prefix(invoice)}/fatura-{invoice.number}.pdf"
    # Made once: a full save of the invoice from a read taken before the first download (a payment,
    # the overdue job) writes it back without `pdf_key`, since recording it moved no version; the
    # next view then finds the PDF stored and links it, never renders it again with the data of
    # that day: what the customer downloaded does not change.
    if not deps.documents.exists(key):
        organization = deps.organizations.get(invoice.organization_id)
        pdf = _render(deps, "invoice", _invoice_pdf_data(deps, invoice, _parties(deps.settings, organization)))
        deps.documents.put(key, pdf, "application/pdf")
    return deps.invoices.record_pdf_key(invoice.id, key)


def _cancel_superseded(deps: SecondCopyDeps, caller: Caller, invoice: Invoice, old: Boleto) -> None:
    """Cancel the superseded boleto at the bank. If the bank is down or refuses the baixa, the
    second copy still stands (it is saved and registered): answering with an error would only make
    the user ask for a third. The old boleto stays payable, so the audit trail records it and the
    operators are told to withdraw it at the bank."""
    try:
        deps.bank.cancel(old.nosso_numero)
    except (BankUnavailable, BankRejected) as failure:
        log.warning("invoice %s: boleto %s superseded but not cancelled at the bank: %s",
                    invoice.number, old.nosso_numero, observability.scrub(failure))
        deps.audit.append(audit.entry(
            deps, caller.actor, invoice.organization_id, "boleto.cancel_failed", f"invoice:{invoice.id}",
            after={"nosso_numero": old.nosso_numero, "error": _bank_error(failure)}))
        queue_boleto_cancel_failed(deps, invoice, old.nosso_numero, failure)


def _bank_error(failure: Exception) -> str:
    """What the bank answered, short (its refusal's codes and messages; never a secret)."""
    if isinstance(failure, BankRejected):
        return "; ".join(f"{code}: {message}" for code, message in failure.errors)[:200]
    return str(failure)[:200]


def queue_boleto_cancel_failed(deps: TellsOperators, invoice: Invoice, nosso_numero: str, failure: Exception) -> None:
    """The operators told that a boleto which should no longer be payable still stands at the bank
    (its baixa refused or unanswered): one email per boleto (its delivery key)."""
    notifications.queue_email(
        deps, template="boleto_cancel_failed", to=[deps.settings.operators_email],
        delivery_key=f"boleto_cancel_failed#{nosso_numero}",
        context={"invoice": {"id": invoice.id, "number": invoice.number}, "nosso_numero": nosso_numero,
                 "refused": isinstance(failure, BankRejected), "error": _bank_error(failure),
                 "portal_url": deps.settings.portal_url})


def withdraw_unsaved(deps: BoletoDeps, new: Boleto) -> None:
    """A boleto registered but never saved on the invoice would be payable and unknown to us."""
    try:
        deps.bank.cancel(new.nosso_numero)
    except (BankUnavailable, BankRejected):
        log.exception("could not cancel the unsaved boleto %s at the bank", new.nosso_numero)


@dataclass(frozen=True)
class SecondCopyQuote:
    """A second copy's terms, part by part: the open balance, the fine and the interest up to the new
    due date, their total (the new boleto's amount) and that due date."""

    due_date: date
    balance_cents: int
    fine_cents: int
    interest_cents: int

    @property
    def total_cents(self) -> int:
        return self.balance_cents + self.fine_cents + self.interest_cents


def second_copy_quote(settings: Settings, invoice: Invoice, today: date) -> SecondCopyQuote:
    """A second copy's due date (business days on, in the bank's city) and its amount: the open
    balance with the fine and the interest up to that day — the same terms the bank registers and
    charges should the new boleto be paid late. The preview shows it, the second copy issues it."""
    due = billing_rules.second_copy_due_date(today, settings.second_copy_due_days, settings.bank_state,
                                             settings.bank_city_holidays)
    balance = invoice.balance_cents
    fine, interest = boleto_rules.late_charges(balance, (due - invoice.due_date).days,
                                               Decimal(settings.late_fine_rate), Decimal(settings.late_monthly_interest))
    return SecondCopyQuote(due_date=due, balance_cents=balance, fine_cents=fine, interest_cents=interest)


def second_copy_terms(settings: Settings, invoice: Invoice, today: date):
    """(due date, amount) of a second copy issued today (`second_copy_quote`)."""
    quote = second_copy_quote(settings, invoice, today)
    return quote.due_date, quote.total_cents


SECOND_COPY_PREVIEW = shape(
    "SecondCopyPreview", description="O que a segunda via emitida agora cobraria, antes de emiti-la: o saldo em "
                                     "aberto (`amount_cents`), a multa e os juros até o novo vencimento, o total "
                                     "(o valor do novo boleto) e o novo vencimento. Calculado pelas mesmas regras "
                                     "da emissão: emitida no mesmo dia, a segunda via tem este valor e vencimento.",
    amount_cents=cents(), fine_cents=cents(), interest_cents=cents(), total_cents=cents(), due_date=date_schema(),
    currency=currency())


def check_second_copy(invoice: Invoice, today: date) -> None:
    """Only an overdue invoice paid by boleto has a second copy (409 otherwise, in plain words)."""
    if invoice.payment_method != "boleto":
        raise codes.SECOND_COPY_NOT_APPLICABLE()
    if not billing_rules.becomes_overdue(invoice, today) and invoice.status != billing_rules.OVERDUE:
        raise codes.INVOICE_NOT_OVERDUE(status=invoice.status, due_date=invoice.due_date.isoformat())


def second_copy_available(invoice: Invoice, today: date) -> bool:
    """Whether `check_second_copy` lets a second copy through today: what the portal offers."""
    try:
        check_second_copy(invoice, today)
    except DomainError:
        return False
    return True


def check_quote(quote: SecondCopyQuote, expected: Optional[Dict[str, Any]]) -> None:
    """The second copy the customer previewed (`expected_total_cents`, `expected_due_date`) is the
    one issued: today's quote differing (a payment, a day gone by) is 409, before the bank is called."""
    if not expected:
        return
    total, due = expected.get("expected_total_cents"), expected.get("expected_due_date")
    if (total is not None and total != quote.total_cents) or (due is not None and due != quote.due_date.isoformat()):
        raise codes.SECOND_COPY_QUOTE_CHANGED(total_cents=quote.total_cents, due_date=quote.due_date.isoformat())


def second_copy_preview(deps: SecondCopyDeps, caller: Caller, invoice_id: str) -> Dict[str, Any]:
    """The second copy's amount, fine, interest, total and due date as `second_copy` would issue
    them today, with its refusals (deposit, not overdue, payer without an address). Nothing written."""
    invoice = deps.invoices.get_in_organization(caller.organization_id, invoice_id)
    today = local_day(deps.clock())
    check_second_copy(invoice, today)
    check_payer(deps.organizations.get(invoice.organization_id))
    quote = second_copy_quote(deps.settings, invoice, today)
    return {"amount_cents": quote.balance_cents, "fine_cents": quote.fine_cents,
            "interest_cents": quote.interest_cents, "total_cents": quote.total_cents,
            "due_date": quote.due_date.isoformat(), "currency": "BRL"}


def settle_if_paid_at_bank(deps: PaidAtBankDeps, invoice: Invoice, boleto: Boleto, release: Callable[[], None],
                           paid_already) -> None:
    """Before a boleto is replaced (second copy) or withdrawn (cancellation): ask the bank. If it
    received the payment (by the boleto or its Pix) and its webhook has not told us yet, the claim is
    released, the payment settled as the webhook settles it (`bank_webhooks.settle_confirmed`, the
    same payment id: recorded once) and `paid_already` (409) raised: nothing else is done. Raises
    BankUnavailable as the bank does (the caller answers 503, nothing written). A boleto the bank
    does not know (BankRejected) received nothing."""
    from . import bank_webhooks  # it imports this module

    try:
        at_bank = deps.bank.query(boleto.nosso_numero)
    except BankRejected:
        return
    if at_bank.state != PAID:
        return
    release()
    if bank_webhooks.settle_confirmed(deps, boleto.bank_code, boleto.nosso_numero, invoice.id, at_bank) is None:
        log.warning("invoice %s: paid at the bank (boleto %s) but kept changing: the webhook records it",
                    invoice.number, boleto.nosso_numero)
    raise paid_already(paid_on=at_bank.paid_on.strftime("%d/%m") if at_bank.paid_on else "data não informada")


def bank_rejected(refusal: BankRejected):
    """The bank's refusal as the API answers it (422): its reasons, for the data to be fixed."""
    return codes.BANK_REJECTED(reasons="; ".join(f"{code}: {message}" for code, message in refusal.errors),
                               rejections=[{"code": code, "message": message} for code, message in refusal.errors])


def second_copy(deps: SecondCopyDeps, caller: Caller, invoice_id: str,
                expected: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A new boleto for an overdue invoice: a new due date, the fine and interest up to it; the
    old boleto and its Pix are superseded (and cancelled at the bank). Emailed to whoever asked.
    Answers the new boleto as `GET …/boleto` shows it (`BOLETO`). A payer without an address is
    refused before anything is claimed or sent (422); the bank's refusal answers 422 with its
    reasons, the claim released, nothing saved. `expected` (the preview's total and due date) not
    matching today's quote is 409 `second_copy_quote_changed`, before anything is claimed or sent."""
    invoice = deps.invoices.get_in_organization(caller.organization_id, invoice_id)
    today = local_day(deps.clock())
    check_second_copy(invoice, today)
    settings = deps.settings
    quote = second_copy_quote(settings, invoice, today)
    check_quote(quote, expected)
    due, amount = quote.due_date, quote.total_cents
    organization = deps.organizations.get(invoice.organization_id)
    check_payer(organization)
    old = invoice.active_boleto
    # Claim before calling the bank: of requests at once, one registers a boleto, the others are 409.
    now = deps.clock()
    claim_until = now + SECOND_COPY_CLAIM
    claimed_version = deps.invoices.claim_second_copy(invoice.id, invoice.version, now, claim_until)
    new = None
    try:
        if old is not None:  # a payment the bank received is settled, never answered with another boleto
            settle_if_paid_at_bank(deps, invoice, old, lambda: deps.invoices.release_second_copy(invoice.id, claim_until),
                                   codes.BOLETO_ALREADY_PAID)
        new, contents = _new_boleto(deps, invoice, due, amount, _parties(settings, organization),
                                    BoletoKind.SECOND_COPY, organization)
        # A refused first boleto (`boleto_failure`) is answered by this one: the failure goes.
        updated = replace(invoice, boletos=document_rules.with_second_copy(invoice.boletos, new),
                          boleto_failure=None, version=claimed_version + 1)
        deps.invoices.save(updated, expected_version=claimed_version,
                           boleto_rejected=False if invoice.boleto_failure is not None else None, audit=audit.entry(
            deps, caller.actor, invoice.organization_id, "invoice.second_copy", f"invoice:{invoice.id}",
            before={"nosso_numero": old.nosso_numero if old else None},
            after={"nosso_numero": new.nosso_numero, "due_date": new.due_date.isoformat(), "amount_cents": amount}))
    except BaseException as failure:
        deps.invoices.release_second_copy(invoice.id, claim_until)
        if new is not None:
            withdraw_unsaved(deps, new)
        if isinstance(failure, BankUnavailable):
            # Nothing was registered or saved and the claim is gone: the customer may retry at once.
            raise codes.BANK_UNAVAILABLE() from failure
        if isinstance(failure, BankRejected):
            raise bank_rejected(failure) from failure
        raise
    if old is not None:
        _cancel_superseded(deps, caller, updated, old)
    notifications.queue_email(
        deps, template="boleto_second_copy", to=[caller.user.email],
        delivery_key=f"second_copy#{new.nosso_numero}", invoice_id=invoice.id,
        organization_id=invoice.organization_id,
        attachments=_attachments(replace(updated, nfse=None), new, contents),
        context={**email_context(deps, updated, organization), "user": {"name": caller.user.name},
                 "open_balance_cents": invoice.balance_cents, "original_due_date": invoice.due_date.isoformat()})
    return boleto_view(deps, caller, invoice.id)
