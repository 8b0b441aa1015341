"""The customer's exports for its ERP: invoices with lines, subscriptions, the audit trail of a
period, each with the capability of the data it holds. `Accept: text/csv`: the file in the body
(up to EXPORT_INLINE_MAX_BYTES), else 303 to a presigned link; JSON (the portal): always a link."""
from chalice import Blueprint, Response

from ..domain import exports as rules
from ..domain.roles import Capability
from ..services import exports
from .http import endpoint

bp = Blueprint(__name__)

CSV = "text/csv"
_DAY = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "format": "date", "required": True,
        "x-error-code": "invalid_export_date"}
_QUERY = {"from": {**_DAY, "description": "Primeiro dia do período (AAAA-MM-DD)"},
          "to": {**_DAY, "description": f"Último dia do período (AAAA-MM-DD); no máximo {rules.MAX_DAYS} dias"}}
_MEDIA = {CSV: {"type": "string", "description": "O arquivo CSV (UTF-8 com BOM, `;`, valores 1.234,56, datas dd/mm/aaaa) "
                                                 "quando cabe no limite de tamanho; maior que isso, a resposta é "
                                                 "303 See Other com `Location:` um link de 5 minutos para o mesmo arquivo."}}
_REDIRECT = ("Com `Accept: text/csv`, um arquivo maior que o limite de tamanho (EXPORT_INLINE_MAX_BYTES): "
             "`Location` é um link de 5 minutos para o mesmo arquivo.")
_ABOUT = (" `Accept: text/csv`: o arquivo na resposta (ou 303 para um link, se grande); JSON: o arquivo "
          "gravado e um link de download de 5 minutos. A exportação fica na trilha de auditoria.")


def _answer(ctx, made):
    if not ctx.accepts(CSV):
        return exports.store(ctx.deps, ctx.caller, made, "link")
    if exports.fits_inline(ctx.deps, made):
        exports.record(ctx.deps, ctx.caller, made, "inline")
        return Response(body=made.data.decode("utf-8"), status_code=200,
                        headers={"Content-Type": f"{CSV}; charset=utf-8",
                                 "Content-Disposition": f'attachment; filename="{made.filename}"'})
    stored = exports.store(ctx.deps, ctx.caller, made, "redirect")
    return Response(body="", status_code=303, headers={"Location": stored["download_url"]})


@endpoint(bp, "/exports/invoices", "GET", capability=Capability.BILLING, tag="exports", query=_QUERY,
          response=exports.EXPORT, media=_MEDIA, redirect=_REDIRECT,
          summary="Faturas do período para o ERP: uma linha por item de fatura, com os dados da fatura repetidos; "
                  "entram as faturas cujo período faturado termina entre `from` e `to` (inclusive), também as "
                  "canceladas (Situação \"Cancelada\")." + _ABOUT)
def export_invoices(ctx):
    return _answer(ctx, exports.invoices_file(ctx.deps, ctx.caller, ctx.query["from"], ctx.query["to"]))


@endpoint(bp, "/exports/subscriptions", "GET", capability=Capability.VIEW_LICENCES, tag="exports", query=_QUERY,
          response=exports.EXPORT, media=_MEDIA, redirect=_REDIRECT,
          summary="Assinaturas em vigor em algum dia do período (com ao menos uma licença), uma linha cada: a "
                  "quantidade do último dia do período com licenças, o preço unitário mensal do catálogo nesse "
                  "último dia e o total mensal." + _ABOUT)
def export_subscriptions(ctx):
    return _answer(ctx, exports.subscriptions_file(ctx.deps, ctx.caller, ctx.query["from"], ctx.query["to"]))


@endpoint(bp, "/exports/audit", "GET", capability=Capability.READ_AUDIT, tag="exports", query=_QUERY,
          response=exports.EXPORT, media=_MEDIA, redirect=_REDIRECT,
          summary="Trilha de auditoria do período (de `from` 00:00 a `to` 23:59:59, horário de São Paulo), da mais "
                  "antiga à mais recente: quando, quem, ação, alvo, antes e depois (JSON compacto)." + _ABOUT)
def export_audit(ctx):
    return _answer(ctx, exports.audit_file(ctx.deps, ctx.caller, ctx.query["from"], ctx.query["to"]))
