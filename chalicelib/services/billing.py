"""Monthly billing: the run that fans out, shard by shard of the closing-day index, one message per
contract; the worker that issues one invoice per contract and period (repeat-safe); the invoice views."""
from __future__ import annotations

from dataclasses import replace
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Protocol

from ..domain import billing as rules
from ..domain import contract as contract_rules
from ..domain import credits as credit_rules
from ..domain import error_codes as codes
from ..domain.audit import SYSTEM, Actor
from ..domain.billing import Invoice
from ..domain.catalog import BILLING_FREQUENCIES, TERMS, price_on
from ..domain.clock import iso, local_day
from ..domain.documents import CUSTOMER_NFSE_STATUSES, customer_nfse_status
from ..domain.errors import AlreadyInvoiced, Conflict, DomainError, NumberTaken, StaleVersion
from ..domain.ids import new_id
from .. import observability
from ..observability import Metric
from ..schemas import (array, boolean, cents, closed, component, currency, date_time, enum, integer, nullable,
                       shape, text)
from ..schemas import date as date_schema
from . import audit, documents
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.queue import Queue
    from ..storage.billing import BillingRunRepository, InvoiceRepository
    from ..storage.licences import SubscriptionRepository
    from ..storage.repositories import CatalogRepository, ContractRepository
    from .audit import Clocked
    from .documents import Configured, DocumentsDeps, InvoiceFilesDeps, InvoicePdfDeps

    class InvoiceViewDeps(InvoicePdfDeps, Configured, Protocol):
        """An invoice, the links to its files (its PDF rendered on the first) and, for a deposit,
        the account in the settings."""

    class CustomerInvoiceDeps(InvoiceViewDeps, Clocked, Protocol):
        """The customer's invoice, and (today's date) whether it may ask for a second copy."""

    class BillingRunDeps(Clocked, Protocol):
        """A run: one message per contract closing on the day, and its progress."""

        billing_queue: Queue
        billing_runs: BillingRunRepository
        contracts: ContractRepository
        invoices: InvoiceRepository  # whether the credit notes left are all in their collections

    class IssueDeps(Clocked, Configured, Protocol):
        """An invoice for a period, priced from the catalog, numbered, the credits left applied."""

        invoices: InvoiceRepository
        catalog: CatalogRepository
        subscriptions: SubscriptionRepository

    class BillingDeps(IssueDeps, DocumentsDeps, Protocol):
        """The worker: a contract's invoice for the period, priced from the catalog, and its documents."""

        billing_runs: BillingRunRepository


CLOSING_DAYS = range(1, 29)
MAX_NUMBER_ATTEMPTS = 100  # parallel workers racing for the counter: each refusal says where it stands


# --- views --------------------------------------------------------------------------------------

DISPUTE = shape("InvoiceDispute", description="A contestação aberta por um operador: enquanto está aberta, a fatura "
                                               "não é marcada vencida nem cobrada.",
                reason=text(), opened_at=date_time())
_SUMMARY_FIELDS = dict(
    id=text(), number=integer(minimum=1), period_start=date_schema(), period_end=date_schema(),
    issued_at=date_time(), due_date=date_schema(), total_cents=cents(), paid_cents=cents(), balance_cents=cents(),
    currency=currency(), status=enum(rules.STATUSES), payment_method=enum(rules.PAYMENT_METHODS), final=boolean(),
    dispute=nullable(DISPUTE), version=integer(minimum=1))
INVOICE_SUMMARY = shape("InvoiceSummary", description="Uma fatura na lista, sem linhas nem pagamentos.",
                        **_SUMMARY_FIELDS)


def invoice_summary(invoice: Invoice) -> Dict[str, Any]:
    return {"id": invoice.id, "number": invoice.number, "period_start": invoice.period_start.isoformat(),
            "period_end": invoice.period_end.isoformat(), "issued_at": invoice.issued_at,
            "due_date": invoice.due_date.isoformat(), "total_cents": invoice.total_cents,
            "paid_cents": invoice.paid_cents, "balance_cents": invoice.balance_cents, "currency": "BRL",
            "status": invoice.status, "payment_method": invoice.payment_method, "final": invoice.final,
            "dispute": ({"reason": invoice.dispute.reason, "opened_at": invoice.dispute.opened_at}
                        if invoice.dispute is not None else None),
            "version": invoice.version}


