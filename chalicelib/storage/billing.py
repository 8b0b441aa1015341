"""Invoices, their gapless numbers, payments and billing runs."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Iterator, List, Optional, Sequence, Tuple, Union

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from ..domain import error_codes as codes
from ..domain import webhooks as hooks  # the events an invoice's entry reports
from ..domain.audit import AuditEntry
from ..domain.cnab240 import nosso_numero_key
from ..domain.billing import CANCELLED, OPEN, OVERDUE, Cancellation, Dispute, Invoice, InvoiceLine
from ..domain.credits import CreditApplication, CreditNote
from ..domain.documents import NFSE_REJECTED, Boleto, BoletoFailure, BoletoKind, BoletoStatus, Nfse, NfseFailure
from ..domain.errors import NotFound
from ..domain.nfse import Rejection
from ..domain.spend import spend_deltas
from . import keys, spend
from .models import (BillingRunFailureItem, BillingRunItem, BoletoLookupItem, BoletoRejectedItem, CounterItem, CreditLeftItem,
                     CreditNoteItem, InvoiceGuardItem, InvoiceItem, NfseRejectedItem, PaymentItem)
from .repositories import (Page, Transaction, _is_condition_failure, _page, append_audit, count_actions,
                           decode_token, mark_table, table_marked)


def _line_json(l: InvoiceLine) -> dict:
    raw = {"description": l.description, "sku": l.sku, "quantity": l.quantity, "days": l.days,
           "period_days": l.period_days, "unit_price_cents": l.unit_price_cents, "amount_cents": l.amount_cents,
           "start": l.start.isoformat(), "end": l.end.isoformat()}
    # Term fields only when known: lines stored before them read back as they were.
    for name in ("term", "billing_frequency", "months"):
        if getattr(l, name) is not None:
            raw[name] = getattr(l, name)
    for name in ("term_start", "term_end"):
        if getattr(l, name) is not None:
            raw[name] = getattr(l, name).isoformat()
    return raw


def _lines_json(lines: List[InvoiceLine]) -> list:
    return [_line_json(l) for l in lines]


def _optional_day(raw: Optional[str]) -> Optional[date]:
    return date.fromisoformat(raw) if raw else None


def _lines(raw: list) -> List[InvoiceLine]:
    return [InvoiceLine(description=l["description"], sku=l["sku"], quantity=int(l["quantity"]), days=int(l["days"]),
                        period_days=int(l["period_days"]), unit_price_cents=int(l["unit_price_cents"]),
                        amount_cents=int(l["amount_cents"]), start=date.fromisoformat(l["start"]),
                        end=date.fromisoformat(l["end"]), term=l.get("term"),
                        billing_frequency=l.get("billing_frequency"), term_start=_optional_day(l.get("term_start")),
                        term_end=_optional_day(l.get("term_end")),
                        months=int(l["months"]) if l.get("months") is not None else None) for l in raw]


# Boletos and the NFS-e are kept as JSON on the invoice item, in the shape (keys, their order, ISO
# dates, enum values as strings) they have always been stored in: old items read back unchanged.

def boleto_attribute(boleto: Boleto) -> dict:
    stored = {"kind": boleto.kind.value, "status": boleto.status.value, "bank_code": boleto.bank_code,
              "nosso_numero": boleto.nosso_numero, "barcode": boleto.barcode, "digitable_line": boleto.digitable_line,
              "due_date": boleto.due_date.isoformat(), "amount_cents": boleto.amount_cents,
              "pix_payload": boleto.pix_payload, "pdf_key": boleto.pdf_key, "registration_id": boleto.registration_id,
              "issued_at": boleto.issued_at}
    # The bank's Pix (its location and expiry) only when it has one: a boleto stored before the
    # bank's Pix writes back as it was stored.
    if boleto.pix_location is not None:
        stored["pix_location"] = boleto.pix_location
    if boleto.pix_expires_on is not None:
        stored["pix_expires_on"] = boleto.pix_expires_on.isoformat()
    return stored


def boleto_from_attribute(raw: dict) -> Boleto:
    return Boleto(kind=BoletoKind(raw["kind"]), status=BoletoStatus(raw["status"]), bank_code=raw["bank_code"],
                  nosso_numero=raw["nosso_numero"], barcode=raw["barcode"], digitable_line=raw["digitable_line"],
                  due_date=date.fromisoformat(raw["due_date"]), amount_cents=int(raw["amount_cents"]),
                  pix_payload=raw["pix_payload"], pdf_key=raw["pdf_key"], registration_id=raw["registration_id"],
                  issued_at=raw["issued_at"], pix_location=raw.get("pix_location"),
                  pix_expires_on=_optional_day(raw.get("pix_expires_on")))


def boleto_failure_attribute(failure: Optional[BoletoFailure]) -> Optional[dict]:
    if failure is None:
        return None
    return {"reasons": [{"code": code, "message": message} for code, message in failure.reasons],
            "failed_at": failure.failed_at, "attempts": failure.attempts}


def boleto_failure_from_attribute(raw: Optional[dict]) -> Optional[BoletoFailure]:
    if raw is None:
        return None
    return BoletoFailure(reasons=tuple((r["code"], r["message"]) for r in raw["reasons"]), failed_at=raw["failed_at"],
                         attempts=int(raw["attempts"]))


def nfse_attribute(nfse: Optional[Nfse]) -> Optional[dict]:
    if nfse is None:
        return None
    stored = {"number": nfse.number, "verification_code": nfse.verification_code, "issued_at": nfse.issued_at,
              "xml_key": nfse.xml_key, "pdf_key": nfse.pdf_key, "access_key": nfse.access_key,
              "cancelled_protocol": nfse.cancelled_protocol}
    # The old simulator's notes have a verification code and no access key, national ones the
    # reverse: each written only when it has one, so an old item writes back as it was stored.
    return {name: value for name, value in stored.items()
            if value is not None or name not in ("verification_code", "access_key", "cancelled_protocol")}


def nfse_from_attribute(raw: Optional[dict]) -> Optional[Nfse]:
    if raw is None:
        return None
    # Notes stored before the national NFS-e carry no access key.
    return Nfse(number=raw["number"], verification_code=raw.get("verification_code"), issued_at=raw["issued_at"],
                xml_key=raw["xml_key"], pdf_key=raw["pdf_key"], access_key=raw.get("access_key"),
                cancelled_protocol=raw.get("cancelled_protocol"))


def nfse_failure_attribute(failure: Optional[NfseFailure]) -> Optional[dict]:
    if failure is None:
        return None
    return {"rejections": [{"code": r.code, "message": r.message, "detail": r.detail} for r in failure.rejections],
            "failed_at": failure.failed_at, "attempts": failure.attempts}


def nfse_failure_from_attribute(raw: Optional[dict]) -> Optional[NfseFailure]:
    if raw is None:
        return None
    return NfseFailure(rejections=tuple(Rejection(code=r["code"], message=r["message"], detail=r.get("detail"))
                                        for r in raw["rejections"]),
                       failed_at=raw["failed_at"], attempts=int(raw["attempts"]))


def cancellation_attribute(cancellation: Optional[Cancellation]) -> Optional[dict]:
    if cancellation is None:
        return None
    return {"cancelled_at": cancellation.cancelled_at, "cancelled_by": cancellation.cancelled_by,
            "reason": cancellation.reason, "nfse_protocol": cancellation.nfse_protocol,
            "reissued_invoice_id": cancellation.reissued_invoice_id, "reissued_number": cancellation.reissued_number}


def cancellation_from_attribute(raw: Optional[dict]) -> Optional[Cancellation]:
    if raw is None:
        return None
    number = raw.get("reissued_number")
    return Cancellation(cancelled_at=raw["cancelled_at"], cancelled_by=raw["cancelled_by"], reason=raw["reason"],
                        nfse_protocol=raw.get("nfse_protocol"), reissued_invoice_id=raw.get("reissued_invoice_id"),
                        reissued_number=int(number) if number is not None else None)


def _credit_item(credit: CreditNote) -> CreditNoteItem:
    # Only a note with something left sits in the organisation's index: the next invoice reads just those.
    left = {"gsi1pk": keys.org_credits_pk(credit.organization_id),
            "gsi1sk": keys.org_credit_sk(credit.created_at, credit.id)} if credit.remaining_cents > 0 else {}
    return CreditNoteItem(
        keys.invoice_pk(credit.invoice_id), keys.credit_note_sk(credit.id), **left, id=credit.id,
        organization_id=credit.organization_id, invoice_id=credit.invoice_id, invoice_number=credit.invoice_number,
        amount_cents=credit.amount_cents, remaining_cents=credit.remaining_cents, reason=credit.reason,
        created_at=credit.created_at, created_by=credit.created_by,
        applications=[{"invoice_id": a.invoice_id, "invoice_number": a.invoice_number,
                       "amount_cents": a.amount_cents} for a in credit.applications],
        version=credit.version)


def _credit(item: CreditNoteItem) -> CreditNote:
    return CreditNote(
        id=item.id, organization_id=item.organization_id, invoice_id=item.invoice_id,
        invoice_number=int(item.invoice_number), amount_cents=int(item.amount_cents), reason=item.reason,
        created_at=item.created_at, created_by=item.created_by, remaining_cents=int(item.remaining_cents),
        applications=tuple(CreditApplication(a["invoice_id"], int(a["invoice_number"]), int(a["amount_cents"]))
                           for a in item.applications or []),
        version=int(item.version))


class _CreditNotMarked(Exception):
    """A marker write refused: the marker was there ("present"), or the note changed ("changed")."""

    def __init__(self, outcome: str):
        super().__init__(outcome)
        self.outcome = outcome


def _credit_left_item(credit: CreditNote) -> CreditLeftItem:
    return CreditLeftItem(keys.org_pk(credit.organization_id), keys.credit_left_sk(credit.created_at, credit.id),
                          invoice_id=credit.invoice_id, credit_note_id=credit.id)


def _save_credit(tx, credit: CreditNote, condition, label: str) -> None:
    """A credit note and, in the same transaction, its place in the organisation's item collection:
    there while something is left, gone once it is used up (the billing worker reads only that)."""
    tx.save(_credit_item(credit), condition=condition, label=label)
    left = _credit_left_item(credit)
    if credit.remaining_cents > 0:
        tx.save(left, label=f"{label}_left")
    else:
        tx.delete(left, label=f"{label}_left")


def _save_credits(tx, changed: Sequence[Tuple[CreditNote, CreditNote]]) -> None:
    """Credit notes used or given back: each only as it was read, so two invoices never use one twice."""
    for before, after in changed:
        _save_credit(tx, after, CreditNoteItem.version == before.version, "credit")


def dispute_attribute(dispute: Optional[Dispute]) -> Optional[dict]:
    if dispute is None:
        return None
    return {"reason": dispute.reason, "opened_by": dispute.opened_by, "opened_at": dispute.opened_at}


def dispute_from_attribute(raw: Optional[dict]) -> Optional[Dispute]:
    if raw is None:
        return None
    return Dispute(reason=raw["reason"], opened_by=raw["opened_by"], opened_at=raw["opened_at"])


def _invoice_item(invoice: Invoice) -> InvoiceItem:
    # Every invoice sits in the (status, due date) index: the overdue job reads the open ones due
    # before today, the receivables read a status between two due dates.
    return InvoiceItem(
        keys.invoice_pk(invoice.id), keys.INVOICE_SK,
        gsi1pk=keys.org_invoices_pk(invoice.organization_id),
        gsi1sk=keys.org_invoice_sk(invoice.period_end.isoformat(), invoice.id),
        gsi2pk=keys.invoices_by_status_pk(invoice.status),
        gsi2sk=keys.due_sk(invoice.due_date.isoformat(), invoice.id),
        id=invoice.id, organization_id=invoice.organization_id, contract_id=invoice.contract_id,
        number=invoice.number, period_start=invoice.period_start.isoformat(),
        period_end=invoice.period_end.isoformat(), issued_at=invoice.issued_at,
        due_date=invoice.due_date.isoformat(), lines=_lines_json(invoice.lines), total_cents=invoice.total_cents,
        payment_method=invoice.payment_method, status=invoice.status, paid_cents=invoice.paid_cents,
        final=invoice.final, email_queued_at=invoice.email_queued_at,
        boletos=[boleto_attribute(b) for b in invoice.boletos], nfse=nfse_attribute(invoice.nfse),
        pdf_key=invoice.pdf_key, email_error=invoice.email_error, credited_cents=invoice.credited_cents,
        cancellation=cancellation_attribute(invoice.cancellation), dispute=dispute_attribute(invoice.dispute),
        nfse_failure=nfse_failure_attribute(invoice.nfse_failure),
        boleto_failure=boleto_failure_attribute(invoice.boleto_failure), version=invoice.version,
    )


def _invoice(item: InvoiceItem) -> Invoice:
    return Invoice(
        id=item.id, organization_id=item.organization_id, contract_id=item.contract_id, number=int(item.number),
        period_start=date.fromisoformat(item.period_start), period_end=date.fromisoformat(item.period_end),
        issued_at=item.issued_at, due_date=date.fromisoformat(item.due_date), lines=_lines(item.lines),
        total_cents=int(item.total_cents), payment_method=item.payment_method, status=item.status,
        paid_cents=int(item.paid_cents or 0), final=bool(item.final), email_queued_at=item.email_queued_at,
        boletos=tuple(boleto_from_attribute(b) for b in item.boletos or []), nfse=nfse_from_attribute(item.nfse),
        pdf_key=item.pdf_key, email_error=item.email_error, credited_cents=int(item.credited_cents or 0),
        cancellation=cancellation_from_attribute(item.cancellation), dispute=dispute_from_attribute(item.dispute),
        nfse_failure=nfse_failure_from_attribute(item.nfse_failure),
        boleto_failure=boleto_failure_from_attribute(item.boleto_failure), version=int(item.version),
    )


def _boleto_lookup(bank_code: str, nosso_numero: str, invoice_id: str, organization_id: str,
                   at: str) -> BoletoLookupItem:
    """Which invoice a boleto is for (pattern 47), by its bank and nosso número's digits."""
    return BoletoLookupItem(keys.boleto_pk(bank_code, nosso_numero_key(nosso_numero)), keys.BOLETO_SK,
                            invoice_id=invoice_id, organization_id=organization_id, nosso_numero=nosso_numero,
                            registered_at=at)


