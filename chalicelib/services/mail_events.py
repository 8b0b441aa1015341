"""What SES tells after sending: a hard bounce or a complaint stops every email to the address.

SES publishes the events of every email sent with the configuration set to an SNS topic, whose
handler (jobs/mail_events.py) hands each message here. For each address a permanent bounce or a
complaint names:

- the address is suppressed (storage/suppressions.py), once: SNS delivers at least once, and the
  same event again finds the suppression written and does nothing more (a redelivery after a
  crash between the write and the emails queues them again; their delivery keys send them once);
- the organisation the email was about (its `organization_id` tag), when it exists, has the
  event in its audit trail (`contact.bounced` / `contact.complained`); its contract's view shows the
  address as undeliverable to Master and Cobrança while the billing contacts list it;
- the operators are told, and, when the address is one of the organisation's billing contacts,
  the other billing contacts (or, when it was the only one, the organisation's Masters): someone
  must give a working address, or the boletos stop arriving;
- from then on, services/notifications.deliver_email drops it from every email.

The suppression is global (SES's reputation is the account's), but it is the organisation's it was
recorded for: only that organisation sees it on its contract and lifts it by changing its billing
contacts; another organisation listing the same address sees nothing special, its emails to it are
dropped all the same, and an invoice's email says how many contacts it did not reach (the operators
see it there and in the EmailsSuppressed metric; they lift a suppression with DELETE
/backoffice/suppressed-addresses/{email}, the only way for one with no organisation). The
operators' own address (settings.operators_email) is never suppressed: its bounce or complaint is
an ERROR in the log and counted, and their notices keep going.

Transient and undetermined bounces, deliveries and rejections are counted in the log only. An
event that cannot be read is ignored with a log line (domain/mail_events.py), never retried.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, List, Optional, Protocol

from ..domain import mail_events as rules
from ..domain.audit import SYSTEM
from ..domain.clock import iso
from ..domain.errors import DomainError
from ..domain.ids import digest
from ..domain import error_codes as codes
from ..domain.roles import Role
from ..domain.users import normalize_email
from ..observability import Metric, count
from . import audit, notifications

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..settings import Settings
    from ..storage.repositories import ContractRepository, OrganizationRepository, UserRepository
    from ..storage.suppressions import SuppressionRepository
    from .audit import Clocked
    from .notifications import QueuesEmails

    class MailEventDeps(Clocked, QueuesEmails, Protocol):
        """Suppressing an address, auditing it on its organisation, telling the operators and the
        organisation's other billing contacts (or its Masters)."""

        settings: Settings
        suppressions: SuppressionRepository
        organizations: OrganizationRepository
        contracts: ContractRepository
        users: UserRepository

    class SuppressionLiftDeps(Clocked, Protocol):
        """The operator's lift of a suppression, audited."""

        suppressions: SuppressionRepository


log = logging.getLogger("csp_portal.services.mail_events")

AUDIT_ACTIONS = {rules.BOUNCE: "contact.bounced", rules.COMPLAINT: "contact.complained"}
REASON_LABELS = {rules.BOUNCE: "devolveu nossos e-mails (bounce)",
                 rules.COMPLAINT: "marcou nossos e-mails como spam (reclamação)"}


def handle_sns_message(deps: MailEventDeps, raw_message) -> int:
    """One SNS message from the mail events topic; returns how many addresses it suppressed."""
    event = rules.parse_sns_message(raw_message)
    if event is None:
        return 0
    # The flow that sent the email (its correlation id, an SES tag): a bounce is traced back to it.
    log.info("mail event %s on message %s, sent by correlation id %s", event.kind, event.message_id,
             event.correlation_id or "unknown")
    if not event.suppresses:
        # A delivery, a soft bounce (a full mailbox, a server down: SES retried already), a rejection.
        detail = f" {event.bounce_type}" if event.kind == rules.BOUNCE else ""
        log.info("mail event %s%s on message %s (%s): nothing to suppress", event.kind, detail, event.message_id,
                 event.template or "no template tag")
        return 0
    return sum(1 for address in event.recipients if _suppress(deps, event, address))


