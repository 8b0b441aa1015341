"""Banco do Brasil's API Cobranças v2 adapter over the wire: a local HTTPS bank that follows the
published contract (tests/fakes/bb_cobranca.py). No AWS: the credentials come from a stand-in with
JsonSecret's methods."""
from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from email.utils import format_datetime

import pytest
from dataclasses import replace

from chalicelib.adapters.bank import CANCELLED, PAID, REGISTERED, BankRejected, BankUnavailable, BoletoRequest, Payer
from chalicelib.adapters.bb_cobranca import NOSSO_NUMERO_EM_USO, PAGADOR_INCOMPLETO, BancoDoBrasilCobranca
from chalicelib.adapters.secrets import SecretUnavailable
from chalicelib.domain import boleto as boleto_rules
from chalicelib.domain import pix
from chalicelib.domain.addresses import Address
from chalicelib.domain.errors import DomainError
from chalicelib.settings import BankApi
from tests.fakes.bb_cobranca import BAD_DATE, DUPLICATE, FakeBancoDoBrasil, FakeRefusal
from tests.fakes.sefin_nacional import CertificateAuthority

CONVENIO, CARTEIRA = "1234567", "17"
TODAY = date.today()
DUE = TODAY + timedelta(days=10)
ADDRESS = Address(cep="01310100", street="Av. Paulista", number="1000", district="Bela Vista", city_code="3550308",
                  city="São Paulo", state="SP", complement="conj. 101")
WEBHOOK_TOKEN = "webhook-token-secreto"


class Credentials:
    """JsonSecret's methods over a dict; `rotated` is what a re-read after `forget` finds."""

    def __init__(self, values: dict, rotated: dict = None):
        self._values, self._rotated = dict(values), rotated
        self.reads = self.forgets = 0
        self.unavailable = False

    def values(self) -> dict:
        if self.unavailable:
            raise SecretUnavailable("secret csp-portal/bank-credentials not found")
        self.reads += 1
        return dict(self._values)

    def forget(self) -> None:
        self.forgets += 1
        if self._rotated is not None:
            self._values = dict(self._rotated)

    def put(self, values: dict) -> None:
        self._values = dict(values)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def authority():
    return CertificateAuthority()


@pytest.fixture
def bank(authority):
    with FakeBancoDoBrasil(authority, convenio=CONVENIO, carteira=CARTEIRA, today=TODAY) as server:
        yield server


def credentials_of(bank: FakeBancoDoBrasil, **changes) -> Credentials:
    values = {"client_id": bank.client_id, "client_secret": bank.client_secret,
              "developer_application_key": bank.app_key, "webhook_token": WEBHOOK_TOKEN}
    values.update(changes)
    return Credentials(values)


def adapter_for(bank: FakeBancoDoBrasil, credentials: Credentials = None, *, timeout: float = 2.0,
                sleep=None, monotonic=None, payable_days: int = 30) -> BancoDoBrasilCobranca:
    api = BankApi(api_url=bank.api_url, oauth_url=bank.oauth_url, credentials_secret="csp-portal/bank-credentials",
                  timeout_seconds=timeout, ca_bundle=bank.ca_bundle, bb_variacao_carteira="35",
                  payable_days_after_due=payable_days)
    extra = {"monotonic": monotonic} if monotonic is not None else {}
    return BancoDoBrasilCobranca(api, credentials or credentials_of(bank), convenio=CONVENIO, carteira=CARTEIRA,
                                 sleep=sleep if sleep is not None else Sleeps(), **extra)


def made(sequence: int = 42, amount_cents: int = 150000, due: date = DUE) -> boleto_rules.BoletoCodes:
    return boleto_rules.make_boleto(boleto_rules.BancoDoBrasilConvenio7(convenio=CONVENIO, carteira=CARTEIRA),
                                    sequence, due, amount_cents)


