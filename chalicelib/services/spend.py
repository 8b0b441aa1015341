"""Spend by month and product family (the licence panel's chart), from the organisation's
invoices: one query of its invoice index (`InvoiceRepository.of_organization_since`). A monthly
aggregate may replace the source later; the answer's shape does not depend on it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Protocol

from ..domain import spend as rules
from ..domain.clock import local_day
from ..schemas import array, cents, currency, integer, shape, text
from .caller import Caller

if TYPE_CHECKING:  # what this use case needs from the container (services/__init__.py)
    from ..storage.billing import InvoiceRepository
    from ..storage.repositories import CatalogRepository
    from .audit import Clocked

    class SpendDeps(Clocked, Protocol):
        """The organisation's invoices, and the catalog for each line's product family."""

        invoices: InvoiceRepository
        catalog: CatalogRepository


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


def monthly_spend(deps: SpendDeps, caller: Caller, *, months: int) -> Dict[str, Any]:
    months_list = rules.months_until(local_day(deps.clock()), months)
    invoices = deps.invoices.of_organization_since(caller.organization_id, rules.first_day(months_list[0]))
    families = {p.sku: p.family for p in deps.catalog.list()}
    spent = rules.monthly_spend(invoices, families.get, months_list)
    return {"items": [{"month": m.month, "families": [{"family": f, "amount_cents": a} for f, a in m.families],
                       "credits_cents": m.credits_cents, "total_cents": m.total_cents} for m in spent],
            "families": sorted({f for m in spent for f, _ in m.families}), "currency": "BRL", "months": months}
