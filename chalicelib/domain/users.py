"""Portal users and the rules about their profiles."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Optional

from . import error_codes as codes
from .roles import CUSTOMER_ROLES, Role, parse_roles

# Deliberately simple: one @, a dot in the domain, no spaces. Deliverability is SES's job.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# The reseller's own organisation: where operators (back-office staff) belong.
RESELLER_ORGANIZATION_ID = "reseller"

# User states: invited until the first password is set, then active.
INVITED = "invited"
ACTIVE = "active"
STATUSES = (INVITED, ACTIVE)


@dataclass
class User:
    id: str
    organization_id: str
    email: str
    name: str
    roles: FrozenSet[Role]
    status: str = INVITED  # invited → active (first password set)
    created_at: Optional[str] = None
    version: int = 1
    # Its sessions (domain/sign_in.py): every one started before this instant has ended (ISO), and
    # those logged out, by origin_jti, with the epoch second their last access token expires.
    sessions_valid_after: Optional[str] = None
    ended_sessions: Dict[str, int] = field(default_factory=dict)
    # When the user confirmed its authenticator app (TOTP); None: not enrolled, or reset since.
    mfa_enrolled_at: Optional[str] = None

    @property
    def is_master(self) -> bool:
        return Role.MASTER in self.roles

    @property
    def is_operator(self) -> bool:
        return Role.OPERATOR in self.roles

    @property
    def mfa_enrolled(self) -> bool:
        return self.mfa_enrolled_at is not None


def normalize_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise codes.INVALID_EMAIL(field="email")
    return email


def validate_roles(raw: Iterable[str], organization_id: str) -> FrozenSet[Role]:
    """The profiles a user of `organization_id` may hold: at least one, from the right set."""
    values: List[str] = list(raw)
    try:
        roles = parse_roles(values)
    except ValueError:
        raise codes.INVALID_ROLES(field="roles", allowed=sorted(r.value for r in Role))
    if not roles:
        raise codes.INVALID_ROLES(field="roles", allowed=sorted(r.value for r in Role))
    allowed = {Role.OPERATOR} if organization_id == RESELLER_ORGANIZATION_ID else CUSTOMER_ROLES
    if not roles <= allowed:
        raise codes.ROLE_NOT_ALLOWED(field="roles", allowed=sorted(r.value for r in allowed))
    return roles


def ensure_not_removing_last_master(user: User, new_roles: Optional[FrozenSet[Role]], masters_count: int) -> None:
    """An organisation always keeps one Master: the one who answers for the contract."""
    loses_master = user.is_master and (new_roles is None or Role.MASTER not in new_roles)
    if loses_master and masters_count <= 1:
        raise codes.LAST_MASTER()


def master_delta(before: FrozenSet[Role], after: Optional[FrozenSet[Role]]) -> int:
    """How the organisation's Master count moves when a user's roles go from before to after."""
    was = Role.MASTER in before
    now = after is not None and Role.MASTER in after
    return int(now) - int(was)
