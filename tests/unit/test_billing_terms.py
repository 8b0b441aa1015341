"""Terms and billing plans as data (New Commerce), worked out by hand: which plans a term allows,
a term paid up front billed whole on the invoice of the period it starts in, seats added or removed
mid-term pro rata to the term's end, 3-year terms, renewals and lapses, and credits never making
an invoice negative."""
from datetime import date

import pytest
from hypothesis import given, strategies as st

from chalicelib.domain import billing, credits, terms
from chalicelib.domain.billing import BillableSubscription
from chalicelib.domain.credits import CreditNote
from chalicelib.domain.errors import RuleViolation
from chalicelib.domain.proration import Period, Segment, period_containing

E5 = 32870  # R$ 328,70 per licence per month
STARTED = date(2026, 9, 15)
CLOSING_DAY = 20


def period_of(day):
    return period_containing(day, CLOSING_DAY)


def e5(timeline, term="P1Y", plan="annual", started_on=STARTED, renews_on=date(2027, 9, 15), renewing=False):
    return BillableSubscription("MS365-E5", "Microsoft 365 E5", timeline, term=term, billing_frequency=plan,
                                started_on=started_on, renews_on=renews_on, renewing=renewing)


def lines(sub, day, price=lambda day: E5):
    return billing.invoice_lines([sub], lambda sku, on: price(on), period_of(day))


def table(found):
    return [(l.description, l.amount_cents) for l in found]


# --- the table of plans ---------------------------------------------------------------------------

@pytest.mark.parametrize("term, plan", [("P1M", "monthly"), ("P1Y", "monthly"), ("P1Y", "annual"),
                                        ("P3Y", "monthly"), ("P3Y", "annual"), ("P3Y", "triennial")])
def test_each_term_accepts_the_plans_of_the_table(term, plan):
    terms.validate_plan(term, plan)


@pytest.mark.parametrize("term, plan", [("P1M", "annual"), ("P1M", "triennial"), ("P1Y", "triennial")])
def test_a_plan_longer_than_the_term_is_refused_with_the_plans_it_accepts(term, plan):
    with pytest.raises(RuleViolation) as refused:
        terms.validate_plan(term, plan)
    assert refused.value.code == "invalid_billing_plan"
    assert refused.value.details["allowed"] == list(terms.PLANS[term])
    assert term in str(refused.value)


def test_plan_labels_say_term_and_plan_in_portuguese():
    assert terms.plan_label("P1Y", "annual") == "Anual · pagamento antecipado"
    assert terms.plan_label("P1Y", "monthly") == "Anual · cobrança mensal"
    assert terms.plan_label("P1M", "monthly") == "Mensal"
    assert terms.plan_label("P3Y", "triennial") == "3 anos · pagamento antecipado"


# --- a year paid up front ---------------------------------------------------------------------------

def test_an_annual_term_paid_up_front_is_billed_whole_on_the_invoice_of_the_period_it_starts_in():
    sub = e5([Segment(STARTED, 10)])
    # 10 × R$ 328,70 × 12 = R$ 39.444,00, on the invoice of 21 Aug – 20 Sep 2026
    assert table(lines(sub, STARTED)) == [("Microsoft 365 E5 — 10 licenças, anual, 15/09/2026 a 14/09/2027", 3944400)]
    [line] = lines(sub, STARTED)
    assert (line.term, line.billing_frequency, line.term_start, line.term_end, line.months) == \
        ("P1Y", "annual", STARTED, date(2027, 9, 14), 12)
    assert (line.quantity, line.unit_price_cents, line.days, line.period_days) == (10, E5, 365, 365)


def test_the_following_monthly_invoices_carry_nothing_for_it():
    sub = e5([Segment(STARTED, 10)])
    for day in (date(2026, 10, 1), date(2026, 12, 25), date(2027, 8, 30)):
        assert lines(sub, day) == []


def test_seats_added_mid_term_are_billed_pro_rata_to_the_terms_end():
    sub = e5([Segment(STARTED, 10), Segment(date(2027, 3, 15), 12)])
    # 2 × 328,70 × 12 × 184/365 (15 Mar – 14 Sep 2027) = 3.976,8197… → R$ 3.976,82
    assert table(lines(sub, date(2027, 3, 15))) == [
        ("Microsoft 365 E5 — +2 licenças × 184/365 dias, anual, 15/03/2027 a 14/09/2027", 397682)]


