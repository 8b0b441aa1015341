"""The portal in a real browser (Debian's Chromium, headless, driven by Playwright) against the
local stack: what a customer's staff do every day. Screenshots land in var/screenshots/."""
import email
import json
import re
import zipfile
from datetime import date, timedelta
from email import policy
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import api_login
from tests.e2e.portal import *  # noqa: F401,F403  (fixtures: browser, demo, page_for)
from tests.e2e.portal import account, browser_marks, login, nav, shot

pytestmark = browser_marks("portal_browser")
# Not the default (10 000): the portal must use the seat limit the API serves, not one of its own.
SEAT_LIMIT = 500


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from tests.e2e.conftest import start_stack

    patch = pytest.MonkeyPatch()
    patch.setenv("MAX_QUANTITY", str(SEAT_LIMIT))
    try:
        var_dir = tmp_path_factory.mktemp("var")
        api, process = start_stack(var_dir)
    finally:
        patch.undo()
    yield api, var_dir, process
    if process.poll() is None:
        process.kill()


def test_master_accepts_buys_changes_a_quantity_and_opens_a_ticket(page_for, demo):
    page = page_for()
    shot(page, "01-login")
    login(page, account(demo, "master@paodemel.example"))
    page.get_by_role("heading", name="Painel de licenças").wait_for()

    page.get_by_role("link", name="contrato", exact=True).click()  # the empty panel says where to go
    page.get_by_role("button", name="Aceitar contrato").click()
    # An explicit confirmation: the version shown and the box ticked (tests/e2e/test_portal_invoices_contract.py).
    page.get_by_role("checkbox", name="Li e aceito os termos do contrato").check()
    page.get_by_role("button", name="Confirmar aceite").click()
    # Accepting orders the contracted licences: the portal leads to the panel, where they are
    # provisioned (the panel looks again by itself while any is) and then active.
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    contracted = page.locator("tr", has_text="Microsoft 365 Business Standard")
    contracted.wait_for()
    _reload_until(page, lambda: contracted.get_by_text("Ativa").count() == 1)
    assert contracted.locator("td").nth(1).inner_text() == "12"
    shot(page, "06-painel-contratado")
    nav(page, "Contrato").click()
    page.locator("#situacao-contrato", has_text="Ativo").wait_for()
    shot(page, "06-contrato")

    nav(page, "Adicionar novos produtos").click()
    page.get_by_label("Família de produtos").select_option("seguranca")
    card = page.locator("article", has_text="Microsoft Intune Plano 1")
    card.locator(".plano", has_text="Segurança · Anual · cobrança mensal").wait_for()  # term and billing plan
    assert card.get_by_label("Quantidade de Microsoft Intune Plano 1").get_attribute("max") == str(SEAT_LIMIT)
    card.get_by_label("Quantidade de Microsoft Intune Plano 1").fill("8")
    card.get_by_role("button", name="Adicionar Microsoft Intune Plano 1 ao carrinho").click()
    page.locator("section[aria-label=Carrinho]", has_text="Microsoft Intune Plano 1").wait_for()
    shot(page, "02-produtos-carrinho")
    page.get_by_role("link", name="Revisar pedido").click()  # the review step (tests/e2e/test_portal_licences.py)
    page.get_by_role("button", name="Confirmar pedido").click()
    page.get_by_role("heading", name="Painel de licenças").wait_for()

    row = page.locator("tr", has_text="Microsoft Intune Plano 1")
    row.locator(".plano", has_text="Anual · cobrança mensal").wait_for()
    _reload_until(page, lambda: row.get_by_text("Ativa").count() == 1)
    row.get_by_role("button", name="Alterar quantidades de Microsoft Intune Plano 1").click()
    assert page.get_by_label("Nova quantidade").get_attribute("max") == str(SEAT_LIMIT)
    page.get_by_label("Nova quantidade").fill("10")
    page.get_by_text("Efeito nesta fatura").wait_for()
    page.get_by_role("button", name="Confirmar").click()
    page.locator(".pendente-alteracao", has_text="Alteração para 10").wait_for()  # pending
    shot(page, "03-painel-pendente")
    _reload_until(page, lambda: row.locator("td").nth(1).inner_text() == "10")  # applied
    assert row.locator(".pendente-alteracao").count() == 0
    shot(page, "03-painel")

    nav(page, "Suporte").click()
    page.get_by_label("Assunto").fill("Licenças do Intune não aparecem")
    page.get_by_label("Categoria").select_option("licencas")
    page.get_by_label("Severidade").select_option("alta")
    page.get_by_label("Descrição").fill("Compramos 8 licenças hoje.")
    page.get_by_role("button", name="Abrir chamado").click()
    page.get_by_text("Compramos 8 licenças hoje.").wait_for()
    shot(page, "05-chamado")

    nav(page, "Usuários").click()
    page.get_by_role("heading", name="Usuários e perfis").wait_for()
    shot(page, "07-usuarios")


