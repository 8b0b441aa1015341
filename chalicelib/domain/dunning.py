"""Dunning: what happens, day by day, to a customer whose invoice is past due.

The policy is data: the reseller's defaults come from the settings, and an operator may override
any of them for one organisation (stored on its contract). Days count from the invoice's due date
(D+1 is the day after it). Only a collectable invoice counts: open or overdue, something left to
pay, not under dispute. Everything here is a pure function of the invoices and a day, so a block
lifts the moment a payment lands, without waiting for a job.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

from . import error_codes as codes
from .billing import OPEN, OVERDUE, Invoice
from .contract import Contract
from .money import format_brl

# The steps, in the order they come; each is taken once per invoice (the reminders once per day listed).
REMINDER = "reminder"
SUSPENSION_WARNING = "suspension_warning"
BLOCK = "block"
SUSPENSION = "suspension"


@dataclass(frozen=True)
class DunningPolicy:
    reminder_days: Tuple[int, ...] = (1, 7, 15)  # a reminder with the open balance on each
    block_day: int = 30  # from this day purchases and increases are refused (422 overdue_block)
    warning_day: int = 40  # the warning that the subscriptions will be suspended
    suspension_day: int = 45  # the subscriptions are suspended at the licence provider
    hold_suspension: bool = False  # an operator holds the suspension (everything else goes on)


POLICY_FIELDS = tuple(f.name for f in fields(DunningPolicy))


def with_override(default: DunningPolicy, override: Optional[Mapping]) -> DunningPolicy:
    """The reseller's policy with an organisation's own values on top (absent keys keep the default)."""
    if not override:
        return default
    values = {name: override[name] for name in POLICY_FIELDS if name in override and override[name] is not None}
    if "reminder_days" in values:
        values["reminder_days"] = tuple(int(d) for d in values["reminder_days"])
    for name in ("block_day", "warning_day", "suspension_day"):
        if name in values:
            values[name] = int(values[name])
    if "hold_suspension" in values:
        values["hold_suspension"] = bool(values["hold_suspension"])
    return replace(default, **values)


def collectable(invoice: Invoice) -> bool:
    return invoice.status in (OPEN, OVERDUE) and invoice.balance_cents > 0 and invoice.dispute is None


def days_overdue(invoice: Invoice, today: date) -> int:
    """0 on the due date and before; 1 the day after (D+1)."""
    return max(0, (today - invoice.due_date).days)


def oldest_collectable_past(invoices: Iterable[Invoice], today: date, day: int) -> Optional[Invoice]:
    """The oldest collectable invoice at least `day` days past due, or None."""
    late = [i for i in invoices if collectable(i) and days_overdue(i, today) >= day]
    return min(late, key=lambda i: (i.due_date, i.number)) if late else None


def blocking_invoice(policy: DunningPolicy, invoices: Iterable[Invoice], today: date) -> Optional[Invoice]:
    """The invoice that blocks purchases and increases today, if any."""
    return oldest_collectable_past(invoices, today, policy.block_day)


def suspending_invoice(policy: DunningPolicy, invoices: Iterable[Invoice], today: date) -> Optional[Invoice]:
    """The invoice for which the subscriptions are to be suspended today, if any (none while held)."""
    if policy.hold_suspension:
        return None
    return oldest_collectable_past(invoices, today, policy.suspension_day)


# --- the steps the daily run takes ----------------------------------------------------------------

# On one day, the later kind outranks the earlier (a reminder due the day purchases are blocked is
# not sent: the block's notice says as much and more).
_RANK = {REMINDER: 0, BLOCK: 1, SUSPENSION_WARNING: 2}


@dataclass(frozen=True)
class Step:
    kind: str  # REMINDER, BLOCK, SUSPENSION_WARNING (the suspension itself is `suspending_invoice`)
    day: int  # D+day

    @property
    def key(self) -> str:
        """What the step is recorded as, once per invoice: a reminder per day, the others once
        whatever their day (an override that moves the block does not block twice)."""
        return f"{REMINDER}_{self.day}" if self.kind == REMINDER else self.kind


def steps(policy: DunningPolicy) -> Tuple[Step, ...]:
    """The policy's steps in the order they come. No warning while an operator holds the
    suspension: there is nothing to warn of."""
    listed = [Step(REMINDER, day) for day in policy.reminder_days] + [Step(BLOCK, policy.block_day)]
    if not policy.hold_suspension:
        listed.append(Step(SUSPENSION_WARNING, policy.warning_day))
    return tuple(sorted(listed, key=lambda s: (s.day, _RANK[s.kind])))


def step_due(policy: DunningPolicy, invoice: Invoice, today: date, taken: Iterable[str]) -> Optional[Step]:
    """The one step to take today for this invoice, or None: the latest step whose day has come,
    unless it (or a step after it) was taken already. After missed runs only that latest step is
    taken, never a burst of the older ones."""
    if not collectable(invoice):
        return None
    late = days_overdue(invoice, today)
    order = steps(policy)
    due = [i for i, step in enumerate(order) if step.day <= late]
    if not due:
        return None
    latest = due[-1]
    taken = set(taken)
    if any(step.key in taken for step in order[latest:]):
        return None
    # A warning whose day passed unsent (missed runs, a dispute resolved, a hold removed late) is
    # still sent: the suspension waits for its notice (`suspension_day_for`).
    return order[latest]


def block_starts(policy: DunningPolicy, invoice: Invoice) -> date:
    return invoice.due_date + timedelta(days=policy.block_day)


def suspension_starts(policy: DunningPolicy, invoice: Invoice) -> Optional[date]:
    """The day the subscriptions would be suspended for this invoice; None while held."""
    return None if policy.hold_suspension else invoice.due_date + timedelta(days=policy.suspension_day)


def notice_days(policy: DunningPolicy) -> int:
    """The days between the warning and the suspension the policy promises the customer."""
    return policy.suspension_day - policy.warning_day


def suspension_day_for(policy: DunningPolicy, invoice: Invoice, warned_on: Optional[date],
                       today: date) -> Optional[date]:
    """The first day the subscriptions may be suspended for this invoice: the policy's day, but
    never before the warning's whole notice has run (a warning sent late moves it; one not sent yet
    is sent today at the earliest). None while held."""
    planned = suspension_starts(policy, invoice)
    if planned is None:
        return None
    earliest = (warned_on if warned_on is not None else today) + timedelta(days=notice_days(policy))
    return max(planned, earliest)


def next_consequence(policy: DunningPolicy, invoice: Invoice, today: date) -> Optional[Tuple[str, date]]:
    """What happens next if the invoice stays unpaid: (BLOCK or SUSPENSION, from which day)."""
    if today < block_starts(policy, invoice):
        return BLOCK, block_starts(policy, invoice)
    suspension = suspension_starts(policy, invoice)
    if suspension is not None and today < suspension:
        return SUSPENSION, suspension
    return None


def ensure_purchases_allowed(policy: DunningPolicy, invoices: Iterable[Invoice], today: date) -> None:
    """From the block day of an unpaid invoice, purchases and quantity increases are refused (422),
    naming the invoice; derived from the invoices as they are, so a payment lifts it at once."""
    blocking = blocking_invoice(policy, invoices, today)
    if blocking is not None:
        raise codes.OVERDUE_BLOCK(number=blocking.number, due_date=br_date(blocking.due_date),
                                  balance=format_brl(blocking.balance_cents), invoice_id=blocking.id,
                                  balance_cents=blocking.balance_cents,
                                  blocked_since=block_starts(policy, blocking).isoformat())


def br_date(day: date) -> str:
    return f"{day:%d/%m/%Y}"


# --- an operator's override -----------------------------------------------------------------------

DAY_FIELDS = ("block_day", "warning_day", "suspension_day")


def override_of(values: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """An operator's override as stored: the policy fields given (absent or null: the reseller's
    value). None when nothing is overridden."""
    override: Dict[str, Any] = {}
    for name in POLICY_FIELDS:
        value = values.get(name)
        if value is None:
            continue
        if name == "reminder_days":
            override[name] = [int(day) for day in value]
        elif name == "hold_suspension":
            override[name] = bool(value)
        else:
            override[name] = int(value)
    return override or None


def with_contract_override(contract: Contract, override: Optional[Dict[str, Any]]) -> Contract:
    """The contract carrying the operator's override, one version on."""
    return replace(contract, dunning_override=override, version=contract.version + 1)


