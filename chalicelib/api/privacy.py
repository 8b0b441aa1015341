"""LGPD: the privacy notice (public) and the organisation's data export."""
from chalice import Blueprint

from ..domain.roles import Capability
from ..services import privacy
from .http import endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/privacy", "GET", summary="Aviso de privacidade: controlador, encarregado (DPO) e prazos",
          capability=None, tag="privacy", response=privacy.PRIVACY_NOTICE)
def privacy_notice(ctx):
    return privacy.privacy_notice(ctx.deps)


# Not idempotent by key on purpose: a replay would keep the signed link in the table for a day; a
# second export is harmless (another zip, another audit entry).
@endpoint(bp, "/privacy/exports", "POST",
          summary="Exportar os dados da organização (zip de JSON e CSV) com um link de curta duração",
          capability=Capability.EXPORT_DATA, tag="privacy", status=201, response=privacy.DATA_EXPORT)
def export_data(ctx):
    return privacy.export_data(ctx.deps, ctx.caller)


@endpoint(bp, "/privacy/exports/{export_id}", "GET",
          summary="Um novo link para uma exportação, enquanto ela vale", capability=Capability.EXPORT_DATA,
          tag="privacy", response=privacy.DATA_EXPORT, errors=(404,))
def export_link(ctx, export_id):
    return privacy.export_link(ctx.deps, ctx.caller, export_id)
