"""What a boleto's PDF prints: the receipt and the ficha de compensação a bank would print, from
the boleto's codes, the terms it was registered with at the bank and its Pix.

`pdf_data` is the one place that decides the printed fields (rendering/pdf.boleto_pdf draws them,
as text, in FEBRABAN's layout), so the PDF says what the bank registered: the espécie, the fine and
interest, where and until when it is payable.

The amounts boxes. An original boleto prints its amount as "(=) Valor do documento" and leaves
(−) desconto, (−) outras deduções, (+) mora/multa, (+) outros acréscimos and (=) valor cobrado
blank: the bank's caixa fills them when the boleto is paid late. A second copy is issued for the
invoice's open balance plus the fine and interest up to its new due date, and its barcode encodes
that sum; it prints the open balance as "(=) Valor do documento", the fine and interest as
"(+) Mora / Multa" and the sum — the barcode's amount, what the bank registered — as
"(=) Valor cobrado", so the figures printed add up to what the payer pays by the due date.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..domain.clock import local_day
from ..domain.documents import BoletoKind
from ..domain.money import format_brl
from ..domain.organizations import format_cnpj
from ..domain.proration import round_cents

if TYPE_CHECKING:
    from ..adapters.bank import BoletoRequest
    from ..domain.addresses import Address
    from ..domain.billing import Invoice
    from ..domain.boleto import BoletoCodes
    from ..settings import Settings

BANK_NAMES = {"001": "Banco do Brasil", "341": "Itaú"}
# Aceite "N": the payer did not sign the título (a duplicata de serviço sent by the beneficiary).
ACCEPTANCE = "N"
CURRENCY = "R$"


def pdf_data(settings: Settings, invoice: Invoice, made: BoletoCodes, request: BoletoRequest, kind: BoletoKind,
             pix_payload: Optional[str], parties, processed_on: date, *,
             pix_expires_on: Optional[date] = None) -> Dict[str, Any]:
    """The fields `rendering.pdf.boleto_pdf` prints for the boleto `made`, registered as `request`.

    `invoice` is the invoice as it was before this boleto: for a second copy, its active boleto is
    the one replaced. `pix_expires_on`: the last day the bank's Pix is payable, when the bank said
    it; otherwise the boleto's limit day (the bank registers both with the same limit).
    """
    beneficiary, _customer = parties
    itau = made.bank_code == "341"
    agency_code = (f"{settings.boleto_itau_agencia} / {settings.boleto_itau_conta}" if itau
                   else f"Convênio {settings.boleto_bb_convenio}")
    limit = last_payable_day(request)
    replaced = _replaced(invoice, made) if kind is BoletoKind.SECOND_COPY else None
    return {
        "bank_code": made.bank_code, "bank_name": BANK_NAMES.get(made.bank_code, made.bank_code),
        "digitable_line": made.digitable_line, "barcode": made.barcode, "due_date": made.due_date.isoformat(),
        "nosso_numero": made.nosso_numero, "payment_place": payment_place(request),
        "beneficiary": {**beneficiary, "address": settings.beneficiary_address, "agency_code": agency_code},
        "payer": {"name": request.payer.name, "document": _document(request.payer.document),
                  "address_lines": address_lines(request.payer.address)},
        # Sacador/avalista: none, the beneficiary is the one who sold the service.
        "guarantor": "",
        "document_date": local_day(datetime.fromisoformat(invoice.issued_at)).isoformat(),
        "document_number": request.document_number,
        # Espécie do documento as registered: "DS", duplicata de serviço (a service invoice).
        "document_kind": request.document_kind,
        "acceptance": ACCEPTANCE, "processed_on": processed_on.isoformat(),
        "wallet": settings.boleto_itau_carteira if itau else settings.boleto_bb_carteira,
        "currency": CURRENCY, "quantity": "", "unit_value": "", "bank_use": "",
        "amounts": amounts(invoice, made, kind),
        "instructions": instructions(invoice, made, request, kind, replaced, Decimal(settings.late_fine_rate)),
        "pix_payload": pix_payload,
        "pix_expires_on": (pix_expires_on or limit).isoformat() if pix_payload else None}


def last_payable_day(request: BoletoRequest) -> date:
    """The last day the bank accepts the boleto (and its Pix): the due date plus the days it was told."""
    return request.due_date + timedelta(days=request.payable_days_after_due)


def payment_place(request: BoletoRequest) -> str:
    """The "local de pagamento": where the boleto is paid before and after its due date, as registered.
    Never "até o vencimento" alone beside late-payment instructions: a registered boleto is paid in
    any bank until its limit day, with the fine and interest the bank computes."""
    if request.payable_days_after_due <= 0:
        return "Pagável em qualquer banco ou pelo Pix até o vencimento. Não receber após o vencimento."
    return (f"Pagável em qualquer banco ou pelo Pix até o vencimento. Após o vencimento, em qualquer banco ou "
            f"pelo Pix até {last_payable_day(request):%d/%m/%Y}, com multa e juros calculados pelo banco.")


def amounts(invoice: Invoice, made: BoletoCodes, kind: BoletoKind) -> Dict[str, Optional[int]]:
    """The amounts boxes, in centavos; None prints blank (filled by the bank's caixa). See the module's
    docstring for the reading: document + late_charges = charged, and charged is the barcode's amount."""
    blank: Dict[str, Optional[int]] = {"document": made.amount_cents, "discount": None, "deductions": None,
                                       "late_charges": None, "additions": None, "charged": None}
    late = made.amount_cents - invoice.balance_cents
    if kind is BoletoKind.SECOND_COPY and late > 0:
        return {**blank, "document": invoice.balance_cents, "late_charges": late, "charged": made.amount_cents}
    return blank


def instructions(invoice: Invoice, made: BoletoCodes, request: BoletoRequest, kind: BoletoKind,
                 replaced=None, fine_rate: Optional[Decimal] = None) -> List[str]:
    """The beneficiary's instructions, in the terms the bank registered (request): the fine from the
    day after the due date, the interest per day late, the last day the bank accepts the boleto."""
    lines = [f"Referente à fatura nº {invoice.number} — período {invoice.period_start:%d/%m/%Y} "
             f"a {invoice.period_end:%d/%m/%Y}."]
    charged = amounts(invoice, made, kind)
    if charged["late_charges"] is not None:
        lines.append(_late_charges_line(invoice, made, request, charged["document"], charged["late_charges"],
                                        request.fine_rate if fine_rate is None else fine_rate))
    if request.payable_days_after_due > 0 and request.interest_base_cents is not None:
        # A second copy: its amount holds the fine already; the bank adds interest on the open balance.
        per_day = round_cents(Decimal(request.interest_base_cents) * request.monthly_interest / 30)
        lines.append(f"Após o vencimento: juros de {format_brl(per_day)} por dia; sem nova multa.")
        lines.append(f"Não receber após {last_payable_day(request):%d/%m/%Y}.")
    elif request.payable_days_after_due > 0:
        fine = round_cents(Decimal(request.amount_cents) * request.fine_rate)
        after = request.due_date + timedelta(days=1)
        lines.append(f"Após o vencimento, o banco cobra sobre {format_brl(request.amount_cents)}: multa de "
                     f"{_percent(request.fine_rate)} ({format_brl(fine)}) a partir de {after:%d/%m/%Y} e juros de "
                     f"mora de {_percent(request.monthly_interest)} ao mês, por dia de atraso.")
        lines.append(f"Não receber após {last_payable_day(request):%d/%m/%Y}.")
    else:
        lines.append("Não receber após o vencimento.")
    if replaced is not None:
        lines.append(f"2ª via: substitui o boleto nosso número {replaced.nosso_numero}, vencimento "
                     f"{replaced.due_date:%d/%m/%Y}, de {format_brl(replaced.amount_cents)}, baixado no banco: "
                     f"aquele boleto e o seu Pix não são mais aceitos.")
    return lines


def _late_charges_line(invoice: Invoice, made: BoletoCodes, request: BoletoRequest, balance: int, late: int,
                       fine_rate: Decimal) -> str:
    """What a second copy's (+) mora/multa is: the fine and the interest from the invoice's due date to
    the second copy's. The fine is recomputed as the second copy's amount was; the interest is the rest,
    so the line adds up to the printed box whatever the rounding."""
    days = (made.due_date - invoice.due_date).days
    fine = round_cents(Decimal(balance) * fine_rate)
    period = f"{invoice.due_date:%d/%m/%Y} a {made.due_date:%d/%m/%Y}"
    if days <= 0 or not 0 <= fine <= late:
        return f"Valor cobrado: saldo em aberto de {format_brl(balance)} + multa e juros ({format_brl(late)})."
    return (f"Valor cobrado: saldo em aberto de {format_brl(balance)} + multa de {_percent(fine_rate)} "
            f"({format_brl(fine)}) + juros de {_percent(request.monthly_interest)} ao mês por {days} dias, "
            f"de {period} ({format_brl(late - fine)}).")


def _replaced(invoice: Invoice, made: BoletoCodes):
    """The boleto a second copy replaces: the invoice's active one before it (None if there is none)."""
    old = invoice.active_boleto
    return old if old is not None and old.nosso_numero != made.nosso_numero else None


def _percent(rate: Decimal) -> str:
    """0.02 → '2%', 0.015 → '1,5%' (the rates as the bank registered them)."""
    value = (Decimal(rate) * 100).normalize()
    text = f"{value:f}"
    return text.replace(".", ",") + "%"


def _document(document: str) -> str:
    """The payer's CNPJ or CPF as printed ("CNPJ 11.222.333/0001-81")."""
    if len(document) == 14:
        return f"CNPJ {format_cnpj(document)}"
    if len(document) == 11 and document.isdigit():
        return f"CPF {document[:3]}.{document[3:6]}.{document[6:9]}-{document[9:]}"
    return document


def address_lines(address: Optional[Address]) -> List[str]:
    """An address as a bank prints the pagador's: street, number, complement, district; CEP, city/UF."""
    if address is None:
        return []
    street = ", ".join(part for part in (address.street, address.number, address.complement) if part)
    return [f"{street} — {address.district}", f"CEP {address.cep[:5]}-{address.cep[5:]} — {address.city}/{address.state}"]