def _bill_last_closing(api, demo) -> None:
    """The operator's billing run for the demo customers' last closing (day 20)."""
    operator = account(demo, "operador@brasoftware.example")
    token = api_login(api, operator)["access_token"]
    today = date.today()
    closing = today.replace(day=20) if today.day > 20 else (today.replace(day=1) - timedelta(days=1)).replace(day=20)
    requests.post(f"{api}/backoffice/billing-runs", json={"period": f"{closing:%Y-%m}"},
                  headers={"Authorization": f"Bearer {token}"}).raise_for_status()


def test_an_invoice_opens_and_its_boleto_downloads(page_for, demo, stack):
    api, _, _ = stack
    _bill_last_closing(api, demo)

    page = page_for()
    login(page, account(demo, "master@oficinadigital.example"))
    nav(page, "Faturas").click()
    _reload_until(page, lambda: page.get_by_role("link", name="Abrir").count() > 0)
    shot(page, "04-faturas")
    page.get_by_role("link", name="Abrir").first.click()
    page.get_by_role("heading", name="Fatura nº").wait_for()
    _reload_until(page, lambda: page.locator("#linha-digitavel").count() == 1)  # documents are made right after
    assert len("".join(ch for ch in page.locator("#linha-digitavel").inner_text() if ch.isdigit())) == 47
    shot(page, "04-fatura")
    with page.expect_download() as download:
        page.get_by_role("link", name="Baixar boleto").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")


def test_an_invoice_whose_nota_is_pending_says_so_and_never_asks_for_it(page_for, demo, stack):
    # The API's answer for an invoice whose NFS-e the emitter refused (the customer reads
    # "pending"; tests/integration/test_nfse_failures.py checks the answer itself) stands in.
    import re

    api, _, _ = stack
    _bill_last_closing(api, demo)

    def pending(route):
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), "nfse_status": "pending"})

    page = page_for()
    asked = []
    page.on("request", lambda request: asked.append(request.url) if request.url.endswith("/nfse") else None)
    page.route(re.compile(r".*/invoices/[A-Za-z0-9_-]+$"), pending)
    login(page, account(demo, "master@oficinadigital.example"))
    nav(page, "Faturas").click()
    _reload_until(page, lambda: page.get_by_role("link", name="Abrir").count() > 0)
    page.get_by_role("link", name="Abrir").first.click()
    page.get_by_role("heading", name="Fatura nº").wait_for()
    page.locator("#nfse-pendente").wait_for()
    assert page.locator("#nfse-pendente").inner_text() == "Nota fiscal em processamento"
    assert page.get_by_role("link", name=re.compile("Nota fiscal")).count() == 0 and asked == []


def test_cobranca_sees_invoices_but_no_licence_buttons(page_for, demo):
    page = page_for()
    login(page, account(demo, "cobranca@paodemel.example"))
    page.get_by_role("heading", name="Faturas", exact=True).wait_for()  # where its work is
    nav(page, "Licenças").click()
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    assert page.get_by_role("button", name="Alterar quantidades").count() == 0 or \
        page.get_by_role("button", name="Alterar quantidades").first.is_hidden()
    assert page.locator("button", has_text="Alterar quantidades").count() == 0
    assert page.get_by_role("link", name="Adicionar novos produtos").count() == 0
    assert page.get_by_role("button", name="Rescindir contrato").count() == 0
    assert nav(page, "Faturas").count() == 1
    assert nav(page, "Usuários").count() == 0


