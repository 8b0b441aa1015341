"""The operator's receivables: what is owed across customers, its totals by age, the CSV an
accountant opens in Excel, and the dispute flag an operator puts on a contested invoice.

Pure: invoices and a day in, values out. How a disputed invoice counts: it is never collectable
(domain/dunning.collectable), so the totals put it in `disputed` only, never in `open`, `overdue`
or an age band, whatever its status; the whole filter's `count` and `balance_cents` include it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Dict, Iterable, Optional, Sequence

from . import error_codes as codes
from .billing import CANCELLED, OPEN, OVERDUE, STATUS_LABELS, Dispute, Invoice
from .clock import local_day
from .organizations import format_cnpj
from .spreadsheet import as_text, br_date, br_decimal, csv_document

DISPUTABLE = (OPEN, OVERDUE)
OWED = (OVERDUE, OPEN)  # no status asked: what is owed, the overdue first (the order pages come in)

# Days past due, both ends included; the last band has no end.
AGE_BANDS = (("days_1_30", 1, 30), ("days_31_60", 31, 60), ("days_61_90", 61, 90), ("days_over_90", 91, None))


def owed_cents(invoice: Invoice) -> int:
    """What is left to receive: a cancelled invoice owes nothing, whatever was not paid of it."""
    return 0 if invoice.status == CANCELLED else invoice.balance_cents


def days_past_due(invoice: Invoice, today: date) -> int:
    """Days since the due date of an invoice with something left to pay (0 on the due day and before,
    and for a paid or cancelled invoice: it owes nothing)."""
    if invoice.status not in (OPEN, OVERDUE) or invoice.balance_cents <= 0:
        return 0
    return max(0, (today - invoice.due_date).days)


def age_band(days: int) -> str:
    """The band of an overdue invoice; one marked overdue is at least a day late (a day 0 cannot
    happen, and would count in the first band)."""
    for name, _first, last in AGE_BANDS:
        if last is None or days <= last:
            return name
    raise AssertionError(days)  # the last band has no end


@dataclass
class Sum:
    count: int = 0
    balance_cents: int = 0

    def add(self, invoice: Invoice) -> None:
        self.count += 1
        self.balance_cents += owed_cents(invoice)

    def view(self) -> Dict[str, int]:
        return {"count": self.count, "balance_cents": self.balance_cents}


def totals(invoices: Iterable[Invoice], today: date) -> Dict[str, object]:
    """The whole filter's totals: every invoice in `count`/`balance_cents`; the open and the
    overdue ones apart, the overdue by age band; a disputed invoice only in `disputed`."""
    everything, open_, overdue, disputed = Sum(), Sum(), Sum(), Sum()
    bands = {name: Sum() for name, _, _ in AGE_BANDS}
    for invoice in invoices:
        everything.add(invoice)
        if invoice.dispute is not None:
            disputed.add(invoice)
        elif invoice.status == OPEN:
            open_.add(invoice)
        elif invoice.status == OVERDUE:
            overdue.add(invoice)
            bands[age_band(days_past_due(invoice, today))].add(invoice)
    return {"count": everything.count, "balance_cents": everything.balance_cents, "open": open_.view(),
            "overdue": overdue.view(), "overdue_by_age": {name: s.view() for name, s in bands.items()},
            "disputed": disputed.view()}


def parse_day(raw: Optional[str], field: str) -> Optional[date]:
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise codes.INVALID_DUE_DATE(field=field) from None


def check_range(due_from: Optional[date], due_to: Optional[date]) -> None:
    if due_from is not None and due_to is not None and due_from > due_to:
        raise codes.INVALID_DUE_RANGE(field="due_from", due_from=due_from.isoformat(), due_to=due_to.isoformat())


# --- the dispute flag ---------------------------------------------------------------------------

def disputed(invoice: Invoice, reason: str, by: str, at: str) -> Invoice:
    """The invoice flagged: only an open or overdue one, and not twice (the first reason stands
    until it is resolved). Its status does not move: an overdue invoice stays overdue, an open one
    is left open by the daily job while the flag stands."""
    if invoice.status not in DISPUTABLE:
        raise codes.INVOICE_NOT_DISPUTABLE(number=invoice.number, status=invoice.status,
                                           status_label=STATUS_LABELS.get(invoice.status, invoice.status))
    if invoice.dispute is not None:
        raise codes.INVOICE_ALREADY_DISPUTED(number=invoice.number,
                                             opened_on=br_date(local_day(datetime.fromisoformat(
                                                 invoice.dispute.opened_at))))
    return replace(invoice, dispute=Dispute(reason=reason, opened_by=by, opened_at=at), version=invoice.version + 1)


def resolved(invoice: Invoice) -> Invoice:
    """The flag cleared; the next daily run marks the invoice overdue if it is past due."""
    if invoice.dispute is None:
        raise codes.INVOICE_NOT_DISPUTED(number=invoice.number)
    return replace(invoice, dispute=None, version=invoice.version + 1)


# --- CSV for Excel in Brazil --------------------------------------------------------------------

CSV_HEADERS = ("Cliente", "CNPJ", "Fatura nº", "Emissão", "Vencimento", "Situação", "Dias em atraso", "Total",
               "Pago", "Saldo", "Em contestação")


@dataclass(frozen=True)
class Row:
    invoice: Invoice
    organization_name: str
    cnpj: Optional[str]


def csv_text(rows: Sequence[Row], today: date) -> str:
    """The receivables as CSV, in the one convention of the portal's files (domain/spreadsheet.py)."""
    return csv_document(CSV_HEADERS, ([
        as_text(row.organization_name), format_cnpj(row.cnpj) if row.cnpj else "", row.invoice.number,
        br_date(local_day(datetime.fromisoformat(row.invoice.issued_at))), br_date(row.invoice.due_date),
        STATUS_LABELS.get(row.invoice.status, row.invoice.status).capitalize(), days_past_due(row.invoice, today),
        br_decimal(row.invoice.total_cents), br_decimal(row.invoice.paid_cents), br_decimal(owed_cents(row.invoice)),
        "Sim" if row.invoice.dispute is not None else "Não",
    ] for row in rows))


def csv_filename(today: date, status: Optional[str]) -> str:
    return f"faturas-{status or 'a-receber'}-{today.isoformat()}.csv"
