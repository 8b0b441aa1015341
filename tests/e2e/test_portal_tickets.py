"""Tickets in the browser, both sides: the customer opens a ticket with a screenshot, the operator
finds it in its queue (most severe first, then the oldest), downloads the screenshot and answers
with a PDF, moves the status, and the customer reads the answer and downloads the PDF."""
from pathlib import Path

import requests

from tests.e2e.conftest import api_login
from tests.e2e.portal import *  # noqa: F401,F403
from tests.e2e.portal import accessible, account, login, nav

pytestmark = browser_marks("portal_tickets")  # noqa: F405

PNG = b"\x89PNG\r\n\x1a\n" + bytes.fromhex(
    "0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201"
    "a5d2d84e0000000049454e44ae426082")
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _open_by_api(api, who, subject, severity):
    token = api_login(api, who)["access_token"]
    answer = requests.post(f"{api}/tickets", headers={"Authorization": f"Bearer {token}"}, json={
        "subject": subject, "category": "outro", "severity": severity, "description": f"{subject}: detalhes."})
    answer.raise_for_status()
    return answer.json()


def test_a_ticket_with_attachments_goes_from_the_customer_to_the_operator_and_back(page_for, demo, stack):
    api = stack[0]
    support = account(demo, "suporte@paodemel.example")
    # Older tickets of lower severity: the new critical one must still come first in the queue.
    low = _open_by_api(api, support, "Dúvida sobre o boleto", "baixa")
    medium = _open_by_api(api, support, "Teams lento", "media")

    customer = page_for()
    login(customer, support)
    nav(customer, "Suporte").click()
    customer.get_by_role("link", name=f"Abrir o chamado #{low['number']}").wait_for()
    accessible(customer, "chamados-cliente-lista")
    customer.get_by_label("Assunto").fill("Outlook não abre")
    customer.get_by_label("Severidade").select_option("critica")
    customer.get_by_label("Descrição").fill("O Outlook fecha ao abrir; segue a tela.")
    customer.get_by_label("Anexos (opcional)").set_input_files(
        {"name": "tela do erro.png", "mimeType": "image/png", "buffer": PNG})
    customer.get_by_role("button", name="Abrir chamado").click()
    customer.get_by_role("button", name="Baixar tela do erro.png").wait_for()
    customer.get_by_role("heading", name="Chamado #").wait_for()
    number = int(customer.get_by_role("heading", level=1).inner_text().split("#")[1].split(":")[0])
    accessible(customer, "chamado-cliente")

    operator = page_for()
    login(operator, account(demo, "operador@brasoftware.example"))
    operator.get_by_role("heading", name="Chamados", exact=True).wait_for()
    first = operator.get_by_role("link", name=f"Abrir o chamado #{number}")
    first.wait_for()
    rows = operator.locator("table tbody tr")
    order = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert order.index(f"#{number}") < order.index(f"#{medium['number']}") < order.index(f"#{low['number']}")
    assert "agora" in rows.first.inner_text() or "há" in rows.first.inner_text()
    accessible(operator, "fila-chamados")
    # A filter with nothing in it says so in words.
    operator.get_by_label("Situação").select_option("resolved")
    operator.get_by_role("button", name="Filtrar").click()
    operator.get_by_text("Nenhum chamado na fila").wait_for()
    # The queue asks the server for the tickets to work only (not every ticket, sorted here).
    with operator.expect_request(lambda r: "/backoffice/tickets?" in r.url) as asked:
        operator.get_by_role("button", name="Limpar filtros").click()
    assert "status=open,in_progress,waiting_customer&" in asked.value.url
    assert operator.locator(".fila-cortada").count() == 0

    operator.get_by_role("link", name=f"Abrir o chamado #{number}").click()
    operator.get_by_role("heading", name=f"Chamado #{number}: Outlook não abre").wait_for()
    with operator.expect_download() as download:
        operator.get_by_role("button", name="Baixar tela do erro.png").click()
    assert download.value.suggested_filename == "tela do erro.png"
    assert Path(download.value.path()).read_bytes() == PNG
    operator.get_by_label("Mensagem").fill("Siga o procedimento do PDF, por favor.")
    operator.get_by_label("Anexos (opcional)").set_input_files(
        {"name": "Procedimento de correção.pdf", "mimeType": "application/pdf", "buffer": PDF})
    operator.get_by_role("button", name="Enviar resposta").click()
    operator.get_by_role("button", name="Baixar Procedimento de correção.pdf").wait_for()
    operator.get_by_label("Nova situação").select_option("waiting_customer")
    accessible(operator, "chamado-operador")
    operator.get_by_role("button", name="Mudar situação").click()
    operator.locator(".etiqueta.situacao.waiting_customer").wait_for()

    customer.reload()
    customer.get_by_text("Siga o procedimento do PDF, por favor.").wait_for()
    customer.get_by_text("Aguardando cliente").wait_for()
    with customer.expect_download() as download:
        customer.get_by_role("button", name="Baixar Procedimento de correção.pdf").click()
    assert download.value.suggested_filename == "Procedimento de correção.pdf"
    assert Path(download.value.path()).read_bytes() == PDF