# `closed` rather than `shape`: a line has a property named `description`, `shape`'s own keyword.
INVOICE_LINE = component("InvoiceLine", closed(
    {"description": text(), "sku": text(), "quantity": integer(minimum=1), "days": integer(minimum=1),
     "period_days": integer(minimum=1), "unit_price_cents": cents(), "amount_cents": cents(),
     "start": date_schema(), "end": date_schema(),
     "term": nullable(enum(TERMS)), "billing_frequency": nullable(enum(BILLING_FREQUENCIES)),
     "term_start": nullable(date_schema()), "term_end": nullable(date_schema()),
     "months": nullable(integer(minimum=1))},
    description="Uma linha da fatura: um trecho de uma assinatura a uma quantidade, pro rata dos dias; ou, "
                "num plano pago antecipadamente, o bloco do prazo (`months` meses por licença, de `start` a `end`) "
                "ou as licenças acrescentadas (negativa: retiradas, um crédito) pro rata até o fim do bloco. "
                "Uma nota de crédito usada é uma linha negativa (`sku` CREDITO:…); numa fatura cujas linhas "
                "ficariam abaixo de zero, a última linha (`sku` CREDITO-TRANSPORTADO:…) leva o restante a uma nota "
                "de crédito: as linhas somam sempre o total. "
                "`term`…`months` são null em faturas emitidas antes de as linhas os dizerem."))
# Built by the invoice repository (`InvoiceRepository.payments`), answered inside the invoice.
PAYMENT = shape("Payment", description="Um pagamento registrado na fatura.",
                id=text(), amount_cents=cents(), paid_on=date_schema(), method=enum(rules.PAYMENT_METHODS),
                recorded_by=text(), recorded_at=date_time())
_INVOICE_VIEW_FIELDS = dict(_SUMMARY_FIELDS, lines=array(INVOICE_LINE), payments=array(PAYMENT))


def _optional_iso(day: Optional[date]) -> Optional[str]:
    return day.isoformat() if day is not None else None


def line_view(l: rules.InvoiceLine) -> Dict[str, Any]:
    return {"description": l.description, "sku": l.sku, "quantity": l.quantity, "days": l.days,
            "period_days": l.period_days, "unit_price_cents": l.unit_price_cents, "amount_cents": l.amount_cents,
            "start": l.start.isoformat(), "end": l.end.isoformat(), "term": l.term,
            "billing_frequency": l.billing_frequency, "term_start": _optional_iso(l.term_start),
            "term_end": _optional_iso(l.term_end), "months": l.months}


def invoice_view(invoice: Invoice, payments: List[dict]) -> Dict[str, Any]:
    return {**invoice_summary(invoice), "lines": [line_view(l) for l in invoice.lines], "payments": payments}


def list_invoices(deps: InvoiceFilesDeps, caller: Caller, *, status: Optional[str], limit: int,
                  next_token: Optional[str]):
    """`status` is one of the invoice statuses: the route declares them (api/invoices.py)."""
    return deps.invoices.list(caller.organization_id, status=status, limit=limit, next_token=next_token)


DEPOSIT = shape("Deposit", description="A conta para pagar uma fatura por depósito: banco, agência, conta, "
                                         "favorecido, seu CNPJ formatado e a chave Pix (null se não houver).",
                bank=text(), agency=text(), account=text(), beneficiary=text(), cnpj=text(),
                pix_key=nullable(text()))
CANCELLATION = shape(
    "InvoiceCancellation", description="Por que e por quem a fatura foi cancelada; o protocolo do evento de "
                                       "cancelamento da NFS-e (null se não havia nota); a fatura emitida no "
                                       "lugar dela, se houve.",
    cancelled_at=date_time(), cancelled_by=text(), reason=text(), nfse_protocol=nullable(text()),
    reissued_invoice_id=nullable(text()), reissued_number=nullable(integer(minimum=1)))


def cancellation_view(cancellation) -> Optional[Dict[str, Any]]:
    if cancellation is None:
        return None
    return {"cancelled_at": cancellation.cancelled_at, "cancelled_by": cancellation.cancelled_by,
            "reason": cancellation.reason, "nfse_protocol": cancellation.nfse_protocol,
            "reissued_invoice_id": cancellation.reissued_invoice_id,
            "reissued_number": cancellation.reissued_number}


