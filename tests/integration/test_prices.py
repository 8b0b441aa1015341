"""One price everywhere: the catalog, the cart, the licence panel, the quantity preview and the
invoice all read a product's price history through one function, so they agree on the day a new
price takes effect — for a customer whose period starts that day (the new price) and for one in
the middle of a period (the old price, until the next period)."""
from datetime import timedelta

import pytest

from chalicelib.domain.clock import FixedClock
from tests.support import sp

OLD, NEW = 20710, 21990
SKU = "MS365-E3"


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 11, 10, 15))
    return world.deps.clock


def what_the_customer_sees(world, org, quantity):
    """Every price the customer sees for MS365-E3 today, and the preview's lines for `quantity`."""
    [product] = [p for p in world.call("GET", "/catalog/products?q=e3", org.master).json_body["items"]
                 if p["sku"] == SKU]
    assert world.call("PUT", f"/cart/items/{SKU}", org.master, {"quantity": 1}).status_code == 200
    [in_cart] = world.call("GET", "/cart", org.master).json_body["items"]
    [on_panel] = world.call("GET", "/subscriptions", org.master).json_body["items"]
    preview = world.call("GET", f"/subscriptions/{on_panel['id']}/quantity-preview?quantity={quantity}",
                         org.master).json_body
    assert preview["applies"] == "now"
    return product, in_cart, on_panel, preview


def invoice_lines(world, org, period_end):
    [summary] = [i for i in world.call("GET", "/invoices", org.master).json_body["items"]
                 if i["period_end"] == period_end]
    return world.call("GET", f"/invoices/{summary['id']}", org.master).json_body["lines"]


def test_catalog_cart_panel_preview_and_invoice_show_one_price_on_the_day_a_new_price_takes_effect(world, clock):
    starting = world.active_organization(closing_day=10)  # a period starts tomorrow, 11 Nov
    midway = world.active_organization(closing_day=20)  # in 21 Oct – 20 Nov until the 20th
    for org in (starting, midway):
        world.subscription(org, SKU, 1, bought_at=clock.now - timedelta(days=45))
    product = {"name": "Microsoft 365 E3", "family": "Microsoft 365", "unit_price_cents": NEW, "term": "P1Y",
               "billing_frequency": "monthly"}
    assert world.call("PUT", f"/backoffice/catalog/products/{SKU}", world.operator(), product).status_code == 200

    clock.now = sp(2026, 11, 11, 12)  # the new price's first day
    catalog, cart, panel, preview = what_the_customer_sees(world, starting, 3)
    assert catalog["unit_price_cents"] == cart["unit_price_cents"] == panel["unit_price_cents"] == NEW
    assert "next_price" not in catalog
    removed, added = preview["lines"]
    assert removed["unit_price_cents"] == added["unit_price_cents"] == NEW
    assert removed["description"] == "Microsoft 365 E3 — 1 licença × 30/30 dias (anual, cobrança mensal)"
    assert added["description"] == "Microsoft 365 E3 — 3 licenças × 30/30 dias (anual, cobrança mensal)"

    catalog, cart, panel, preview = what_the_customer_sees(world, midway, 2)
    assert catalog["unit_price_cents"] == cart["unit_price_cents"] == panel["unit_price_cents"] == OLD
    assert catalog["next_price"] == {"unit_price_cents": NEW, "from": "2026-11-21"}
    assert [line["unit_price_cents"] for line in preview["lines"]] == [OLD, OLD]
    midway_added = preview["lines"][-1]
    assert midway_added["description"] == "Microsoft 365 E3 — 2 licenças × 10/31 dias (anual, cobrança mensal)"

    for org, quantity in ((starting, 3), (midway, 2)):
        [sub] = world.call("GET", "/subscriptions", org.master).json_body["items"]
        response = world.call("POST", f"/subscriptions/{sub['id']}/quantity", org.master, {"quantity": quantity})
        assert response.status_code == 202, response.json_body
    world.drain_queues()

    clock.now = sp(2026, 12, 11, 12)
    for period in ("2026-11", "2026-12"):
        assert world.call("POST", "/backoffice/billing-runs", world.operator(), {"period": period}).status_code == 202
    world.drain_queues()
    [starting_line] = invoice_lines(world, starting, "2026-12-10")
    assert {k: starting_line[k] for k in added} == added  # the very line the preview announced
    assert starting_line["unit_price_cents"] == NEW
    midway_lines = invoice_lines(world, midway, "2026-11-20")
    assert [line["unit_price_cents"] for line in midway_lines] == [OLD, OLD]
    assert {k: midway_lines[-1][k] for k in midway_added} == midway_added