def test_a_file_too_large_or_of_another_type_is_refused_in_words(page_for, demo, stack):
    support = account(demo, "suporte@paodemel.example")
    ticket = _open_by_api(stack[0], support, "Arquivo recusado", "baixa")
    page = page_for()
    login(page, support)
    page.get_by_role("link", name=f"Abrir o chamado #{ticket['number']}").click()
    page.get_by_label("Mensagem").fill("Segue o instalador.")
    page.get_by_label("Anexos (opcional)").set_input_files(
        {"name": "setup.png", "mimeType": "image/png", "buffer": b"MZ\x90\x00" + b"\x00" * 64})
    page.get_by_role("button", name="Enviar resposta").click()
    page.get_by_role("alert").get_by_text("setup.png: Tipo de arquivo não aceito").wait_for()
    page.get_by_label("Anexos (opcional)").set_input_files(
        {"name": "grande.png", "mimeType": "image/png", "buffer": PNG + b"\x00" * (4 * 1024 * 1024)})
    page.get_by_role("button", name="Enviar resposta").click()
    page.get_by_role("alert").get_by_text("O arquivo grande.png tem 4 MB; o limite é 4 MB por arquivo.").wait_for()
    assert page.locator(".mensagem").count() == 1  # nothing was sent


def test_a_queue_longer_than_the_screen_loads_says_it_was_cut(page_for, demo):
    """More tickets to work than the screen loads (2,000): the operator is told, in words."""
    import json

    served = []

    def endless_queue(route):
        served.append(route.request.url)
        page = int(route.request.url.split("next_token=p")[1].split("&")[0]) if "next_token=" in route.request.url else 0
        start = page * 100
        items = [{"id": f"t{n}", "number": n + 1, "organization_id": "org", "subject": f"Chamado {n + 1}",
                  "category": "outro", "severity": "alta" if n % 500 == 0 else "media", "status": "open",
                  "status_label": "Aberto",
                  "opened_by": "u", "opened_by_email": "u@x.example", "created_at": "2026-11-01T12:00:00+00:00",
                  "updated_at": "2026-11-01T12:00:00+00:00", "messages_count": 1, "version": 1}
                 for n in range(start, start + 100)]
        route.fulfill(status=200, content_type="application/json",
                      body=json.dumps({"items": items, "next_token": f"p{page + 1}"}))

    operator = page_for()
    operator.route("**/backoffice/tickets?*", endless_queue)
    login(operator, account(demo, "operador@brasoftware.example"))
    warning = operator.locator(".fila-cortada")
    warning.wait_for()
    assert len(served) == 20 and all("status=open,in_progress,waiting_customer" in u for u in served)
    assert "A lista foi cortada: só os 2.000 chamados mais recentes foram carregados" in warning.inner_text()
    operator.get_by_role("link", name="Abrir o chamado #2000").wait_for()
    # Checked with a few rows shown (2,000 rows make a screenshot too large): the warning stays.
    operator.get_by_label("Severidade").select_option("alta")
    operator.get_by_role("button", name="Filtrar").click()
    operator.get_by_role("link", name="Abrir o chamado #2", exact=True).wait_for(state="detached")
    operator.get_by_role("link", name="Abrir o chamado #501").wait_for()
    assert operator.locator("table tbody tr").count() == 4 and warning.is_visible()
    accessible(operator, "fila-chamados-cortada")
