"""Integrações in the browser: a Master adds a webhook endpoint (a receiver in this test, on
127.0.0.1: the stack runs with WEBHOOKS_ALLOW_LOOPBACK on), copies the secret shown once, sends a
test event and the receiver gets it, signed with that secret; the delivery shows "Entregue". The
receiver then answers 500 and "Reenviar" shows the failure and the next attempt. A private address is
refused next to the URL field. The screen and its dialogs are axe-clean at 1280 and 390 px."""
import json
import re
import time

import pytest
import requests

from local.webhook_receiver import Receiver, verify
from tests.e2e.conftest import api_login, start_stack
from tests.e2e.portal import *  # noqa: F401,F403
from tests.e2e.portal import accessible, account, login, nav

pytestmark = browser_marks("portal_webhooks")  # noqa: F405


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    api, process = start_stack(var_dir, {"WEBHOOKS_ALLOW_LOOPBACK": "true"})
    yield api, var_dir, process
    if process.poll() is None:
        process.kill()


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


def _wait(condition, seconds=60, what="the condition"):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"{what} never held within {seconds} s"
        time.sleep(0.3)


def _endpoints(api, who):
    token = api_login(api, who)["access_token"]
    answer = requests.get(f"{api}/webhooks", headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    return answer.json()["items"]


def _row_status(page):
    return page.locator("tr[data-delivery]").first.get_attribute("data-status")


def test_a_master_adds_an_endpoint_and_the_erp_receives_signed_events(page_for, demo, stack, receiver):
    api = stack[0]
    master = account(demo, "master@paodemel.example")
    page = page_for()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=api)
    login(page, master)
    nav(page, "Integrações").click()
    page.get_by_role("heading", name="Integrações", level=1).wait_for()
    page.get_by_text("Nenhum endpoint cadastrado.").wait_for()
    accessible(page, "integracoes-vazia")

    # A private address: refused by the API, the sentence next to the URL field; nothing created.
    page.get_by_role("button", name="Adicionar endpoint").click()
    dialog = page.get_by_role("dialog", name="Adicionar endpoint")
    accessible(page, "integracoes-adicionar")
    dialog.get_by_label("URL do endpoint").fill("https://10.0.0.5/x")
    dialog.get_by_role("button", name="Adicionar").click()
    url_field = dialog.get_by_label("URL do endpoint")
    message = dialog.locator(".erro-campo")
    message.wait_for()
    assert message.inner_text().startswith("URL do endpoint: ")
    assert url_field.get_attribute("aria-invalid") == "true"
    assert message.get_attribute("id") in url_field.get_attribute("aria-describedby")
    # The refusal says why, never the address a name resolved to (no DNS oracle for a Master).
    assert "rede privada" in message.inner_text() and "10.0.0.5" not in message.inner_text()
    accessible(page, "integracoes-url-recusada")
    assert _endpoints(api, master) == []

    # The receiver's URL, two events only.
    url_field.fill(receiver.url)
    for label in ("Fatura paga", "Fatura vencida", "Fatura cancelada", "Assinatura alterada"):
        dialog.get_by_label(label).uncheck()
    dialog.get_by_label("Descrição (opcional)").fill("ERP financeiro")
    dialog.get_by_role("button", name="Adicionar").click()
    shown = page.get_by_role("dialog", name="Endpoint adicionado")
    shown.get_by_text("ele não será mostrado novamente").wait_for()
    secret = shown.locator("#segredo-webhook").inner_text()
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}=?", secret), secret
    accessible(page, "integracoes-segredo")
    shown.get_by_role("button", name="Copiar segredo").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == secret
    shown.get_by_role("button", name="Já guardei, fechar").click()

    card = page.locator("section.endpoint")
    card.get_by_role("heading", name=receiver.url).wait_for()
    assert "Fatura emitida, Chamado atualizado" in card.inner_text()
    assert "ERP financeiro" in card.inner_text()
    assert secret not in page.content()  # never again
    [created] = _endpoints(api, master)
    assert created["url"] == receiver.url and "secret" not in created
    assert sorted(created["events"]) == ["invoice.issued", "ticket.updated"]

    # "Enviar teste": the receiver gets one POST, signed with the copied secret.
    card.get_by_role("button", name=f"Enviar teste para {receiver.url}").click()
    _wait(lambda: len(receiver.requests) >= 1, what="the test event's POST")
    request = receiver.requests[0]
    event = verify(copied, request.headers["X-CSP-Signature"], request.body)
    assert event["type"] == "webhook.test" and event["id"].startswith("evt_")
    assert request.headers["X-CSP-Event-Id"] == event["id"]
    assert request.headers["X-CSP-Event-Type"] == "webhook.test"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.headers["User-Agent"] == "csp-portal-webhooks/1"
    with pytest.raises(ValueError):
        verify(copied, request.headers["X-CSP-Signature"], request.body + b" ")  # the exact bytes only
    # The delivery shows "Entregue" (Atualizar until the worker recorded it).
    row = page.locator("tr[data-delivery]").first
    deadline = time.time() + 60
    while _row_status(page) != "delivered":
        assert time.time() < deadline, "the delivery never showed as delivered"
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Atualizar").click()
        page.wait_for_function("() => !document.querySelector('[aria-busy=\"true\"]')")
    assert "Entregue" in row.inner_text() and "Teste" in row.inner_text() and "HTTP 200" in row.inner_text()
    accessible(page, "integracoes-entregue")

    # The ERP fails: "Reenviar" sends the same event again; the delivery shows the failure and when
    # the next attempt is.
    receiver.status = 500
    page.locator("tr[data-delivery]").first.get_by_role("button", name=re.compile("^Reenviar")).click()
    _wait(lambda: len(receiver.requests) >= 2, what="the resent POST")
    again = receiver.requests[1]
    assert json.loads(again.body)["id"] == event["id"]  # the same event
    assert verify(copied, again.headers["X-CSP-Signature"], again.body)["id"] == event["id"]
    deadline = time.time() + 60
    while _row_status(page) not in ("retrying", "failed"):
        assert time.time() < deadline, "the failed attempt never showed"
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Atualizar").click()
        page.wait_for_function("() => !document.querySelector('[aria-busy=\"true\"]')")
    text = page.locator("tr[data-delivery]").first.inner_text()
    assert "HTTP 500" in text and "HTTP 500 · HTTP 500" not in text
    assert re.search(r"Nova tentativa às \d\d:\d\d", text) or "Falhou" in text, text
    accessible(page, "integracoes-falha")

    # Remover, confirmed in a dialog: the endpoint is gone.
    page.locator("section.endpoint").get_by_role("button", name=f"Remover {receiver.url}").click()
    confirm = page.get_by_role("dialog", name="Remover endpoint?")
    accessible(page, "integracoes-remover")
    confirm.get_by_role("button", name="Remover").click()
    page.get_by_text("Nenhum endpoint cadastrado.").wait_for()
    assert _endpoints(api, master) == []


