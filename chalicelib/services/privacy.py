"""LGPD: the privacy notice, the organisation's data export, and anonymisation after retention.

The export is synchronous: an organisation's data is small (tens of users, a few hundred invoices
and tickets, some thousand audit entries: well under a few MB), so it is read by its access
patterns, zipped in memory and put in S3 within the request, and answered with a link that lives
`export_link_seconds` (15 minutes). The export record holds that expiry; the product hands out no
link after it, whatever S3 (or the local emulator, which ignores presigned expiry) would accept.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Dict, Protocol

from ..domain import error_codes as codes
from ..domain import privacy as rules
from ..domain.audit import SYSTEM
from ..domain.clock import iso
from ..domain.ids import new_id
from ..domain.tickets import attachment_key
from ..schemas import date_time, integer, shape, text
from . import audit
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.documents import S3DocumentStore
    from ..adapters.identity import CognitoIdentity
    from ..settings import Settings
    from ..storage.privacy import PrivacyRepository
    from .audit import Clocked

    class PrivacyNoticeDeps(Protocol):
        """The controller and the DPO, from the settings."""

        settings: Settings

    class ExportDeps(Clocked, Protocol):
        """The organisation's items read, zipped to S3, recorded and audited; links handed out."""

        settings: Settings
        privacy: PrivacyRepository
        documents: S3DocumentStore

    class AnonymisationDeps(Clocked, Protocol):
        """Terminated organisations past retention: identities deleted, items rewritten."""

        settings: Settings
        privacy: PrivacyRepository
        identity: CognitoIdentity
        documents: S3DocumentStore


PRIVACY_NOTICE = shape(
    "PrivacyNotice", description="Quem controla os dados pessoais (LGPD art. 5º, VI), o encarregado (art. 41) "
    "e os prazos de guarda: o que a página 'Privacidade' do portal mostra.",
    controller_name=text(), controller_cnpj=text(), controller_address=text(), dpo_name=text(),
    dpo_email=text(format="email"), dpo_phone=text(),
    fiscal_retention_years=integer(minimum=0, description="Anos de guarda dos documentos fiscais após o "
                                   "encerramento do contrato; depois, os dados pessoais são anonimizados."),
    export_link_minutes=integer(minimum=1, description="Minutos em que o link de uma exportação vale."))

DATA_EXPORT = shape(
    "DataExport", description="Uma exportação dos dados da organização (zip com JSON e CSV de cada tabela) e um "
    "link de download que vale até `expires_at`.",
    id=text(), created_at=date_time(), expires_at=date_time(), url=text(format="uri"),
    size_bytes=integer(minimum=0), rows=integer(minimum=0))


