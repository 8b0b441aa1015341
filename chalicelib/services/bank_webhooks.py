"""The bank's payment webhook: the bank tells us a boleto changed (paid, baixado), and each boleto
it names that the bank's API confirms PAID settles its invoice (`payments.settle`).

Who may call: Banco do Brasil does not sign its webhook's body (it authenticates itself with mutual
TLS, which API Gateway's default endpoint does not check), so the URL registered at the bank carries
a secret — `POST /webhooks/bank/{token}`, the token kept with the bank's credentials
(`Bank.webhook_token()`) and compared in constant time. A wrong token answers 404 as an unknown
route would, before the body is read. If the reseller's bank ever signs its calls (an HMAC of the
body), check that signature here as well.

What is believed: nothing on the body's word. The body only names boletos
(`Bank.notified_boletos`); each is confirmed with the bank's authenticated API (`Bank.query`), and
only a PAID answer settles, with the amount and day the bank gives. So a leaked token lets a caller
make us ask the bank, never record a payment the bank did not receive.

Safe to repeat: the payment's id is the one a CNAB retorno gives the same payment
(`payments.bank_payment_id`: bank, nosso número, day paid, amount), written only if absent, so the
same payment notified twice, by two calls at once, or also imported from a return file is recorded
once. The bank's outage answers 503 (the bank notifies again later); what was recorded stays.
"""
from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol, Tuple

from ..adapters.bank import PAID, BankRejected, BankUnavailable, BoletoAtBank
from ..adapters.secrets import SecretUnavailable
from ..domain import billing as rules
from ..domain import error_codes as codes
from ..domain import limits
from ..domain.audit import BANK
from ..domain.clock import local_day
from ..domain.errors import Conflict, DomainError
from ..domain.money import format_brl
from ..domain.users import RESELLER_ORGANIZATION_ID
from ..schemas import cents, integer, shape
# Module imports, read at call time: documents names this module's Protocol (an import cycle).
from . import audit, documents, payments

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.bank import Bank
    from ..settings import Settings
    from ..storage.repositories import AuditRepository
    from .payments import PaymentDeps, UnappliedDeps

    class WebhookTokenDeps(Protocol):
        """The bank adapter, which holds the webhook's secret."""

        bank: Bank

    class BankWebhookDeps(PaymentDeps, UnappliedDeps, WebhookTokenDeps, Protocol):
        """The boletos' invoices and their payments, the bank asked to confirm each, the configured
        bank (its code finds our boletos), and the reseller's trail."""

        settings: Settings
        audit: AuditRepository


log = logging.getLogger("csp_portal.services.bank_webhooks")

MAX_BODY_BYTES = limits.BANK_WEBHOOK_MAX_BYTES  # why this size: domain/limits.py
MAX_BOLETOS = 100
ATTEMPTS = 4  # the invoice written meanwhile (another notification, an import, an operator): read it again
# A shorter secret is a configuration mistake, not a secret: the webhook then answers 404 to everyone.
MIN_TOKEN_LENGTH = 16

SETTLED, ALREADY_RECORDED, IGNORED = "settled", "already_recorded", "ignored"

BANK_WEBHOOK_RECEIVED = shape(
    "BankWebhookReceived",
    description="O que a notificação do banco registrou: boletos citados (distintos), pagamentos registrados, "
                "já registrados antes (por notificação ou arquivo de retorno) e ignorados (desconhecidos, não "
                "pagos segundo o banco, fatura paga ou cancelada); o valor aplicado e o excedente (juros e "
                "multa acima do saldo, a creditar ou estornar).",
    received=integer(minimum=0), settled=integer(minimum=0), already_recorded=integer(minimum=0),
    ignored=integer(minimum=0), applied_cents=cents(), surplus_cents=cents())


@dataclass
class _Outcome:
    outcome: str
    applied_cents: int = 0
    surplus_cents: int = 0