def request_for(codes: boleto_rules.BoletoCodes, *, address=ADDRESS, issued_on: date = TODAY,
                fine: str = "0.02", interest: str = "0.01", payable_days: int = 30) -> BoletoRequest:
    return BoletoRequest(nosso_numero=codes.nosso_numero, barcode=codes.barcode, issued_on=issued_on,
                         due_date=codes.due_date, amount_cents=codes.amount_cents, document_number="FAT-42",
                         document_kind="DS", fine_rate=Decimal(fine), monthly_interest=Decimal(interest),
                         payable_days_after_due=payable_days,
                         payer=Payer(document="11222333000181", name="Cliente Exemplo Ltda", address=address))


def api_calls(bank: FakeBancoDoBrasil):
    return [(r.method, r.path.removeprefix("/cobrancas/v2")) for r in bank.requests if r.path != "/oauth/token"]


# -- registration -----------------------------------------------------------------------------------

def test_registration_sends_the_terms_the_bank_charges_and_answers_its_dynamic_pix(bank):
    codes = made(amount_cents=123456)
    registration = adapter_for(bank).register(request_for(codes, interest="0.0333"))

    [sent] = bank.registrations()
    body = sent.body
    assert body["numeroConvenio"] == 1234567 and body["numeroCarteira"] == 17 and body["numeroVariacaoCarteira"] == 35
    assert body["codigoModalidade"] == 1 and body["codigoAceite"] == "N"
    assert body["codigoTipoTitulo"] == 4 and body["descricaoTipoTitulo"] == "DS"  # duplicata de serviço
    assert body["dataEmissao"] == TODAY.strftime("%d.%m.%Y") and body["dataVencimento"] == DUE.strftime("%d.%m.%Y")
    assert body["valorOriginal"] == Decimal("1234.56")
    assert body["numeroTituloCliente"] == "000" + codes.nosso_numero and body["numeroTituloBeneficiario"] == "FAT-42"
    assert body["indicadorPermissaoRecebimentoParcial"] == "N"
    assert body["multa"] == {"tipo": 2, "porcentagem": Decimal("2.00"),
                             "data": (DUE + timedelta(days=1)).strftime("%d.%m.%Y")}
    assert body["jurosMora"] == {"tipo": 2, "porcentagem": Decimal("3.33")}  # taxa mensal
    assert body["indicadorAceiteTituloVencido"] == "S" and body["numeroDiasLimiteRecebimento"] == 30
    assert body["pagador"] == {"tipoInscricao": 2, "numeroInscricao": 11222333000181, "nome": "Cliente Exemplo Ltda",
                               "endereco": "Av. Paulista, 1000, conj. 101", "cep": 1310100, "cidade": "São Paulo",
                               "bairro": "Bela Vista", "uf": "SP"}
    assert body["indicadorPix"] == "S"
    # OAuth2 client credentials, then the token and the application key on the API call.
    [token_request] = bank.calls("POST", "/oauth/token")
    assert token_request.body == {"grant_type": "client_credentials",
                                  "scope": "cobrancas.boletos-requisicao cobrancas.boletos-info"}
    assert token_request.headers["authorization"] == "Basic ***"
    assert sent.headers["authorization"] == "Bearer ***" and sent.query == {"gw-dev-app-key": bank.app_key}

    at_bank = bank.boleto(codes.nosso_numero)
    assert registration.registration_id == "000" + codes.nosso_numero and registration.status == "registered"
    assert (registration.barcode, registration.digitable_line) == (at_bank.barcode, at_bank.line)
    boleto_rules.check_bank_codes(codes, registration.barcode, registration.digitable_line)  # FEBRABAN: ours
    charge = registration.pix
    assert charge.location_url == at_bank.qr["url"] and charge.location_url.startswith("qrcodepix-h.bb.com.br/pix/v2/cobv/")
    assert pix.dynamic_location(charge.emv) == charge.location_url  # CRC valid, a location, not a key
    assert pix.parse(charge.emv)["54"] == "1234.56"
    assert charge.txid == at_bank.qr["txId"] and charge.expires_on == DUE + timedelta(days=30)


def test_a_boleto_not_payable_after_its_due_date_is_registered_so(bank):
    adapter_for(bank).register(request_for(made(), payable_days=0, fine="0", interest="0"))

    body = bank.registrations()[0].body
    assert body["indicadorAceiteTituloVencido"] == "N" and "numeroDiasLimiteRecebimento" not in body
    assert body["multa"] == {"tipo": 0} and body["jurosMora"] == {"tipo": 0}


