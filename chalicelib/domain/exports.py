"""The customer's exports for its ERP: invoices with their lines, subscriptions and the audit trail
of a period, as CSV files written by the one convention (`spreadsheet.csv_document`).

Which rows a period holds, decided once here:
- invoices: those whose billed period ENDS between `from` and `to` (both included), in any status
  (a cancelled one is marked in "Situação"); one row per invoice line, the invoice's columns repeated;
- subscriptions: those with at least one seat on some day between `from` and `to` (their quantity
  timeline), one row each, with the quantity in force on the period's last day it had seats;
- audit: the trail's entries between `from` 00:00 and `to` 23:59:59 in São Paulo, oldest first.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

from . import error_codes as codes
from .audit import AuditEntry
from .billing import CANCELLED as INVOICE_CANCELLED
from .billing import STATUS_LABELS as INVOICE_STATUS_LABELS
from .billing import Invoice
from .clock import SAO_PAULO, local_day
from .spreadsheet import as_text, br_date, br_decimal, csv_document
from .subscriptions import STATUS_LABELS as SUBSCRIPTION_STATUS_LABELS
from .subscriptions import Subscription
from .terms import TERM_LABELS, plan_label

INVOICES = "invoices"
SUBSCRIPTIONS = "subscriptions"
AUDIT = "audit"
KINDS = (INVOICES, SUBSCRIPTIONS, AUDIT)
MAX_DAYS = 366
# The presigned link of a file: short-lived; S3 deletes `exports/` after a day (infra lifecycle).
LINK_SECONDS = 300
PREFIX = "exports/"
_FILE_NAMES = {INVOICES: "faturas", SUBSCRIPTIONS: "assinaturas", AUDIT: "auditoria"}


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def first_instant(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=SAO_PAULO)

    @property
    def last_instant(self) -> datetime:
        return datetime.combine(self.end, time.max, tzinfo=SAO_PAULO)


@dataclass(frozen=True)
class ExportFile:
    kind: str
    period: Period
    filename: str
    data: bytes
    rows: int


def period(raw_from: str, raw_to: str) -> Period:
    """Both days as AAAA-MM-DD, `from` not after `to`, at most `MAX_DAYS` days (both included)."""
    start, end = _day(raw_from, "from"), _day(raw_to, "to")
    if start > end:
        raise codes.INVALID_EXPORT_RANGE(field="to", **{"from": raw_from, "to": raw_to})
    if (end - start).days + 1 > MAX_DAYS:
        raise codes.EXPORT_PERIOD_TOO_LONG(field="to", max_days=MAX_DAYS)
    return Period(start, end)


def _day(raw: str, field: str) -> date:
    try:
        return date.fromisoformat(raw)
    except (TypeError, ValueError):
        raise codes.INVALID_EXPORT_DATE(field=field) from None


def filename(kind: str, span: Period) -> str:
    """'faturas-2026-11-01-a-2026-11-30.csv'."""
    return f"{_FILE_NAMES[kind]}-{span.start.isoformat()}-a-{span.end.isoformat()}.csv"


def storage_key(organization_id: str, token: str, name: str) -> str:
    """Under the organisation's prefix, in a folder named by a random token (never guessable), in
    the `exports/` folder the bucket's lifecycle rule empties after a day."""
    return f"{PREFIX}{organization_id}/{token}/{name}"


def document(kind: str, span: Period, header: Sequence[str], rows: List[Sequence[object]]) -> ExportFile:
    data = csv_document(header, rows).encode("utf-8")
    return ExportFile(kind=kind, period=span, filename=filename(kind, span), data=data, rows=len(rows))


# --- invoices --------------------------------------------------------------------------------------

INVOICE_HEADER = ("Fatura nº", "Emissão", "Período início", "Período fim", "Vencimento", "Situação", "Total da fatura",
                  "Pago", "NFS-e nº", "Linha digitável", "SKU", "Descrição", "Quantidade", "Preço unitário",
                  "Valor da linha")