def check_token(deps: WebhookTokenDeps, token: str) -> None:
    """The path's token against the bank's secret, in constant time; anything else is 404."""
    try:
        expected = deps.bank.webhook_token()
    except (SecretUnavailable, BankUnavailable):
        log.error("bank webhook: the webhook token could not be read")
        raise codes.BANK_WEBHOOK_RETRY(reason="credenciais do banco indisponíveis") from None
    if not expected or len(expected) < MIN_TOKEN_LENGTH:
        log.error("bank webhook: no webhook token of at least %d characters is configured", MIN_TOKEN_LENGTH)
        raise codes.NOT_FOUND()
    # As bytes: a path may decode to any text (lone surrogates too), which must answer 404, not fail.
    if not hmac.compare_digest((token or "").encode("utf-8", "replace"), expected.encode("utf-8")):
        raise codes.NOT_FOUND()


def receive(deps: BankWebhookDeps, token: str, body: bytes) -> Dict[str, Any]:
    """Settle every boleto the notification names that the bank confirms paid; the counts."""
    check_token(deps, token)
    if len(body) > MAX_BODY_BYTES:
        raise codes.PAYLOAD_TOO_LARGE(max_bytes=MAX_BODY_BYTES)
    named = list(dict.fromkeys(deps.bank.notified_boletos(body)))  # each once, in the bank's order
    if not named:
        raise codes.BANK_WEBHOOK_UNREADABLE()
    if len(named) > MAX_BOLETOS:
        raise codes.BANK_WEBHOOK_TOO_MANY_BOLETOS(boletos=len(named), max_boletos=MAX_BOLETOS)
    bank_code = documents.boleto_layout(deps.settings).bank_code
    outcomes = [_settle_one(deps, bank_code, nosso_numero) for nosso_numero in named]
    answer = {"received": len(named), SETTLED: 0, ALREADY_RECORDED: 0, IGNORED: 0,
              "applied_cents": sum(o.applied_cents for o in outcomes),
              "surplus_cents": sum(o.surplus_cents for o in outcomes)}
    for o in outcomes:
        answer[o.outcome] += 1
    if answer[SETTLED]:
        # The reseller's trail shows what each notification recorded (and any surplus to credit or
        # refund), as it shows each return file imported; a notification that recorded nothing writes nothing.
        deps.audit.append(audit.entry(deps, BANK, RESELLER_ORGANIZATION_ID, "payments.bank_webhook",
                                      f"webhook:{bank_code}", after={"bank_code": bank_code, **answer}))
    return answer


def _settle_one(deps: BankWebhookDeps, bank_code: str, nosso_numero: str) -> _Outcome:
    invoice_id = deps.invoices.invoice_of_boleto(bank_code, nosso_numero)
    if invoice_id is None:
        log.warning("bank webhook: no boleto of ours with nosso número %s (bank %s)", nosso_numero, bank_code)
        return _Outcome(IGNORED)
    try:
        at_bank = deps.bank.query(nosso_numero)
    except BankUnavailable:
        log.warning("bank webhook: the bank did not answer for nosso número %s; it will notify again", nosso_numero)
        raise codes.BANK_WEBHOOK_RETRY(reason="o banco não respondeu à consulta", nosso_numero=nosso_numero) \
            from None
    except BankRejected as refused:
        log.warning("bank webhook: the bank does not know nosso número %s: %s", nosso_numero,
                    ", ".join(code for code, _ in refused.errors))
        return _Outcome(IGNORED)
    outcome = settle_confirmed(deps, bank_code, nosso_numero, invoice_id, at_bank)
    if outcome is None:
        raise codes.BANK_WEBHOOK_RETRY(reason="a fatura mudou durante o registro", nosso_numero=nosso_numero)
    return outcome


