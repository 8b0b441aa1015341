"""Purchase approvals (issue #21 §4): the organisation's approval limit, an Adm's checkout or
increase above it turned into a request, and the Master's decision, which orders it once.

The rules live in `domain.approvals`; the order itself is the checkout's and the quantity
change's own (`catalog.checkout`, `subscriptions.request_quantity_change`), run as the Master."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, Tuple, Union

from ..domain import approvals as rules
from ..domain import catalog as catalog_rules
from ..domain import contract as contract_rules
from ..domain import error_codes as codes
from ..domain import subscriptions as subs
from ..domain.approvals import ApprovalRequest
from ..domain.audit import SYSTEM
from ..domain.clock import iso
from ..domain.errors import DomainError
from ..domain.ids import new_id
from ..domain.roles import Capability, Role, can
from ..domain.subscriptions import QuantityChange, Subscription
from ..schemas import array, cents, closed, component, currency, date_time, enum, integer, nullable, shape, text
from . import audit, catalog, dunning, notifications, subscriptions
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..settings import Settings
    from ..storage.approvals import ApprovalRepository
    from ..storage.licences import CartRepository, SubscriptionRepository
    from ..storage.repositories import CatalogRepository, ContractRepository, OrganizationRepository, UserRepository
    from .audit import Clocked
    from .notifications import QueuesEmails
    from .subscriptions import QuantityChangeDeps

    class ApprovalLimitDeps(Clocked, Protocol):
        """The limit, on the organisation's item, written with its audit entry."""

        approvals: ApprovalRepository

    class RequesterNoticeDeps(QueuesEmails, Protocol):
        """An email about a request to its requester (the organisation's name, the portal's link)."""

        settings: Settings
        organizations: OrganizationRepository

    class MastersNoticeDeps(RequesterNoticeDeps, Protocol):
        """A new request's email to the organisation's Masters."""

        users: UserRepository

    class ApprovalListDeps(Protocol):
        """Reading requests back: a Master all of the organisation's, an Adm their own."""

        approvals: ApprovalRepository

    class PurchaseApprovalDeps(QuantityChangeDeps, MastersNoticeDeps, Protocol):
        """A checkout or a quantity change that may become a request (priced as the customer pays
        now: `CheckoutDeps`' fields), and the Master's approval that runs it."""

        approvals: ApprovalRepository
        cart: CartRepository
        catalog: CatalogRepository
        contracts: ContractRepository
        subscriptions: SubscriptionRepository

    class ApprovalExpiryDeps(RequesterNoticeDeps, Clocked, Protocol):
        """The daily job: pending requests past their expiry become `expired`, their requester told."""

        approvals: ApprovalRepository


# --- views --------------------------------------------------------------------------------------

PERSON = component("ApprovalPerson", closed({"id": text(), "email": text(), "name": text()},
                                            description="Quem pediu ou decidiu."))
APPROVAL_ITEM = component("ApprovalItem", closed(
    {"sku": text(), "name": text(), "quantity": integer(minimum=1), "unit_price_cents": cents(),
     "monthly_cents": cents()},
    description="Um item do pedido, com o preço mensal por licença no momento do pedido."))
APPROVAL_SUBSCRIPTION = component("ApprovalSubscription", closed(
    {"id": text(), "sku": text(), "name": text(), "from_quantity": integer(minimum=0),
     "quantity": integer(minimum=1), "version": integer(minimum=1), "unit_price_cents": cents()},
    description="O aumento pedido: de `from_quantity` para `quantity`, sobre a versão da assinatura vista no pedido."))
APPROVAL_RESULT = component("ApprovalResult", closed(
    {"subscription_ids": array(text()), "change_id": text()}, optional=["subscription_ids", "change_id"],
    description="O que a aprovação comprou: as assinaturas criadas (pedido) ou a alteração feita (aumento)."))
