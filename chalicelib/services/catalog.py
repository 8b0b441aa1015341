"""The catalog ("adicionar novos produtos"), the organisation's cart and its checkout."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol, Tuple

from ..domain import billing as billing_rules
from ..domain import catalog as rules
from ..domain import contract as contract_rules
from ..domain import subscriptions as subs
from ..domain import terms
from ..domain.catalog import Product
from ..domain.clock import iso, local_day
from ..domain.proration import period_containing
from ..domain import error_codes as codes
from ..domain.ids import derived_id, new_id
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
        """Operators writing a product, its prices and its audit entry in one transaction (its seat
        limits within the reseller's maximum, settings)."""

        catalog: CatalogRepository
        settings: Settings

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

# Per-product seat limits (#21 §4): in product views, cart lines and the licence panel's subscriptions.
QUANTITY_LIMITS = shape(
    "ProductQuantityLimits", description=(
        "Quantas licenças do produto se podem escolher (carrinho, pedido, alteração de quantidade, itens de "
        "contrato): `maximum` nulo quando só vale o máximo geral da revenda (`GET /me`, `limits`)."),
    minimum=integer(minimum=subs.MIN_PURCHASE_QUANTITY), maximum=nullable(integer(minimum=subs.MIN_PURCHASE_QUANTITY)))

# A product as the catalog lists it; a cart line is the same with its quantity and monthly total.
# (`component(…, closed(…))` where a property is called "name", which `shape` takes as its own.)
_PRODUCT = {"sku": text(), "name": text(), "family": text(), "family_id": text(),
            "unit_price_cents": nullable(cents()), "currency": currency(), "term": enum(rules.TERMS),
            "billing_frequency": enum(rules.BILLING_FREQUENCIES), "plan_label": text(), "active": boolean(),
            "next_price": NEXT_PRICE, "quantity_limits": QUANTITY_LIMITS}

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
            "plan_label": terms.plan_label(product.term, product.billing_frequency), "active": product.active,
            "quantity_limits": rules.quantity_limits_view(product)}
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
    # Seat limits (#21 §4): absent keeps the product's (a new one: 1 and none); `max_quantity` 0 clears it.
    min_quantity = fields.get("min_quantity", existing.min_quantity if existing else subs.MIN_PURCHASE_QUANTITY)
    max_quantity = (fields["max_quantity"] or None) if "max_quantity" in fields else \
        (existing.max_quantity if existing else None)
    rules.validate_quantity_limits(min_quantity, max_quantity, deps.settings.quantity_limits.maximum)
    described = Product(sku=sku, name=fields["name"].strip(), family=fields["family"].strip(), term=fields["term"],
                        billing_frequency=fields["billing_frequency"],
                        prices=existing.prices if existing else (),
                        active=fields.get("active", existing.active if existing else True), offer_id=offer_id,
                        min_quantity=min_quantity, max_quantity=max_quantity)
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


PERIOD = shape("ChargePeriod", description="Os dias (ou o bloco do prazo) que a primeira cobrança cobre.",
               start=date(), end=date())
PREVIEW_ITEM = component("CartPreviewItem", closed(
    {"sku": text(), "name": text(), "family": text(), "quantity": integer(minimum=subs.MIN_PURCHASE_QUANTITY),
     "term": enum(rules.TERMS), "billing_frequency": enum(rules.BILLING_FREQUENCIES), "plan_label": text(),
     "unit_price_cents": cents(), "first_charge_cents": cents(), "first_period": PERIOD,
     "invoice_period_end": date(), "monthly_cents": nullable(cents()), "next_charge_on": nullable(date())},
    description=(
        "Um item do pedido como a fatura vai cobrá-lo se as licenças forem ativadas hoje: a primeira cobrança "
        "(pró-rata até o fechamento num plano mensal; o bloco inteiro do prazo num plano pago antecipadamente) na "
        "fatura do período que termina em `invoice_period_end`; depois, `monthly_cents` por período (null num "
        "plano antecipado, cobrado de novo em `next_charge_on`).")))
