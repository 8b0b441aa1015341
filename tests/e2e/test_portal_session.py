"""The portal's session and feel in Chromium: tokens that refresh by themselves, a session that ends
(the login says so, keeps what was typed and returns to the same screen), Sair leaving no trace, the
loading state, errors in words (a field's label, a network failure with "Tentar novamente"), the
phone header, and axe-core on the login, MFA, account, privacy and users screens."""
import email
import time
from email import policy

import requests

from tests.e2e.conftest import api_login
from tests.e2e.portal import *  # noqa: F401,F403
from tests.e2e.portal import PHONE, accessible, account, login, nav, type_code

pytestmark = browser_marks("portal_session")  # noqa: F405

EXPIRED = "Sua sessão expirou. Entre novamente para continuar."
NETWORK = "Não foi possível falar com o servidor. Verifique sua conexão."


def _temporary_password(var_dir, address, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        for path in sorted((var_dir / "outbox").glob("*")) if (var_dir / "outbox").exists() else []:
            if address in path.read_text(errors="ignore"):
                text = email.message_from_bytes(path.read_bytes(), policy=policy.default) \
                    .get_body(preferencelist=("plain",)).get_content()
                return text.split("senha temporária: ")[1].split()[0]
        time.sleep(0.3)
    raise AssertionError(f"no welcome email to {address}")


def _end_session_elsewhere(api, page):
    """"Sair" in another tab: the API refuses this tab's access token and its refresh token from now on."""
    refresh_token = page.evaluate("sessionStorage.getItem('refresh')")
    assert requests.post(f"{api}/auth/logout", json={"refresh_token": refresh_token}).status_code == 204


def _storage(page):
    return page.evaluate("Object.fromEntries(Object.entries(sessionStorage))")


def test_login_mfa_and_privacy_screens_are_accessible(page_for, demo):
    page = page_for()
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    accessible(page, "sessao-login")
    # The browser's own check speaks our words, next to the field, naming its label.
    page.get_by_role("button", name="Entrar").click()
    page.get_by_text("E-mail: preencha este campo.").wait_for()
    assert page.get_by_label("E-mail").get_attribute("aria-invalid") == "true"
    page.get_by_label("E-mail").fill("nao-e-um-email")
    page.get_by_role("button", name="Entrar").click()
    page.get_by_text("E-mail: informe um e-mail válido").wait_for()
    accessible(page, "sessao-login-erros")

    page.get_by_role("link", name="Privacidade e proteção de dados (LGPD)").click()
    page.get_by_role("heading", name="Privacidade e proteção de dados").wait_for()
    assert page.evaluate("document.activeElement.tagName") == "H1"  # focus moved to the new screen
    accessible(page, "sessao-privacidade-anonima")
    page.get_by_role("link", name="Voltar para o login").click()

    master = account(demo, "master@paodemel.example")
    page.get_by_label("E-mail").fill(master["email"])
    page.get_by_label("Senha").fill(master["password"])
    page.get_by_role("button", name="Entrar").click()
    page.get_by_role("heading", name="Verificação em duas etapas").wait_for()
    page.get_by_role("button", name="Verificar").click()
    page.get_by_text("Código de verificação: preencha este campo.").wait_for()
    accessible(page, "sessao-codigo-mfa")
    type_code(page, master["mfa_secret"])
    page.get_by_role("heading", name="Painel de licenças").wait_for()

    nav(page, "Privacidade").click()
    page.get_by_role("button", name="Exportar dados da organização").wait_for()
    accessible(page, "sessao-privacidade")

    # Usuários: the invite form, a refusal of the API shown by the field it names, the roles dialog.
    nav(page, "Usuários").click()
    page.get_by_role("heading", name="Usuários e perfis").wait_for()
    page.get_by_label("E-mail").fill("convidado.sessao@paodemel.example")
    page.get_by_label("Nome").fill("Caio Convidado")
    page.get_by_role("button", name="Convidar").click()  # no profile chosen: the API refuses
    page.get_by_text("Perfis: escolha ao menos um.").wait_for()
    assert page.get_by_label("Master").get_attribute("aria-invalid") == "true"
    assert "roles" not in page.locator("main").inner_text()
    accessible(page, "sessao-usuarios-convite")
    page.get_by_label("Suporte", exact=True).check()
    assert page.get_by_text("Perfis: escolha ao menos um.").count() == 0  # ticking one takes the message away
    assert page.get_by_label("Master").get_attribute("aria-invalid") is None
    page.get_by_role("button", name="Convidar").click()
    row = page.locator("tr", has_text="Caio Convidado")
    row.wait_for()
    page.get_by_role("button", name="Perfis de Caio Convidado").click()
    page.get_by_role("dialog", name="Perfis de Caio Convidado").wait_for()
    accessible(page, "sessao-usuarios-perfis")
    page.get_by_role("dialog").get_by_role("button", name="Cancelar").click()
    assert page.get_by_role("button", name="Remover Caio Convidado").count() == 1

    page.get_by_role("button", name="Trocar senha").click()
    page.get_by_role("dialog", name="Trocar senha").wait_for()
    accessible(page, "sessao-dialogo-senha")
    page.get_by_role("dialog").get_by_role("button", name="Cancelar").click()


def test_first_password_enrolment_and_account_are_accessible(page_for, demo, stack):
    api, var_dir, _ = stack
    master = api_login(api, account(demo, "master@paodemel.example"))
    requests.post(f"{api}/users", headers={"Authorization": f"Bearer {master['access_token']}"},
                  json={"email": "primeiro.acesso@paodemel.example", "name": "Paula Primeira",
                        "roles": ["adm"]}).raise_for_status()
    temporary = _temporary_password(var_dir, "primeiro.acesso@paodemel.example")

    page = page_for()
    login(page, {"email": "primeiro.acesso@paodemel.example", "password": temporary})
    page.get_by_role("heading", name="Defina sua senha").wait_for()
    accessible(page, "sessao-nova-senha")
    page.get_by_label("Nova senha").fill("Paula#Senha2026")
    page.get_by_role("button", name="Salvar e entrar").click()
    page.get_by_role("heading", name="Painel de licenças").wait_for()

    nav(page, "Minha conta").click()
    page.get_by_role("heading", name="Minha conta").wait_for()
    accessible(page, "sessao-minha-conta")
    page.get_by_role("button", name="Ativar verificação em duas etapas").click()
    page.get_by_role("heading", name="Ative a verificação em duas etapas").wait_for()
    accessible(page, "sessao-ativar-mfa")


def test_tokens_refresh_by_themselves(page_for, demo):
    page = page_for()
    login(page, account(demo, "suporte@paodemel.example"))
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    first = _storage(page)
    assert int(first["expiresAt"]) > time.time() * 1000 + 30 * 60 * 1000  # an hour's token

    # An access token the API no longer takes (expired): the portal refreshes it and sends the request again.
    refreshes = []
    page.on("request", lambda r: refreshes.append(r) if r.url.endswith("/auth/refresh") else None)
    page.evaluate("sessionStorage.setItem('token', 'expirado.expirado.expirado')")
    page.reload()
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    assert page.get_by_text(EXPIRED).count() == 0
    after = _storage(page)
    assert after["token"] != "expirado.expirado.expirado"
    assert len(refreshes) == 1

    # A minute before it expires, the token is refreshed without any request needing it.
    page.evaluate("sessionStorage.setItem('expiresAt', String(Date.now() + 30000))")
    page.reload()
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    page.wait_for_function("() => Number(sessionStorage.getItem('expiresAt')) > Date.now() + 30 * 60 * 1000")
    assert len(refreshes) == 2


def test_a_session_that_ends_keeps_what_was_typed_for_the_same_user_only(page_for, demo, stack):
    api = stack[0]
    suporte = account(demo, "suporte@paodemel.example")
    page = page_for()
    login(page, suporte)
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    page.get_by_label("Assunto").fill("Licenças sumiram")
    page.get_by_label("Severidade").select_option("alta")
    page.get_by_label("Descrição").fill("Metade do texto que eu estava escrevendo")
    refreshes = []
    page.on("request", lambda r: refreshes.append(r) if r.url.endswith("/auth/refresh") else None)

    _end_session_elsewhere(api, page)
    page.get_by_role("button", name="Abrir chamado").click()
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    page.get_by_text(EXPIRED).wait_for()
    assert len(refreshes) == 1  # one try to refresh, no loop
    assert page.locator("#usuario").inner_text() == "" and "Sérgio" not in page.inner_text("body")
    assert set(_storage(page)) == {"rascunho", "sessaoExpirada"}
    assert "Metade do texto" not in page.inner_text("body")
    assert page.get_by_label("E-mail").input_value() == suporte["email"]
    accessible(page, "sessao-expirada")

    page.get_by_label("Senha").fill(suporte["password"])
    page.get_by_role("button", name="Entrar").click()
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    page.get_by_label("Descrição").and_(page.locator("textarea")).wait_for()
    page.wait_for_function("() => document.querySelector('textarea').value !== ''")
    assert page.get_by_label("Assunto").input_value() == "Licenças sumiram"
    assert page.get_by_label("Severidade").input_value() == "alta"
    assert page.get_by_label("Descrição").input_value() == "Metade do texto que eu estava escrevendo"
    assert "rascunho" not in _storage(page) and "sessaoExpirada" not in _storage(page)

    # Another user signing in after an expiry finds nothing of the previous one's.
    page.get_by_label("Descrição").fill("Texto que outro não pode ver")
    _end_session_elsewhere(api, page)
    page.get_by_role("button", name="Abrir chamado").click()
    page.get_by_text(EXPIRED).wait_for()
    login(page, account(demo, "master@paodemel.example"))  # the same organisation, another user
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    assert _storage(page).keys() == {"token", "refresh", "expiresAt"}
    nav(page, "Suporte").click()
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    assert page.get_by_label("Descrição").input_value() == ""


def test_sair_leaves_no_trace_and_back_shows_nothing(page_for, demo):
    page = page_for()
    login(page, account(demo, "cobranca@paodemel.example"))
    page.get_by_role("heading", name="Faturas", exact=True).wait_for()
    nav(page, "Minha conta").click()
    page.get_by_role("heading", name="Minha conta").wait_for()
    page.evaluate("sessionStorage.setItem('rascunho', '{}')")
    page.get_by_role("button", name="Sair").click()
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    body = page.inner_text("body")
    assert "Cíntia" not in body and "Pão de Mel" not in body and "cobranca@" not in body
    assert page.evaluate("sessionStorage.length") == 0
    assert page.locator("dialog").count() == 0 and page.locator("#menu a").count() == 0
    page.go_back()
    page.wait_for_timeout(300)
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    assert "Cíntia" not in page.inner_text("body")


def test_network_errors_in_words_with_retry_and_loading_state(page_for, demo):
    page = page_for()
    login(page, account(demo, "suporte@paodemel.example"))
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    assert page.locator("main").get_attribute("aria-busy") is None
    # A refusal of the API about a field of a form whose inputs have no name: still the field's label.
    page.get_by_label("Assunto").fill("   ")
    page.get_by_label("Descrição").fill("Só espaços no assunto")
    page.get_by_role("button", name="Abrir chamado").click()
    page.get_by_text("Assunto: preencha este campo.").wait_for()
    assert page.get_by_label("Assunto").get_attribute("aria-invalid") == "true"
    assert "subject" not in page.inner_text("main")

    # The server unreachable: the words, and "Tentar novamente" loads the screen once it is back.
    page.route("**/tickets", lambda route: route.abort())
    page.evaluate("""() => { window.busySeen = [];
        new MutationObserver(() => window.busySeen.push(document.querySelector('main').getAttribute('aria-busy')))
          .observe(document.querySelector('main'), { attributes: true, attributeFilter: ['aria-busy'] }); }""")
    nav(page, "Minha conta").click()
    page.get_by_role("heading", name="Minha conta").wait_for()
    assert page.evaluate("document.activeElement.textContent") == "Minha conta"
    assert "true" in page.evaluate("window.busySeen")  # main said it was loading, then stopped
    assert page.locator("main").get_attribute("aria-busy") is None
    nav(page, "Suporte").click()
    page.get_by_text(NETWORK).wait_for()
    assert "Failed to fetch" not in page.inner_text("main")
    accessible(page, "sessao-erro-rede")
    page.unroute("**/tickets")
    # A proxy's HTML page instead of the API's answer: the same words.
    page.route("**/tickets", lambda route: route.fulfill(status=502, content_type="text/html",
                                                          body="<html><body>Bad gateway</body></html>"))
    page.get_by_role("button", name="Tentar novamente").click()
    page.get_by_text(NETWORK).wait_for()
    assert "Bad gateway" not in page.inner_text("main") and "JSON" not in page.inner_text("main")
    page.unroute("**/tickets")
    page.get_by_role("button", name="Tentar novamente").click()
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    assert page.get_by_text(NETWORK).count() == 0

    # A submit that cannot reach the server: the words, the form keeps what was typed, it can be sent again.
    page.get_by_label("Assunto").fill("Sem rede")
    page.get_by_label("Descrição").fill("Enviado de novo")
    page.route("**/tickets", lambda route: route.abort() if route.request.method == "POST" else route.continue_())
    page.get_by_role("button", name="Abrir chamado").click()
    page.get_by_text(NETWORK).wait_for()
    assert page.get_by_label("Descrição").input_value() == "Enviado de novo"
    assert page.get_by_role("button", name="Abrir chamado").is_enabled()
    page.unroute("**/tickets")
    page.get_by_role("button", name="Tentar novamente").click()
    page.get_by_role("heading", name="Chamado #", exact=False).wait_for()


def test_the_phone_header_opens_a_menu(page_for, demo):
    page = page_for(width=PHONE["width"], height=PHONE["height"])
    login(page, account(demo, "master@paodemel.example"))
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    menu_button = page.get_by_role("button", name="Menu")
    assert menu_button.get_attribute("aria-expanded") == "false"
    assert not nav(page, "Faturas").is_visible() and not page.get_by_role("button", name="Sair").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    menu_button.click()
    assert menu_button.get_attribute("aria-expanded") == "true"
    assert nav(page, "Faturas").is_visible() and page.get_by_role("button", name="Sair").is_visible()
    assert "Marta Master" in page.locator("#usuario").inner_text()
    accessible(page, "sessao-menu-celular")
    nav(page, "Faturas").click()
    page.get_by_role("heading", name="Faturas", exact=True).wait_for()
    assert menu_button.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.tagName") == "H1"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    menu_button.click()
    page.get_by_role("button", name="Sair").click()
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    assert not menu_button.is_visible()


CORE = "new URL('portal/assets/core.js', location.href).href"
SESSION = "new URL('portal/assets/session.js', location.href).href"


def test_a_refresh_the_api_cannot_answer_keeps_the_session_and_short_lifetimes_do_not_loop(page_for, demo):
    page = page_for()
    login(page, account(demo, "suporte@paodemel.example"))
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    refreshes = []
    page.on("request", lambda r: refreshes.append(r) if r.url.endswith("/auth/refresh") else None)

    # Cognito throttling (429) or a failure (503) while refreshing: not the end of the session, the
    # network's words and "Tentar novamente", which works once the API answers again.
    def failing(status):
        return lambda route: route.fulfill(status=status, content_type="application/json",
                                           body='{"error": {"code": "too_many_requests", "message": "Muitas requisições."}}')
    for status in (429, 503):
        page.route("**/auth/refresh", failing(status))
        nav(page, "Minha conta").click()
        page.get_by_role("heading", name="Minha conta").wait_for()
        page.evaluate(f"async () => {{ (await import({CORE})).state.token = 'expirado.expirado.expirado'; }}")
        nav(page, "Suporte").click()
        page.get_by_text(NETWORK).wait_for()
        assert page.get_by_text(EXPIRED).count() == 0 and page.get_by_role("heading", name="Entrar no portal").count() == 0
        assert {"token", "refresh"} <= set(_storage(page))
        page.unroute("**/auth/refresh")
        page.get_by_role("button", name="Tentar novamente").click()
        page.get_by_role("heading", name="Suporte", exact=True).wait_for()

    # The wait before a refresh: a minute before the end, or halfway through a short lifetime.
    waits = page.evaluate(f"""async () => {{ const s = await import({SESSION});
        return [3600000, 120000, 60000, 30000, 0, -5000].map(s.refreshWait); }}""")
    assert waits == [3540000, 60000, 30000, 15000, 1000, 1000]
    # Tokens of 30 s from the identity provider: refreshed every 15 s, not in a loop.
    def short_lived(route):
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), "expires_in": 30})
    page.route("**/auth/refresh", short_lived)
    before = len(refreshes)
    page.evaluate("sessionStorage.setItem('expiresAt', String(Date.now() + 1000))")
    page.reload()
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    page.wait_for_function("() => Number(sessionStorage.getItem('expiresAt')) > Date.now() + 20000")
    page.wait_for_timeout(3000)
    assert len(refreshes) - before == 1
    page.unroute("**/auth/refresh")