def test_the_collection_banner_shows_the_apis_sentence_to_cobranca_with_a_link_to_the_invoice(page_for, demo):
    # The demo customer owes nothing: the API's answer for an organisation whose purchases are
    # blocked stands in (tests/integration/test_dunning.py checks the answer itself).
    blocked = {"state": "blocked", "invoice": {"id": "fatura-2", "number": 2, "due_date": "2026-10-30",
                                               "balance_cents": 123456, "days_overdue": 31},
               "purchases_blocked_since": "2026-11-29", "suspension_on": "2026-12-14",
               "message": "Novas compras e aumentos de licenças estão bloqueados desde 29/11/2026: a fatura nº 2, "
                          "vencida em 30/10/2026, tem saldo em aberto de R$ 1.234,56."}
    page = page_for()
    page.route("**/billing-status", lambda route: route.fulfill(status=200, content_type="application/json",
                                                                body=json.dumps(blocked)))
    login(page, account(demo, "cobranca@paodemel.example"))
    banner = page.locator(".faixa-cobranca")
    banner.wait_for()
    assert banner.get_attribute("role") == "alert" and "R$ 1.234,56" in banner.inner_text()
    assert banner.get_by_role("link", name="Ver a fatura nº 2").get_attribute("href") == "#/faturas/fatura-2"
    shot(page, "07-aviso-cobranca")

    adm = page_for()  # Adm (no billing profile): never asks, never sees it
    asked = []
    adm.on("request", lambda request: asked.append(request.url) if "/billing-status" in request.url else None)
    login(adm, account(demo, "adm@paodemel.example"))
    adm.get_by_role("heading", name="Painel de licenças").wait_for()
    assert adm.locator(".faixa-cobranca").count() == 0 and asked == []


def test_the_privacy_page_opens_before_login_and_the_master_downloads_the_organisations_data(page_for, demo):
    page = page_for()
    page.get_by_role("link", name="Privacidade e proteção de dados (LGPD)").click()
    page.get_by_role("heading", name="Privacidade e proteção de dados").wait_for()
    page.locator("#email-encarregado", has_text="privacidade@brasoftware.com.br").wait_for()
    assert page.get_by_role("button", name="Exportar dados da organização").count() == 0  # nobody signed in
    shot(page, "08-privacidade")
    page.get_by_role("link", name="Voltar para o login").click()
    login(page, account(demo, "master@oficinadigital.example"))
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    nav(page, "Privacidade").click()
    page.get_by_role("button", name="Exportar dados da organização").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Baixar o arquivo (.zip)").click()
    archive = zipfile.ZipFile(download.value.path())
    users = json.loads(archive.read("users.json"))
    assert "master@oficinadigital.example" in {u["email"] for u in users}
    assert len({u["organization_id"] for u in users}) == 1
    shot(page, "08-privacidade-exportacao")


def test_first_login_asks_for_a_new_password(page_for, demo, stack):
    api, var_dir, _ = stack
    master = account(demo, "master@paodemel.example")
    token = api_login(api, master)
    requests.post(f"{api}/users", headers={"Authorization": f"Bearer {token['access_token']}"},
                  json={"email": "nova.cobranca@paodemel.example", "name": "Nina", "roles": ["cobranca"]}
                  ).raise_for_status()
    welcome = _wait_for_file(var_dir / "outbox", "nova.cobranca@paodemel.example")
    text = email.message_from_bytes(welcome.read_bytes(), policy=policy.default) \
        .get_body(preferencelist=("plain",)).get_content()
    password = text.split("senha temporária: ")[1].split()[0]

    page = page_for(width=390, height=844)  # a phone
    login(page, {"email": "nova.cobranca@paodemel.example", "password": password})
    page.get_by_role("heading", name="Defina sua senha").wait_for()
    page.get_by_label("Nova senha").fill("Minha#Senha2026")
    page.get_by_role("button", name="Salvar e entrar").click()
    page.get_by_role("heading", name="Faturas", exact=True).wait_for()
    shot(page, "08-celular-painel")
    page.get_by_role("button", name="Menu").click()  # on a phone, the name and Sair are in the menu
    page.get_by_role("button", name="Sair").click()
    page.get_by_role("heading", name="Entrar no portal").wait_for()


