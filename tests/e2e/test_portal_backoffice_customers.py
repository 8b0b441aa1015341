"""The reseller's back office in the browser (issue #20, part A): Interessados (a lead from the public
form, filtered, opened and converted after the operator confirms the contact), Clientes (the list,
registering a customer with the CNPJ's error named by its label, editing the contract's items,
"Ver como cliente" and back) and Faturamento mensal (a run started, followed to its end, listed)."""
import random
import re
from datetime import date, timedelta

import requests

from tests.e2e.portal import *  # noqa: F401,F403

pytestmark = browser_marks("portal_backoffice_customers")  # noqa: F405

OPERATOR = "operador@brasoftware.example"


def cnpj() -> str:
    """A random CNPJ with valid check digits (so each run's customer is new)."""
    digits = [random.randint(0, 9) for _ in range(8)] + [0, 0, 0, 1]
    for weights in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        rest = sum(d * w for d, w in zip(digits, weights)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return "".join(map(str, digits))


def fill_address(scope):
    scope.get_by_label("CEP").fill("01310-100")
    scope.get_by_label("Logradouro").fill("Avenida Paulista")
    scope.get_by_label("Número", exact=True).fill("1000")
    scope.get_by_label("Bairro").fill("Bela Vista")
    scope.get_by_label("Código IBGE do município").fill("3550308")


def operator_page(page_for, demo, **size):
    page = page_for(**size)
    login(page, account(demo, OPERATOR))  # noqa: F405
    page.get_by_role("heading", name="Chamados").wait_for()  # the operator's landing
    return page


def test_a_lead_is_found_opened_and_converted_after_the_contact_is_confirmed(page_for, demo, stack):
    api = stack[0]
    lead_cnpj = cnpj()
    sent = requests.post(f"{api}/leads", json={
        "cnpj": lead_cnpj, "company_name": "Construtora Horizonte Ltda", "contact_name": "Helena Souza",
        "email": "helena@horizonte.example", "phone": "(11) 98765-4321", "products_of_interest": ["MS365-E3"],
        "existing_microsoft_customer": False})
    assert sent.status_code == 201, sent.text

    page = operator_page(page_for, demo)
    nav(page, "Interessados").click()  # noqa: F405
    page.get_by_role("heading", name="Interessados").wait_for()
    page.get_by_label("Buscar").fill("horizonte")
    assert page.get_by_role("link", name="Abrir Construtora Horizonte Ltda").count() == 1
    page.get_by_label("Situação").select_option("converted")
    page.get_by_text("Nenhum interessado encontrado com esses filtros.").wait_for()
    page.get_by_label("Situação").select_option("")
    page.get_by_label("Buscar").fill(lead_cnpj[:8])  # by CNPJ digits
    accessible(page, "bo-interessados")  # noqa: F405

    page.get_by_role("link", name="Abrir Construtora Horizonte Ltda").click()
    page.get_by_role("heading", name="Construtora Horizonte Ltda").wait_for()
    accessible(page, "bo-interessado")  # noqa: F405
    page.get_by_role("button", name="Converter em cliente").click()
    convert = page.get_by_role("dialog")
    # The master contact comes from the lead, editable.
    assert convert.get_by_label("Nome do Master").input_value() == "Helena Souza"
    assert convert.get_by_label("E-mail do Master").input_value() == "helena@horizonte.example"
    accessible(page, "bo-interessado-converter")  # noqa: F405

    convert.get_by_label("E-mail do Master").fill("diretoria@horizonte.example")
    convert.get_by_label("Contatos de cobrança").fill("financeiro@horizonte.example")
    fill_address(convert)
    convert.get_by_role("button", name="Converter").click()
    convert.get_by_text('Marque "Confirmo que o contato foi verificado".').wait_for()  # nothing sent yet
    convert.get_by_label("Confirmo que o contato foi verificado").check()
    convert.get_by_role("button", name="Converter").click()
    convert.get_by_text("Cliente Construtora Horizonte Ltda criado, com o contrato aguardando o aceite.").wait_for()
    convert.get_by_text("Convite enviado para Helena Souza (diretoria@horizonte.example).").wait_for()
    convert.get_by_role("button", name="Abrir o cliente").click()
    page.get_by_role("heading", name="Construtora Horizonte Ltda").wait_for()
    page.get_by_role("heading", name="Contrato").wait_for()
    # The lead's products became the contract's items.
    assert page.get_by_role("cell", name="Microsoft 365 E3", exact=True).count() == 1

    nav(page, "Interessados").click()  # noqa: F405
    page.get_by_label("Situação").select_option("converted")
    assert page.get_by_role("link", name="Abrir Construtora Horizonte Ltda").count() == 1


def test_an_operator_registers_a_customer_edits_its_contract_and_views_the_portal_as_it(page_for, demo):
    page = operator_page(page_for, demo)
    nav(page, "Clientes").click()  # noqa: F405
    page.get_by_role("heading", name="Clientes").wait_for()
    page.get_by_role("link", name="Abrir Oficina Digital Ltda").wait_for()
    page.get_by_label("Buscar cliente").fill("oficina")
    assert page.get_by_role("link", name=re.compile("^Abrir ")).count() == 1
    accessible(page, "bo-clientes")  # noqa: F405

    # A user's MFA reset (the demo Master lost its phone).
    page.get_by_role("link", name="Abrir Oficina Digital Ltda").click()
    master = page.get_by_role("row").filter(has_text="master@oficinadigital.example")
    master.get_by_role("button", name=re.compile("^Redefinir a verificação em duas etapas de ")).click()
    page.get_by_role("dialog").get_by_role("button", name="Redefinir").click()
    master.get_by_text("Não cadastrada").wait_for()
    nav(page, "Clientes").click()  # noqa: F405

    page.get_by_role("button", name="Cadastrar cliente").click()
    create = page.get_by_role("dialog")
    create.get_by_label("Razão social").fill("Escola Aprender Ltda")
    create.get_by_label("CNPJ").fill("11.111.111/1111-11")
    create.get_by_label("Dia de fechamento").fill("5")
    create.get_by_label("Nome do Master").fill("Denise Lima")
    create.get_by_label("E-mail do Master").fill("diretora@aprender.example")
    fill_address(create)
    accessible(page, "bo-cliente-cadastrar")  # noqa: F405
    create.get_by_role("button", name="Cadastrar").click()
    error = create.get_by_role("alert")
    error.wait_for()
    assert error.inner_text().startswith("CNPJ"), error.inner_text()  # the field's label, not "cnpj"
    assert create.get_by_label("CNPJ").get_attribute("aria-invalid") == "true"
    create.get_by_label("CNPJ").fill(cnpj())
    create.get_by_role("button", name="Cadastrar").click()

    page.get_by_role("heading", name="Escola Aprender Ltda").wait_for()
    page.get_by_text("Aguardando aceite").wait_for()
    page.get_by_role("cell", name="diretora@aprender.example").wait_for()  # its users, the Master invited
    page.get_by_text("Avenida Paulista, 1000, Bela Vista, São Paulo/SP, CEP 01310-100").wait_for()

    # Contract items, editable until acceptance.
    page.get_by_label("Produto", exact=True).select_option("MS365-BUSINESS-BASIC")
    page.get_by_label("Quantidade", exact=True).fill("40")
    page.get_by_role("button", name="Adicionar item").click()
    page.get_by_label("Quantidade de Microsoft 365 Business Basic").fill("45")
    page.get_by_label("Produto", exact=True).select_option("MS365-E3")
    page.get_by_role("button", name="Adicionar item").click()
    page.get_by_role("button", name="Remover Microsoft 365 E3 do contrato").click()
    page.get_by_label("Forma de pagamento").select_option("deposito")
    accessible(page, "bo-cliente")  # noqa: F405
    page.get_by_role("button", name="Salvar contrato").click()
    page.get_by_text("Contrato salvo.").wait_for()
    page.get_by_label("Quantidade de Microsoft 365 Business Basic").wait_for()
    page.wait_for_load_state("networkidle")
    page.reload()
    assert page.get_by_label("Quantidade de Microsoft 365 Business Basic").input_value() == "45"
    assert page.get_by_label("Forma de pagamento").input_value() == "deposito"
    assert page.get_by_label("Quantidade de Microsoft 365 E3").count() == 0

    # Ver como cliente: the customer's portal under the banner, then back.
    page.get_by_role("button", name="Ver como cliente").click()
    banner = page.get_by_role("region", name="Visão de cliente")
    banner.get_by_text("Você está vendo o portal como Escola Aprender Ltda").wait_for()
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    assert nav(page, "Licenças").count() == 1 and nav(page, "Clientes").count() == 0  # noqa: F405
    assert nav(page, "Adicionar novos produtos").count() == 0  # noqa: F405  (operators do not buy)
    accessible(page, "bo-ver-como")  # noqa: F405
    nav(page, "Usuários").click()  # noqa: F405
    page.get_by_role("cell", name="diretora@aprender.example").wait_for()
    banner.wait_for()  # on every screen
    banner.get_by_role("button", name="Voltar ao back office").click()
    page.get_by_role("heading", name="Escola Aprender Ltda").wait_for()
    assert banner.count() == 0 and nav(page, "Clientes").count() == 1  # noqa: F405


def test_an_operator_starts_a_billing_run_follows_it_to_the_end_and_finds_it_listed(page_for, demo):
    today = date.today()
    closing = today.replace(day=20) if today.day > 20 else (today.replace(day=1) - timedelta(days=1)).replace(day=20)

    page = operator_page(page_for, demo)
    nav(page, "Faturamento mensal").click()  # noqa: F405
    page.get_by_role("heading", name="Iniciar faturamento").wait_for()
    page.get_by_label("Mês").select_option(f"{closing.month:02d}")
    page.get_by_label("Ano").select_option(str(closing.year))
    page.get_by_role("button", name="Iniciar faturamento").click()
    confirm = page.get_by_role("dialog", name="Confirmar faturamento")
    months = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
              "novembro", "dezembro"]
    said = f"{months[closing.month - 1]} de {closing.year}"
    confirm.get_by_text(f"Faturar o período de {said}?").wait_for()
    accessible(page, "bo-faturamento-confirmar")  # noqa: F405
    confirm.get_by_role("button", name=f"Faturar {said}").click()

    page.get_by_role("heading", name=f"Faturamento de {said}").wait_for()
    assert page.locator("progress").count() == 1
    page.get_by_text("Faturamento concluído").wait_for(timeout=30_000)  # polled, no reload
    queued = int(page.locator("[data-contagem=contracts_queued]").inner_text())
    outcomes = sum(int(page.locator(f"[data-contagem={c}]").inner_text())
                   for c in ("invoices_issued", "already_invoiced", "nothing_to_bill", "not_closed_yet"))
    assert queued >= 1 and outcomes == queued
    assert page.locator("progress").evaluate("p => p.value === p.max")
    accessible(page, "bo-faturamento-execucao")  # noqa: F405

    page.get_by_role("link", name="← Faturamento mensal").click()
    link = page.get_by_role("link", name=re.compile(f"^Abrir o faturamento de {said} iniciado em"))
    link.first.wait_for()
    assert page.get_by_role("row").filter(has=link.first).get_by_text("Concluído").count() == 1
    accessible(page, "bo-faturamento")  # noqa: F405


