"""Collection of what is owed: the daily run that marks open invoices past their due date overdue
(read from the (status, due date) index: however late, never a window) and takes the dunning
steps of the organisation's policy (reminders, the purchase block's notice, the suspension
warning); the purchase block itself; an operator's policy for one organisation; and the
customer's view of where it stands (the portal's banner)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol

from ..domain import billing as rules
from ..domain import dunning as dunning_rules
from ..domain import error_codes as codes
from ..domain import subscriptions as subscription_rules
from ..domain.audit import SYSTEM
from ..domain.billing import Invoice
from ..domain.clock import iso, local_day
from ..domain.dunning import DunningPolicy, Step, with_override
from ..domain.errors import Conflict
from ..schemas import array, boolean, cents, date as date_schema, enum, integer, nullable, shape, text
from . import audit, notifications
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..storage.billing import InvoiceRepository
    from ..storage.dunning import DunningStepRepository
    from ..storage.licences import SubscriptionRepository
    from ..storage.repositories import ContractRepository, OrganizationRepository
    from .audit import Clocked
    from .documents import Configured
    from .notifications import QueuesEmails

    class PolicyDeps(Configured, Protocol):
        """The reseller's dunning policy (settings) and an organisation's override (its contract)."""

        contracts: ContractRepository

    class OverdueDeps(Clocked, Protocol):
        """Invoices past due marked overdue, with their audit entries."""

        invoices: InvoiceRepository

    class DunningRunDeps(OverdueDeps, PolicyDeps, QueuesEmails, Protocol):
        """The daily run: overdue invoices, each organisation's policy, the steps taken once each
        (with their audit entries) and emailed to the billing contacts and the operators."""

        organizations: OrganizationRepository
        dunning_steps: DunningStepRepository

    class PurchaseBlockDeps(PolicyDeps, Clocked, Protocol):
        """Whether the organisation's unpaid invoices block purchases today."""

        invoices: InvoiceRepository

    class PolicyEditDeps(PolicyDeps, Clocked, Protocol):
        """An operator's override, written on the contract's version with its audit entry."""

    class WarningDeps(Protocol):
        """The steps taken on an invoice (when its suspension warning was sent)."""

        dunning_steps: DunningStepRepository

    class BillingStatusDeps(PurchaseBlockDeps, WarningDeps, Protocol):
        """The customer's collection state: its invoices, its policy, its subscriptions."""

        subscriptions: SubscriptionRepository


def policy_of(deps: PolicyDeps, organization_id: str) -> DunningPolicy:
    """The reseller's policy with the organisation's override, if an operator set one (the
    reseller's own organisation, which has no contract, has the default)."""
    contract = deps.contracts.find(organization_id)
    return with_override(deps.settings.dunning, contract.dunning_override if contract else None)


# --- the daily run ------------------------------------------------------------------------------

def run_daily(deps: DunningRunDeps) -> Dict[str, int]:
    """Mark what became overdue, then take today's step for every collectable overdue invoice.
    Each step is taken once per invoice however often the run repeats or overlaps; after missed
    runs, only the latest step due is taken. A disputed or paid invoice gets nothing."""
    today = local_day(deps.clock())
    marked = _mark(deps, today)
    fresh = {invoice.id for invoice in marked}
    # The index is eventually consistent: the invoices just marked are taken as written.
    candidates = marked + [i for i in deps.invoices.due_before(rules.OVERDUE, today) if i.id not in fresh]
    policies: Dict[str, DunningPolicy] = {}
    taken = 0
    for invoice in candidates:
        if not dunning_rules.collectable(invoice):
            continue
        if invoice.organization_id not in policies:
            policies[invoice.organization_id] = policy_of(deps, invoice.organization_id)
        policy = policies[invoice.organization_id]
        # Only ask the table what was taken when a step is due at all.
        if dunning_rules.step_due(policy, invoice, today, ()) is not None and _step(deps, policy, invoice, today):
            taken += 1
    return {"overdue": len(marked), "steps": taken}


def _step(deps: DunningRunDeps, policy: DunningPolicy, invoice: Invoice, today: date) -> bool:
    """Take the invoice's step of the day, if one is due and not taken. When the step's write
    finds the invoice changed since it was read (a payment, a dispute, a second copy), it looks
    once more at the invoice as it is now; another run having taken the step, it stops there."""
    for attempt in range(2):
        if attempt:
            invoice = deps.invoices.get(invoice.id)
        step = dunning_rules.step_due(policy, invoice, today, deps.dunning_steps.taken(invoice.id))
        if step is None:
            return False
        if _take(deps, policy, invoice, step, today):
            return True
    return False


