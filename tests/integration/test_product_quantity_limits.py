"""Per-product minimum and maximum quantities (issue #21 §4): catalog data the operator sets (audited,
validated, nothing written on a bad combination), shown wherever a product is, and enforced by the
product wherever a quantity is chosen — the cart, the checkout (limits changed since the line was
put in the cart), a subscription's quantity change and its preview, the contract's items. A refusal
is 422 `quantity_below_minimum` / `quantity_above_maximum` naming the product and the limit, and
writes nothing."""
from datetime import timedelta

import pytest

from chalicelib.domain.clock import FixedClock
from chalicelib.domain.roles import Role
from tests.support import sp

SKU, NAME = "INTUNE-P1", "Microsoft Intune Plano 1"
FREE_SKU = "POWERBI-PRO"  # a product without limits of its own
PRODUCT_PATH = f"/backoffice/catalog/products/{SKU}"


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 11, 17, 10))
    return world.deps.clock


@pytest.fixture
def org(world, clock):
    return world.active_organization(closing_day=10)


@pytest.fixture
def operator(world):
    return world.operator()


def product_fields(world, operator, sku=SKU):
    product = next(p for p in world.call("GET", "/backoffice/catalog/products", operator).json_body["items"]
                   if p["sku"] == sku)
    return {k: product[k] for k in ("name", "family", "unit_price_cents", "term", "billing_frequency")}


def set_limits(world, operator, minimum=None, maximum=None, sku=SKU):
    limits = {k: v for k, v in (("min_quantity", minimum), ("max_quantity", maximum)) if v is not None}
    response = world.call("PUT", f"/backoffice/catalog/products/{sku}", operator,
                          {**product_fields(world, operator, sku), **limits})
    assert response.status_code == 200, response.json_body
    return response.json_body


def product_audit(world, operator, sku=SKU):
    return [e for e in world.call("GET", "/audit", operator).json_body["items"] if e["target"] == f"product:{sku}"]


def cart(world, org):
    return world.call("GET", "/cart", org.master).json_body


def subscriptions(world, org):
    return world.call("GET", "/subscriptions", org.master).json_body["items"]


def assert_refused(response, code, sku=SKU, name=NAME, **limit):
    assert response.status_code == 422, response.json_body
    error = response.json_body["error"]
    assert error["code"] == code
    assert error["details"] == {**error["details"], "sku": sku, **limit}
    (bound,) = limit.values()
    assert name in error["message"] and str(bound) in error["message"]


# --- the operator sets them ---------------------------------------------------------------------

def test_the_operator_sets_limits_audited_and_every_product_view_shows_them(world, org, operator):
    assert product_fields(world, operator)  # the seeded product, without limits of its own
    view = set_limits(world, operator, minimum=2, maximum=50)
    assert view["quantity_limits"] == {"minimum": 2, "maximum": 50}
    product = world.deps.catalog.get(SKU)
    assert (product.min_quantity, product.max_quantity) == (2, 50)
    [entry] = product_audit(world, operator)
    assert entry["action"] == "catalog.product_updated" and entry["actor_id"] == operator.user.id
    assert (entry["before"]["min_quantity"], entry["before"]["max_quantity"]) == (1, None)
    assert (entry["after"]["min_quantity"], entry["after"]["max_quantity"]) == (2, 50)

    [listed] = [p for p in world.call("GET", "/backoffice/catalog/products", operator).json_body["items"]
                if p["sku"] == SKU]
    [sold] = [p for p in world.call("GET", "/catalog/products", org.master).json_body["items"] if p["sku"] == SKU]
    assert listed["quantity_limits"] == sold["quantity_limits"] == {"minimum": 2, "maximum": 50}
    assert world.call("PUT", f"/cart/items/{SKU}", org.master, {"quantity": 2}).status_code == 200
    [line] = cart(world, org)["items"]
    assert line["quantity_limits"] == {"minimum": 2, "maximum": 50}
    world.subscription(org, SKU, 4)
    [sub] = subscriptions(world, org)
    assert sub["quantity_limits"] == {"minimum": 2, "maximum": 50}

    # An edit that leaves them out keeps them; a maximum of 0 removes the maximum.
    assert set_limits(world, operator)["quantity_limits"] == {"minimum": 2, "maximum": 50}
    assert set_limits(world, operator, maximum=0)["quantity_limits"] == {"minimum": 2, "maximum": None}
    assert world.deps.catalog.get(SKU).max_quantity is None


