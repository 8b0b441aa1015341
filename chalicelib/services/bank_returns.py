"""Bank return files: an operator imports the CNAB 240 "retorno de cobrança" the bank sends, and
each boleto it says was paid settles its invoice (`payments.settle`), found by its nosso número.

Safe to repeat: each line's payment has an id derived from what the bank said (bank, nosso número,
day paid, amount: `payments.bank_payment_id`), written only if absent, so importing a file again —
or two imports at once, or a file repeating what the bank's webhook settled — records each payment
once. A line that does not read, names no boleto of ours or cannot be applied is reported with its
line number; the rest of the file still applies.
"""
from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol

from ..domain import billing as rules
from ..domain import cnab240
from ..domain import error_codes as codes
from ..domain import limits
from ..domain.clock import local_day
from ..domain.errors import Conflict, DomainError
from ..domain.money import format_brl
from ..domain.users import RESELLER_ORGANIZATION_ID
from ..schemas import array, cents, enum, integer, nullable, shape, text
from ..schemas import date as date_schema
from . import audit
from .caller import Caller
from .payments import bank_payment_id, settle, unapplied

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..storage.repositories import AuditRepository
    from .payments import PaymentDeps, UnappliedDeps

    class BankReturnDeps(PaymentDeps, UnappliedDeps, Protocol):
        """Payments settled from a bank's return file, the import audited in the reseller's trail."""

        audit: AuditRepository


MAX_FILE_BYTES = limits.CNAB_RETURN_MAX_BYTES  # why this size: domain/limits.py
MAX_TITLES = 500
ATTEMPTS = 4  # an invoice written meanwhile (another import, a manual payment): read it again

SETTLED = "settled"  # recorded; the invoice is paid
PARTIAL = "partial"  # recorded; a balance is left
ALREADY_RECORDED = "already_recorded"  # this line's payment was recorded by an earlier import
UNKNOWN = "unknown_nosso_numero"  # no boleto of ours has this nosso número
NOT_PAYABLE = "not_payable"  # the invoice is paid or cancelled already: the money needs a refund or a credit
INVALID = "invalid"  # the line does not read, or its payment date cannot be
NOT_A_LIQUIDATION = "not_a_liquidation"  # another movement (entrada confirmada, baixa, tarifa…)
RETRY = "retry"  # the invoice kept changing: import the file again
OUTCOMES = (SETTLED, PARTIAL, ALREADY_RECORDED, UNKNOWN, NOT_PAYABLE, INVALID, NOT_A_LIQUIDATION, RETRY)


@dataclass
class _Line:
    line: int
    outcome: str
    message: str
    nosso_numero: Optional[str] = None
    movement: Optional[str] = None
    invoice_id: Optional[str] = None
    invoice_number: Optional[int] = None
    amount_cents: Optional[int] = None
    applied_cents: int = 0
    surplus_cents: int = 0
    balance_cents: Optional[int] = None
    paid_on: Optional[date] = None
    problem: Optional[str] = None

    def view(self) -> Dict[str, Any]:
        return {"line": self.line, "outcome": self.outcome, "message": self.message,
                "nosso_numero": self.nosso_numero, "movement": self.movement, "invoice_id": self.invoice_id,
                "invoice_number": self.invoice_number, "amount_cents": self.amount_cents,
                "applied_cents": self.applied_cents, "surplus_cents": self.surplus_cents,
                "balance_cents": self.balance_cents,
                "paid_on": self.paid_on.isoformat() if self.paid_on else None, "problem": self.problem}


CNAB_LINE = shape(
    "CnabImportLine", description="Um título (segmentos T e U, `line` é a do T) ou uma linha que não pôde ser lida.",
    line=integer(minimum=1), outcome=enum(OUTCOMES), message=text(), nosso_numero=nullable(text()),
    movement=nullable(text(pattern=r"^\d{2}$")), invoice_id=nullable(text()), invoice_number=nullable(integer()),
    amount_cents=nullable(cents()), applied_cents=cents(), surplus_cents=cents(), balance_cents=nullable(cents()),
    paid_on=nullable(date_schema()), problem=nullable(text()))
CNAB_TOTALS = shape(
    "CnabImportTotals", description="Quantos títulos em cada resultado, e os valores aplicados e excedentes.",
    lines=integer(minimum=0), titles=integer(minimum=0), problems=integer(minimum=0),
    applied_cents=cents(), surplus_cents=cents(), **{outcome: integer(minimum=0) for outcome in OUTCOMES})
CNAB_IMPORT = shape(
    "CnabImport", description="O resultado da importação de um arquivo de retorno CNAB 240, linha a linha.",
    digest=text(pattern=r"^[0-9a-f]{64}$"), bank_code=text(pattern=r"^\d{3}$"), file_sequence=text(),
    generated_on=nullable(date_schema()), lines=array(CNAB_LINE), totals=CNAB_TOTALS)


