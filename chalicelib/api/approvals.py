"""Purchase approvals (issue #21 §4): the organisation's limit, the requests and the Master's decision."""
import json

from chalice import Blueprint, Response

from ..domain import error_codes as codes

from ..domain.approvals import MAX_REASON_LENGTH, STATUSES
from ..domain.roles import Capability
from ..schemas import page as page_of
from ..services import approvals
from ..services.approvals import APPROVAL, APPROVAL_LIMIT, approval_view
from .http import endpoint, page
from .schema import obj, string

bp = Blueprint(__name__)

APPROVAL_PAGE = page_of(APPROVAL, "Approval")
# Whole centavos ≥ 0, or null for "no approvals" (checked by the service: the body validator has no
# "or null", and takes a null as an absent field). The field itself is required: `{}` is 400
# `required` (it would otherwise remove the limit silently), told apart from an explicit null by
# the raw body (`_sent_fields`).
_LIMIT = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 100_000_000_000}, {"type": "null"}],
          "description": "Obrigatório: o limite mensal em centavos, ou null explícito para tirar o limite "
                         "(nenhuma compra precisa de aprovação). Sem o campo: 400 `required`."}


def _sent_fields() -> frozenset:
    """The top-level fields the client sent, nulls included (already parsed and validated as a
    JSON object by `@endpoint`; an empty body is `{}`)."""
    raw = bp.current_request.raw_body or b""
    sent = json.loads(raw) if raw.strip() else {}
    return frozenset(sent) if isinstance(sent, dict) else frozenset()


def approval_pending(request) -> Response:
    """The answer of a checkout or an increase sent for approval (api/catalog.py, api/subscriptions.py): 202 {approval}."""
    return Response(body={"approval": approval_view(request)}, status_code=202,
                    headers={"Content-Type": "application/json"})


@endpoint(bp, "/approval-limit", "GET", summary="O limite mensal acima do qual a compra de um Adm espera o Master",
          capability=Capability.BUY_PRODUCTS, tag="approvals", response=APPROVAL_LIMIT)
def get_limit(ctx):
    return approvals.get_limit(ctx.deps, ctx.caller)


@endpoint(bp, "/approval-limit", "PUT", summary="Definir (ou tirar, com null) o limite de aprovação (Master)",
          capability=Capability.APPROVE_PURCHASES, tag="approvals",
          body=obj([], monthly_limit_cents=_LIMIT), response=APPROVAL_LIMIT)
def put_limit(ctx):
    if "monthly_limit_cents" not in _sent_fields():
        raise codes.REQUIRED(field="monthly_limit_cents")
    return approvals.set_limit(ctx.deps, ctx.caller, ctx.body)


@endpoint(bp, "/approvals", "GET", summary="Solicitações de aprovação (o Master vê todas; um Adm, as suas)",
          capability=Capability.BUY_PRODUCTS, tag="approvals", paginated=True, response=APPROVAL_PAGE,
          query={"status": {"type": "string", "enum": list(STATUSES)}})
def list_approvals(ctx):
    items, token = approvals.list_approvals(ctx.deps, ctx.caller, status=ctx.query.get("status"), limit=ctx.limit(),
                                            next_token=ctx.next_token())
    return page([approvals.approval_view(a) for a in items], token)


@endpoint(bp, "/approvals/{approval_id}", "GET", summary="Uma solicitação de aprovação",
          capability=Capability.BUY_PRODUCTS, tag="approvals", response=APPROVAL)
def get_approval(ctx, approval_id):
    return approvals.approval_view(approvals.get_approval(ctx.deps, ctx.caller, approval_id))


@endpoint(bp, "/approvals/{approval_id}/approve", "POST",
          summary="Aprovar: o pedido é feito uma vez, em nome do Master (409 se já decidida ou expirada)",
          capability=Capability.APPROVE_PURCHASES, tag="approvals", response=APPROVAL)
def approve(ctx, approval_id):
    return approvals.approval_view(approvals.approve(ctx.deps, ctx.caller, approval_id))


@endpoint(bp, "/approvals/{approval_id}/reject", "POST", summary="Rejeitar, com um motivo opcional (Master)",
          capability=Capability.APPROVE_PURCHASES, tag="approvals",
          body=obj([], reason=string(min_length=0, max_length=MAX_REASON_LENGTH)), response=APPROVAL)
def reject(ctx, approval_id):
    return approvals.approval_view(approvals.reject(ctx.deps, ctx.caller, approval_id, ctx.body.get("reason")))
