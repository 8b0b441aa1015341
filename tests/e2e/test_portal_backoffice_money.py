"""The operator's money screens in a real browser: Recebíveis (filters, age bands, the CSV of the
filter, a CNAB 240 return file), the operator's page of one invoice (payment, dispute, holding the
suspension, credit note, cancel and re-issue) and Catálogo e preços. Screenshots land in
var/screenshots/bo-*."""
import csv
import io
import re
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from chalicelib.domain import cnab240
from tests.e2e.conftest import api_login
from tests.e2e.portal import *  # noqa: F401,F403
from tests.e2e.portal import account, accessible, login, nav, reload_until

pytestmark = browser_marks("portal_backoffice_money")  # noqa: F405
OPERATOR = "operador@brasoftware.example"
NETWORK = "Não foi possível falar com o servidor. Verifique sua conexão."
CORE = "new URL('portal/assets/core.js', location.href).href"
AMOUNT = re.compile(r"^-?\d{1,3}(\.\d{3})*,\d{2}$")


def _sp_day(plus=0) -> date:
    return datetime.now(ZoneInfo("America/Sao_Paulo")).date() + timedelta(days=plus)


def _operator_api(api, demo):
    token = api_login(api, account(demo, OPERATOR))["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _boleto(api, headers, invoice):
    """The invoice's boleto once its documents are made (the customer's route, the operator viewing as)."""
    deadline = time.time() + 60
    while True:
        answer = requests.get(f"{api}/invoices/{invoice['id']}/boleto",
                              headers={**headers, "X-Organization-Id": invoice["organization_id"]})
        if answer.status_code == 200:
            return answer.json()
        assert time.time() < deadline, answer.text
        time.sleep(1)


def _billed(api, demo):
    """The operator's billing run for the demo customers' last closing (day 20): an invoice it issued
    (a receivable; an open one while there is one) once it has its boleto."""
    headers = _operator_api(api, demo)
    today = date.today()
    closing = today.replace(day=20) if today.day > 20 else (today.replace(day=1) - timedelta(days=1)).replace(day=20)
    requests.post(f"{api}/backoffice/billing-runs", json={"period": f"{closing:%Y-%m}"},
                  headers=headers).raise_for_status()
    deadline = time.time() + 60
    while True:
        items = [i for status in ("open", "overdue", "paid", "cancelled")
                 for i in requests.get(f"{api}/backoffice/invoices?status={status}", headers=headers).json()["items"]
                 if i["payment_method"] == "boleto"]
        if items:
            _boleto(api, headers, items[0])
            return items[0]
        assert time.time() < deadline, "the billing run issued no invoice"
        time.sleep(1)


def _rendered_again(page, action):
    """Do `action` and wait for the screen it asked for: the filter form is a new one."""
    page.evaluate("document.querySelector('.filtros-recebiveis').dataset.antigo = '1'")
    action()
    page.locator(".filtros-recebiveis:not([data-antigo])").wait_for()


def test_reais_are_read_as_exact_centavos(page_for):
    page = page_for()
    page.wait_for_load_state("networkidle")
    cases = {"1.234,56": 123456, "1234,56": 123456, "1234": 123400, "0,29": 29, "0,1": 10, "R$ 1.234,56": 123456,
             " 12,30 ": 1230, "1.000.000,00": 100000000, "0": 0, "9.999.999.999,99": 999999999999,
             "": None, "abc": None, "1,234": None, "1.23": None, "-5,00": None, "1.2345,00": None, "12,": None,
             "1,2,3": None, "1.234.56": None, "12.34": None, "1e3": None}
    got = page.evaluate("""async (inputs) => {
        const m = await import(new URL("portal/assets/bo-receivables.js", location.href));
        return inputs.map((text) => m.parseReais(text));
    }""", list(cases))
    assert dict(zip(cases, got)) == cases


def test_receivables_csv_cnab_and_the_operators_invoice_actions(page_for, demo, stack):
    api, _, _ = stack
    first = _billed(api, demo)
    ops = _operator_api(api, demo)

    page = page_for()
    login(page, account(demo, OPERATOR))
    nav(page, "Recebíveis").click()
    page.get_by_role("heading", name="Recebíveis").wait_for()
    reload_until(page, lambda: page.get_by_role("link", name=re.compile("^Abrir a fatura nº")).count() >= 1)
    assert page.locator("#faixas").get_by_role("heading", name="Vencidas há 1 a 30 dias").count() == 1
    assert page.locator("#faixas").get_by_role("heading", name="Total do filtro").count() == 1
    accessible(page, "bo-recebiveis")

    # The customer filter: only that customer's invoices, and the CSV is the same filter.
    page.get_by_label("Cliente").select_option(first["organization_id"])
    _rendered_again(page, lambda: page.get_by_role("button", name="Filtrar").click())
    assert page.get_by_label("Cliente").input_value() == first["organization_id"]
    assert set(page.locator("tbody td[data-rotulo=Cliente]").all_inner_texts()) == {first["organization_name"]}
    rows = page.locator("tbody tr").count()
    with page.expect_download() as download:
        page.get_by_role("button", name="Baixar CSV").click()
    assert download.value.suggested_filename == f"recebiveis-{_sp_day():%Y-%m-%d}.csv"
    raw = open(download.value.path(), "rb").read()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert len(table) - 1 == rows and rows >= 1
    header = table[0]
    amounts = [cell for row in table[1:] for cell in row if AMOUNT.match(cell)]
    assert amounts, table
    assert any(first["organization_name"] in cell for row in table[1:] for cell in row), (header, table[1])

    # The CSV goes through the portal's API client: an access token the API no longer takes is
    # refreshed and the download asked again (no login screen); no network is said in words.
    refreshes = []
    page.on("request", lambda r: refreshes.append(r) if r.url.endswith("/auth/refresh") else None)
    page.evaluate(f"async () => {{ (await import({CORE})).state.token = 'expirado.expirado.expirado'; }}")
    with page.expect_download() as again:
        page.get_by_role("button", name="Baixar CSV").click()
    assert open(again.value.path(), "rb").read() == raw
    assert len(refreshes) == 1 and page.get_by_role("heading", name="Entrar no portal").count() == 0
    csv_request = re.compile(r"/backoffice/invoices\?")
    page.route(csv_request, lambda route: route.abort() if route.request.headers.get("accept") == "text/csv"
               else route.continue_())
    page.get_by_role("button", name="Baixar CSV").click()
    page.locator("#aviso").get_by_text(NETWORK).wait_for()
    assert "Failed to fetch" not in page.inner_text("body")
    page.unroute(csv_request)

    # A bad range is refused in words, nothing asked.
    page.get_by_label("Vencimento de").fill("2026-12-31")
    page.get_by_label("Vencimento até").fill("2026-01-01")
    page.get_by_role("button", name="Filtrar").click()
    page.get_by_text("Vencimento até: deve ser igual ou posterior a Vencimento de.").wait_for()
    _rendered_again(page, lambda: page.get_by_role("button", name="Limpar filtros").click())

    # The operator's page of the first invoice.
    page.get_by_role("link", name=f"Abrir a fatura nº {first['number']} de {first['organization_name']}").click()
    page.get_by_role("heading", name=f"Fatura nº {first['number']} — {first['organization_name']}").wait_for()
    page.locator("#historico").wait_for()
    assert page.locator("#linha-digitavel").count() == 1
    accessible(page, "bo-fatura")

    # Dispute, then resolve.
    page.get_by_role("button", name="Contestar").click()
    page.get_by_role("dialog").get_by_label("Motivo da contestação").fill("Cliente contesta a quantidade")
    accessible(page, "bo-fatura-contestar")
    page.get_by_role("dialog").get_by_role("button", name="Marcar em contestação").click()
    page.get_by_role("button", name="Encerrar contestação").wait_for()
    assert "Em contestação desde" in page.locator("#resumo-fatura").inner_text()
    page.get_by_role("button", name="Encerrar contestação").click()
    page.get_by_role("dialog").get_by_label("Como foi resolvida").fill("Quantidade conferida com o cliente")
    page.get_by_role("dialog").get_by_role("button", name="Encerrar contestação").click()
    page.get_by_role("button", name="Contestar").wait_for()

    # Hold the customer's suspension, then release it.
    page.get_by_role("button", name="Segurar suspensão").click()
    accessible(page, "bo-fatura-segurar")
    page.get_by_role("dialog").get_by_role("button", name="Segurar suspensão").click()
    page.get_by_role("button", name="Liberar suspensão").wait_for()
    dunning = requests.get(f"{api}/backoffice/organizations/{first['organization_id']}/dunning",
                           headers=ops).json()
    assert dunning["effective"]["hold_suspension"] is True
    page.get_by_role("button", name="Liberar suspensão").click()
    page.get_by_role("dialog").get_by_role("button", name="Liberar suspensão").click()
    page.get_by_role("button", name="Segurar suspensão").wait_for()

    # Cancel and re-issue: the page says so and links the new invoice, where the rest happens.
    page.get_by_role("button", name="Cancelar fatura").click()
    page.get_by_role("dialog").get_by_label("Motivo do cancelamento").fill("Quantidade errada")
    page.get_by_role("dialog").get_by_label("Emitir uma nova fatura no lugar desta").check()
    accessible(page, "bo-fatura-cancelar")
    page.get_by_role("dialog").get_by_role("button", name="Cancelar fatura").click()
    page.locator("#cancelamento, dialog .erro").first.wait_for()
    assert page.locator("dialog .erro").count() == 0, page.locator("dialog .erro").inner_text()
    assert "Quantidade errada" in page.locator("#cancelamento").inner_text()
    assert page.get_by_role("button", name="Registrar pagamento").count() == 0
    assert page.get_by_role("button", name="Cancelar fatura").count() == 0
    accessible(page, "bo-fatura-cancelada")
    cancelled = requests.get(f"{api}/backoffice/invoices/{first['id']}", headers=ops).json()
    assert cancelled["status"] == "cancelled" and cancelled["cancellation"]["reissued_invoice_id"]
    page.get_by_role("link", name=re.compile("^Substituída pela fatura nº")).click()
    reissued = requests.get(f"{api}/backoffice/invoices/{cancelled['cancellation']['reissued_invoice_id']}",
                            headers=ops).json()
    page.get_by_role("heading", name=f"Fatura nº {reissued['number']} — {first['organization_name']}").wait_for()

    # A credit note of R$ 50,00.
    page.get_by_role("button", name="Nota de crédito").click()
    page.get_by_role("dialog").get_by_label("Valor do crédito (R$)").fill("50,00")
    page.get_by_role("dialog").get_by_label("Motivo do crédito").fill("Desconto comercial")
    accessible(page, "bo-fatura-credito")
    page.get_by_role("dialog").get_by_role("button", name="Conceder crédito").click()
    page.get_by_role("region", name="Notas de crédito").get_by_text("Desconto comercial").wait_for()
    notes = requests.get(f"{api}/backoffice/invoices/{reissued['id']}/credit-notes", headers=ops).json()
    assert [n["amount_cents"] for n in notes["items"]] == [5000]

    # A payment typed in reais: refused in words when it is not an amount, exact centavos when it is.
    page.get_by_role("button", name="Registrar pagamento").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Valor pago (R$)").fill("12,345")
    dialog.get_by_role("button", name="Confirmar pagamento").click()
    dialog.get_by_text("Valor pago (R$): informe o valor em reais, como 1.234,56.").wait_for()
    dialog.get_by_label("Valor pago (R$)").fill("1,29")
    dialog.get_by_label("Data do pagamento").fill(f"{_sp_day(2):%Y-%m-%d}")
    dialog.get_by_role("button", name="Confirmar pagamento").click()
    dialog.get_by_text("Data do pagamento: não pode ser depois de hoje.").wait_for()
    dialog.get_by_label("Data do pagamento").fill(f"{_sp_day():%Y-%m-%d}")
    accessible(page, "bo-fatura-pagamento")
    dialog.get_by_role("button", name="Confirmar pagamento").click()
    page.get_by_role("region", name="Pagamentos").get_by_text("R$ 1,29").wait_for()
    invoice = requests.get(f"{api}/backoffice/invoices/{reissued['id']}", headers=ops).json()
    assert [p["amount_cents"] for p in invoice["payments"]] == [129]
    assert invoice["balance_cents"] == reissued["balance_cents"] - 129

    # The CNAB 240 return file the bank sends: the rest of the re-issued invoice paid at its boleto; a
    # title nobody knows.
    other, other_boleto = reissued, _boleto(api, ops, {**reissued, "organization_id": first["organization_id"]})
    page.get_by_role("link", name="← Recebíveis").click()
    page.get_by_role("heading", name="Recebíveis").wait_for()
    content = cnab240.build(other_boleto["bank_code"], [
        cnab240.TitleSpec(nosso_numero="".join(ch for ch in other_boleto["nosso_numero"] if ch.isdigit()),
                          paid_cents=reissued["balance_cents"] - 129, occurred_on=_sp_day(),
                          due_date=date.fromisoformat(other_boleto["due_date"]),
                          face_value_cents=other_boleto["amount_cents"]),
        cnab240.TitleSpec(nosso_numero="99999999999", paid_cents=1000, occurred_on=_sp_day())],
        generated_on=_sp_day(), company_document="12345678000195", company_name="BRASOFTWARE")
    page.get_by_role("button", name="Importar retorno").click()
    page.get_by_text("Arquivo de retorno CNAB 240: escolha o arquivo que o banco enviou.").wait_for()
    page.get_by_label("Arquivo de retorno CNAB 240").set_input_files(
        files=[{"name": "retorno.ret", "mimeType": "text/plain", "buffer": content.encode("latin-1")}])
    page.get_by_role("button", name="Importar retorno").click()
    page.locator("#resumo-cnab").wait_for()
    assert page.locator("#resumo-cnab").inner_text().startswith("1 baixadas, 0 ignoradas, 1 recusadas")
    result = page.locator("#resultado-cnab")
    assert result.get_by_text("Baixada", exact=True).count() == 1
    assert result.get_by_text("Nosso número desconhecido").count() == 1
    accessible(page, "bo-recebiveis-cnab")
    assert requests.get(f"{api}/backoffice/invoices/{other['id']}",
                        headers=ops).json()["status"] == "paid"

    # Signing out forgets the screen's filter and the last import: nothing of them for the next login.
    page.get_by_label("Cliente").select_option(first["organization_id"])
    _rendered_again(page, lambda: page.get_by_role("button", name="Filtrar").click())
    assert page.locator("#resultado-cnab").count() == 1
    page.get_by_role("button", name="Sair").click()
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    login(page, account(demo, OPERATOR))
    page.get_by_role("heading", name="Chamados", exact=True).wait_for()
    nav(page, "Recebíveis").click()
    page.get_by_role("heading", name="Recebíveis").wait_for()
    page.get_by_role("button", name="Baixar CSV").wait_for()
    assert page.get_by_label("Cliente").input_value() == ""
    assert page.locator("#resultado-cnab").count() == 0


def test_the_catalog_lists_edits_and_creates_products_with_the_day_a_price_takes_effect(page_for, demo):
    tomorrow = f"{_sp_day(1):%d/%m/%Y}"
    page = page_for()
    login(page, account(demo, OPERATOR))
    nav(page, "Catálogo e preços").click()
    page.get_by_role("heading", name="Catálogo e preços").wait_for()
    page.get_by_role("button", name=re.compile("^Editar ")).first.wait_for()
    accessible(page, "bo-catalogo")

    edit = page.get_by_role("button", name=re.compile("^Editar ")).first
    name = edit.get_attribute("aria-label").removeprefix("Editar ")
    edit.click()
    dialog = page.get_by_role("dialog")
    assert f"vale a partir de {tomorrow}" in dialog.inner_text()
    dialog.get_by_label("Preço por licença por mês (R$)").fill("1.234,56")
    accessible(page, "bo-catalogo-editar")
    dialog.get_by_role("button", name="Salvar produto").click()
    row = page.locator("tbody tr", has=page.get_by_role("button", name=f"Editar {name}", exact=True))
    row.get_by_text(f"R$ 1.234,56 a partir de {tomorrow}").wait_for()

    page.get_by_role("button", name="Novo produto").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Código (SKU)").fill("teste-b1")
    dialog.get_by_label("Nome").fill("Produto de teste B")
    dialog.get_by_label("Família").fill("Testes")
    dialog.get_by_label("Preço por licença por mês (R$)").fill("12,30")
    dialog.get_by_label("Oferta do Partner Center").fill("errada")
    dialog.get_by_role("button", name="Salvar produto").click()
    dialog.get_by_text("Oferta do Partner Center: use productId:skuId, como CFQ7TTC0LH18:0001.").wait_for()
    dialog.get_by_label("Oferta do Partner Center").fill("CFQ7TTC0TEST:0001")
    # Seat limits (#21 §4): the API's refusal of a maximum below the minimum shows next to the field.
    dialog.get_by_label("Quantidade mínima por compra").fill("5")
    dialog.get_by_label("Quantidade máxima").fill("3")
    dialog.get_by_role("button", name="Salvar produto").click()
    dialog.get_by_text("Quantidade máxima: deve ser no mínimo 5.").wait_for()
    assert dialog.get_by_label("Quantidade máxima").get_attribute("aria-invalid") == "true"
    dialog.get_by_label("Quantidade máxima").fill("300")
    dialog.get_by_role("button", name="Salvar produto").click()
    row = page.locator("tbody tr", has=page.get_by_role("button", name="Editar Produto de teste B", exact=True))
    row.wait_for()
    assert "TESTE-B1" in row.inner_text() and "CFQ7TTC0TEST:0001" in row.inner_text()
    assert "Mínimo 5 / máximo 300 licenças" in row.inner_text()
    assert "R$ 12,30" in row.inner_text().replace("\xa0", " ")


def test_a_refused_nfse_and_boleto_show_their_reasons_and_offer_the_reemission(page_for, demo, stack):
    # The API's answer for an invoice whose note and boleto were refused stands in
    # (tests/integration/test_nfse_failures.py and the boleto registration's tests check the answer).
    api, _, _ = stack
    invoice = _billed(api, demo)
    refused = {"nfse_status": "rejected", "nfse": None,
               "nfse_failure": {"rejections": [{"code": "E160", "message": "Código de serviço inválido", "detail": None}],
                                "failed_at": "2026-11-30T10:00:00+00:00", "attempts": 1},
               "boleto_failure": {"reasons": [{"code": "48", "message": "CEP do pagador inválido"}],
                                  "failed_at": "2026-11-30T10:00:00+00:00", "attempts": 2}}
    sent = []

    def as_refused(route):
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), **refused})

    def registered(route):  # the bank accepts the boleto this time
        sent.append(route.request.headers.get("idempotency-key"))
        answer = route.fetch(method="GET", headers={k: v for k, v in route.request.headers.items()
                                                    if k.lower() != "idempotency-key"},
                             url=route.request.url.removesuffix("/boleto"))
        route.fulfill(response=answer, json={**answer.json(), **refused, "boleto_failure": None})

    page = page_for()
    page.route(re.compile(rf".*/backoffice/invoices/{invoice['id']}$"), as_refused)
    page.route(re.compile(rf".*/backoffice/invoices/{invoice['id']}/boleto$"), registered)
    login(page, account(demo, OPERATOR))
    nav(page, "Recebíveis").click()
    page.get_by_role("heading", name="Recebíveis").wait_for()
    page.evaluate("(id) => { location.hash = `#/recebiveis/${id}`; }", invoice["id"])
    page.get_by_role("heading", name=f"Fatura nº {invoice['number']} — {invoice['organization_name']}").wait_for()
    page.locator("#historico").wait_for()
    assert "Recusada pelo emissor" in page.locator("#situacao-nfse").inner_text()
    page.get_by_text("E160: Código de serviço inválido").wait_for()
    page.get_by_text("48: CEP do pagador inválido").wait_for()
    accessible(page, "bo-fatura-recusas")

    # The NFS-e: the real API answers (the note was in fact issued), its refusal shows in words.
    page.get_by_role("button", name="Emitir NFS-e de novo").click()
    page.get_by_role("dialog").get_by_role("button", name="Emitir NFS-e").click()
    page.locator("dialog .erro").wait_for()
    assert page.locator("dialog .erro").inner_text().strip()
    page.get_by_role("dialog").get_by_role("button", name="Voltar").click()

    page.get_by_role("button", name="Registrar boleto de novo").click()
    accessible(page, "bo-fatura-boleto")
    page.get_by_role("dialog").get_by_role("button", name="Registrar boleto").click()
    page.get_by_text("Boleto registrado.").wait_for()
    assert len(sent) == 1 and sent[0]