def test_a_run_with_a_failed_contract_names_the_customer_and_why(page_for, demo, stack):
    # The API's answers for a run whose contract keeps failing (tests/integration/test_billing.py
    # checks the worker records why) stand in: the run under way, one failure.
    api = stack[0]
    page = operator_page(page_for, demo)
    nav(page, "Clientes").click()  # noqa: F405
    oficina = page.get_by_role("link", name="Abrir Oficina Digital Ltda").get_attribute("href").rsplit("/", 1)[1]
    run = {"run_id": "falhou", "period": "2026-10", "started_at": "2026-11-30T12:00:00+00:00",
           "started_by": "system", "contracts_queued": 2, "invoices_issued": 1, "already_invoiced": 0,
           "nothing_to_bill": 0, "not_closed_yet": 0, "processed": 1, "complete": False}
    page.route(re.compile(r".*/backoffice/billing-runs/falhou$"), lambda route: route.fulfill(json=run))
    page.route(re.compile(r".*/backoffice/billing-runs/falhou/failures$"), lambda route: route.fulfill(json={
        "items": [{"organization_id": oficina, "code": "product_not_found", "message": "Produto não encontrado no catálogo.",
                   "at": "2026-11-30T12:00:00+00:00", "attempts": 2}]}))
    page.goto(f"{api}/#/faturamento/falhou")
    alert = page.get_by_role("alert").filter(has_text="1 contrato com falha")
    alert.wait_for()
    alert.get_by_role("link", name="Oficina Digital Ltda").wait_for()
    assert "Produto não encontrado no catálogo. (2 tentativas" in alert.inner_text()
    page.get_by_text("1 de 2 contratos processados").wait_for()
    accessible(page, "bo-faturamento-falha")  # noqa: F405
