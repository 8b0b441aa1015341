"""Invoice lines worked out by hand, due dates on bank business days, payments and states."""
from datetime import date, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.domain import billing
from chalicelib.domain.billing import BillableSubscription, Invoice
from chalicelib.domain.errors import Conflict, InvalidInput, RuleViolation
from chalicelib.domain.proration import Period, Segment, period_containing

E3 = 20710  # R$ 207,10


def lines_for(timeline, period, price=E3, name="Microsoft 365 E3"):
    return billing.invoice_lines([BillableSubscription("MS365-E3", name, timeline)], lambda sku, day: price, period)


def table(lines):
    return [(l.description, l.amount_cents) for l in lines]


def test_a_30_day_period_at_constant_quantity_is_the_monthly_price():
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    assert table(lines_for([Segment(date(2026, 10, 1), 12)], period)) == [
        ("Microsoft 365 E3 — 12 licenças × 30/30 dias", 248520)]


def test_a_31_day_period_with_a_change_on_the_11th():
    period = Period(date(2026, 12, 1), date(2026, 12, 31))
    lines = lines_for([Segment(date(2026, 10, 1), 10), Segment(date(2026, 12, 11), 12)], period)
    # 207,10 × 10 × 10/31 = 668,064… → 668,06; 207,10 × 12 × 21/31 = 1.683,52…
    assert table(lines) == [("Microsoft 365 E3 — 10 licenças × 10/31 dias", 66806),
                            ("Microsoft 365 E3 — 12 licenças × 21/31 dias", 168352)]


def test_february_of_a_leap_year_has_29_days():
    period = Period(date(2028, 2, 1), date(2028, 2, 29))
    lines = lines_for([Segment(date(2028, 1, 1), 1), Segment(date(2028, 2, 15), 3)], period)
    # 207,10 × 1 × 14/29 = 99,98…; 207,10 × 3 × 15/29 = 321,36…
    assert table(lines) == [("Microsoft 365 E3 — 1 licença × 14/29 dias", 9998),
                            ("Microsoft 365 E3 — 3 licenças × 15/29 dias", 32136)]


def test_a_change_on_the_first_day_bills_only_the_new_quantity():
    period = Period(date(2026, 11, 11), date(2026, 12, 10))
    lines = lines_for([Segment(date(2026, 9, 1), 10), Segment(date(2026, 11, 11), 5)], period)
    assert table(lines) == [("Microsoft 365 E3 — 5 licenças × 30/30 dias", 103550)]


def test_a_change_on_the_last_day_bills_one_day_at_the_new_quantity():
    period = Period(date(2026, 11, 11), date(2026, 12, 10))
    lines = lines_for([Segment(date(2026, 9, 1), 10), Segment(date(2026, 12, 10), 11)], period)
    # 207,10 × 10 × 29/30 = 2.001,96…; 207,10 × 11 × 1/30 = 75,936… → 75,94
    assert table(lines) == [("Microsoft 365 E3 — 10 licenças × 29/30 dias", 200197),
                            ("Microsoft 365 E3 — 11 licenças × 1/30 dias", 7594)]


def test_three_changes_in_one_month_give_four_lines_summing_to_the_total():
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    timeline = [Segment(date(2026, 10, 1), 10), Segment(date(2026, 11, 6), 12), Segment(date(2026, 11, 16), 8),
                Segment(date(2026, 11, 26), 20)]
    lines = lines_for(timeline, period, price=3000)  # R$ 30,00: every line exact
    assert table(lines) == [("Microsoft 365 E3 — 10 licenças × 5/30 dias", 5000),
                            ("Microsoft 365 E3 — 12 licenças × 10/30 dias", 12000),
                            ("Microsoft 365 E3 — 8 licenças × 10/30 dias", 8000),
                            ("Microsoft 365 E3 — 20 licenças × 5/30 dias", 10000)]


def test_a_mid_period_purchase_is_pro_rata_then_the_full_price_the_next_period():
    timeline = [Segment(date(2026, 11, 21), 4)]  # bought on the 21st; closing day 10
    first = period_containing(date(2026, 11, 21), 10)  # 11 Nov – 10 Dec
    second = period_containing(date(2026, 12, 11), 10)  # 11 Dec – 10 Jan
    assert table(lines_for(timeline, first)) == [("Microsoft 365 E3 — 4 licenças × 20/30 dias", 55227)]
    assert table(lines_for(timeline, second)) == [("Microsoft 365 E3 — 4 licenças × 31/31 dias", 82840)]