def validate_policy(policy: DunningPolicy) -> DunningPolicy:
    """The policy an override makes must make sense as a whole (400, nothing written)."""
    for name in DAY_FIELDS:
        if getattr(policy, name) < 1:
            raise codes.INVALID_DUNNING_DAY(field=name)
    if any(day < 1 for day in policy.reminder_days):
        raise codes.INVALID_DUNNING_DAY(field="reminder_days")
    if any(b <= a for a, b in zip(policy.reminder_days, policy.reminder_days[1:])):
        raise codes.DUNNING_REMINDERS_NOT_ASCENDING(field="reminder_days",
                                                    reminder_days=", ".join(map(str, policy.reminder_days)))
    for name in ("block_day", "warning_day"):
        if getattr(policy, name) >= policy.suspension_day:
            raise codes.DUNNING_DAY_NOT_BEFORE_SUSPENSION(field=name, day=getattr(policy, name),
                                                          suspension_day=policy.suspension_day)
    return policy


# --- what the customer sees ------------------------------------------------------------------------

NONE = "none"
OVERDUE_STATE = "overdue"
BLOCKED = "blocked"
SUSPENDED_STATE = "suspended"
STATES = (NONE, OVERDUE_STATE, BLOCKED, SUSPENSION_WARNING, SUSPENDED_STATE)


