"""Daily pro-rata over a quantity timeline: the arithmetic billing and price previews share.

charge = monthly unit price × quantity × days at that quantity / days in the period, one line per
segment, each rounded to the centavo once with ROUND_HALF_EVEN (ABNT NBR 5891).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import List, Optional, Sequence, Tuple


@dataclass(frozen=True)
class Segment:
    """From `start` (inclusive) the quantity is `quantity`, until the next segment starts."""

    start: date
    quantity: int


@dataclass(frozen=True)
class Period:
    """A billing period: `start` to `end`, both inclusive. `basis_days`, when set, is the length a
    day is a fraction of, for a period shorter than its natural one (the first period after a
    change of closing day): each day still costs 1/(days of the natural period) of the month."""

    start: date
    end: date
    basis_days: Optional[int] = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def basis(self) -> int:
        return self.basis_days or self.days


@dataclass(frozen=True)
class ProratedLine:
    quantity: int
    start: date
    end: date  # inclusive
    days: int
    period_days: int
    unit_price_cents: int
    amount_cents: int


def round_cents(value: Decimal) -> int:
    """The one rounding of money: to the centavo, half to even."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def prorate(unit_price_cents: int, quantity: int, days: int, period_days: int) -> int:
    return round_cents(Decimal(unit_price_cents) * quantity * days / period_days)


def segments_in(timeline: Sequence[Segment], start: date, end: date) -> List[Tuple[date, date, int]]:
    """The (first day, last day, quantity) runs of `timeline` that fall inside [start, end]."""
    ordered = sorted(timeline, key=lambda s: s.start)
    runs = []
    for index, segment in enumerate(ordered):
        following = ordered[index + 1].start if index + 1 < len(ordered) else end + timedelta(days=1)
        first, last = max(segment.start, start), min(following - timedelta(days=1), end)
        if first <= last:
            runs.append((first, last, segment.quantity))
    return runs


def prorated_lines(unit_price_cents: int, timeline: Sequence[Segment], period: Period) -> List[ProratedLine]:
    """One line per run at a non-zero quantity inside the period."""
    return [
        ProratedLine(quantity=qty, start=first, end=last, days=(last - first).days + 1, period_days=period.basis,
                     unit_price_cents=unit_price_cents,
                     amount_cents=prorate(unit_price_cents, qty, (last - first).days + 1, period.basis))
        for first, last, qty in segments_in(timeline, period.start, period.end)
        if qty > 0
    ]


def _add_months(day: date, months: int, day_of_month: int) -> date:
    month_index = day.year * 12 + day.month - 1 + months
    return date(month_index // 12, month_index % 12 + 1, day_of_month)


def period_containing(day: date, closing_day: int) -> Period:
    """The billing period of a contract closing on `closing_day` (1..28) that contains `day`.

    A period runs from the day after one closing to the next closing, inclusive: closing on the
    20th, 24 Nov 2026 is in 21 Nov – 20 Dec 2026.
    """
    end = _add_months(day, 0 if day.day <= closing_day else 1, closing_day)
    start = _add_months(end, -1, closing_day) + timedelta(days=1)
    return Period(start=start, end=end)