APPROVAL = shape(
    "Approval", description=(
        "Uma compra de um Adm acima do limite mensal da organização, à espera do Master (expira em 7 dias). "
        "`monthly_effect_cents`: quantidade × preço mensal por licença (num plano pago antecipadamente, o preço "
        "mensal equivalente: a cobrança antecipada dividida pelos meses do bloco)."),
    id=text(), kind=enum(rules.KINDS), items=array(APPROVAL_ITEM), subscription=nullable(APPROVAL_SUBSCRIPTION),
    monthly_effect_cents=cents(), currency=currency(), requested_by=PERSON, created_at=date_time(),
    expires_at=date_time(), status=enum(rules.STATUSES), decided_by=nullable(PERSON),
    decided_at=nullable(date_time()), reason=nullable(text()), result=nullable(APPROVAL_RESULT),
    version=integer(minimum=1))
APPROVAL_PENDING = shape("ApprovalPending", description="O pedido passou do limite de aprovação: foi enviado "
                         "ao Master, nada foi comprado ainda.", approval=APPROVAL)
APPROVAL_LIMIT = shape("ApprovalLimit", description="Acima deste valor mensal, a compra de um Adm espera a aprovação "
                       "do Master; null: nenhuma compra precisa de aprovação.",
                       monthly_limit_cents=nullable(cents()), currency=currency())


def approval_view(request: ApprovalRequest) -> Dict[str, Any]:
    return {"id": request.id, "kind": request.kind, "items": list(request.items), "subscription": request.subscription,
            "monthly_effect_cents": request.monthly_effect_cents, "currency": "BRL",
            "requested_by": request.requested_by, "created_at": request.created_at, "expires_at": request.expires_at,
            "status": request.status, "decided_by": request.decided_by, "decided_at": request.decided_at,
            "reason": request.reason, "result": request.result, "version": request.version}


def _person(caller: Caller) -> Dict[str, str]:
    return {"id": caller.user.id, "email": caller.user.email, "name": caller.user.name}


# --- the limit ----------------------------------------------------------------------------------

def get_limit(deps: ApprovalLimitDeps, caller: Caller) -> Dict[str, Any]:
    limit, _ = deps.approvals.limit(caller.organization_id)
    return {"monthly_limit_cents": limit, "currency": "BRL"}


def set_limit(deps: ApprovalLimitDeps, caller: Caller, body: Dict[str, Any]) -> Dict[str, Any]:
    """A Master's limit, `monthly_limit_cents`: whole centavos ≥ 0, or null (no approvals; the body
    validator hands an explicit null as an absent field: the route refuses a body without the field
    before this). 400 and nothing written otherwise. Written on the limit as read (its own
    attribute), not on the organisation's version, which other edits (the address) use for If-Match."""
    limit_cents = body.get("monthly_limit_cents")
    if limit_cents is not None and (isinstance(limit_cents, bool) or not isinstance(limit_cents, int)):
        raise codes.INVALID_TYPE(field="monthly_limit_cents", expected="integer")
    if limit_cents is not None and not 0 <= limit_cents <= 100_000_000_000:
        raise codes.OUT_OF_RANGE(field="monthly_limit_cents", minimum=0, maximum=100_000_000_000)
    before, _ = deps.approvals.limit(caller.organization_id)
    deps.approvals.set_limit(caller.organization_id, limit_cents, before, audit.entry(
        deps, caller.actor, caller.organization_id, "approval.limit_changed", f"organization:{caller.organization_id}",
        before={"monthly_limit_cents": before}, after={"monthly_limit_cents": limit_cents}))
    return {"monthly_limit_cents": limit_cents, "currency": "BRL"}


# --- purchases that may become requests ---------------------------------------------------------