def invoice_rows(invoices: Iterable[Invoice], span: Period) -> List[Tuple[object, ...]]:
    """One row per line of each invoice whose period ends within `span` (an invoice without lines:
    one row with the line's columns empty), oldest period first, then by number."""
    chosen = sorted((i for i in invoices if span.start <= i.period_end <= span.end),
                    key=lambda i: (i.period_end, i.number))
    rows: List[Tuple[object, ...]] = []
    for invoice in chosen:
        boleto = invoice.active_boleto or (invoice.boletos[-1] if invoice.boletos else None)
        head = (invoice.number, br_date(local_day(datetime.fromisoformat(invoice.issued_at))), br_date(invoice.period_start),
                br_date(invoice.period_end), br_date(invoice.due_date), _invoice_status(invoice),
                br_decimal(invoice.total_cents), br_decimal(invoice.paid_cents),
                as_text(invoice.nfse.number) if invoice.nfse else "",
                as_text(boleto.digitable_line) if boleto else "")
        if not invoice.lines:
            rows.append(head + ("", "", "", "", ""))
        for line in invoice.lines:
            rows.append(head + (as_text(line.sku), as_text(line.description), line.quantity,
                                br_decimal(line.unit_price_cents), br_decimal(line.amount_cents)))
    return rows


def _invoice_status(invoice: Invoice) -> str:
    label = INVOICE_STATUS_LABELS.get(invoice.status, invoice.status).capitalize()
    return label if invoice.status != INVOICE_CANCELLED else "Cancelada"


# --- subscriptions ---------------------------------------------------------------------------------

SUBSCRIPTION_HEADER = ("Produto", "SKU", "Família", "Quantidade", "Prazo", "Plano", "Situação", "Início",
                       "Fim", "Renovação", "Preço unitário mensal", "Total mensal")


@dataclass(frozen=True)
class SeatsInPeriod:
    quantity: int  # in force on the period's last day with seats
    ended_on: Optional[date]  # the day it went to zero seats, if it did by the period's end


def seats_in_period(sub: Subscription, span: Period) -> Optional[SeatsInPeriod]:
    """None when the subscription had no seat on any day of `span` (its quantity timeline; one
    without a timeline counts from `started_on` with its quantity)."""
    timeline = sorted(sub.timeline, key=lambda s: s.start)
    if not timeline:
        if sub.started_on is None or sub.started_on > span.end or sub.quantity <= 0:
            return None
        return SeatsInPeriod(sub.quantity, None)
    quantity, had_seats, ended_on = 0, False, None
    for index, segment in enumerate(timeline):
        following = timeline[index + 1].start if index + 1 < len(timeline) else None
        last_day = following - timedelta(days=1) if following else None
        if segment.start > span.end:
            break
        if last_day is not None and last_day < span.start:
            continue
        if segment.quantity > 0:
            had_seats, quantity, ended_on = True, segment.quantity, None
        elif had_seats and ended_on is None:
            ended_on = segment.start
    return SeatsInPeriod(quantity, ended_on) if had_seats else None


def subscription_rows(subs: Iterable[Subscription], span: Period,
                      price_of: Callable[[str], Optional[int]]) -> List[Tuple[object, ...]]:
    """`price_of(sku)`: the monthly unit price in force on the period's last day (None: unknown)."""
    rows = []
    for sub in sorted(subs, key=lambda s: (s.name, s.sku, s.id)):
        seats = seats_in_period(sub, span)
        if seats is None:
            continue
        price = price_of(sub.sku)
        rows.append((as_text(sub.name), as_text(sub.sku), as_text(sub.family), seats.quantity,
                     TERM_LABELS.get(sub.term, sub.term).capitalize(), plan_label(sub.term, sub.billing_frequency),
                     SUBSCRIPTION_STATUS_LABELS.get(sub.status, sub.status).capitalize(),
                     br_date(sub.started_on) if sub.started_on else "",
                     br_date(seats.ended_on) if seats.ended_on else "",
                     br_date(sub.renews_on) if sub.renews_on and seats.ended_on is None else "",
                     br_decimal(price) if price is not None else "",
                     br_decimal(price * seats.quantity) if price is not None else ""))
    return rows


# --- audit trail -----------------------------------------------------------------------------------

AUDIT_HEADER = ("Quando", "Quem", "Ação", "Alvo", "Antes", "Depois", "IP de origem")


def audit_rows(entries: Iterable[AuditEntry]) -> List[Tuple[object, ...]]:
    """Oldest first; when in São Paulo (dd/mm/aaaa hh:mm:ss); everything typed as text."""
    rows = []
    for entry in sorted(entries, key=lambda e: (e.at, e.id)):
        moment = datetime.fromisoformat(entry.at).astimezone(SAO_PAULO)
        rows.append((moment.strftime("%d/%m/%Y %H:%M:%S"), as_text(entry.actor_email or entry.actor_id),
                     as_text(entry.action), as_text(entry.target), as_text(compact_json(entry.before)),
                     as_text(compact_json(entry.after)), as_text(entry.source_ip or "")))
    return rows


def compact_json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
