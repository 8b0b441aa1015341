"""An organisation's suspension at the licence provider, from the day an invoice is long overdue
(`dunning.suspending_invoice`) until it is no longer warranted (paid, disputed, held).

Each organisation has one suspension record, numbered: the first suspension is 1, the next one
(after this one is lifted) 2. Its states go one way:

    SUSPENDED → LIFTING → LIFTED    (then a new number may open)

While SUSPENDED, the daily job suspends every active subscription at the provider; once no longer
warranted it becomes LIFTING, and every subscription it suspended is reactivated; when none is left
suspended it is LIFTED. A LIFTING suspension is always finished before a new one opens, so a
subscription is never left suspended by a suspension already closed. The provider's request ids
are derived from the number and the subscription: a retry is the same request, a later suspension
a new one.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Optional

from .billing import Invoice

SUSPENDED = "suspended"
LIFTING = "lifting"
LIFTED = "lifted"
STATES = (SUSPENDED, LIFTING, LIFTED)
UNDER_WAY = (SUSPENDED, LIFTING)  # in the index of organisations the daily job revisits

# The two provider calls, each claimed per (suspension, subscription) before it is made.
SUSPEND = "suspend"
REACTIVATE = "reactivate"


@dataclass(frozen=True)
class Suspension:
    organization_id: str
    number: int
    state: str
    invoice_id: str  # the invoice that warranted it (the oldest one long overdue)
    invoice_number: int
    started_at: str
    lifting_at: Optional[str] = None
    lifted_at: Optional[str] = None
    version: int = 1


def open_suspension(previous: Optional[Suspension], organization_id: str, invoice: Invoice,
                    at: str) -> Suspension:
    """A new suspension, numbered after the previous one (which must be lifted)."""
    if previous is not None and previous.state != LIFTED:
        raise ValueError(f"suspension {previous.number} of {organization_id} is still {previous.state}")
    return Suspension(organization_id=organization_id, number=previous.number + 1 if previous else 1,
                      state=SUSPENDED, invoice_id=invoice.id, invoice_number=invoice.number, started_at=at,
                      version=previous.version + 1 if previous else 1)


def begin_lifting(suspension: Suspension, at: str) -> Suspension:
    if suspension.state != SUSPENDED:
        raise ValueError(f"only a suspension in force is lifted, not a {suspension.state} one")
    return replace(suspension, state=LIFTING, lifting_at=at, version=suspension.version + 1)


def lifted(suspension: Suspension, at: str) -> Suspension:
    if suspension.state != LIFTING:
        raise ValueError(f"only a suspension being lifted is closed, not a {suspension.state} one")
    return replace(suspension, state=LIFTED, lifted_at=at, version=suspension.version + 1)


# Partner Center's MS-RequestId is a GUID: a name-based one (uuid5) is derived, not drawn.
_REQUEST_NAMESPACE = uuid.UUID("6f1d2b3a-5c4e-4f7a-9b8c-2d1e0f3a4b5c")


def request_id(suspension: Suspension, action: str, subscription_id: str) -> str:
    """The provider's request id (MS-RequestId) of one call: the same for every retry of it, a
    different one for the same subscription in a later suspension."""
    name = f"{action}:{suspension.organization_id}:{suspension.number}:{subscription_id}"
    return str(uuid.uuid5(_REQUEST_NAMESPACE, name))
