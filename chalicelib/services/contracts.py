"""The contract: its view, its acceptance by the Master (which orders every contracted item), its
billing contacts, and its closing at the end of a rescission."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, Tuple

from ..domain import catalog as catalog_rules
from ..domain import contract as contract_rules
from ..domain import error_codes as codes
from ..domain import subscriptions as subscription_rules
from ..domain.audit import SYSTEM, AuditEntry
from ..domain.clock import iso, local_day
from ..domain.contract import Contract, ContractItem, ScheduledChange
from ..domain.errors import StaleVersion
from ..domain.roles import Capability, can
from ..schemas import array, boolean, closed, component, date, date_time, enum, integer, nullable, shape, text
from . import audit, notifications, provisioning
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.queue import Queue
    from ..settings import Settings
    from ..storage.licences import SubscriptionRepository
    from ..storage.repositories import CatalogRepository, ContractRepository, OrganizationRepository, UserRepository
    from ..storage.suppressions import SuppressionRepository
    from .audit import Clocked
    from .notifications import QueuesEmails

    class ContractReadDeps(Protocol):
        """Reading the contract."""

        contracts: ContractRepository

    class ContractViewDeps(Protocol):
        """The contract's view: which billing contacts SES reported as undeliverable."""

        suppressions: SuppressionRepository

    class ContractDeps(ContractReadDeps, Clocked, Protocol):
        """Writing the contract (the settings name the contract's current version)."""

        settings: Settings

    class AcceptanceDeps(ContractDeps, Protocol):
        """The Master's acceptance: the contracted items ordered from the catalog's products as
        subscriptions, saved with the acceptance, their purchases queued for the provider
        (`provisioning.queue_change`; its `QueuesChanges` cannot be named here: provisioning's
        protocols import this module's)."""

        catalog: CatalogRepository
        subscriptions: SubscriptionRepository
        provisioning_queue: Queue

    class BillingContactsDeps(ContractDeps, QueuesEmails, Protocol):
        """Changing who receives invoices and boletos, and telling the old and the new contacts."""

        organizations: OrganizationRepository

    class BillingContactsChangeDeps(BillingContactsDeps, Protocol):
        """The Master's or Cobrança's change: a removed address SES reported as undeliverable stops
        being suppressed (tried again if entered again)."""

        suppressions: SuppressionRepository

    class ContractItemsDeps(Protocol):
        """A contract's items, checked against the catalog's active products."""

        catalog: CatalogRepository

    class ContractTermsDeps(BillingContactsDeps, ContractItemsDeps, Protocol):
        """The operator's change of payment method, closing day and items, told to the billing
        contacts (items checked against the catalog)."""

    class ContractClosingDeps(ContractDeps, QueuesEmails, Protocol):
        """Closing a rescinded contract once no subscription is left, and telling its users."""

        subscriptions: SubscriptionRepository
        organizations: OrganizationRepository
        users: UserRepository


log = logging.getLogger("csp_portal.services.contracts")

# (`component(…, closed(…))`: a property is called "name", which `shape` takes as its own.)
CONTRACT_ITEM = component("ContractItem", closed({"sku": text(), "name": text(), "quantity": integer(minimum=0)},
                                                 description="Um item contratado, como vendido."))

SCHEDULED_CHANGE = shape(
    "ScheduledChange", description="Forma de pagamento e dia de fechamento que valem a partir do próximo período "
                                   "(`effective_from`, o dia seguinte ao fim do período corrente).",
    payment_method=enum(contract_rules.PAYMENT_METHODS), closing_day=integer(minimum=1, maximum=28),
    effective_from=date())

UNDELIVERABLE_CONTACT = shape(
    "UndeliverableContact", description="Um contato de cobrança para o qual os e-mails estão suspensos: o SES "
                                        "informou que ele devolveu nossos e-mails (`bounce`, devolução definitiva) "
                                        "ou que o destinatário os marcou como spam (`complaint`). Nada é enviado a "
                                        "ele até que seja retirado dos contatos de cobrança.",
    email=text(format="email"), reason=enum(("bounce", "complaint")), since=date_time())

