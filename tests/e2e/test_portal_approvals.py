"""Purchase approvals in the browser (issue #21 §4): the Master sets a monthly limit, an Adm's order
above it is sent for approval (nothing bought), the Master approves it in Aprovações, and the
licence appears in the panel."""
import requests

from tests.e2e.conftest import api_login
from tests.e2e.portal import *  # noqa: F401,F403
from tests.e2e.portal import accessible, account, login, nav, reload_until

pytestmark = browser_marks("portal_approvals")  # noqa: F405

MASTER = "master@paodemel.example"
ADM = "adm@paodemel.example"


def _text(locator):
    return locator.inner_text().replace("\xa0", " ")  # the browser's currency format puts a no-break space after R$


def test_an_adm_order_above_the_limit_waits_for_the_master_and_is_bought_on_approval(page_for, demo, stack):
    api = stack[0]
    master_account, adm_account = account(demo, MASTER), account(demo, ADM)
    token = api_login(api, master_account)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    requests.post(f"{api}/contract/accept", headers=headers, json={}).raise_for_status()  # open for purchases

    master = page_for()
    login(master, master_account)
    master.get_by_role("heading", name="Painel de licenças").wait_for()
    nav(master, "Aprovações").click()
    master.get_by_role("heading", name="Aprovações", exact=True).wait_for()
    master.get_by_text("Sem limite").wait_for()
    master.get_by_label("Limite mensal (R$)").fill("500,00")
    master.get_by_role("button", name="Salvar limite").click()
    master.locator("#limite-atual", has_text="Compras acima de R$ 500,00 por mês").wait_for()
    assert requests.get(f"{api}/approval-limit", headers=headers).json()["monthly_limit_cents"] == 50_000
    accessible(master, "aprovacoes-limite")

    adm = page_for()
    login(adm, adm_account)
    adm.get_by_role("heading", name="Painel de licenças").wait_for()
    nav(adm, "Adicionar novos produtos").click()
    adm.get_by_label("Quantidade de Microsoft 365 E3").fill("3")  # 3 × R$ 207,10 = R$ 621,30 a month
    adm.get_by_role("button", name="Adicionar Microsoft 365 E3 ao carrinho").click()
    adm.locator("#contador-carrinho", has_text="Carrinho (1)").wait_for()
    adm.get_by_role("link", name="Revisar pedido").click()
    adm.get_by_role("button", name="Confirmar pedido").click()
    adm.get_by_text("Pedido enviado para aprovação do Master").wait_for()
    adm.get_by_role("heading", name="Minhas solicitações").wait_for()
    pending = adm.locator("#aprovacoes-pendentes tr", has_text="Microsoft 365 E3 × 3")
    pending.get_by_text("Aguardando aprovação").wait_for()
    assert "R$ 621,30/mês" in _text(pending)
    bought = requests.get(f"{api}/subscriptions", headers=headers).json()["items"]
    assert not any(s["sku"] == "MS365-E3" for s in bought)  # nothing bought yet
    accessible(adm, "minhas-solicitacoes")

    master.reload()
    row = master.locator("#aprovacoes-pendentes tr", has_text="Microsoft 365 E3 × 3")
    row.wait_for()
    assert "André Adm" in _text(row) and "R$ 621,30/mês" in _text(row)
    accessible(master, "aprovacoes-pendente")
    master.get_by_role("button", name="Aprovar a solicitação de André Adm: Microsoft 365 E3 × 3").click()
    master.locator("#aprovacoes-decididas tr", has_text="Microsoft 365 E3 × 3").get_by_text("Aprovada").wait_for()
    assert master.locator("#aprovacoes-pendentes").get_by_text("Nenhuma solicitação pendente.").count() == 1
    accessible(master, "aprovacoes-decididas")

    nav(master, "Licenças").click()
    licence = master.locator("tr", has_text="Microsoft 365 E3")
    licence.wait_for()  # ordered: provisioning, then active
    reload_until(master, lambda: licence.get_by_text("Ativa").count() == 1, seconds=60)
    bought = [s for s in requests.get(f"{api}/subscriptions", headers=headers).json()["items"] if s["sku"] == "MS365-E3"]
    assert len(bought) == 1 and bought[0]["quantity"] == 3