def test_a_terminated_subscription_is_billed_up_to_the_termination_day():
    period = Period(date(2026, 11, 11), date(2026, 12, 10))
    lines = lines_for([Segment(date(2026, 9, 1), 10), Segment(date(2026, 11, 26), 0)], period)
    assert table(lines) == [("Microsoft 365 E3 — 10 licenças × 15/30 dias", 103550)]


@pytest.mark.parametrize("closing, expected, why", [
    (date(2026, 11, 20), date(2026, 11, 30), "a Monday: no move"),
    (date(2026, 11, 21), date(2026, 12, 1), "Tuesday 1 December"),
    (date(2026, 2, 5), date(2026, 2, 18), "Sunday 15 → Carnival Monday and Tuesday → Ash Wednesday"),
    (date(2026, 5, 25), date(2026, 6, 5), "Corpus Christi, Thursday 4 June"),
    (date(2026, 12, 21), date(2027, 1, 4), "31 December, 1 January, then the weekend"),
    (date(2026, 6, 29), date(2026, 7, 10), "9 July: São Paulo state holiday"),
    (date(2027, 1, 15), date(2027, 1, 26), "25 January: São Paulo city anniversary"),
    (date(2026, 4, 11), date(2026, 4, 22), "Tiradentes, Tuesday 21 April"),
])
def test_due_dates_move_to_the_next_bank_business_day(closing, expected, why):
    assert billing.due_date(closing, 10, state="SP", city_holidays=("01-25",)) == expected, why


def test_state_and_city_holidays_only_count_where_configured():
    assert billing.due_date(date(2026, 6, 29), 10) == date(2026, 7, 9)
    assert billing.due_date(date(2027, 1, 15), 10, state="SP") == date(2027, 1, 25)


SP = {"state": "SP", "city_holidays": ("01-25",)}


def bank_days_between(after: date, up_to: date) -> int:
    """Bank business days in (after, up_to], counted one by one."""
    return sum(billing.is_bank_business_day(after + timedelta(days=n), **SP)
               for n in range(1, (up_to - after).days + 1))


def test_an_invoice_issued_on_time_keeps_the_closing_plus_n_days_due_date():
    # Closing 10 Nov, issued 11 Nov: 3 bank days later is 16 Nov, before closing + 10 (20 Nov, a holiday → 23).
    assert billing.due_date(date(2026, 11, 10), 10, **SP, issued_on=date(2026, 11, 11),
                            business_days_after_issue=3) == date(2026, 11, 23)


@pytest.mark.parametrize("issued_on, expected, why", [
    (date(2026, 11, 29), date(2026, 12, 2), "the October run started on Sunday 29 Nov: Mon, Tue, Wed"),
    (date(2026, 11, 19), date(2026, 11, 25), "Fri 20 Nov (Black Awareness Day) does not count: Mon, Tue, Wed"),
    (date(2027, 2, 5), date(2027, 2, 12), "Friday; Carnival Monday and Tuesday (8–9 Feb) do not count: Wed, Thu, Fri"),
    (date(2026, 12, 29), date(2027, 1, 5), "31 Dec, 1 Jan and the weekend do not count"),
])
def test_a_late_run_is_due_m_bank_business_days_after_the_issue_day_never_already_overdue(issued_on, expected, why):
    closing = date(2026, 10, 20)  # closing + 10 = 30 Oct: long gone when these runs happen
    assert billing.due_date(closing, 10, **SP, issued_on=issued_on, business_days_after_issue=3) == expected, why


@pytest.mark.parametrize("closing, issued_on, expected, why", [
    (date(2026, 5, 20), date(2026, 7, 8), date(2026, 7, 14),
     "40+ days late on Wed 8 Jul: 9 July (São Paulo state) does not count: Fri 10, Mon 13, Tue 14"),
    (date(2027, 4, 15), date(2027, 5, 25), date(2027, 5, 31),
     "40 days late on Tue 25 May 2027: Corpus Christi (Thu 27 May) does not count: Wed 26, Fri 28, Mon 31"),
    (date(2026, 12, 15), date(2027, 1, 24), date(2027, 1, 28),
     "40 days late on Sunday 24 Jan 2027: 25 January (São Paulo city) does not count: Tue 26, Wed 27, Thu 28"),
    (date(2026, 3, 8), date(2026, 4, 17), date(2026, 4, 23),
     "40 days late on Fri 17 Apr 2026: the weekend and Tiradentes (Tue 21) do not count: Mon 20, Wed 22, Thu 23"),
])
def test_worked_examples_of_a_run_40_days_late_around_holidays(closing, issued_on, expected, why):
    assert billing.due_date(closing, 10, **SP, issued_on=issued_on, business_days_after_issue=3) == expected, why
    assert bank_days_between(issued_on, expected) == 3