def test_a_second_copy_is_registered_without_a_new_fine_and_with_interest_per_day_on_the_open_balance(bank):
    # Its amount already carries the fine and interest up to its due date: a percentage on it would
    # charge interest on interest.
    codes = made(amount_cents=107000)
    request = replace(request_for(codes, fine="0", interest="0.01"), interest_base_cents=100000)
    adapter_for(bank).register(request)

    body = bank.registrations()[0].body
    assert body["multa"] == {"tipo": 0}
    assert body["jurosMora"] == {"tipo": 1, "valor": Decimal("0.33")}  # R$ 1.000,00 × 1 % a month / 30 a day


def test_a_payer_without_address_is_refused_before_anything_is_sent(bank):
    with pytest.raises(BankRejected) as refused:
        adapter_for(bank).register(request_for(made(), address=None))

    assert refused.value.errors[0][0] == PAGADOR_INCOMPLETO
    assert bank.requests == []


def test_a_validation_error_is_rejected_with_the_banks_code_and_message(bank):
    codes = made()
    with pytest.raises(BankRejected) as refused:
        adapter_for(bank).register(request_for(codes, issued_on=DUE + timedelta(days=1)))

    assert refused.value.errors == ((BAD_DATE, "Data de vencimento anterior à data de emissão"),)
    assert bank.boletos() == [] and len(bank.registrations()) == 1  # refused once, not retried


def test_the_gateways_error_shape_is_read_too(bank):
    bank.answer_next("register", 400, {"errors": [{"code": "4678420.1", "message": "Campo pagador.uf inválido",
                                                   "action": "Informar a UF"}]})
    with pytest.raises(BankRejected) as refused:
        adapter_for(bank).register(request_for(made()))

    assert refused.value.errors == (("4678420.1", "Campo pagador.uf inválido"),)


@pytest.mark.parametrize("qr_code, reason", [
    # A static key: it never expires, and stays payable after the baixa.
    ({"url": "", "txId": "X", "emv": pix.payload(key="financeiro@exemplo.com.br", merchant_name="X", merchant_city="Y",
                                                 amount_cents=150000)}, "not_dynamic"),
    ({"url": "qrcodepix-h.bb.com.br/pix/v2/cobv/abc", "txId": "X",
      "emv": pix.dynamic_payload(location_url="qrcodepix-h.bb.com.br/pix/v2/cobv/abc", merchant_name="X",
                                 merchant_city="Y", amount_cents=150000)[:-4] + "0000"}, "not_dynamic"),  # CRC
    ({"url": "qrcodepix-h.bb.com.br/pix/v2/cobv/abc", "txId": "X",
      "emv": pix.dynamic_payload(location_url="qrcodepix-h.bb.com.br/pix/v2/cobv/other", merchant_name="X",
                                 merchant_city="Y", amount_cents=150000)}, "other_location"),
    ({"url": "qrcodepix-h.bb.com.br/pix/v2/cobv/abc", "txId": "X",
      "emv": pix.dynamic_payload(location_url="qrcodepix-h.bb.com.br/pix/v2/cobv/abc", merchant_name="X",
                                 merchant_city="Y", amount_cents=99)}, "other_amount"),
])
def test_a_pix_that_is_not_the_boletos_dynamic_br_code_is_answered_as_it_came_for_the_services_to_withdraw(
        bank, qr_code, reason):
    # The bank registered the boleto: it is payable there whatever its Pix, so the adapter answers
    # the registration (a refusal would leave it payable) and documents._bank_pix refuses the Pix.
    from chalicelib.services.documents import _bank_pix

    bank.tamper_next_registration(qrCode=qr_code)
    codes = made()
    registration = adapter_for(bank).register(request_for(codes))

    assert bank.boletos() == [codes.nosso_numero]
    assert registration.pix.emv == qr_code["emv"] and registration.barcode == codes.barcode
    with pytest.raises(DomainError) as mismatch:
        _bank_pix(registration, codes.amount_cents)
    assert mismatch.value.code == "bank_codes_mismatch" and mismatch.value.details["reason"] == reason


