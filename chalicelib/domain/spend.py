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
