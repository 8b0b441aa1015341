"""A product's price on a day, from its history: the one rule behind the catalog, the cart, the
licence panel, the quantity preview and the invoice."""
from datetime import date

from chalicelib.domain import catalog as rules
from chalicelib.domain.catalog import ALWAYS, PricePoint, Product

TODAY = date(2026, 11, 11)
TOMORROW = date(2026, 11, 12)


def product(*prices):
    return Product(sku="X", name="X", family="F", term="P1M", billing_frequency="monthly", prices=tuple(prices))


def test_a_new_products_first_price_has_always_been_in_force():
    priced = rules.with_price(product(), 1000, TODAY)
    assert priced.prices == (PricePoint(ALWAYS, 1000),)
    assert rules.price_on(priced, date(2020, 1, 1)) == rules.price_on(priced, TODAY) == 1000


def test_a_price_change_applies_from_tomorrow_and_never_touches_today_or_the_past():
    changed = rules.with_price(rules.with_price(product(), 1000, date(2026, 1, 1)), 1500, TODAY)
    assert rules.price_on(changed, TODAY) == 1000 and rules.price_on(changed, date(2026, 6, 1)) == 1000
    assert rules.price_on(changed, TOMORROW) == 1500 and rules.price_on(changed, date(2030, 1, 1)) == 1500
    assert rules.next_price(changed, TODAY) == PricePoint(TOMORROW, 1500)
    assert rules.next_price(changed, TOMORROW) is None


def test_a_second_change_on_the_same_day_replaces_the_first_and_going_back_undoes_it():
    base = rules.with_price(product(), 1000, date(2026, 1, 1))
    twice = rules.with_price(rules.with_price(base, 1500, TODAY), 1700, TODAY)
    assert twice.prices == (PricePoint(ALWAYS, 1000), PricePoint(TOMORROW, 1700))
    undone = rules.with_price(twice, 1000, TODAY)
    assert undone.prices == base.prices and rules.next_price(undone, TODAY) is None
    assert rules.with_price(base, 1000, TODAY) == base  # the same price changes nothing


def test_an_unknown_product_or_a_day_before_any_price_has_no_price():
    assert rules.price_on(None, TODAY) is None
    assert rules.price_on(product(PricePoint(TOMORROW, 900)), TODAY) is None


def test_a_customer_pays_the_price_of_its_periods_first_day_and_sees_the_next_one_from_its_next_period():
    changed = product(PricePoint(ALWAYS, 1000), PricePoint(TOMORROW, 1500))
    # Closing on the 20th: 11 Nov is in 21 Oct – 20 Nov, whose first day had the old price.
    midway = rules.quote(changed, TOMORROW, closing_day=20)
    assert midway == rules.PriceQuote(1000, PricePoint(date(2026, 11, 21), 1500))
    # Closing on the 11th: 12 Nov starts a period, at the new price.
    assert rules.quote(changed, TOMORROW, closing_day=11) == rules.PriceQuote(1500, None)
    # The reseller's staff (no contract) see today's price and the next one from its own day.
    assert rules.quote(changed, TODAY) == rules.PriceQuote(1000, PricePoint(TOMORROW, 1500))