def test_a_registration_without_pix_is_answered_with_none(bank):
    bank.tamper_next_registration(qrCode={"url": "", "txId": "", "emv": ""})
    codes = made()
    registration = adapter_for(bank).register(request_for(codes))

    assert registration.pix is None and registration.barcode == codes.barcode
    assert bank.boletos() == [codes.nosso_numero]


def test_the_pix_expires_on_the_banks_validity_when_it_gives_one_else_the_registered_limit(bank):
    codes = made()
    registration = adapter_for(bank).register(request_for(codes, payable_days=30))
    assert registration.pix.expires_on == DUE + timedelta(days=30)  # POST /boletos answers no validity

    other = made(sequence=43)
    bank.tamper_next_registration(validadeTituloCobranca=(DUE + timedelta(days=20)).strftime("%d.%m.%Y"))
    assert adapter_for(bank).register(request_for(other, payable_days=30)).pix.expires_on == DUE + timedelta(days=20)


def test_the_banks_codes_are_answered_as_they_came_for_the_febraban_check(bank):
    other = made(sequence=43)
    bank.tamper_next_registration(codigoBarraNumerico=other.barcode, linhaDigitavel=other.digitable_line)
    codes = made()
    registration = adapter_for(bank).register(request_for(codes))

    assert registration.barcode == other.barcode
    with pytest.raises(DomainError) as mismatch:
        boleto_rules.check_bank_codes(codes, registration.barcode, registration.digitable_line)
    assert mismatch.value.code == "bank_codes_mismatch" and mismatch.value.details["reason"] == "different_boleto"


# -- idempotence -----------------------------------------------------------------------------------

def test_a_timeout_on_the_post_is_followed_by_a_query_that_finds_the_boleto(bank):
    codes = made()
    bank.delay_next("register", 1.5)  # registered at the bank, the answer lost
    registration = adapter_for(bank, timeout=0.5).register(request_for(codes))

    assert len(bank.registrations()) == 1 and bank.boletos() == [codes.nosso_numero]
    numero = "000" + codes.nosso_numero
    assert api_calls(bank) == [("POST", "/boletos"), ("GET", f"/boletos/{numero}"), ("GET", f"/boletos/{numero}/pix")]
    at_bank = bank.boleto(codes.nosso_numero)
    assert (registration.barcode, registration.digitable_line) == (at_bank.barcode, at_bank.line)
    assert registration.pix.location_url == at_bank.qr["url"] and registration.pix.emv == at_bank.qr["emv"]


def test_a_5xx_on_the_post_is_asked_about_before_posting_again(bank):
    codes = made()
    bank.fail_next("register", 1, status=500)  # not processed
    sleeps = Sleeps()
    registration = adapter_for(bank, sleep=sleeps).register(request_for(codes))

    numero = "000" + codes.nosso_numero
    assert api_calls(bank) == [("POST", "/boletos"), ("GET", f"/boletos/{numero}"), ("POST", "/boletos")]
    assert bank.boletos() == [codes.nosso_numero] and sleeps == [0.5]
    assert registration.pix.location_url == bank.boleto(codes.nosso_numero).qr["url"]


def test_registering_again_answers_the_existing_registration(bank):
    codes = made()
    first = adapter_for(bank).register(request_for(codes))
    again = adapter_for(bank).register(request_for(codes))  # another container, the same invoice

    assert again == first and bank.boletos() == [codes.nosso_numero]
    second = next(i for i, r in enumerate(bank.requests) if r is bank.registrations()[1])
    status, refusal = bank.answers[second]  # refused as registered, then recovered by its number
    assert status == 400 and refusal["erros"][0]["codigo"] == DUPLICATE


def test_two_workers_registering_the_same_boleto_at_once_make_one_registration(bank):
    codes = made()
    start = threading.Barrier(2)
    results, failures = [], []

    def worker():
        adapter = adapter_for(bank)  # each container its own client and token
        start.wait()
        try:
            results.append(adapter.register(request_for(codes)))
        except Exception as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert failures == [] and len(results) == 2 and results[0] == results[1]
    assert bank.boletos() == [codes.nosso_numero] and len(bank.registrations()) == 2