# What `GET /contract` and its acceptance answer: this view, with the version of the contract's
# text the portal shows now (`current_document_version`, from settings: `api/contract.py` adds it)
# and, to who handles billing (Master, Cobrança, the operators), the billing contacts no email
# goes to (`undeliverable_contacts`; null to the others, who cannot change the contacts).
CONTRACT = shape(
    "Contract", description="O contrato da organização e o seu aceite.",
    id=text(), organization_id=text(), status=enum(contract_rules.STATUSES),
    payment_method=enum(contract_rules.PAYMENT_METHODS), closing_day=integer(minimum=1, maximum=28),
    billing_contacts=array(text(format="email")), items=array(CONTRACT_ITEM),
    accepted_at=nullable(date_time()), accepted_by=nullable(text()), accepted_from_ip=nullable(text()),
    accepted_version=nullable(text()), terminated_at=nullable(date_time()), final_invoice_due=boolean(),
    scheduled_change=nullable(SCHEDULED_CHANGE), version=integer(minimum=1), current_document_version=text(),
    undeliverable_contacts=nullable(array(UNDELIVERABLE_CONTACT)))


def contract_view(contract: Contract) -> Dict[str, Any]:
    return {
        "id": contract.id, "organization_id": contract.organization_id, "status": contract.status,
        "payment_method": contract.payment_method, "closing_day": contract.closing_day,
        "billing_contacts": list(contract.billing_contacts),
        "items": [{"sku": i.sku, "name": i.name, "quantity": i.quantity} for i in contract.items],
        "accepted_at": contract.accepted_at, "accepted_by": contract.accepted_by,
        "accepted_from_ip": contract.accepted_from_ip, "accepted_version": contract.accepted_version,
        "terminated_at": contract.terminated_at, "final_invoice_due": contract.final_invoice_due,
        "scheduled_change": _scheduled_view(contract.scheduled_change),
        "version": contract.version,
    }


def _scheduled_view(pending: Optional[ScheduledChange]) -> Optional[Dict[str, Any]]:
    if pending is None:
        return None
    return {"payment_method": pending.payment_method, "closing_day": pending.closing_day,
            "effective_from": pending.effective_from.isoformat()}


def undeliverable_contacts(deps: ContractViewDeps, caller: Caller, contract: Contract) -> Optional[List[Dict[str, Any]]]:
    """The billing contacts SES reported as undeliverable on this organisation's emails, in the
    contacts' order; None to a caller
    who does not handle billing (they cannot change the contacts, and the flag is the customer's
    financial contact data)."""
    if not can(caller.roles, Capability.BILLING):
        return None
    suppressed = {email: s for email, s in deps.suppressions.of(contract.billing_contacts).items()
                  # Another organisation's bounce or complaint is not this one's to see (nor to lift).
                  if s.organization_id == contract.organization_id}
    return [{"email": email, "reason": suppressed[email].kind, "since": suppressed[email].since}
            for email in contract.billing_contacts if email in suppressed]


def get_contract(deps: ContractReadDeps, caller: Caller) -> Contract:
    return deps.contracts.get(caller.organization_id)


def accept_contract(deps: AcceptanceDeps, caller: Caller, *, expected_version: Optional[int],
                    document_version: Optional[str] = None) -> Contract:
    """The Master accepts: who, when, from where, which version — and every contracted item is
    ordered on the checkout's path (a subscription `pending`, its purchase queued for the licence
    provider, the accepting Master its requester). The acceptance, the subscriptions, their
    purchases and the audit entries are one transaction on the contract's version, and the ids
    are the contract's and the SKU's: an acceptance retried, replayed or raced orders each item
    once, and the one that loses is refused with nothing written. The purchases are queued after
    the commit; a message lost in between is queued again by the sweeper. `document_version`, the
    text's version the user read, must be the current one (409 `contract_version_changed`)."""
    contract = deps.contracts.get(caller.organization_id)
    if expected_version is not None and expected_version != contract.version:
        raise codes.VERSION_CONFLICT()
    if document_version is not None and document_version != deps.settings.contract_version:
        raise codes.CONTRACT_VERSION_CHANGED(current_version=deps.settings.contract_version)
    contract_rules.ensure_acceptable(contract)
    now = deps.clock()
    orders = contract_rules.order_items(contract, deps.catalog.by_sku(), now=now, requested_by=caller.user.id)
    accepted = contract_rules.accept(
        replace(contract, version=contract.version + 1), user_id=caller.user.id, at=iso(now),
        source_ip=caller.source_ip, document_version=deps.settings.contract_version,
    )
    entries = [audit.entry(deps, caller.actor, caller.organization_id, "contract.accepted", f"contract:{contract.id}",
                           before=contract_view(contract), after=contract_view(accepted))]
    if orders:
        entries.append(audit.entry(
            deps, caller.actor, caller.organization_id, "contract.items_ordered", f"contract:{contract.id}",
            after=[{"sku": sub.sku, "quantity": change.to_quantity, "subscription_id": sub.id}
                   for sub, change in orders]))
    try:
        deps.subscriptions.save([], [], created=[sub for sub, _ in orders],
                                new_changes=[change for _, change in orders], audit=entries,
                                contract=(accepted, contract.version))
    except StaleVersion:
        # Another acceptance committed first (a double click, a retry): say so, as a replay hears.
        contract_rules.ensure_acceptable(deps.contracts.get(caller.organization_id))
        raise
    for _, change in orders:
        try:
            provisioning.queue_change(deps, change)
        except Exception:  # noqa: BLE001 - the acceptance is committed; the sweeper sends it later
            log.exception("contract %s: purchase %s saved but not queued; the sweeper re-queues it",
                          contract.id, change.id)
    return accepted


