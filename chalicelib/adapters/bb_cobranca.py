"""Banco do Brasil's API Cobranças v2 (BANK_PROVIDER=real): the `Bank` the product registers
boletos with, over HTTPS, OAuth2 client credentials, urllib3 only.

The contract (developers.bb.com.br, "API Cobranças" v2; tests/fakes/bb_cobranca.py follows it and
says where each shape came from):

    POST {oauth_url}   grant_type=client_credentials&scope=cobrancas.boletos-requisicao
                       cobrancas.boletos-info, HTTP Basic client_id:client_secret
                       -> 200 {"access_token", "token_type", "expires_in"} | 400/401 {"error": "invalid_client"}
    Every API call: Authorization: Bearer <token>, the application key as `gw-dev-app-key` in the query.
    POST {api}/boletos                         -> 201 {numero, linhaDigitavel, codigoBarraNumerico,
                                                       qrCode {url, txId, emv}, ...}
    GET  {api}/boletos/{id}?numeroConvenio=     -> 200 {codigoEstadoTituloCobranca, valorPagoSacado, ...} | 404
    GET  {api}/boletos/{id}/pix?numeroConvenio= -> 200 {qrCode {url, txId, emv}}
    POST {api}/boletos/{id}/cancelar-pix {numeroConvenio}
    POST {api}/boletos/{id}/baixar       {numeroConvenio}
    Refusals: 400 {"erros": [{"codigo", "versao", "mensagem", "ocorrencia"}]} or the gateway's
    {"errors": [{"code", "message"}]}; 401 an expired or unknown token; 429 with Retry-After; 5xx.

`{id}` is the numeroTituloCliente: "000" + the 17-digit nosso número (convênio of 7 digits + 10).

Failures: a 401 drops the token and the call is made once more with a new one (a token refused
by the token endpoint itself as invalid_client makes the secret be read again, once: it may have
been rotated). A 429 waits what Retry-After says, and 5xx, timeouts and connection errors are
tried again a few times with backoff, all inside `max_wait_seconds` (the second copy is answered
inside API Gateway's 29 s); past it, BankUnavailable. A refusal with `erros` is BankRejected with
the bank's (codigo, mensagem) pairs: sending it again as is would be refused again.

Idempotence of registration: a boleto is registered once per nosso número. When a POST /boletos
got no answer (timeout, 5xx: it may have registered the boleto and lost the answer), the boleto is
asked for by its number before POSTing again; a refusal as "Nosso Número já incluído" (4874915)
is recovered the same way. The boleto found is adopted only when it is this one (same amount and
due date, still open); otherwise BankRejected (NOSSO_NUMERO_EM_USO) and nothing is adopted.

The Pix: answered as the bank gave it (`_pix`), never refused here: once the bank answered, the
boleto is registered and payable under its nosso número whatever its Pix looks like. No Pix is
answered as `pix=None`; one that is not the boleto's dynamic BR Code (static key, broken CRC,
another location or amount) as it came, and services/documents._bank_pix refuses it, withdraws
the registration (`cancel`) and tells the operators.

Secrets: the client secret, the application key, the webhook token and the access tokens never
go into an exception, a log line or a repr; failures name status codes, the bank's codes and
nosso números.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import HTTPError as TransportError

from .. import observability
from ..domain import pix
from ..observability import tracer
from ..domain.errors import DomainError
from ..domain.proration import round_cents
from .bank import (CANCELLED, bb_webhook_ids, PAID, REGISTERED, BankRejected, BankUnavailable, BoletoAtBank, BoletoRequest,
                   PixCharge, Registration)
from .secrets import SecretUnavailable

if TYPE_CHECKING:
    from ..settings import BankApi
    from .secrets import JsonSecret

logger = logging.getLogger(__name__)


class _NoApplicationKey(logging.Filter):
    """urllib3 logs every request's URL at DEBUG, query included: with DEBUG on (a debugging
    session), the application key would reach CloudWatch. Masked, the line kept."""

    KEY = re.compile(r"(gw-(?:dev-)?app-key=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.KEY.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.KEY.sub(r"\1***", arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_NoApplicationKey())

SCOPES = "cobrancas.boletos-requisicao cobrancas.boletos-info"
# The application key's query parameter. BB's clients send `gw-dev-app-key` to homologação and to
# api.bb.com.br alike; older production docs named it `gw-app-key`: one constant to change.
APP_KEY_PARAMETER = "gw-dev-app-key"

# The bank's refusal of a numeroTituloCliente already registered ("Nosso Número já incluído
# anteriormente."), as code or as the gateway's "code.version".
DUPLICATE_CODES = frozenset({"4874915", "4874915.1"})

# Our refusals (never the bank's codes): what the bank answered cannot be adopted.
NOSSO_NUMERO_EM_USO = "NOSSO_NUMERO_EM_USO"
PAGADOR_INCOMPLETO = "PAGADOR_INCOMPLETO"

# codigoTipoTitulo (espécie) by the espécie's initials: 2 DUPLICATA MERCANTIL, 4 DUPLICATA DE SERVICO.
DOCUMENT_KINDS = {"DM": 2, "DS": 4}

# codigoEstadoTituloCobranca → our state. 6 LIQUIDADO, 10 BAIXADO/PAGO EM CARTORIO, 11 LIQUIDADO/
# PROTESTADO, 12 LIQUID/PGCRTO, 16 CREDITADO: money received. 7 BAIXADO: cancelled. Everything else
# (1 NORMAL, cartório states, 14 EM LIQUIDACAO, 15/21 AGENDADO, 17 cheque awaiting clearance,
# 18/19 partial (never allowed here), 80 EM PROCESSAMENTO, a code added later) is still open:
# nothing is settled on a payment that may not happen, nor is a boleto read as cancelled.
PAID_STATES = frozenset({6, 10, 11, 12, 16})
CANCELLED_STATES = frozenset({7})
NORMAL = 1

TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
PIX_CHANNEL = "61"  # codigoCanalPagamento's last two digits for Pix


class _Transient(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


@dataclass
class _Budget:
    """How long one operation may still wait (Retry-After, backoff), on the adapter's clock."""

    deadline: float