INVOICE_DETAIL_FIELDS = dict(
    _INVOICE_VIEW_FIELDS, pdf_url=nullable(text(format="uri")), email_error=nullable(text()),
    deposit=nullable(DEPOSIT), cancellation=nullable(CANCELLATION))
INVOICE = shape(
    "Invoice", description="Uma fatura com suas linhas e pagamentos, o link do PDF (ainda null enquanto os "
                           "documentos não foram gerados; o PDF é gerado no primeiro pedido do link), o erro do último envio por email, se houve, os "
                           "dados para depósito (null numa fatura por boleto), se cancelada, o cancelamento "
                           "(null se não) e a situação da nota fiscal: `pending` enquanto está em "
                           "processamento. `second_copy_available`: a segunda via pode ser emitida agora (fatura "
                           "por boleto vencida, mesmo antes de a rotina noturna marcá-la `overdue`).",
    **INVOICE_DETAIL_FIELDS, nfse_status=enum(CUSTOMER_NFSE_STATUSES), second_copy_available=boolean())


def invoice_detail(deps: InvoiceViewDeps, invoice: Invoice) -> Dict[str, Any]:
    """The invoice as `INVOICE_DETAIL_FIELDS` shape it (the customer's and the back office's views)."""
    view = invoice_view(invoice, deps.invoices.payments(invoice.id))
    view["pdf_url"] = documents.invoice_pdf_url(deps, invoice)
    view["email_error"] = invoice.email_error
    view["deposit"] = documents.deposit_details(deps.settings, invoice)
    view["cancellation"] = cancellation_view(invoice.cancellation)
    return view


def get_invoice(deps: CustomerInvoiceDeps, caller: Caller, invoice_id: str) -> Dict[str, Any]:
    invoice = deps.invoices.get_in_organization(caller.organization_id, invoice_id)
    # The customer reads a refused note as one still in processing: the E-codes are the operators'.
    return {**invoice_detail(deps, invoice), "nfse_status": customer_nfse_status(invoice.nfse_status),
            "second_copy_available": documents.second_copy_available(invoice, local_day(deps.clock()))}


# --- the run ------------------------------------------------------------------------------------

def start_run(deps: BillingRunDeps, actor: Actor, *, period: str, closing_days: Iterable[int]) -> str:
    """Queue the contracts closing on `closing_days` of `period` (YYYY-MM): the run, then one
    `bill_shard` message per shard of the closing-day index (issue #22 §4), which the billing
    workers handle in parallel (`bill_shard`), each queueing its contracts and counting them."""
    rules.closing_date(period, 1)  # validates the period
    run_id = new_id()
    closings = [rules.closing_date(period, day).isoformat() for day in closing_days]
    shards = deps.contracts.closing_shards() if closings else []
    deps.billing_runs.create(run_id, period, iso(deps.clock()), actor.user_id, shards_expected=len(shards))
    deps.billing_queue.send_batch([{"kind": "bill_shard", "run_id": run_id, "shard": shard,
                                    "closing_dates": closings} for shard in shards])
    return run_id


# A shard's contracts go out in SendMessageBatch calls of 10 from a few threads: 3 000 contracts
# (100 000 on one day over 32 shards) are 300 calls, ~4 s one after the other at SQS's ~12 ms.
SEND_THREADS = 4
SEND_CHUNK = 200  # messages per thread's turn: 20 calls


