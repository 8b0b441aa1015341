"""Spend by month and product family: what an organisation was billed, net of credits and
cancellations, month by month (the licence panel's chart).

A month is the month an invoice's period ends in (the month it is billed for). A line counts
under the family of its SKU; credit lines (a credit note used, the rest of an invoice below zero
carried to a note) count in `credits_cents`, so the families plus the credits are the month's
total: the invoices' totals, cancelled invoices left out (their replacement, if any, counts).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from .billing import CANCELLED, Invoice
from .credits import CARRIED_SKU_PREFIX, CREDIT_SKU_PREFIX

OTHER_FAMILY = "Outros"


@dataclass(frozen=True)
class MonthSpend:
    month: str  # "YYYY-MM"
    families: Tuple[Tuple[str, int], ...]  # (family, amount_cents), by family name
    credits_cents: int
    total_cents: int


def months_until(today: date, count: int) -> List[str]:
    """The `count` months ending with `today`'s, oldest first: ['2025-12', …, '2026-11']."""
    index = today.year * 12 + today.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def first_day(month: str) -> date:
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1)


def is_credit(sku: str) -> bool:
    return sku.startswith(CREDIT_SKU_PREFIX) or sku.startswith(CARRIED_SKU_PREFIX)


def monthly_spend(invoices: Iterable[Invoice], family_of: Callable[[str], Optional[str]],
                  months: List[str]) -> List[MonthSpend]:
    """One entry per month of `months` (empty months too: the chart draws a bar for each)."""
    families: Dict[str, Dict[str, int]] = {m: {} for m in months}
    credits = {m: 0 for m in months}
    for invoice in invoices:
        month = f"{invoice.period_end:%Y-%m}"
        if invoice.status == CANCELLED or month not in families:
            continue
        for line in invoice.lines:
            if is_credit(line.sku):
                credits[month] += line.amount_cents
                continue
            family = family_of(line.sku) or OTHER_FAMILY
            families[month][family] = families[month].get(family, 0) + line.amount_cents
    return [MonthSpend(month=m, families=tuple(sorted(families[m].items())), credits_cents=credits[m],
                       total_cents=sum(families[m].values()) + credits[m]) for m in months]


# --- the monthly aggregate (issue #21 §1) --------------------------------------------------------
# Per organisation, month and SKU, the amount billed: moved by each invoice issued (+ its lines) or
# cancelled (− its lines) in the same transaction. Every credit line counts under one key.

CREDITS_SKU = "CREDITS"
MAX_REPORT_MONTHS = 36
GROUP_BY = ("family", "product", "month")
BACKOFFICE_GROUP_BY = ("organization", "family", "product", "month")


def aggregate_sku(sku: str) -> str:
    return CREDITS_SKU if is_credit(sku) else sku


def invoice_month(invoice: Invoice) -> str:
    return f"{invoice.period_end:%Y-%m}"


def spend_deltas(added: Optional[Invoice] = None, removed: Optional[Invoice] = None) -> Dict[Tuple[str, str], int]:
    """What an invoice issued (`added`) and/or one cancelled (`removed`) move, per (month, SKU),
    netted into one amount per key (a transaction touches an item once); keys that net to zero are
    left out (nothing to write)."""
    moved: Dict[Tuple[str, str], int] = {}
    for invoice, sign in ((added, 1), (removed, -1)):
        if invoice is None:
            continue
        for line in invoice.lines:
            key = (invoice_month(invoice), aggregate_sku(line.sku))
            moved[key] = moved.get(key, 0) + sign * line.amount_cents
    return {key: amount for key, amount in sorted(moved.items()) if amount != 0}


def parse_month(text: str) -> Optional[int]:
    """'2026-01' → a month index (year*12 + month-1); None when it is no month."""
    if len(text) != 7 or text[4] != "-" or not (text[:4].isdigit() and text[5:].isdigit()):
        return None
    year, month = int(text[:4]), int(text[5:])
    if not (1 <= month <= 12 and 2000 <= year <= 2999):
        return None
    return year * 12 + month - 1


def month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(first: str, last: str) -> List[str]:
    """Every month from `first` to `last`, both included (both already checked)."""
    start, end = parse_month(first), parse_month(last)
    assert start is not None and end is not None
    return [month_text(i) for i in range(start, end + 1)]


@dataclass(frozen=True)
class SpendRow:
    """One item of the aggregate: an organisation's amount for a SKU in a month."""
    month: str
    organization_id: str
    sku: str
    amount_cents: int


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    amount_cents: int


@dataclass(frozen=True)
class ReportMonth:
    month: str
    groups: Tuple[Group, ...]
    credits_cents: int
    total_cents: int


@dataclass(frozen=True)
class SpendReport:
    months: Tuple[ReportMonth, ...]
    groups: Tuple[Group, ...]
    credits_cents: int
    total_cents: int


def group_of(row: SpendRow, group_by: str, *, product: Callable[[str], Optional[Tuple[str, str]]],
             organization: Callable[[str], Optional[str]]) -> Tuple[str, str]:
    """(key, label) of a row's group. `product(sku)`: (name, family) from the catalog, None for an
    SKU it does not know (its amount goes under "Outros")."""
    if group_by == "month":
        return row.month, row.month
    if group_by == "organization":
        return row.organization_id, organization(row.organization_id) or row.organization_id
    known = product(row.sku)
    if group_by == "product":
        return (row.sku, known[0]) if known else (row.sku, f"{OTHER_FAMILY} ({row.sku})")
    family = known[1] if known else OTHER_FAMILY
    return family, family


def spend_report(rows: Iterable[SpendRow], months: List[str], group_by: str, *,
                 product: Callable[[str], Optional[Tuple[str, str]]],
                 organization: Callable[[str], Optional[str]] = lambda _: None) -> SpendReport:
    """Every month of `months` (empty ones too), each with its groups, credits (netted) and total;
    the groups over the whole period, largest first; groups that net to zero left out."""
    by_month: Dict[str, Dict[str, int]] = {m: {} for m in months}
    credits = {m: 0 for m in months}
    labels: Dict[str, str] = {}
    for row in rows:
        if row.month not in by_month or row.amount_cents == 0:
            continue
        if row.sku == CREDITS_SKU:
            credits[row.month] += row.amount_cents
            continue
        key, label = group_of(row, group_by, product=product, organization=organization)
        labels[key] = label
        by_month[row.month][key] = by_month[row.month].get(key, 0) + row.amount_cents
    whole: Dict[str, int] = {}
    for groups in by_month.values():
        for key, amount in groups.items():
            whole[key] = whole.get(key, 0) + amount

    def ordered(groups: Dict[str, int]) -> Tuple[Group, ...]:
        return tuple(Group(k, labels[k], a) for k, a in sorted(groups.items(), key=lambda i: (-i[1], labels[i[0]]))
                     if a != 0)

    report_months = tuple(ReportMonth(m, ordered(by_month[m]), credits[m], sum(by_month[m].values()) + credits[m])
                          for m in months)
    return SpendReport(months=report_months, groups=ordered(whole), credits_cents=sum(credits.values()),
                       total_cents=sum(m.total_cents for m in report_months))
