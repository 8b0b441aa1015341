"""What a boleto's PDF prints: the receipt and the ficha de compensação a bank would print, from
the boleto's codes, the terms it was registered with at the bank and its Pix.

`pdf_data` is the one place that decides the printed fields (rendering/pdf.boleto_pdf draws them),
so the PDF says what the bank registered: the espécie, the fine and interest, where it is payable.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..domain.documents import BoletoKind

if TYPE_CHECKING:
    from ..adapters.bank import BoletoRequest
    from ..domain.billing import Invoice
    from ..domain.boleto import BoletoCodes
    from ..settings import Settings

BANK_NAMES = {"001": "Banco do Brasil", "341": "Itaú"}


def pdf_data(settings: Settings, invoice: Invoice, made: BoletoCodes, request: BoletoRequest, kind: BoletoKind,
             pix_payload: Optional[str], parties, processed_on: date) -> Dict[str, Any]:
    """The fields `rendering.pdf.boleto_pdf` prints for the boleto `made`, registered as `request`."""
    beneficiary, customer = parties
    agency_code = (f"{settings.boleto_itau_agencia} / {settings.boleto_itau_conta}" if made.bank_code == "341"
                   else f"Convênio {settings.boleto_bb_convenio}")
    return {
        "bank_code": made.bank_code, "bank_name": BANK_NAMES.get(made.bank_code, made.bank_code),
        "digitable_line": made.digitable_line, "barcode": made.barcode, "due_date": made.due_date.isoformat(),
        "amount_cents": made.amount_cents, "nosso_numero": made.nosso_numero,
        "beneficiary": {**beneficiary, "agency_code": agency_code}, "payer": customer,
        "document_number": request.document_number, "issued_on": processed_on.isoformat(),
        "instructions": instructions(settings, kind, invoice), "pix_payload": pix_payload}


def instructions(settings: Settings, kind: BoletoKind, invoice: Invoice) -> List[str]:
    fine = Decimal(settings.late_fine_rate) * 100
    interest = Decimal(settings.late_monthly_interest) * 100
    lines = [f"Referente à fatura nº {invoice.number} — período {invoice.period_start:%d/%m/%Y} "
             f"a {invoice.period_end:%d/%m/%Y}.",
             f"Após o vencimento: multa de {fine.normalize()}% e juros de {interest.normalize()}% ao mês, pro rata die."]
    if kind is BoletoKind.SECOND_COPY:
        lines.append(f"Segunda via: substitui o boleto com vencimento em {invoice.due_date:%d/%m/%Y}.")
    return lines