def bill_shard(deps: BillingRunDeps, message: Dict[str, Any]) -> int:
    """One shard of a run (the billing worker, `kind: bill_shard`): every contract of the shard
    closing on one of the run's closing dates (one query, whatever their number), one
    `bill_contract` message each, then their number counted into the run once. A shard message
    redelivered after it counted queues nothing: a contract added since would get an outcome the
    run never counted. Returns how many it queued."""
    run_id, shard, closings = message["run_id"], message["shard"], message["closing_dates"]
    if deps.billing_runs.shard_counted(run_id, shard):
        return 0
    closing_of_day = {date.fromisoformat(closing).day: closing for closing in closings}
    # Read once for the shard's contracts: whether every credit note left has its marker in its
    # organisation's collection (then each worker applies those it read with the contract, and
    # makes no index query of its own).
    credits_marked = {"credits_in_collection": True} if deps.invoices.credits_in_collection() else {}
    messages = [{"kind": "bill_contract", "run_id": run_id, "organization_id": org, "closing_date": closing_of_day[day],
                 **credits_marked}
                for day, org in deps.contracts.billable_in_shard(shard, list(closing_of_day))]
    chunks = [messages[start:start + SEND_CHUNK] for start in range(0, len(messages), SEND_CHUNK)]

    def send(chunk):
        # One correlation id per contract: its invoice, documents and emails log with its own.
        deps.billing_queue.send_batch(chunk, correlation_ids=[observability.new_correlation_id() for _ in chunk])

    if len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(chunks))) as pool:
            list(pool.map(send, chunks))  # a failed send raises here: the shard message is retried
    else:
        for chunk in chunks:
            send(chunk)
    # Counted only once every contract is queued: a shard that fails midway is retried whole.
    deps.billing_runs.count_shard(run_id, shard, len(messages))
    return len(messages)


def start_daily_run(deps: BillingRunDeps) -> Optional[str]:
    """The schedule, just after midnight in São Paulo: contracts whose closing day was yesterday."""
    yesterday = local_day(deps.clock()) - timedelta(days=1)
    if yesterday.day not in CLOSING_DAYS:
        return None  # the 29th–31st: no contract closes then (closing days are 1..28)
    return start_run(deps, SYSTEM, period=f"{yesterday:%Y-%m}", closing_days=[yesterday.day])


def bill_contract(deps: BillingDeps, message: Dict[str, Any]) -> str:
    """Issue the invoice of one contract for the period ending on `closing_date`. Repeat-safe:
    a rerun or a duplicate message finds the invoice (and makes sure its email was queued)."""
    org = message["organization_id"]
    closing = date.fromisoformat(message["closing_date"])
    # The closing day belongs to the period: it is billed once that day is over.
    if closing >= local_day(deps.clock()):
        _outcome(deps, message, "not_closed_yet")
        return "not_closed_yet"
    # One consistent Query of the organisation's items: its contract, the organisation, the
    # period's guard and the subscriptions (storage pattern 12).
    found = deps.subscriptions.for_billing(org, closing)
    if found.contract is None:
        raise codes.CONTRACT_NOT_FOUND()
    contract = found.contract
    if found.invoiced is not None:  # a rerun, a duplicate or a retry: the invoice by id (rare)
        outcome = _finish_existing(deps, message, deps.invoices.get(found.invoiced), found.organization)
        _apply_scheduled_change(deps, contract, closing)
        return outcome
    if contract_rules.change_overdue(contract, closing):
        # The run of the last period under the old terms was missed: bill that period (which
        # applies the change); the periods under the new terms are billed by their own day's runs.
        last = contract.scheduled_change.effective_from - timedelta(days=1)
        return bill_contract(deps, {**message, "closing_date": last.isoformat()})
    if contract_rules.billed_under_earlier_terms(contract, closing):
        _outcome(deps, message, "nothing_to_bill")  # queued before a change of closing day
        return "nothing_to_bill"
    period = rules.period_ending(closing, contract.closing_day, starts_on=contract.terms_from)
    lines = period_lines(deps, org, period, found.subscriptions)
    # The final invoice is the one whose period holds the termination day; earlier periods are
    # ordinary invoices.
    final = contract.status == contract_rules.TERMINATED and contract.final_invoice_due and \
        contract.terminated_at is not None and \
        local_day(datetime.fromisoformat(contract.terminated_at)) <= period.end
    if not lines:
        _outcome(deps, message, "nothing_to_bill")
        if final:
            contract = _final_invoice_done(deps, contract)
        _apply_scheduled_change(deps, contract, closing)
        return "nothing_to_bill"
    # The credit notes left, as the collection's markers have them once they are complete (the
    # shard's message says so); otherwise the organisation's index is queried (a message from
    # elsewhere, or before the backfill).
    credits_at = found.credits_left if message.get("credits_in_collection") else None
    invoice = _issue(deps, contract, period, closing, lines, final, credits_at=credits_at)
    if invoice is None:  # another worker issued it between our read and our write
        return _finish_existing(deps, message, deps.invoices.invoice_for_period(org, closing), found.organization)
    if final:
        contract = _final_invoice_done(deps, contract)
    # Counted in the run once its documents are done, in their write: when they fail, the retry
    # finishes and counts it.
    _prepare_counted(deps, message, invoice, contract, found.organization, just_issued=True)
    observability.count(Metric.INVOICES_ISSUED)
    _apply_scheduled_change(deps, contract, closing)
    return "issued"