def import_return_file(deps: BankReturnDeps, caller: Caller, content: bytes) -> Dict[str, Any]:
    if len(content) > MAX_FILE_BYTES:
        raise codes.PAYLOAD_TOO_LARGE(max_bytes=MAX_FILE_BYTES)
    file_digest = hashlib.sha256(content).hexdigest()
    # Banks write Latin-1; every byte decodes, so a binary file fails as lines, not as a 500. A file
    # saved again by an editor as UTF-8 says so with its BOM.
    if content.startswith(codecs.BOM_UTF8):
        text = content[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")
    else:
        text = content.decode("latin-1")
    parsed = cnab240.parse(text)
    if parsed.header is None:
        first = parsed.problems[0]
        raise codes.CNAB_NOT_A_RETURN_FILE(reason=first.message.rstrip("."), line=first.line, problem=first.code)
    if len(parsed.titles) > MAX_TITLES:
        raise codes.CNAB_TOO_MANY_TITLES(titles=len(parsed.titles), max_titles=MAX_TITLES)
    today = local_day(deps.clock())
    source = {"cnab_digest": file_digest, "file_sequence": parsed.header.file_sequence}
    lines = [_apply(deps, caller, title, today, source) for title in parsed.titles]
    lines += [_Line(line=p.line, outcome=INVALID, message=p.message, problem=p.code) for p in parsed.problems]
    lines.sort(key=lambda entry: entry.line)
    totals = _totals(parsed, lines)
    if totals[SETTLED] + totals[PARTIAL]:
        # Who imported which file, and what it did: an import that recorded nothing changes nothing.
        deps.audit.append(audit.entry(
            deps, caller.actor, RESELLER_ORGANIZATION_ID, "payments.cnab_imported", f"cnab:{file_digest}",
            after={"digest": file_digest, "bank_code": parsed.header.bank_code,
                   "file_sequence": parsed.header.file_sequence, **totals}))
    return {"digest": file_digest, "bank_code": parsed.header.bank_code,
            "file_sequence": parsed.header.file_sequence,
            "generated_on": parsed.header.generated_on.isoformat() if parsed.header.generated_on else None,
            "lines": [entry.view() for entry in lines], "totals": totals}


def _totals(parsed: cnab240.Retorno, lines: List[_Line]) -> Dict[str, int]:
    totals = {outcome: 0 for outcome in OUTCOMES}
    for entry in lines:
        if entry.problem is None:
            totals[entry.outcome] += 1
    return {"lines": parsed.lines, "titles": len(parsed.titles), "problems": len(parsed.problems),
            "applied_cents": sum(e.applied_cents for e in lines), "surplus_cents": sum(e.surplus_cents for e in lines),
            **totals}


def _apply(deps: BankReturnDeps, caller: Caller, title: cnab240.Title, today: date,
           source: Dict[str, Any]) -> _Line:
    entry = _Line(line=title.line, outcome=INVALID, message="", nosso_numero=title.nosso_numero,
                  movement=title.movement, amount_cents=title.paid_cents, paid_on=title.occurred_on)
    if not title.is_liquidation:
        entry.outcome, entry.message = NOT_A_LIQUIDATION, f"{title.movement_label}: nada a registrar."
        return entry
    if title.occurred_on is None or title.paid_cents <= 0:
        entry.message = "Liquidação sem data da ocorrência ou sem valor pago (segmento U)."
        return entry
    invoice_id = deps.invoices.invoice_of_boleto(title.bank_code, title.nosso_numero)
    if invoice_id is None:
        entry.outcome = UNKNOWN
        entry.message = f"Nenhum boleto com o nosso número {title.nosso_numero} do banco {title.bank_code}."
        return entry
    entry.invoice_id = invoice_id
    # The same id the bank's webhook gives this payment (services/bank_webhooks.py): either path records it once.
    pid = bank_payment_id(title.bank_code, title.nosso_numero, title.occurred_on, title.paid_cents)
    for _ in range(ATTEMPTS):
        try:
            invoice = deps.invoices.get(invoice_id)
        except DomainError:
            entry.outcome, entry.message = UNKNOWN, f"O boleto {title.nosso_numero} aponta uma fatura inexistente."
            return entry
        entry.invoice_number = invoice.number
        if deps.invoices.has_payment(invoice.id, pid):
            entry.outcome, entry.message = ALREADY_RECORDED, "Este pagamento já foi registrado por uma importação anterior."
            return entry
        applied = min(title.paid_cents, rules.payable_cents(invoice))
        if invoice.status in (rules.PAID, rules.CANCELLED) or applied <= 0:
            entry.outcome = NOT_PAYABLE
            unapplied(deps, caller.actor, invoice, payment_id=pid, nosso_numero=title.nosso_numero,
                      paid_cents=title.paid_cents, paid_on=title.occurred_on, source={**source, "line": title.line})
            entry.message = (f"A fatura nº {invoice.number} está {rules.STATUS_LABELS.get(invoice.status, invoice.status)}"
                             f" e não recebe pagamento: {format_brl(title.paid_cents)} a estornar ou creditar.")
            return entry
        try:
            rules.check_paid_on(invoice, title.occurred_on, today)
        except DomainError:
            entry.message = (f"Data de pagamento {title.occurred_on:%d/%m/%Y} anterior à emissão da fatura "
                             f"nº {invoice.number} ou futura.")
            return entry
        try:
            updated = settle(deps, caller.actor, invoice, amount_cents=applied, paid_on=title.occurred_on,
                             method="boleto", recorded_by=caller.user.id, payment_id=pid,
                             source={**source, "line": title.line, "nosso_numero": title.nosso_numero})
        except Conflict:
            continue  # the invoice changed, or this very payment was recorded meanwhile: look again
        except DomainError as refused:
            entry.outcome, entry.message = NOT_PAYABLE, refused.message
            return entry
        entry.applied_cents, entry.surplus_cents = applied, title.paid_cents - applied
        entry.balance_cents = updated.balance_cents
        entry.outcome = SETTLED if updated.status == rules.PAID else PARTIAL
        entry.message = f"Pagamento de {format_brl(applied)} registrado na fatura nº {invoice.number}."
        if entry.surplus_cents:
            entry.message += (f" Excedente de {format_brl(entry.surplus_cents)} (juros/multa acima do saldo) "
                              "não aplicado: credite ou estorne.")
        return entry
    entry.outcome = RETRY
    entry.message = f"A fatura nº {entry.invoice_number} mudou durante a importação; importe o arquivo de novo."
    return entry