class BancoDoBrasilCobranca:
    """`Bank` over Banco do Brasil's API Cobranças v2 for one convênio (7 digits) and carteira.
    `credentials` (JsonSecret) holds client_id, client_secret, developer_application_key and
    webhook_token. `attempts` counts every try of a request (the first included); the waits
    between them double from `backoff_seconds`."""

    def __init__(self, api: "BankApi", credentials: "JsonSecret", *, convenio: str, carteira: str,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 attempts: int = 3, backoff_seconds: float = 0.5, max_wait_seconds: float = 20.0):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not (convenio.isdigit() and len(convenio) <= 7):
            raise ValueError("convenio must be up to 7 digits (BB's 7-digit convênio)")
        self._api = api
        self._base_url = api.api_url.rstrip("/")
        self._credentials = credentials
        self._convenio = f"{convenio:0>7}"
        self._carteira = carteira
        self._sleep = sleep
        self._monotonic = monotonic
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._max_wait = max_wait_seconds
        self._timeout = urllib3.Timeout(connect=api.timeout_seconds, read=api.timeout_seconds)
        self._pool: Optional[urllib3.PoolManager] = None
        self._token_value: Optional[str] = None
        self._token_expires_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BancoDoBrasilCobranca({self._base_url!r}, convenio={self._convenio!r})"

    # -- Bank -----------------------------------------------------------------------------------

    def register(self, request: BoletoRequest) -> Registration:
        numero = self._numero(request.nosso_numero)
        body = self._registration_body(request, numero)
        budget = self._budget()
        last, answer_lost = "no attempt", False
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self._wait(budget, self._backoff * 2 ** (attempt - 2), last)
            try:
                if answer_lost:
                    # The last POST may have registered the boleto and lost the answer: a second
                    # POST would be refused as a duplicate at best. Ask first.
                    existing = self._existing(numero, request, budget, retry=False)
                    if existing is not None:
                        logger.info("Banco do Brasil: boleto %s found after a lost answer", request.nosso_numero)
                        return existing
                status, data = self._send("POST", "/boletos", budget, body=body)
            except _Transient as failure:
                last, answer_lost = failure.what, True
                logger.warning("Banco do Brasil: POST /boletos for %s failed (%s), attempt %s of %s",
                               request.nosso_numero, failure.what, attempt, self._attempts)
                continue
            if status in (200, 201):
                registration = self._registration(data, request, numero, pix_source=data)
                logger.info("Banco do Brasil registered boleto %s", request.nosso_numero)
                return registration
            errors = _errors_of(data)
            if status in (400, 409, 422) and errors:
                if any(code in DUPLICATE_CODES for code, _ in errors):
                    existing = self._existing(numero, request, budget, retry=True)
                    if existing is not None:
                        return existing
                    # Refused as registered, unknown when asked: the bank's views disagree for now.
                    raise BankUnavailable(f"Banco do Brasil refused boleto {request.nosso_numero} as registered "
                                          "but does not find it")
                logger.info("Banco do Brasil refused boleto %s: %s", request.nosso_numero,
                            ", ".join(code for code, _ in errors))
                raise BankRejected(errors)
            raise BankUnavailable(f"Banco do Brasil answered {status} to POST /boletos for {request.nosso_numero}")
        raise BankUnavailable(f"Banco do Brasil unavailable for boleto {request.nosso_numero} after "
                              f"{self._attempts} attempts ({last})")

    def cancel(self, nosso_numero: str) -> None:
        """Baixa: first the boleto's Pix (cancelar-pix), then the boleto (baixar), so neither can be
        paid. Repeat-safe: a refusal of either is checked against what the bank then says of the
        boleto; baixado, or unknown to the bank, is done. A boleto already paid is not cancelled
        (the payment stands): this returns, and `query` says PAID. Raises BankRejected when the
        bank refuses the baixa of a boleto still open (its codes), BankUnavailable on outages."""
        numero = self._numero(nosso_numero)
        budget = self._budget()
        body = {"numeroConvenio": int(self._convenio)}
        status, data = self._with_retries("POST", f"/boletos/{numero}/cancelar-pix", budget, body=body)
        if status not in (200, 201, 204):
            # A Pix cancelled before, a boleto already baixado or paid: the baixa (or the query
            # after its refusal) says what is left to do.
            logger.info("Banco do Brasil: cancelar-pix of %s answered %s (%s)", nosso_numero, status,
                        ", ".join(code for code, _ in _errors_of(data)) or "no codes")
            if status not in (400, 404, 409, 422):
                raise BankUnavailable(f"Banco do Brasil answered {status} to cancelar-pix of {nosso_numero}")
        status, data = self._with_retries("POST", f"/boletos/{numero}/baixar", budget, body=body)
        if status in (200, 201, 204):
            logger.info("Banco do Brasil: boleto %s baixado", nosso_numero)
            return
        if status not in (400, 404, 409, 422):
            raise BankUnavailable(f"Banco do Brasil answered {status} to baixar of {nosso_numero}")
        refused = _errors_of(data)
        detail = self._detail(numero, budget)
        if detail is None:
            return  # the bank knows no such boleto: nothing is payable
        state = _state(detail)
        if state == CANCELLED:
            return
        if state == PAID:
            logger.warning("Banco do Brasil: boleto %s was paid before its baixa; the payment stands", nosso_numero)
            return
        raise BankRejected(refused or ((str(status), "baixa recusada pelo banco"),))

    def query(self, nosso_numero: str) -> BoletoAtBank:
        numero = self._numero(nosso_numero)
        detail = self._detail(numero, self._budget())
        if detail is None:
            raise BankRejected((("NAO_ENCONTRADO", f"título {nosso_numero} não encontrado no banco"),))
        state = _state(detail)
        # The payment day, never the credit day (dataCreditoLiquidacao, a business day or more
        # later): the payment id a CNAB retorno shares names the occurrence day. A paid boleto
        # without it is read as still open: the webhook (or the next query) comes again.
        paid_on = _date(detail.get("dataRecebimentoTitulo")) if state == PAID else None
        if state == PAID and paid_on is None:
            logger.warning("Banco do Brasil: boleto %s paid without its payment day yet: read as open", nosso_numero)
            state = REGISTERED
        paid = state == PAID
        channel = None
        if paid:
            code = str(detail.get("codigoCanalPagamento") or "")
            channel = "pix" if code[-2:] == PIX_CHANNEL else "boleto"
        return BoletoAtBank(
            nosso_numero=nosso_numero, state=state,
            amount_cents=_cents(detail.get("valorOriginalTituloCobranca")) or 0,
            paid_cents=_cents(detail.get("valorPagoSacado")) if paid else None,
            paid_on=paid_on,
            channel=channel)

    def webhook_token(self) -> str:
        return self._secret()["webhook_token"]

    def notified_boletos(self, body: bytes) -> List[str]:
        """The nosso números (17 digits) a "baixa operacional" webhook names: a JSON array of
        objects whose `id` is the numeroTituloCliente ("000" + nosso número); ids of another
        convênio, or not of this shape, name nothing."""
        return bb_webhook_ids(body, self._convenio)

    # -- registration ---------------------------------------------------------------------------

    def _numero(self, nosso_numero: str) -> str:
        # It becomes part of a URL path: 17 digits of this convênio, or nothing is sent.
        if not (isinstance(nosso_numero, str) and len(nosso_numero) == 17 and nosso_numero.isdigit()
                and nosso_numero.startswith(self._convenio)):
            raise ValueError("nosso_numero is not 17 digits starting with the convênio")
        return "000" + nosso_numero

    def _registration_body(self, request: BoletoRequest, numero: str) -> dict:
        kind = DOCUMENT_KINDS.get(request.document_kind)
        if kind is None:
            raise ValueError(f"unknown espécie {request.document_kind!r}")
        if len(request.document_number) > 15:
            raise ValueError("document_number (seu número) is longer than 15 characters")
        payer = request.payer
        address = payer.address
        document = "".join(ch for ch in payer.document if ch.isalnum()).upper()
        if address is None or not document or not payer.name.strip():
            # The bank refuses a pagador without its address; refused here, nothing is sent.
            raise BankRejected(((PAGADOR_INCOMPLETO, "pagador sem documento, nome ou endereço: o banco não "
                                                     "registra o boleto"),))
        street = ", ".join(part for part in (address.street, address.number, address.complement) if part)
        body = {
            "numeroConvenio": int(self._convenio),
            "numeroCarteira": int(self._carteira),
            "numeroVariacaoCarteira": int(self._api.bb_variacao_carteira),
            "codigoModalidade": 1,  # simples: the only one that takes a Pix
            "dataEmissao": _bb_date(request.issued_on),
            "dataVencimento": _bb_date(request.due_date),
            "valorOriginal": _money(request.amount_cents),
            "codigoAceite": "N",
            "codigoTipoTitulo": kind,
            "descricaoTipoTitulo": request.document_kind,
            "indicadorPermissaoRecebimentoParcial": "N",
            "numeroTituloBeneficiario": request.document_number,
            "numeroTituloCliente": numero,
            "quantidadeDiasProtesto": 0,
            "jurosMora": _interest_terms(request),
            "multa": _rate_terms(request.fine_rate, starting=request.due_date + timedelta(days=1)),
            "pagador": {
                "tipoInscricao": 1 if len(document) == 11 else 2,
                "numeroInscricao": int(document) if document.isdigit() else document,
                # 60 characters each, as the ficha prints them (BB's limits: to confirm in homologação).
                "nome": payer.name.strip()[:60],
                "endereco": street[:60],
                "cep": int(address.cep),
                "cidade": address.city[:60],
                "bairro": address.district[:60],
                "uf": address.state.upper(),
            },
            "indicadorPix": "S",
        }
        if request.payable_days_after_due > 0:
            # Payable after the due date (with the fine and interest above) for so many days.
            body["indicadorAceiteTituloVencido"] = "S"
            body["numeroDiasLimiteRecebimento"] = request.payable_days_after_due
        else:
            body["indicadorAceiteTituloVencido"] = "N"
        return body

    def _existing(self, numero: str, request: BoletoRequest, budget: _Budget, *, retry: bool) -> Optional[Registration]:
        """The registration the bank holds under `numero`, when it is this boleto; None when the
        bank knows none. Raises BankRejected (NOSSO_NUMERO_EM_USO) when it is another's, or this
        one's no longer open."""
        detail = self._detail(numero, budget, retry=retry)
        if detail is None:
            return None
        amount = _cents(detail.get("valorOriginalTituloCobranca"))
        due = _date(detail.get("dataVencimentoTituloCobranca"))
        if amount != request.amount_cents or due != request.due_date:
            logger.warning("Banco do Brasil holds %s with another amount or due date: not adopted",
                           request.nosso_numero)
            raise BankRejected(((NOSSO_NUMERO_EM_USO, f"nosso número {request.nosso_numero} já registrado no "
                                                      "banco com outro valor ou vencimento"),))
        if _state(detail) != REGISTERED:
            raise BankRejected(((NOSSO_NUMERO_EM_USO, f"nosso número {request.nosso_numero} já usado por "
                                                      "título baixado ou liquidado"),))
        status, data = (self._with_retries if retry else self._send)(
            "GET", f"/boletos/{numero}/pix", budget, query={"numeroConvenio": self._convenio})
        if status != 200:
            raise BankUnavailable(f"Banco do Brasil answered {status} to GET the Pix of {request.nosso_numero}")
        merged = {"numero": numero, "codigoBarraNumerico": detail.get("textoCodigoBarrasTituloCobranca"),
                  "linhaDigitavel": detail.get("codigoLinhaDigitavel")}
        return self._registration(merged, request, numero, pix_source=data)

    def _registration(self, data: object, request: BoletoRequest, numero: str, *, pix_source: object) -> Registration:
        if not isinstance(data, dict):
            raise BankUnavailable(f"Banco do Brasil answered an unreadable registration for {request.nosso_numero}")
        barcode = _digits_or_none(data.get("codigoBarraNumerico"))
        line = _digits_or_none(data.get("linhaDigitavel"))
        return Registration(registration_id=str(data.get("numero") or numero), nosso_numero=request.nosso_numero,
                            status="registered", barcode=barcode, digitable_line=line,
                            pix=self._pix(pix_source, request))

    @staticmethod
    def _pix(data: object, request: BoletoRequest) -> Optional[PixCharge]:
        """The Pix as the bank answered it, unjudged: None when it answered none, else its EMV, the
        location it named (or the one the EMV names, when it named none and the EMV has one) and
        txid. The boleto is registered and payable at the bank either way, so refusing here would
        leave it payable with a refusal recorded against it: services/documents._bank_pix checks
        it (dynamic, CRC, location, amount) and withdraws the registration on a mismatch, telling
        the operators. `expires_on`: the bank's validadeTituloCobranca when it gives one (GET
        /boletos/{id}/pix does), else the request's due date plus its payable days, the limit
        registered (POST /boletos answers none)."""
        code = data.get("qrCode") if isinstance(data, dict) else None
        emv = code.get("emv") if isinstance(code, dict) else None
        if not isinstance(emv, str) or not emv.strip():
            logger.warning("Banco do Brasil registered boleto %s without a Pix (indicadorPix off in the convênio?)",
                           request.nosso_numero)
            return None
        emv = emv.strip()
        url = str(code.get("url") or "").strip()
        if not url:
            try:
                url = pix.dynamic_location(emv)
            except DomainError:
                url = ""  # not a dynamic code: documents._bank_pix says so
        expires_on = _date(data.get("validadeTituloCobranca")) or (
            request.due_date + timedelta(days=request.payable_days_after_due))
        return PixCharge(emv=emv, location_url=url.split("://", 1)[-1], txid=str(code.get("txId") or ""),
                         expires_on=expires_on)

    def _detail(self, numero: str, budget: _Budget, *, retry: bool = True) -> Optional[dict]:
        """GET /boletos/{numero}: its detail, or None when the bank knows no such boleto."""
        status, data = (self._with_retries if retry else self._send)(
            "GET", f"/boletos/{numero}", budget, query={"numeroConvenio": self._convenio})
        if status == 404:
            return None
        if status in (400, 422) and _errors_of(data):
            # BB answers an unknown numeroTituloCliente as a validation refusal too.
            logger.info("Banco do Brasil: GET of %s refused (%s)", numero[3:],
                        ", ".join(code for code, _ in _errors_of(data)))
            return None
        if status != 200 or not isinstance(data, dict):
            raise BankUnavailable(f"Banco do Brasil answered {status} to GET boleto {numero[3:]}")
        return data

    # -- HTTP -----------------------------------------------------------------------------------

    def _budget(self) -> _Budget:
        return _Budget(self._monotonic() + self._max_wait)

    def _wait(self, budget: _Budget, seconds: float, why: str) -> None:
        if self._monotonic() + seconds > budget.deadline:
            raise BankUnavailable(f"Banco do Brasil unavailable ({why}): waiting {seconds:g} s more would pass "
                                  f"{self._max_wait:g} s")
        self._sleep(seconds)

    def _with_retries(self, method: str, path: str, budget: _Budget, *, query: Optional[dict] = None,
                      body: Optional[dict] = None) -> Tuple[int, object]:
        last = "no attempt"
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self._wait(budget, self._backoff * 2 ** (attempt - 2), last)
            try:
                return self._send(method, path, budget, query=query, body=body)
            except _Transient as failure:
                last = failure.what
                logger.warning("Banco do Brasil: %s %s failed (%s), attempt %s of %s",
                               method, path, failure.what, attempt, self._attempts)
        raise BankUnavailable(f"Banco do Brasil unavailable: {method} {path} after {self._attempts} "
                              f"attempts ({last})")

    @tracer.capture_method(capture_response=False)  # answers name payers: not in the trace
    def _send(self, method: str, path: str, budget: _Budget, *, query: Optional[dict] = None,
              body: Optional[dict] = None) -> Tuple[int, object]:
        """One request as the API sees it: (status, decoded JSON or None). A 401 is answered once
        with a new token, a 429 waited out (Retry-After) inside the budget. Raises _Transient for
        no answer or a 5xx."""
        renewed, throttled = False, 0
        while True:
            token = self._token(budget)
            parameters = dict(query or {})
            parameters[APP_KEY_PARAMETER] = self._secret()["developer_application_key"]
            status, headers, data = self._exchange(
                method, f"{self._base_url}{path}?{urlencode(parameters)}",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                         "Accept": "application/json",
                         # The bank's gateway ignores headers it does not know: ours, to match a
                         # ticket with the bank against our log lines (which carry it too).
                         **({observability.HEADER: observability.correlation_id()}
                            if observability.correlation_id() else {})},
                body=_json(body).encode("utf-8") if body is not None else None)
            if status == 401 and not renewed:
                # Expired or revoked before its time: one new token, one more try.
                self._drop_token(token)
                renewed = True
                continue
            if status == 401:
                raise BankUnavailable(f"Banco do Brasil refused a new access token for {method} {path}")
            if status == 429:
                throttled += 1
                if throttled > self._attempts:
                    raise _Transient("HTTP 429")
                self._wait(budget, _retry_after(headers.get("Retry-After"), self._backoff), "HTTP 429")
                continue
            if status in TRANSIENT_STATUSES:
                raise _Transient(f"HTTP {status}")
            return status, data

    def _exchange(self, method: str, url: str, *, headers: Dict[str, str],
                  body: Optional[bytes]) -> Tuple[int, Mapping[str, str], object]:
        try:
            response = self._connection_pool().request(method, url, body=body, headers=headers,
                                                       timeout=self._timeout, retries=False, redirect=False)
        except (TransportError, OSError) as error:
            raise _Transient(_describe(error)) from None
        try:
            # Money stays Decimal from the wire on: never a float.
            data = json.loads(response.data.decode("utf-8"), parse_float=Decimal) if response.data else None
        except (UnicodeDecodeError, ValueError):
            data = None
        return response.status, response.headers, data  # HTTPHeaderDict: case-insensitive

    # -- OAuth2 -----------------------------------------------------------------------------------

    def _secret(self) -> Dict[str, str]:
        try:
            return self._credentials.values()
        except SecretUnavailable as error:
            raise BankUnavailable(f"the bank's credentials are unavailable: {error}") from None

    def _drop_token(self, token: str) -> None:
        with self._lock:
            if self._token_value == token:
                self._token_value = None

    def _token(self, budget: _Budget) -> str:
        with self._lock:
            if self._token_value is not None and self._monotonic() < self._token_expires_at:
                return self._token_value
        re_read = False
        last = "no attempt"
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self._wait(budget, self._backoff * 2 ** (attempt - 2), last)
            secret = self._secret()
            basic = base64.b64encode(f"{secret['client_id']}:{secret['client_secret']}".encode("utf-8")).decode("ascii")
            try:
                status, headers, data = self._exchange(
                    "POST", self._api.oauth_url,
                    headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded",
                             "Accept": "application/json"},
                    body=urlencode({"grant_type": "client_credentials", "scope": SCOPES}).encode("ascii"))
            except _Transient as failure:
                last = failure.what
                logger.warning("Banco do Brasil: the token endpoint failed (%s), attempt %s of %s",
                               failure.what, attempt, self._attempts)
                continue
            if status == 200 and isinstance(data, dict) and isinstance(data.get("access_token"), str):
                lifetime = _seconds(data.get("expires_in"), 600)
                with self._lock:
                    self._token_value = data["access_token"]
                    # Renewed shortly before it expires, so no call leaves with a token about to die.
                    self._token_expires_at = self._monotonic() + lifetime - min(60.0, lifetime / 10)
                    return self._token_value
            error = str(data.get("error") or "") if isinstance(data, dict) else ""
            if status in (400, 401) and error in ("invalid_client", "unauthorized_client") and not re_read:
                # The secret may have been rotated since it was read: read it again, once.
                logger.warning("Banco do Brasil refused the API credentials (%s): reading the secret again", error)
                self._credentials.forget()
                re_read = True
                continue
            if status == 429:
                self._wait(budget, _retry_after(headers.get("Retry-After"), self._backoff), "HTTP 429")
                continue
            if status in TRANSIENT_STATUSES:
                last = f"HTTP {status}"
                continue
            raise BankUnavailable(f"Banco do Brasil's token endpoint answered {status}"
                                  f"{f' ({error})' if error else ''}: check the credentials in the secret")
        raise BankUnavailable(f"Banco do Brasil's token endpoint unavailable after {self._attempts} attempts ({last})")

    def _connection_pool(self) -> urllib3.PoolManager:
        with self._lock:
            if self._pool is None:
                from .sefin_nacional import _default_ca_bundle

                self._pool = urllib3.PoolManager(num_pools=2, maxsize=4, cert_reqs="CERT_REQUIRED",
                                                 ca_certs=self._api.ca_bundle or _default_ca_bundle())
            return self._pool