@dataclass(frozen=True)
class CollectionState:
    state: str
    invoice: Optional[Invoice]  # the oldest unpaid invoice past due (the one every step is about)
    days_overdue: int
    blocked_since: Optional[date]
    suspension_on: Optional[date]  # None while held, or with nothing overdue
    message: Optional[str]  # the portal's banner, pt-BR


def collection_state(policy: DunningPolicy, invoices: Iterable[Invoice], today: date,
                     suspended: bool, warned_on: Callable[[Invoice], Optional[date]] = lambda invoice: None
                     ) -> CollectionState:
    """Where the organisation stands: the state, the invoice concerned and the days that matter.
    `suspended`: some subscription of the organisation is suspended at the provider; `warned_on`:
    the day an invoice's suspension warning was sent, if it was."""
    invoices = list(invoices)
    late = oldest_collectable_past(invoices, today, 1)
    blocking = blocking_invoice(policy, invoices, today)
    blocked_since = block_starts(policy, blocking) if blocking is not None else None
    suspension_on = suspension_day_for(policy, late, warned_on(late), today) if late is not None else None
    days = days_overdue(late, today) if late is not None else 0
    if suspended:
        state = SUSPENDED_STATE
    elif late is None:
        state = NONE
    elif suspension_on is not None and days >= policy.warning_day:
        state = SUSPENSION_WARNING
    elif blocking is not None:
        state = BLOCKED
    else:
        state = OVERDUE_STATE
    return CollectionState(state, late, days, blocked_since, suspension_on,
                           _message(state, late, blocked_since, suspension_on, policy))


def _message(state: str, invoice: Optional[Invoice], blocked_since: Optional[date],
             suspension_on: Optional[date], policy: DunningPolicy) -> Optional[str]:
    if state == NONE:
        return None
    if invoice is None:  # suspended, the debt paid: the reactivation is on its way
        return "Algumas assinaturas estão suspensas; a reativação está em andamento."
    about = (f"a fatura nº {invoice.number}, vencida em {br_date(invoice.due_date)}, "
             f"tem saldo em aberto de {format_brl(invoice.balance_cents)}")
    if state == SUSPENDED_STATE:
        return (f"Suas assinaturas estão suspensas por falta de pagamento: {about}. Elas são reativadas "
                "automaticamente quando o pagamento for registrado.")
    if state == SUSPENSION_WARNING:
        return (f"Suas assinaturas serão suspensas em {br_date(suspension_on)} se o saldo não for pago até lá: "
                f"{about}. Novas compras e aumentos de licenças estão bloqueados.")
    if state == BLOCKED:
        then = f" Se o saldo não for pago, as assinaturas serão suspensas em {br_date(suspension_on)}." \
            if suspension_on is not None else ""
        return (f"Novas compras e aumentos de licenças estão bloqueados desde {br_date(blocked_since)}: "
                f"{about}.{then}")
    return (f"{about[0].upper()}{about[1:]}. A partir de {br_date(block_starts(policy, invoice))}, novas compras e "
            "aumentos de licenças ficam bloqueados até o pagamento.")
