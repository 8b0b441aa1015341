"""The audit trail: building entries for every mutation, and reading them back."""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

from ..domain.audit import Actor, AuditEntry
from ..domain.clock import iso
from ..domain.errors import InvalidInput
from ..domain.ids import new_id


def snapshot(value: Any) -> Any:
    """A JSON-safe picture of a value for before/after (sets sorted, enums as their value)."""
    if is_dataclass(value):
        value = asdict(value)
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(snapshot(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [snapshot(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):
        return value.value
    return value


def entry(deps, actor: Actor, organization_id: str, action: str, target: str,
          before: Any = None, after: Any = None) -> AuditEntry:
    return AuditEntry(
        id=new_id(), organization_id=organization_id, at=iso(deps.clock()),
        actor_id=actor.user_id, actor_email=actor.email, action=action, target=target,
        before=snapshot(before), after=snapshot(after), source_ip=actor.source_ip,
    )


def _instant(raw: Optional[str], field: str, default: datetime) -> str:
    if not raw:
        return iso(default)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("Data inválida; use AAAA-MM-DD ou ISO 8601.", code="invalid_date",
                           details={"field": field})
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return iso(value)


def list_entries(deps, caller, *, since: Optional[str], until: Optional[str], limit: int,
                 next_token: Optional[str]) -> Tuple[List[AuditEntry], Optional[str]]:
    now = deps.clock()
    start = _instant(since, "from", now - timedelta(days=90))
    # A bare end date means "through that whole day".
    end_raw = until + "T23:59:59.999999+00:00" if until and "T" not in until else until
    end = _instant(end_raw, "to", now)
    if start > end:
        raise InvalidInput("'from' deve ser anterior a 'to'.", code="invalid_date_range")
    return deps.audit.list(caller.organization_id, since=start, until=end + "~", limit=limit,
                           next_token=next_token)