def test_a_new_product_has_no_limits_of_its_own_unless_given(world, operator):
    body = {"name": "Produto Novo", "family": "Outros", "unit_price_cents": 1000, "term": "P1Y",
            "billing_frequency": "monthly"}
    created = world.call("PUT", "/backoffice/catalog/products/NOVO-1", operator, body)
    assert created.status_code == 200 and created.json_body["quantity_limits"] == {"minimum": 1, "maximum": None}
    limited = world.call("PUT", "/backoffice/catalog/products/NOVO-2", operator,
                         {**body, "min_quantity": 10, "max_quantity": 10})
    assert limited.status_code == 200 and limited.json_body["quantity_limits"] == {"minimum": 10, "maximum": 10}


@pytest.mark.parametrize("limits, field", [
    ({"min_quantity": 0}, "min_quantity"),
    ({"min_quantity": 10_001}, "min_quantity"),
    ({"min_quantity": 5, "max_quantity": 4}, "max_quantity"),
    ({"max_quantity": 10_001}, "max_quantity"),
    ({"max_quantity": -1}, "max_quantity"),
])
def test_a_bad_combination_is_422_naming_the_field_and_writes_nothing(world, org, operator, limits, field):
    set_limits(world, operator, minimum=3, maximum=20)
    before, trail = world.deps.catalog.get(SKU), product_audit(world, operator)
    response = world.call("PUT", PRODUCT_PATH, operator, {**product_fields(world, operator), **limits})
    assert response.status_code == 422, response.json_body
    assert response.json_body["error"]["code"] == "invalid_quantity_limits"
    assert response.json_body["error"]["details"]["field"] == field
    assert world.deps.catalog.get(SKU) == before
    assert product_audit(world, operator) == trail


def test_a_max_below_the_products_current_minimum_is_refused(world, org, operator):
    set_limits(world, operator, minimum=5)
    response = world.call("PUT", PRODUCT_PATH, operator, {**product_fields(world, operator), "max_quantity": 4})
    assert response.status_code == 422 and response.json_body["error"]["details"]["field"] == "max_quantity"
    assert world.deps.catalog.get(SKU).max_quantity is None


@pytest.mark.parametrize("role", [Role.MASTER, Role.ADM])
def test_a_customer_cannot_set_limits(world, org, operator, role):
    account = org.master if role == Role.MASTER else world.user(org.id, [role])
    before, trail = world.deps.catalog.get(SKU), product_audit(world, operator)
    response = world.call("PUT", PRODUCT_PATH, account,
                          {**product_fields(world, operator), "min_quantity": 5, "max_quantity": 10})
    assert response.status_code == 403
    assert world.deps.catalog.get(SKU) == before
    assert product_audit(world, operator) == trail


# --- the cart -------------------------------------------------------------------------------------

def test_the_cart_refuses_a_quantity_outside_the_products_limits_and_keeps_the_line(world, org, operator):
    set_limits(world, operator, minimum=3, maximum=10)
    below = world.call("PUT", f"/cart/items/{SKU}", org.master, {"quantity": 2})
    assert_refused(below, "quantity_below_minimum", minimum=3)
    assert below.json_body["error"]["message"] == f"O produto {NAME} exige no mínimo 3 licença(s)."
    assert cart(world, org)["items"] == []

    assert world.call("PUT", f"/cart/items/{SKU}", org.master, {"quantity": 3}).status_code == 200  # = min
    before = cart(world, org)
    above = world.call("PUT", f"/cart/items/{SKU}", org.master, {"quantity": 11})  # more on the existing line
    assert_refused(above, "quantity_above_maximum", maximum=10)
    assert above.json_body["error"]["message"] == f"O produto {NAME} permite no máximo 10 licença(s)."
    assert cart(world, org) == before
    assert world.call("PUT", f"/cart/items/{SKU}", org.master, {"quantity": 10}).status_code == 200  # = max
    assert [(i["sku"], i["quantity"]) for i in cart(world, org)["items"]] == [(SKU, 10)]


