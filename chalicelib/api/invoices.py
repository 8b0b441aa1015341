"""Invoices ("FATURAS") for the customer, and the operators' billing runs and payments."""
from chalice import Blueprint, Response

from ..domain.billing import PAYMENT_METHODS
from ..domain.billing import STATUSES as INVOICE_STATUSES
from ..domain.limits import CORRECTION_REASON_MAX, CORRECTION_REASON_MIN
from ..domain.roles import Capability
from ..schemas import declared_in, shape, text
from ..schemas import page as page_shape
from ..services import spend
from .http import endpoint, page
from .schema import integer, obj, string

# Deferred (lean API function, issue #22 §3): the billing, documents, bank and NFS-e services are
# imported inside the routes that use them, on first use, not with the API function; their shapes
# are named by reference (`declared_in`: /openapi.json loads the modules that declare them).
BILLING, DOCUMENTS = "chalicelib.services.billing", "chalicelib.services.documents"
CORRECTIONS, NFSE_ISSUING = "chalicelib.services.corrections", "chalicelib.services.nfse_issuing"

bp = Blueprint(__name__)

INVOICE_SUMMARY_PAGE = page_shape(declared_in(BILLING, "InvoiceSummary"), "InvoiceSummary")


@endpoint(bp, "/invoices", "GET", summary="Faturas da organização", capability=Capability.BILLING, tag="invoices",
          paginated=True, response=INVOICE_SUMMARY_PAGE,
          query={"status": {"type": "string", "enum": list(INVOICE_STATUSES), "x-error-code": "invalid_status"}})
def list_invoices(ctx):
    from ..services import billing

    items, token = billing.list_invoices(ctx.deps, ctx.caller, status=ctx.query.get("status"), limit=ctx.limit(),
                                         next_token=ctx.next_token())
    return page([billing.invoice_summary(i) for i in items], token)


@endpoint(bp, "/spend/monthly", "GET", summary="Gastos por mês e família de produtos (as faturas dos últimos meses)",
          capability=Capability.BILLING, tag="invoices", response=spend.MONTHLY_SPEND,
          query={"months": {"type": "integer", "minimum": 1, "maximum": spend.MAX_MONTHS, "default": 12,
                            "x-error-code": "invalid_months"}})
def monthly_spend(ctx):
    return spend.monthly_spend(ctx.deps, ctx.caller, months=ctx.query.get("months", 12))


@endpoint(bp, "/invoices/{invoice_id}", "GET", summary="Uma fatura, com suas linhas", capability=Capability.BILLING,
          tag="invoices", response=declared_in(BILLING, "Invoice"))
def get_invoice(ctx, invoice_id):
    from ..services import billing

    return billing.get_invoice(ctx.deps, ctx.caller, invoice_id)


@endpoint(bp, "/invoices/{invoice_id}/boleto", "GET", summary="O boleto da fatura: linha digitável, Pix e PDF",
          capability=Capability.BILLING, tag="invoices", response=declared_in(DOCUMENTS, "Boleto"))
def get_boleto(ctx, invoice_id):
    from ..services import documents

    return documents.boleto_view(ctx.deps, ctx.caller, invoice_id)


@endpoint(bp, "/invoices/{invoice_id}/nfse", "GET", summary="A nota fiscal (NFS-e) da fatura: XML e PDF",
          capability=Capability.BILLING, tag="invoices", response=declared_in(DOCUMENTS, "Nfse"))
def get_nfse(ctx, invoice_id):
    from ..services import documents

    return documents.nfse_view(ctx.deps, ctx.caller, invoice_id)


@endpoint(bp, "/invoices/{invoice_id}/second-copy-preview", "GET",
          summary="Prévia da segunda via: saldo, multa, juros, total e novo vencimento, sem emitir",
          capability=Capability.BILLING, tag="invoices", response=declared_in(DOCUMENTS, "SecondCopyPreview"))
def second_copy_preview(ctx, invoice_id):
    from ..services import documents

    return documents.second_copy_preview(ctx.deps, ctx.caller, invoice_id)


@endpoint(bp, "/invoices/{invoice_id}/second-copy", "POST",
          summary="Segunda via do boleto vencido (multa e juros até o novo vencimento)",
          capability=Capability.BILLING, tag="invoices", status=201, idempotent=True,
          response=declared_in(DOCUMENTS, "Boleto"),
          errors=(503,),
          # Optional: the preview's total and due date; today's quote differing is 409 `second_copy_quote_changed`.
          body=obj([], expected_total_cents=integer(0, 10_000_000_000),
                   expected_due_date=string(min_length=10, max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$",
                                            format="date")))
def second_copy(ctx, invoice_id):
    from ..services import documents

    return documents.second_copy(ctx.deps, ctx.caller, invoice_id, expected=ctx.body)


BILLING_RUN_STARTED = shape("BillingRunStarted", description="O faturamento aceito: acompanhe-o por `run_id`.",
                            run_id=text())