def _apply_scheduled_change(deps: BillingDeps, contract, closing: date) -> None:
    """A payment method and closing day scheduled "from the next period" take effect once the last
    period under the old terms (ending the day before) is billed — here, right after its invoice
    (or its empty run). The contract moves to its new closing day's index, so that day's run finds
    it, from `terms_from`; the old day's runs no longer do. Repeat-safe: applied once, by version."""
    for _ in range(3):
        if not contract_rules.change_due(contract, closing):
            return
        applied = contract_rules.apply_scheduled_change(contract)
        try:
            deps.contracts.save(applied, expected_version=contract.version, audit=audit.entry(
                deps, SYSTEM, contract.organization_id, "contract.scheduled_change_applied",
                f"contract:{contract.id}",
                before={"payment_method": contract.payment_method, "closing_day": contract.closing_day},
                after={"payment_method": applied.payment_method, "closing_day": applied.closing_day,
                       "terms_from": applied.terms_from.isoformat()}))
            return
        except StaleVersion:
            contract = deps.contracts.get(contract.organization_id)  # changed meanwhile: look again


def period_lines(deps: IssueDeps, organization_id: str, period, subscriptions=None) -> List[rules.InvoiceLine]:
    """The lines of an organisation's period from its subscriptions and the catalog, as they are
    now: the billing worker's (its subscriptions read with the contract), and a corrected
    invoice's (services/corrections.py)."""
    if subscriptions is None:
        subscriptions = deps.subscriptions.list(organization_id)
    # The catalog read for today knows every price of the period's first day (a past day): read
    # once per container and day, not once per contract.
    products = deps.catalog.by_sku(local_day(deps.clock()))
    # A monthly plan is priced on the period's first day, an up-front one on its term's first day.
    return rules.invoice_lines(
        [rules.billable(s) for s in subscriptions],
        lambda sku, day: price_on(products.get(sku), day) or 0, period)


def issue_replacement(deps: IssueDeps, contract, old: Invoice, cancelling, given_back=()) -> Optional[Invoice]:
    """The invoice that replaces `old`, cancelled in the same transaction: the same period, the
    lines computed again from the current data, the next number, the period's guard moved to it.
    `cancelling(new invoice)` → (old as cancelled, its version as claimed, its audit entry);
    `given_back`: the credit notes `old` had used, (as read, given back), usable again at once.
    None (and nothing written) when the period has nothing left to bill."""
    # The period as it was billed: its closing day is its last day's, and a first period after a
    # change of closing day keeps its natural length as the basis of its fractions.
    period = rules.period_ending(old.period_end, old.period_end.day, starts_on=old.period_start)
    lines = period_lines(deps, contract.organization_id, period)
    if not lines:
        return None
    invoice = _issue(deps, contract, period, old.period_end, lines, old.final, replacing=cancelling,
                     given_back=given_back)
    if invoice is None:  # the guard moved: another correction of this period won
        raise codes.VERSION_CONFLICT()
    return invoice


def _finish_existing(deps: BillingDeps, message: Dict[str, Any], invoice: Invoice, organization=None) -> str:
    """A rerun, a duplicate message or a retry after a failure: finish what the invoice lacks."""
    if invoice.final:
        contract = deps.contracts.get(invoice.organization_id)
        if contract.final_invoice_due:
            _final_invoice_done(deps, contract)
    if invoice.email_queued_at is None:
        _prepare_counted(deps, message, invoice, None, organization)  # the attempt that issued it did not count it
        observability.count(Metric.INVOICES_ISSUED)
        return "issued"
    _outcome(deps, message, "already_invoiced")
    return "already_invoiced"