def test_a_request_of_one_session_is_never_sent_again_in_the_next(page_for, demo):
    suporte, cobranca = account(demo, "suporte@paodemel.example"), account(demo, "cobranca@paodemel.example")
    page = page_for()
    login(page, suporte)
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    held, seen = [], []

    def hold(route):
        seen.append(route.request.headers.get("authorization"))
        held.append(route)
    page.route("**/sonda-lenta", hold)
    page.evaluate(f"""async () => {{ const core = await import({CORE});
        window.sonda = core.api("GET", "/sonda-lenta").then(() => "ok", (e) => e.code); }}""")
    page.wait_for_function("() => true")
    assert len(seen) == 1
    # "Sair": the login keeps nothing of the user, not even its e-mail or an expiry notice.
    page.get_by_role("button", name="Sair").click()
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    assert page.get_by_label("E-mail").input_value() == "" and page.get_by_text(EXPIRED).count() == 0
    login(page, cobranca)
    page.get_by_role("heading", name="Faturas", exact=True).wait_for()
    # The first user's slow request answers 401 now: not sent again with the new user's token, and the
    # new session goes on.
    held[0].fulfill(status=401, content_type="application/json",
                    body='{"error": {"code": "unauthorized", "message": "Não autenticado."}}')
    assert page.evaluate("window.sonda") == "session_expired"
    assert len(seen) == 1
    assert page.get_by_text(EXPIRED).count() == 0 and page.get_by_role("heading", name="Faturas", exact=True).count() == 1
    assert {"token", "refresh"} <= set(_storage(page))
    page.unroute("**/sonda-lenta")


