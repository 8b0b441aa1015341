"""The licence panel (costs per line, the monthly total, the 12-month spend chart, no past
deadline offered) and the checkout review (the cart counter, adding to a line, the first charge
and the monthly price as the API computes them), in Chromium, with axe-core on each screen."""
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from tests.e2e.conftest import api_login
from tests.e2e.portal import *  # noqa: F401,F403
from tests.e2e.portal import account, accessible, login, nav

pytestmark = browser_marks("portal_licences")  # noqa: F405

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


def test_the_panel_shows_costs_a_monthly_total_and_twelve_months_of_spend(page_for, demo, stack):
    api = stack[0]
    bill_two_closings(api, demo)
    master = account(demo, BILLED_MASTER)
    headers = {"Authorization": f"Bearer {api_login(api, master)['access_token']}"}

    page = page_for()
    login(page, master)
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    premium = page.locator("tr", has_text="Microsoft 365 Business Premium")
    assert text_of(premium.locator("td").nth(1)) == "10"
    assert text_of(premium.locator("td").nth(2)) == brl(12120)
    assert text_of(premium.locator("td").nth(3)).startswith(f"{brl(10 * 12120)}/mês")
    assert "Anual · cobrança mensal" in text_of(premium)
    power_bi = page.locator("tr", has_text="Power BI Pro")
    assert text_of(power_bi.locator("td").nth(3)).startswith(f"{brl(3 * 7730)}/mês")
    assert text_of(page.locator("#total-mensal")) == brl(10 * 12120 + 3 * 7730)
    # Bought 75 days ago: the 7-day window is long gone, so no immediate reduction is offered.
    assert page.get_by_text("Redução imediata").count() == 0

    # The chart: a bar per month, the invoices' totals, and the same numbers as a table. The runs
    # issue in the background: wait until both invoices are in, then look again.
    def billed_months():
        return [m for m in requests.get(f"{api}/spend/monthly?months=12", headers=headers).json()["items"]
                if m["total_cents"]]
    deadline = time.time() + 30
    while len(billed_months()) < 2:
        assert time.time() < deadline, "the two billing runs never issued"
        time.sleep(0.5)
    page.reload()
    page.locator("svg.grafico-gastos").wait_for()
    spend = requests.get(f"{api}/spend/monthly?months=12", headers=headers).json()
    chart = page.locator("svg.grafico-gastos")
    assert chart.get_attribute("role") == "img" and "Gastos por mês" in chart.locator("title").first.text_content()
    bars = chart.locator("g.barra")
    assert bars.count() == 12
    assert [bars.nth(i).get_attribute("data-mes") for i in range(12)] == [m["month"] for m in spend["items"]]
    billed = [m for m in spend["items"] if m["total_cents"]]
    assert len(billed) == 2, spend
    alternative = page.locator("table.visualmente-oculto")
    assert alternative.locator("tbody tr").count() == 12
    for month in billed:
        bar = chart.locator(f"g.barra[data-mes='{month['month']}']")
        assert bar.locator("rect").count() == len(month["families"])
        assert brl(month["total_cents"]) in bar.locator("title").first.text_content().replace("\xa0", " ")
    assert page.locator(".legenda li").count() == len(spend["families"])
    accessible(page, "licencas-painel")

    premium.get_by_role("button", name="Alterar quantidades de Microsoft 365 Business Premium").click()
    page.get_by_label("Nova quantidade").wait_for()
    # The product's own maximum (the demo's Business Premium: 300) caps the input, and is said.
    assert page.get_by_label("Nova quantidade").get_attribute("max") == "300"
    page.get_by_text("Este produto: mínimo 1 / máximo 300 licenças (ou 0 para cancelar).").wait_for()
    accessible(page, "licencas-alterar-quantidade")
    page.get_by_role("button", name="Cancelar").click()


