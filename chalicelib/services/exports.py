"""The customer's exports for its ERP (invoices with lines, subscriptions, the audit trail of a
period) as CSV: built from the organisation's access patterns, answered in the body when small, or
written to S3 (`exports/<org>/<random>/…`, emptied by the bucket's lifecycle after a day) and handed
out as a presigned link of a few minutes. Every export is audited (`export.created`: kind, period,
rows and size — never the data)."""
from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Dict, List, Protocol

from ..domain import exports as rules
from ..domain.audit import AuditEntry
from ..domain.catalog import price_on
from ..domain.clock import iso
from ..schemas import date, date_time, enum, integer, shape, text
from . import audit
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.documents import S3DocumentStore
    from ..settings import Settings
    from ..storage.billing import InvoiceRepository
    from ..storage.licences import SubscriptionRepository
    from ..storage.repositories import AuditRepository, CatalogRepository
    from .audit import Clocked

    class InvoiceExportDeps(Protocol):
        """The organisation's invoices whose period ends in the range."""

        invoices: InvoiceRepository

    class SubscriptionExportDeps(Protocol):
        """The organisation's subscriptions, and the catalog's prices on the period's last day."""

        subscriptions: SubscriptionRepository
        catalog: CatalogRepository

    class AuditExportDeps(Protocol):
        """The trail of the period, page after page."""

        audit: AuditRepository

    class DeliveryDeps(Clocked, Protocol):
        """The file put in S3 and linked; the export audited; the inline size limit."""

        settings: Settings
        documents: S3DocumentStore
        audit: AuditRepository


EXPORT = shape(
    "ErpExport", description="Um arquivo CSV gerado para o ERP do cliente (UTF-8 com BOM, `;`, valores 1.234,56, datas "
    "dd/mm/aaaa) e o link de download, que vale até `expires_at` (alguns minutos).",
    kind=enum(rules.KINDS), **{"from": date(), "to": date()}, rows=integer(minimum=0),
    size_bytes=integer(minimum=0), filename=text(), download_url=text(format="uri"), expires_at=date_time())

_AUDIT_PAGE = 100


def invoices_file(deps: InvoiceExportDeps, caller: Caller, raw_from: str, raw_to: str) -> rules.ExportFile:
    """One row per line of the invoices whose period ends in the range (the period checked first)."""
    span = rules.period(raw_from, raw_to)
    found = deps.invoices.of_organization_ending_between(caller.organization_id, span.start, span.end)
    return rules.document(rules.INVOICES, span, rules.INVOICE_HEADER, rules.invoice_rows(found, span))


def subscriptions_file(deps: SubscriptionExportDeps, caller: Caller, raw_from: str, raw_to: str) -> rules.ExportFile:
    """The subscriptions with seats on some day of the range, priced on its last day."""
    span = rules.period(raw_from, raw_to)
    products = {p.sku: p for p in deps.catalog.list(span.end)}
    rows = rules.subscription_rows(deps.subscriptions.list(caller.organization_id), span,
                                   lambda sku: price_on(products.get(sku), span.end))
    return rules.document(rules.SUBSCRIPTIONS, span, rules.SUBSCRIPTION_HEADER, rows)


def audit_file(deps: AuditExportDeps, caller: Caller, raw_from: str, raw_to: str) -> rules.ExportFile:
    """The trail's entries of the range (whole São Paulo days), oldest first."""
    span = rules.period(raw_from, raw_to)
    entries: List[AuditEntry] = []
    token = None
    while True:
        page, token = deps.audit.list(caller.organization_id, since=iso(span.first_instant), until=iso(span.last_instant),
                                      limit=_AUDIT_PAGE, next_token=token)
        entries.extend(page)
        if not token:
            break
    return rules.document(rules.AUDIT, span, rules.AUDIT_HEADER, rules.audit_rows(entries))


def fits_inline(deps: DeliveryDeps, made: rules.ExportFile) -> bool:
    return len(made.data) <= deps.settings.export_inline_max_bytes


def record(deps: DeliveryDeps, caller: Caller, made: rules.ExportFile, delivery: str) -> None:
    """The export in the trail: what, which period, how big; never the data."""
    deps.audit.append(audit.entry(deps, caller.actor, caller.organization_id, "export.created",
                                  f"export:{made.kind}", after={
                                      "kind": made.kind, "from": made.period.start.isoformat(),
                                      "to": made.period.end.isoformat(), "rows": made.rows,
                                      "size_bytes": len(made.data), "delivery": delivery}))


def store(deps: DeliveryDeps, caller: Caller, made: rules.ExportFile, delivery: str) -> Dict[str, Any]:
    """The file in S3 under a key nobody can guess, audited, with a link of `LINK_SECONDS`."""
    key = deps.documents.put(rules.storage_key(caller.organization_id, secrets.token_urlsafe(18), made.filename),
                             made.data, "text/csv; charset=utf-8")
    record(deps, caller, made, delivery)
    expires_at = deps.clock() + timedelta(seconds=rules.LINK_SECONDS)
    return {"kind": made.kind, "from": made.period.start.isoformat(), "to": made.period.end.isoformat(),
            "rows": made.rows, "size_bytes": len(made.data), "filename": made.filename,
            "download_url": deps.documents.link(key, made.filename, seconds=rules.LINK_SECONDS),
            "expires_at": iso(expires_at)}
