"""New Commerce rules: terms and renewals, the 7-day window, and how a change lands."""
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.domain import subscriptions as rules
from chalicelib.domain.errors import Conflict, InvalidInput, RuleViolation
from chalicelib.domain.proration import Segment
from chalicelib.domain.subscriptions import QuantityChange, SeatWindow, Subscription

WEEK = timedelta(days=7)
T0 = datetime(2026, 11, 11, 15, 0, tzinfo=timezone.utc)  # 12:00 in São Paulo


def active(quantity=10, windows=None):
    return Subscription(id="s", organization_id="o", sku="X", name="X", family="F", term="P1Y",
                        billing_frequency="monthly", status=rules.ACTIVE, quantity=quantity,
                        started_on=T0.date(), renews_on=date(2027, 11, 11), timeline=[Segment(T0.date(), quantity)],
                        windows=windows if windows is not None else [SeatWindow(T0, quantity)])


@pytest.mark.parametrize("start, term, renewal", [
    (date(2026, 1, 31), "P1M", date(2026, 2, 28)),
    (date(2028, 1, 31), "P1M", date(2028, 2, 29)),
    (date(2026, 11, 11), "P1Y", date(2027, 11, 11)),
    (date(2028, 2, 29), "P1Y", date(2029, 2, 28)),
    (date(2026, 12, 15), "P3Y", date(2029, 12, 15)),
])
def test_renewal_dates_follow_the_term_and_clamp_to_month_end(start, term, renewal):
    assert rules.renewal_after(start, term) == renewal


def test_a_reduction_inside_the_window_applies_now_and_outside_waits_for_renewal():
    sub = active(10)
    assert rules.decide_applies(sub, 4, T0 + timedelta(days=3), WEEK) == rules.APPLIES_NOW
    assert rules.decide_applies(sub, 4, T0 + WEEK - timedelta(seconds=1), WEEK) == rules.APPLIES_NOW
    assert rules.decide_applies(sub, 4, T0 + WEEK, WEEK) == rules.APPLIES_AT_RENEWAL
    assert rules.decide_applies(sub, 40, T0 + timedelta(days=300), WEEK) == rules.APPLIES_NOW  # increases: always


def test_only_the_seats_added_within_the_window_can_be_removed_at_once():
    sub = active(15, windows=[SeatWindow(T0, 10), SeatWindow(T0 + timedelta(days=20), 5)])
    now = T0 + timedelta(days=22)
    assert rules.reducible_seats(sub, now, WEEK) == 5
    assert rules.decide_applies(sub, 10, now, WEEK) == rules.APPLIES_NOW
    assert rules.decide_applies(sub, 9, now, WEEK) == rules.APPLIES_AT_RENEWAL


def test_the_deadline_is_shown_in_sao_paulo_time():
    deadline = rules.cancellation_allowed_until(active(), T0, WEEK)
    assert deadline.isoformat() == "2026-11-18T12:00:00-03:00"
    assert rules.cancellation_allowed_until(active(windows=[]), T0, WEEK) is None


def change(kind, from_quantity, to_quantity):
    return QuantityChange(id="c", subscription_id="s", organization_id="o", kind=kind, from_quantity=from_quantity,
                          to_quantity=to_quantity, requested_at="", requested_by="u", applies=rules.APPLIES_NOW,
                          status=rules.CHANGE_PENDING)


def test_an_applied_addition_starts_a_segment_today_and_opens_a_window_for_the_added_seats():
    later = T0 + timedelta(days=30)
    sub = rules.apply_change(active(10), change("quantity", 10, 13), later)
    assert sub.timeline == [Segment(T0.date(), 10), Segment(date(2026, 12, 11), 13)]
    assert sub.windows[-1] == SeatWindow(later, 3) and sub.pending_change is None
    assert sub.renews_on == date(2027, 11, 11)  # the term is kept


def test_an_applied_reduction_uses_up_the_newest_window_first():
    sub = active(15, windows=[SeatWindow(T0, 10), SeatWindow(T0 + timedelta(days=20), 5)])
    reduced = rules.apply_change(sub, change("quantity", 15, 12), T0 + timedelta(days=21))
    assert reduced.windows == [SeatWindow(T0, 10), SeatWindow(T0 + timedelta(days=20), 2)]


def test_a_provisioned_purchase_starts_the_term():
    pending = Subscription(id="s", organization_id="o", sku="X", name="X", family="F", term="P1M",
                           billing_frequency="monthly", status=rules.PENDING, quantity=0)
    bought = rules.apply_change(pending, change("purchase", 0, 8), T0)
    assert (bought.status, bought.quantity, bought.started_on, bought.renews_on) == \
        (rules.ACTIVE, 8, date(2026, 11, 11), date(2026, 12, 11))
    assert bought.windows == [SeatWindow(T0, 8)]


def test_a_change_to_zero_cancels_the_subscription():
    assert rules.apply_change(active(3), change("quantity", 3, 0), T0).status == rules.CANCELLED


@pytest.mark.parametrize("quantity", [-1, 10_001, 2.5, True, "3"])
def test_quantities_are_integers_within_the_limit(quantity):
    with pytest.raises(InvalidInput):
        rules.validate_quantity(quantity, 10_000)


def test_zero_needs_a_listed_reason():
    with pytest.raises(InvalidInput):
        rules.validate_reason(0, None)
    with pytest.raises(InvalidInput):
        rules.validate_reason(5, "motivo qualquer")
    assert rules.validate_reason(0, "rescisao_contrato") == "rescisao_contrato"
    assert rules.validate_reason(5, None) is None


def test_a_change_is_refused_while_another_is_being_provisioned_or_nothing_changes():
    sub = active(10)
    with pytest.raises(RuleViolation):
        rules.ensure_changeable(sub, 10)
    sub.pending_change = rules.PendingChange("c", 12, "", "u", rules.APPLIES_NOW)
    with pytest.raises(Conflict):
        rules.ensure_changeable(sub, 14)
    sub.status = rules.CANCELLED
    with pytest.raises(Conflict):
        rules.ensure_changeable(sub, 14)