@endpoint(bp, "/backoffice/billing-runs", "POST", summary="Iniciar o faturamento de um período (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", status=202, idempotent=True,
          response=BILLING_RUN_STARTED,
          body=obj(["period"], period=string(min_length=7, max_length=7, pattern=r"^\d{4}-\d{2}$")))
def start_billing_run(ctx):
    from ..services import billing

    run_id = billing.start_run(ctx.deps, ctx.caller.actor, period=ctx.body["period"],
                               closing_days=billing.CLOSING_DAYS)
    return Response(body={"run_id": run_id}, status_code=202, headers={"Content-Type": "application/json"})


BILLING_RUN_PAGE = page_shape(declared_in(BILLING, "BillingRun"), "BillingRun")


@endpoint(bp, "/backoffice/billing-runs", "GET", summary="Os faturamentos, do mais recente ao mais antigo (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", paginated=True, response=BILLING_RUN_PAGE)
def list_billing_runs(ctx):
    from ..services import billing

    items, token = billing.recent_runs(ctx.deps, limit=ctx.limit(), next_token=ctx.next_token())
    return page(items, token)


@endpoint(bp, "/backoffice/billing-runs/{run_id}", "GET", summary="Progresso de um faturamento (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", response=declared_in(BILLING, "BillingRun"))
def billing_run(ctx, run_id):
    from ..services import billing

    return billing.run_progress(ctx.deps, run_id)


@endpoint(bp, "/backoffice/billing-runs/{run_id}/failures", "GET",
          summary="Os contratos de um faturamento que falharam e por quê (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", response=declared_in(BILLING, "BillingRunFailureList"))
def billing_run_failures(ctx, run_id):
    from ..services import billing

    return billing.run_failures(ctx.deps, run_id)


@endpoint(bp, "/backoffice/invoices/{invoice_id}/payments", "POST",
          summary="Registrar um pagamento (depósito ou boleto)", capability=Capability.BACK_OFFICE, tag="backoffice",
          status=201, idempotent=True, response=declared_in("chalicelib.services.payments", "PaymentRecorded"),
          body=obj(["amount_cents", "paid_on", "method"], amount_cents=integer(1, 10_000_000_000),
                   paid_on=string(min_length=10, max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$", format="date"),
                   method={"type": "string", "enum": list(PAYMENT_METHODS)}))
def record_payment(ctx, invoice_id):
    from ..services import payments

    return payments.record_payment(ctx.deps, ctx.caller, invoice_id, amount_cents=ctx.body["amount_cents"],
                                  paid_on=ctx.body["paid_on"], method=ctx.body["method"])


_REASON = string(min_length=CORRECTION_REASON_MIN, max_length=CORRECTION_REASON_MAX)


@endpoint(bp, "/backoffice/invoices/{invoice_id}/boleto", "POST",
          summary="Registrar de novo no banco o boleto recusado de uma fatura (corrigidos os dados); a fatura, "
                  "com o boleto, é então enviada aos contatos de cobrança (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", idempotent=True,
          response=declared_in(NFSE_ISSUING, "BackofficeInvoice"), errors=(503,))
def register_boleto(ctx, invoice_id):
    from ..services import boleto_registration

    return boleto_registration.register_again(ctx.deps, ctx.caller, invoice_id)


@endpoint(bp, "/backoffice/invoices/{invoice_id}/cancel", "POST",
          summary="Cancelar uma fatura emitida: boleto no banco, NFS-e no emissor; opcionalmente reemitir (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", idempotent=True,
          response=declared_in(CORRECTIONS, "CancelledInvoice"),
          body=obj(["reason"], reason=_REASON, reissue={"type": "boolean"}), errors=(503,))
def cancel_invoice(ctx, invoice_id):
    from ..services import corrections

    return corrections.cancel_invoice(ctx.deps, ctx.caller, invoice_id, reason=ctx.body["reason"],
                                      reissue=ctx.body.get("reissue", False))


@endpoint(bp, "/backoffice/invoices/{invoice_id}/credit-notes", "POST",
          summary="Conceder uma nota de crédito sobre a fatura, abatida da próxima (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", status=201, idempotent=True,
          response=declared_in(CORRECTIONS, "CreditNote"),
          body=obj(["amount_cents", "reason"], amount_cents=integer(1, 10_000_000_000), reason=_REASON))
def grant_credit_note(ctx, invoice_id):
    from ..services import corrections

    return corrections.grant_credit_note(ctx.deps, ctx.caller, invoice_id, amount_cents=ctx.body["amount_cents"],
                                         reason=ctx.body["reason"])


@endpoint(bp, "/backoffice/invoices/{invoice_id}/credit-notes", "GET",
          summary="As notas de crédito de uma fatura (operador)", capability=Capability.BACK_OFFICE,
          tag="backoffice", response=declared_in(CORRECTIONS, "CreditNoteList"))
def list_credit_notes(ctx, invoice_id):
    from ..services import corrections

    return corrections.list_credit_notes(ctx.deps, invoice_id)