def _prepare_counted(deps: BillingDeps, message: Dict[str, Any], invoice: Invoice, contract, organization,
                     just_issued: bool = False) -> None:
    """The invoice's documents and email, its contract counted issued in the run in the same write;
    on its own when that write had nothing to record (a concurrent worker had made it all)."""
    _, counted = documents.prepare_counted(deps, invoice, contract, organization=organization,
                                           just_issued=just_issued, run_id=message["run_id"])
    if not counted:
        _outcome(deps, message, "invoices_issued")


def _outcome(deps: BillingDeps, message: Dict[str, Any], outcome: str) -> None:
    """What became of the contract in its run: its own item (pattern 57), one small write."""
    deps.billing_runs.record_outcome(message["run_id"], message["organization_id"], outcome, iso(deps.clock()))


def _issue(deps: IssueDeps, contract, period, closing: date, lines, final: bool,
           replacing=None, given_back=(), credits_at=None) -> Optional[Invoice]:
    settings = deps.settings
    now = deps.clock()
    # Issued late (an operator's run for an old period, a retry, a final invoice), the closing +
    # N days may be past: the issue day's floor keeps the invoice payable, never born overdue.
    due = rules.due_date(closing, settings.invoice_due_days, settings.bank_state, settings.bank_city_holidays,
                         issued_on=local_day(now),
                         business_days_after_issue=settings.invoice_min_business_days_after_issue)
    # `credits_at`: the (invoice, note) ids of the notes left, read with the contract — none, the
    # common case: no request at all. Otherwise the organisation's notes left, from the index.
    credits = deps.invoices.credits_at(credits_at) if credits_at is not None \
        else deps.invoices.credits_left(contract.organization_id)
    for _ in range(MAX_NUMBER_ATTEMPTS):
        invoice_id, number = new_id(), deps.invoices.next_number()
        # Credit notes left become negative lines; each is written back, used, in the issue's
        # transaction and only as read: a credit is never applied twice, even by two workers.
        all_lines, used = credit_rules.apply_credits(
            lines, _credit_pool(credits, given_back), period, invoice_id, number)
        # Lines below zero (seats removed from a term paid up front): the invoice closes at zero and
        # the rest becomes a credit note written with it, which the next invoices use as any other.
        all_lines, left = credit_rules.credit_left_by(
            all_lines, period, credit_id=new_id(), organization_id=contract.organization_id,
            invoice_id=invoice_id, invoice_number=number, created_at=iso(now), created_by=SYSTEM.user_id)
        total = sum(l.amount_cents for l in all_lines)
        invoice = Invoice(
            id=invoice_id, organization_id=contract.organization_id, contract_id=contract.id,
            number=number, period_start=period.start, period_end=period.end,
            issued_at=iso(now), due_date=due, lines=all_lines, total_cents=total,
            payment_method=contract.payment_method, final=final,
            status=rules.OPEN if total > 0 else rules.PAID)  # credits covered it all: nothing to pay
        after = {"number": invoice.number, "total_cents": invoice.total_cents, "period_end": period.end.isoformat()}
        if used:
            after["credit_notes"] = {before.id: before.remaining_cents - now_left.remaining_cents
                                     for before, now_left in used}
        if left is not None:
            after["credit_note_left"] = {"id": left.id, "amount_cents": left.amount_cents}
        try:
            deps.invoices.issue(invoice, audit.entry(
                deps, SYSTEM, contract.organization_id, "invoice.issued", f"invoice:{invoice.id}", after=after),
                credits=_credit_writes(used, given_back),
                replacing=replacing(invoice) if replacing is not None else None, new_credit=left,
                boleto=documents.original_boleto_number(settings, invoice))
            return invoice
        except NumberTaken:
            continue
        except AlreadyInvoiced:
            return None
        except Conflict as conflict:
            if conflict.code == codes.CREDITS_CHANGED.code:
                credits = deps.invoices.credits_left(contract.organization_id)  # used meanwhile: read again
                continue
            if conflict.code != codes.CONCURRENT_UPDATE.code:
                raise
            # Two workers wrote the counter at the same instant: back off a little and try again.
            time.sleep(random.uniform(0.005, 0.05))
    raise codes.INVOICE_NUMBER_CONTENTION()