def test_in_a_leap_year_the_term_has_366_days():
    sub = e5([Segment(date(2027, 9, 15), 1), Segment(date(2028, 3, 1), 2)], started_on=date(2027, 9, 15),
             renews_on=date(2028, 9, 15))
    [whole] = lines(sub, date(2027, 9, 15))
    assert (whole.days, whole.amount_cents) == (366, 394440)  # a year is 12 months, whatever its days
    # 1 × 328,70 × 12 × 198/366 (1 Mar – 14 Sep 2028) = 2.133,8557… → R$ 2.133,86
    assert table(lines(sub, date(2028, 3, 1))) == [
        ("Microsoft 365 E5 — +1 licença × 198/366 dias, anual, 01/03/2028 a 14/09/2028", 213386)]


def test_seats_removed_inside_the_window_are_credited_the_same_way():
    sub = e5([Segment(STARTED, 10), Segment(date(2026, 9, 18), 8)])
    # −2 × 328,70 × 12 × 362/365 (18 Sep 2026 – 14 Sep 2027) = −7.823,96
    assert table(lines(sub, STARTED)) == [
        ("Microsoft 365 E5 — 10 licenças, anual, 15/09/2026 a 14/09/2027", 3944400),
        ("Microsoft 365 E5 — −2 licenças × 362/365 dias, anual, 18/09/2026 a 14/09/2027 (crédito)", -782396)]


def test_the_price_of_a_term_paid_up_front_is_the_one_in_force_on_its_first_day():
    sub = e5([Segment(STARTED, 10), Segment(date(2027, 3, 15), 12)])

    def price(day):
        return E5 if day < date(2026, 12, 1) else 40000  # raised in December

    [addition] = lines(sub, date(2027, 3, 15), price)
    assert addition.unit_price_cents == E5 and addition.amount_cents == 397682


def test_a_renewal_starts_a_new_term_billed_again_at_that_days_price_and_quantity():
    sub = e5([Segment(STARTED, 10), Segment(date(2027, 3, 15), 12)], renews_on=date(2028, 9, 15))

    def price(day):
        return E5 if day < date(2027, 9, 1) else 34000

    assert table(lines(sub, date(2027, 9, 15), price)) == [
        ("Microsoft 365 E5 — 12 licenças, anual, 15/09/2027 a 14/09/2028", 12 * 34000 * 12)]


def test_a_renewal_the_daily_job_has_not_made_yet_is_billed_if_it_will_renew():
    timeline = [Segment(STARTED, 10)]
    assert len(lines(e5(timeline, renews_on=date(2027, 9, 15), renewing=True), date(2027, 9, 15))) == 1
    assert lines(e5(timeline, renews_on=date(2027, 9, 15), renewing=False), date(2027, 9, 15)) == []


def test_a_subscription_that_lapsed_is_not_billed_for_the_term_it_did_not_renew():
    # Auto-renew off: it went to zero on its renewal day, provisioned a day late.
    sub = e5([Segment(STARTED, 10), Segment(date(2027, 9, 16), 0)], renews_on=None)
    assert lines(sub, date(2027, 9, 16)) == []
    assert table(lines(sub, STARTED)) == [("Microsoft 365 E5 — 10 licenças, anual, 15/09/2026 a 14/09/2027", 3944400)]


# --- three years ------------------------------------------------------------------------------------

def test_a_3_year_term_billed_annually_has_a_line_per_year_at_the_terms_price():
    sub = e5([Segment(STARTED, 10)], term="P3Y", plan="annual", renews_on=date(2029, 9, 15))

    def price(day):
        return E5 if day < date(2027, 1, 1) else 50000  # the term's price holds for its three years

    assert table(lines(sub, STARTED, price)) == [
        ("Microsoft 365 E5 — 10 licenças, 3 anos (ano 1 de 3), 15/09/2026 a 14/09/2027", 3944400)]
    assert lines(sub, date(2027, 3, 1), price) == []
    assert table(lines(sub, date(2027, 9, 15), price)) == [
        ("Microsoft 365 E5 — 10 licenças, 3 anos (ano 2 de 3), 15/09/2027 a 14/09/2028", 3944400)]
    [third] = lines(sub, date(2028, 9, 15), price)
    assert (third.start, third.end, third.term_start, third.term_end) == \
        (date(2028, 9, 15), date(2029, 9, 14), STARTED, date(2029, 9, 14))


def test_a_3_year_term_billed_annually_bills_an_addition_to_the_end_of_its_year():
    sub = e5([Segment(STARTED, 10), Segment(date(2028, 3, 1), 11)], term="P3Y", plan="annual",
             renews_on=date(2029, 9, 15))
    assert table(lines(sub, date(2028, 3, 1))) == [
        ("Microsoft 365 E5 — +1 licença × 198/366 dias, 3 anos (ano 2 de 3), 01/03/2028 a 14/09/2028", 213386)]


def test_a_3_year_term_paid_at_once_is_one_line_of_36_months():
    sub = e5([Segment(STARTED, 2)], term="P3Y", plan="triennial", renews_on=date(2029, 9, 15))
    assert table(lines(sub, STARTED)) == [
        ("Microsoft 365 E5 — 2 licenças, 3 anos, 15/09/2026 a 14/09/2029", 2 * E5 * 36)]
    assert lines(sub, date(2027, 9, 15)) == []