def test_a_nosso_numero_used_by_another_boleto_is_not_adopted(bank):
    adapter_for(bank).register(request_for(made(amount_cents=150000)))
    with pytest.raises(BankRejected) as refused:
        adapter_for(bank).register(request_for(made(amount_cents=99000)))

    assert refused.value.errors[0][0] == NOSSO_NUMERO_EM_USO
    assert bank.boleto(made().nosso_numero).amount_cents == 150000


def test_a_nosso_numero_of_a_boleto_cancelled_is_not_registered_again(bank):
    codes = made()
    adapter = adapter_for(bank)
    adapter.register(request_for(codes))
    adapter.cancel(codes.nosso_numero)
    with pytest.raises(BankRejected) as refused:
        adapter.register(request_for(codes))

    assert refused.value.errors[0][0] == NOSSO_NUMERO_EM_USO


# -- token, throttling, outages -----------------------------------------------------------------

def test_an_expired_token_is_renewed_once_and_the_call_succeeds(bank):
    codes = made()
    adapter = adapter_for(bank)
    adapter.register(request_for(codes))
    bank.expire_tokens()  # before its expires_in: revoked, or the clocks disagree

    assert adapter.query(codes.nosso_numero).state == REGISTERED
    assert len(bank.calls("POST", "/oauth/token")) == 2 and len(bank.tokens_issued) == 2
    assert [c[0] for c in api_calls(bank)] == ["POST", "GET", "GET"]  # the 401, then the same GET


def test_the_token_is_kept_until_shortly_before_it_expires(bank):
    clock = Clock()
    adapter = adapter_for(bank, monotonic=clock)
    codes = made()
    adapter.register(request_for(codes))
    clock.now += 539  # 600 s less a minute's margin
    adapter.query(codes.nosso_numero)
    assert len(bank.tokens_issued) == 1
    clock.now += 2
    adapter.query(codes.nosso_numero)
    assert len(bank.tokens_issued) == 2


def test_a_token_refused_twice_is_an_outage_not_a_loop(bank):
    adapter = adapter_for(bank, credentials_of(bank, developer_application_key="outra-chave"))
    with pytest.raises(BankUnavailable):
        adapter.query(made().nosso_numero)

    assert len(bank.calls("GET")) == 2 and len(bank.tokens_issued) == 2


def test_credentials_refused_by_the_token_endpoint_are_read_again_once(bank):
    bank.rotate_secret("segredo-novo")
    old = {"client_id": bank.client_id, "client_secret": "segredo-antigo", "developer_application_key": bank.app_key,
           "webhook_token": WEBHOOK_TOKEN}
    credentials = Credentials(old, rotated={**old, "client_secret": "segredo-novo"})
    codes = made()
    adapter_for(bank, credentials).register(request_for(codes))

    assert credentials.forgets == 1 and bank.boletos() == [codes.nosso_numero]
    assert len(bank.calls("POST", "/oauth/token")) == 2


def test_credentials_still_refused_after_a_reread_are_an_outage(bank):
    credentials = credentials_of(bank, client_secret="segredo-errado")
    with pytest.raises(BankUnavailable) as failure:
        adapter_for(bank, credentials).register(request_for(made()))

    assert credentials.forgets == 1 and "invalid_client" in str(failure.value)
    assert len(bank.calls("POST", "/oauth/token")) == 2 and bank.registrations() == []


def test_a_429_waits_what_retry_after_says(bank):
    codes = made()
    bank.throttle_next("register", retry_after="3")
    sleeps = Sleeps()
    adapter_for(bank, sleep=sleeps).register(request_for(codes))

    assert sleeps == [3.0]
    assert len(bank.registrations()) == 2 and bank.boletos() == [codes.nosso_numero]


def test_a_429_with_an_http_date_waits_until_then(bank):
    codes = made()
    adapter = adapter_for(bank)
    adapter.register(request_for(codes))
    bank.throttle_next("detail", retry_after=format_datetime(datetime.now(timezone.utc) + timedelta(seconds=6),
                                                             usegmt=True))
    sleeps = Sleeps()
    adapter_for(bank, sleep=sleeps).query(codes.nosso_numero)

    assert len(sleeps) == 1 and 3 <= sleeps[0] <= 6