@given(closing=st.dates(date(2025, 1, 1), date(2028, 12, 1)), late=st.integers(0, 120),
       days_after=st.integers(0, 30), business_days=st.integers(0, 10))
@settings(max_examples=200, deadline=None)
def test_the_due_date_is_a_bank_business_day_after_both_floors_and_the_first_such_day(
        closing, late, days_after, business_days):
    issued_on = closing + timedelta(days=1 + late)  # a period is billed once its closing day is over
    due = billing.due_date(closing, days_after, **SP, issued_on=issued_on, business_days_after_issue=business_days)

    def meets_both_floors(day):
        return day >= max(closing + timedelta(days=days_after), issued_on) and \
            bank_days_between(issued_on, day) >= business_days

    assert billing.is_bank_business_day(due, **SP)
    assert meets_both_floors(due)
    previous = due - timedelta(days=1)
    while not billing.is_bank_business_day(previous, **SP):
        previous -= timedelta(days=1)
    assert not meets_both_floors(previous)  # the earliest bank business day that meets both


@pytest.mark.parametrize("requested_on, expected, why", [
    (date(2026, 12, 1), date(2026, 12, 4), "Tuesday: Wed, Thu, Fri"),
    (date(2026, 12, 4), date(2026, 12, 9), "Friday: the weekend does not count (Mon, Tue, Wed), not Mon 7"),
    (date(2026, 11, 19), date(2026, 11, 25), "Thursday before Black Awareness Day: Mon, Tue, Wed, not Mon 23"),
    (date(2026, 12, 29), date(2027, 1, 5), "30 Dec, then 4 and 5 Jan"),
])
def test_a_second_copy_is_due_in_bank_business_days_not_calendar_days(requested_on, expected, why):
    assert billing.second_copy_due_date(requested_on, 3, **SP) == expected, why


@given(requested_on=st.dates(date(2025, 1, 1), date(2028, 12, 31)), business_days=st.integers(1, 10))
@settings(max_examples=200, deadline=None)
def test_a_second_copy_leaves_exactly_n_bank_business_days_to_pay(requested_on, business_days):
    due = billing.second_copy_due_date(requested_on, business_days, **SP)
    assert billing.is_bank_business_day(due, **SP)
    assert bank_days_between(requested_on, due) == business_days


def an_invoice(total=10000, paid=0, status=billing.OPEN):
    return Invoice(id="i", organization_id="o", contract_id="c", number=1, period_start=date(2026, 10, 11),
                   period_end=date(2026, 11, 10), issued_at="", due_date=date(2026, 11, 20), lines=[],
                   total_cents=total, payment_method="boleto", status=status, paid_cents=paid)


def test_a_partial_payment_keeps_the_invoice_open_with_the_balance():
    assert billing.after_payment(an_invoice(), 4000) == (4000, billing.OPEN)
    assert billing.after_payment(an_invoice(paid=4000), 6000) == (10000, billing.PAID)
    assert billing.after_payment(an_invoice(status=billing.OVERDUE), 10000) == (10000, billing.PAID)


def test_payments_must_fit_the_balance_of_a_payable_invoice():
    with pytest.raises(RuleViolation):
        billing.validate_payment(an_invoice(paid=9000), 2000, "deposito")
    with pytest.raises(Conflict):
        billing.validate_payment(an_invoice(status=billing.PAID), 1, "deposito")
    with pytest.raises(InvalidInput):
        billing.validate_payment(an_invoice(), 1, "cheque")


def test_an_open_invoice_past_its_due_date_with_a_balance_becomes_overdue():
    assert billing.becomes_overdue(an_invoice(), date(2026, 11, 21))
    assert not billing.becomes_overdue(an_invoice(), date(2026, 11, 20))
    assert not billing.becomes_overdue(an_invoice(paid=10000, status=billing.PAID), date(2026, 12, 1))
