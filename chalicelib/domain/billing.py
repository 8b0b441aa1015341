"""Invoices: lines from each subscription's quantity timeline, due dates on bank business days,
and the states an invoice goes through. Money is integer centavos; each line is rounded once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from . import error_codes as codes
from .documents import Boleto, BoletoKind, Nfse, current_boleto
from .money import format_brl
from .proration import Period, Segment, period_containing, prorated_lines

OPEN = "open"
OVERDUE = "overdue"
PAID = "paid"
CANCELLED = "cancelled"
STATUSES = (OPEN, OVERDUE, PAID, CANCELLED)

PAYMENT_METHODS = ("deposito", "boleto")
# As users read them (the portal's own labels: templates/portal/app.js INVOICE_STATUS).
STATUS_LABELS = {OPEN: "em aberto", OVERDUE: "vencida", PAID: "paga", CANCELLED: "cancelada"}
CANCELLABLE = (OPEN, OVERDUE)


@dataclass(frozen=True)
class BillableSubscription:
    sku: str
    name: str
    timeline: Sequence[Segment]


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    sku: str
    quantity: int
    days: int
    period_days: int
    unit_price_cents: int
    amount_cents: int
    start: date
    end: date


@dataclass(frozen=True)
class Cancellation:
    """Why and by whom an invoice was cancelled; the NFS-e cancellation event's protocol (None when
    the invoice had no NFS-e, or when the emitter had already registered the event on a first
    attempt whose answer was lost); the invoice issued in its place, if any."""

    cancelled_at: str
    cancelled_by: str
    reason: str
    nfse_protocol: Optional[str] = None
    reissued_invoice_id: Optional[str] = None
    reissued_number: Optional[int] = None


@dataclass
class Invoice:
    id: str
    organization_id: str
    contract_id: str
    number: int
    period_start: date
    period_end: date
    issued_at: str
    due_date: date
    lines: List[InvoiceLine]
    total_cents: int
    payment_method: str
    status: str = OPEN
    paid_cents: int = 0
    final: bool = False
    email_queued_at: Optional[str] = None
    # Documents: every boleto issued for it (the last active one is payable), the NFS-e, the PDF.
    boletos: Tuple[Boleto, ...] = ()
    nfse: Optional[Nfse] = None
    pdf_key: Optional[str] = None
    email_error: Optional[str] = None
    # Credit notes granted against this invoice so far: never more than its total.
    credited_cents: int = 0
    cancellation: Optional[Cancellation] = None
    version: int = 1

    @property
    def active_boleto(self) -> Optional[Boleto]:
        return current_boleto(self.boletos)

    @property
    def balance_cents(self) -> int:
        # A paid second copy brings in fine and interest on top of the total: nothing is left owed.
        return max(0, self.total_cents - self.paid_cents)


def describe(name: str, quantity: int, days: int, period_days: int) -> str:
    """'Microsoft 365 E3 — 12 licenças × 10/30 dias' (pt-BR, singular for one)."""
    seats = "licença" if quantity == 1 else "licenças"
    return f"{name} — {quantity} {seats} × {days}/{period_days} dias"


def invoice_lines(subscriptions: Iterable[BillableSubscription], price_of: Callable[[str], int],
                  period: Period) -> List[InvoiceLine]:
    """One line per segment of each subscription at a non-zero quantity inside the period."""
    lines = []
    for sub in sorted(subscriptions, key=lambda s: (s.name, s.sku)):
        price = price_of(sub.sku)
        for line in prorated_lines(price, sub.timeline, period):
            lines.append(InvoiceLine(
                description=describe(sub.name, line.quantity, line.days, line.period_days), sku=sub.sku,
                quantity=line.quantity, days=line.days, period_days=line.period_days,
                unit_price_cents=line.unit_price_cents, amount_cents=line.amount_cents,
                start=line.start, end=line.end))
    return lines


def closing_date(period_month: str, closing_day: int) -> date:
    """'2026-11' with closing day 20 → 20 Nov 2026: the end of the period billed in that month."""
    try:
        year, month = (int(part) for part in period_month.split("-"))
        return date(year, month, closing_day)
    except (ValueError, TypeError):
        raise codes.INVALID_PERIOD(field="period")


def period_ending(closing: date, closing_day: int, starts_on: Optional[date] = None) -> Period:
    """The period ending on `closing`; when the closing day took effect after that period's natural
    start (`starts_on`, the contract's `terms_from`), the period starts then and its days are still
    fractions of the natural period: no day is billed twice, none is left out."""
    natural = period_containing(closing, closing_day)
    if starts_on is None or starts_on <= natural.start:
        return natural
    return Period(start=starts_on, end=natural.end, basis_days=natural.days)


# --- bank business days -----------------------------------------------------------------------

@lru_cache(maxsize=64)
def bank_holidays(year: int, state: Optional[str] = None, city_holidays: Tuple[str, ...] = ()) -> frozenset:
    """Days banks do not open: national holidays, Carnival Monday and Tuesday, Corpus Christi,
    31 December (no public service), the state's holidays and the configured city ones ("MM-DD")."""
    import holidays  # loaded on first use: it is large and only billing needs it
    from holidays.constants import OPTIONAL, PUBLIC

    from dateutil.easter import easter  # a dependency of holidays (and part of the Lambda runtime)

    days = set(holidays.Brazil(years=year, categories=(PUBLIC,)))
    # Of the optional days, banks close on Carnival Monday and Tuesday and on Corpus Christi (not on
    # Ash Wednesday, Christmas Eve or Public Servants' Day). Picked by date, not by name: holiday
    # names follow the process's locale.
    sunday = easter(year)
    optional = set(holidays.Brazil(years=year, categories=(OPTIONAL,)))
    days |= optional & {sunday - timedelta(days=48), sunday - timedelta(days=47), sunday + timedelta(days=60)}
    days.add(date(year, 12, 31))
    if state:
        days |= set(holidays.Brazil(years=year, subdiv=state, categories=(PUBLIC,)))
    for month_day in city_holidays:
        month, day = (int(part) for part in month_day.split("-"))
        days.add(date(year, month, day))
    return frozenset(days)


def is_bank_business_day(day: date, state: Optional[str] = None, city_holidays: Tuple[str, ...] = ()) -> bool:
    return day.weekday() < 5 and day not in bank_holidays(day.year, state, tuple(city_holidays))


def next_bank_business_day(day: date, state: Optional[str] = None, city_holidays: Tuple[str, ...] = ()) -> date:
    """`day` itself when banks open on it, else the first day after it that they do."""
    while not is_bank_business_day(day, state, tuple(city_holidays)):
        day += timedelta(days=1)
    return day


def add_bank_business_days(day: date, count: int, state: Optional[str] = None,
                           city_holidays: Tuple[str, ...] = ()) -> date:
    """The `count`-th bank business day after `day` (`day` itself not counted; 0 → `day`)."""
    for _ in range(count):
        day = next_bank_business_day(day + timedelta(days=1), state, city_holidays)
    return day


def due_date(closing: date, days_after: int, state: Optional[str] = None,
             city_holidays: Tuple[str, ...] = (), *, issued_on: Optional[date] = None,
             business_days_after_issue: int = 0) -> date:
    """The later of closing + N days and `issued_on` + M bank business days, moved forward to the
    next bank business day. The floor on the issue day is why a late run, a rerun or a final
    invoice never issues a boleto already overdue: the customer always has M bank days to pay it."""
    day = closing + timedelta(days=days_after)
    if issued_on is not None:
        day = max(day, add_bank_business_days(issued_on, business_days_after_issue, state, city_holidays))
    return next_bank_business_day(day, state, city_holidays)


def second_copy_due_date(requested_on: date, business_days: int, state: Optional[str] = None,
                         city_holidays: Tuple[str, ...] = ()) -> date:
    """A second copy is due `business_days` bank business days after the day it is asked for."""
    return next_bank_business_day(add_bank_business_days(requested_on, business_days, state, city_holidays),
                                  state, city_holidays)


# --- payments -----------------------------------------------------------------------------------

def validate_payment(invoice: Invoice, amount_cents: int, method: str) -> None:
    if invoice.status in (PAID, CANCELLED):
        raise codes.INVOICE_NOT_PAYABLE(status=invoice.status)
    if method not in PAYMENT_METHODS:
        raise codes.INVALID_PAYMENT_METHOD(field="method", allowed=list(PAYMENT_METHODS))
    if amount_cents <= 0:
        raise codes.INVALID_AMOUNT(field="amount_cents")
    if amount_cents > payable_cents(invoice):
        raise codes.OVERPAYMENT(balance_cents=invoice.balance_cents, payable_cents=payable_cents(invoice))


def payable_cents(invoice: Invoice) -> int:
    """The balance, or the amount of a second-copy boleto in force (the balance plus fine and interest)."""
    boleto = invoice.active_boleto
    late_charges = boleto.amount_cents - invoice.balance_cents \
        if boleto is not None and boleto.kind is BoletoKind.SECOND_COPY else 0
    return invoice.balance_cents + max(0, late_charges)


def after_payment(invoice: Invoice, amount_cents: int) -> Tuple[int, str]:
    """(paid so far, new status): paid in full closes it; a partial payment keeps the balance open."""
    paid = invoice.paid_cents + amount_cents
    return paid, PAID if paid >= invoice.total_cents else invoice.status


def check_cancellable(invoice: Invoice) -> None:
    """Only an open or overdue invoice nobody has paid anything of: a paid one needs a refund,
    which is not done through the portal. Its documents must be made (the issue's documents step
    would otherwise register a boleto for a cancelled invoice)."""
    if invoice.status not in CANCELLABLE:
        raise codes.INVOICE_NOT_CANCELLABLE(number=invoice.number, status=invoice.status,
                                            status_label=STATUS_LABELS.get(invoice.status, invoice.status))
    if invoice.paid_cents > 0:
        raise codes.INVOICE_HAS_PAYMENTS(number=invoice.number, paid_cents=invoice.paid_cents,
                                         paid=format_brl(invoice.paid_cents))
    if invoice.credited_cents > 0:
        raise codes.INVOICE_HAS_CREDIT_NOTES(number=invoice.number, credited_cents=invoice.credited_cents,
                                             credited=format_brl(invoice.credited_cents))
    if invoice.email_queued_at is None:
        raise codes.INVOICE_DOCUMENTS_PENDING(number=invoice.number)


def becomes_overdue(invoice: Invoice, today: date) -> bool:
    return invoice.status == OPEN and invoice.due_date < today and invoice.balance_cents > 0