# -- the wire's formats ---------------------------------------------------------------------------

def _bb_date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def _date(value: object) -> Optional[date]:
    """A date as BB writes it: "dd.mm.aaaa" (detail), "dd/mm/aaaa[ hh:mm:ss]" (webhook) or ISO."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for pattern, size in (("%d.%m.%Y", 10), ("%d/%m/%Y", 10), ("%Y-%m-%d", 10)):
        try:
            return datetime.strptime(text[:size], pattern).date()
        except ValueError:
            continue
    return None


def _money(cents: int) -> Decimal:
    """Centavos as the bank's decimal (123.45), exact."""
    return Decimal(cents).scaleb(-2).quantize(Decimal("0.01"))


def _cents(value: object) -> Optional[int]:
    """The bank's decimal (JSON number read as Decimal, or a string) in centavos; None when absent."""
    if value is None or isinstance(value, bool) or isinstance(value, float):
        return None  # floats never come from _exchange (parse_float=Decimal)
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None
    cents = amount * 100
    if cents != cents.to_integral_value():
        return None  # a fraction of a centavo is not a bank's amount
    return int(cents)


def _interest_terms(request: BoletoRequest) -> dict:
    """jurosMora. On a base other than the amount (a second copy: its amount already carries the
    fine and interest up to its due date), tipo 1, a value per day late computed on that base, so
    the bank never charges interest on interest; otherwise the monthly rate (tipo 2)."""
    if request.interest_base_cents is None or not request.monthly_interest:
        return _rate_terms(request.monthly_interest)
    per_day = round_cents(Decimal(request.interest_base_cents) * request.monthly_interest / 30)
    return {"tipo": 1, "valor": _money(per_day)}


