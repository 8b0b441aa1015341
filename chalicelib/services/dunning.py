"""Collection of what is owed: the daily job that marks open invoices past their due date overdue
(read from the (status, due date) index: however late, never a window) and reminds the billing
contacts."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from ..domain import billing as rules
from ..domain.audit import SYSTEM
from ..domain.billing import Invoice
from ..domain.clock import local_day
from ..domain.dunning import DunningPolicy, with_override
from ..domain.errors import Conflict
from . import audit, documents, notifications

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..storage.billing import InvoiceRepository
    from ..storage.repositories import ContractRepository, OrganizationRepository
    from .audit import Clocked
    from .documents import Configured
    from .notifications import QueuesEmails

    class PolicyDeps(Configured, Protocol):
        """The reseller's dunning policy (settings) and an organisation's override (its contract)."""

        contracts: ContractRepository

    class OverdueDeps(Clocked, Configured, QueuesEmails, Protocol):
        """Invoices past due marked overdue, their billing contacts reminded."""

        invoices: InvoiceRepository
        contracts: ContractRepository
        organizations: OrganizationRepository


def policy_of(deps: PolicyDeps, organization_id: str) -> DunningPolicy:
    """The reseller's policy with the organisation's override, if an operator set one."""
    contract = deps.contracts.get(organization_id)
    return with_override(deps.settings.dunning, contract.dunning_override if contract else None)


def mark_overdue(deps: OverdueDeps) -> int:
    """Every open invoice due before today becomes overdue (a disputed one stays as it is), and its
    billing contacts are reminded. A skipped run is caught up by the next one, however late."""
    today = local_day(deps.clock())
    marked = 0
    for invoice in deps.invoices.due_before(rules.OPEN, today):
        if not rules.becomes_overdue(invoice, today):
            continue
        overdue = replace(invoice, status=rules.OVERDUE, version=invoice.version + 1)
        try:
            deps.invoices.save(overdue, expected_version=invoice.version, audit=audit.entry(
                deps, SYSTEM, invoice.organization_id, "invoice.overdue", f"invoice:{invoice.id}",
                before={"status": invoice.status}, after={"status": overdue.status}))
        except Conflict:
            continue  # paid or changed since the index was read
        _remind(deps, overdue)
        marked += 1
    return marked


def _remind(deps: OverdueDeps, invoice: Invoice) -> None:
    contract = deps.contracts.get(invoice.organization_id)
    if contract.billing_contacts:
        organization = deps.organizations.get(invoice.organization_id)
        notifications.queue_email(deps, template="invoice_overdue", to=list(contract.billing_contacts),
                                  delivery_key=f"invoice_overdue#{invoice.id}", invoice_id=invoice.id,
                                  context=documents.email_context(deps, invoice, organization))