UNAVAILABLE_ITEM = component("CartPreviewUnavailableItem", closed(
    {"sku": text(), "name": text(), "quantity": integer(minimum=subs.MIN_PURCHASE_QUANTITY), "reason": text()},
    description="Um item do carrinho que o catálogo não vende mais, ou numa quantidade fora dos limites do produto: "
                "a finalização o recusaria (`product_unavailable`, `quantity_below_minimum`, "
                "`quantity_above_maximum`). Fica fora dos totais; tire-o do carrinho (ou mude a quantidade) "
                "para confirmar o pedido."))
CART_PREVIEW = shape(
    "CartPreview", description="A revisão do pedido antes de confirmar: o que cada item custa na próxima fatura "
                               "e por mês depois dela, e o prazo para reduzir sem custo. Os itens que não podem "
                               "ser comprados vêm em `unavailable`, com o motivo, fora dos totais.",
    items=array(PREVIEW_ITEM), unavailable=array(UNAVAILABLE_ITEM), first_charge_cents=cents(),
    monthly_cents=cents(), currency=currency(), activated_on=date(), cancellation_window_days=integer(minimum=0))


def _unavailable(product: Optional[Product], sku: str, quantity: int) -> Optional[Dict[str, Any]]:
    """The checkout's rule for a line it refuses (`product_unavailable`), as the review shows it."""
    if product is not None and product.active:
        refused = rules.quantity_refusal(product, quantity)  # limits changed since it was put in the cart (#21 §4)
        return None if refused is None else {"sku": sku, "name": product.name, "quantity": quantity,
                                             "reason": refused.message}
    return {"sku": sku, "name": product.name if product is not None else sku, "quantity": quantity,
            "reason": codes.PRODUCT_UNAVAILABLE.message.format(sku=product.name if product is not None else sku)}


def cart_preview(deps: CartDeps, caller: Caller) -> Dict[str, Any]:
    """What checking the cart out costs, computed by the billing run's own rules
    (`billing.purchase_lines`) for licences activated today on the contract's current period: the
    first charge equals the line of the next invoice. 422 `cart_empty` with nothing in the cart."""
    contract = deps.contracts.get(caller.organization_id)
    lines = deps.cart.lines(caller.organization_id)
    if not lines:
        raise codes.CART_EMPTY()
    today = local_day(deps.clock())
    closing = period_containing(today, contract.closing_day).end
    period = billing_rules.period_ending(closing, contract.closing_day, starts_on=contract.terms_from)
    following = closing + timedelta(days=1)
    products = deps.catalog.by_sku(today)

    def price_of(sku, day):  # as the billing run prices a line (services/billing.period_lines)
        return rules.price_on(products.get(sku), day) or 0
    items, unavailable = [], []
    for sku, quantity in lines:
        product = products.get(sku) or deps.catalog.get(sku)
        refused = _unavailable(product, sku, quantity)
        if refused is not None:
            unavailable.append(refused)
            continue
        charged = billing_rules.purchase_lines(sku, product.name, product.term, product.billing_frequency, quantity,
                                               today, price_of, period)
        upfront = terms.upfront_months(product.term, product.billing_frequency) is not None
        items.append({
            "sku": sku, "name": product.name, "family": product.family, "quantity": quantity, "term": product.term,
            "billing_frequency": product.billing_frequency,
            "plan_label": terms.plan_label(product.term, product.billing_frequency),
            "unit_price_cents": charged[0].unit_price_cents if charged else price_of(sku, period.start),
            "first_charge_cents": sum(line.amount_cents for line in charged),
            "first_period": {"start": min((l.start for l in charged), default=today).isoformat(),
                             "end": max((l.end for l in charged), default=period.end).isoformat()},
            "invoice_period_end": period.end.isoformat(),
            "monthly_cents": None if upfront else price_of(sku, following) * quantity,
            "next_charge_on": _optional_day(billing_rules.next_upfront_charge(
                product.term, product.billing_frequency, today))})
    return {"items": items, "unavailable": unavailable,
            "first_charge_cents": sum(i["first_charge_cents"] for i in items),
            "monthly_cents": sum(i["monthly_cents"] or 0 for i in items), "currency": "BRL",
            "activated_on": today.isoformat(),
            "cancellation_window_days": deps.settings.quantity_limits.cancellation_window_days}