def test_a_new_master_enrols_in_mfa_and_then_logs_in_with_its_code(page_for, demo, stack):
    api, var_dir, _ = stack
    operator = account(demo, "operador@brasoftware.example")
    organization_id = account(demo, "master@paodemel.example")["organization_id"]
    token = api_login(api, operator)["access_token"]
    requests.post(f"{api}/users", headers={"Authorization": f"Bearer {token}", "X-Organization-Id": organization_id},
                  json={"email": "nova.master@paodemel.example", "name": "Nara Master", "roles": ["master"]}
                  ).raise_for_status()
    welcome = _wait_for_file(var_dir / "outbox", "nova.master@paodemel.example")
    text = email.message_from_bytes(welcome.read_bytes(), policy=policy.default) \
        .get_body(preferencelist=("plain",)).get_content()
    temporary = text.split("senha temporária: ")[1].split()[0]

    page = page_for()
    login(page, {"email": "nova.master@paodemel.example", "password": temporary})
    page.get_by_role("heading", name="Defina sua senha").wait_for()
    page.get_by_label("Nova senha").fill("Nara#Senha2026")
    page.get_by_role("button", name="Salvar e entrar").click()
    # A Master must enrol before anything else: the portal shows the secret, and nothing else is open.
    page.get_by_role("heading", name="Ative a verificação em duas etapas").wait_for()
    assert nav(page, "Contrato").count() == 0
    secret = page.locator("#segredo-mfa").inner_text().strip()
    link = page.get_by_role("link", name="abra este link no celular").get_attribute("href")
    assert link.startswith("otpauth://totp/") and f"secret={secret}" in link
    shot(page, "09-mfa-cadastro")
    from tests.support import totp_code

    page.get_by_label("Código do aplicativo").fill("000000" if totp_code(secret) != "000000" else "111111")
    page.get_by_role("button", name="Ativar").click()
    page.get_by_role("alert").wait_for()  # a wrong code: told, still here
    page.get_by_label("Código do aplicativo").fill(totp_code(secret))
    page.get_by_role("button", name="Ativar").click()
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    nav(page, "Minha conta").click()
    page.locator("#situacao-mfa", has_text="ativa desde").wait_for()
    page.get_by_role("button", name="Sair").click()

    login(page, {"email": "nova.master@paodemel.example", "password": "Nara#Senha2026", "mfa_secret": secret})
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    shot(page, "09-mfa-entrou")


def test_an_optional_profile_turns_mfa_on_from_its_account_page(page_for, demo):
    page = page_for()
    login(page, account(demo, "suporte@paodemel.example"))
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    nav(page, "Minha conta").click()
    page.locator("#situacao-mfa", has_text="desativada").wait_for()
    page.get_by_role("button", name="Ativar verificação em duas etapas").click()
    secret = page.locator("#segredo-mfa").inner_text().strip()
    from tests.support import totp_code

    page.get_by_label("Código do aplicativo").fill(totp_code(secret))
    page.get_by_role("button", name="Ativar").click()
    page.get_by_text("Verificação em duas etapas ativada.").wait_for()
    page.get_by_role("button", name="Sair").click()
    login(page, {**account(demo, "suporte@paodemel.example"), "mfa_secret": secret})
    nav(page, "Minha conta").wait_for()


def _reload_until(page, condition, seconds=20):
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        page.wait_for_timeout(400)
        if condition():
            return
        page.evaluate("window.dispatchEvent(new HashChangeEvent('hashchange'))")  # re-render the screen
    shot(page, "zz-failure")
    pytest.fail("the portal never showed the expected state")


def _wait_for_file(folder, fragment, seconds=20):
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        found = [p for p in folder.glob("*.eml") if fragment in p.name] if folder.exists() else []
        if found:
            return found[0]
        time.sleep(0.3)
    pytest.fail(f"no email for {fragment}")


