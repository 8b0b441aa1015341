"""An invoice's fiscal documents as values: the boletos issued for it (the original and any second
copies, each active or superseded) and its NFS-e; which boleto is payable, and the second copy's
transition (the boleto in force is superseded, the new one appended). Pure: the documents service
makes them, the invoice repository stores them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import Enum
from typing import Optional, Sequence, Tuple

from .boleto import BoletoCodes
from .nfse import Rejection, Rejections


class BoletoKind(str, Enum):
    """Why the boleto was issued. The values are the strings stored and shown by the API."""

    ORIGINAL = "original"  # with the invoice: its due date and total, nosso número = invoice number
    SECOND_COPY = "second_copy"  # for an overdue invoice: a new due date, fine and interest


class BoletoStatus(str, Enum):
    """Whether the boleto can still be paid. The values are the strings stored on the invoice."""

    ACTIVE = "active"
    SUPERSEDED = "superseded"  # replaced by a second copy (and cancelled at the bank)
    CANCELLED = "cancelled"  # its invoice was cancelled (and the boleto at the bank with it)


@dataclass(frozen=True)
class Boleto:
    """A boleto issued for an invoice: registered at the bank, with its Pix code and its PDF in S3."""

    kind: BoletoKind
    status: BoletoStatus
    bank_code: str
    nosso_numero: str
    barcode: str
    digitable_line: str
    due_date: date
    amount_cents: int
    # The bank's own Pix for this boleto (a dynamic BR Code naming its location URL, payable until
    # `pix_expires_on`): cancelled with the boleto at a second copy. None when the bank answered no
    # Pix; boletos stored before the bank's Pix carry the static key's code and no location.
    pix_payload: Optional[str]
    pdf_key: str
    registration_id: str  # the bank's registration
    issued_at: str  # ISO instant, UTC
    pix_location: Optional[str] = None
    pix_expires_on: Optional[date] = None

    @property
    def is_active(self) -> bool:
        return self.status is BoletoStatus.ACTIVE


@dataclass(frozen=True)
class Nfse:
    """The invoice's NFS-e as the emitter numbered it, its XML and DANFSe PDF in S3."""

    number: str
    verification_code: Optional[str]  # the old simulator's notes had one; national notes have none
    issued_at: str  # as the emitter stamped it
    xml_key: str
    pdf_key: str
    # The chave de acesso (50 digits) the national system names the note by: its cancellation
    # event and queries. None on notes stored before the national NFS-e.
    access_key: Optional[str] = None
    # Set when the note's cancellation event was registered but the invoice could not be cancelled
    # with it (the bank was down for its boleto): the note is cancelled, the invoice still open
    # until the cancellation is asked again, which then does not send the event twice.
    cancelled_protocol: Optional[str] = None


@dataclass(frozen=True)
class NfseFailure:
    """Why the invoice has no NFS-e: the emitter refused its DPS for what it says (E-codes). Kept
    on the invoice until a re-emission succeeds; sending the same data again would be refused
    again, so only the operator's re-emission (after fixing the data) tries once more."""

    rejections: Rejections
    failed_at: str  # ISO instant, UTC, of the last refusal
    attempts: int  # how many times the DPS was refused


def nfse_rejected(previous: Optional[NfseFailure], rejections: Sequence[Rejection], at: str) -> NfseFailure:
    """The failure after one more refusal: its reasons replace the last ones, the attempts add up."""
    return NfseFailure(rejections=tuple(rejections), failed_at=at,
                       attempts=(previous.attempts if previous is not None else 0) + 1)


# Where an invoice's NFS-e stands, as the back office reads it. The customer never sees
# "rejected" (the E-codes are the operators' to act on): for them it is still pending.
NFSE_ISSUED = "issued"
NFSE_PENDING = "pending"  # not emitted yet (the documents step has not run, or the emitter was down)
NFSE_REJECTED = "rejected"
NFSE_CANCELLED = "cancelled"  # emitted, then cancelled with its invoice
NFSE_NOT_ISSUED = "not_issued"  # the invoice was cancelled before it had one
NFSE_STATUSES = (NFSE_ISSUED, NFSE_PENDING, NFSE_REJECTED, NFSE_CANCELLED, NFSE_NOT_ISSUED)
CUSTOMER_NFSE_STATUSES = tuple(s for s in NFSE_STATUSES if s != NFSE_REJECTED)


