"""What accepting a contract orders (domain.contract.order_items), without AWS."""
from datetime import datetime, timezone

import pytest

from chalicelib.domain import contract as rules
from chalicelib.domain.catalog import Product
from chalicelib.domain.contract import AWAITING_ACCEPTANCE, Contract, ContractItem
from chalicelib.domain.errors import Conflict
from chalicelib.domain.ids import derived_id, new_id
from chalicelib.domain.subscriptions import CHANGE_PENDING, PENDING, PURCHASE

NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
PRODUCTS = {
    "MS365-BUSINESS-STANDARD": Product("MS365-BUSINESS-STANDARD", "Microsoft 365 Business Standard", "Microsoft 365",
                                       "P1Y", "monthly"),
    "MS365-BUSINESS-BASIC-M": Product("MS365-BUSINESS-BASIC-M", "Microsoft 365 Business Basic (mensal)",
                                      "Microsoft 365", "P1M", "monthly"),
    "MS365-E5": Product("MS365-E5", "Microsoft 365 E5", "Microsoft 365", "P1Y", "annual"),
    "RETIRED": Product("RETIRED", "Produto retirado", "Azure", "P1M", "monthly", active=False),
}


def contract(*items, contract_id="c-1"):
    return Contract(id=contract_id, organization_id="org-1", status=AWAITING_ACCEPTANCE, payment_method="boleto",
                    closing_day=10, billing_contacts=["a@b.example"],
                    items=[ContractItem(sku, sku.title(), quantity) for sku, quantity in items])


def test_each_item_becomes_a_pending_subscription_with_its_purchase_and_the_catalogs_term():
    orders = rules.order_items(contract(("MS365-BUSINESS-BASIC-M", 3), ("MS365-E5", 2)), PRODUCTS, now=NOW,
                               requested_by="master-1")
    assert [(s.sku, s.status, s.quantity, s.term, s.billing_frequency, s.name) for s, _ in orders] == [
        ("MS365-BUSINESS-BASIC-M", PENDING, 0, "P1M", "monthly", "Microsoft 365 Business Basic (mensal)"),
        ("MS365-E5", PENDING, 0, "P1Y", "annual", "Microsoft 365 E5")]
    assert [(c.kind, c.status, c.from_quantity, c.to_quantity, c.requested_by, c.subscription_id)
            for _, c in orders] == [(PURCHASE, CHANGE_PENDING, 0, 3, "master-1", orders[0][0].id),
                                    (PURCHASE, CHANGE_PENDING, 0, 2, "master-1", orders[1][0].id)]
    assert all(s.pending_change.quantity == c.to_quantity for s, c in orders)
    assert all(s.started_on is None and s.timeline == [] for s, _ in orders)  # billed from activation only


def test_the_ids_are_the_contracts_and_the_skus_so_a_second_order_is_the_same_one():
    first = rules.order_items(contract(("MS365-E5", 2)), PRODUCTS, now=NOW, requested_by="m")
    again = rules.order_items(contract(("MS365-E5", 2)), PRODUCTS, now=NOW, requested_by="m")
    other = rules.order_items(contract(("MS365-E5", 2), contract_id="c-2"), PRODUCTS, now=NOW, requested_by="m")
    assert [(s.id, c.id) for s, c in first] == [(s.id, c.id) for s, c in again]
    assert first[0][0].id != other[0][0].id and first[0][1].id != other[0][1].id
    assert first[0][0].id != first[0][1].id


def test_a_sku_listed_twice_is_ordered_once_with_both_quantities_and_zero_items_are_left_out():
    orders = rules.order_items(contract(("MS365-E5", 2), ("MS365-BUSINESS-STANDARD", 0), ("MS365-E5", 3)),
                               PRODUCTS, now=NOW, requested_by="m")
    assert [(s.sku, c.to_quantity) for s, c in orders] == [("MS365-E5", 5)]


def test_a_contract_that_sold_nothing_orders_nothing():
    assert rules.order_items(contract(), PRODUCTS, now=NOW, requested_by="m") == []


def test_skus_the_catalog_does_not_sell_refuse_the_whole_order_naming_each():
    with pytest.raises(Conflict) as refused:
        rules.order_items(contract(("MS365-E5", 2), ("GONE", 1), ("RETIRED", 4)), PRODUCTS, now=NOW,
                          requested_by="m")
    assert refused.value.code == "contract_items_unavailable"
    assert refused.value.details["skus"] == ["GONE", "RETIRED"]
    assert "Gone (GONE), Retired (RETIRED)" in refused.value.message


def test_derived_ids_look_like_other_ids_and_differ_by_every_part():
    assert len(derived_id("a", "b")) == 26 and derived_id("a", "b") == derived_id("a", "b")
    assert len({derived_id("a", "b"), derived_id("a", "c"), derived_id("ab"), derived_id("a", "b", "")}) == 4


def test_a_derived_id_with_an_instant_sorts_among_other_ids_by_that_instant():
    earlier, later = datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2020, 1, 1, 0, 0, 1, tzinfo=timezone.utc)
    assert derived_id("z", at=earlier) < derived_id("a", at=later) < new_id()
    assert derived_id("a", at=earlier) == derived_id("a", at=earlier) != derived_id("b", at=earlier)
    [(_, purchase)] = rules.order_items(contract(("MS365-E5", 2)), PRODUCTS, now=NOW, requested_by="m")
    assert purchase.id[:10] == derived_id("other", at=NOW)[:10]  # a change made after it sorts after it