def test_sair_ends_the_session_at_the_api_and_trocar_senha_asks_for_the_new_password(page_for, demo, stack):
    api, var_dir, _ = stack
    master = account(demo, "master@paodemel.example")
    token = api_login(api, master)  # its password, then its TOTP code
    requests.post(f"{api}/users", headers={"Authorization": f"Bearer {token['access_token']}"},
                  json={"email": "sessoes@paodemel.example", "name": "Sara", "roles": ["suporte"]}).raise_for_status()
    welcome = _wait_for_file(var_dir / "outbox", "sessoes@paodemel.example")
    temporary = email.message_from_bytes(welcome.read_bytes(), policy=policy.default) \
        .get_body(preferencelist=("plain",)).get_content().split("senha temporária: ")[1].split()[0]
    challenge = requests.post(f"{api}/auth/login", json={"email": "sessoes@paodemel.example",
                                                          "password": temporary}).json()
    requests.post(f"{api}/auth/new-password", json={"email": "sessoes@paodemel.example", "session": challenge["session"],
                                                     "new_password": "Sara#Senha2026"}).raise_for_status()
    sara = {"email": "sessoes@paodemel.example", "password": "Sara#Senha2026"}

    page = page_for()
    login(page, sara)
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    refresh_token = page.evaluate("sessionStorage.getItem('refresh')")
    access_token = page.evaluate("sessionStorage.getItem('token')")
    assert requests.post(f"{api}/auth/refresh", json={"refresh_token": refresh_token}).status_code == 200
    page.get_by_role("button", name="Sair").click()
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    # Not only forgotten by the tab: the API refuses the session's tokens.
    assert requests.post(f"{api}/auth/refresh", json={"refresh_token": refresh_token}).status_code == 401
    assert requests.get(f"{api}/me", headers={"Authorization": f"Bearer {access_token}"}).status_code == 401

    login(page, sara)
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    page.get_by_role("button", name="Trocar senha").click()
    page.get_by_label("Senha atual").fill("Errada#2026senha")
    page.get_by_label("Nova senha").fill("Sara#Nova2026x")
    page.get_by_role("dialog").get_by_role("button", name="Trocar senha").click()
    page.get_by_role("alert").filter(has_text="A senha atual não confere").wait_for()
    page.get_by_label("Senha atual").fill("Sara#Senha2026")
    page.get_by_role("dialog").get_by_role("button", name="Trocar senha").click()
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    page.get_by_text("Senha alterada. Entre novamente com a nova senha.").wait_for()
    shot(page, "09-senha-trocada")
    page.wait_for_timeout(1100)  # token times are whole seconds: a login in the second of the change is refused
    login(page, {"email": "sessoes@paodemel.example", "password": "Sara#Nova2026x"})
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()


def test_a_billing_contact_that_bounces_is_flagged_to_cobranca_and_hidden_from_adm(page_for, demo, stack):
    """The whole path on the local stack: the contacts changed in the portal, the change's email sent
    to SES's simulated bounce domain, its bounce event through the topic, the warning on screen."""
    page = page_for()
    login(page, account(demo, "cobranca@paodemel.example"))
    page.get_by_role("heading", name="Faturas", exact=True).wait_for()
    nav(page, "Contrato").click()
    contacts = page.get_by_label("Um endereço por linha (até 10)")
    kept = contacts.input_value().split("\n")[0]
    contacts.fill(f"{kept}\nfinanceiro@bounce.invalid")
    page.get_by_role("button", name="Salvar contatos").click()
    page.locator('#contatos-cobranca li[data-email="financeiro@bounce.invalid"]').wait_for()
    warning = page.locator('li[data-email="financeiro@bounce.invalid"] .contato-suspenso')
    for _ in range(30):  # the email goes out, SES bounces it, the event comes back: a few seconds
        if warning.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
        page.locator("#contatos-cobranca").wait_for()
    # The day the product learnt of it, on the stack's clock (São Paulo), DD/MM/AAAA.
    assert re.fullmatch(r"Este endereço devolveu nossos e-mails \(bounce\) em \d\d/\d\d/\d{4}; os e-mails para ele "
                        r"estão suspensos até que seja alterado\.", warning.inner_text())
    assert warning.get_attribute("role") == "alert"
    assert page.locator(f'li[data-email="{kept}"] .contato-suspenso').count() == 0
    shot(page, "08-contato-suspenso")

    adm = page_for()  # Adm cannot change the contacts: neither the list nor the warning
    login(adm, account(demo, "adm@paodemel.example"))
    adm.get_by_role("heading", name="Painel de licenças").wait_for()
    nav(adm, "Contrato").click()
    adm.get_by_role("heading", name="Contrato").wait_for()
    assert adm.locator("#contatos-cobranca").count() == 0 and adm.locator(".contato-suspenso").count() == 0

    # Removed, the address is no longer flagged (the demo's contacts as they were).
    page.get_by_label("Um endereço por linha (até 10)").fill(kept)
    page.get_by_role("button", name="Salvar contatos").click()
    page.locator('#contatos-cobranca li[data-email="financeiro@bounce.invalid"]').wait_for(state="detached")
    assert page.locator(".contato-suspenso").count() == 0
