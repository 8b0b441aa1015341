"""Daily pro-rata: worked examples by hand, and properties over random timelines."""
from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given, settings, strategies as st

from chalicelib.domain.proration import Period, Segment, period_containing, prorate, prorated_lines


def test_billing_periods_run_from_the_day_after_closing_to_the_closing_day():
    assert period_containing(date(2026, 11, 24), 20) == Period(date(2026, 11, 21), date(2026, 12, 20))
    assert period_containing(date(2026, 11, 20), 20) == Period(date(2026, 10, 21), date(2026, 11, 20))
    assert period_containing(date(2026, 12, 25), 20) == Period(date(2026, 12, 21), date(2027, 1, 20))
    assert period_containing(date(2028, 2, 15), 1).days == 29  # 2 Feb – 1 Mar 2028: leap February


def test_half_a_centavo_rounds_to_even():
    assert prorate(1, 1, 1, 2) == 0  # 0.5 → 0
    assert prorate(3, 1, 1, 2) == 2  # 1.5 → 2
    assert prorate(5, 1, 1, 2) == 2  # 2.5 → 2


def test_a_mid_period_change_gives_one_line_per_segment():
    period = Period(date(2026, 11, 11), date(2026, 12, 10))  # 30 days
    lines = prorated_lines(20710, [Segment(date(2026, 11, 11), 10), Segment(date(2026, 11, 20), 15)], period)
    assert [(l.quantity, l.days, l.amount_cents) for l in lines] == [(10, 9, 62130), (15, 21, 217455)]


timelines = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 500)), min_size=1, max_size=6)
prices = st.integers(1, 500_000)
closing_days = st.integers(1, 28)
anchors = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


def build(anchor, closing_day, raw):
    period = period_containing(anchor, closing_day)
    timeline = [Segment(period.start, raw[0][1])] + [
        Segment(period.start + timedelta(days=offset % period.days), qty) for offset, qty in raw[1:]]
    return period, timeline


@settings(max_examples=300, deadline=None)
@given(prices, closing_days, anchors, timelines)
def test_the_sum_of_lines_is_within_half_a_centavo_per_line_of_the_exact_total(price, closing_day, anchor, raw):
    period, timeline = build(anchor, closing_day, raw)
    lines = prorated_lines(price, timeline, period)
    exact = sum(Fraction(price * l.quantity * l.days, period.days) for l in lines)
    assert abs(sum(l.amount_cents for l in lines) - exact) <= Fraction(len(lines), 2)
    assert sum(l.days for l in prorated_lines(price, [Segment(s.start, 1) for s in timeline], period)) == period.days


@settings(max_examples=200, deadline=None)
@given(prices, st.integers(0, 1000), closing_days, anchors)
def test_a_constant_full_period_is_exactly_the_monthly_price(price, quantity, closing_day, anchor):
    period = period_containing(anchor, closing_day)
    lines = prorated_lines(price, [Segment(period.start - timedelta(days=40), quantity)], period)
    assert sum(l.amount_cents for l in lines) == price * quantity


@settings(max_examples=200, deadline=None)
@given(prices, closing_days, anchors, timelines, st.integers(1, 27))
def test_splitting_the_period_at_any_day_bills_the_same_within_a_centavo_per_line(price, closing_day, anchor, raw,
                                                                               split_offset):
    period, timeline = build(anchor, closing_day, raw)
    split = period.start + timedelta(days=split_offset % period.days)
    whole = prorated_lines(price, timeline, period)
    parts = [l for part in (Period(period.start, split - timedelta(days=1)), Period(split, period.end))
             if part.start <= part.end
             for l in prorated_lines(price, timeline, Period(part.start, part.end))]
    # Each part is billed over the full period's days, as a split invoice would be.
    parts = [prorate(price, l.quantity, l.days, period.days) for l in parts]
    assert abs(sum(parts) - sum(l.amount_cents for l in whole)) <= len(parts) + len(whole)
