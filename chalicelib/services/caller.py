"""Who is calling, on behalf of which organisation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Optional

from ..domain.audit import Actor
from ..domain.roles import Role
from ..domain.users import User


@dataclass(frozen=True)
class Caller:
    user: User
    # The organisation the request acts on: the user's own, or, for an operator, the one chosen.
    organization_id: str
    source_ip: Optional[str] = None

    @property
    def roles(self) -> FrozenSet[Role]:
        return self.user.roles

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.user.id, email=self.user.email, source_ip=self.source_ip)
