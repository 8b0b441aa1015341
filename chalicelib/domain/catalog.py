"""CSP products as the reseller sells them. Prices are integer centavos per licence per month.

A price change never touches the past: the new price applies to billing periods that start on or
after its effective date (the next day). Each product keeps every price it has had, and `price_on`
over that history is the only way anything (panel, cart, preview, invoice) learns a price.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Iterable, List, Optional, Tuple

from .proration import period_containing
from .terms import BILLING_FREQUENCIES, TERMS  # noqa: F401 - the catalog's vocabulary (domain.terms owns it)
from . import error_codes as codes

MAX_CART_LINES = 25  # one checkout is one DynamoDB transaction

# The one SKU rule, for every route that takes one (path, body, filter): Microsoft's product ids
# and ours fit it, and a key built from it stays far below DynamoDB's key size limit.
SKU_RULE = r"^[A-Z0-9][A-Z0-9-]{1,63}$"
_SKU = re.compile(SKU_RULE)


def validate_sku(sku: str, field: str = "sku") -> str:
    if not isinstance(sku, str) or not _SKU.fullmatch(sku):
        raise codes.INVALID_SKU(field=field, rule=SKU_RULE)
    return sku


# Partner Center's New Commerce offer a product is ordered as: "productId:skuId" (its catalog's
# product id, 12 characters, and the SKU's id), e.g. Microsoft 365 Business Premium CFQ7TTC0LCHC:0002.
OFFER_ID_RULE = r"^[A-Z0-9]{12}:[A-Z0-9]{4}$"
_OFFER_ID = re.compile(OFFER_ID_RULE)


def validate_offer_id(raw: Optional[str], field: str = "offer_id") -> Optional[str]:
    """An offer id as Partner Center spells it (upper case), or None (blank: no offer yet)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    offer_id = raw.strip().upper() if isinstance(raw, str) else raw
    if not isinstance(offer_id, str) or not _OFFER_ID.fullmatch(offer_id):
        raise codes.INVALID_OFFER_ID(field=field, rule=OFFER_ID_RULE)
    return offer_id


@dataclass(frozen=True)
class PricePoint:
    """A price per licence per month, in force from `effective_from` until the next point."""

    effective_from: date
    unit_price_cents: int


# A product's first price has always been in force: there is no day without a price.
ALWAYS = date(1, 1, 1)


@dataclass
class Product:
    sku: str
    name: str
    family: str
    term: str
    billing_frequency: str
    # Every price the product has had, oldest first: the one source of "the price on a day".
    prices: Tuple[PricePoint, ...] = ()
    active: bool = True
    # Partner Center's offer ("productId:skuId", OFFER_ID_RULE): what the provisioning worker orders.
    # Required by the real licence provider; None is fine for the simulator.
    offer_id: Optional[str] = None
    # Per-product seat limits (issue #21 §4), set by operators: every quantity chosen for the product
    # (cart, checkout, a change, a contract item) is within them; no maximum: the reseller's own.
    min_quantity: int = 1
    max_quantity: Optional[int] = None


def price_on(product: Optional[Product], day: date) -> Optional[int]:
    """The price in force on `day`: the panel, the cart, the preview and the invoice all ask this.
    None for an unknown product (or one not priced yet on that day)."""
    if product is None:
        return None
    in_force = [p for p in product.prices if p.effective_from <= day]
    return in_force[-1].unit_price_cents if in_force else None


def next_price(product: Product, today: date) -> Optional[PricePoint]:
    """A price set to take effect after today, if any (the catalog shows it as "next price")."""
    later = [p for p in product.prices if p.effective_from > today]
    return later[-1] if later else None


@dataclass(frozen=True)
class PriceQuote:
    """The price someone sees for a product now, and the next one if a change is on its way."""

    unit_price_cents: Optional[int]
    next_price: Optional[PricePoint]


