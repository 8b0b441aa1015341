"""The operator's receivables across customers (JSON or CSV), one invoice with its NFS-e's
situation, the NFS-e's re-emission and the dispute flag on an invoice."""
from chalice import Blueprint, Response

from ..domain.billing import STATUSES as INVOICE_STATUSES
from ..domain.limits import DISPUTE_NOTE_MAX, DISPUTE_NOTE_MIN
from ..domain.roles import Capability
from ..schemas import declared_in
from .http import endpoint
from .schema import obj, string

# Deferred (lean API function, issue #22 §3): the receivables, billing and NFS-e services are imported
# inside the routes that use them; their shapes are named by reference (schemas.declared_in).
INVOICE_SUMMARY = declared_in("chalicelib.services.billing", "InvoiceSummary")
BACKOFFICE_INVOICE = declared_in("chalicelib.services.nfse_issuing", "BackofficeInvoice")

bp = Blueprint(__name__)

_DAY = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "format": "date", "x-error-code": "invalid_due_date"}
CSV = "text/csv"


@endpoint(bp, "/backoffice/invoices", "GET",
          summary="Faturas a receber de todos os clientes, com totais por situação e faixa de atraso (operador); "
                  "com `Accept: text/csv`, todo o filtro em CSV para o Excel",
          capability=Capability.BACK_OFFICE, tag="backoffice", paginated=True,
          response=declared_in("chalicelib.services.receivables", "Receivables"),
          media={CSV: {"type": "string", "description": "UTF-8 com BOM, separador `;`, valores 1.234,56, datas "
                                                       "dd/mm/aaaa; todas as faturas do filtro (sem paginação)."}},
          query={"status": {"type": "string", "enum": list(INVOICE_STATUSES), "x-error-code": "invalid_invoice_status"},
                 "due_from": _DAY, "due_to": _DAY,
                 "organization_id": {"type": "string", "minLength": 1, "maxLength": 64,
                                     "pattern": r"^[A-Za-z0-9_-]+$"},
                 "nfse": {"type": "string", "enum": ["rejected"], "x-error-code": "invalid_nfse_filter"},
                 "boleto": {"type": "string", "enum": ["rejected"], "x-error-code": "invalid_boleto_filter"}})
def list_receivables(ctx):
    from ..services import receivables

    found = receivables.receivables_filter(status=ctx.query.get("status"), due_from=ctx.query.get("due_from"),
                                           due_to=ctx.query.get("due_to"),
                                           organization_id=ctx.query.get("organization_id"),
                                           nfse=ctx.query.get("nfse"), boleto=ctx.query.get("boleto"))
    if ctx.accepts(CSV):
        filename, text = receivables.receivables_csv(ctx.deps, found, status=ctx.query.get("status"))
        return Response(body=text, status_code=200,
                        headers={"Content-Type": f"{CSV}; charset=utf-8",
                                 "Content-Disposition": f'attachment; filename="{filename}"'})
    return receivables.list_receivables(ctx.deps, found, limit=ctx.limit(), next_token=ctx.next_token())


_NOTE = string(min_length=DISPUTE_NOTE_MIN, max_length=DISPUTE_NOTE_MAX)


@endpoint(bp, "/backoffice/invoices/{invoice_id}/dispute", "POST",
          summary="Marcar a fatura em contestação: não vence nem é cobrada enquanto isso (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", idempotent=True, response=INVOICE_SUMMARY,
          body=obj(["reason"], reason=_NOTE))
def open_dispute(ctx, invoice_id):
    from ..services import receivables

    return receivables.open_dispute(ctx.deps, ctx.caller, invoice_id, reason=ctx.body["reason"])


@endpoint(bp, "/backoffice/invoices/{invoice_id}/dispute/resolve", "POST",
          summary="Encerrar a contestação da fatura; a cobrança retoma na próxima rotina diária (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", idempotent=True, response=INVOICE_SUMMARY,
          body=obj(["note"], note=_NOTE))
def resolve_dispute(ctx, invoice_id):
    from ..services import receivables

    return receivables.resolve_dispute(ctx.deps, ctx.caller, invoice_id, note=ctx.body["note"])


@endpoint(bp, "/backoffice/invoices/{invoice_id}", "GET",
          summary="Uma fatura de qualquer cliente, com a situação da NFS-e e, se recusada, os códigos do emissor "
                  "(operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", response=BACKOFFICE_INVOICE)
def get_backoffice_invoice(ctx, invoice_id):
    from ..services import nfse_issuing

    return nfse_issuing.backoffice_invoice(ctx.deps, invoice_id)


@endpoint(bp, "/backoffice/invoices/{invoice_id}/nfse", "POST",
          summary="Emitir de novo a NFS-e de uma fatura sem nota (recusada ou não emitida); enviada aos contatos "
                  "de cobrança (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", idempotent=True,
          response=BACKOFFICE_INVOICE, errors=(503,))
def reemit_nfse(ctx, invoice_id):
    from ..services import nfse_issuing

    return nfse_issuing.reemit(ctx.deps, ctx.caller, invoice_id)