def change_billing_contacts(deps: BillingContactsChangeDeps, caller: Caller, *, contacts: List[str],
                            expected_version: Optional[int]) -> Contract:
    """New billing contacts, audited; the old and the new contacts are told. Sending the same
    contacts again changes nothing and tells no one."""
    contract = deps.contracts.get(caller.organization_id)
    if expected_version is not None and expected_version != contract.version:
        raise codes.VERSION_CONFLICT()
    changed = contract_rules.with_billing_contacts(contract, contacts)
    if changed is contract:
        return contract
    lifts = _removed_suppressions(deps, caller, contract, changed)
    deps.contracts.save(changed, expected_version=contract.version, audit=audit.entry(
        deps, caller.actor, caller.organization_id, "contract.billing_contacts_changed", f"contract:{contract.id}",
        before={"billing_contacts": list(contract.billing_contacts)},
        after={"billing_contacts": list(changed.billing_contacts)}),
        also=deps.suppressions.lifting(lifts, caller.organization_id))
    lifted = [email for email, _ in lifts]
    organization = deps.organizations.get(caller.organization_id)
    notifications.queue_email(
        deps, template="billing_contacts_changed", organization_id=caller.organization_id,
        # Not to a removed address SES reported as undeliverable: it would bounce again.
        to=[email for email in contract_rules.told_of_contact_change(contract, changed) if email not in lifted],
        # One email per version of the contract: a replayed message is sent once.
        delivery_key=f"billing_contacts_changed#{contract.id}#{changed.version}",
        context={"organization": {"name": organization.name}, "before": list(contract.billing_contacts),
                 "after": list(changed.billing_contacts), "changed_by": caller.user.name,
                 "changed_at": iso(deps.clock()), "portal_url": deps.settings.portal_url})
    return changed


def _removed_suppressions(deps: BillingContactsChangeDeps, caller: Caller, before: Contract,
                          after: Contract) -> List[Tuple[str, AuditEntry]]:
    """The billing contacts SES reported as undeliverable on this organisation's emails and now
    removed, each with its `contact.suppression_lifted` entry: the contract's change lifts them in
    its own transaction (a crash cannot leave one half done). If someone enters the address again,
    they say it works now, and it is tried again (a new bounce suppresses it again). Kept in the
    list, it stays suppressed. Another organisation's suppression of the same address (or one
    with no organisation: a user's, a lead's) is not this organisation's to lift: its removal lifts
    nothing, and emails to it stay dropped (an operator lifts it: DELETE
    /backoffice/suppressed-addresses/{email})."""
    removed = [email for email in before.billing_contacts if email not in after.billing_contacts]
    return [(email, audit.entry(
        deps, caller.actor, caller.organization_id, "contact.suppression_lifted", f"contract:{after.id}",
        before={"email": email, "reason": suppression.kind, "since": suppression.since}))
        for email, suppression in deps.suppressions.of(removed).items()
        if suppression.organization_id == caller.organization_id]


def contract_items(deps: ContractItemsDeps, items: List[Dict[str, Any]]) -> List[ContractItem]:
    """The contracted items: active products of the catalog, each SKU once (the route's schema
    bounds the quantities). Used at creation and by the operator's changes before acceptance."""
    products = {p.sku: p for p in deps.catalog.list() if p.active}
    lines: List[ContractItem] = []
    for index, item in enumerate(items):
        product = products.get(item["sku"])
        if product is None:
            raise codes.INVALID_PRODUCT(field=f"items[{index}].sku")
        if any(line.sku == product.sku for line in lines):
            raise codes.DUPLICATE_ITEMS(field="items")
        catalog_rules.ensure_quantity_allowed(product, item["quantity"])  # the product's seat limits (#21 §4)
        lines.append(ContractItem(sku=product.sku, name=product.name, quantity=item["quantity"]))
    return lines


TERMS_FIELDS = ("payment_method", "closing_day", "items")


def _terms(contract: Contract) -> Dict[str, Any]:
    return {"payment_method": contract.payment_method, "closing_day": contract.closing_day,
            "items": [{"sku": i.sku, "name": i.name, "quantity": i.quantity} for i in contract.items],
            "scheduled_change": _scheduled_view(contract.scheduled_change)}


