"""Spend by month: the licence panel's chart (`monthly_spend`), the customer's spend report and
the operator's report across customers, all read from the monthly aggregate (storage/spend.py,
access patterns 58 and 59) and the catalog, never from the invoices; and the backfill that counts
the invoices issued before the aggregate existed (`backfill_spend`, `python -m infra.backfill_spend`)."""
from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol, Tuple

from ..domain import error_codes as codes
from ..domain import spend as rules
from ..domain.clock import local_day
from ..domain.spreadsheet import as_text, br_decimal, csv_document
from ..schemas import array, cents, currency, enum, integer, shape, text
from .caller import Caller

log = logging.getLogger("csp_portal.services.spend")

if TYPE_CHECKING:  # what this use case needs from the container (services/__init__.py)
    from ..storage.billing import InvoiceRepository
    from ..storage.repositories import CatalogRepository, OrganizationRepository
    from ..storage.spend import SpendRepository
    from .audit import Clocked

    class ProductsDeps(Protocol):
        """The catalog, for each SKU's family and name."""

        catalog: CatalogRepository

    class SpendDeps(ProductsDeps, Clocked, Protocol):
        """The monthly aggregate (and the catalog, the day)."""

        spend: SpendRepository

    class BackfillDeps(Protocol):
        """Every organisation (by name), its invoices, and the aggregate with their markers."""

        organizations: OrganizationRepository
        invoices: InvoiceRepository
        spend: SpendRepository


MAX_MONTHS = 24
FAMILY_AMOUNT = shape("FamilySpend", description="O valor faturado de uma família de produtos no mês.",
                      family=text(), amount_cents=cents())
MONTH = shape("MonthSpend", description=(
    "Um mês (o mês em que termina o período faturado): o valor por família, os créditos usados (negativos) e o "
    "total líquido (as faturas do mês, sem as canceladas)."),
    month=text(pattern=r"^\d{4}-\d{2}$"), families=array(FAMILY_AMOUNT), credits_cents=cents(),
    total_cents=cents())
MONTHLY_SPEND = shape("MonthlySpend", description="Gastos dos últimos meses por família de produtos, do mais "
                                                  "antigo ao atual (um item por mês, também os sem fatura).",
                      items=array(MONTH), families=array(text()), currency=currency(), months=integer(minimum=1))

REPORT_GROUP = shape("SpendGroup", description=(
    "Um grupo do relatório: a família, o produto (SKU), o mês ou o cliente, com o valor faturado (sem os créditos)."),
    key=text(), label=text(), amount_cents=cents())
REPORT_MONTH = shape("SpendReportMonth", description=(
    "Um mês do período (o mês em que termina o período faturado): os grupos, os créditos usados (negativos) e o "
    "total líquido das faturas não canceladas."),
    month=text(pattern=r"^\d{4}-\d{2}$"), groups=array(REPORT_GROUP), credits_cents=cents(), total_cents=cents())
SPEND_REPORT = shape("SpendReport", description=(
    "Gastos de um período por família, produto, mês (ou cliente, no relatório do operador): os grupos no período "
    "todo, cada mês (também os sem fatura), os créditos e o total líquido (a soma das faturas não canceladas)."),
    **{"from": text(pattern=r"^\d{4}-\d{2}$"), "to": text(pattern=r"^\d{4}-\d{2}$")},
    group_by=enum(rules.BACKOFFICE_GROUP_BY), groups=array(REPORT_GROUP), months=array(REPORT_MONTH),
    credits_cents=cents(), total_cents=cents(), currency=currency())


def _products(deps: ProductsDeps) -> Callable[[str], Optional[Tuple[str, str]]]:
    """(name, family) by SKU: one Query of the catalog partition."""
    known = {p.sku: (p.name, p.family) for p in deps.catalog.list()}
    return known.get


def monthly_spend(deps: SpendDeps, caller: Caller, *, months: int) -> Dict[str, Any]:
    months_list = rules.months_until(local_day(deps.clock()), months)
    rows = deps.spend.of_organization(caller.organization_id, months_list[0], months_list[-1])
    report = rules.spend_report(rows, months_list, "family", product=_products(deps))
    items = [{"month": m.month, "families": [{"family": g.key, "amount_cents": g.amount_cents}
                                             for g in sorted(m.groups, key=lambda g: g.key)],
              "credits_cents": m.credits_cents, "total_cents": m.total_cents} for m in report.months]
    return {"items": items, "families": sorted({f["family"] for m in items for f in m["families"]}),
            "currency": "BRL", "months": months}