def test_a_429_asking_longer_than_a_call_may_wait_is_an_outage(bank):
    bank.throttle_next("detail", retry_after="120")
    sleeps = Sleeps()
    with pytest.raises(BankUnavailable):
        adapter_for(bank, sleep=sleeps).query(made().nosso_numero)

    assert sleeps == []  # nobody waits two minutes inside a request


def test_5xx_are_retried_with_backoff(bank):
    codes = made()
    adapter_for(bank).register(request_for(codes))
    bank.fail_next("detail", 2, status=503)
    sleeps = Sleeps()

    assert adapter_for(bank, sleep=sleeps).query(codes.nosso_numero).state == REGISTERED
    assert sleeps == [0.5, 1.0]


def test_5xx_past_the_attempts_are_an_outage_and_nothing_is_registered(bank):
    bank.fail_next("register", 3, status=502)
    bank.fail_next("detail", 3, status=502)
    with pytest.raises(BankUnavailable) as failure:
        adapter_for(bank).register(request_for(made()))

    assert "HTTP 502" in str(failure.value) and bank.boletos() == []


def test_a_bank_that_does_not_answer_is_an_outage(bank, authority):
    bank.stop()
    with pytest.raises(BankUnavailable) as failure:
        adapter_for(bank).query(made().nosso_numero)

    assert "after 3 attempts" in str(failure.value)


def test_a_missing_secret_is_an_outage(bank):
    credentials = credentials_of(bank)
    credentials.unavailable = True
    with pytest.raises(BankUnavailable) as failure:
        adapter_for(bank, credentials).query(made().nosso_numero)

    assert "not found" in str(failure.value) and bank.requests == []


# -- cancellation, queries, the webhook --------------------------------------------------------------

def test_cancel_makes_the_boleto_and_its_pix_unpayable_and_is_repeat_safe(bank):
    codes = made()
    adapter = adapter_for(bank)
    registration = adapter.register(request_for(codes))

    adapter.cancel(codes.nosso_numero)
    numero = "000" + codes.nosso_numero
    assert api_calls(bank)[-2:] == [("POST", f"/boletos/{numero}/cancelar-pix"), ("POST", f"/boletos/{numero}/baixar")]
    assert bank.registrations()[0].body["numeroConvenio"] == bank.calls("POST", "/cobrancas/v2/boletos/")[0].body[
        "numeroConvenio"] == 1234567
    with pytest.raises(FakeRefusal):
        bank.pay(codes.nosso_numero, DUE)
    with pytest.raises(FakeRefusal):
        bank.pay_pix(registration.pix.emv, DUE)

    adapter.cancel(codes.nosso_numero)  # again: refused by the bank as done, read as done
    assert adapter.query(codes.nosso_numero).state == CANCELLED


def test_cancelling_a_paid_boleto_leaves_the_payment_standing(bank):
    codes = made()
    adapter = adapter_for(bank)
    adapter.register(request_for(codes))
    bank.pay(codes.nosso_numero, DUE)

    adapter.cancel(codes.nosso_numero)
    assert adapter.query(codes.nosso_numero).state == PAID


def test_cancelling_a_boleto_the_bank_does_not_know_is_done(bank):
    adapter_for(bank).cancel(made().nosso_numero)


def test_a_baixa_refused_while_the_boleto_is_open_is_rejected_with_the_banks_codes(bank):
    codes = made()
    adapter = adapter_for(bank)
    adapter.register(request_for(codes))
    bank.refuse_next("baixar", ("4874099", "Baixa não permitida para o título"))

    with pytest.raises(BankRejected) as refused:
        adapter.cancel(codes.nosso_numero)
    assert refused.value.errors == (("4874099", "Baixa não permitida para o título"),)
    assert adapter.query(codes.nosso_numero).state == REGISTERED