def test_cobranca_has_no_integracoes(page_for, demo, stack):
    """Only the Master (and an operator viewing as the customer) manages webhooks: Cobrança sees no
    menu entry, the address falls back to its home, and the API refuses it."""
    api = stack[0]
    billing = account(demo, "cobranca@paodemel.example")
    page = page_for(path="/#/integracoes")
    login(page, billing)
    page.get_by_role("heading", name="Faturas", level=1).wait_for()
    assert nav(page, "Faturas").is_visible() and nav(page, "Integrações").count() == 0
    token = api_login(api, billing)["access_token"]
    refused = requests.get(f"{api}/webhooks", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


def test_older_deliveries_load_a_page_at_a_time(page_for, demo, stack, receiver):
    api = stack[0]
    master = account(demo, "master@paodemel.example")
    headers = {"Authorization": f"Bearer {api_login(api, master)['access_token']}"}
    made = requests.post(f"{api}/webhooks", headers=headers, json={"url": receiver.url, "events": ["ticket.updated"]})
    assert made.status_code == 201, made.text
    endpoint = made.json()
    try:
        for _ in range(22):
            assert requests.post(f"{api}/webhooks/{endpoint['id']}/test", headers=headers).status_code == 202
        page = page_for()
        login(page, master)
        nav(page, "Integrações").click()
        rows = page.locator(f"section[data-endpoint='{endpoint['id']}'] tr[data-delivery]")
        rows.first.wait_for()
        assert rows.count() == 20
        more = page.get_by_role("button", name=f"Carregar entregas mais antigas de {receiver.url}")
        more.click()
        page.wait_for_function(f"() => document.querySelectorAll(\"section[data-endpoint='{endpoint['id']}'] tr[data-delivery]\").length === 22")
        assert more.count() == 0  # nothing older
        ids = [rows.nth(i).get_attribute("data-delivery") for i in range(22)]
        assert len(set(ids)) == 22  # each delivery once, the older page below the newer
    finally:
        requests.delete(f"{api}/webhooks/{endpoint['id']}", headers=headers)
