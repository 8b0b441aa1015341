"""A local Banco do Brasil: the OAuth2 token endpoint and API Cobranças v2, over HTTPS with a
test authority's certificate, answering the published contract (chalicelib/adapters/bb_cobranca.py).

    POST /oauth/token                           client credentials (HTTP Basic) -> 200 token | 401 invalid_client
    POST /cobrancas/v2/boletos                  -> 201 registration | 400 {"erros": [...]}
    GET  /cobrancas/v2/boletos/{id}             ?numeroConvenio= -> 200 detail | 404
    GET  /cobrancas/v2/boletos/{id}/pix         ?numeroConvenio= -> 200 {qrCode} | 400 | 404
    POST /cobrancas/v2/boletos/{id}/cancelar-pix {numeroConvenio} -> 200 | 400 | 404
    POST /cobrancas/v2/boletos/{id}/baixar       {numeroConvenio} -> 200 | 400 | 404

Where the shapes come from (the portal's pages, developers.bb.com.br / apoio.developers.bb.com.br,
are not reachable from here: they were read through the clients that quote them):
- Token: `grant_type=client_credentials`, `scope=cobrancas.boletos-requisicao cobrancas.boletos-info`
  (without the scope BB answers `invalid_scope`), Basic client_id:client_secret; the application
  key as `gw-dev-app-key` in every API call's query, homologação and production alike (clients
  calling api.bb.com.br and api.hm.bb.com.br with it; BB's own PHP SDK names `gw-app-key` for
  production). Tokens live `expires_in` seconds (600 at BB).
- POST /boletos body and answer: the field list of BB's json-schema for "Registrar boleto"
  (numeroConvenio ... indicadorPix; dates "dd.mm.aaaa", money a JSON decimal, jurosMora tipo 2 =
  taxa mensal, multa tipo 2 = percentual from `data`, which must follow the due date); codigoTipoTitulo
  domain 1 CHEQUE, 2 DUPLICATA MERCANTIL, 3 DM POR INDICACAO, 4 DUPLICATA DE SERVICO, ... 99 OUTROS;
  the answer {numero, numeroCarteira, numeroVariacaoCarteira, codigoCliente, linhaDigitavel,
  codigoBarraNumerico, numeroContratoCobranca, beneficiario, qrCode {url, txId, emv}} with
  `url` like "qrcodepix-h.bb.com.br/pix/v2/cobv/<uuid>" and txId "BOLETO<convênio><10>DATA<ddmmaaaa>"
  (as BB's homologação answers them, quoted by clients' tests).
- GET /boletos/{id}: the "detalhamento" fields (codigoEstadoTituloCobranca 1 NORMAL, 6 LIQUIDADO,
  7 BAIXADO ...; valorOriginalTituloCobranca, valorAtualTituloCobranca, valorPagoSacado,
  dataRecebimentoTitulo, dataCreditoLiquidacao, codigoCanalPagamento (last two digits 61 = Pix),
  codigoLinhaDigitavel, textoCodigoBarrasTituloCobranca, ...).
- baixar / cancelar-pix: POST with {"numeroConvenio"}; baixar answers {numeroContratoCobranca,
  dataBaixa, horarioBaixa}, cancelar-pix {pix, qrCode}.
- Refusals: {"erros": [{"codigo", "versao", "mensagem", "ocorrencia"}]}; 4874915 "Nosso Número já
  incluído anteriormente." is BB's. The fake's other codes (below, 48740xx) are its own: the
  adapter reads any `erros` the same way. 401 for an expired token: {"statusCode", "error",
  "message", "attributes"}.
- The webhook ("baixa operacional"): a JSON array of {id (the 20-digit numeroTituloCliente),
  dataRegistro, dataVencimento, valorOriginal, valorPagoSacado, numeroConvenio, numeroOperacao,
  carteiraConvenio, variacaoCarteiraConvenio, codigoEstadoBaixaOperacional (1 BB, 2 another bank,
  10 baixa cancelled), dataLiquidacao "dd/mm/aaaa hh:mm:ss", instituicaoLiquidacao,
  canalLiquidacao, codigoModalidadeBoleto, tipoPessoaPortador, identidadePortador, nomePortador,
  formaPagamento}, as integration packages document it.

Like the bank it computes the boleto's barcode and linha digitável itself (FEBRABAN, convênio of 7
digits), generates a dynamic BR Code per boleto, keeps the fine and interest it was registered with
and charges them on a late payment (`pay`), refuses a payment after the baixa, past the limit day,
or by a Pix cancelled. A test scripts what the next requests of a route meet (route: "token",
"register", "detail", "pix", "baixar", "cancelar-pix"): N 5xx answers, a 429 with Retry-After,
an answer delayed past the client's timeout (the effect happens, the answer is lost), a refusal,
fields of the next registration's answer replaced (another barcode, a static Pix). Every request
is recorded (method, path, query, headers with the Authorization's value masked, body).

    authority = CertificateAuthority()
    with FakeBancoDoBrasil(authority) as bank:
        BancoDoBrasilCobranca(BankApi(api_url=bank.api_url, oauth_url=bank.oauth_url, ...,
                              ca_bundle=bank.ca_bundle), credentials, convenio=bank.convenio, carteira=bank.carteira)
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Deque, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from chalicelib.domain import boleto as boleto_rules
from chalicelib.domain import pix
from tests.fakes.sefin_nacional import CertificateAuthority

TOKEN_PATH = "/oauth/token"
API_PREFIX = "/cobrancas/v2"
SCOPES = frozenset({"cobrancas.boletos-requisicao", "cobrancas.boletos-info"})

DUPLICATE = "4874915"  # BB's: "Nosso Número já incluído anteriormente."
# The fake's own codes (numeric like BB's).
INVALID_FIELD = "4874001"  # a field missing or out of its domain
PAYER_ADDRESS = "4874002"  # the pagador's address incomplete
BAD_DATE = "4874003"  # a date unreadable or out of order
NOT_FOUND = "4874004"
ALREADY_SETTLED = "4874005"  # baixa of a boleto baixado or liquidado
PIX_NOT_ACTIVE = "4874006"  # cancelar-pix of a Pix cancelled, or of a boleto not open

NORMAL, PAID, BAIXADO = 1, 6, 7
TITLE_KINDS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
                         25, 31, 32, 99})


class FakeRefusal(Exception):
    """What the bank would answer a payer (a boleto not payable)."""


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]  # Authorization's value masked ("Bearer ***")
    body: object  # decoded JSON, the token request's form as a dict, or None


@dataclass
class _Boleto:
    numero: str
    request: dict
    amount_cents: int
    issued_on: date
    due_date: date
    registered_on: date
    barcode: str
    line: str
    qr: dict
    state: int = NORMAL
    pix_active: bool = True
    paid: Dict[str, object] = field(default_factory=dict)
    detail_fields: Dict[str, object] = field(default_factory=dict)  # a test's changes to its detail

    @property
    def nosso_numero(self) -> str:
        return self.numero[3:]

    def last_day(self) -> date:
        days = self.request.get("numeroDiasLimiteRecebimento") if self.request.get(
            "indicadorAceiteTituloVencido") == "S" else 0
        return self.due_date + timedelta(days=int(days or 0))

    def rate(self, name: str) -> Decimal:
        terms = self.request.get(name) or {}
        return Decimal(str(terms.get("porcentagem"))) / 100 if terms.get("tipo") == 2 else Decimal(0)


class FakeBancoDoBrasil:
    def __init__(self, authority: CertificateAuthority, *, convenio: str = "1234567", carteira: str = "17",
                 variacao: str = "35", client_id: str = "bb-client-id-test", client_secret: str = "bb-client-secret-test",
                 app_key: str = "bb-app-key-test", token_seconds: int = 600, merchant_name: str = "BRASOFTWARE",
                 merchant_city: str = "SAO PAULO", today: Optional[date] = None):
        self.authority = authority
        self.convenio, self.carteira, self.variacao = convenio, carteira, variacao
        self.client_id, self.client_secret, self.app_key = client_id, client_secret, app_key
        self.token_seconds = token_seconds
        self.merchant = (merchant_name, merchant_city)
        self.today = today or date.today()
        self.requests: List[Recorded] = []
        self.answers: List[Tuple[int, object]] = []  # (status, body) of each request, in order
        self.tokens_issued: List[str] = []
        self._tokens: Dict[str, Tuple[float, frozenset]] = {}
        self._boletos: Dict[str, _Boleto] = {}  # by numeroTituloCliente (20 digits)
        self._script: Dict[str, Deque[Tuple[str, object]]] = defaultdict(deque)
        self._tamper: Deque[dict] = deque()
        self._lock = threading.Lock()
        self._directory: Optional[str] = None
        self._server: Optional[ThreadingHTTPServer] = None
        self.url = self.api_url = self.oauth_url = self.ca_bundle = ""

    # -- life -----------------------------------------------------------------------------------

    def __enter__(self) -> "FakeBancoDoBrasil":
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def start(self) -> None:
        self._directory = tempfile.mkdtemp(prefix="fake-bb-")
        certificate, key = self.authority.issue_server()
        paths = {}
        for name, content in (("server.pem", certificate), ("server.key", key),
                              ("ca.pem", self.authority.certificate_pem)):
            paths[name] = os.path.join(self._directory, name)
            with open(paths[name], "wb") as handle:
                handle.write(content)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(paths["server.pem"], paths["server.key"])
        self.ca_bundle = paths["ca.pem"]
        self._server = _TlsServer(("127.0.0.1", 0), _Handler, context=context, fake=self)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self.api_url = self.url + API_PREFIX
        self.oauth_url = self.url + TOKEN_PATH
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._directory:
            shutil.rmtree(self._directory, ignore_errors=True)

    # -- what a test scripts --------------------------------------------------------------------

    def fail_next(self, route: str, count: int = 1, status: int = 503) -> None:
        """The next `count` requests to `route` are answered `status` without being processed."""
        for _ in range(count):
            self._script[route].append(("fail", status))

    def throttle_next(self, route: str, retry_after: str = "2", count: int = 1) -> None:
        """The next `count` requests to `route` are answered 429 with this Retry-After."""
        for _ in range(count):
            self._script[route].append(("throttle", retry_after))

    def delay_next(self, route: str, seconds: float) -> None:
        """The next request to `route` is processed and answered only after `seconds` (past the
        client's timeout: the effect happens, the answer is lost)."""
        self._script[route].append(("delay", seconds))

    def refuse_next(self, route: str, *errors: Tuple[str, str]) -> None:
        """The next request to `route` is refused (400) with these (codigo, mensagem)."""
        self._script[route].append(("refuse", errors))

    def answer_next(self, route: str, status: int, body: object) -> None:
        """The next request to `route` gets this answer as it is (a server misbehaving)."""
        self._script[route].append(("answer", (status, body)))

    def tamper_next_registration(self, **fields: object) -> None:
        """The next registration is made, and its answer carries these fields instead (another
        boleto's barcode, a static Pix...)."""
        self._tamper.append(fields)

    def tamper_detail(self, nosso_numero: str, **fields: object) -> None:
        """The boleto's detail (GET /boletos/{id}) carries these fields from now on (a paid boleto
        whose payment day the bank has not filled in yet...)."""
        with self._lock:
            self._boletos["000" + nosso_numero].detail_fields.update(fields)

    def expire_tokens(self) -> None:
        """Every token issued so far is expired now."""
        with self._lock:
            self._tokens = {token: (0.0, scopes) for token, (_, scopes) in self._tokens.items()}

    def rotate_secret(self, client_secret: str) -> None:
        """The client secret changes at the bank (the old one is refused as invalid_client)."""
        self.client_secret = client_secret

    # -- what a test reads ----------------------------------------------------------------------

    def calls(self, method: str, prefix: str = "") -> List[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def registrations(self) -> List[Recorded]:
        """Every POST /boletos that reached the bank."""
        return [r for r in self.requests if r.method == "POST" and r.path == API_PREFIX + "/boletos"]

    def boleto(self, nosso_numero: str) -> _Boleto:
        return self._boletos["000" + nosso_numero]

    def boletos(self) -> List[str]:
        """The nosso números registered, in order."""
        return [numero[3:] for numero in self._boletos]

    # -- the payer ------------------------------------------------------------------------------

    def pay(self, nosso_numero: str, on: date, amount_cents: Optional[int] = None, channel: str = "boleto") -> int:
        """The payer pays on `on` (what the bank charges that day unless `amount_cents`). Refused as
        the bank refuses it: unknown, baixado or paid, past its limit day, or by a Pix cancelled."""
        with self._lock:
            known = self._boletos.get("000" + nosso_numero)
            if known is None or known.state != NORMAL:
                raise FakeRefusal(f"título {nosso_numero} não está em aberto")
            if channel == "pix" and not known.pix_active:
                raise FakeRefusal(f"cobrança Pix do título {nosso_numero} cancelada")
            if on > known.last_day():
                raise FakeRefusal(f"título {nosso_numero} vencido além do limite de recebimento")
            cents = amount_cents if amount_cents is not None else self._due_on(known, on)
            known.state, known.pix_active = PAID, False
            known.paid = {"cents": cents, "on": on, "channel": channel}
            return cents

    def pay_pix(self, emv: str, on: date) -> int:
        """The payer pays the "copia e cola": the charge found by the location it names."""
        location = pix.dynamic_location(emv)
        for known in list(self._boletos.values()):
            if known.qr["url"] == location:
                return self.pay(known.nosso_numero, on, channel="pix")
        raise FakeRefusal("cobrança Pix inexistente")

    def webhook_body(self, *nosso_numeros: str) -> bytes:
        """What BB posts to the webhook after these boletos' payment ("baixa operacional")."""
        items = []
        for nosso_numero in nosso_numeros:
            known = self.boleto(nosso_numero)
            paid_on: Optional[date] = known.paid.get("on")  # type: ignore[assignment]
            items.append({
                "id": known.numero, "dataRegistro": _bb(known.registered_on), "dataVencimento": _bb(known.due_date),
                "valorOriginal": _money(known.amount_cents), "valorPagoSacado": _money(int(known.paid.get("cents") or 0)),
                "numeroConvenio": int(self.convenio), "numeroOperacao": 10055680 + len(items),
                "carteiraConvenio": int(self.carteira), "variacaoCarteiraConvenio": int(self.variacao),
                "codigoEstadoBaixaOperacional": 1,
                "dataLiquidacao": f"{paid_on:%d/%m/%Y} 14:30:00" if paid_on else None,
                "instituicaoLiquidacao": "001", "canalLiquidacao": 4, "codigoModalidadeBoleto": 1,
                "tipoPessoaPortador": 2, "identidadePortador": known.request["pagador"]["numeroInscricao"],
                "nomePortador": known.request["pagador"]["nome"],
                "formaPagamento": 2 if known.paid.get("channel") == "pix" else 1})
        return _dump(items).encode("utf-8")

    def _due_on(self, known: _Boleto, on: date) -> int:
        return boleto_rules.late_amount(known.amount_cents, (on - known.due_date).days, known.rate("multa"),
                                        known.rate("jurosMora"))

    # -- the contract ---------------------------------------------------------------------------

    def next_scripted(self, route: Optional[str]):
        with self._lock:
            return self._script[route].popleft() if route and self._script[route] else None

    def answer(self, method: str, path: str, query: Dict[str, str], headers: Dict[str, str],
               body: object) -> Tuple[int, object]:
        if path == TOKEN_PATH and method == "POST":
            return self._token(headers, body)
        if not path.startswith(API_PREFIX + "/"):
            return 404, {"erros": [_error(NOT_FOUND, "Recurso não encontrado")]}
        refused = self._authorize(method, query, headers)
        if refused:
            return refused
        route = path[len(API_PREFIX):]
        if method == "POST" and route == "/boletos":
            return self._register(body)
        match = re.fullmatch(r"/boletos/([0-9]{20})(/pix|/baixar|/cancelar-pix)?", route)
        if not match:
            return 404, {"erros": [_error(NOT_FOUND, "Recurso não encontrado")]}
        numero, action = match.group(1), match.group(2)
        convenio = query.get("numeroConvenio") if method == "GET" else (body or {}).get("numeroConvenio") \
            if isinstance(body, dict) else None
        if str(convenio or "").lstrip("0") != self.convenio.lstrip("0"):
            return 400, {"erros": [_error(INVALID_FIELD, "Número do convênio não informado ou não pertence ao cliente")]}
        with self._lock:
            known = self._boletos.get(numero)
            if known is None:
                return 404, {"erros": [_error(NOT_FOUND, "Título não encontrado")]}
            if method == "GET" and action is None:
                return 200, self._detail(known)
            if method == "GET" and action == "/pix":
                if not known.pix_active:
                    return 400, {"erros": [_error(PIX_NOT_ACTIVE, "Pix do título cancelado ou inexistente")]}
                return 200, {"id": numero, "dataRegistroTituloCobranca": _bb(known.registered_on),
                             "valorOriginalTituloCobranca": _money(known.amount_cents),
                             "validadeTituloCobranca": _bb(known.last_day()), "qrCode": {**known.qr, "tipo": 1}}
            if method == "POST" and action == "/cancelar-pix":
                if known.state != NORMAL or not known.pix_active:
                    return 400, {"erros": [_error(PIX_NOT_ACTIVE, "Pix já cancelado ou título não está em aberto")]}
                known.pix_active = False
                return 200, {"pix": {"chave": ""}, "qrCode": dict(known.qr)}
            if method == "POST" and action == "/baixar":
                if known.state != NORMAL:
                    return 400, {"erros": [_error(ALREADY_SETTLED, "Título já baixado ou liquidado")]}
                known.state, known.pix_active = BAIXADO, False  # the baixa takes the Pix with it
                return 200, {"numeroContratoCobranca": "19581316", "dataBaixa": _bb(self.today),
                             "horarioBaixa": "10:15:00"}
        return 405, {"erros": [_error(NOT_FOUND, "Método não permitido")]}

    def _token(self, headers: Dict[str, str], form: object) -> Tuple[int, object]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return 401, {"error": "invalid_client", "error_description": "Cliente não autorizado"}
        form = form if isinstance(form, dict) else {}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        scopes = frozenset((form.get("scope") or "").split())
        if not scopes or not scopes <= SCOPES:
            return 400, {"error": "invalid_scope"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (time.monotonic() + self.token_seconds, scopes)
            self.tokens_issued.append(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_seconds,
                     "scope": " ".join(sorted(scopes))}

    def _authorize(self, method: str, query: Dict[str, str], headers: Dict[str, str]):
        if query.get("gw-dev-app-key") != self.app_key:
            return 401, {"statusCode": 401, "error": "Unauthorized", "message": "gw-dev-app-key inválida",
                         "attributes": {"error": "invalid_app_key"}}
        token = (headers.get("authorization") or "").removeprefix("Bearer ")
        with self._lock:
            expires_at, scopes = self._tokens.get(token, (0.0, frozenset()))
        if time.monotonic() >= expires_at:
            return 401, {"statusCode": 401, "error": "Unauthorized", "message": "Token inválido ou expirado",
                         "attributes": {"error": "invalid_token"}}
        needed = "cobrancas.boletos-info" if method == "GET" else "cobrancas.boletos-requisicao"
        if needed not in scopes:
            return 403, {"errors": [{"code": "403", "message": f"Escopo {needed} não autorizado"}]}
        return None

    def _register(self, body: object) -> Tuple[int, object]:
        if not isinstance(body, dict):
            return 400, {"erros": [_error(INVALID_FIELD, "Corpo da requisição inválido")]}
        errors, facts = _validate(body, self)
        if errors:
            return 400, {"erros": errors}
        numero = body["numeroTituloCliente"]
        with self._lock:
            if numero in self._boletos:
                return 400, {"erros": [_error(DUPLICATE, "Nosso Número já incluído anteriormente.")]}
            sequence = int(numero[-10:])
            layout = boleto_rules.BancoDoBrasilConvenio7(convenio=self.convenio, carteira=self.carteira)
            code = boleto_rules.barcode("001", facts["due"], facts["cents"], layout.free_field(sequence))
            location = f"qrcodepix-h.bb.com.br/pix/v2/cobv/{uuid.uuid4()}"
            qr = {"url": location, "txId": f"BOLETO{self.convenio}{sequence:010d}DATA{facts['due']:%d%m%Y}",
                  "emv": pix.dynamic_payload(location_url=location, merchant_name=self.merchant[0],
                                             merchant_city=self.merchant[1], amount_cents=facts["cents"])}
            self._boletos[numero] = _Boleto(numero=numero, request=body, amount_cents=facts["cents"],
                                            issued_on=facts["issued"], due_date=facts["due"],
                                            registered_on=self.today, barcode=code,
                                            line=boleto_rules.digitable_line(code), qr=qr)
            answer = {"numero": numero, "numeroCarteira": int(self.carteira),
                      "numeroVariacaoCarteira": int(self.variacao), "codigoCliente": 704950143,
                      "linhaDigitavel": boleto_rules.digitable_line(code), "codigoBarraNumerico": code,
                      "numeroContratoCobranca": 19581316,
                      "beneficiario": {"agencia": 452, "contaCorrente": 123873, "tipoEndereco": 1,
                                       "logradouro": "AV PAULISTA 1000", "bairro": "BELA VISTA",
                                       "cidade": "SAO PAULO", "codigoCidade": 7107, "uf": "SP",
                                       "cep": 1310100, "indicadorComprovacao": ""},
                      "qrCode": dict(qr)}
            if self._tamper:
                answer.update(self._tamper.popleft())
        return 201, answer

    def _detail(self, known: _Boleto) -> dict:
        paid = known.state == PAID
        paid_on: Optional[date] = known.paid.get("on")  # type: ignore[assignment]
        current = known.amount_cents if known.state != NORMAL else self._due_on(known, self.today)
        request = known.request
        return {
            "codigoLinhaDigitavel": known.line, "textoCodigoBarrasTituloCobranca": known.barcode,
            "codigoEstadoTituloCobranca": known.state, "codigoTipoTituloCobranca": request["codigoTipoTitulo"],
            "codigoModalidadeTitulo": request["codigoModalidade"], "codigoAceiteTituloCobranca": request["codigoAceite"],
            "numeroTituloCedenteCobranca": request.get("numeroTituloBeneficiario"),
            "codigoTipoJuroMora": (request.get("jurosMora") or {}).get("tipo", 0),
            "percentualJuroMoraTitulo": (request.get("jurosMora") or {}).get("porcentagem", 0),
            "codigoTipoMulta": (request.get("multa") or {}).get("tipo", 0),
            "percentualMultaTitulo": (request.get("multa") or {}).get("porcentagem", 0),
            "dataMultaTitulo": (request.get("multa") or {}).get("data", ""),
            "dataEmissaoTituloCobranca": _bb(known.issued_on), "dataRegistroTituloCobranca": _bb(known.registered_on),
            "dataVencimentoTituloCobranca": _bb(known.due_date),
            "valorOriginalTituloCobranca": _money(known.amount_cents), "valorAtualTituloCobranca": _money(current),
            "quantidadeDiaPrazoLimiteRecebimento": int(request.get("numeroDiasLimiteRecebimento") or 0),
            "dataLimiteRecebimentoTitulo": _bb(known.last_day()),
            "indicadorPermissaoRecebimentoParcial": request["indicadorPermissaoRecebimentoParcial"],
            "nomeSacadoCobranca": request["pagador"]["nome"],
            "textoEnderecoSacadoCobranca": request["pagador"]["endereco"],
            "valorPagoSacado": _money(int(known.paid["cents"])) if paid else Decimal("0"),
            "valorCreditoCedente": _money(int(known.paid["cents"])) if paid else Decimal("0"),
            "codigoCanalPagamento": (161 if known.paid.get("channel") == "pix" else 103) if paid else 0,
            "dataRecebimentoTitulo": _bb(paid_on) if paid_on else "",
            "dataCreditoLiquidacao": _bb(paid_on + timedelta(days=1)) if paid_on else "",
            "codigoTipoBaixaTitulo": 11 if known.state == BAIXADO else 0,
            **known.detail_fields,
        }


def _validate(body: dict, fake: FakeBancoDoBrasil) -> Tuple[List[dict], dict]:
    """BB's checks of a registration, as (erros, facts): the dates, the amount, the domains, the
    fine after the due date, the pagador's address."""
    errors: List[dict] = []
    facts: dict = {}

    def refuse(code: str, message: str) -> None:
        errors.append(_error(code, message))

    if str(body.get("numeroConvenio")) != fake.convenio.lstrip("0"):
        refuse(INVALID_FIELD, "Número do convênio não pertence ao cliente")
    if str(body.get("numeroCarteira")) != fake.carteira or str(body.get("numeroVariacaoCarteira")) != fake.variacao:
        refuse(INVALID_FIELD, "Carteira ou variação de carteira não pertence ao convênio")
    if body.get("codigoModalidade") not in (1, 4):
        refuse(INVALID_FIELD, "Código da modalidade inválido")
    issued, due = _parse_bb(body.get("dataEmissao")), _parse_bb(body.get("dataVencimento"))
    if issued is None or due is None:
        refuse(BAD_DATE, "Data de emissão ou de vencimento inválida (formato dd.mm.aaaa)")
    elif due < issued:
        refuse(BAD_DATE, "Data de vencimento anterior à data de emissão")
    amount = body.get("valorOriginal")
    if not isinstance(amount, Decimal) or amount <= 0 or amount.as_tuple().exponent < -2:
        refuse(INVALID_FIELD, "Valor original do título inválido")
    if body.get("codigoAceite") not in ("A", "N"):
        refuse(INVALID_FIELD, "Código de aceite inválido")
    if body.get("codigoTipoTitulo") not in TITLE_KINDS:
        refuse(INVALID_FIELD, "Código do tipo de título inválido")
    if body.get("indicadorPermissaoRecebimentoParcial") not in ("S", "N"):
        refuse(INVALID_FIELD, "Indicador de recebimento parcial inválido")
    numero = str(body.get("numeroTituloCliente") or "")
    if not re.fullmatch(r"000[0-9]{17}", numero) or numero[3:10] != fake.convenio:
        refuse(INVALID_FIELD, "Número do título do cliente deve ser 000 + convênio (7) + 10 dígitos")
    if len(str(body.get("numeroTituloBeneficiario") or "")) > 15:
        refuse(INVALID_FIELD, "Seu número com mais de 15 caracteres")
    interest = body.get("jurosMora") or {}
    if interest.get("tipo", 0) not in (0, 1, 2, 3) or (interest.get("tipo") == 2 and not _positive(
            interest.get("porcentagem"))):
        refuse(INVALID_FIELD, "Juros de mora: tipo 2 exige porcentagem")
    if interest.get("tipo") == 1 and not _positive(interest.get("valor")):
        refuse(INVALID_FIELD, "Juros de mora: tipo 1 exige valor por dia")
    fine = body.get("multa") or {}
    if fine.get("tipo", 0) not in (0, 1, 2) or (fine.get("tipo") == 2 and not _positive(fine.get("porcentagem"))):
        refuse(INVALID_FIELD, "Multa: tipo 2 exige porcentagem")
    if fine.get("tipo") in (1, 2):
        starts = _parse_bb(fine.get("data"))
        if starts is None or (due is not None and starts <= due):
            refuse(BAD_DATE, "Data da multa deve ser posterior ao vencimento")
    if body.get("indicadorAceiteTituloVencido") == "S" and not (
            isinstance(body.get("numeroDiasLimiteRecebimento"), int) and body["numeroDiasLimiteRecebimento"] > 0):
        refuse(INVALID_FIELD, "Número de dias limite para recebimento obrigatório")
    payer = body.get("pagador") if isinstance(body.get("pagador"), dict) else {}
    if payer.get("tipoInscricao") not in (1, 2) or not payer.get("numeroInscricao") or not payer.get("nome"):
        refuse(INVALID_FIELD, "Pagador: tipo, número de inscrição e nome obrigatórios")
    if not all(payer.get(key) for key in ("endereco", "cidade", "bairro", "uf")) or \
            not re.fullmatch(r"[0-9]{1,8}", str(payer.get("cep") or "")) or \
            not re.fullmatch(r"[A-Z]{2}", str(payer.get("uf") or "")):
        refuse(PAYER_ADDRESS, "Endereço do pagador incompleto (endereço, CEP, cidade, bairro e UF)")
    if body.get("indicadorPix") == "S" and body.get("codigoModalidade") != 1:
        refuse(INVALID_FIELD, "Pix somente para a modalidade simples")
    if not errors:
        facts = {"issued": issued, "due": due, "cents": int(amount * 100)}
    return errors, facts


def _positive(value: object) -> bool:
    try:
        return Decimal(str(value)) > 0
    except InvalidOperation:
        return False


def _error(code: str, message: str) -> dict:
    return {"codigo": code, "versao": "1", "mensagem": message, "ocorrencia": uuid.uuid4().hex[:20].upper()}


def _bb(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def _parse_bb(value: object) -> Optional[date]:
    try:
        return datetime.strptime(str(value), "%d.%m.%Y").date() if re.fullmatch(r"\d\d\.\d\d\.\d{4}", str(value)) \
            else None
    except ValueError:
        return None


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2).quantize(Decimal("0.01"))


def _dump(value: object) -> str:
    """JSON with Decimals as numbers (the bank's amounts are JSON decimals)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, *, context: ssl.SSLContext, fake: FakeBancoDoBrasil):
        self.context = context
        self.fake = fake
        super().__init__(address, handler)

    def finish_request(self, request: socket.socket, client_address) -> None:
        # The handshake in the request's thread: a stalled client blocks nobody.
        try:
            request.settimeout(10)
            secured = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(secured, client_address, self)
        finally:
            try:
                secured.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args) -> None:  # quiet: tests read `requests`
        pass

    def _handle(self, method: str) -> None:
        fake: FakeBancoDoBrasil = self.server.fake
        split = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        headers = {key.lower(): value for key, value in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if split.path == TOKEN_PATH:
            body: object = {key: values[-1] for key, values in parse_qs(raw.decode("utf-8")).items()}
        else:
            try:
                body = json.loads(raw, parse_float=Decimal) if raw else None
            except ValueError:
                body = None
        shown = dict(headers)
        if "authorization" in shown:
            shown["authorization"] = shown["authorization"].split(" ", 1)[0] + " ***"
        fake.requests.append(Recorded(method, split.path, query, shown, body))
        scripted = fake.next_scripted(_route(method, split.path))
        delay, extra = 0.0, {}
        if scripted and scripted[0] == "fail":
            status, answer = scripted[1], {"erros": [_error("5000", "Serviço indisponível")]}
        elif scripted and scripted[0] == "throttle":
            status, answer = 429, {"errors": [{"code": "429", "message": "Too Many Requests"}]}
            extra = {"retry-after": scripted[1]}  # header names are case-insensitive
        elif scripted and scripted[0] == "answer":
            status, answer = scripted[1]
        elif scripted and scripted[0] == "refuse":
            status, answer = 400, {"erros": [_error(code, message) for code, message in scripted[1]]}
        else:
            if scripted and scripted[0] == "delay":
                delay = scripted[1]
            status, answer = fake.answer(method, split.path, query, headers, body)
        fake.answers.append((status, answer))
        if delay:
            time.sleep(delay)
        data = _dump(answer).encode("utf-8") if answer is not None else b""
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting (a lost answer, on purpose)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


def _route(method: str, path: str) -> Optional[str]:
    if path == TOKEN_PATH:
        return "token"
    route = path[len(API_PREFIX):] if path.startswith(API_PREFIX) else ""
    if method == "POST" and route == "/boletos":
        return "register"
    for suffix, name in (("/pix", "pix"), ("/baixar", "baixar"), ("/cancelar-pix", "cancelar-pix")):
        if route.startswith("/boletos/") and route.endswith(suffix):
            return name
    if method == "GET" and route.startswith("/boletos/"):
        return "detail"
    return None
