"""Relatórios in the browser: a Master sees the period's spend as a stacked bar per month and a
table of groups with the API's total, switches the grouping, downloads the CSV (read back); the
operator's report across customers opens too. axe-core clean at 1280 and 390 px."""
import csv
import io
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

from tests.e2e.conftest import api_login
from tests.e2e.portal import *  # noqa: F401,F403
from tests.e2e.portal import account, accessible, login, nav

pytestmark = browser_marks("portal_reports")  # noqa: F405

BILLED_MASTER = "master@oficinadigital.example"


def brl(cents):
    """As the portal writes money (Intl pt-BR): R$ 1.443,90."""
    whole, part = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}R$ {whole:,}".replace(",", ".") + f",{part:02d}"


def text_of(locator):
    return re.sub(r"\s+", " ", locator.inner_text().replace("\xa0", " ")).strip()


def bill_two_closings(api, demo):
    """The operator's runs for the billed customer's last two closings (day 20)."""
    token = api_login(api, account(demo, "operador@brasoftware.example"))["access_token"]
    today = datetime.now(ZoneInfo("America/Sao_Paulo")).date()  # the product's calendar, not the host's
    last = today.replace(day=20) if today.day > 20 else (today.replace(day=1) - timedelta(days=1)).replace(day=20)
    before = (last.replace(day=1) - timedelta(days=1)).replace(day=20)
    for closing in (before, last):
        requests.post(f"{api}/backoffice/billing-runs", json={"period": f"{closing:%Y-%m}"},
                      headers={"Authorization": f"Bearer {token}"}).raise_for_status()


def test_a_master_reads_the_spend_report_switches_the_grouping_and_downloads_the_csv(page_for, demo, stack):
    api = stack[0]
    bill_two_closings(api, demo)
    master = account(demo, BILLED_MASTER)
    headers = {"Authorization": f"Bearer {api_login(api, master)['access_token']}"}
    deadline = time.time() + 60
    while len([m for m in requests.get(f"{api}/reports/spend", headers=headers).json()["months"]
               if m["total_cents"]]) < 2:
        assert time.time() < deadline, "the two billing runs never reached the report"
        time.sleep(0.5)
    report = requests.get(f"{api}/reports/spend", headers=headers).json()

    page = page_for()
    login(page, master)
    nav(page, "Relatórios").click()
    page.get_by_role("heading", name="Relatórios de gastos").wait_for()
    chart = page.locator("svg.grafico-gastos")
    chart.wait_for()
    assert chart.locator("g.barra").count() == len(report["months"]) == 12
    assert text_of(page.locator("#total-relatorio")) == brl(report["total_cents"])
    total_row = page.locator("table.responsiva tbody tr").last
    assert text_of(total_row) == f"Total {brl(report['total_cents'])}"
    assert page.locator(".legenda li").count() == len(report["groups"])
    # The phone's width: nothing (the hidden table of the chart included) widens the page.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    accessible(page, "relatorios-familia")

    page.get_by_label("Agrupar por").select_option("product")
    by_product = requests.get(f"{api}/reports/spend?group_by=product", headers=headers).json()
    page.get_by_role("heading", name=re.compile("^Por produto")).wait_for()
    rows = page.locator("table.responsiva tbody tr")
    assert rows.count() == len(by_product["groups"]) + 2  # the groups, the credits, the total
    assert [text_of(rows.nth(i).locator("td").first) for i in range(len(by_product["groups"]))] == \
        [g["label"] for g in by_product["groups"]]
    assert text_of(page.locator("#total-relatorio")) == brl(report["total_cents"])

    with page.expect_download() as download:
        page.get_by_role("button", name="Baixar CSV").click()
    assert download.value.suggested_filename == f"gastos-{report['from']}-a-{report['to']}.csv"
    text = Path(download.value.path()).read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0] == ["Mês", "Chave", "Grupo", "Valor (R$)"] and rows[-1][2] == "Total do período"
    assert int(rows[-1][3].replace(".", "").replace(",", "")) == report["total_cents"]
    assert {r[1] for r in rows[1:-1]} - {"CREDITS"} == {g["key"] for g in by_product["groups"]}

    operator = page_for()
    login(operator, account(demo, "operador@brasoftware.example"))
    nav(operator, "Relatórios").click()
    operator.get_by_role("heading", name="Relatório de gastos dos clientes").wait_for()
    operator.locator("svg.grafico-gastos").wait_for()
    assert "Oficina Digital" in text_of(operator.locator("table.responsiva"))
    accessible(operator, "relatorios-clientes")
