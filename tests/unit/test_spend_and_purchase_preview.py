"""Spend by month and family, and a purchase's first charge, as pure rules."""
from datetime import date

from chalicelib.domain import spend
from chalicelib.domain.billing import CANCELLED, OPEN, PAID, Invoice, InvoiceLine, next_upfront_charge, purchase_lines
from chalicelib.domain.proration import Period

FAMILIES = {"MS365-E3": "Microsoft 365", "INTUNE-P1": "Segurança"}


def line(sku, amount):
    return InvoiceLine(description=sku, sku=sku, quantity=1, days=30, period_days=30, unit_price_cents=amount,
                       amount_cents=amount, start=date(2026, 10, 11), end=date(2026, 11, 10))


def invoice(period_end, lines, status=OPEN):
    return Invoice(id=f"inv-{period_end}", organization_id="org", contract_id="c", number=1,
                   period_start=date(2026, 10, 11), period_end=period_end, issued_at="2026-11-11T12:00:00+00:00",
                   due_date=date(2026, 11, 21), lines=lines, total_cents=sum(l.amount_cents for l in lines),
                   payment_method="boleto", status=status)


def test_months_until_counts_back_across_the_year():
    assert spend.months_until(date(2026, 2, 14), 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_each_month_sums_lines_by_family_with_credits_apart_and_cancelled_invoices_left_out():
    invoices = [
        invoice(date(2026, 11, 10), [line("MS365-E3", 20710), line("INTUNE-P1", 4410), line("NOVO", 100),
                                     line("CREDITO:inv-1:c1", -1000)], status=PAID),
        invoice(date(2026, 10, 10), [line("MS365-E3", 99999)], status=CANCELLED),
        invoice(date(2026, 10, 10), [line("MS365-E3", 20000)]),
        invoice(date(2025, 1, 10), [line("MS365-E3", 5)]),  # outside the months asked for
    ]
    months = spend.monthly_spend(invoices, FAMILIES.get, ["2026-09", "2026-10", "2026-11"])
    assert [m.month for m in months] == ["2026-09", "2026-10", "2026-11"]
    assert (months[0].families, months[0].total_cents) == ((), 0)
    assert months[1].families == (("Microsoft 365", 20000),) and months[1].total_cents == 20000
    november = months[2]
    assert november.families == (("Microsoft 365", 20710), ("Outros", 100), ("Segurança", 4410))
    assert november.credits_cents == -1000 and november.total_cents == 20710 + 4410 + 100 - 1000


def test_a_monthly_purchase_is_charged_pro_rata_to_the_closing_and_an_annual_one_for_its_year():
    period = Period(date(2026, 11, 11), date(2026, 12, 10))
    price = lambda sku, day: {"MS365-E3": 20710, "MS365-E5": 32870}[sku]  # noqa: E731
    [monthly] = purchase_lines("MS365-E3", "Microsoft 365 E3", "P1Y", "monthly", 3, date(2026, 11, 17), price, period)
    assert (monthly.start, monthly.end, monthly.days, monthly.amount_cents) == \
        (date(2026, 11, 17), date(2026, 12, 10), 24, round(20710 * 3 * 24 / 30))
    [annual] = purchase_lines("MS365-E5", "Microsoft 365 E5", "P1Y", "annual", 2, date(2026, 11, 17), price, period)
    assert (annual.start, annual.end, annual.amount_cents) == (date(2026, 11, 17), date(2027, 11, 16), 32870 * 2 * 12)
    assert next_upfront_charge("P1Y", "annual", date(2026, 11, 17)) == date(2027, 11, 17)
    assert next_upfront_charge("P3Y", "annual", date(2026, 11, 17)) == date(2027, 11, 17)
    assert next_upfront_charge("P3Y", "triennial", date(2026, 11, 17)) == date(2029, 11, 17)
    assert next_upfront_charge("P1Y", "monthly", date(2026, 11, 17)) is None
