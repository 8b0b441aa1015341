"""The catalog ("adicionar novos produtos"), the cart and checkout, and the operators' catalog."""
from chalice import Blueprint

from ..domain.catalog import BILLING_FREQUENCIES, MAX_CART_LINES, OFFER_ID_RULE, TERMS
from ..domain.subscriptions import MIN_PURCHASE_QUANTITY
from ..domain.roles import Capability
from ..schemas import array
from ..schemas import page as page_of
from ..schemas import shape
from ..domain.approvals import ApprovalRequest
from ..services import approvals, catalog, subscriptions
from ..services.approvals import APPROVAL_PENDING
from .approvals import approval_pending
from ..services.catalog import CART, FAMILY, PRODUCT
from ..services.subscriptions import SUBSCRIPTION
from .http import endpoint, page
from .schema import integer, obj, quantity, sku, string

bp = Blueprint(__name__)

FAMILY_PAGE = page_of(FAMILY, "Family")
PRODUCT_PAGE = page_of(PRODUCT, "Product")


@endpoint(bp, "/catalog/families", "GET", summary="Famílias de produtos", capability=Capability.USE_PORTAL,
          tag="catalog", response=FAMILY_PAGE)
def list_families(ctx):
    return page(catalog.list_families(ctx.deps), None)


@endpoint(bp, "/catalog/products", "GET", summary="Produtos do catálogo (filtro por família e busca por nome)",
          capability=Capability.USE_PORTAL, tag="catalog",
          query={"family": string(min_length=0, max_length=60), "q": string(min_length=0, max_length=200)},
          response=PRODUCT_PAGE)
def list_products(ctx):
    return page(catalog.list_products(ctx.deps, ctx.caller, family=ctx.query.get("family"), query=ctx.query.get("q")), None)


@endpoint(bp, "/backoffice/catalog/products", "GET",
          summary="O catálogo do operador: todos os produtos, vendidos ou não, com a oferta do Partner Center",
          capability=Capability.BACK_OFFICE, tag="backoffice", response=PRODUCT_PAGE)
def list_operator_products(ctx):
    return page(catalog.list_operator_products(ctx.deps), None)


@endpoint(bp, "/backoffice/catalog/products/{sku}", "PUT", summary="Criar ou alterar um produto (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", path_params={"sku": sku()},
          body=obj(["name", "family", "unit_price_cents", "term", "billing_frequency"],
                   name=string(max_length=120), family=string(max_length=60),
                   unit_price_cents=integer(1, 100_000_000),
                   term={"type": "string", "enum": list(TERMS)},
                   billing_frequency={"type": "string", "enum": list(BILLING_FREQUENCIES)},
                   active={"type": "boolean"},
                   # Partner Center's New Commerce offer ("productId:skuId"); "" clears it, absent keeps it.
                   offer_id=string(min_length=0, max_length=17, pattern=f"^({OFFER_ID_RULE[1:-1]})?$",
                                   **{"x-error-code": "invalid_offer_id"}),
                   # Seat limits (#21 §4), checked by the domain (422 `invalid_quantity_limits`): absent keeps
                   # them; `max_quantity` 0 removes the maximum.
                   min_quantity={"type": "integer"}, max_quantity={"type": "integer"}), response=PRODUCT)
def put_product(ctx, sku):
    return catalog.put_product(ctx.deps, ctx.caller, sku, ctx.body)


@endpoint(bp, "/cart", "GET", summary="O carrinho da organização", capability=Capability.BUY_PRODUCTS, tag="cart",
          response=CART)
def get_cart(ctx):
    return catalog.cart_view(ctx.deps, ctx.caller)


@endpoint(bp, "/cart/preview", "GET",
          summary="Revisão do pedido: a primeira cobrança (pró-rata) de cada item e o valor mensal depois dela",
          capability=Capability.BUY_PRODUCTS, tag="cart", response=catalog.CART_PREVIEW)
def preview_cart(ctx):
    return catalog.cart_preview(ctx.deps, ctx.caller)


@endpoint(bp, "/cart/items/{sku}", "PUT", summary="Colocar um produto no carrinho (ou mudar a quantidade)",
          capability=Capability.BUY_PRODUCTS, tag="cart", path_params={"sku": sku()},
          body=obj(["quantity"], quantity=quantity(MIN_PURCHASE_QUANTITY)),
          response=CART)
def put_cart_item(ctx, sku):
    return catalog.put_cart_item(ctx.deps, ctx.caller, sku, ctx.body["quantity"])


@endpoint(bp, "/cart/items/{sku}", "DELETE", summary="Tirar um produto do carrinho",
          capability=Capability.BUY_PRODUCTS, tag="cart", path_params={"sku": sku()}, response=CART)
def remove_cart_item(ctx, sku):
    return catalog.remove_cart_item(ctx.deps, ctx.caller, sku)


CHECKOUT = shape("Checkout", description="As assinaturas criadas pelo pedido, `pending` até o provedor confirmar.",
                 subscriptions=array(SUBSCRIPTION))


@endpoint(bp, "/cart/checkout", "POST", summary="Fechar o pedido: cria as assinaturas (provisionamento assíncrono); "
          "o pedido de um Adm acima do limite de aprovação vai para o Master (202)",
          capability=Capability.BUY_PRODUCTS, tag="cart", status=201, idempotent=True, response=CHECKOUT,
          other_responses={202: APPROVAL_PENDING},  # purchase approvals (services/approvals.py)
          # Optional: the cart the customer reviewed; a cart that differs now is 409 `cart_changed_since_review`.
          body=obj([], items={"type": "array", "minItems": 1, "maxItems": MAX_CART_LINES,
                              "items": obj(["sku", "quantity"], sku=sku(),
                                           quantity=quantity(MIN_PURCHASE_QUANTITY))}))
def checkout(ctx):
    created = approvals.checkout(ctx.deps, ctx.caller, reviewed=ctx.body.get("items"))
    if isinstance(created, ApprovalRequest):
        return approval_pending(created)
    prices = subscriptions.prices_for(ctx.deps, ctx.caller.organization_id)
    return {"subscriptions": [subscriptions.subscription_view(ctx.deps, s, prices) for s in created]}