def _suppress(deps: MailEventDeps, event: rules.MailEvent, address: str) -> bool:
    if address == deps.settings.operators_email.strip().lower():
        # Suppressing it would silence every notice to the operators (this one too): someone must
        # look at their mailbox now. Counted (so the bounce and complaint rates' alarms see it), not
        # recorded, so a redelivery logs and counts it again; the address is not in the log.
        count(Metric.EMAIL_BOUNCES if event.kind == rules.BOUNCE else Metric.EMAIL_COMPLAINTS)
        log.error("a %s of the operators' own address on message %s (%s): not suppressed; check that "
                  "mailbox", event.kind, event.message_id, event.template or "no template tag")
        return False
    organization = _organization(deps, event.organization_id)
    contract = _contract(deps, organization.id) if organization is not None else None
    billing_contact = contract is not None and address in contract.billing_contacts
    suppression = rules.suppression_for(event, address, since=iso(deps.clock()),
                                        organization_id=organization.id if organization is not None else None)
    entry = None
    if organization is not None:
        target = f"contract:{contract.id}" if billing_contact else f"organization:{organization.id}"
        entry = audit.entry(deps, SYSTEM, organization.id, AUDIT_ACTIONS[event.kind], target, after={
            "email": address, "billing_contact": billing_contact, "diagnostic": event.diagnostic,
            "template": event.template, "since": suppression.since})
    from ..storage.suppressions import AlreadySuppressed

    try:
        deps.suppressions.suppress(suppression, entry)
    except AlreadySuppressed:
        held = deps.suppressions.get(address)
        if held is None or held.event_id != event.event_id:
            log.info("mail event %s on message %s: the address was suppressed already", event.kind,
                     event.message_id)
            return False
        # The same event again: its emails may not have been queued (a crash after the write);
        # queued again, their delivery keys send each once.
        log.info("mail event %s on message %s delivered again", event.kind, event.message_id)
        _tell(deps, held, organization, contract if billing_contact else None)
        return False
    count(Metric.EMAIL_BOUNCES if event.kind == rules.BOUNCE else Metric.EMAIL_COMPLAINTS)
    log.warning("address suppressed after a %s on message %s (%s, organisation %s)", event.kind,
                event.message_id, event.template or "no template tag",
                organization.id if organization is not None else "unknown")
    _tell(deps, suppression, organization, contract if billing_contact else None)
    return True


def _organization(deps: MailEventDeps, organization_id: Optional[str]):
    """The organisation the tag names, if it exists (a tag names one; it is checked, not trusted)."""
    if not organization_id:
        return None
    try:
        return deps.organizations.get(organization_id)
    except DomainError:  # an unknown organisation: the address is suppressed all the same
        log.info("mail event tagged with an organisation that does not exist")
        return None


def _contract(deps: MailEventDeps, organization_id: str):
    try:
        return deps.contracts.get(organization_id)
    except DomainError:  # the reseller's own organisation has none
        return None


def _tell(deps: MailEventDeps, suppression: rules.Suppression, organization, contract) -> None:
    """The operators, always; the organisation's other billing contacts when the address is one of
    them (its Masters when no other is left). One email each per event (the delivery key)."""
    key = f"{digest(suppression.event_id)[:24]}#{digest(suppression.email)[:24]}"
    context = {"email": suppression.email, "kind": suppression.kind, "reason": REASON_LABELS[suppression.kind],
               "since": suppression.since, "diagnostic": suppression.diagnostic,
               "template": suppression.template, "billing_contact": contract is not None,
               "organization": {"id": organization.id, "name": organization.name} if organization is not None
               else None,
               "portal_url": deps.settings.portal_url}
    notifications.queue_email(deps, template="contact_undeliverable_operators", to=[deps.settings.operators_email],
                              delivery_key=f"contact_undeliverable_operators#{key}", context=context,
                              organization_id=organization.id if organization is not None else None)
    if contract is None:
        return
    others = [c for c in contract.billing_contacts if c != suppression.email]
    masters_told = not others
    to = others or _masters(deps, organization.id, suppression.email)
    if to:
        notifications.queue_email(deps, template="contact_undeliverable", to=to,
                                  delivery_key=f"contact_undeliverable#{key}",
                                  context={**context, "masters_told": masters_told},
                                  organization_id=organization.id)


def _masters(deps: MailEventDeps, organization_id: str, bounced: str) -> List[str]:
    users, _ = deps.users.list(organization_id, limit=100, next_token=None)
    return sorted({u.email for u in users if Role.MASTER in u.roles and u.email != bounced})


def lift_suppression(deps: SuppressionLiftDeps, caller, email: str) -> None:
    """An operator tries an address again (the customer fixed its mailbox; a user's or a lead's
    address, which no change of contacts lifts): the suppression deleted with its audit entry
    (`contact.suppression_lifted`, who lifted it) in one transaction, on the organisation it was
    recorded for (the reseller's own trail when it had none). SUPPRESSION_NOT_FOUND when the
    address is not suppressed."""
    address = normalize_email(email)
    suppression = deps.suppressions.get(address)
    if suppression is None:
        raise codes.SUPPRESSION_NOT_FOUND()
    deps.suppressions.lift(address, audit.entry(
        deps, caller.actor, suppression.organization_id or caller.organization_id, "contact.suppression_lifted",
        f"suppressed_address:{digest(address)[:24]}",
        before={"email": address, "reason": suppression.kind, "since": suppression.since,
                "organization_id": suppression.organization_id}, after={"lifted_by": "operator"}))
