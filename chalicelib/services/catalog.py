"""The catalog ("adicionar novos produtos"), the organisation's cart and its checkout."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol

from ..domain import catalog as rules
from ..domain import contract as contract_rules
from ..domain import subscriptions as subs
from ..domain import terms
from ..domain.catalog import Product
from ..domain.clock import iso, local_day
from ..domain import error_codes as codes
from ..domain.ids import new_id
from ..domain.subscriptions import Subscription
from ..schemas import array, boolean, cents, closed, component, currency, date, enum, integer, nullable, shape, text
from . import audit, dunning, provisioning
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..settings import Settings
    from ..storage.licences import CartRepository, SubscriptionRepository
    from ..storage.repositories import CatalogRepository, ContractRepository
    from .audit import Clocked
    from .dunning import PurchaseBlockDeps
    from .provisioning import QueuesChanges

    class CatalogDeps(Clocked, Protocol):
        """The products, priced for the organisation's billing period (its contract)."""

        catalog: CatalogRepository
        contracts: ContractRepository

    class CatalogEditDeps(Clocked, Protocol):
        """Operators writing a product, its prices and its audit entry in one transaction."""

        catalog: CatalogRepository

    class CartDeps(CatalogDeps, Protocol):
        """The cart's lines, within the seat rules (settings)."""

        cart: CartRepository
        settings: Settings

    class CheckoutDeps(CatalogDeps, QueuesChanges, PurchaseBlockDeps, Protocol):
        """The cart's lines become subscriptions whose purchases are queued for the provider,
        unless an unpaid invoice blocks purchases (`dunning`)."""

        cart: CartRepository
        subscriptions: SubscriptionRepository


NEXT_PRICE = shape("NextPrice", description="Um novo preço já marcado e o dia em que passa a valer.",
                   unit_price_cents=cents(), **{"from": date()})

# A product as the catalog lists it; a cart line is the same with its quantity and monthly total.
# (`component(…, closed(…))` where a property is called "name", which `shape` takes as its own.)
_PRODUCT = {"sku": text(), "name": text(), "family": text(), "family_id": text(),
            "unit_price_cents": nullable(cents()), "currency": currency(), "term": enum(rules.TERMS),
            "billing_frequency": enum(rules.BILLING_FREQUENCIES), "plan_label": text(), "active": boolean(),
            "next_price": NEXT_PRICE}

PRODUCT = component("Product", closed({**_PRODUCT, "offer_id": nullable(text())}, optional=["next_price", "offer_id"],
                                      description=(
    "Um produto com o preço que o cliente paga agora (`next_price` só quando um novo preço já está marcado). "
    "`offer_id` só na visão do operador: a oferta New Commerce do Partner Center ('productId:skuId') que o "
    "provisionamento contrata; nula enquanto não informada (o Partner Center real recusa o produto sem ela).")))


def operator_product_view(product: Product, quote: rules.PriceQuote) -> Dict[str, Any]:
    """The operators' view: the customers' one with the product's Partner Center offer."""
    return {**product_view(product, quote), "offer_id": product.offer_id}


def list_operator_products(deps: CatalogEditDeps) -> List[Dict[str, Any]]:
    """Every product, sold or not, at today's price, with its offer: the catalog as operators keep it."""
    today = local_day(deps.clock())
    return [operator_product_view(p, rules.quote(p, today))
            for p in sorted(deps.catalog.list(today), key=lambda p: (p.family, p.name))]


def product_view(product: Product, quote: rules.PriceQuote) -> Dict[str, Any]:
    view = {"sku": product.sku, "name": product.name, "family": product.family,
            "family_id": rules.family_id(product.family), "unit_price_cents": quote.unit_price_cents,
            "currency": "BRL", "term": product.term, "billing_frequency": product.billing_frequency,
            "plan_label": terms.plan_label(product.term, product.billing_frequency), "active": product.active}
    if quote.next_price is not None:
        view["next_price"] = {"unit_price_cents": quote.next_price.unit_price_cents,
                              "from": quote.next_price.effective_from.isoformat()}
    return view


def _quoter(deps: CatalogDeps, organization_id: str):
    """Prices as this organisation sees them (`rules.quote`): its contract's period, or today."""
    today = local_day(deps.clock())
    contract = deps.contracts.find(organization_id)
    closing_day = contract.closing_day if contract is not None else None
    return today, lambda product: rules.quote(product, today, closing_day)


FAMILY = component("Family", closed({"id": text(), "name": text()}))


def list_families(deps: CatalogDeps) -> List[Dict[str, str]]:
    return rules.families(p for p in deps.catalog.list() if p.active)


def list_products(deps: CatalogDeps, caller: Caller, *, family: Optional[str],
                  query: Optional[str]) -> List[Dict[str, Any]]:
    today, quote = _quoter(deps, caller.organization_id)
    return [product_view(p, quote(p)) for p in sorted(deps.catalog.list(today), key=lambda p: (p.family, p.name))
            if p.active and rules.matches(p, family, query)]