def test_a_late_payment_by_pix_is_queried_as_paid_with_exact_centavos(bank):
    codes = made(amount_cents=100001)
    adapter = adapter_for(bank)
    registration = adapter.register(request_for(codes))
    paid_on = DUE + timedelta(days=7)
    charged = bank.pay_pix(registration.pix.emv, paid_on)

    at_bank = adapter.query(codes.nosso_numero)
    # 1000.01 + 2 % fine (20.00) + 1 % a month for 7 days (2.333... -> 2.33)
    assert charged == 100001 + 2000 + 233
    assert at_bank == type(at_bank)(nosso_numero=codes.nosso_numero, state=PAID, amount_cents=100001,
                                    paid_cents=charged, paid_on=paid_on, channel="pix")


def test_a_payment_after_the_limit_day_is_refused_by_the_bank(bank):
    codes = made()
    adapter_for(bank).register(request_for(codes, payable_days=5))
    with pytest.raises(FakeRefusal):
        bank.pay(codes.nosso_numero, DUE + timedelta(days=6))


def test_a_nosso_numero_that_is_not_ours_never_reaches_a_url(bank):
    adapter = adapter_for(bank)
    for hostile in ("../../oauth/token", "1234567000000004?x=1", "76543210000000042", "1234567000000004"):
        with pytest.raises(ValueError):
            adapter.query(hostile)
        with pytest.raises(ValueError):
            adapter.cancel(hostile)
    assert bank.requests == []


def test_querying_a_boleto_the_bank_does_not_know_is_rejected(bank):
    with pytest.raises(BankRejected) as refused:
        adapter_for(bank).query(made().nosso_numero)
    assert refused.value.errors[0][0] == "NAO_ENCONTRADO"


def test_the_webhook_names_our_nosso_numeros(bank):
    codes, other = made(), made(sequence=43)
    adapter = adapter_for(bank)
    adapter.register(request_for(codes))
    adapter.register(request_for(other))
    bank.pay(codes.nosso_numero, DUE)
    bank.pay(other.nosso_numero, DUE)

    assert adapter.notified_boletos(bank.webhook_body(codes.nosso_numero, other.nosso_numero)) == [
        codes.nosso_numero, other.nosso_numero]
    assert adapter.notified_boletos(b'[{"id": "00076543210000000042"}, {"id": "../etc"}, 7, {"id": null}]') == []
    assert adapter.notified_boletos(b"not json") == [] and adapter.notified_boletos(b"") == []
    assert adapter.webhook_token() == WEBHOOK_TOKEN


def test_secrets_never_reach_an_exception_or_a_log(bank, caplog):
    caplog.set_level(logging.DEBUG)
    credentials = credentials_of(bank)
    adapter = adapter_for(bank, credentials)
    failures = []
    codes = made()
    adapter.register(request_for(codes))
    bank.expire_tokens()
    bank.fail_next("detail", 3)
    for action in (lambda: adapter.query(codes.nosso_numero),
                   lambda: adapter_for(bank, credentials_of(bank, client_secret="segredo-errado")).query(
                       codes.nosso_numero),
                   lambda: adapter_for(bank, credentials_of(bank, developer_application_key="chave-errada")).query(
                       codes.nosso_numero),
                   lambda: adapter.register(request_for(made(amount_cents=1)))):
        with pytest.raises((BankUnavailable, BankRejected)) as failure:
            action()
        failures.append(f"{failure.value!s} {failure.value!r}")
    text = " ".join(failures) + caplog.text + repr(adapter)
    for secret in [bank.client_secret, bank.app_key, "segredo-errado", "chave-errada", WEBHOOK_TOKEN,
                   *bank.tokens_issued]:
        assert secret not in text


def test_a_payment_is_dated_by_its_payment_day_never_the_credit_day(bank):
    codes = made()
    adapter = adapter_for(bank)
    adapter.register(request_for(codes))
    bank.pay(codes.nosso_numero, DUE)

    at_bank = adapter.query(codes.nosso_numero)
    assert at_bank.state == PAID and at_bank.paid_on == DUE  # the fake credits it the day after

    # Paid, the payment day not filled in yet (only the credit day): not settled on a guess.
    bank.tamper_detail(codes.nosso_numero, dataRecebimentoTitulo="")
    at_bank = adapter.query(codes.nosso_numero)
    assert (at_bank.state, at_bank.paid_on, at_bank.paid_cents) == (REGISTERED, None, None)
