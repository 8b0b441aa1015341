"""The licence panel: subscriptions, quantity changes with their preview, cancellation."""
from chalice import Blueprint, Response

from ..domain.roles import Capability
from ..domain.subscriptions import MIN_QUANTITY, REDUCTION_REASONS
from ..schemas import page as page_of
from ..schemas import shape
from ..domain.approvals import ApprovalRequest
from ..schemas import closed, component
from ..services import approvals, subscriptions
from ..services.approvals import APPROVAL
from .approvals import approval_pending
from ..services.subscriptions import QUANTITY_CHANGE, QUANTITY_PREVIEW, SUBSCRIPTION
from .http import endpoint, page
from .schema import obj, quantity, string

bp = Blueprint(__name__)

_REASON = {"type": "string", "enum": list(REDUCTION_REASONS)}
_REASON_TEXT = string(min_length=0, max_length=1000)

SUBSCRIPTION_PAGE = page_of(SUBSCRIPTION, "Subscription")
QUANTITY_CHANGE_PAGE = page_of(QUANTITY_CHANGE, "QuantityChange")
ACCEPTED_CHANGE = shape("AcceptedChange", description="A alteração aceita: o provedor a aplica em seguida "
                        "(now) ou na renovação (at_renewal).", change=QUANTITY_CHANGE)

# Purchase approvals: an Adm's increase above the limit answers 202 {approval} instead of {change}.
ACCEPTED_CHANGE_OR_APPROVAL = component("AcceptedChangeOrApproval", closed(
    {"change": QUANTITY_CHANGE, "approval": APPROVAL}, optional=["change", "approval"],
    description="Um dos dois: a alteração aceita (`change`), ou, para o aumento de um Adm acima do limite de "
                "aprovação, a solicitação enviada ao Master (`approval`), sem nenhuma alteração feita."))


def _accepted(change):
    return Response(body={"change": subscriptions.change_view(change)}, status_code=202,
                    headers={"Content-Type": "application/json"})


@endpoint(bp, "/subscriptions", "GET", summary="Painel de licenças", capability=Capability.VIEW_LICENCES,
          tag="subscriptions", response=SUBSCRIPTION_PAGE)
def list_subscriptions(ctx):
    return page(subscriptions.list_subscriptions(ctx.deps, ctx.caller), None)


@endpoint(bp, "/subscriptions/{subscription_id}", "GET", summary="Uma assinatura",
          capability=Capability.VIEW_LICENCES, tag="subscriptions", response=SUBSCRIPTION)
def get_subscription(ctx, subscription_id):
    return subscriptions.get_subscription(ctx.deps, ctx.caller, subscription_id)


@endpoint(bp, "/subscriptions/{subscription_id}", "PATCH", summary="Ligar ou desligar a renovação automática",
          capability=Capability.CHANGE_QUANTITIES, tag="subscriptions", if_match=True,
          body=obj(["auto_renew"], auto_renew={"type": "boolean"}), response=SUBSCRIPTION)
def patch_subscription(ctx, subscription_id):
    sub = subscriptions.set_auto_renew(ctx.deps, ctx.caller, subscription_id, auto_renew=ctx.body["auto_renew"],
                                  expected_version=ctx.if_match())
    return subscriptions.get_subscription(ctx.deps, ctx.caller, sub.id)


@endpoint(bp, "/subscriptions/{subscription_id}/changes", "GET", summary="Histórico de alterações",
          capability=Capability.VIEW_LICENCES, tag="subscriptions", paginated=True, response=QUANTITY_CHANGE_PAGE)
def list_changes(ctx, subscription_id):
    items, token = subscriptions.list_changes(ctx.deps, ctx.caller, subscription_id, limit=ctx.limit(),
                                         next_token=ctx.next_token())
    return page([subscriptions.change_view(c) for c in items], token)


@endpoint(bp, "/subscriptions/{subscription_id}/quantity-preview", "GET",
          summary="Prévia do valor de uma alteração de quantidade", capability=Capability.CHANGE_QUANTITIES,
          tag="subscriptions",
          query={"quantity": {**quantity(MIN_QUANTITY), "required": True}}, response=QUANTITY_PREVIEW)
def preview(ctx, subscription_id):
    return subscriptions.preview_quantity_change(ctx.deps, ctx.caller, subscription_id, ctx.query["quantity"])


@endpoint(bp, "/subscriptions/{subscription_id}/quantity", "POST", summary="Alterar quantidades",
          capability=Capability.CHANGE_QUANTITIES, tag="subscriptions", status=202, if_match=True,
          idempotent=True, body=obj(["quantity"], quantity=quantity(MIN_QUANTITY), reason=_REASON,
                                    reason_text=_REASON_TEXT), response=ACCEPTED_CHANGE_OR_APPROVAL)
def change_quantity(ctx, subscription_id):
    answer = approvals.change_quantity(  # an Adm's increase above the approval limit: a request (202 {approval})
        ctx.deps, ctx.caller, subscription_id, quantity=ctx.body["quantity"], reason=ctx.body.get("reason"),
        reason_text=ctx.body.get("reason_text"), expected_version=ctx.if_match())
    return approval_pending(answer) if isinstance(answer, ApprovalRequest) else _accepted(answer)


@endpoint(bp, "/subscriptions/{subscription_id}/cancel", "POST", summary="Cancelar um serviço (quantidade zero)",
          capability=Capability.CANCEL_SERVICES, tag="subscriptions", status=202, if_match=True, idempotent=True,
          body=obj(["reason"], reason=_REASON, reason_text=_REASON_TEXT), response=ACCEPTED_CHANGE)
def cancel(ctx, subscription_id):
    return _accepted(subscriptions.request_quantity_change(
        ctx.deps, ctx.caller, subscription_id, quantity=0, reason=ctx.body["reason"],
        reason_text=ctx.body.get("reason_text"), expected_version=ctx.if_match()))