def _mark(deps: OverdueDeps, today: date) -> List[Invoice]:
    marked = []
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
        marked.append(overdue)
    return marked


# Each step: its audit action and its email template (templates/email/<template>.html + .txt).
STEP_ACTIONS = {dunning_rules.REMINDER: "invoice.dunning_reminder",
                dunning_rules.BLOCK: "invoice.purchases_blocked",
                dunning_rules.SUSPENSION_WARNING: "invoice.suspension_warning"}
STEP_TEMPLATES = {dunning_rules.REMINDER: "dunning_reminder", dunning_rules.BLOCK: "dunning_block",
                  dunning_rules.SUSPENSION_WARNING: "dunning_suspension_warning"}


def _take(deps: DunningRunDeps, policy: DunningPolicy, invoice: Invoice, step: Step, today: date) -> bool:
    """Record the step (once: a conditional write with its audit entry, on the invoice as read),
    then queue its email, whose delivery key names the step. False when another run took it, or
    the invoice changed (paid, disputed) since it was read: tomorrow's run looks again."""
    late = dunning_rules.days_overdue(invoice, today)
    try:
        deps.dunning_steps.take(invoice, step.key, day=step.day, days_overdue=late, taken_at=iso(deps.clock()),
                                audit=audit.entry(
                                    deps, SYSTEM, invoice.organization_id, STEP_ACTIONS[step.kind],
                                    f"invoice:{invoice.id}",
                                    after={"step": step.key, "day": step.day, "days_overdue": late,
                                           "balance_cents": invoice.balance_cents}))
    except Conflict:
        return False
    contract = deps.contracts.get(invoice.organization_id)
    organization = deps.organizations.get(invoice.organization_id)
    recipients = notifications.with_operators(contract.billing_contacts, deps.settings.operators_email)
    following = dunning_rules.next_consequence(policy, invoice, today)
    suspension_on = dunning_rules.suspension_day_for(policy, invoice, warned_on(deps, invoice), today)
    # Deferred (lean API function, issue #22 §3): the licence panel and the purchase routes read the
    # dunning state through this module; the documents service loads only when a step's email is due.
    from . import documents

    context = documents.email_context(deps, invoice, organization)
    context["dunning"] = {
        "step": step.kind, "days_overdue": late,
        "block_on": dunning_rules.block_starts(policy, invoice).isoformat(),
        "suspension_on": suspension_on.isoformat() if suspension_on else None,
        "next": None if following is None else {"kind": following[0], "on": following[1].isoformat()},
    }
    notifications.queue_email(deps, template=STEP_TEMPLATES[step.kind], to=recipients,
                              delivery_key=f"dunning#{invoice.id}#{step.key}", invoice_id=invoice.id,
                              organization_id=invoice.organization_id,
                              context=context)
    return True


# --- the purchase block -------------------------------------------------------------------------

def ensure_purchases_allowed(deps: PurchaseBlockDeps, organization_id: str) -> None:
    """The one check of the block, before any purchase (checkout) or quantity increase: 422
    `overdue_block` from the block day of an unpaid invoice, derived from the invoices as they
    are now, so a payment in full lifts it at once."""
    dunning_rules.ensure_purchases_allowed(policy_of(deps, organization_id),
                                           deps.invoices.collectable_of(organization_id),
                                           local_day(deps.clock()))


# --- an operator's policy for one organisation --------------------------------------------------

_POLICY = dict(reminder_days=array(integer(minimum=1)), block_day=integer(minimum=1),
               warning_day=integer(minimum=1), suspension_day=integer(minimum=1), hold_suspension=boolean())

DUNNING_POLICY = shape("DunningPolicyValues", description="Uma régua de cobrança: dias contados do vencimento "
                       "(1 = o dia seguinte).", **_POLICY)
DUNNING_OVERRIDE = shape(
    "DunningOverride", description="Os valores que o operador definiu para a organização (null: vale o padrão).",
    **{name: nullable(schema) for name, schema in _POLICY.items()})
ORGANIZATION_DUNNING = shape(
    "OrganizationDunningPolicy", description="A régua em vigor para a organização, o padrão da revenda e o que o "
                                             "operador mudou para ela (`version`: a do contrato).",
    organization_id=text(), effective=DUNNING_POLICY, default=DUNNING_POLICY, override=DUNNING_OVERRIDE,
    version=integer(minimum=1))


