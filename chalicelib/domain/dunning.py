"""Dunning: what happens, day by day, to a customer whose invoice is past due.

The policy is data: the reseller's defaults come from the settings, and an operator may override
any of them for one organisation (stored on its contract). Days count from the invoice's due date
(D+1 is the day after it). Only a collectable invoice counts: open or overdue, something left to
pay, not under dispute. Everything here is a pure function of the invoices and a day, so a block
lifts the moment a payment lands, without waiting for a job.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Iterable, Mapping, Optional, Tuple

from .billing import OPEN, OVERDUE, Invoice

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
