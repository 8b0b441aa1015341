"""The audit trail's entry: who did what to which object, before → after. Never edited."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user, or the system (schedules, workers)."""

    user_id: str
    email: Optional[str] = None
    source_ip: Optional[str] = None


SYSTEM = Actor(user_id="system")
# The bank, when its webhook reports a payment (confirmed with its API before anything is recorded).
BANK = Actor(user_id="banco")


@dataclass(frozen=True)
class AuditEntry:
    id: str
    organization_id: str
    at: str
    actor_id: str
    actor_email: Optional[str]
    action: str  # e.g. "user.invited", "contract.accepted"
    target: str  # e.g. "user:<id>", "contract:<id>"
    before: Optional[Any]
    after: Optional[Any]
    source_ip: Optional[str] = None