def change_terms(deps: ContractTermsDeps, caller: Caller, organization_id: str, *, payment_method: Optional[str],
                 closing_day: Optional[int], items: Optional[List[Dict[str, Any]]],
                 expected_version: Optional[int]) -> Contract:
    """The operator changes payment method, closing day and (until acceptance) items
    (`contract_rules.change_terms`): audited, and the billing contacts are told what changes and
    from when. The same values again change nothing and tell no one."""
    if payment_method is None and closing_day is None and items is None:
        raise codes.NOTHING_TO_CHANGE(fields=", ".join(TERMS_FIELDS))
    contract = deps.contracts.get(organization_id)
    if expected_version is not None and expected_version != contract.version:
        raise codes.VERSION_CONFLICT()
    lines = contract_items(deps, items) if items is not None else None
    today = local_day(deps.clock())
    changed = contract_rules.change_terms(contract, today=today, payment_method=payment_method,
                                          closing_day=closing_day, items=lines)
    if changed is contract:
        return contract
    deps.contracts.save(changed, expected_version=contract.version, audit=audit.entry(
        deps, caller.actor, organization_id, "contract.terms_changed", f"contract:{contract.id}",
        before=_terms(contract), after=_terms(changed)))
    _tell_terms_change(deps, caller, contract, changed, today)
    return changed


def _tell_terms_change(deps: ContractTermsDeps, caller: Caller, before: Contract, after: Contract, today) -> None:
    """One email to the billing contacts per version of the contract: the terms before and after,
    and the day the new ones take effect (today while the contract awaits acceptance)."""
    pending = after.scheduled_change
    if pending is not None:
        new = {"payment_method": pending.payment_method, "closing_day": pending.closing_day,
               "effective_from": pending.effective_from.isoformat()}
    elif before.scheduled_change is not None and before.status == contract_rules.ACTIVE:
        new = {"payment_method": after.payment_method, "closing_day": after.closing_day, "effective_from": None}
    else:
        new = {"payment_method": after.payment_method, "closing_day": after.closing_day,
               "effective_from": today.isoformat()}
    organization = deps.organizations.get(after.organization_id)
    items_changed = before.items != after.items
    notifications.queue_email(
        deps, template="contract_terms_changed", to=list(after.billing_contacts), organization_id=after.organization_id,
        delivery_key=f"contract_terms_changed#{after.id}#{after.version}",
        context={"organization": {"name": organization.name},
                 "before": {"payment_method": PAYMENT_METHOD_NAMES[before.payment_method],
                            "closing_day": before.closing_day},
                 "after": {**new, "payment_method": PAYMENT_METHOD_NAMES[new["payment_method"]]},
                 "cancelled": before.scheduled_change is not None and pending is None
                 and before.status == contract_rules.ACTIVE,
                 "awaiting_acceptance": after.status == contract_rules.AWAITING_ACCEPTANCE,
                 "items": [{"name": i.name, "quantity": i.quantity} for i in after.items] if items_changed else None,
                 "changed_at": iso(deps.clock()), "portal_url": deps.settings.portal_url})


PAYMENT_METHOD_NAMES = {"boleto": "boleto bancário", "deposito": "depósito bancário"}


def close_contract_if_all_zero(deps: ContractClosingDeps, organization_id: str, rescission: bool = False) -> bool:
    """Close a contract under rescission once nothing is left, and tell every user of the
    organisation. Repeat-safe: a contract another worker closed first is left alone."""
    contract = deps.contracts.get(organization_id)
    if not contract_rules.under_rescission(contract, rescission=rescission):
        return False
    if not subscription_rules.nothing_left(deps.subscriptions.list(organization_id)):
        return False
    closed = contract_rules.close(contract, iso(deps.clock()))
    try:
        deps.contracts.save(closed, expected_version=contract.version, audit=audit.entry(
            deps, SYSTEM, organization_id, "contract.terminated", f"contract:{contract.id}",
            before={"status": contract.status}, after={"status": closed.status, "final_invoice_due": True}))
    except StaleVersion:
        return False  # another worker closed it first
    organization = deps.organizations.get(organization_id)
    users, _ = deps.users.list(organization_id, limit=100, next_token=None)
    notifications.queue_email(
        deps, template="contract_terminated", to=sorted({u.email for u in users}), organization_id=organization_id,
        delivery_key=f"contract_terminated#{contract.id}",
        context={"organization": {"name": organization.name}, "terminated_at": closed.terminated_at,
                 "portal_url": deps.settings.portal_url})
    return True
