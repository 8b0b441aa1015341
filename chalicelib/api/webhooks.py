"""Webhooks: the organisation's endpoints for its ERP, their deliveries, a test, a resend."""
from chalice import Blueprint

from ..domain.roles import Capability
from ..domain.webhooks import EVENT_TYPES, MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH
from ..services import webhooks
from ..services.webhooks import DELIVERY_ACCEPTED, DELIVERY_PAGE, WEBHOOK, WEBHOOK_CREATED, WEBHOOK_LIST
from .http import endpoint, page
from .schema import obj, string

bp = Blueprint(__name__)

_CREATE = obj(
    ["url", "events"],
    url=string(max_length=MAX_URL_LENGTH, description="https://… de um servidor público (sem usuário/senha nem #)."),
    events={"type": "array", "maxItems": 20, "items": string(max_length=64),
            "description": "Os eventos a receber (ao menos um): " + ", ".join(EVENT_TYPES) + "."},
    description=string(min_length=0, max_length=MAX_DESCRIPTION_LENGTH))


@endpoint(bp, "/webhooks", "POST", summary="Cadastrar um webhook (o segredo que assina as entregas só aparece nesta "
          "resposta)", capability=Capability.MANAGE_WEBHOOKS, tag="webhooks", status=201, idempotent=True,
          replay_without=("secret",),  # a replay tells the endpoint exists; the secret was shown once
          body=_CREATE, response=WEBHOOK_CREATED)
def create_webhook(ctx):
    created = webhooks.create_endpoint(ctx.deps, ctx.caller, url=ctx.body["url"], events=ctx.body["events"],
                                       description=ctx.body.get("description"))
    return webhooks.created_view(created)


@endpoint(bp, "/webhooks", "GET", summary="Webhooks da organização", capability=Capability.MANAGE_WEBHOOKS,
          tag="webhooks", response=WEBHOOK_LIST)
def list_webhooks(ctx):
    return {"items": [webhooks.endpoint_view(e) for e in webhooks.list_endpoints(ctx.deps, ctx.caller)]}


@endpoint(bp, "/webhooks/{webhook_id}", "GET", summary="Um webhook", capability=Capability.MANAGE_WEBHOOKS,
          tag="webhooks", response=WEBHOOK)
def get_webhook(ctx, webhook_id):
    return webhooks.endpoint_view(webhooks.get_endpoint(ctx.deps, ctx.caller, webhook_id))


@endpoint(bp, "/webhooks/{webhook_id}", "DELETE", summary="Remover um webhook (as entregas pendentes param)",
          capability=Capability.MANAGE_WEBHOOKS, tag="webhooks", status=204)
def delete_webhook(ctx, webhook_id):
    webhooks.delete_endpoint(ctx.deps, ctx.caller, webhook_id)


@endpoint(bp, "/webhooks/{webhook_id}/deliveries", "GET", summary="Entregas do webhook, da mais recente à mais "
          "antiga", capability=Capability.MANAGE_WEBHOOKS, tag="webhooks", paginated=True, response=DELIVERY_PAGE)
def list_deliveries(ctx, webhook_id):
    items, token = webhooks.list_deliveries(ctx.deps, ctx.caller, webhook_id, limit=ctx.limit(),
                                            next_token=ctx.next_token())
    return page([webhooks.delivery_view(d) for d in items], token)


@endpoint(bp, "/webhooks/{webhook_id}/test", "POST", summary="Enviar agora um evento de teste (webhook.test)",
          capability=Capability.MANAGE_WEBHOOKS, tag="webhooks", status=202, response=DELIVERY_ACCEPTED)
def test_webhook(ctx, webhook_id):
    return {"delivery": webhooks.delivery_view(webhooks.send_test(ctx.deps, ctx.caller, webhook_id))}


@endpoint(bp, "/webhooks/{webhook_id}/deliveries/{delivery_id}/resend", "POST",
          summary="Reenviar agora o mesmo evento (mesmo id, mesmo corpo)", capability=Capability.MANAGE_WEBHOOKS,
          tag="webhooks", status=202, response=DELIVERY_ACCEPTED)
def resend_delivery(ctx, webhook_id, delivery_id):
    return {"delivery": webhooks.delivery_view(webhooks.resend(ctx.deps, ctx.caller, webhook_id, delivery_id))}
