"""Support tickets: customers (Suporte, Master) open and follow them; operators answer and move
their status; both sides are emailed on every update."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, Sequence

from ..domain import error_codes as codes
from ..domain import tickets as rules
from ..domain.clock import iso
from ..domain.errors import DomainError
from ..domain.ids import new_id
from ..domain.tickets import Attachment, Ticket
from ..schemas import array, date_time, enum, integer, nullable, page, shape, text
from . import audit, notifications
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.documents import S3DocumentStore
    from ..settings import Settings
    from ..storage.repositories import OrganizationRepository
    from ..storage.support import TicketRepository
    from .audit import Clocked
    from .notifications import QueuesEmails

    class TicketReadDeps(Protocol):
        """Tickets and their messages, as read."""

        tickets: TicketRepository

    class TicketEmailDeps(QueuesEmails, Protocol):
        """A ticket's email (the settings give support's address and the portal's)."""

        organizations: OrganizationRepository
        settings: Settings

    class TicketUpdateDeps(TicketReadDeps, Clocked, TicketEmailDeps, Protocol):
        """A ticket opened, answered or moved: saved with its audit entry, the other side emailed."""

    class AttachmentLinkDeps(TicketReadDeps, Protocol):
        """An attachment's download link, from the documents' store."""

        documents: S3DocumentStore

    class AttachmentUploadDeps(AttachmentLinkDeps, Clocked, Protocol):
        """A file stored in the documents' bucket, recorded on the ticket with its audit entry."""


CUSTOMER, OPERATOR = "customer", "operator"


TICKET_MESSAGE = shape(
    "TicketMessage", description="Uma mensagem do chamado, do cliente ou do suporte (a primeira é a descrição).",
    id=text(), author_id=text(), author_name=text(), author_side=enum((CUSTOMER, OPERATOR)), body=text(),
    at=date_time())


def _message(caller: Caller, body: str, side: str, at: str) -> dict:
    text = body.strip()
    if not text:
        raise codes.REQUIRED(field="body")
    return {"id": new_id(), "author_id": caller.user.id, "author_name": caller.user.name, "author_side": side,
            "body": text, "at": at}


TICKET_ATTACHMENT = shape(
    "TicketAttachment", description="Um arquivo anexado ao chamado (imagem PNG ou JPEG, PDF, texto ou .zip). "
    "Sem `message_id`, está no próprio chamado; com ele, foi enviado com aquela mensagem.",
    id=text(), name=text(description="O nome original do arquivo."), size=integer(minimum=1, description="Bytes."),
    content_type=enum(rules.ATTACHMENT_TYPES), uploaded_by=text(), uploaded_by_name=text(),
    side=enum((CUSTOMER, OPERATOR)), at=date_time(), message_id=nullable(text()),
    removed_at=nullable({**date_time(), "description": "Quando o arquivo foi apagado (dados do cliente "
                                                       "anonimizados, LGPD): sem link para baixar."}))
ATTACHMENT_LINK = shape(
    "TicketAttachmentLink", description="Um link curto (presigned) para baixar o anexo, com o nome original.",
    url=text(format="uri"), name=text(), content_type=enum(rules.ATTACHMENT_TYPES), size=integer(minimum=1))

_TICKET = dict(
    id=text(), number=integer(minimum=1), organization_id=text(), subject=text(), category=enum(rules.CATEGORIES),
    severity=enum(rules.SEVERITIES), status=enum(rules.STATUSES), status_label=text(),
    opened_by=text(description="O usuário que abriu o chamado."), created_at=date_time(), updated_at=date_time(),
    messages_count=integer(minimum=0), version=integer(minimum=1))
TICKET = shape("Ticket", description="Um chamado (sem as mensagens).", **_TICKET)
TICKET_WITH_MESSAGES = shape("TicketWithMessages", description="Um chamado com suas mensagens, da mais antiga à "
                             "mais recente; e seus anexos, na ordem em que foram enviados.", **_TICKET,
                             messages=array(TICKET_MESSAGE), attachments=array(TICKET_ATTACHMENT))
TICKET_PAGE = page(TICKET, "Ticket")


def attachment_view(attachment: Attachment) -> Dict[str, Any]:
    return {"id": attachment.id, "name": attachment.name, "size": attachment.size,
            "content_type": attachment.content_type, "uploaded_by": attachment.uploaded_by,
            "uploaded_by_name": attachment.uploaded_by_name, "side": attachment.side, "at": attachment.at,
            "message_id": attachment.message_id, "removed_at": attachment.removed_at}


def _full_view(deps: TicketReadDeps, ticket: Ticket) -> Dict[str, Any]:
    view = ticket_view(ticket, deps.tickets.messages(ticket.id))
    view["attachments"] = [attachment_view(a) for a in deps.tickets.attachments(ticket.id)]
    return view