def test_the_cart_counts_adds_to_a_line_and_the_review_shows_the_api_numbers(page_for, demo, stack):
    api = stack[0]
    master = account(demo, BILLED_MASTER)
    headers = {"Authorization": f"Bearer {api_login(api, master)['access_token']}"}
    page = page_for()
    login(page, master)
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    counter = page.locator("#contador-carrinho")
    counter.filter(has_text="Carrinho (0)").wait_for()

    nav(page, "Adicionar novos produtos").click()
    page.get_by_label("Buscar").fill("zzz-nada")
    page.get_by_text("Nenhum produto encontrado").wait_for()
    page.get_by_label("Buscar").fill("")
    page.get_by_label("Família de produtos").select_option("seguranca")
    page.get_by_role("button", name="Adicionar Microsoft Entra ID P1 ao carrinho").wait_for()
    page.locator("article", has_text="Power BI Pro").wait_for(state="detached")  # the filter has answered
    page.get_by_label("Quantidade de Microsoft Entra ID P1").fill("2")
    page.get_by_role("button", name="Adicionar Microsoft Entra ID P1 ao carrinho").click()
    counter.filter(has_text="Carrinho (1)").wait_for()
    page.get_by_label("Quantidade de Microsoft Entra ID P1").fill("3")
    page.get_by_role("button", name="Adicionar Microsoft Entra ID P1 ao carrinho").click()
    cart = page.locator("section#carrinho")
    line = cart.locator("tr", has_text="Microsoft Entra ID P1")
    page.wait_for_function("() => [...document.querySelectorAll('#carrinho td')].some(td => td.textContent === '5')")
    # The same product: one line, 2 + 3.
    assert text_of(line.locator("td").nth(1)) == "5" and counter.inner_text() == "Carrinho (1)"
    page.get_by_role("button", name="Adicionar Microsoft Intune Plano 1 ao carrinho").click()
    counter.filter(has_text="Carrinho (2)").wait_for()
    page.get_by_role("button", name="Remover Microsoft Intune Plano 1 do carrinho").click()
    counter.filter(has_text="Carrinho (1)").wait_for()
    page.get_by_label("Família de produtos").select_option("")
    page.locator("article", has_text="Microsoft 365 E5").wait_for()
    # A product's own limits (the demo's): said on its card and bounding its input.
    dynamics = page.locator("article", has_text="Dynamics 365 Customer Service Enterprise")
    assert "Mínimo 5 licenças" in text_of(dynamics)
    assert page.get_by_label("Quantidade de Dynamics 365 Customer Service Enterprise").get_attribute("min") == "5"
    assert "Máximo 300 licenças" in text_of(page.locator("article", has_text="Microsoft 365 Business Premium"))
    page.get_by_role("button", name="Adicionar Microsoft 365 E5 ao carrinho").click()  # annual, paid up front
    counter.filter(has_text="Carrinho (2)").wait_for()
    accessible(page, "produtos-carrinho")

    page.get_by_role("link", name="Revisar pedido").click()
    page.get_by_role("heading", name="Revisar pedido").wait_for()
    preview = requests.get(f"{api}/cart/preview", headers=headers).json()
    for item in preview["items"]:
        row = page.locator("section[aria-label='Itens do pedido'] tr", has_text=item["name"])
        assert text_of(row.locator(".primeira-cobranca")) == brl(item["first_charge_cents"])
        assert item["plan_label"] in text_of(row)
        if item["monthly_cents"] is None:
            assert "Nada por mês" in text_of(row)
        else:
            assert text_of(row.locator(".depois")) == f"{brl(item['monthly_cents'])}/mês"
    entra = next(i for i in preview["items"] if i["sku"] == "ENTRA-ID-P1")
    assert entra["quantity"] == 5 and entra["monthly_cents"] == 5 * 3310
    assert text_of(page.locator("#primeira-cobranca-total")) == brl(preview["first_charge_cents"])
    assert text_of(page.locator("#mensal-total")) == brl(preview["monthly_cents"])
    page.get_by_text("Cancelamento em até 7 dias").wait_for()
    accessible(page, "produtos-revisao")

    # The cart changed after the review (another tab): confirming buys nothing, says why and shows
    # the review of the cart as it is now.
    requests.put(f"{api}/cart/items/ENTRA-ID-P1", json={"quantity": 6}, headers=headers).raise_for_status()
    page.get_by_role("button", name="Confirmar pedido").click()
    notice = page.locator("#aviso-revisao")
    notice.wait_for()
    assert text_of(notice) == "O carrinho mudou desde a revisão; revise o pedido de novo."
    assert not any(s["sku"] == "ENTRA-ID-P1"
                   for s in requests.get(f"{api}/subscriptions", headers=headers).json()["items"])  # nothing bought
    preview = requests.get(f"{api}/cart/preview", headers=headers).json()
    assert text_of(page.locator("#primeira-cobranca-total")) == brl(preview["first_charge_cents"])
    row = page.locator("section[aria-label='Itens do pedido'] tr", has_text="Microsoft Entra ID P1")
    assert text_of(row.locator("td").nth(1)) == "6"

    # A product the catalog stopped selling is named with the reason, outside the totals, and blocks
    # the confirmation until taken out (the review's answer, as the API gives it for an inactive one).
    def with_unavailable(route):
        answer = route.fetch().json()
        answer["unavailable"] = [{"sku": "TEAMS-ESS", "name": "Microsoft Teams Essentials", "quantity": 2,
                                  "reason": "O produto Microsoft Teams Essentials não está mais disponível."}]
        route.fulfill(json=answer)
    page.route("**/cart/preview", with_unavailable)
    page.reload()
    flagged = page.locator("#itens-indisponiveis")
    flagged.wait_for()
    assert "Microsoft Teams Essentials (2) — O produto Microsoft Teams Essentials não está mais disponível." in \
        text_of(flagged)
    assert page.get_by_role("button", name="Confirmar pedido").is_disabled()
    assert page.get_by_role("button", name="Remover Microsoft Teams Essentials do carrinho").is_visible()
    accessible(page, "produtos-revisao-indisponivel")
    page.unroute("**/cart/preview")
    page.reload()
    page.locator("#primeira-cobranca-total").wait_for()
    assert page.locator("#itens-indisponiveis").count() == 0

    page.get_by_role("button", name="Confirmar pedido").click()
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    counter.filter(has_text="Carrinho (0)").wait_for()
    bought = page.locator("tr", has_text="Microsoft Entra ID P1")
    bought.wait_for()
    assert text_of(bought.locator("td").nth(1)) == "6"  # pending or active: never "0"


def test_a_profile_without_financial_data_sees_no_spend_chart(page_for, demo):
    page = page_for()
    login(page, account(demo, "adm@paodemel.example"))
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    page.wait_for_load_state("networkidle")
    assert page.locator("svg.grafico-gastos").count() == 0 and page.get_by_text("Gastos dos últimos").count() == 0
