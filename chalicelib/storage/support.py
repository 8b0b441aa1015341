"""Leads from the public form, per-IP rate limits, and support tickets with their messages."""
from __future__ import annotations

from datetime import datetime
from typing import List, Optional, Sequence, Tuple

from pynamodb.exceptions import DoesNotExist, PutError

from ..domain import error_codes as codes
from ..domain import webhooks as hooks  # the events a ticket's entry reports
from ..domain.audit import AuditEntry
from ..domain.ids import digest
from ..domain.leads import Lead
from ..domain.tickets import CLOSED, Attachment, Ticket
from . import keys
from .models import (
    CounterItem,
    LeadItem,
    RateItem,
    SignInChallengeItem,
    TicketAttachmentItem,
    TicketItem,
    TicketMessageItem,
)
from .repositories import Page, Transaction, _is_condition_failure, _page, append_audit, decode_token


def _lead_item(lead: Lead, version: int) -> LeadItem:
    return LeadItem(keys.lead_pk(lead.cnpj), keys.LEAD_SK, gsi1pk=keys.LEADS_INDEX_PK,
                    gsi1sk=keys.created_sk(lead.created_at, lead.id), id=lead.id, cnpj=lead.cnpj,
                    company_name=lead.company_name, contact_name=lead.contact_name, email=lead.email,
                    phone=lead.phone, products_of_interest=lead.products_of_interest,
                    existing_microsoft_customer=lead.existing_microsoft_customer, tenant_domain=lead.tenant_domain,
                    status=lead.status, created_at=lead.created_at, source_ip=lead.source_ip,
                    organization_id=lead.organization_id, converted_by=lead.converted_by, version=version)


def _lead(item: LeadItem) -> Tuple[Lead, int]:
    return Lead(id=item.id, cnpj=item.cnpj, company_name=item.company_name, contact_name=item.contact_name,
                email=item.email, phone=item.phone, products_of_interest=list(item.products_of_interest or []),
                existing_microsoft_customer=bool(item.existing_microsoft_customer), tenant_domain=item.tenant_domain,
                status=item.status, created_at=item.created_at, source_ip=item.source_ip,
                organization_id=item.organization_id, converted_by=item.converted_by), int(item.version)


class LeadRepository:
    def add(self, lead: Lead) -> Optional[Lead]:
        """Store a new lead; returns the existing one when this CNPJ has asked before."""
        try:
            _lead_item(lead, 1).save(condition=LeadItem.pk.does_not_exist())
            return None
        except PutError as exc:
            if not _is_condition_failure(exc):
                raise
        return self.by_cnpj(lead.cnpj)[0]

    def by_cnpj(self, cnpj: str) -> Tuple[Lead, int]:
        try:
            return _lead(LeadItem.get(keys.lead_pk(cnpj), keys.LEAD_SK, consistent_read=True))
        except DoesNotExist:
            raise codes.LEAD_NOT_FOUND()

    def list(self, *, limit: int, next_token: Optional[str]) -> Page:
        results = LeadItem.by_created.query(keys.LEADS_INDEX_PK, scan_index_forward=False, limit=limit,
                                            last_evaluated_key=decode_token(next_token, ("gsi1pk", keys.LEADS_INDEX_PK)))
        items, token = _page(results, limit)
        return [_lead(i)[0] for i in items], token

    def mark_converted(self, lead: Lead, version: int) -> None:
        try:
            _lead_item(lead, version + 1).save(condition=LeadItem.version == version)
        except PutError as exc:
            if _is_condition_failure(exc):
                raise codes.VERSION_CONFLICT() from exc
            raise


class SignInChallenges:
    """The user a sign-in challenge (first password, TOTP code) belongs to, and which challenge it
    is. The local Cognito does not tie its session to the user who logged in, nor to the challenge
    it answered (an MFA session sent as a first password would set the password and skip the code),
    so the product keeps both ties itself (real Cognito does too)."""

    def bind(self, session: str, email: str, expires_at: datetime,
             challenge: str = "NEW_PASSWORD_REQUIRED") -> None:
        SignInChallengeItem(keys.sign_in_challenge_pk(digest(session)), keys.SIGN_IN_CHALLENGE_SK,
                            email=email, challenge=challenge, expires_at=expires_at).save()

    def email_for(self, session: str, now: datetime, challenge: str = "NEW_PASSWORD_REQUIRED") -> Optional[str]:
        """The email the session was issued to for `challenge`, or None (never issued, issued for
        another challenge, or expired: DynamoDB's TTL deletes late, so the expiry is checked here)."""
        try:
            item = SignInChallengeItem.get(keys.sign_in_challenge_pk(digest(session)),
                                           keys.SIGN_IN_CHALLENGE_SK, consistent_read=True)
        except SignInChallengeItem.DoesNotExist:
            return None
        return item.email if item.expires_at > now and item.challenge == challenge else None

    def forget(self, session: str) -> None:
        SignInChallengeItem(keys.sign_in_challenge_pk(digest(session)), keys.SIGN_IN_CHALLENGE_SK).delete()