def _sent_with(deps: TicketReadDeps, caller: Caller, ticket: Ticket, attachment_ids: Sequence[str]) -> List[Attachment]:
    """The caller's own uploads on this ticket, on no message yet, to send with a message."""
    chosen = []
    for attachment_id in attachment_ids:
        try:
            attachment = deps.tickets.attachment(ticket.id, attachment_id)
        except DomainError:
            raise codes.ATTACHMENT_NOT_AVAILABLE(field="attachment_ids", attachment_id=attachment_id)
        if attachment.uploaded_by != caller.user.id or attachment.message_id is not None:
            raise codes.ATTACHMENT_NOT_AVAILABLE(field="attachment_ids", attachment_id=attachment_id)
        chosen.append(attachment)
    return chosen


def ticket_view(ticket: Ticket, messages: Optional[list] = None) -> Dict[str, Any]:
    view = {"id": ticket.id, "number": ticket.number, "organization_id": ticket.organization_id,
            "subject": ticket.subject, "category": ticket.category, "severity": ticket.severity,
            "status": ticket.status, "status_label": rules.STATUS_LABELS[ticket.status],
            "opened_by": ticket.opened_by, "created_at": ticket.created_at, "updated_at": ticket.updated_at,
            "messages_count": ticket.messages_count, "version": ticket.version}
    if messages is not None:
        view["messages"] = messages
    return view


def _email(deps: TicketEmailDeps, ticket: Ticket, template: str, to: str, message: Optional[dict], key: str) -> None:
    organization = deps.organizations.get(ticket.organization_id)
    notifications.queue_email(deps, template=template, to=[to], delivery_key=key,
                              organization_id=ticket.organization_id, context={
        "ticket": {**ticket_view(ticket), "category_label": rules.CATEGORY_LABELS[ticket.category],
                   "severity_label": rules.SEVERITY_LABELS[ticket.severity]},
        "organization": {"name": organization.name}, "message": message, "portal_url": deps.settings.portal_url})


def open_ticket(deps: TicketUpdateDeps, caller: Caller, *, subject: str, category: str, severity: str,
                description: str) -> Ticket:
    now = iso(deps.clock())
    message = _message(caller, description, CUSTOMER, now)
    ticket = Ticket(id=new_id(), number=deps.tickets.next_number(), organization_id=caller.organization_id,
                    subject=subject.strip(), category=category, severity=severity, status=rules.OPEN,
                    opened_by=caller.user.id, opened_by_email=caller.user.email, created_at=now, updated_at=now,
                    messages_count=1)
    deps.tickets.save(ticket, None, message=message, audit=audit.entry(
        deps, caller.actor, caller.organization_id, "ticket.opened", f"ticket:{ticket.id}",
        after={"number": ticket.number, "subject": ticket.subject, "severity": severity}))
    _email(deps, ticket, "ticket_opened", deps.settings.support.email, message, f"ticket_opened#{ticket.id}")
    _email(deps, ticket, "ticket_received", ticket.opened_by_email, message, f"ticket_received#{ticket.id}")
    return ticket


def list_tickets(deps: TicketReadDeps, caller: Caller, *, limit: int, next_token: Optional[str]):
    return deps.tickets.list_for_organization(caller.organization_id, limit=limit, next_token=next_token)


def get_ticket(deps: TicketReadDeps, caller: Caller, ticket_id: str) -> Dict[str, Any]:
    ticket = deps.tickets.get_in_organization(caller.organization_id, ticket_id)
    return _full_view(deps, ticket)


def add_customer_message(deps: TicketUpdateDeps, caller: Caller, ticket_id: str, body: str,
                         attachment_ids: Sequence[str] = ()) -> Dict[str, Any]:
    ticket = deps.tickets.get_in_organization(caller.organization_id, ticket_id)
    rules.ensure_open_for_messages(ticket)
    attachments = _sent_with(deps, caller, ticket, attachment_ids)
    message = _message(caller, body, CUSTOMER, iso(deps.clock()))
    status = rules.status_after_customer_message(ticket.status) or ticket.status
    updated = replace(ticket, status=status, updated_at=message["at"], messages_count=ticket.messages_count + 1,
                      version=ticket.version + 1)
    deps.tickets.save(updated, ticket.version, message=message, attachments=attachments, audit=audit.entry(
        deps, caller.actor, ticket.organization_id, "ticket.customer_message", f"ticket:{ticket.id}",
        before={"status": ticket.status}, after={"status": status, "attachments": [a.id for a in attachments]}))
    _email(deps, updated, "ticket_customer_message", deps.settings.support.email, message,
           f"ticket_message#{message['id']}")
    return _full_view(deps, updated)


# --- operators ----------------------------------------------------------------------------------

def list_all_tickets(deps: TicketReadDeps, *, status: Optional[str], limit: int, next_token: Optional[str]):
    """`status`: one ticket status or several, comma-separated ("open,in_progress"), each checked by
    the route's pattern (api/tickets.py); none, every status."""
    statuses = tuple(dict.fromkeys(status.split(","))) if status else ()
    return deps.tickets.list_all(statuses=statuses, limit=limit, next_token=next_token)