def nfse_status(nfse: Optional[Nfse], failure: Optional[NfseFailure], invoice_cancelled: bool) -> str:
    if invoice_cancelled:
        return NFSE_CANCELLED if nfse is not None else NFSE_NOT_ISSUED
    if nfse is not None and nfse.cancelled_protocol:
        return NFSE_CANCELLED
    if nfse is not None:
        return NFSE_ISSUED
    return NFSE_REJECTED if failure is not None else NFSE_PENDING


def customer_nfse_status(status: str) -> str:
    """A rejected note is, to the customer, a note still being processed."""
    return NFSE_PENDING if status == NFSE_REJECTED else status


@dataclass(frozen=True)
class BoletoFailure:
    """Why the invoice has no boleto: it could not be registered for what it says — the bank's
    validation refused it, or the product refused to send it (the payer's address missing). Kept on
    the invoice until an operator registers it again (after fixing the data); the billing worker
    never retries it by itself, since the same data would be refused again."""

    reasons: Tuple[Tuple[str, str], ...]  # (code, message), as the bank (or our own check) gave them
    failed_at: str  # ISO instant, UTC, of the last refusal
    attempts: int  # how many times the boleto was refused


def boleto_rejected(previous: Optional[BoletoFailure], reasons: Sequence[Tuple[str, str]], at: str) -> BoletoFailure:
    """The failure after one more refusal: its reasons replace the last ones, the attempts add up."""
    return BoletoFailure(reasons=tuple((str(code), str(message)) for code, message in reasons), failed_at=at,
                         attempts=(previous.attempts if previous is not None else 0) + 1)


# The product's own refusal to register a boleto whose payer has no address (a bank requires it):
# checked before the bank is called, never left for the bank to refuse.
PAYER_ADDRESS_MISSING = "payer_address_missing"


def payer_problems(organization_id: str, address) -> Tuple[Tuple[str, str], ...]:
    """What keeps a boleto for this payer from being registered: (code, pt-BR message naming what to
    fix) pairs, empty when nothing does."""
    if address is None:
        return ((PAYER_ADDRESS_MISSING, "O cliente não tem endereço cadastrado, obrigatório no registro do boleto: "
                                        f"complete-o em PUT /backoffice/organizations/{organization_id}/address."),)
    return ()


def issued_boleto(codes: BoletoCodes, kind: BoletoKind, *, pix_payload: Optional[str], pdf_key: str,
                  registration_id: str, issued_at: str, pix_location: Optional[str] = None,
                  pix_expires_on: Optional[date] = None) -> Boleto:
    """A boleto just registered at the bank: active until a second copy supersedes it."""
    return Boleto(kind=kind, status=BoletoStatus.ACTIVE, bank_code=codes.bank_code,
                  nosso_numero=codes.nosso_numero, barcode=codes.barcode, digitable_line=codes.digitable_line,
                  due_date=codes.due_date, amount_cents=codes.amount_cents, pix_payload=pix_payload,
                  pdf_key=pdf_key, registration_id=registration_id, issued_at=issued_at,
                  pix_location=pix_location, pix_expires_on=pix_expires_on)


def current_boleto(boletos: Sequence[Boleto]) -> Optional[Boleto]:
    """The boleto payable now: the last active one (None for deposit invoices, or before issue)."""
    return next((b for b in reversed(boletos) if b.is_active), None)


def supersede(boleto: Boleto) -> Boleto:
    """The boleto once a second copy replaces it: kept on the invoice, no longer payable."""
    return replace(boleto, status=BoletoStatus.SUPERSEDED)


def with_active_cancelled(boletos: Sequence[Boleto]) -> Tuple[Boleto, ...]:
    """The invoice's boletos once the invoice is cancelled: the one in force no longer payable."""
    current = current_boleto(boletos)
    return tuple(replace(b, status=BoletoStatus.CANCELLED) if b is current else b for b in boletos)


def with_second_copy(boletos: Sequence[Boleto], second_copy: Boleto) -> Tuple[Boleto, ...]:
    """The invoice's boletos after a second copy: the one in force superseded, the new one last."""
    current = current_boleto(boletos)
    return tuple(supersede(b) if b is current else b for b in boletos) + (second_copy,)