def _rate_terms(rate: Decimal, *, starting: Optional[date] = None) -> dict:
    """jurosMora (tipo 2: taxa mensal) or multa (tipo 2: percentual, from `starting`); tipo 0
    (dispensar) when the rate is zero."""
    if not rate:
        return {"tipo": 0}
    terms = {"tipo": 2, "porcentagem": (rate * 100).quantize(Decimal("0.01"))}
    if starting is not None:
        terms["data"] = _bb_date(starting)
    return terms


def _state(detail: dict) -> str:
    try:
        code = int(detail.get("codigoEstadoTituloCobranca"))
    except (TypeError, ValueError):
        code = 0
    if code in PAID_STATES:
        return PAID
    if code in CANCELLED_STATES:
        return CANCELLED
    if code != NORMAL:
        logger.info("Banco do Brasil: boleto in state %s, read as still open", code)
    return REGISTERED


def _errors_of(data: object) -> Tuple[Tuple[str, str], ...]:
    """(codigo, mensagem) of BB's refusal: {"erros": [{"codigo", "mensagem"}]} or the gateway's
    {"errors": [{"code", "message"}]}."""
    if not isinstance(data, dict):
        return ()
    items = data.get("erros")
    if items is None:
        items = data.get("errors")
    if isinstance(items, dict):
        items = [items]
    found = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        code = str(item.get("codigo") or item.get("code") or "").strip()
        message = str(item.get("mensagem") or item.get("message") or item.get("textoMensagem") or "").strip()
        if code or message:
            found.append((code or "?", message))
    return tuple(found)


def _json(value: object) -> str:
    """JSON with Decimals written as numbers, exactly (json.dumps knows no Decimal, and a float
    would round)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(key))}:{_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json(item) for item in value) + "]"
    if isinstance(value, float):
        raise TypeError("no floats on the wire")
    return json.dumps(value, ensure_ascii=False)


def _digits_or_none(value: object) -> Optional[str]:
    if value is None:
        return None
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return digits or None


def _seconds(value: object, default: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default


def _retry_after(value: Optional[str], default: float) -> float:
    """Retry-After in seconds (a number or an HTTP date); `default` when absent or unreadable."""
    if not value:
        return default
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _describe(error: BaseException) -> str:
    """The exception's class (and a TLS handshake's reason), never its text: it can quote the URL,
    whose query carries the application key."""
    if isinstance(error, (urllib3.exceptions.SSLError, ssl.SSLError)):
        inner = error.args[0] if error.args and isinstance(error.args[0], ssl.SSLError) else error
        reason = getattr(inner, "reason", None) or type(inner).__name__
        return f"TLS handshake failed ({reason}): check BANK_CA_BUNDLE"
    return type(error).__name__
