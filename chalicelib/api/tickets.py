"""Support tickets: the customer's service desk and the operators' queue."""
from chalice import Blueprint

from ..domain.roles import Capability
from ..domain.tickets import CATEGORIES, SEVERITIES, STATUSES
from ..services import support
from ..services.support import TICKET, TICKET_PAGE, TICKET_WITH_MESSAGES
from .http import endpoint, page
from .schema import obj, string

bp = Blueprint(__name__)

_BODY = obj(["body"], body=string(max_length=10_000))


@endpoint(bp, "/tickets", "GET", summary="Chamados da organização", capability=Capability.SUPPORT_TICKETS,
          tag="tickets", paginated=True, response=TICKET_PAGE)
def list_tickets(ctx):
    items, token = support.list_tickets(ctx.deps, ctx.caller, limit=ctx.limit(), next_token=ctx.next_token())
    return page([support.ticket_view(t) for t in items], token)


@endpoint(bp, "/tickets", "POST", summary="Abrir um chamado", capability=Capability.SUPPORT_TICKETS, tag="tickets",
          status=201, idempotent=True,
          body=obj(["subject", "category", "severity", "description"], subject=string(max_length=150),
                   category={"type": "string", "enum": list(CATEGORIES)},
                   severity={"type": "string", "enum": list(SEVERITIES)}, description=string(max_length=10_000)),
          response=TICKET_WITH_MESSAGES)
def open_ticket(ctx):
    ticket = support.open_ticket(ctx.deps, ctx.caller, subject=ctx.body["subject"], category=ctx.body["category"],
                                 severity=ctx.body["severity"], description=ctx.body["description"])
    return support.get_ticket(ctx.deps, ctx.caller, ticket.id)


@endpoint(bp, "/tickets/{ticket_id}", "GET", summary="Um chamado com suas mensagens",
          capability=Capability.SUPPORT_TICKETS, tag="tickets", response=TICKET_WITH_MESSAGES)
def get_ticket(ctx, ticket_id):
    return support.get_ticket(ctx.deps, ctx.caller, ticket_id)


@endpoint(bp, "/tickets/{ticket_id}/messages", "POST", summary="Responder no chamado",
          capability=Capability.SUPPORT_TICKETS, tag="tickets", status=201, idempotent=True, body=_BODY,
          response=TICKET_WITH_MESSAGES)
def add_message(ctx, ticket_id):
    return support.add_customer_message(ctx.deps, ctx.caller, ticket_id, ctx.body["body"])


@endpoint(bp, "/backoffice/tickets", "GET", summary="Todos os chamados (operador)", capability=Capability.BACK_OFFICE,
          tag="backoffice", paginated=True,
          query={"status": {"type": "string", "enum": list(STATUSES), "x-error-code": "invalid_status"}},
          response=TICKET_PAGE)
def list_all_tickets(ctx):
    items, token = support.list_all_tickets(ctx.deps, status=ctx.query.get("status"), limit=ctx.limit(),
                                            next_token=ctx.next_token())
    return page([support.ticket_view(t) for t in items], token)


@endpoint(bp, "/backoffice/tickets/{ticket_id}", "GET", summary="Um chamado (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", response=TICKET_WITH_MESSAGES)
def operator_ticket(ctx, ticket_id):
    return support.operator_view(ctx.deps, ticket_id)


@endpoint(bp, "/backoffice/tickets/{ticket_id}/messages", "POST", summary="Responder ao cliente (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", status=201, idempotent=True, body=_BODY,
          response=TICKET_WITH_MESSAGES)
def answer(ctx, ticket_id):
    return support.answer(ctx.deps, ctx.caller, ticket_id, ctx.body["body"])


@endpoint(bp, "/backoffice/tickets/{ticket_id}", "PATCH", summary="Mudar o status do chamado (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice",
          body=obj(["status"], status={"type": "string", "enum": list(STATUSES)}), response=TICKET)
def set_status(ctx, ticket_id):
    return support.set_status(ctx.deps, ctx.caller, ticket_id, ctx.body["status"])
