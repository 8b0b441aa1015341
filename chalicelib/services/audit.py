"""The audit trail: building entries for every mutation, and reading them back."""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, Tuple

from ..domain import error_codes as codes
from ..domain.audit import Actor, AuditEntry
from ..domain.clock import SAO_PAULO, iso
from ..domain.ids import new_id
from ..schemas import array, date_time, free_form, nullable, page, shape, text

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..domain.clock import Clock
    from ..storage.repositories import AuditRepository

    class Clocked(Protocol):
        """The time: every audit entry is stamped with it (`entry`)."""

        clock: Clock

    class AuditTrailDeps(Clocked, Protocol):
        """Reading the trail back, by time window."""

        audit: AuditRepository


DEFAULT_WINDOW = timedelta(days=90)


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
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):
        return value.value
    return value


def entry(deps: Clocked, actor: Actor, organization_id: str, action: str, target: str,
          before: Any = None, after: Any = None) -> AuditEntry:
    return AuditEntry(
        id=new_id(), organization_id=organization_id, at=iso(deps.clock()),
        actor_id=actor.user_id, actor_email=actor.email, action=action, target=target,
        before=snapshot(before), after=snapshot(after), source_ip=actor.source_ip,
    )


def _bound(raw: Optional[str], field: str, end_of_day: bool) -> Optional[datetime]:
    """An instant from ISO 8601, or a bare date taken as a whole São Paulo day."""
    if not raw:
        return None
    try:
        if "T" not in raw:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day, time.max if end_of_day else time.min, tzinfo=SAO_PAULO)
        else:
            moment = datetime.fromisoformat(raw)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        moment.astimezone(timezone.utc)  # out-of-range instants fail here, not in DynamoDB
        return moment
    except (ValueError, OverflowError):
        raise codes.INVALID_DATE(field=field)


# What `snapshot` makes of what was changed: an object (a view, a few fields), a list of them (the
# lines of a cart checked out), or nothing (no before for a creation, no after for a removal).
_PICTURE = {"anyOf": [free_form("Os campos do objeto, como estavam."),
                      array(free_form("Um dos objetos afetados.")), {"type": "null"}]}
AUDIT_ENTRY = shape("AuditEntry", description="Quem, quando, o quê, antes → depois; nunca editada.",
                    id=text(), organization_id=text(), at=date_time(),
                    actor_id=text(description="O usuário, ou `system`/`seed` para rotinas."),
                    actor_email=nullable(text(format="email")), action=text(description="p.ex. `user.invited`"),
                    target=text(description="p.ex. `user:<id>`"), before=_PICTURE, after=_PICTURE,
                    source_ip=nullable(text()))
AUDIT_ENTRY_PAGE = page(AUDIT_ENTRY, "AuditEntry")


def entry_view(entry: AuditEntry) -> Dict[str, Any]:
    return asdict(entry)


def list_entries(deps: AuditTrailDeps, caller, *, since: Optional[str], until: Optional[str], limit: int,
                 next_token: Optional[str]) -> Tuple[List[AuditEntry], Optional[str]]:
    """Newest first, between `from` and `to` (default: the 90 days up to `to`, or up to now)."""
    end = _bound(until, "to", end_of_day=True) or deps.clock()
    start = _bound(since, "from", end_of_day=False) or end - DEFAULT_WINDOW
    if start > end:
        raise codes.INVALID_DATE_RANGE()
    return deps.audit.list(caller.organization_id, since=iso(start), until=iso(end), limit=limit,
                           next_token=next_token)
