"""Support tickets: the customer's service desk and the operators' queue."""
from chalice import Blueprint

from ..domain.roles import Capability
from ..domain.tickets import CATEGORIES, MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS_PER_MESSAGE, SEVERITIES, STATUSES
from ..services import support
from ..services.support import ATTACHMENT_LINK, OPERATOR, TICKET, TICKET_ATTACHMENT, TICKET_PAGE, TICKET_WITH_MESSAGES
from .http import endpoint, page
from .schema import obj, string

bp = Blueprint(__name__)

# A message may carry files the same person uploaded to the ticket just before (…/attachments).
_BODY = obj(["body"], body=string(max_length=10_000),
            attachment_ids={"type": "array", "items": string(max_length=64), "maxItems": MAX_ATTACHMENTS_PER_MESSAGE,
                            "uniqueItems": True})
# An attachment is the request's body, as application/octet-stream; its name goes in the query. The
# route takes a little more than the product's limit, so a file too large gets its own answer (413).
_UPLOAD = dict(file_media=("application/octet-stream",), max_body_bytes=MAX_ATTACHMENT_BYTES + 64 * 1024,
               query={"name": {"type": "string", "minLength": 1, "maxLength": 255}}, status=201,
               response=TICKET_ATTACHMENT, errors=(413, 415))
_UPLOAD_SUMMARY = ("Anexar um arquivo ao chamado (o corpo é o arquivo, como application/octet-stream; o nome vai "
                   "em `name`): imagem PNG ou JPEG, PDF, texto ou .zip, até 4 MB, verificados pelo conteúdo")


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
    return support.add_customer_message(ctx.deps, ctx.caller, ticket_id, ctx.body["body"],
                                        ctx.body.get("attachment_ids") or ())


@endpoint(bp, "/tickets/{ticket_id}/attachments", "POST", summary=_UPLOAD_SUMMARY,
          capability=Capability.SUPPORT_TICKETS, tag="tickets", **_UPLOAD)
def upload_attachment(ctx, ticket_id):
    return support.upload_attachment(ctx.deps, ctx.caller, ticket_id, ctx.query.get("name"), ctx.file,
                                     support.CUSTOMER)


@endpoint(bp, "/tickets/{ticket_id}/attachments/{attachment_id}", "GET",
          summary="Link curto para baixar um anexo do chamado", capability=Capability.SUPPORT_TICKETS, tag="tickets",
          response=ATTACHMENT_LINK)
def attachment_link(ctx, ticket_id, attachment_id):
    return support.attachment_link(ctx.deps, ctx.caller, ticket_id, attachment_id, support.CUSTOMER)


_STATUS_LIST = "^({0})(,({0}))*$".format("|".join(STATUSES))


@endpoint(bp, "/backoffice/tickets", "GET", summary="Todos os chamados (operador)", capability=Capability.BACK_OFFICE,
          tag="backoffice", paginated=True,
          query={"status": {"type": "string", "pattern": _STATUS_LIST, "maxLength": 100, "x-error-code": "invalid_status",
                            "example": "open,in_progress,waiting_customer",
                            "description": "Só os chamados nestas situações, separadas por vírgula "
                                           "(open,in_progress,waiting_customer: a fila a tratar)."}},
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
    return support.answer(ctx.deps, ctx.caller, ticket_id, ctx.body["body"], ctx.body.get("attachment_ids") or ())


@endpoint(bp, "/backoffice/tickets/{ticket_id}/attachments", "POST", summary=_UPLOAD_SUMMARY + " (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", **_UPLOAD)
def operator_upload_attachment(ctx, ticket_id):
    return support.upload_attachment(ctx.deps, ctx.caller, ticket_id, ctx.query.get("name"), ctx.file, OPERATOR)


@endpoint(bp, "/backoffice/tickets/{ticket_id}/attachments/{attachment_id}", "GET",
          summary="Link curto para baixar um anexo do chamado (operador)", capability=Capability.BACK_OFFICE,
          tag="backoffice", response=ATTACHMENT_LINK)
def operator_attachment_link(ctx, ticket_id, attachment_id):
    return support.attachment_link(ctx.deps, ctx.caller, ticket_id, attachment_id, OPERATOR)


@endpoint(bp, "/backoffice/tickets/{ticket_id}", "PATCH", summary="Mudar o status do chamado (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice",
          body=obj(["status"], status={"type": "string", "enum": list(STATUSES)}), response=TICKET)
def set_status(ctx, ticket_id):
    return support.set_status(ctx.deps, ctx.caller, ticket_id, ctx.body["status"])