def test_a_product_without_limits_takes_any_quantity_as_before(world, org, operator):
    set_limits(world, operator, minimum=3, maximum=10)  # another product's limits do not leak
    for quantity in (1, 10_000):
        response = world.call("PUT", f"/cart/items/{FREE_SKU}", org.master, {"quantity": quantity})
        assert response.status_code == 200, response.json_body
    [line] = cart(world, org)["items"]
    assert line["quantity_limits"] == {"minimum": 1, "maximum": None}
    assert world.call("PUT", f"/cart/items/{FREE_SKU}", org.master,
                      {"quantity": 10_001}).json_body["error"]["code"] == "invalid_quantity"  # the global one
    assert world.call("POST", "/cart/checkout", org.master).status_code == 201


# --- the checkout ---------------------------------------------------------------------------------

@pytest.mark.parametrize("limits, quantity, code, bound", [
    ({"minimum": 5}, 3, "quantity_below_minimum", {"minimum": 5}),
    ({"maximum": 2}, 3, "quantity_above_maximum", {"maximum": 2}),
])
def test_a_checkout_whose_limits_changed_since_the_cart_is_refused_naming_the_product(
        world, org, operator, limits, quantity, code, bound):
    assert world.call("PUT", f"/cart/items/{FREE_SKU}", org.master, {"quantity": 1}).status_code == 200
    assert world.call("PUT", f"/cart/items/{SKU}", org.master, {"quantity": quantity}).status_code == 200
    set_limits(world, operator, **limits)
    world.drain_queues()
    before = cart(world, org)

    preview = world.call("GET", "/cart/preview", org.master).json_body  # the review says so first
    assert [i["sku"] for i in preview["items"]] == [FREE_SKU]
    [flagged] = preview["unavailable"]
    assert flagged["sku"] == SKU and NAME in flagged["reason"]

    refused = world.call("POST", "/cart/checkout", org.master, headers={"Idempotency-Key": f"limites-{code}"})
    assert_refused(refused, code, **bound)
    assert subscriptions(world, org) == []
    assert cart(world, org) == before
    assert world.drain_queues() == 0  # nothing queued for the provider
    assert not [e for e in world.call("GET", "/audit", org.master).json_body["items"]
                if e["action"] == "cart.checked_out"]

    # Back within the limits, it goes through.
    assert world.call("PUT", f"/cart/items/{SKU}", org.master, {"quantity": next(iter(bound.values()))}).status_code == 200
    assert world.call("POST", "/cart/checkout", org.master).status_code == 201
    assert sorted(s["sku"] for s in subscriptions(world, org)) == sorted([SKU, FREE_SKU])


# --- a subscription's quantity change --------------------------------------------------------------

def test_a_quantity_change_outside_the_limits_is_refused_and_writes_nothing(world, org, operator, clock):
    set_limits(world, operator, minimum=3, maximum=10)
    sub = world.subscription(org, SKU, 5, bought_at=clock.now - timedelta(days=1))
    world.drain_queues()
    before = world.call("GET", f"/subscriptions/{sub.id}", org.master).json_body
    for quantity, code, bound in ((2, "quantity_below_minimum", {"minimum": 3}),
                                  (11, "quantity_above_maximum", {"maximum": 10})):
        preview = world.call("GET", f"/subscriptions/{sub.id}/quantity-preview?quantity={quantity}", org.master)
        assert_refused(preview, code, **bound)
        refused = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master,
                             {"quantity": quantity, "reason": "reducao_de_custos"})
        assert_refused(refused, code, **bound)
    assert world.call("GET", f"/subscriptions/{sub.id}", org.master).json_body == before
    assert world.call("GET", f"/subscriptions/{sub.id}/changes", org.master).json_body["items"] == []
    assert world.drain_queues() == 0
    assert not [e for e in world.call("GET", "/audit", org.master).json_body["items"]
                if e["action"] == "subscription.quantity_requested"]

    for quantity in (10, 3):  # the bounds themselves are accepted
        preview = world.call("GET", f"/subscriptions/{sub.id}/quantity-preview?quantity={quantity}", org.master)
        assert preview.status_code == 200, preview.json_body
        changed = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master,
                             {"quantity": quantity, "reason": "reducao_de_custos"})
        assert changed.status_code == 202, changed.json_body
        world.drain_queues()
        assert world.call("GET", f"/subscriptions/{sub.id}", org.master).json_body["quantity"] == quantity


