"""The per-product seat limits' rules (domain/catalog.py, issue #21 §4)."""
import pytest

from chalicelib.domain.catalog import Product, quantity_limits_view, quantity_refusal, validate_quantity_limits
from chalicelib.domain.errors import DomainError

LIMITED = Product("D365-X", "Dynamics X", "Dynamics 365", "P1Y", "monthly", min_quantity=5, max_quantity=300)
FREE = Product("FREE-1", "Livre", "Outros", "P1Y", "monthly")


@pytest.mark.parametrize("quantity, code, details", [
    (4, "quantity_below_minimum", {"minimum": 5}), (301, "quantity_above_maximum", {"maximum": 300})])
def test_a_quantity_outside_a_products_limits_is_refused_naming_product_and_limit(quantity, code, details):
    refusal = quantity_refusal(LIMITED, quantity)
    assert refusal.code == code and refusal.details == {"sku": "D365-X", "product": "Dynamics X", **details}
    assert "Dynamics X" in refusal.message and str(next(iter(details.values()))) in refusal.message


def test_the_bounds_and_a_product_without_limits_are_accepted():
    assert quantity_refusal(LIMITED, 5) is None and quantity_refusal(LIMITED, 300) is None
    assert quantity_refusal(FREE, 1) is None and quantity_refusal(FREE, 10_000) is None
    assert quantity_limits_view(FREE) == {"minimum": 1, "maximum": None}


@pytest.mark.parametrize("minimum, maximum, field", [
    (0, None, "min_quantity"), (True, None, "min_quantity"), (11, None, "min_quantity"),
    (5, 4, "max_quantity"), (1, 11, "max_quantity"), (1, 0, "max_quantity")])
def test_bad_limits_name_the_field(minimum, maximum, field):
    with pytest.raises(DomainError) as refused:
        validate_quantity_limits(minimum, maximum, global_maximum=10)
    assert refused.value.code == "invalid_quantity_limits" and refused.value.details["field"] == field


def test_good_limits_pass():
    for minimum, maximum in ((1, None), (1, 1), (10, 10), (3, None)):
        validate_quantity_limits(minimum, maximum, global_maximum=10)