def privacy_notice(deps: PrivacyNoticeDeps) -> Dict[str, Any]:
    contacts = deps.settings.privacy
    return {"controller_name": contacts.controller_name, "controller_cnpj": contacts.controller_cnpj,
            "controller_address": contacts.controller_address, "dpo_name": contacts.dpo_name,
            "dpo_email": contacts.dpo_email, "dpo_phone": contacts.dpo_phone,
            "fiscal_retention_years": deps.settings.fiscal_retention_years,
            "export_link_minutes": max(1, deps.settings.export_link_seconds // 60)}


def _export_view(deps: ExportDeps, export: rules.DataExport, now: datetime) -> Dict[str, Any]:
    seconds = rules.link_seconds_left(export, now)
    if seconds <= 0:
        raise codes.EXPORT_EXPIRED()
    filename = rules.export_filename(export.organization_id, datetime.fromisoformat(export.created_at))
    return {"id": export.id, "created_at": export.created_at, "expires_at": iso(export.expires_at),
            "url": deps.documents.link(export.key, filename, seconds=seconds),
            "size_bytes": export.size_bytes, "rows": export.rows}


def export_data(deps: ExportDeps, caller: Caller) -> Dict[str, Any]:
    """Every table of the organisation as a zip in S3; the export recorded and audited together."""
    now = deps.clock()
    organization_id = caller.organization_id
    tables = deps.privacy.tables(organization_id)
    rows = sum(len(t) for t in tables.values())
    export_id = new_id()
    data = rules.build_export_zip(tables, {
        "organization_id": organization_id, "export_id": export_id, "exported_at": iso(now),
        "exported_by": caller.user.id, "format": "1"})
    key = deps.documents.put(rules.export_key(organization_id, export_id), data, "application/zip")
    export = rules.DataExport(id=export_id, organization_id=organization_id, key=key, requested_by=caller.user.id,
                              created_at=iso(now), expires_at=now + timedelta(seconds=deps.settings.export_link_seconds),
                              size_bytes=len(data), rows=rows)
    deps.privacy.add_export(export, audit.entry(deps, caller.actor, organization_id, "organization.data_exported",
                                                f"export:{export_id}", after={"rows": rows, "size_bytes": len(data)}))
    return _export_view(deps, export, now)


def export_link(deps: ExportDeps, caller: Caller, export_id: str) -> Dict[str, Any]:
    """A fresh link to an export of the caller's organisation, only while the export lives."""
    export = deps.privacy.export(caller.organization_id, export_id)
    if export is None:
        raise codes.EXPORT_NOT_FOUND()
    return _export_view(deps, export, deps.clock())


# --- anonymisation --------------------------------------------------------------------------------

def anonymise_due(deps: AnonymisationDeps) -> int:
    """Every terminated organisation past the fiscal retention: its personal data anonymised.

    Repeat-safe: each step rewrites items to their anonymised form, and only the last one takes the
    contract out of the retention index, so a run cut short is finished by the next."""
    now = deps.clock()
    cutoff = rules.retention_cutoff(now, deps.settings.fiscal_retention_years)
    done = 0
    for organization_id in deps.privacy.retained_until(iso(cutoff)):
        done += anonymise_organization(deps, organization_id)
    return done


def _redactions(deps: AnonymisationDeps, organization_id: str, users, contract, tickets) -> rules.Redactions:
    """Every personal value the organisation's items may hold, from where it is known."""
    redactions = rules.Redactions()
    for user in users:
        redactions.add(user.email, rules.anonymised_email(user.id))
        redactions.add(user.name, rules.ANONYMISED_NAME)
    # Users removed before the end still appear in the trail's snapshots of them.
    for entry in deps.privacy.audit_entries(organization_id):
        if entry.target.startswith("user:"):
            for picture in (entry.before, entry.after):
                if isinstance(picture, dict):
                    redactions.add(picture.get("email") if isinstance(picture.get("email"), str) else None)
                    redactions.add(picture.get("name") if isinstance(picture.get("name"), str) else None,
                                   rules.ANONYMISED_NAME)
        # Billing contacts the contract had before: the trail's snapshots of the contract keep them.
        for picture in (entry.before, entry.after):
            if isinstance(picture, dict) and isinstance(picture.get("billing_contacts"), list):
                redactions.extend(c for c in picture["billing_contacts"] if isinstance(c, str))
    if contract is not None:
        redactions.extend(contract.billing_contacts or [])
    cnpj = deps.privacy.organization_cnpj(organization_id)
    lead = deps.privacy.lead(cnpj) if cnpj else None
    if lead is not None and lead.organization_id == organization_id:
        redactions.add(lead.contact_name, rules.ANONYMISED_NAME)
        redactions.extend([lead.email, lead.phone])
    for ticket in tickets:
        redactions.add(ticket.opened_by_email)
        for message in deps.privacy.ticket_messages(ticket.id):
            if message.author_side == "customer":
                redactions.add(message.author_name, rules.ANONYMISED_NAME)
    return redactions


def anonymise_organization(deps: AnonymisationDeps, organization_id: str) -> int:
    """One organisation: 1 when anonymised now, 0 when it must wait (its final invoice not issued yet)."""
    privacy = deps.privacy
    contract = privacy.contract(organization_id)
    if contract is None or contract.final_invoice_due:
        return 0
    users = privacy.users(organization_id)
    tickets = privacy.tickets(organization_id)
    redactions = _redactions(deps, organization_id, users, contract, tickets)
    # Identities first: a user record anonymised no longer tells which Cognito user to delete.
    for user in users:
        if not user.email.endswith("@" + rules.ANONYMISED_DOMAIN):
            deps.identity.delete_user(user.email)
    entries = 0
    for entry in privacy.audit_entries(organization_id):
        changes = {"before": redactions.scrub(entry.before), "after": redactions.scrub(entry.after),
                   "actor_email": None, "source_ip": None}
        if any(getattr(entry, k) != v for k, v in changes.items()):
            privacy.update(entry, changes)
            entries += 1
    for ticket in tickets:
        privacy.update(ticket, {"opened_by_email": rules.anonymised_email(ticket.opened_by),
                                "subject": redactions.scrub(ticket.subject)})
        for message in privacy.ticket_messages(ticket.id):
            changes = {"body": redactions.scrub(message.body)}
            if message.author_side == "customer":
                changes["author_name"] = rules.ANONYMISED_NAME
            privacy.update(message, changes)
        # The files: screenshots and logs are personal data the product cannot read to redact, so
        # each is deleted from the bucket (a repeat-safe delete, before the organisation is marked
        # anonymised: a failure here runs again next time), and its record says so (no more link);
        # the record keeps the file's redacted name, without the customer's name.
        for attachment in privacy.ticket_attachments(ticket.id):
            deps.documents.delete(attachment_key(attachment.organization_id, attachment.ticket_id, attachment.id))
            changes = {"name": redactions.scrub(attachment.name), "removed_at": attachment.removed_at or iso(deps.clock())}
            if attachment.side == "customer":
                changes["uploaded_by_name"] = rules.ANONYMISED_NAME
            privacy.update(attachment, changes)
    for change in privacy.changes(organization_id):
        if change.reason_text:
            privacy.update(change, {"reason_text": redactions.scrub(change.reason_text)})
    privacy.update(contract, {"billing_contacts": [], "accepted_from_ip": None})
    cnpj = privacy.organization_cnpj(organization_id)
    lead = privacy.lead(cnpj) if cnpj else None
    if lead is not None and lead.organization_id == organization_id:
        privacy.update(lead, {"contact_name": rules.ANONYMISED_NAME, "email": rules.anonymised_email(lead.id),
                              "phone": "", "source_ip": None})
    for user in users:
        privacy.anonymise_user(user, rules.ANONYMISED_NAME, rules.anonymised_email(user.id))
    privacy.finish_anonymisation(organization_id, iso(deps.clock()), audit.entry(
        deps, SYSTEM, organization_id, "organization.personal_data_anonymised", f"organization:{organization_id}",
        after={"users": len(users), "tickets": len(tickets), "audit_entries": entries,
               "retention_years": deps.settings.fiscal_retention_years}))
    return 1