def test_cancelling_to_zero_is_not_a_quantity_below_the_minimum(world, org, operator, clock):
    set_limits(world, operator, minimum=3)
    sub = world.subscription(org, SKU, 5, bought_at=clock.now - timedelta(days=1))
    response = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master,
                          {"quantity": 0, "reason": "reducao_de_custos"})
    assert response.status_code == 202, response.json_body


# --- the contract's items ---------------------------------------------------------------------------

def test_contract_items_the_operator_sets_are_held_to_the_limits(world, operator, clock):
    org = world.organization()  # awaiting acceptance: its items may still change
    set_limits(world, operator, minimum=3, maximum=10)
    path = f"/backoffice/organizations/{org.id}/contract"
    before = world.call("GET", "/contract", org.master).json_body
    for quantity, code, bound in ((2, "quantity_below_minimum", {"minimum": 3}),
                                  (11, "quantity_above_maximum", {"maximum": 10})):
        refused = world.call("PATCH", path, operator, {"items": [{"sku": "MS365-E3", "quantity": 12},
                                                                 {"sku": SKU, "quantity": quantity}]})
        assert_refused(refused, code, **bound)
    assert world.call("GET", "/contract", org.master).json_body == before
    accepted = world.call("PATCH", path, operator, {"items": [{"sku": SKU, "quantity": 3}]})
    assert accepted.status_code == 200, accepted.json_body
    assert [(i["sku"], i["quantity"]) for i in accepted.json_body["items"]] == [(SKU, 3)]


def test_a_product_written_before_limits_existed_reads_as_unlimited_and_takes_them(world, org, operator):
    from chalicelib.storage import keys
    from chalicelib.storage.models import ProductItem

    item = ProductItem.get(keys.CATALOG_PK, keys.product_sk(SKU))
    item.update(actions=[ProductItem.min_quantity.remove(), ProductItem.max_quantity.remove()])
    assert "min_quantity" not in ProductItem.get(keys.CATALOG_PK, keys.product_sk(SKU)).attribute_values
    assert world.deps.catalog.get(SKU).min_quantity == 1 and world.deps.catalog.get(SKU).max_quantity is None
    assert set_limits(world, operator, minimum=2)["quantity_limits"] == {"minimum": 2, "maximum": None}


def test_acceptance_refuses_contract_items_outside_limits_changed_since_they_were_set(world, operator, clock):
    """The operator set 5 seats; the product's limits changed since (at most 3, then at least 8):
    the Master's acceptance is refused naming the item, and nothing is written or ordered."""
    org = world.organization(items=((SKU, 5),))
    before = world.call("GET", "/contract", org.master).json_body
    audit_before = world.call("GET", "/audit", org.master).json_body["items"]
    for limits, code, bound in (({"maximum": 3}, "quantity_above_maximum", {"maximum": 3}),
                                ({"minimum": 8, "maximum": 10}, "quantity_below_minimum", {"minimum": 8})):
        set_limits(world, operator, **limits)
        refused = world.call("POST", "/contract/accept", org.master)
        assert_refused(refused, code, **bound)
        assert world.call("GET", "/contract", org.master).json_body == before
        assert subscriptions(world, org) == [] and world.drain_queues() == 0
        assert world.call("GET", "/audit", org.master).json_body["items"] == audit_before
    set_limits(world, operator, minimum=1, maximum=10)
    assert world.call("POST", "/contract/accept", org.master).status_code == 200
    assert [(s["sku"], s["pending_change"]["quantity"]) for s in subscriptions(world, org)] == [(SKU, 5)]
