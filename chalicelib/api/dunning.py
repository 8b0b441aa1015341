"""Dunning: the customer's collection state (the portal's banner) and an operator's dunning policy
for one organisation."""
from chalice import Blueprint

from ..domain.roles import Capability
from ..services import dunning
from ..services.dunning import BILLING_STATUS, ORGANIZATION_DUNNING
from .http import endpoint
from .schema import integer, obj

bp = Blueprint(__name__)

_DAY = integer(1, 365)


@endpoint(bp, "/billing-status", "GET",
          summary="Situação de cobrança da organização: em dia, em atraso, compras bloqueadas, aviso de suspensão "
                  "ou suspensa (o aviso do portal)",
          capability=Capability.BILLING, tag="invoices", response=BILLING_STATUS)
def billing_status(ctx):
    return dunning.billing_status(ctx.deps, ctx.caller)


@endpoint(bp, "/backoffice/organizations/{organization_id}/dunning", "GET",
          summary="A régua de cobrança de uma organização: a em vigor, a padrão da revenda e o que o operador mudou "
                  "(operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", response=ORGANIZATION_DUNNING)
def get_organization_dunning(ctx, organization_id):
    return dunning.organization_policy(ctx.deps, organization_id)


@endpoint(bp, "/backoffice/organizations/{organization_id}/dunning", "PUT",
          summary="Define a régua de cobrança de uma organização sobre a padrão (operador): cada campo ausente ou "
                  "null volta ao padrão da revenda; lembretes em ordem crescente, bloqueio e aviso antes da "
                  "suspensão; hold_suspension segura a suspensão",
          capability=Capability.BACK_OFFICE, tag="backoffice", if_match=True,
          body=obj([], reminder_days={"type": "array", "items": _DAY, "maxItems": 10}, block_day=_DAY,
                   warning_day=_DAY, suspension_day=_DAY, hold_suspension={"type": "boolean"}),
          response=ORGANIZATION_DUNNING)
def put_organization_dunning(ctx, organization_id):
    return dunning.change_organization_policy(ctx.deps, ctx.caller, organization_id, ctx.body,
                                              expected_version=ctx.if_match())