def _optional_day(day):
    return day.isoformat() if day is not None else None


def put_cart_item(deps: CartDeps, caller: Caller, sku: str, quantity: int) -> Dict[str, Any]:
    subs.validate_quantity(quantity, deps.settings.quantity_limits.maximum, minimum=subs.MIN_PURCHASE_QUANTITY)
    product = deps.catalog.get(sku)
    if product is None or not product.active:
        raise codes.PRODUCT_NOT_FOUND()
    rules.ensure_quantity_allowed(product, quantity)  # the product's own limits (#21 §4)
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


def checkout(deps: CheckoutDeps, caller: Caller,
             reviewed: Optional[List[Dict[str, Any]]] = None, *,
             approved: Optional[Tuple[str, List[Tuple[str, int]]]] = None,
             claim: Optional[Callable[[Dict[str, Any]], Callable[[Any], None]]] = None) -> List[Subscription]:
    """Each cart line becomes a subscription `pending` provisioning; all in one transaction.
    `reviewed`, the cart the customer reviewed (`[{sku, quantity}]`), binds the order to it: a cart
    that differs now (another tab, another user) is 409 `cart_changed_since_review`, nothing bought.
    `approved` (purchase approvals, services/approvals.py): (the request's id, its lines), ordered
    instead of the cart, which stays as it is; ids derived from the request, so it orders once.
    `claim(result)`: the approval's own write, given what is ordered, committed in the order's
    transaction (services/approvals.py `approve`)."""
    contract_rules.ensure_open_for_changes(deps.contracts.get(caller.organization_id))
    lines = approved[1] if approved is not None else deps.cart.lines(caller.organization_id)
    if reviewed is not None and not same_cart(lines, reviewed):
        raise codes.CART_CHANGED_SINCE_REVIEW()
    if not lines:
        raise codes.CART_EMPTY()
    dunning.ensure_purchases_allowed(deps, caller.organization_id)  # 422 overdue_block, nothing written
    now = deps.clock()
    created, changes = [], []
    for sku, quantity in lines:
        product = deps.catalog.get(sku)
        if product is None or not product.active:
            raise codes.PRODUCT_UNAVAILABLE(sku=sku)
        rules.ensure_quantity_allowed(product, quantity)  # limits changed since it was put in the cart (#21 §4)
        subscription, change = subs.purchase(
            subscription_id=derived_id(approved[0], sku) if approved else new_id(),
            change_id=derived_id(approved[0], sku, "change", at=now) if approved else new_id(), organization_id=caller.organization_id, sku=sku,
            name=product.name, family=product.family, term=product.term, billing_frequency=product.billing_frequency,
            quantity=quantity, now=now, requested_by=caller.user.id)
        created.append(subscription)
        changes.append(change)
    deps.subscriptions.save(
        [], [], created=created, new_changes=changes,
        also=claim({"subscription_ids": [c.id for c in created]}) if claim is not None else None,
        cart_lines_to_clear=[] if approved else [(caller.organization_id, sku, quantity) for sku, quantity in lines],
        audit=[audit.entry(deps, caller.actor, caller.organization_id, "cart.checked_out",
                           f"organization:{caller.organization_id}",
                           after=[{"sku": c.sku, "quantity": ch.to_quantity, "subscription_id": c.id}
                                  for c, ch in zip(created, changes)])])
    for change in changes:
        provisioning.queue_change(deps, change)
    return created


def same_cart(lines, reviewed: List[Dict[str, Any]]) -> bool:
    """The cart's lines are exactly the reviewed ones: the same SKUs, each in the same quantity."""
    wanted: Dict[str, int] = {}
    for item in reviewed:
        if item["sku"] in wanted:
            return False
        wanted[item["sku"]] = item["quantity"]
    return dict(lines) == wanted and len(lines) == len(wanted)