# --- monthly plans ----------------------------------------------------------------------------------

def test_an_annual_term_billed_monthly_is_billed_monthly_and_its_line_names_the_term():
    sub = e5([Segment(date(2026, 10, 1), 10)], plan="monthly")
    [line] = billing.invoice_lines([sub], lambda sku, day: E5, Period(date(2026, 11, 1), date(2026, 11, 30)))
    assert (line.description, line.amount_cents) == \
        ("Microsoft 365 E5 — 10 licenças × 30/30 dias (anual, cobrança mensal)", 328700)
    assert (line.term, line.billing_frequency, line.months) == ("P1Y", "monthly", None)


def test_a_monthly_term_reads_as_it_always_has():
    sub = e5([Segment(date(2026, 10, 1), 10)], term="P1M", plan="monthly")
    [line] = billing.invoice_lines([sub], lambda sku, day: E5, Period(date(2026, 11, 1), date(2026, 11, 30)))
    assert line.description == "Microsoft 365 E5 — 10 licenças × 30/30 dias"


# --- credits and the invoice's total ------------------------------------------------------------------

def _issue(amounts_or_lines, notes, number):
    """An invoice's lines as the billing worker makes them: credit notes used, then the credit left."""
    found = [a if isinstance(a, billing.InvoiceLine) else _line(a) for a in amounts_or_lines]
    period = Period(date(2026, 1, 1), date(2026, 1, 31))
    found, used = credits.apply_credits(found, notes, period, f"inv-{number}", number)
    found, left = credits.credit_left_by(found, period, credit_id=f"note-{number}", organization_id="org",
                                         invoice_id=f"inv-{number}", invoice_number=number,
                                         created_at=f"2026-01-{number:02d}T12:00:00+00:00", created_by="system")
    return found, used, left


def test_a_credit_larger_than_the_invoice_floors_it_at_zero_and_carries_the_rest():
    # Reduced on 21 Sep, inside the 7-day window but in the period after the one the term was billed in.
    credit_line = lines(e5([Segment(STARTED, 10), Segment(date(2026, 9, 21), 8)]), date(2026, 9, 21))
    assert [l.amount_cents for l in credit_line] == [-775912]  # −2 × 328,70 × 12 × 359/365
    found, used, left = _issue(credit_line, [], 2)
    # Total zero: a line moves the R$ 7.759,12 to a credit note against this invoice.
    assert [l.amount_cents for l in found] == [-775912, 775912] and used == []
    assert found[-1].description == ("Crédito transportado para as próximas faturas (nota de crédito): "
                                     "Crédito de licenças reduzidas no período")
    assert (left.invoice_id, left.amount_cents, left.remaining_cents, left.created_by, left.reason) == \
        ("inv-2", 775912, 775912, "system", "Crédito de licenças reduzidas no período")
    # The next invoice, R$ 5.000,00 of lines, uses 5.000,00 of the note and leaves the rest.
    found, [(_, after)], none = _issue([500000], [left], 3)
    assert (sum(l.amount_cents for l in found), after.remaining_cents, none) == (0, 275912, None)
    assert found[-1].description == "Crédito — nota de crédito sobre a fatura nº 2: Crédito de licenças reduzidas no período"
    found, [(_, after)], _ = _issue([300000], [after], 4)
    assert (sum(l.amount_cents for l in found), after.remaining_cents) == (24088, 0)


def _line(amount):
    return billing.InvoiceLine("x", "X", 1, 1, 1, amount, amount, date(2026, 1, 1), date(2026, 1, 1))


@given(st.lists(st.integers(-10**7, 10**7), max_size=6), st.integers(0, 10**7))
def test_settling_never_loses_or_makes_money(amounts, credit):
    notes = [CreditNote(id="earlier", organization_id="org", invoice_id="inv-1", invoice_number=1,
                        amount_cents=credit, reason="Desconto", created_at="2026-01-01T12:00:00+00:00",
                        created_by="op", remaining_cents=credit)] if credit else []
    found, used, left = _issue(amounts, notes, 2)
    total = sum(l.amount_cents for l in found)
    applied = sum(before.remaining_cents - after.remaining_cents for before, after in used)
    credit_after = credit - applied + (left.remaining_cents if left else 0)
    assert total >= 0 and credit_after >= 0
    assert 0 <= applied <= credit
    # What the customer owes less the credit they keep is what their lines came to less the credit they had.
    assert total - credit_after == sum(amounts) - credit
    # A credit is used, or made, never both: an invoice below zero uses none.
    assert not (used and left)
