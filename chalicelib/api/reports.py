"""The spend report (issue #21 §1): the organisation's (VIEW_REPORTS) and the operator's across
customers (BACK_OFFICE), as JSON or, with `Accept: text/csv`, as a CSV for Excel."""
from chalice import Blueprint, Response

from ..domain import spend as rules
from ..domain.roles import Capability
from ..domain.spreadsheet import CSV_MEDIA_TYPE as CSV
from ..services import spend
from .http import endpoint

bp = Blueprint(__name__)

_MONTH = {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "example": "2026-01",
          "description": "Um mês, AAAA-MM (o mês em que termina o período faturado).", "x-error-code": "invalid_report_month"}
_CSV_MEDIA = {CSV: {"type": "string", "description": "UTF-8 com BOM, separador `;`, valores 1.234,56: uma linha por "
                                                     "mês e grupo, os créditos de cada mês e o total do período."}}


def _query(group_by):
    return {"from": _MONTH, "to": _MONTH,
            "group_by": {"type": "string", "enum": list(group_by), "default": "family",
                         "x-error-code": "invalid_group_by"}}


def _answer(ctx, report, prefix):
    if ctx.accepts(CSV):
        filename, text = spend.report_csv(report, prefix=prefix)
        return Response(body=text, status_code=200, headers={"Content-Type": f"{CSV}; charset=utf-8",
                                                             "Content-Disposition": f'attachment; filename="{filename}"'})
    return report


@endpoint(bp, "/reports/spend", "GET",
          summary="Relatório de gastos do período (padrão: os últimos 12 meses) por família, produto ou mês; com "
                  "`Accept: text/csv`, o mesmo em CSV",
          capability=Capability.VIEW_REPORTS, tag="reports", response=spend.SPEND_REPORT, media=_CSV_MEDIA,
          query=_query(rules.GROUP_BY), errors=(422,))
def spend_report(ctx):
    report = spend.spend_report(ctx.deps, ctx.caller, first=ctx.query.get("from"), last=ctx.query.get("to"),
                                group_by=ctx.query["group_by"])
    return _answer(ctx, report, "gastos")


@endpoint(bp, "/backoffice/reports/spend", "GET",
          summary="Gastos de todos os clientes no período por cliente, família, produto ou mês (operador); com "
                  "`Accept: text/csv`, o mesmo em CSV",
          capability=Capability.BACK_OFFICE, tag="backoffice", response=spend.SPEND_REPORT, media=_CSV_MEDIA,
          query=_query(rules.BACKOFFICE_GROUP_BY), errors=(422,))
def backoffice_spend_report(ctx):
    report = spend.backoffice_spend_report(ctx.deps, first=ctx.query.get("from"), last=ctx.query.get("to"),
                                           group_by=ctx.query["group_by"])
    return _answer(ctx, report, "gastos-clientes")