def quote(product: Product, today: date, closing_day: Optional[int] = None) -> PriceQuote:
    """What a price is "now". A customer pays, for the whole billing period, the price in force
    on its first day (billing's rule), so with the contract's `closing_day` the quote is the
    current period's price and the next one starts with the next period: the catalog, the cart,
    the panel, the preview and the invoice then agree. Without a contract (the reseller's
    operators) it is today's price and the next one from its effective day."""
    if closing_day is None:
        return PriceQuote(price_on(product, today), next_price(product, today))
    period = period_containing(today, closing_day)
    current = price_on(product, period.start)
    following = period.end + timedelta(days=1)
    upcoming = price_on(product, following)
    changes = upcoming is not None and upcoming != current
    return PriceQuote(current, PricePoint(following, upcoming) if changes else None)


def with_price(product: Product, unit_price_cents: int, today: date) -> Product:
    """The product after an operator sets its price today. A new product's first price has always
    been in force; a change applies from tomorrow (São Paulo), i.e. to billing periods that start
    after today, so an issued invoice or a day gone by never changes. A second change on the same
    day replaces the first one's."""
    if not product.prices:
        return replace(product, prices=(PricePoint(ALWAYS, unit_price_cents),))
    tomorrow = today + timedelta(days=1)
    if unit_price_cents == price_on(product, tomorrow):
        return product
    kept = tuple(p for p in product.prices if p.effective_from < tomorrow)
    if unit_price_cents == price_on(replace(product, prices=kept), today):
        return replace(product, prices=kept)  # back to today's price: the scheduled change is undone
    return replace(product, prices=kept + (PricePoint(tomorrow, unit_price_cents),))


def family_id(family: str) -> str:
    """'Segurança' → 'seguranca': a stable id for the family filter."""
    ascii_name = unicodedata.normalize("NFKD", family).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


def matches(product: Product, family: Optional[str], query: Optional[str]) -> bool:
    """The catalog filter: by family (id or name) and by words of the name, accents ignored."""
    if family and family_id(family) != family_id(product.family):
        return False
    if query:
        name = _folded(product.name + " " + product.sku)
        return all(word in name for word in _folded(query).split())
    return True


def families(products: Iterable[Product]) -> List[dict]:
    names = sorted({p.family for p in products})
    return [{"id": family_id(name), "name": name} for name in names]


# --- per-product quantity limits (issue #21 §4) ---------------------------------------------------

def validate_quantity_limits(min_quantity: int, max_quantity: Optional[int], global_maximum: int) -> None:
    """The operator's limits for a product: a minimum of at least 1 and, when there is a maximum, a
    maximum from the minimum up to the reseller's maximum (422 `invalid_quantity_limits`, naming the field)."""
    if isinstance(min_quantity, bool) or not isinstance(min_quantity, int) or not 1 <= min_quantity <= global_maximum:
        raise codes.INVALID_QUANTITY_LIMITS(field="min_quantity", minimum=1, maximum=global_maximum)
    if max_quantity is None:
        return
    if isinstance(max_quantity, bool) or not isinstance(max_quantity, int) or \
            not min_quantity <= max_quantity <= global_maximum:
        raise codes.INVALID_QUANTITY_LIMITS(field="max_quantity", minimum=min_quantity, maximum=global_maximum)


def quantity_refusal(product: Product, quantity: int):
    """Why `quantity` (a non-zero one: cancelling is another rule's business) is outside the
    product's limits, as the error to raise (`quantity_below_minimum` / `quantity_above_maximum`,
    422, naming the product and the limit), or None when it is within them."""
    if quantity < product.min_quantity:
        return codes.QUANTITY_BELOW_MINIMUM(sku=product.sku, product=product.name, minimum=product.min_quantity)
    if product.max_quantity is not None and quantity > product.max_quantity:
        return codes.QUANTITY_ABOVE_MAXIMUM(sku=product.sku, product=product.name, maximum=product.max_quantity)
    return None


def ensure_quantity_allowed(product: Product, quantity: int) -> None:
    refusal = quantity_refusal(product, quantity)
    if refusal is not None:
        raise refusal


def quantity_limits_view(product: Product) -> dict:
    """`{minimum, maximum}` as views show them; `maximum` null: only the reseller's maximum (`GET /me`)."""
    return {"minimum": product.min_quantity, "maximum": product.max_quantity}