def checkout(deps: PurchaseApprovalDeps, caller: Caller,
             reviewed: Optional[List[Dict[str, Any]]] = None) -> Union[ApprovalRequest, List[Subscription]]:
    """The checkout, or, for an Adm whose cart's monthly effect is above the limit, a request that
    keeps the cart's lines and their prices (the cart emptied into it, in one transaction). The
    checkout's refusals (contract, review, empty cart, overdue block, product) come first either way."""
    limit, _ = deps.approvals.limit(caller.organization_id)
    if not rules.may_need_approval(caller.roles, limit):
        return catalog.checkout(deps, caller, reviewed=reviewed)
    contract_rules.ensure_open_for_changes(deps.contracts.get(caller.organization_id))
    lines = deps.cart.lines(caller.organization_id)
    if reviewed is not None and not catalog.same_cart(lines, reviewed):
        raise codes.CART_CHANGED_SINCE_REVIEW()
    if not lines:
        raise codes.CART_EMPTY()
    prices = subscriptions.prices_for(deps, caller.organization_id)
    items = []
    for sku, quantity in lines:
        product = deps.catalog.get(sku)
        if product is None or not product.active:
            raise codes.PRODUCT_UNAVAILABLE(sku=sku)
        catalog_rules.ensure_quantity_allowed(product, quantity)  # the product's limits, before any request
        price = prices.get(sku) or 0
        items.append({"sku": sku, "name": product.name, "quantity": quantity, "unit_price_cents": price,
                      "monthly_cents": rules.monthly_cents(price, quantity)})
    effect = rules.checkout_effect(items)
    if not rules.needs_approval(caller.roles, limit, effect):
        # Bound to the lines just priced: a cart changed since (another tab raising a quantity) is
        # refused by the checkout's same-cart check and by its delete-at-that-quantity condition.
        return catalog.checkout(deps, caller, reviewed=[{"sku": sku, "quantity": q} for sku, q in lines])
    dunning.ensure_purchases_allowed(deps, caller.organization_id)  # 422 overdue_block, nothing written
    request = _new_request(deps, caller, rules.CHECKOUT, tuple(items), None, effect)
    deps.approvals.create(request, _audit(deps, caller, request, "approval.requested"), cart_lines_to_clear=lines)
    _notify_masters(deps, caller, request)
    return request


def change_quantity(deps: PurchaseApprovalDeps, caller: Caller, subscription_id: str, *, quantity: int,
                    reason: Optional[str] = None, reason_text: Optional[str] = None,
                    expected_version: Optional[int] = None) -> Union[ApprovalRequest, QuantityChange]:
    """The quantity change, or, for an Adm's increase whose monthly effect ((new − current) × the
    monthly price) is above the limit, a request; no change is made until a Master approves it."""
    sub = deps.subscriptions.get(caller.organization_id, subscription_id)  # 404 first: nothing else leaks

    def as_today(version=expected_version):
        return subscriptions.request_quantity_change(deps, caller, subscription_id, quantity=quantity, reason=reason,
                                                     reason_text=reason_text, expected_version=version)
    limit, _ = deps.approvals.limit(caller.organization_id)
    if not rules.may_need_approval(caller.roles, limit):
        return as_today()
    # From here on, whatever goes through does so on the version it was judged on: a subscription
    # that moved in between (fewer seats: a bigger increase) is refused, never bought unapproved.
    seen = expected_version if expected_version is not None else sub.version
    if quantity <= sub.quantity:
        return as_today(seen)  # a decrease never needs approval
    price = subscriptions.prices_for(deps, caller.organization_id).get(sub.sku) or 0
    effect = rules.increase_effect(price, sub.quantity, quantity)
    if not rules.needs_approval(caller.roles, limit, effect):
        return as_today(seen)
    subs.validate_quantity(quantity, deps.settings.quantity_limits.maximum)
    subscriptions.ensure_product_limits(deps, sub, quantity)  # before any request is written
    contract_rules.ensure_open_for_changes(deps.contracts.get(caller.organization_id))
    if expected_version is not None and expected_version != sub.version:
        raise codes.VERSION_CONFLICT()
    subs.ensure_changeable(sub, quantity)
    dunning.ensure_purchases_allowed(deps, caller.organization_id)
    request = _new_request(deps, caller, rules.QUANTITY_INCREASE, (), {
        "id": sub.id, "sku": sub.sku, "name": sub.name, "from_quantity": sub.quantity, "quantity": quantity,
        "version": sub.version, "unit_price_cents": price}, effect)
    deps.approvals.create(request, _audit(deps, caller, request, "approval.requested"))
    _notify_masters(deps, caller, request)
    return request