class RateLimiter:
    def hit(self, scope: str, window: str, expires_at) -> int:
        """Count one more request in (scope, window); returns the count so far (atomic ADD)."""
        item = RateItem(keys.rate_pk(scope, window), keys.RATE_SK)
        item.update(actions=[RateItem.count.add(1), RateItem.expires_at.set(expires_at)])
        return int(item.count)


def _ticket_item(ticket: Ticket) -> TicketItem:
    return TicketItem(keys.ticket_pk(ticket.id), keys.TICKET_SK,
                      gsi1pk=keys.org_tickets_pk(ticket.organization_id),
                      gsi1sk=keys.created_sk(ticket.created_at, ticket.id),
                      gsi2pk=keys.TICKETS_INDEX_PK, gsi2sk=keys.created_sk(ticket.created_at, ticket.id),
                      **{k: getattr(ticket, k) for k in (
                          "id", "number", "organization_id", "subject", "category", "severity", "status",
                          "opened_by", "opened_by_email", "created_at", "updated_at", "messages_count", "version")})


def _ticket(item: TicketItem) -> Ticket:
    return Ticket(id=item.id, number=int(item.number), organization_id=item.organization_id, subject=item.subject,
                  category=item.category, severity=item.severity, status=item.status, opened_by=item.opened_by,
                  opened_by_email=item.opened_by_email, created_at=item.created_at, updated_at=item.updated_at,
                  messages_count=int(item.messages_count or 0), version=int(item.version))


class TicketRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    def next_number(self) -> int:
        counter = CounterItem(keys.COUNTER_PK, keys.TICKET_NUMBER_SK)
        counter.update(actions=[CounterItem.value.add(1)])
        return int(counter.value)

    def get(self, ticket_id: str) -> Ticket:
        try:
            return _ticket(TicketItem.get(keys.ticket_pk(ticket_id), keys.TICKET_SK, consistent_read=True))
        except DoesNotExist:
            raise codes.TICKET_NOT_FOUND()

    def get_in_organization(self, organization_id: str, ticket_id: str) -> Ticket:
        ticket = self.get(ticket_id)
        if ticket.organization_id != organization_id:
            raise codes.TICKET_NOT_FOUND()
        return ticket

    def list_for_organization(self, organization_id: str, *, limit: int, next_token: Optional[str]) -> Page:
        gpk = keys.org_tickets_pk(organization_id)
        results = TicketItem.by_organization.query(gpk, scan_index_forward=False, limit=limit,
                                                   last_evaluated_key=decode_token(next_token, ("gsi1pk", gpk)))
        items, token = _page(results, limit)
        return [_ticket(i) for i in items], token

    def list_all(self, *, statuses: Sequence[str] = (), limit: int, next_token: Optional[str]) -> Page:
        """Every organisation's tickets, newest first; only those in `statuses` when given (pattern 28:
        the query reads past the others server-side and returns full pages of the ones asked for)."""
        results = TicketItem.all_tickets.query(
            keys.TICKETS_INDEX_PK, scan_index_forward=False, limit=limit,
            filter_condition=TicketItem.status.is_in(*statuses) if statuses else None,
            last_evaluated_key=decode_token(next_token, ("gsi2pk", keys.TICKETS_INDEX_PK)))
        items, token = _page(results, limit)
        return [_ticket(i) for i in items], token

    def messages(self, ticket_id: str) -> List[dict]:
        return [{"id": m.id, "author_id": m.author_id, "author_name": m.author_name, "author_side": m.author_side,
                 "body": m.body, "at": m.at}
                for m in TicketMessageItem.query(keys.ticket_pk(ticket_id),
                                                 TicketMessageItem.sk.startswith(keys.TICKET_MESSAGE_PREFIX))]

    def save(self, ticket: Ticket, expected_version: Optional[int], audit: AuditEntry,
             message: Optional[dict] = None, attachments: Sequence[Attachment] = ()) -> None:
        """The ticket (new when `expected_version` is None) with its new message and audit entry;
        `attachments` (uploaded, on no message yet) are sent with the message."""
        def build(tx):
            condition = TicketItem.pk.does_not_exist() if expected_version is None \
                else TicketItem.version == expected_version
            tx.save(_ticket_item(ticket), condition=condition, label="ticket")
            if message is not None:
                tx.save(TicketMessageItem(keys.ticket_pk(ticket.id), keys.ticket_message_sk(message["at"], message["id"]),
                                          **message), condition=TicketMessageItem.pk.does_not_exist(), label="message")
                for attachment in attachments:
                    item = TicketAttachmentItem(keys.ticket_pk(ticket.id), keys.ticket_attachment_sk(attachment.id))
                    tx.update(item, actions=[TicketAttachmentItem.message_id.set(message["id"])],
                              condition=TicketAttachmentItem.pk.exists() & TicketAttachmentItem.message_id.does_not_exist(),
                              label="attachment")
            append_audit(tx, audit, {ticket.id: hooks.ticket_data(ticket)})

        def conflict(labels):
            return codes.ATTACHMENT_NOT_AVAILABLE() if labels == {"attachment"} else codes.VERSION_CONFLICT()

        self._tx.run(build, on_conflict=conflict)

    # --- attachments ----------------------------------------------------------------------------

    def attachments(self, ticket_id: str) -> List[Attachment]:
        """Every attachment of the ticket, in upload order."""
        items = TicketAttachmentItem.query(keys.ticket_pk(ticket_id),
                                           TicketAttachmentItem.sk.startswith(keys.TICKET_ATTACHMENT_PREFIX),
                                           consistent_read=True)
        return sorted((_attachment(i) for i in items), key=lambda a: (a.at, a.id))

    def attachment(self, ticket_id: str, attachment_id: str) -> Attachment:
        try:
            return _attachment(TicketAttachmentItem.get(keys.ticket_pk(ticket_id),
                                                        keys.ticket_attachment_sk(attachment_id), consistent_read=True))
        except DoesNotExist:
            raise codes.ATTACHMENT_NOT_FOUND()

    def add_attachment(self, attachment: Attachment, audit: AuditEntry, *, limit: int) -> None:
        """A new attachment with its audit entry (the file is already in the bucket), on the
        condition that its ticket is still open (closed meanwhile: 409, nothing written) and has had
        fewer than `limit` files (its counter, added to in the same transaction: 409)."""
        def build(tx):
            tx.check(TicketItem, keys.ticket_pk(attachment.ticket_id), keys.TICKET_SK,
                     condition=TicketItem.status != CLOSED, label="ticket")
            tx.update(CounterItem(keys.ticket_pk(attachment.ticket_id), keys.TICKET_ATTACHMENT_COUNT_SK),
                      actions=[CounterItem.value.add(1)],
                      condition=CounterItem.value.does_not_exist() | (CounterItem.value < limit), label="count")
            tx.save(_attachment_item(attachment), condition=TicketAttachmentItem.pk.does_not_exist(), label="attachment")
            append_audit(tx, audit)

        def conflict(labels):
            if "ticket" in labels:
                return codes.TICKET_CLOSED()
            if "count" in labels:
                return codes.ATTACHMENT_LIMIT_REACHED(max_attachments=limit)
            return codes.VERSION_CONFLICT()

        self._tx.run(build, on_conflict=conflict)


_ATTACHMENT_FIELDS = ("id", "ticket_id", "organization_id", "name", "size", "content_type", "uploaded_by",
                      "uploaded_by_name", "side", "at", "message_id", "removed_at")


def _attachment_item(attachment: Attachment) -> TicketAttachmentItem:
    return TicketAttachmentItem(keys.ticket_pk(attachment.ticket_id), keys.ticket_attachment_sk(attachment.id),
                                **{k: getattr(attachment, k) for k in _ATTACHMENT_FIELDS})


def _attachment(item: TicketAttachmentItem) -> Attachment:
    values = {k: getattr(item, k) for k in _ATTACHMENT_FIELDS}
    return Attachment(**{**values, "size": int(item.size)})