def put_product(deps: CatalogEditDeps, caller: Caller, sku: str, fields: Dict[str, Any]) -> Dict[str, Any]:
    """Operators create or update a product. A new price applies from tomorrow (São Paulo), i.e.
    to every billing period that starts after today; issued invoices are never touched. The term
    and billing plan must be a combination `domain.terms` allows (422, nothing written)."""
    rules.validate_sku(sku)
    terms.validate_plan(fields["term"], fields["billing_frequency"])
    # Absent keeps the product's offer; "" clears it.
    offer_id = rules.validate_offer_id(fields["offer_id"]) if "offer_id" in fields else None
    today = local_day(deps.clock())
    existing = deps.catalog.get(sku)
    if "offer_id" not in fields and existing is not None:
        offer_id = existing.offer_id
    described = Product(sku=sku, name=fields["name"].strip(), family=fields["family"].strip(), term=fields["term"],
                        billing_frequency=fields["billing_frequency"],
                        prices=existing.prices if existing else (),
                        active=fields.get("active", existing.active if existing else True), offer_id=offer_id)
    product = rules.with_price(described, fields["unit_price_cents"], today)
    deps.catalog.save(product, previous=existing, audit=audit.entry(
        deps, caller.actor, caller.organization_id,
        "catalog.product_created" if existing is None else "catalog.product_updated",
        f"product:{sku}", before=existing, after=product))
    return operator_product_view(product, rules.quote(product, today))  # the operator's view: today's price


# --- cart ---------------------------------------------------------------------------------------

CART_ITEM = component("CartItem", closed(
    {**_PRODUCT, "quantity": integer(minimum=subs.MIN_PURCHASE_QUANTITY), "monthly_total_cents": cents()},
    optional=["next_price"], description="Um produto no carrinho, com a quantidade e o total por mês."))

CART = shape("Cart", items=array(CART_ITEM), monthly_total_cents=cents(), currency=currency())


def cart_view(deps: CartDeps, caller: Caller) -> Dict[str, Any]:
    today, quote = _quoter(deps, caller.organization_id)
    products = deps.catalog.by_sku(today)
    items = []
    for sku, quantity in deps.cart.lines(caller.organization_id):
        product = products.get(sku)
        if product is None:
            continue
        price = quote(product)
        items.append({**product_view(product, price), "quantity": quantity,
                      "monthly_total_cents": (price.unit_price_cents or 0) * quantity})
    return {"items": items, "monthly_total_cents": sum(i["monthly_total_cents"] for i in items), "currency": "BRL"}


def put_cart_item(deps: CartDeps, caller: Caller, sku: str, quantity: int) -> Dict[str, Any]:
    subs.validate_quantity(quantity, deps.settings.quantity_limits.maximum, minimum=subs.MIN_PURCHASE_QUANTITY)
    product = deps.catalog.get(sku)
    if product is None or not product.active:
        raise codes.PRODUCT_NOT_FOUND()
    lines = dict(deps.cart.lines(caller.organization_id))
    if sku not in lines and len(lines) >= rules.MAX_CART_LINES:
        raise codes.CART_FULL(max_lines=rules.MAX_CART_LINES)
    deps.cart.put(caller.organization_id, sku, quantity, iso(deps.clock()))
    return cart_view(deps, caller)


def remove_cart_item(deps: CartDeps, caller: Caller, sku: str) -> Dict[str, Any]:
    if sku not in dict(deps.cart.lines(caller.organization_id)):
        raise codes.CART_ITEM_NOT_FOUND()
    deps.cart.remove(caller.organization_id, sku)
    return cart_view(deps, caller)


def checkout(deps: CheckoutDeps, caller: Caller) -> List[Subscription]:
    """Each cart line becomes a subscription `pending` provisioning; all in one transaction."""
    contract_rules.ensure_open_for_changes(deps.contracts.get(caller.organization_id))
    lines = deps.cart.lines(caller.organization_id)
    if not lines:
        raise codes.CART_EMPTY()
    dunning.ensure_purchases_allowed(deps, caller.organization_id)  # 422 overdue_block, nothing written
    now = deps.clock()
    created, changes = [], []
    for sku, quantity in lines:
        product = deps.catalog.get(sku)
        if product is None or not product.active:
            raise codes.PRODUCT_UNAVAILABLE(sku=sku)
        subscription, change = subs.purchase(
            subscription_id=new_id(), change_id=new_id(), organization_id=caller.organization_id, sku=sku,
            name=product.name, family=product.family, term=product.term, billing_frequency=product.billing_frequency,
            quantity=quantity, now=now, requested_by=caller.user.id)
        created.append(subscription)
        changes.append(change)
    deps.subscriptions.save(
        [], [], created=created, new_changes=changes,
        cart_lines_to_clear=[(caller.organization_id, sku, quantity) for sku, quantity in lines],
        audit=[audit.entry(deps, caller.actor, caller.organization_id, "cart.checked_out",
                           f"organization:{caller.organization_id}",
                           after=[{"sku": c.sku, "quantity": ch.to_quantity, "subscription_id": c.id}
                                  for c, ch in zip(created, changes)])])
    for change in changes:
        provisioning.queue_change(deps, change)
    return created