def operator_view(deps: TicketReadDeps, ticket_id: str) -> Dict[str, Any]:
    return _full_view(deps, deps.tickets.get(ticket_id))


def answer(deps: TicketUpdateDeps, caller: Caller, ticket_id: str, body: str,
           attachment_ids: Sequence[str] = ()) -> Dict[str, Any]:
    """An operator's answer: the customer is emailed; a new ticket moves to in progress."""
    ticket = deps.tickets.get(ticket_id)
    rules.ensure_open_for_messages(ticket)
    attachments = _sent_with(deps, caller, ticket, attachment_ids)
    message = _message(caller, body, OPERATOR, iso(deps.clock()))
    status = rules.IN_PROGRESS if ticket.status == rules.OPEN else ticket.status
    updated = replace(ticket, status=status, updated_at=message["at"], messages_count=ticket.messages_count + 1,
                      version=ticket.version + 1)
    deps.tickets.save(updated, ticket.version, message=message, attachments=attachments, audit=audit.entry(
        deps, caller.actor, ticket.organization_id, "ticket.operator_message", f"ticket:{ticket.id}",
        before={"status": ticket.status}, after={"status": status, "attachments": [a.id for a in attachments]}))
    _email(deps, updated, "ticket_answered", ticket.opened_by_email, message, f"ticket_message#{message['id']}")
    return _full_view(deps, updated)


def set_status(deps: TicketUpdateDeps, caller: Caller, ticket_id: str, status: str) -> Dict[str, Any]:
    ticket = deps.tickets.get(ticket_id)
    rules.ensure_transition(ticket.status, status)
    updated = replace(ticket, status=status, updated_at=iso(deps.clock()), version=ticket.version + 1)
    deps.tickets.save(updated, ticket.version, audit=audit.entry(
        deps, caller.actor, ticket.organization_id, "ticket.status_changed", f"ticket:{ticket.id}",
        before={"status": ticket.status}, after={"status": status}))
    _email(deps, updated, "ticket_status_changed", ticket.opened_by_email, None,
           f"ticket_status#{ticket.id}#{updated.version}")
    return ticket_view(updated)


# --- attachments (both sides) -------------------------------------------------------------------
# A file is uploaded on its own (the request's body is the file); it is then on the ticket, and a
# message the same person sends next may name it in `attachment_ids` to go with that message.

def _ticket_for(deps: TicketReadDeps, caller: Caller, ticket_id: str, side: str) -> Ticket:
    """The ticket, when the caller may see it: an operator any; a customer its organisation's."""
    if side == OPERATOR:
        return deps.tickets.get(ticket_id)
    return deps.tickets.get_in_organization(caller.organization_id, ticket_id)


def upload_attachment(deps: AttachmentUploadDeps, caller: Caller, ticket_id: str, name: Optional[str],
                      content: bytes, side: str) -> Dict[str, Any]:
    """Checked in this order, each refusal writing nothing: the ticket (404), open (409), the file's
    name (400), empty (400), its size (413) and its type by content (415)."""
    ticket = _ticket_for(deps, caller, ticket_id, side)
    rules.ensure_open_for_messages(ticket)
    rules.attachment_name(name)  # a name with nothing left is refused before the content is read
    content_type = rules.check_attachment(content)
    clean_name = rules.attachment_name(name, content_type)  # its extension now says its type
    attachment = Attachment(id=new_id(), ticket_id=ticket.id, organization_id=ticket.organization_id,
                            name=clean_name, size=len(content), content_type=content_type,
                            uploaded_by=caller.user.id, uploaded_by_name=caller.user.name, side=side,
                            at=iso(deps.clock()))
    deps.documents.put(attachment.key, content, content_type)
    try:
        deps.tickets.add_attachment(attachment, audit.entry(
            deps, caller.actor, ticket.organization_id, "ticket.attachment_uploaded", f"ticket:{ticket.id}",
            after={"attachment_id": attachment.id, "name": clean_name, "size": attachment.size,
                   "content_type": content_type}), limit=rules.MAX_ATTACHMENTS_PER_TICKET)
    except BaseException:
        deps.documents.delete(attachment.key)  # no file without its record
        raise
    return attachment_view(attachment)


def attachment_link(deps: AttachmentLinkDeps, caller: Caller, ticket_id: str, attachment_id: str,
                    side: str) -> Dict[str, Any]:
    """A short-lived link, handed out only once the caller may see the ticket."""
    ticket = _ticket_for(deps, caller, ticket_id, side)
    attachment = deps.tickets.attachment(ticket.id, attachment_id)
    if attachment.removed_at is not None:
        raise codes.ATTACHMENT_REMOVED()
    return {"url": deps.documents.link(attachment.key, attachment.name), "name": attachment.name,
            "content_type": attachment.content_type, "size": attachment.size}