ISSUED = "invoices_issued"  # a contract's outcome that no later one overwrites


def _run_outcome_item(run_id: str, organization_id: str, outcome: str, at: str) -> BillingRunFailureItem:
    """A contract of a run went through, and how (pattern 57's item, the success marker): any
    failure recorded before is over, and none may land after."""
    return BillingRunFailureItem(keys.billing_run_pk(run_id), keys.billing_run_failure_sk(organization_id),
                                 organization_id=organization_id, at=at, succeeded_at=at, outcome=outcome)


def _boleto_free_for(invoice_id: str):
    """A nosso número nobody has, or this invoice's already (a retry): never re-pointed."""
    return BoletoLookupItem.pk.does_not_exist() | (BoletoLookupItem.invoice_id == invoice_id)


class InvoiceRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction
        # The invoice number counter as this container last saw it (issue #22 §1): written by its
        # own last issue, or answered by DynamoDB when an issue found it moved. None: not known.
        self._last_number: Optional[int] = None

    def next_number(self) -> int:
        """The number the next invoice would take: one past the counter as this container last
        saw it, read consistently only when it has not seen it yet. A guess the issue's
        transaction re-checks: when another container issued meanwhile, the failed condition
        answers the counter as it stands (`issue`), and the next guess is right."""
        if self._last_number is not None:
            return self._last_number + 1
        try:
            current = int(CounterItem.get(keys.COUNTER_PK, keys.INVOICE_NUMBER_SK, consistent_read=True).value)
        except DoesNotExist:
            current = 0
        self._last_number = current
        return current + 1

    def _counter_seen(self, failed: dict) -> None:
        """The counter as the failed transaction found it (ALL_OLD) when its condition failed;
        unknown again if it did not say (it did not exist). Another failure leaves it as known."""
        if "counter" in failed:
            raw = failed["counter"]
            self._last_number = int(raw["value"]["N"]) if raw and "value" in raw else None

    def issue(self, invoice: Invoice, audit: AuditEntry, *,
              credits: Sequence[Tuple[CreditNote, CreditNote]] = (),
              replacing: Optional[Tuple[Invoice, int, AuditEntry]] = None,
              new_credit: Optional[CreditNote] = None, boleto: Optional[Tuple[str, str]] = None) -> None:
        """Write the invoice, its (organisation, period) guard and the number counter at once.

        The counter moves from number-1 to number only if nobody else did: numbers are gapless and
        unique. The guard makes a second invoice for the same period impossible. `credits`: the
        credit notes this invoice uses (as read, after), each written only if unchanged since.
        `replacing`: an invoice cancelled in the same transaction (its version as read, its audit
        entry), whose period guard moves to this one: a rerun then finds the new invoice.
        `new_credit`: the credit note this invoice leaves when its own lines sum below zero (seats
        removed from a term paid up front), written with it or not at all: a rerun that finds the
        invoice leaves no second note.
        `boleto`: (bank code, nosso número) of the invoice's first boleto, whose nosso número is
        its number: recorded against the invoice in the same transaction (pattern 47), so the
        documents step registers it at the bank without a write of its own.
        """
        # The spend aggregate (issue #21 §1) moves in the same transaction: the new invoice's lines
        # in, the replaced one's out (netted per key), with their markers (storage/spend.py).
        # The transaction's size is counted on a dry build of the very same transaction (audit
        # entries, outbox items, markers, credits…), so the check cannot drift from what is written.
        def run(counted_replaced: bool) -> None:
            removed = replacing[0] if replacing is not None and counted_replaced else None
            deltas = spend_deltas(added=invoice, removed=removed)
            counted = count_actions(lambda tx: build(tx, counted_replaced, True, deltas)) \
                <= spend.MAX_TRANSACTION_ACTIONS
            if not counted:  # too many SKUs for one transaction: the backfill counts it (`pending`)
                deltas = spend_deltas(removed=removed)
            self._tx.run(lambda tx: build(tx, counted_replaced, counted, deltas), on_conflict=conflict,
                         on_returned=self._counter_seen)
            self._last_number = max(self._last_number or 0, invoice.number)

        def build(tx, counted_replaced, counted, deltas):
            guard = InvoiceGuardItem(keys.org_pk(invoice.organization_id), keys.invoice_guard_sk(
                invoice.period_end.isoformat()), invoice_id=invoice.id)
            if replacing is None:
                tx.save(guard, condition=InvoiceGuardItem.pk.does_not_exist(), label="guard")
            else:
                cancelled, expected_version, cancel_audit = replacing
                tx.save(guard, condition=InvoiceGuardItem.invoice_id == cancelled.id, label="guard")
                tx.save(_invoice_item(cancelled), condition=InvoiceItem.version == expected_version,
                        label="replaced")
                append_audit(tx, cancel_audit, {cancelled.id: hooks.invoice_data(cancelled)})
                spend.mark_cancelled(tx, cancelled, counted=counted_replaced)
            _save_credits(tx, credits)
            if new_credit is not None:
                _save_credit(tx, new_credit, CreditNoteItem.pk.does_not_exist(), "new_credit")
            tx.save(_invoice_item(invoice), condition=InvoiceItem.pk.does_not_exist(), label="invoice")
            counter_condition = CounterItem.pk.does_not_exist() if invoice.number == 1 \
                else CounterItem.value == invoice.number - 1
            # On a number taken, the counter comes back with the refusal: no read to learn it.
            tx.save(CounterItem(keys.COUNTER_PK, keys.INVOICE_NUMBER_SK, value=invoice.number),
                    condition=counter_condition, label="counter", return_values="ALL_OLD")
            if boleto is not None:
                tx.save(_boleto_lookup(*boleto, invoice.id, invoice.organization_id, invoice.issued_at),
                        condition=_boleto_free_for(invoice.id), label="boleto")
            append_audit(tx, audit, {invoice.id: hooks.invoice_data(invoice)})
            spend.mark_issued(tx, invoice, counted)
            spend.add_spend(tx, invoice.organization_id, deltas)

        def conflict(failed):
            if failed == {spend.MARKER_LABEL}:
                return spend.NotCounted()
            if "replaced" in failed:
                return codes.VERSION_CONFLICT()
            if "guard" in failed:
                return codes.ALREADY_INVOICED()
            if "credit" in failed:
                return codes.CREDITS_CHANGED()
            if failed == {"boleto"}:  # never seen: the nosso número of a number the counter handed out once
                return codes.BOLETO_NUMBER_TAKEN(nosso_numero=boleto[1])
            return codes.INVOICE_NUMBER_TAKEN()

        if replacing is None:
            run(True)
        else:
            spend.run_counting(run)

    def next_boleto_sequence(self) -> int:
        """The next nosso número: an atomic counter (gaps are harmless, repeats impossible)."""
        counter = CounterItem(keys.COUNTER_PK, keys.BOLETO_SEQUENCE_SK)
        counter.update(actions=[CounterItem.value.add(1)])
        return int(counter.value)

    def claim_second_copy(self, invoice_id: str, expected_version: int, now: datetime, until: datetime) -> int:
        """Make this request the one that registers the invoice's next boleto at the bank, until
        `until`: the invoice as read (its version), with no live claim. Returns the version the
        claim wrote, which the invoice is then saved over (a writer holding the older one fails).
        A claim left by a request that died expires, and the next request takes over."""
        return self._claim(invoice_id, expected_version, now, InvoiceItem.second_copy_until, until)

    def claim_cancellation(self, invoice_id: str, expected_version: int, now: datetime, until: datetime) -> int:
        """Make this request the one that cancels the invoice at the bank and the NFS-e emitter, as
        `claim_second_copy` does for a second copy (and excluding one: a second copy registered
        while the old boleto is cancelled would be payable on a cancelled invoice)."""
        return self._claim(invoice_id, expected_version, now, InvoiceItem.cancel_until, until)

    def claim_nfse(self, invoice_id: str, expected_version: int, now: datetime, until: datetime) -> int:
        """Make this request the one that sends the invoice's DPS to the NFS-e emitter again, as
        `claim_second_copy` does (and excluding a cancellation: a note emitted while the invoice is
        cancelled would never be cancelled)."""
        return self._claim(invoice_id, expected_version, now, InvoiceItem.nfse_until, until)

    def release_nfse(self, invoice_id: str, until: datetime) -> None:
        """The emitter did not answer: the next re-emission may try at once. Only our own claim."""
        try:
            InvoiceItem(keys.invoice_pk(invoice_id), keys.INVOICE_SK).update(
                actions=[InvoiceItem.nfse_until.remove()], condition=InvoiceItem.nfse_until == until.timestamp())
        except UpdateError as exc:
            if not _is_condition_failure(exc):
                raise

    def _claim(self, invoice_id: str, expected_version: int, now: datetime, attribute, until: datetime) -> int:
        pk, sk = keys.invoice_pk(invoice_id), keys.INVOICE_SK
        free = (InvoiceItem.second_copy_until.does_not_exist() | (InvoiceItem.second_copy_until < now.timestamp())) \
            & (InvoiceItem.cancel_until.does_not_exist() | (InvoiceItem.cancel_until < now.timestamp())) \
            & (InvoiceItem.nfse_until.does_not_exist() | (InvoiceItem.nfse_until < now.timestamp()))
        try:
            InvoiceItem(pk, sk).update(
                actions=[attribute.set(until.timestamp()), InvoiceItem.version.add(1)],
                condition=(InvoiceItem.version == expected_version) & free)
            return expected_version + 1
        except UpdateError as exc:
            if not _is_condition_failure(exc):
                raise
        try:
            current = InvoiceItem.get(pk, sk, consistent_read=True)
        except DoesNotExist:
            raise codes.INVOICE_NOT_FOUND()
        if current.cancel_until is not None and current.cancel_until >= now.timestamp():
            raise codes.CANCELLATION_IN_PROGRESS()
        if current.second_copy_until is not None and current.second_copy_until >= now.timestamp():
            raise codes.SECOND_COPY_IN_PROGRESS()
        if current.nfse_until is not None and current.nfse_until >= now.timestamp():
            raise codes.NFSE_EMISSION_IN_PROGRESS()
        raise codes.VERSION_CONFLICT()

    def release_second_copy(self, invoice_id: str, until: datetime) -> None:
        """The claim's holder failed before saving: the next request may try at once. Only our own
        claim is dropped (one that expired and was taken over is the new holder's)."""
        try:
            InvoiceItem(keys.invoice_pk(invoice_id), keys.INVOICE_SK).update(
                actions=[InvoiceItem.second_copy_until.remove()],
                condition=InvoiceItem.second_copy_until == until.timestamp())
        except UpdateError as exc:
            if not _is_condition_failure(exc):
                raise

    def release_cancellation(self, invoice_id: str, until: datetime) -> None:
        """The cancellation's holder failed (the bank or the emitter is down): the invoice may be
        cancelled again at once. Only our own claim is dropped."""
        try:
            InvoiceItem(keys.invoice_pk(invoice_id), keys.INVOICE_SK).update(
                actions=[InvoiceItem.cancel_until.remove()],
                condition=InvoiceItem.cancel_until == until.timestamp())
        except UpdateError as exc:
            if not _is_condition_failure(exc):
                raise

    def cancel(self, invoice: Invoice, expected_version: int, audit: AuditEntry,
               restored: Sequence[Tuple[CreditNote, CreditNote]] = ()) -> None:
        """Save the invoice cancelled (over the claim's version: the claim goes with it), giving back
        the credit notes it had used."""
        def build(tx, counted):
            tx.save(_invoice_item(invoice), condition=InvoiceItem.version == expected_version, label="invoice")
            _save_credits(tx, restored)
            append_audit(tx, audit, {invoice.id: hooks.invoice_data(invoice)})
            # The spend aggregate (issue #21 §1): its lines out, if they were in (the marker says).
            spend.mark_cancelled(tx, invoice, counted=counted)
            if counted:
                spend.add_spend(tx, invoice.organization_id, spend_deltas(removed=invoice))

        def conflict(failed):
            if failed == {spend.MARKER_LABEL}:
                return spend.NotCounted()
            return codes.CREDITS_CHANGED() if "credit" in failed else codes.VERSION_CONFLICT()

        spend.run_counting(lambda counted: self._tx.run(lambda tx: build(tx, counted), on_conflict=conflict))

    # --- credit notes --------------------------------------------------------------------------

    def grant_credit(self, invoice: Invoice, expected_version: int, credit: CreditNote, audit: AuditEntry,
                     now: datetime) -> None:
        """The credit note and the invoice's credited total at once, over the invoice as read: of two
        notes granted together, the second reads the first's total (or fails and reads again). Not
        while a cancellation holds the invoice (a credit on an invoice being cancelled would give
        the money back twice)."""
        def build(tx):
            free = InvoiceItem.cancel_until.does_not_exist() | (InvoiceItem.cancel_until < now.timestamp())
            tx.save(_invoice_item(invoice), condition=(InvoiceItem.version == expected_version) & free,
                    label="invoice")
            _save_credit(tx, credit, CreditNoteItem.pk.does_not_exist(), "credit")
            append_audit(tx, audit)

        def conflict(failed):
            current = InvoiceItem.get(keys.invoice_pk(invoice.id), keys.INVOICE_SK, consistent_read=True)
            if current.cancel_until is not None and current.cancel_until >= now.timestamp():
                return codes.CANCELLATION_IN_PROGRESS()
            return codes.VERSION_CONFLICT()

        self._tx.run(build, on_conflict=conflict)

    def credit_notes(self, invoice_id: str) -> List[CreditNote]:
        """An invoice's credit notes, oldest first."""
        found = [_credit(i) for i in CreditNoteItem.query(
            keys.invoice_pk(invoice_id), CreditNoteItem.sk.startswith(keys.CREDIT_NOTE_PREFIX), consistent_read=True)]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    def credits_left(self, organization_id: str) -> List[CreditNote]:
        """The organisation's credit notes with something left, oldest first. The index is read
        eventually; each is read again by key (and written back only as read) before it is used."""
        found = []
        for item in CreditNoteItem.by_organization.query(keys.org_credits_pk(organization_id)):
            try:
                current = _credit(CreditNoteItem.get(item.pk, item.sk, consistent_read=True))
            except DoesNotExist:
                continue
            if current.remaining_cents > 0:
                found.append(current)
        return sorted(found, key=lambda c: (c.created_at, c.id))

    def credits_at(self, places: Sequence[Tuple[str, str]]) -> List[CreditNote]:
        """The credit notes at these (invoice, credit note) ids — the organisation's collection's
        markers, read with its contract (pattern 12) — with something left, oldest first; each read
        by key, consistent (and written back only as read). None to read: no request at all."""
        found = []
        for note in (self.credit_note(invoice_id, credit_id) for invoice_id, credit_id in places):
            if note is None:
                continue
            if note.remaining_cents > 0:
                found.append(note)
            else:  # used up by code before the markers: its marker goes, so it is not read again
                self.drop_used_credit_marker(note)
        return sorted(found, key=lambda c: (c.created_at, c.id))

    @staticmethod
    def credits_in_collection() -> bool:
        """True once every credit note with something left has its marker in its organisation's
        collection (the backfill's marker; a new table's from creation): from then on a run's
        workers read the markers with the contract instead of querying the index. One consistent
        read per shard message of a run."""
        return table_marked(keys.CREDITS_MARKER_PK, keys.CREDITS_MARKER_SK)

    @staticmethod
    def mark_credits_in_collection(at: str) -> None:
        mark_table(keys.CREDITS_MARKER_PK, keys.CREDITS_MARKER_SK, at)

    def mark_credit_left(self, credit: CreditNote) -> str:
        """The marker of a note with something left, written if it is missing and only while the
        note is as read (its version). "marked": written now; "present": it was there; "changed":
        the note moved since it was read (used, given back: by code that may predate the markers),
        so it must be read again — by the next pass."""
        def build(tx):
            tx.check(CreditNoteItem, keys.invoice_pk(credit.invoice_id), keys.credit_note_sk(credit.id),
                     CreditNoteItem.version == credit.version, label="credit")
            tx.save(_credit_left_item(credit), condition=CreditLeftItem.pk.does_not_exist(), label="marker")

        try:
            self._tx.run(build, on_conflict=lambda failed: _CreditNotMarked("changed" if "credit" in failed else "present"))
            return "marked"
        except _CreditNotMarked as refused:
            return refused.outcome

    def drop_used_credit_marker(self, credit: CreditNote) -> None:
        """The marker of a note found used up (left by code before the markers, which used it
        without deleting it): deleted only while the note is as read with nothing left, so a note
        given back meanwhile (its marker written again) keeps it."""
        def build(tx):
            tx.check(CreditNoteItem, keys.invoice_pk(credit.invoice_id), keys.credit_note_sk(credit.id),
                     (CreditNoteItem.version == credit.version) & (CreditNoteItem.remaining_cents == 0), label="credit")
            tx.delete(_credit_left_item(credit), label="marker")

        try:
            self._tx.run(build, on_conflict=_CreditNotMarked("changed"))
        except _CreditNotMarked:
            pass  # given back meanwhile: its marker is right again

    def credit_note(self, invoice_id: str, credit_note_id: str) -> Optional[CreditNote]:
        try:
            return _credit(CreditNoteItem.get(keys.invoice_pk(invoice_id), keys.credit_note_sk(credit_note_id),
                                              consistent_read=True))
        except DoesNotExist:
            return None

    def record_email_failure(self, invoice_id: str, error: str) -> None:
        """A permanent email failure, for the operators to see on the invoice. The version moves too,
        so that a writer holding the invoice as it was cannot save over the error."""
        InvoiceItem(keys.invoice_pk(invoice_id), keys.INVOICE_SK).update(
            actions=[InvoiceItem.email_error.set(error[:500]), InvoiceItem.version.add(1)],
            condition=InvoiceItem.pk.exists())

    def record_pdf_key(self, invoice_id: str, key: str) -> str:
        """The invoice PDF rendered on its first download (issue #22), recorded once: an Update of
        `pdf_key` on its absence (or this same key: two downloads rendering at once write the same
        bytes to the same S3 key, one write wins and the other is fine). The version does not move,
        so a form opened on the invoice never meets a 409 because someone downloaded it. Answers the
        key the invoice now records: ours, or one written meanwhile (a cancellation's PDF)."""
        pk, sk = keys.invoice_pk(invoice_id), keys.INVOICE_SK
        try:
            InvoiceItem(pk, sk).update(
                actions=[InvoiceItem.pdf_key.set(key)],
                condition=InvoiceItem.pk.exists() & (InvoiceItem.pdf_key.does_not_exist() | (InvoiceItem.pdf_key == key)))
            return key
        except UpdateError as exc:
            if not _is_condition_failure(exc):
                raise
        try:
            return InvoiceItem.get(pk, sk, consistent_read=True).pdf_key or key
        except DoesNotExist:
            raise codes.INVOICE_NOT_FOUND()

    def invoice_for_period(self, organization_id: str, period_end: date) -> Optional[Invoice]:
        try:
            guard = InvoiceGuardItem.get(keys.org_pk(organization_id), keys.invoice_guard_sk(period_end.isoformat()),
                                         consistent_read=True)
        except DoesNotExist:
            return None
        return self.get(guard.invoice_id)

    def get(self, invoice_id: str) -> Invoice:
        try:
            return _invoice(InvoiceItem.get(keys.invoice_pk(invoice_id), keys.INVOICE_SK, consistent_read=True))
        except DoesNotExist:
            raise codes.INVOICE_NOT_FOUND()

    def get_in_organization(self, organization_id: str, invoice_id: str) -> Invoice:
        invoice = self.get(invoice_id)
        if invoice.organization_id != organization_id:
            raise codes.INVOICE_NOT_FOUND()
        return invoice

    def list(self, organization_id: str, *, status: Optional[str], limit: int, next_token: Optional[str]) -> Page:
        gpk = keys.org_invoices_pk(organization_id)
        results = InvoiceItem.by_organization.query(
            gpk, scan_index_forward=False, limit=limit,
            filter_condition=(InvoiceItem.status == status) if status else None,
            last_evaluated_key=decode_token(next_token, ("gsi1pk", gpk)))
        items, token = _page(results, limit)
        return [_invoice(i) for i in items], token

    def of_organization_since(self, organization_id: str, period_end_from: date) -> List[Invoice]:
        """The organisation's invoices whose period ends on or after a day, in any status (access
        pattern 20b: one Query of its invoice index, about twelve a year)."""
        condition = InvoiceItem.gsi1sk >= period_end_from.isoformat()
        return [_invoice(i) for i in InvoiceItem.by_organization.query(keys.org_invoices_pk(organization_id),
                                                                        condition)]

    def of_organization_ending_between(self, organization_id: str, first_day: date, last_day: date) -> List[Invoice]:
        """The organisation's invoices whose period ends between two days (both included), in any
        status, oldest first (access pattern 60: one Query of its invoice index; the ERP exports)."""
        lower, upper = keys.org_invoices_ending_between(first_day.isoformat(), last_day.isoformat())
        return [_invoice(i) for i in InvoiceItem.by_organization.query(keys.org_invoices_pk(organization_id),
                                                                        InvoiceItem.gsi1sk.between(lower, upper))]

    def collectable_of(self, organization_id: str) -> List[Invoice]:
        """The organisation's open and overdue invoices (its invoice index, read whole: a customer
        has about twelve a year), for the dunning rules."""
        return list(self.of_organization_due_between(organization_id, (OPEN, OVERDUE), None, None))

    def due_before(self, status: str, day: date) -> Iterator[Invoice]:
        """Invoices in `status` due before `day`, oldest first, read from the index page by page
        (eventually consistent: a write on the invoice re-checks its version)."""
        return self.in_status_due_between(status, None, day - timedelta(days=1))

    @staticmethod
    def position(invoice: Invoice, *, by_organization: bool) -> str:
        """The invoice's sort key in the index a receivables page read it from: where the next page
        starts (`after` below)."""
        if by_organization:
            return keys.org_invoice_sk(invoice.period_end.isoformat(), invoice.id)
        return keys.due_sk(invoice.due_date.isoformat(), invoice.id)

    def in_status_due_between(self, status: str, due_from: Optional[date], due_to: Optional[date], *,
                              after: Optional[str] = None) -> Iterator[Invoice]:
        """Invoices in `status` due between two days (both included, either open-ended), oldest due
        first, every organisation's, read from the index page by page; `after` is the sort key of
        the last invoice a previous page answered (`<due date>#<id>`, access pattern 45)."""
        gpk = keys.invoices_by_status_pk(status)
        low, high = (due_from.isoformat() if due_from else None), (due_to.isoformat() + "\uffff" if due_to else None)
        if low and high:
            condition = InvoiceItem.gsi2sk.between(low, high)
        elif low:
            condition = InvoiceItem.gsi2sk >= low
        elif high:
            condition = InvoiceItem.gsi2sk <= high
        else:
            condition = None
        start = None
        if after is not None:
            invoice_id = after.split("#", 1)[1]
            start = {"pk": {"S": keys.invoice_pk(invoice_id)}, "sk": {"S": keys.INVOICE_SK},
                     "gsi2pk": {"S": gpk}, "gsi2sk": {"S": after}}
        for item in InvoiceItem.by_status_and_due_date.query(gpk, condition, last_evaluated_key=start):
            yield _invoice(item)

    def of_organization_due_between(self, organization_id: str, statuses: Sequence[str], due_from: Optional[date],
                                    due_to: Optional[date], *, after: Optional[str] = None) -> Iterator[Invoice]:
        """An organisation's invoices in `statuses` due between two days, by period (oldest first),
        from its invoice index with a filter (about twelve a year: nothing else to skip);
        `after` is the index sort key of the last invoice a previous page answered (access
        pattern 46)."""
        gpk = keys.org_invoices_pk(organization_id)
        condition = InvoiceItem.status.is_in(*statuses)
        if due_from is not None:
            condition &= InvoiceItem.due_date >= due_from.isoformat()
        if due_to is not None:
            condition &= InvoiceItem.due_date <= due_to.isoformat()
        start = None
        if after is not None:
            invoice_id = after.split("#", 1)[1]
            start = {"pk": {"S": keys.invoice_pk(invoice_id)}, "sk": {"S": keys.INVOICE_SK},
                     "gsi1pk": {"S": gpk}, "gsi1sk": {"S": after}}
        for item in InvoiceItem.by_organization.query(gpk, filter_condition=condition, last_evaluated_key=start):
            yield _invoice(item)

    def save(self, invoice: Invoice, expected_version: int,
             audit: Union[AuditEntry, Sequence[AuditEntry], None] = None,
             payment: Optional[dict] = None, nfse_rejected: Optional[bool] = None,
             boleto_rejected: Optional[bool] = None, run_issued: Optional[Tuple[str, str]] = None) -> None:
        """`audit`: the entry (or entries) written with it. `nfse_rejected`: True when the save
        records the emitter's refusal of the invoice's NFS-e, False when it stores the note that
        clears it; the list of refused notes (pattern 51) moves in the same transaction.
        `boleto_rejected`: the same for the boleto's refusal and the list of refused boletos (53).
        `run_issued`: (billing run, at): the invoice's contract counted issued in that run, in the
        same transaction (pattern 57's item: its own, never a run-wide counter two workers fight
        over)."""
        entries = () if audit is None else (audit,) if isinstance(audit, AuditEntry) else tuple(audit)
        def build(tx):
            tx.save(_invoice_item(invoice), condition=InvoiceItem.version == expected_version, label="invoice")
            marker = NfseRejectedItem(keys.NFSE_REJECTED_PK, keys.nfse_rejected_sk(invoice.id), invoice_id=invoice.id,
                                      organization_id=invoice.organization_id)
            if nfse_rejected is True:
                tx.save(marker, label="nfse_rejected")
            elif nfse_rejected is False:
                tx.delete(marker, label="nfse_rejected")
            refused = BoletoRejectedItem(keys.BOLETO_REJECTED_PK, keys.boleto_rejected_sk(invoice.id),
                                         invoice_id=invoice.id, organization_id=invoice.organization_id)
            if boleto_rejected is True:
                tx.save(refused, label="boleto_rejected")
            elif boleto_rejected is False:
                tx.delete(refused, label="boleto_rejected")
            if payment is not None:
                tx.save(PaymentItem(keys.invoice_pk(invoice.id), keys.payment_sk(payment["id"]), **payment),
                        condition=PaymentItem.pk.does_not_exist(), label="payment")
            if run_issued is not None:
                tx.save(_run_outcome_item(run_issued[0], invoice.organization_id, ISSUED, run_issued[1]), label="run")
            for entry in entries:
                append_audit(tx, entry, {invoice.id: hooks.invoice_data(invoice)})

        self._tx.run(build, on_conflict=codes.VERSION_CONFLICT())

    def nfse_rejected(self) -> List[Invoice]:
        """Every invoice whose NFS-e stands refused (pattern 51; they are few: each waits for an
        operator), each read again by key. One cancelled since (a final state: it never stands
        refused again) no longer counts, and leaves the list as it is read."""
        found = []
        for item in NfseRejectedItem.query(keys.NFSE_REJECTED_PK, consistent_read=True):
            try:
                invoice = self.get(item.invoice_id)
            except NotFound:
                invoice = None
            if invoice is not None and invoice.nfse_status == NFSE_REJECTED:
                found.append(invoice)
            elif invoice is None or invoice.status == CANCELLED:
                item.delete()
        return found

    def boleto_rejected(self) -> List[Invoice]:
        """Every invoice whose boleto stands refused (pattern 53; a handful: each waits for an
        operator), each read again by key. One cancelled since, or with a boleto since, no longer
        counts, and leaves the list as it is read."""
        found = []
        for item in BoletoRejectedItem.query(keys.BOLETO_REJECTED_PK, consistent_read=True):
            try:
                invoice = self.get(item.invoice_id)
            except NotFound:
                invoice = None
            if invoice is not None and invoice.boleto_failure is not None and invoice.status != CANCELLED \
                    and invoice.active_boleto is None:
                found.append(invoice)
            elif invoice is None or invoice.status == CANCELLED or invoice.active_boleto is not None:
                item.delete()
        return found

    def payments(self, invoice_id: str) -> List[dict]:
        return [{"id": p.id, "amount_cents": int(p.amount_cents), "paid_on": p.paid_on, "method": p.method,
                 "recorded_by": p.recorded_by, "recorded_at": p.recorded_at}
                for p in PaymentItem.query(keys.invoice_pk(invoice_id), PaymentItem.sk.startswith(keys.PAYMENT_PREFIX))]

    # --- boletos by nosso número, payments by id: bank return files (patterns 47, 48) ----------

    def register_boleto(self, bank_code: str, nosso_numero: str, invoice_id: str, organization_id: str,
                        at: str) -> None:
        """Remember which invoice a boleto is for, before the bank registers it: every boleto the bank
        can be paid on is found by a return file. A retried documents step writes it again for the
        same invoice; a nosso número already another invoice's is refused (never re-pointed)."""
        item = _boleto_lookup(bank_code, nosso_numero, invoice_id, organization_id, at)
        try:
            item.save(condition=_boleto_free_for(invoice_id))
        except PutError as exc:
            if not _is_condition_failure(exc):
                raise
            raise codes.BOLETO_NUMBER_TAKEN(nosso_numero=nosso_numero) from exc

    def invoice_of_boleto(self, bank_code: str, nosso_numero: str) -> Optional[str]:
        """The id of the invoice a boleto (bank, nosso número as a return file writes it) is for."""
        try:
            return BoletoLookupItem.get(keys.boleto_pk(bank_code, nosso_numero_key(nosso_numero)), keys.BOLETO_SK,
                                        consistent_read=True).invoice_id
        except DoesNotExist:
            return None

    def has_payment(self, invoice_id: str, payment_id: str) -> bool:
        """Whether a payment with this id is recorded (a return file's line imported before)."""
        try:
            PaymentItem.get(keys.invoice_pk(invoice_id), keys.payment_sk(payment_id), consistent_read=True)
            return True
        except DoesNotExist:
            return False