def _new_request(deps: PurchaseApprovalDeps, caller: Caller, kind: str, items: Tuple[Dict[str, Any], ...],
                 subscription: Optional[Dict[str, Any]], effect: int) -> ApprovalRequest:
    now = deps.clock()
    return ApprovalRequest(id=new_id(), organization_id=caller.organization_id, kind=kind, items=items,
                           subscription=subscription, monthly_effect_cents=effect, requested_by=_person(caller),
                           created_at=iso(now), expires_at=iso(rules.expires_at(now)))


def _audit(deps: Clocked, caller_or_actor, request: ApprovalRequest, action: str, before: Any = None):
    actor = caller_or_actor.actor if isinstance(caller_or_actor, Caller) else caller_or_actor
    return audit.entry(deps, actor, request.organization_id, action, f"approval:{request.id}",
                       before=before, after=approval_view(request))


# --- reading ------------------------------------------------------------------------------------

def _sees_all(caller: Caller) -> bool:
    return can(caller.roles, Capability.APPROVE_PURCHASES)


def list_approvals(deps: ApprovalListDeps, caller: Caller, *, status: Optional[str], limit: int,
                   next_token: Optional[str]):
    """A Master: every request of the organisation; an Adm: their own. Newest first."""
    return deps.approvals.list(caller.organization_id, status=status,
                               requested_by=None if _sees_all(caller) else caller.user.id,
                               limit=limit, next_token=next_token)


def get_approval(deps: ApprovalListDeps, caller: Caller, approval_id: str) -> ApprovalRequest:
    request = deps.approvals.get(caller.organization_id, approval_id)
    if not _sees_all(caller) and request.requested_by.get("id") != caller.user.id:
        raise codes.APPROVAL_NOT_FOUND()  # another Adm's request: as if it did not exist
    return request


# --- deciding -----------------------------------------------------------------------------------

def _ensure_pending(request: ApprovalRequest, now: str) -> None:
    if request.status != rules.PENDING:
        raise codes.APPROVAL_NOT_PENDING(status=request.status)
    if rules.is_expired(request, now):
        raise codes.APPROVAL_EXPIRED(expires_at=request.expires_at)


def approve(deps: PurchaseApprovalDeps, caller: Caller, approval_id: str) -> ApprovalRequest:
    """Order the request as the Master, with its claim (pending → approved, on its version, its
    status pending and `expires_at` > now) written INSIDE the order's own transaction: the checkout
    of the request's lines (ids derived from the request) or the quantity change on the
    subscription's version seen at the request. Claim and order commit together or not at all: of
    two approvals at once one orders, the other is 409; an unexpected failure leaves the request
    pending, so the Master can approve it again. An order the rules refuse now (overdue block, a
    subscription that moved since, a product withdrawn or outside its limits) leaves the request
    `failed`, with the reason in words, nothing ordered."""
    request = deps.approvals.get(caller.organization_id, approval_id)
    now = iso(deps.clock())
    _ensure_pending(request, now)
    approved: List[ApprovalRequest] = []

    def claim(result: Dict[str, Any]):
        final = rules.decided(request, rules.APPROVED, _person(caller), now, result=result)
        approved.append(final)
        return deps.approvals.claim_write(final, expected_version=request.version, not_expired_at=now, audit=[
            _audit(deps, caller, final, "approval.approved", before=approval_view(request)),
            _audit(deps, caller, final, "approval.ordered")])
    try:
        _order(deps, caller, request, claim)
    except DomainError as exc:
        if getattr(exc, "code", None) in _NOT_A_REFUSAL:
            raise  # another decision came first (409), or a retryable clash: the request stays as it is
        final = rules.decided(request, rules.FAILED, _person(caller), now, reason=_failure_reason(exc))
        deps.approvals.save(final, expected_version=request.version, expected_status=rules.PENDING,
                            audit=_audit(deps, caller, final, "approval.failed"))
    else:
        final = approved[-1]
    _notify_requester(deps, final)
    return final


