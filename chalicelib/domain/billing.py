"""Invoices: lines from each subscription's quantity timeline, due dates on bank business days,
and the states an invoice goes through. Money is integer centavos; each line is rounded once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from decimal import Decimal

from . import error_codes as codes
from . import terms
from .clock import local_day
from .documents import Boleto, BoletoFailure, BoletoKind, Nfse, NfseFailure, current_boleto, nfse_status
from .money import format_brl
from .proration import Period, Segment, period_containing, prorated_lines, round_cents
from .subscriptions import BILLED_STATUSES, Subscription, add_months, renewal_after

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
    """What billing needs of a subscription: its quantity timeline and, for an up-front plan, where
    its terms start (`started_on`, chained by `renewal_after`) and whether the next one will."""

    sku: str
    name: str
    timeline: Sequence[Segment]
    term: str = terms.P1M
    billing_frequency: str = terms.MONTHLY
    started_on: Optional[date] = None
    renews_on: Optional[date] = None
    # Renews at `renews_on` (active, auto-renewing): a renewal the daily job has not made yet when
    # the period is billed is billed as the renewal it will be.
    renewing: bool = False


def billable(sub: Subscription) -> BillableSubscription:
    return BillableSubscription(sub.sku, sub.name, sub.timeline, term=sub.term,
                                billing_frequency=sub.billing_frequency, started_on=sub.started_on,
                                renews_on=sub.renews_on, renewing=sub.status in BILLED_STATUSES and sub.auto_renew)


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    sku: str
    quantity: int
    days: int
    period_days: int
    unit_price_cents: int  # per licence per month, as the catalog prices it
    # Negative: a credit (seats removed from a term paid up front, a credit note used). The lines
    # always add up to the invoice's total: below zero, a last positive line moves the rest to a
    # credit note (`credits.credit_left_by`).
    amount_cents: int
    start: date
    end: date
    # The subscription's term and plan; `term_start`/`term_end` the commitment term the line
    # belongs to, `months` the months charged per licence by an up-front line. None on invoices
    # issued before lines said so.
    term: Optional[str] = None
    billing_frequency: Optional[str] = None
    term_start: Optional[date] = None
    term_end: Optional[date] = None
    months: Optional[int] = None


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


@dataclass(frozen=True)
class Dispute:
    """An operator's flag on an invoice the customer contests: while it stands, the invoice is not
    marked overdue and no collection step (reminder, block, suspension) counts it."""

    reason: str
    opened_by: str
    opened_at: str


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
    # Why it has no NFS-e yet: the emitter's last refusal (None once a note is issued).
    nfse_failure: Optional[NfseFailure] = None
    # Why a boleto invoice has no boleto yet: its registration's last refusal (None once registered).
    boleto_failure: Optional[BoletoFailure] = None
    # Credit notes the operators granted against this invoice so far: never more than its total. A
    # credit note the invoice itself left (its lines below zero) is not counted: it was never in it.
    credited_cents: int = 0
    cancellation: Optional[Cancellation] = None
    dispute: Optional[Dispute] = None
    version: int = 1

    @property
    def active_boleto(self) -> Optional[Boleto]:
        return current_boleto(self.boletos)

    @property
    def nfse_status(self) -> str:
        return nfse_status(self.nfse, self.nfse_failure, self.status == CANCELLED)

    @property
    def balance_cents(self) -> int:
        # A paid second copy brings in fine and interest on top of the total: nothing is left owed.
        return max(0, self.total_cents - self.paid_cents)


def pdf_handed_out(invoice: Invoice) -> bool:
    """Whether the invoice's PDF is offered (rendered on its first download, issue #22): once its
    documents step has recorded what it made, which always ends with the NFS-e or the emitter's
    refusal (as when that step rendered the PDF itself), or once a PDF is recorded (a cancelled
    invoice's, or one rendered by billing before)."""
    return invoice.pdf_key is not None or invoice.nfse is not None or invoice.nfse_failure is not None


def describe(name: str, quantity: int, days: int, period_days: int, note: str = "") -> str:
    """'Microsoft 365 E3 — 12 licenças × 10/30 dias' (pt-BR, singular for one), and the term's note
    for a longer term billed monthly (' (anual, cobrança mensal)')."""
    seats = "licença" if quantity == 1 else "licenças"
    return f"{name} — {quantity} {seats} × {days}/{period_days} dias{note}"


def _br(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _term_words(term: str, block: int, blocks: int) -> str:
    """'anual', '3 anos', '3 anos (ano 2 de 3)' for a 3-year term billed a year at a time."""
    words = terms.TERM_LABELS.get(term, term)
    return f"{words} (ano {block + 1} de {blocks})" if blocks > 1 else words


def describe_upfront(name: str, quantity: int, term_words: str, start: date, end: date) -> str:
    """'Microsoft 365 E5 — 10 licenças, anual, 15/09/2026 a 14/09/2027': a term paid up front."""
    seats = "licença" if quantity == 1 else "licenças"
    return f"{name} — {quantity} {seats}, {term_words}, {_br(start)} a {_br(end)}"


def describe_upfront_change(name: str, added: int, days: int, block_days: int, term_words: str, start: date,
                            end: date) -> str:
    """'Microsoft 365 E5 — +2 licenças × 184/365 dias, anual, 15/03/2027 a 14/09/2027': seats added
    to (or, '−2 … (crédito)', removed from) a term paid up front, pro rata to its end."""
    seats = "licença" if abs(added) == 1 else "licenças"
    sign = "+" if added > 0 else "−"
    credit = " (crédito)" if added < 0 else ""
    return (f"{name} — {sign}{abs(added)} {seats} × {days}/{block_days} dias, {term_words}, "
            f"{_br(start)} a {_br(end)}{credit}")


def quantity_on(timeline: Sequence[Segment], day: date) -> int:
    """The quantity in force on `day` (0 before the first segment)."""
    quantity = 0
    for segment in sorted(timeline, key=lambda s: s.start):
        if segment.start > day:
            break
        quantity = segment.quantity
    return quantity


@dataclass(frozen=True)
class Block:
    """A stretch of a term paid at once: the whole term, or one year of a 3-year term."""

    term_start: date
    term_end: date  # inclusive
    start: date
    end: date  # inclusive
    index: int
    count: int
    months: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _term_starts(sub: BillableSubscription, until: date) -> List[date]:
    """The first days of the terms the subscription has begun by `until`: from its start, each
    renewal on the previous term's renewal day (`renewal_after`, as the renewal job chains them).
    A term begins only while the subscription renews: before `renews_on`, or at it if it is about to
    renew; once lapsed (no `renews_on`), up to the term in which its quantity went to zero."""
    first = sub.started_on or (min(s.start for s in sub.timeline) if sub.timeline else None)
    if first is None:
        return []
    if sub.renews_on is not None:
        limit = sub.renews_on + timedelta(days=1) if sub.renewing else sub.renews_on
    else:
        ordered = sorted(sub.timeline, key=lambda s: s.start)
        if not ordered or ordered[-1].quantity != 0:
            return [first] if first <= until else []  # no renewal on record: only its first term
        # Lapsed: the terms begun before the renewal day it lapsed on (its expiry may have been
        # provisioned a day or two later, which begins no term).
        limit = ordered[-1].start + timedelta(days=1)
    starts, start = [], first
    while start < limit:
        starts.append(start)
        start = renewal_after(start, sub.term)
    if sub.renews_on is None and len(starts) > 1:
        starts.pop()  # the lapse's renewal day
    return [s for s in starts if s <= until]


def blocks(sub: BillableSubscription, until: date) -> List[Block]:
    """The up-front blocks of the terms begun by `until` (none for a monthly plan)."""
    months = terms.upfront_months(sub.term, sub.billing_frequency)
    if months is None:
        return []
    found = []
    for term_start in _term_starts(sub, until):
        term_end = renewal_after(term_start, sub.term) - timedelta(days=1)
        count = max(1, terms.TERM_MONTHS[sub.term] // months)
        for index in range(count):
            start = add_months(term_start, index * months)
            end = term_end if index == count - 1 else add_months(term_start, (index + 1) * months) - timedelta(days=1)
            found.append(Block(term_start, term_end, start, end, index, count, months))
    return found


def upfront_lines(sub: BillableSubscription, price_on: Callable[[date], int], period: Period) -> List[InvoiceLine]:
    """An up-front plan's lines in the period: each block starting in it, charged whole for the
    quantity on its first day (monthly price × months, the price in force on the term's first
    day); and each change of quantity in it, inside a block, charged (or credited) pro rata to the
    block's end: seats added × monthly price × months × days to the end / days in the block."""
    lines = []
    for block in blocks(sub, period.end):
        price = price_on(block.term_start)
        words = _term_words(sub.term, block.index, block.count)
        extra = dict(sku=sub.sku, unit_price_cents=price, term=sub.term, billing_frequency=sub.billing_frequency,
                     term_start=block.term_start, term_end=block.term_end, months=block.months)
        quantity = quantity_on(sub.timeline, block.start)
        if period.start <= block.start <= period.end and quantity > 0:
            lines.append(InvoiceLine(
                description=describe_upfront(sub.name, quantity, words, block.start, block.end), quantity=quantity,
                days=block.days, period_days=block.days, amount_cents=price * quantity * block.months,
                start=block.start, end=block.end, **extra))
        for segment in sorted(sub.timeline, key=lambda s: s.start):
            day = segment.start
            if not (block.start < day <= block.end and period.start <= day <= period.end):
                continue
            added = quantity_on(sub.timeline, day) - quantity_on(sub.timeline, day - timedelta(days=1))
            if added == 0:
                continue
            days = (block.end - day).days + 1
            amount = round_cents(Decimal(price) * added * block.months * days / block.days)
            lines.append(InvoiceLine(
                description=describe_upfront_change(sub.name, added, days, block.days, words, day, block.end),
                quantity=abs(added), days=days, period_days=block.days, amount_cents=amount, start=day,
                end=block.end, **extra))
    return lines


def monthly_lines(sub: BillableSubscription, price: int, period: Period) -> List[InvoiceLine]:
    """A monthly plan: one line per segment at a non-zero quantity, pro rata by day (`proration`)."""
    note = terms.monthly_note(sub.term)
    return [InvoiceLine(
        description=describe(sub.name, line.quantity, line.days, line.period_days, note), sku=sub.sku,
        quantity=line.quantity, days=line.days, period_days=line.period_days,
        unit_price_cents=line.unit_price_cents, amount_cents=line.amount_cents, start=line.start, end=line.end,
        term=sub.term, billing_frequency=sub.billing_frequency)
        for line in prorated_lines(price, sub.timeline, period)]


def invoice_lines(subscriptions: Iterable[BillableSubscription], price_of: Callable[[str, date], int],
                  period: Period) -> List[InvoiceLine]:
    """Every line of the period, subscription by subscription (by name): a monthly plan's segments
    at the price of the period's first day, an up-front plan's blocks and changes at the price of
    the term's first day. `price_of(sku, day)` is the catalog's price in force on that day."""
    lines = []
    for sub in sorted(subscriptions, key=lambda s: (s.name, s.sku)):
        if terms.upfront_months(sub.term, sub.billing_frequency) is None:
            lines.extend(monthly_lines(sub, price_of(sub.sku, period.start), period))
        else:
            lines.extend(upfront_lines(sub, lambda day, sku=sub.sku: price_of(sku, day), period))
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
    return (invoice.status == OPEN and invoice.due_date < today and invoice.balance_cents > 0
            and invoice.dispute is None)


def check_paid_on(invoice: Invoice, paid_on: date, today: date) -> None:
    """A payment is dated between the invoice's issue and today (São Paulo days): a bank cannot
    have liquidated a boleto before it existed, nor tomorrow."""
    issued_on = local_day(datetime.fromisoformat(invoice.issued_at))
    if paid_on > today:
        raise codes.INVALID_DATE(field="paid_on", latest=today.isoformat())
    if paid_on < issued_on:
        raise codes.INVALID_DATE(field="paid_on", earliest=issued_on.isoformat())


# --- a purchase's first charge (the checkout review) ----------------------------------------------

def purchase_lines(sku: str, name: str, term: str, billing_frequency: str, quantity: int, activated_on: date,
                   price_of: Callable[[str, date], int], period: Period) -> List[InvoiceLine]:
    """The lines a purchase activated on `activated_on` puts on the invoice of `period` (the one
    holding that day): the subscription it becomes (its term starting that day, renewing) priced by
    `invoice_lines` itself, so the checkout review and the next invoice are one computation."""
    sub = BillableSubscription(sku, name, [Segment(activated_on, quantity)], term=term,
                               billing_frequency=billing_frequency, started_on=activated_on,
                               renews_on=renewal_after(activated_on, term), renewing=True)
    return invoice_lines([sub], price_of, period)


def next_upfront_charge(term: str, billing_frequency: str, activated_on: date) -> Optional[date]:
    """When an up-front plan bought on `activated_on` is charged again: its next block (a year of
    a 3-year term billed yearly) or its renewal. None for a monthly plan (charged every period)."""
    months = terms.upfront_months(term, billing_frequency)
    if months is None:
        return None
    return min(add_months(activated_on, months), renewal_after(activated_on, term))
