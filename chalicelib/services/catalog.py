"""The catalog ("adicionar novos produtos"), the organisation's cart and its checkout."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any, Dict, List, Optional

from ..domain import catalog as rules
from ..domain import subscriptions as subs
from ..domain.catalog import Product
from ..domain.clock import iso, local_day
from ..domain.errors import Conflict, InvalidInput, NotFound, RuleViolation
from ..domain.ids import new_id
from ..domain.subscriptions import PendingChange, QuantityChange, Subscription
from . import audit
from .caller import Caller

FIRST_PRICE_DATE = "0001-01-01"  # a new product's first price has always been in force


def product_view(product: Product, today) -> Dict[str, Any]:
    view = {"sku": product.sku, "name": product.name, "family": product.family,
            "family_id": rules.family_id(product.family), "unit_price_cents": product.price_on(today),
            "currency": "BRL", "term": product.term, "billing_frequency": product.billing_frequency,
            "active": product.active}
    if product.price_on(today) != product.unit_price_cents:
        view["next_price"] = {"unit_price_cents": product.unit_price_cents, "from": product.price_effective_from}
    return view


def prices_today(deps) -> Dict[str, int]:
    today = local_day(deps.clock())
    return {p.sku: p.price_on(today) for p in deps.catalog.list()}


def list_families(deps) -> List[Dict[str, str]]:
    return rules.families(p for p in deps.catalog.list() if p.active)


def list_products(deps, *, family: Optional[str], query: Optional[str]) -> List[Dict[str, Any]]:
    today = local_day(deps.clock())
    return [product_view(p, today) for p in sorted(deps.catalog.list(), key=lambda p: (p.family, p.name))
            if p.active and rules.matches(p, family, query)]


def put_product(deps, caller: Caller, sku: str, fields: Dict[str, Any]) -> Dict[str, Any]:
    """Operators create or update a product. A new price applies from tomorrow (São Paulo), i.e.
    to every billing period that starts after today; issued invoices are never touched."""
    now = deps.clock()
    today = local_day(now)
    existing = deps.catalog.get(sku)
    price = fields["unit_price_cents"]
    described = dict(name=fields["name"].strip(), family=fields["family"].strip(), term=fields["term"],
                     billing_frequency=fields["billing_frequency"])
    if existing is None:
        product = Product(sku=sku, unit_price_cents=price, active=fields.get("active", True),
                          price_effective_from=FIRST_PRICE_DATE, **described)
        deps.prices.set_price(sku, date.fromisoformat(FIRST_PRICE_DATE), price, caller.user.id, iso(now))
    elif price == existing.unit_price_cents:
        product = replace(existing, active=fields.get("active", existing.active), **described)
    else:
        tomorrow = today + timedelta(days=1)
        product = replace(existing, active=fields.get("active", existing.active), unit_price_cents=price,
                          previous_price_cents=existing.price_on(today),
                          price_effective_from=tomorrow.isoformat(), **described)
        deps.prices.set_price(sku, tomorrow, price, caller.user.id, iso(now))
    deps.catalog.put(product)
    deps.audit.append(audit.entry(deps, caller.actor, caller.organization_id,
                                  "catalog.product_created" if existing is None else "catalog.product_updated",
                                  f"product:{sku}", before=existing, after=product))
    return product_view(product, today)


# --- cart ---------------------------------------------------------------------------------------

def cart_view(deps, caller: Caller) -> Dict[str, Any]:
    products = {p.sku: p for p in deps.catalog.list()}
    today = local_day(deps.clock())
    items = []
    for sku, quantity in deps.cart.lines(caller.organization_id):
        product = products.get(sku)
        if product is None:
            continue
        price = product.price_on(today)
        items.append({**product_view(product, today), "quantity": quantity,
                      "monthly_total_cents": price * quantity})
    return {"items": items, "monthly_total_cents": sum(i["monthly_total_cents"] for i in items), "currency": "BRL"}


def put_cart_item(deps, caller: Caller, sku: str, quantity: int) -> Dict[str, Any]:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= deps.settings.max_quantity:
        raise InvalidInput(f"Quantidade deve estar entre 1 e {deps.settings.max_quantity}.", code="invalid_quantity",
                           details={"field": "quantity"})
    product = deps.catalog.get(sku)
    if product is None or not product.active:
        raise NotFound("Produto não encontrado no catálogo.", code="product_not_found")
    lines = dict(deps.cart.lines(caller.organization_id))
    if sku not in lines and len(lines) >= rules.MAX_CART_LINES:
        raise RuleViolation(f"O carrinho aceita até {rules.MAX_CART_LINES} produtos.", code="cart_full")
    deps.cart.put(caller.organization_id, sku, quantity, iso(deps.clock()))
    return cart_view(deps, caller)


def remove_cart_item(deps, caller: Caller, sku: str) -> Dict[str, Any]:
    if sku not in dict(deps.cart.lines(caller.organization_id)):
        raise NotFound("Produto não está no carrinho.", code="cart_item_not_found")
    deps.cart.remove(caller.organization_id, sku)
    return cart_view(deps, caller)


def checkout(deps, caller: Caller) -> List[Subscription]:
    """Each cart line becomes a subscription `pending` provisioning; all in one transaction."""
    from . import licences

    contract = deps.contracts.get(caller.organization_id)
    if contract.status != "active":
        raise Conflict("O contrato não está ativo (aceite o contrato antes).", code="contract_not_active",
                       details={"status": contract.status})
    lines = deps.cart.lines(caller.organization_id)
    if not lines:
        raise RuleViolation("O carrinho está vazio.", code="cart_empty")
    now = deps.clock()
    created, changes = [], []
    for sku, quantity in lines:
        product = deps.catalog.get(sku)
        if product is None or not product.active:
            raise Conflict(f"O produto {sku} não está mais disponível.", code="product_unavailable",
                           details={"sku": sku})
        sub_id, change_id = new_id(), new_id()
        change = QuantityChange(id=change_id, subscription_id=sub_id, organization_id=caller.organization_id,
                                kind="purchase", from_quantity=0, to_quantity=quantity, requested_at=iso(now),
                                requested_by=caller.user.id, applies=subs.APPLIES_NOW, status=subs.CHANGE_PENDING,
                                effective_on=local_day(now))
        created.append(Subscription(
            id=sub_id, organization_id=caller.organization_id, sku=sku, name=product.name, family=product.family,
            term=product.term, billing_frequency=product.billing_frequency, status=subs.PENDING, quantity=0,
            pending_change=PendingChange(change_id=change_id, quantity=quantity, requested_at=change.requested_at,
                                         requested_by=caller.user.id, applies=subs.APPLIES_NOW)))
        changes.append(change)
    deps.subscriptions.save(
        [], [], created=created, new_changes=changes,
        cart_skus_to_clear=[(caller.organization_id, sku) for sku, _ in lines],
        audit=[audit.entry(deps, caller.actor, caller.organization_id, "cart.checked_out",
                           f"organization:{caller.organization_id}",
                           after=[{"sku": c.sku, "quantity": ch.to_quantity, "subscription_id": c.id}
                                  for c, ch in zip(created, changes)])])
    for change in changes:
        licences.queue_provisioning(deps, change)
    return created