def settle_confirmed(deps: BankWebhookDeps, bank_code: str, nosso_numero: str, invoice_id: str,
                     at_bank: BoletoAtBank) -> Optional[_Outcome]:
    """Record what the bank's own answer (`Bank.query`) says about one of our boletos: a PAID one
    settles its invoice with the bank's amount and day, once (the payment id a return file gives it
    too). Money the invoice cannot take (paid or cancelled already) is audited and the operators
    told, to refund or credit. Used by the webhook and before a second copy or a cancellation
    replaces a boleto the bank may have received. None when the invoice kept changing."""
    paid_on, paid_cents = _paid(at_bank)
    if paid_on is None:
        log.info("bank webhook: nosso número %s is %s at the bank, not paid: nothing to record",
                 nosso_numero, at_bank.state)
        return _Outcome(IGNORED)
    pid = payments.bank_payment_id(bank_code, nosso_numero, paid_on, paid_cents)
    today = local_day(deps.clock())
    for _ in range(ATTEMPTS):
        try:
            invoice = deps.invoices.get(invoice_id)
        except DomainError:
            log.error("bank webhook: nosso número %s points to invoice %s, which does not exist",
                      nosso_numero, invoice_id)
            return _Outcome(IGNORED)
        if deps.invoices.has_payment(invoice.id, pid):
            return _Outcome(ALREADY_RECORDED)
        applied = min(paid_cents, rules.payable_cents(invoice))
        if invoice.status in (rules.PAID, rules.CANCELLED) or applied <= 0:
            log.warning("bank webhook: invoice %s (nosso número %s) is %s and takes no payment: %s to refund or "
                        "credit", invoice.number, nosso_numero, invoice.status, format_brl(paid_cents))
            payments.unapplied(deps, BANK, invoice, payment_id=pid, nosso_numero=nosso_numero, paid_cents=paid_cents,
                      paid_on=paid_on, source={"webhook": bank_code, "channel": at_bank.channel})
            return _Outcome(IGNORED)
        try:
            rules.check_paid_on(invoice, paid_on, today)
        except DomainError:
            log.warning("bank webhook: nosso número %s paid on %s, outside invoice %s's issue day and today",
                        nosso_numero, paid_on, invoice.number)
            return _Outcome(IGNORED)
        surplus = paid_cents - applied
        # Paid by the hybrid boleto's Pix or by its barcode, it is the boleto the bank liquidated:
        # method "boleto" (the payments' methods), the bank's channel kept in the audit entry.
        source = {"webhook": bank_code, "nosso_numero": nosso_numero, "channel": at_bank.channel,
                  "paid_cents": paid_cents, "surplus_cents": surplus}
        try:
            payments.settle(deps, BANK, invoice, amount_cents=applied, paid_on=paid_on, method="boleto",
                   recorded_by=BANK.user_id, payment_id=pid, source=source)
        except Conflict:
            continue  # the invoice changed, or this very payment was recorded meanwhile: look again
        except DomainError as refused:
            log.warning("bank webhook: invoice %s refused the payment of nosso número %s: %s",
                        invoice.number, nosso_numero, refused.code)
            return _Outcome(IGNORED)
        if surplus:
            log.warning("bank webhook: nosso número %s paid %s above invoice %s's balance: credit or refund it",
                        nosso_numero, format_brl(surplus), invoice.number)
        return _Outcome(SETTLED, applied_cents=applied, surplus_cents=surplus)
    log.warning("bank webhook: invoice %s kept changing while recording nosso número %s", invoice_id, nosso_numero)
    return None


def _paid(at_bank: BoletoAtBank) -> Tuple[Optional[date], int]:
    """(day, amount) of a boleto the bank says is paid; (None, 0) otherwise (not paid, or paid
    without a day or an amount, which the bank's answer must carry for us to record anything)."""
    if at_bank.state != PAID or at_bank.paid_on is None or not at_bank.paid_cents or at_bank.paid_cents <= 0:
        return None, 0
    return at_bank.paid_on, at_bank.paid_cents
