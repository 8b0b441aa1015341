"""Exportações in Chromium (issue #21 §2): a Master generates the invoices export of a period, sees how
many rows it has and when its link ends, downloads the CSV and reads it back; the screen is
axe-clean at 1280 and 390 px, and a bad period is refused in words."""
import csv
import io
import time
from datetime import date, timedelta
from pathlib import Path

import requests

from tests.e2e.conftest import api_login
from tests.e2e.portal import *  # noqa: F401,F403
from tests.e2e.portal import accessible, account, login, nav

pytestmark = browser_marks("portal_exports")  # noqa: F405
OPERATOR = "operador@brasoftware.example"
MASTER = "master@oficinadigital.example"


def _billed(api, demo):
    """The operator's billing run for the demo customers' last closing (day 20); Oficina Digital's
    invoice once issued (the Master's own list)."""
    operator = {"Authorization": f"Bearer {api_login(api, account(demo, OPERATOR))['access_token']}"}
    today = date.today()
    closing = today.replace(day=20) if today.day > 20 else (today.replace(day=1) - timedelta(days=1)).replace(day=20)
    requests.post(f"{api}/backoffice/billing-runs", json={"period": f"{closing:%Y-%m}"},
                  headers=operator).raise_for_status()
    master = {"Authorization": f"Bearer {api_login(api, account(demo, MASTER))['access_token']}"}
    deadline = time.time() + 90
    while True:
        items = requests.get(f"{api}/invoices", headers=master, timeout=10).json()["items"]
        if items:
            return requests.get(f"{api}/invoices/{items[0]['id']}", headers=master, timeout=10).json()
        assert time.time() < deadline, "the billing run issued no invoice"
        time.sleep(1)


def test_a_master_exports_the_invoices_of_a_period_and_downloads_the_file(page_for, demo, stack):
    invoice = _billed(stack[0], demo)
    page = page_for()
    login(page, account(demo, MASTER))
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    nav(page, "Exportações").click()
    page.get_by_role("heading", name="Exportações", level=1).wait_for()
    # Every kind the Master may export is offered.
    kinds = page.get_by_label("O que exportar")
    assert [o.strip() for o in kinds.locator("option").all_inner_texts()] == [
        "Faturas com os itens", "Assinaturas", "Trilha de auditoria"]
    accessible(page, "exportacoes")

    # A period the wrong way round: refused in words, nothing to download.
    page.get_by_label("De").fill("2026-12-31")
    page.get_by_label("Até").fill("2026-01-01")
    page.get_by_role("button", name="Gerar arquivo").click()
    page.get_by_text("O início do período deve ser igual ou anterior ao fim").wait_for()
    assert page.get_by_label("Até").get_attribute("aria-invalid") == "true"  # next to the field it names
    assert page.locator("#baixar-exportacao").count() == 0

    period_end = invoice["period_end"]
    page.get_by_label("De").fill(period_end[:8] + "01")
    page.get_by_label("Até").fill(period_end)
    kinds.select_option("invoices")
    page.get_by_role("button", name="Gerar arquivo").click()
    page.get_by_role("heading", name="Arquivo gerado").wait_for()
    lines = len(invoice["lines"])
    summary = page.locator("#exportacao-resumo").inner_text()
    assert f"{lines} {'linha' if lines == 1 else 'linhas'}" in summary
    assert "Link válido até" in page.locator("#exportacao-validade").inner_text()
    accessible(page, "exportacoes-gerado")
    with page.expect_download() as download:
        page.get_by_role("link", name="Baixar").click()
    assert download.value.suggested_filename == f"faturas-{period_end[:8]}01-a-{period_end}.csv"
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0][:2] == ["Fatura nº", "Emissão"] and len(rows) == lines + 1
    assert {int(r[0]) for r in rows[1:]} == {invoice["number"]}
    assert sorted(r[10] for r in rows[1:]) == sorted(line["sku"] for line in invoice["lines"])