class BillingRunRepository:
    COUNTERS = ("contracts_queued", "invoices_issued", "already_invoiced", "nothing_to_bill", "not_closed_yet")
    OUTCOMES = COUNTERS[1:]

    def create(self, run_id: str, period: str, started_at: str, started_by: str, shards_expected: int = 0) -> None:
        """`shards_expected`: the shard messages the run queues (issue #22 §4), each counted once by
        `count_shard`; the run is not complete before they all are."""
        BillingRunItem(keys.billing_run_pk(run_id), keys.BILLING_RUN_SK, gsi1pk=keys.BILLING_RUNS_INDEX_PK,
                       gsi1sk=keys.billing_run_started_sk(started_at, run_id), id=run_id, period=period,
                       started_at=started_at, started_by=started_by, shards_expected=shards_expected).save(
            condition=BillingRunItem.pk.does_not_exist())

    def count_shard(self, run_id: str, shard, queued: int) -> bool:
        """A shard queued its `queued` contracts: add them to `contracts_queued` and the shard to
        `shards_reported` in ONE update, on the shard not being counted yet (pattern 24). A shard
        message delivered twice (its contracts queued again, themselves repeat-safe) counts once:
        False the second time. One write per shard, not per contract."""
        name = keys.closing_shard_name(shard)
        try:
            BillingRunItem(keys.billing_run_pk(run_id), keys.BILLING_RUN_SK).update(
                actions=[BillingRunItem.contracts_queued.add(queued), BillingRunItem.shards_reported.add({name})],
                condition=BillingRunItem.pk.exists() & ~BillingRunItem.shards_reported.contains(name))
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def shard_counted(self, run_id: str, shard) -> bool:
        """Whether `shard` has already counted its contracts into the run (a consistent GetItem of
        the run's `shards_reported`, pattern 24): a redelivered shard message then queues nothing."""
        try:
            item = BillingRunItem.get(keys.billing_run_pk(run_id), keys.BILLING_RUN_SK, consistent_read=True,
                                      attributes_to_get=["shards_reported"])
        except DoesNotExist:
            return False
        return keys.closing_shard_name(shard) in (item.shards_reported or ())

    def count(self, run_id: str, counter: str, by: int = 1) -> None:
        """Atomic ADD on the run's item: `contracts_queued`, once per run. (Runs before issue #22
        counted each contract's outcome here too; `_progress` still adds those.)"""
        if counter not in self.COUNTERS:
            raise ValueError(counter)
        BillingRunItem(keys.billing_run_pk(run_id), keys.BILLING_RUN_SK).update(
            actions=[getattr(BillingRunItem, counter).add(by)])

    def get(self, run_id: str) -> dict:
        try:
            item = BillingRunItem.get(keys.billing_run_pk(run_id), keys.BILLING_RUN_SK, consistent_read=True)
        except DoesNotExist:
            raise codes.BILLING_RUN_NOT_FOUND()
        return self._progress(item)

    def started_between(self, start: str, end: str) -> List[dict]:
        """The runs started in [start, end] (ISO instants, as `create` stores them), oldest first,
        each as `get` answers it (access pattern 54; a run a day, a few more by hand)."""
        items = BillingRunItem.by_started.query(
            keys.BILLING_RUNS_INDEX_PK, BillingRunItem.gsi1sk.between(start, f"{end}\uffff"))
        return [self._progress(item) for item in items]

    def recent(self, *, limit: int, next_token: Optional[str]) -> Tuple[List[dict], Optional[str]]:
        """The runs, newest first, a page at a time (access pattern 54, read backwards: the back
        office's list of billing runs)."""
        results = BillingRunItem.by_started.query(
            keys.BILLING_RUNS_INDEX_PK, limit=limit, scan_index_forward=False,
            last_evaluated_key=decode_token(next_token, ("gsi1pk", keys.BILLING_RUNS_INDEX_PK)))
        items, token = _page(results, limit)
        return [self._progress(item) for item in items], token

    def record_failure(self, run_id: str, organization_id: str, *, code: str, message: str, at: str,
                       attempts: int) -> bool:
        """A contract of the run failed (the worker raised): its latest reason, overwritten by each
        attempt, unless an attempt billed it already (access pattern 57: Put on
        attribute_not_exists(succeeded_at)). A slow attempt failing after another's success (SQS
        hands a message to a second worker when the first outlives the visibility timeout) writes
        nothing: False."""
        try:
            BillingRunFailureItem(keys.billing_run_pk(run_id), keys.billing_run_failure_sk(organization_id),
                                  organization_id=organization_id, code=code, message=message[:500], at=at,
                                  attempts=attempts).save(condition=BillingRunFailureItem.succeeded_at.does_not_exist())
        except PutError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def record_outcome(self, run_id: str, organization_id: str, outcome: str, at: str) -> None:
        """The contract went through, and how (`OUTCOMES`; an issued invoice's is written by the
        invoice's documents transaction, `InvoiceRepository.save(run_issued=…)`): one Put over any
        failure recorded before (whichever attempt, first or redriven, it was), after which none may
        land. Never over an issued one: a duplicate message finding the invoice leaves it counted
        as issued."""
        if outcome not in self.OUTCOMES:
            raise ValueError(outcome)
        condition = None if outcome == ISSUED else \
            BillingRunFailureItem.outcome.does_not_exist() | (BillingRunFailureItem.outcome != ISSUED)
        try:
            _run_outcome_item(run_id, organization_id, outcome, at).save(condition=condition)
        except PutError as exc:
            if not _is_condition_failure(exc):
                raise

    def failures(self, run_id: str) -> List[dict]:
        """The run's contracts whose latest attempt failed (a run has few; one query, no page)."""
        items = BillingRunFailureItem.query(keys.billing_run_pk(run_id),
                                            BillingRunFailureItem.sk.startswith(keys.BILLING_RUN_FAILURE_PREFIX),
                                            consistent_read=True)
        return [{"organization_id": i.organization_id, "code": i.code, "message": i.message, "at": i.at,
                 "attempts": int(i.attempts or 1)} for i in items if i.succeeded_at is None]

    def _outcomes(self, run_id: str) -> Counter:
        """The run's contracts by outcome: one Query of its partition (consistent), the outcome
        only (10 000 contracts: a page or two)."""
        return Counter(i.outcome for i in BillingRunFailureItem.query(
            keys.billing_run_pk(run_id), BillingRunFailureItem.sk.startswith(keys.BILLING_RUN_FAILURE_PREFIX),
            consistent_read=True, attributes_to_get=["outcome"]) if i.outcome)

    def _progress(self, item: BillingRunItem) -> dict:
        # The run item's own counters (contracts_queued; a run from before issue #22 has its
        # outcomes there too) plus each contract's outcome item.
        outcomes = self._outcomes(item.id)
        return {"run_id": item.id, "period": item.period, "started_at": item.started_at,
                "started_by": item.started_by,
                **{c: int(getattr(item, c) or 0) + outcomes.get(c, 0) for c in self.COUNTERS},
                **shard_progress(item)}


def shard_progress(item: BillingRunItem) -> dict:
    """How many of its shard messages a run waits for and how many have counted their contracts
    (issue #22 §4; zero and zero on runs made before the shards)."""
    return {"shards_expected": int(item.shards_expected or 0), "shards_reported": len(item.shards_reported or ())}