def _policy_view(policy: DunningPolicy) -> Dict[str, Any]:
    return {"reminder_days": list(policy.reminder_days), "block_day": policy.block_day,
            "warning_day": policy.warning_day, "suspension_day": policy.suspension_day,
            "hold_suspension": policy.hold_suspension}


def _organization_policy_view(deps: PolicyDeps, contract) -> Dict[str, Any]:
    override = contract.dunning_override or {}
    return {"organization_id": contract.organization_id,
            "effective": _policy_view(with_override(deps.settings.dunning, override)),
            "default": _policy_view(deps.settings.dunning),
            "override": {name: override.get(name) for name in dunning_rules.POLICY_FIELDS},
            "version": contract.version}


def organization_policy(deps: PolicyDeps, organization_id: str) -> Dict[str, Any]:
    return _organization_policy_view(deps, deps.contracts.get(organization_id))


def change_organization_policy(deps: PolicyEditDeps, caller: Caller, organization_id: str,
                               values: Dict[str, Any], *, expected_version: Optional[int]) -> Dict[str, Any]:
    """The operator's values over the reseller's policy for one organisation, as a whole (a field
    absent or null: the reseller's): the resulting policy is checked (400, nothing written), then
    written on the contract's version with its audit entry (a concurrent edit: 409)."""
    contract = deps.contracts.get(organization_id)
    if expected_version is not None and expected_version != contract.version:
        raise codes.VERSION_CONFLICT()
    override = dunning_rules.override_of(values)
    dunning_rules.validate_policy(with_override(deps.settings.dunning, override))
    if override == (contract.dunning_override or None):
        return _organization_policy_view(deps, contract)  # the same values again change nothing
    changed = dunning_rules.with_contract_override(contract, override)
    deps.contracts.save(changed, expected_version=contract.version, audit=audit.entry(
        deps, caller.actor, organization_id, "contract.dunning_policy_changed", f"contract:{contract.id}",
        before={"override": contract.dunning_override}, after={"override": override}))
    return _organization_policy_view(deps, changed)


# --- the customer's view ------------------------------------------------------------------------

BILLING_STATUS_INVOICE = shape(
    "BillingStatusInvoice", description="A fatura em atraso mais antiga, a que a cobrança trata.",
    id=text(), number=integer(minimum=1), due_date=date_schema(), balance_cents=cents(),
    days_overdue=integer(minimum=0))
BILLING_STATUS = shape(
    "BillingStatus", description="A situação de cobrança da organização: em dia (none), em atraso (overdue), "
                                 "compras bloqueadas (blocked), aviso de suspensão (suspension_warning) ou "
                                 "assinaturas suspensas (suspended).",
    state=enum(dunning_rules.STATES), invoice=nullable(BILLING_STATUS_INVOICE),
    purchases_blocked_since=nullable(date_schema()),
    # The day the subscriptions are suspended if nothing is paid (null: nothing overdue, or held).
    suspension_on=nullable(date_schema()),
    message=nullable(text(description="A frase do aviso do portal, em português.")))


def warned_on(deps: WarningDeps, invoice: Invoice) -> Optional[date]:
    """The São Paulo day the invoice's suspension warning was sent, if it was."""
    taken_at = deps.dunning_steps.taken_at(invoice.id, dunning_rules.SUSPENSION_WARNING)
    return local_day(datetime.fromisoformat(taken_at)) if taken_at else None


def billing_status(deps: BillingStatusDeps, caller: Caller) -> Dict[str, Any]:
    organization_id = caller.organization_id
    suspended = any(s.status == subscription_rules.SUSPENDED for s in deps.subscriptions.list(organization_id))
    today = local_day(deps.clock())
    state = dunning_rules.collection_state(policy_of(deps, organization_id),
                                           deps.invoices.collectable_of(organization_id), today, suspended,
                                           warned_on=lambda invoice: warned_on(deps, invoice))
    invoice = state.invoice
    return {"state": state.state,
            "invoice": None if invoice is None else {
                "id": invoice.id, "number": invoice.number, "due_date": invoice.due_date.isoformat(),
                "balance_cents": invoice.balance_cents, "days_overdue": state.days_overdue},
            "purchases_blocked_since": state.blocked_since.isoformat() if state.blocked_since else None,
            "suspension_on": state.suspension_on.isoformat() if state.suspension_on else None,
            "message": state.message}
