"""The organisation's audit trail, newest first."""
from chalice import Blueprint

from ..domain.roles import Capability
from ..services import audit
from ..services.audit import AUDIT_ENTRY_PAGE
from .http import endpoint, page

bp = Blueprint(__name__)

_DATE = {"type": "string", "maxLength": 40, "description": "AAAA-MM-DD ou instante ISO 8601",
         "x-error-code": "invalid_date"}


@endpoint(bp, "/audit", "GET", summary="Trilha de auditoria (quem, quando, o quê, antes → depois)",
          capability=Capability.READ_AUDIT, tag="audit", paginated=True, query={"from": _DATE, "to": _DATE},
          response=AUDIT_ENTRY_PAGE)
def list_audit(ctx):
    entries, token = audit.list_entries(ctx.deps, ctx.caller, since=ctx.query.get("from"),
                                        until=ctx.query.get("to"), limit=ctx.limit(),
                                        next_token=ctx.next_token())
    return page([audit.entry_view(e) for e in entries], token)