def test_what_was_typed_in_a_dialog_comes_back_with_it_and_logout_forgets_the_email(page_for, demo, stack):
    api = stack[0]
    master, suporte = account(demo, "master@oficinadigital.example"), account(demo, "suporte@paodemel.example")
    page = page_for()
    login(page, master)
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    page.get_by_role("button", name="Rescindir contrato").click()
    page.get_by_label("Motivo (opcional)").fill("Vamos mudar de fornecedor no próximo trimestre")
    _end_session_elsewhere(api, page)
    page.evaluate(f"async () => {{ await (await import({CORE})).api('GET', '/me').catch(() => null); }}")
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    page.get_by_text(EXPIRED).wait_for()
    assert page.get_by_label("E-mail").input_value() == master["email"]
    assert page.locator("dialog").count() == 0 and "próximo trimestre" not in page.inner_text("body")

    login(page, master)
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    page.locator("#aviso").get_by_text("Seu texto foi guardado").wait_for()
    page.get_by_role("button", name="Rescindir contrato").click()
    assert page.get_by_label("Motivo (opcional)").input_value() == "Vamos mudar de fornecedor no próximo trimestre"
    page.get_by_role("button", name="Voltar").click()
    assert "rascunho" not in _storage(page) and "rascunhoDialogo" not in _storage(page)

    # A draft typed while an operator "viewed as" a customer comes back only in that context.
    page.evaluate("""() => sessionStorage.setItem('rascunho', JSON.stringify({ user: %s, acting: 'org-de-outro',
        hash: location.hash, fields: {}, dialog: { title: 'Rescindir contrato', fields: { 'Motivo (opcional)#1': 'de outro contexto' } } }))"""
                  % page.evaluate(f"async () => JSON.stringify((await import({CORE})).state.me.user.id)"))
    page.reload()
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    page.get_by_role("button", name="Rescindir contrato").click()
    assert page.get_by_label("Motivo (opcional)").input_value() == ""
    page.get_by_role("button", name="Voltar").click()

    # After an expiry, another user signing in takes the notice and the e-mail away; "Sair" leaves none.
    _end_session_elsewhere(api, page)
    page.evaluate(f"async () => {{ await (await import({CORE})).api('GET', '/me').catch(() => null); }}")
    page.get_by_text(EXPIRED).wait_for()
    login(page, suporte)
    page.get_by_role("heading", name="Suporte", exact=True).wait_for()
    page.get_by_role("button", name="Sair").click()
    page.get_by_role("heading", name="Entrar no portal").wait_for()
    assert page.get_by_label("E-mail").input_value() == "" and page.get_by_text(EXPIRED).count() == 0
    assert page.evaluate("sessionStorage.length") == 0