# Errors of the order that are not the rules refusing it: the request is left as it is.
_NOT_A_REFUSAL = frozenset({"approval_not_pending", "approval_expired", "concurrent_update"})


def _order(deps: PurchaseApprovalDeps, caller: Caller, request: ApprovalRequest, claim) -> None:
    if request.kind == rules.CHECKOUT:
        catalog.checkout(deps, caller, approved=(request.id, [(i["sku"], i["quantity"]) for i in request.items]),
                         claim=claim)
        return
    wanted = request.subscription
    subscriptions.request_quantity_change(deps, caller, wanted["id"], quantity=wanted["quantity"],
                                          expected_version=wanted["version"], claim=claim)


def _failure_reason(exc: DomainError) -> str:
    if getattr(exc, "code", None) == "version_conflict":
        return ("A assinatura mudou desde o pedido (outra alteração foi feita depois dele); nada foi alterado. "
                "Faça um novo pedido a partir da quantidade atual.")
    return str(exc)


def reject(deps: PurchaseApprovalDeps, caller: Caller, approval_id: str, reason: Optional[str]) -> ApprovalRequest:
    request = deps.approvals.get(caller.organization_id, approval_id)
    now = iso(deps.clock())
    _ensure_pending(request, now)
    rejected = rules.decided(request, rules.REJECTED, _person(caller), now, reason=(reason or "").strip() or None)
    deps.approvals.save(rejected, expected_version=request.version, expected_status=rules.PENDING,
                        audit=_audit(deps, caller, rejected, "approval.rejected"))
    _notify_requester(deps, rejected)
    return rejected


def expire_requests(deps: ApprovalExpiryDeps) -> int:
    """The daily job: every pending request past its expiry becomes `expired` (on its version: a
    decision made meanwhile wins) and its requester is emailed. Returns how many it expired."""
    now = iso(deps.clock())
    expired = 0
    for organization_id, approval_id in deps.approvals.pending_expired(now):
        request = deps.approvals.get(organization_id, approval_id)
        if request.status != rules.PENDING:
            continue
        gone = rules.decided(request, rules.EXPIRED, None, now,
                             reason="Sem decisão do Master em 7 dias: a solicitação expirou e nada foi comprado.")
        try:
            deps.approvals.save(gone, expected_version=request.version, expected_status=rules.PENDING,
                                audit=_audit(deps, SYSTEM, gone, "approval.expired"))
        except DomainError:
            continue  # decided meanwhile
        _notify_requester(deps, gone)
        expired += 1
    return expired


# --- emails -------------------------------------------------------------------------------------

def _email_context(deps: RequesterNoticeDeps, request: ApprovalRequest) -> Dict[str, Any]:
    organization = deps.organizations.get(request.organization_id)
    return {"organization": {"name": organization.name}, "approval": approval_view(request),
            "portal_url": deps.settings.portal_url, "approvals_url": f"{deps.settings.portal_url}#/aprovacoes"}


def _notify_masters(deps: MastersNoticeDeps, caller: Caller, request: ApprovalRequest) -> None:
    masters, token = set(), None
    while True:
        users, token = deps.users.list(request.organization_id, limit=100, next_token=token)
        masters |= {u.email for u in users if Role.MASTER in u.roles and u.status == "active"}
        if token is None:
            break
    if masters:
        notifications.queue_email(deps, template="approval_requested", to=sorted(masters),
                                  delivery_key=f"approval-requested#{request.id}",
                                  organization_id=request.organization_id, context=_email_context(deps, request))


def _notify_requester(deps: RequesterNoticeDeps, request: ApprovalRequest) -> None:
    notifications.queue_email(deps, template="approval_decided", to=[request.requested_by["email"]],
                              delivery_key=f"approval-{request.status}#{request.id}",
                              organization_id=request.organization_id, context=_email_context(deps, request))