def report_period(today: date, first: Optional[str], last: Optional[str]) -> List[str]:
    """The months asked for: by default the last 12 (to the current one); `from` alone runs 12
    months on (at most to the current one), `to` alone 12 back. Reversed or over 36 months: 422."""
    current = rules.parse_month(f"{today:%Y-%m}")
    end = rules.parse_month(last) if last else None
    start = rules.parse_month(first) if first else None
    # A month of the right shape but out of range (1999-01, 3000-01) is refused, never ignored.
    for field, given, index in (("from", first, start), ("to", last, end)):
        if given and index is None:
            raise codes.INVALID_REPORT_MONTH(field=field)
    if end is None:
        end = max(start, min(start + 11, current)) if start is not None else current
    if start is None:
        start = end - 11
    if start > end:
        raise codes.REPORT_PERIOD_REVERSED(first=rules.month_text(start), last=rules.month_text(end))
    if end - start + 1 > rules.MAX_REPORT_MONTHS:
        raise codes.REPORT_PERIOD_TOO_LONG(maximum=rules.MAX_REPORT_MONTHS, months=end - start + 1)
    return rules.months_between(rules.month_text(start), rules.month_text(end))


def _answer(report: rules.SpendReport, months: List[str], group_by: str) -> Dict[str, Any]:
    def groups(found):
        return [{"key": g.key, "label": g.label, "amount_cents": g.amount_cents} for g in found]

    return {"from": months[0], "to": months[-1], "group_by": group_by, "groups": groups(report.groups),
            "months": [{"month": m.month, "groups": groups(m.groups), "credits_cents": m.credits_cents,
                        "total_cents": m.total_cents} for m in report.months],
            "credits_cents": report.credits_cents, "total_cents": report.total_cents, "currency": "BRL"}


def spend_report(deps: SpendDeps, caller: Caller, *, first: Optional[str], last: Optional[str],
                 group_by: str) -> Dict[str, Any]:
    """The organisation's report: one Query of its aggregate (pattern 58) and one of the catalog."""
    months = report_period(local_day(deps.clock()), first, last)
    rows = deps.spend.of_organization(caller.organization_id, months[0], months[-1])
    return _answer(rules.spend_report(rows, months, group_by, product=_products(deps)), months, group_by)


def backoffice_spend_report(deps: SpendDeps, *, first: Optional[str], last: Optional[str],
                            group_by: str) -> Dict[str, Any]:
    """Every customer's: one Query per month (pattern 59), the catalog, and, grouped by customer,
    their names read by key (a batch)."""
    months = report_period(local_day(deps.clock()), first, last)
    rows = [row for month in months for row in deps.spend.of_month(month)]
    names = deps.spend.organization_names({r.organization_id for r in rows}) if group_by == "organization" else {}
    report = rules.spend_report(rows, months, group_by, product=_products(deps), organization=names.get)
    return _answer(report, months, group_by)


def _month_label(month: str) -> str:
    return f"{month[5:]}/{month[:4]}"


def report_csv(report: Dict[str, Any], *, prefix: str = "gastos") -> Tuple[str, str]:
    """(filename, text): one row per month and group, a row of the month's credits when it has
    any, and the period's total last (domain/spreadsheet.py conventions)."""
    rows: List[List[object]] = []
    for month in report["months"]:
        for group in month["groups"]:
            rows.append([_month_label(month["month"]), as_text(group["key"]), as_text(group["label"]),
                         br_decimal(group["amount_cents"])])
        if month["credits_cents"]:
            rows.append([_month_label(month["month"]), rules.CREDITS_SKU, "Créditos", br_decimal(month["credits_cents"])])
    rows.append(["", "", "Total do período", br_decimal(report["total_cents"])])
    filename = f"{prefix}-{report['from']}-a-{report['to']}.csv"
    return filename, csv_document(["Mês", "Chave", "Grupo", "Valor (R$)"], rows)


def backfill_spend(deps: BackfillDeps, *, page: int = 100) -> Dict[str, int]:
    """Count into the aggregate every invoice not counted yet (issued before the aggregate, or too
    many SKUs for its own transaction): every organisation (pattern 2), its invoices (20b), their
    markers (a batch of keys). Run twice, the second run counts nothing: each invoice is counted
    only on a missing or pending marker, in the transaction that writes it."""
    done = {"organizations": 0, "invoices": 0, "counted": 0, "already": 0, "failed": 0}
    token = None
    while True:
        organizations, token = deps.organizations.list(limit=page, next_token=token)
        for organization in organizations:
            done["organizations"] += 1
            invoices = deps.invoices.of_organization_since(organization.id, date(2000, 1, 1))
            markers = deps.spend.markers(i.id for i in invoices)
            for invoice in invoices:
                done["invoices"] += 1
                if markers.get(invoice.id) in ("counted", "cancelled"):
                    done["already"] += 1
                    continue
                try:
                    counted = deps.spend.count(invoice)
                except Exception:  # noqa: BLE001 - one invoice never stops the others; a rerun resumes it
                    log.exception("spend backfill: invoice %s not counted", invoice.id)
                    done["failed"] += 1
                    continue
                done["counted" if counted else "already"] += 1
        if not token:
            return done