def _credit_pool(credits, given_back):
    """The credits left, with those a cancelled invoice gives back in the same transaction."""
    pool = {c.id: c for c in credits}
    pool.update({after.id: after for _, after in given_back})
    return list(pool.values())


def _credit_writes(used, given_back):
    """One write per credit note (a transaction touches an item once): a note given back and used
    again is written as used, on the condition of the version first read."""
    writes = {before.id: (before, after) for before, after in given_back}
    for before, after in used:
        writes[before.id] = (writes[before.id][0], after) if before.id in writes else (before, after)
    return list(writes.values())


def _final_invoice_done(deps: BillingDeps, contract):
    done = replace(contract, final_invoice_due=False, version=contract.version + 1)
    deps.contracts.save(done, expected_version=contract.version, audit=audit.entry(
        deps, SYSTEM, contract.organization_id, "contract.final_invoice_issued", f"contract:{contract.id}",
        before={"final_invoice_due": True}, after={"final_invoice_due": False}))
    return done


# What became of each queued contract: the run's counters besides `contracts_queued`.
RUN_OUTCOMES = ("invoices_issued", "already_invoiced", "nothing_to_bill", "not_closed_yet")
BILLING_RUN = shape(
    "BillingRun", description="O progresso de um faturamento: contratos enfileirados e o que cada um deu.",
    run_id=text(), period=text(pattern=r"^\d{4}-\d{2}$"), started_at=date_time(), started_by=text(),
    **{counter: integer(minimum=0) for counter in ("contracts_queued", *RUN_OUTCOMES, "processed")},
    complete=boolean())


def shards_pending(progress: Dict[str, Any]) -> int:
    """Shard messages of the run whose contracts are not queued and counted yet (issue #22 §4):
    until they are, `contracts_queued` is not the run's whole count."""
    return max(0, progress.get("shards_expected", 0) - progress.get("shards_reported", 0))


def _with_totals(progress: Dict[str, Any]) -> Dict[str, Any]:
    done = sum(progress[c] for c in RUN_OUTCOMES)
    complete = done >= progress["contracts_queued"] and not shards_pending(progress)
    shown = {name: value for name, value in progress.items() if name not in ("shards_expected", "shards_reported")}
    return {**shown, "processed": done, "complete": complete}


def run_progress(deps: BillingRunDeps, run_id: str) -> Dict[str, Any]:
    return _with_totals(deps.billing_runs.get(run_id))


def recent_runs(deps: BillingRunDeps, *, limit: int, next_token: Optional[str]):
    """The billing runs, newest first (the daily ones and the operators'), each as `run_progress`."""
    runs, token = deps.billing_runs.recent(limit=limit, next_token=next_token)
    return [_with_totals(run) for run in runs], token


# --- why a run's contracts failed -----------------------------------------------------------------

BILLING_RUN_FAILURE = shape(
    "BillingRunFailure", description="Um contrato do faturamento cuja última tentativa falhou: o código e a mensagem "
    "do erro (um erro inesperado diz só o seu tipo; o detalhe está nos logs, pela correlação do contrato).",
    organization_id=text(), code=text(), message=text(), at=date_time(), attempts=integer(minimum=1))
BILLING_RUN_FAILURES = shape("BillingRunFailureList", description="Os contratos do faturamento que falharam e por quê.",
                             items=array(BILLING_RUN_FAILURE))


def record_contract_failure(deps: BillingRunDeps, message: Dict[str, Any], error: Exception, attempt: int) -> None:
    """The worker failed on a contract: why, for the operators' run page. A domain error keeps its
    code and pt-BR message; anything else only its type (its text may hold what no screen should)."""
    if isinstance(error, DomainError):
        code, text_ = getattr(error, "code", None) or "error", str(error)
    else:
        code, text_ = "unexpected_error", f"Erro inesperado ({type(error).__name__}); detalhes nos logs do contrato."
    deps.billing_runs.record_failure(message["run_id"], message["organization_id"], code=code, message=text_,
                                     at=iso(deps.clock()), attempts=attempt)


def run_failures(deps: BillingRunDeps, run_id: str) -> Dict[str, Any]:
    deps.billing_runs.get(run_id)  # 404 for a run that does not exist
    return {"items": deps.billing_runs.failures(run_id)}
