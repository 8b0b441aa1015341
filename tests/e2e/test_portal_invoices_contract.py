"""Faturas and Contrato in Chromium: the second copy previewed (balance, fine, interest, total, new
due date) equals the boleto then issued, the replaced boleto marked, the bank's Pix copied; the
contract read (text, version, items and prices, PDF), accepted only with its box ticked, and the
Master's banner gone once accepted. An overdue invoice needs time to pass: this module's stack runs
on a demo clock (21/12/2026; then 23/12/2026, until December's closing is billed; then 26/12/2026:
the overdue marking on the way), its invoices due a bank day after issue so that only a few days of
schedules are run on the way."""
import re
import signal
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import STOP_SECONDS, api_login, start_stack
from tests.e2e.portal import *  # noqa: F401,F403
from tests.e2e.portal import accessible, account, login, nav, reload_until, shot

pytestmark = browser_marks("portal_invoices_contract")  # noqa: F405

BILLED_MASTER = "master@oficinadigital.example"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    due_soon = {"INVOICE_DUE_DAYS": "1", "INVOICE_MIN_BUSINESS_DAYS_AFTER_ISSUE": "1"}  # due a bank day after issue
    api, process = start_stack(var_dir, {"DEMO_DATE": "2026-12-21", **due_soon}, "first.log")
    process.send_signal(signal.SIGINT)  # seeded on 21/12; saved
    assert process.wait(timeout=STOP_SECONDS) == 0
    # 23/12: the fast-forward fires the billing runs on the way; the billing worker may issue the
    # invoice only after the clock got there (issued 23/12, due 24/12), so wait for it, then stop.
    api, process = start_stack(var_dir, {"DEMO_DATE": "2026-12-23", **due_soon}, "second.log")
    _until_fast_forwarded(var_dir / "second.log")  # a login while the clock jumps would outlive its MFA step
    headers = _headers(api, _demo_account(var_dir, BILLED_MASTER))
    deadline = time.time() + 240
    while not requests.get(f"{api}/invoices", headers=headers, timeout=10).json()["items"]:
        assert time.time() < deadline, "December's closing was never billed"
        time.sleep(1)
    time.sleep(3)  # its documents (boleto, NFS-e) are made right after
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_SECONDS) == 0
    # 26/12: the overdue marking of 25/12 runs on the way.
    api, process = start_stack(var_dir, {"DEMO_DATE": "2026-12-26", **due_soon}, "third.log")
    _until_fast_forwarded(var_dir / "third.log")
    yield api, var_dir, process
    if process.poll() is None:
        process.kill()


def _until_fast_forwarded(log):
    deadline = time.time() + 180
    while "fast-forwarding the demo clock" not in log.read_text():
        assert time.time() < deadline, f"the demo clock was never fast-forwarded ({log.name})"
        time.sleep(0.3)


def _demo_account(var_dir, email_address):
    import json

    return next(a for a in json.loads((var_dir / "demo-accounts.json").read_text())["accounts"]
                if a["email"] == email_address)


def _headers(api, who):
    return {"Authorization": f"Bearer {api_login(api, who)['access_token']}"}


def _overdue_invoice(api, headers):
    # The fast-forwarded schedules bill, register the boleto and mark the invoice overdue in the
    # background: on a busy CI machine (other stacks, browsers) that takes minutes, not seconds.
    deadline, items = time.time() + 240, []
    while time.time() < deadline:
        items = requests.get(f"{api}/invoices", headers=headers, timeout=10).json()["items"]
        overdue = [i for i in items if i["status"] == "overdue"]
        if overdue and requests.get(f"{api}/invoices/{overdue[0]['id']}/boleto", headers=headers,
                                    timeout=10).status_code == 200:
            return overdue[0]
        time.sleep(1)
    pytest.fail(f"no overdue invoice with its boleto: {[(i['number'], i['status'], i['due_date']) for i in items]}")


def _brl(text):
    return int(re.sub(r"\D", "", text))  # "R$ 1.234,56" → 123456


def _day(text):
    d, m, y = re.search(r"(\d\d)/(\d\d)/(\d{4})", text).groups()
    return f"{y}-{m}-{d}"


def test_the_second_copy_preview_equals_the_boleto_issued_and_the_pix_copies(page_for, demo, stack):
    api = stack[0]
    who = account(demo, BILLED_MASTER)
    headers = _headers(api, who)
    invoice = _overdue_invoice(api, headers)

    page = page_for()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, who)
    nav(page, "Faturas").click()
    opening = page.get_by_role("link", name=f"Abrir a fatura nº {invoice['number']}", exact=True)
    opening.wait_for()
    assert page.locator("#conteudo").get_by_text("Vencida").count() >= 1
    accessible(page, "e-faturas")
    # Past its due date but still `open` (the nightly job has not marked it yet): the second copy is
    # offered all the same, as the API allows it (`second_copy_available`).
    def still_open(route):
        route.fulfill(json={**route.fetch().json(), "status": "open"})
    page.route(f"**/invoices/{invoice['id']}", still_open)
    opening.click()
    page.get_by_role("heading", name=f"Fatura nº {invoice['number']}").wait_for()
    page.locator("#linha-digitavel").wait_for()
    assert page.locator("#conteudo").get_by_text("Em aberto").count() >= 1
    assert page.get_by_role("button", name="Emitir segunda via").is_visible()
    page.unroute(f"**/invoices/{invoice['id']}")
    page.reload()
    page.locator("#linha-digitavel").wait_for()
    old = requests.get(f"{api}/invoices/{invoice['id']}/boleto", headers=headers, timeout=10).json()

    # The bank's Pix next to the linha digitável, copied as it is.
    assert old["pix_payload"]  # the simulated bank answers its dynamic Pix, as the real one does
    assert page.locator("#pix-copia-e-cola").inner_text() == old["pix_payload"]
    page.get_by_role("button", name="Copiar código Pix").click()
    assert page.evaluate("navigator.clipboard.readText()") == old["pix_payload"]

    # A preview gone stale before the confirmation (here: the first one shown is a centavo off, as a
    # payment or a day gone by would make it): the API refuses what was not previewed (409, no
    # boleto issued) and the dialog shows the fresh preview, with why, to confirm again.
    def stale(route):
        answer = route.fetch().json()
        route.fulfill(json={**answer, "total_cents": answer["total_cents"] + 1,
                            "interest_cents": answer["interest_cents"] + 1})
    page.route("**/second-copy-preview", stale, times=1)
    page.get_by_role("button", name="Emitir segunda via").click()
    dialog = page.get_by_role("dialog", name="Emitir segunda via")
    dialog.locator("#previa-total").wait_for()
    dialog.get_by_role("button", name="Confirmar e emitir").click()
    dialog.locator("#previa-mudou").wait_for()
    assert "mudou desde a prévia" in dialog.locator("#previa-mudou").inner_text()
    assert requests.get(f"{api}/invoices/{invoice['id']}/boleto", headers=headers,
                        timeout=10).json()["nosso_numero"] == old["nosso_numero"]  # nothing issued
    fresh = requests.get(f"{api}/invoices/{invoice['id']}/second-copy-preview", headers=headers, timeout=10).json()
    assert _brl(dialog.locator("#previa-total").inner_text()) == fresh["total_cents"]
    preview = {"amount": _brl(dialog.locator("#previa-saldo").inner_text()),
               "fine": _brl(dialog.locator("#previa-multa").inner_text()),
               "interest": _brl(dialog.locator("#previa-juros").inner_text()),
               "total": _brl(dialog.locator("#previa-total").inner_text()),
               "due": _day(dialog.locator("#previa-vencimento").inner_text())}
    assert preview["amount"] == invoice["balance_cents"] and preview["fine"] > 0 and preview["interest"] > 0
    assert preview["total"] == preview["amount"] + preview["fine"] + preview["interest"]
    accessible(page, "e-fatura-previa-segunda-via")
    dialog.get_by_role("button", name="Confirmar e emitir").click()

    # After it, the invoice shows the new boleto: the previewed amount and due date; the old one replaced.
    page.locator("#boletos-substituidos").wait_for()
    issued = requests.get(f"{api}/invoices/{invoice['id']}/boleto", headers=headers, timeout=10).json()
    assert issued["kind"] == "second_copy" and issued["nosso_numero"] != old["nosso_numero"]
    assert issued["amount_cents"] == preview["total"] and issued["due_date"] == preview["due"]
    shown = page.locator("#boleto-em-vigor").inner_text()
    assert _brl(shown.split("·")[0]) == preview["total"] and _day(shown) == preview["due"]
    replaced = page.locator("#boletos-substituidos li")
    assert replaced.count() == 1 and "Substituído" in replaced.inner_text()
    assert _day(replaced.inner_text()) == old["due_date"]
    accessible(page, "e-fatura-segunda-via")


def test_the_contract_is_read_accepted_only_when_ticked_and_the_banner_goes(page_for, demo, stack):
    api = stack[0]
    master = account(demo, "master@paodemel.example")

    adm = page_for()  # another profile: no banner, and who accepts is said
    login(adm, account(demo, "adm@paodemel.example"))
    adm.get_by_role("heading", name="Painel de licenças").wait_for()
    assert adm.locator("#faixa-contrato").count() == 0
    nav(adm, "Contrato").click()
    adm.get_by_text("O aceite do contrato é feito pelo usuário Master.").wait_for()
    assert adm.get_by_role("button", name="Aceitar contrato").count() == 0

    page = page_for()
    login(page, master)
    banner = page.locator("#faixa-contrato")
    banner.wait_for()
    nav(page, "Faturas").click()  # the banner is on every screen; no invoice yet, said in words
    page.get_by_text("Nenhuma fatura emitida ainda").wait_for()
    assert banner.count() == 1
    banner.get_by_role("link", name="Ler e aceitar o contrato").click()
    page.get_by_role("heading", name="Contrato", exact=True).wait_for()

    doc = requests.get(f"{api}/contract/document", headers=_headers(api, master), timeout=10).json()
    page.locator("#titulo-contrato", has_text=doc["title"]).wait_for()
    assert page.locator("#versao-documento").inner_text() == f"Versão {doc['version']}"
    for section in doc["sections"]:
        assert page.get_by_role("heading", name=section["heading"]).count() == 1
    for item in doc["items"]:
        row = page.locator("tr", has_text=item["name"])
        assert row.count() == 1 and _brl(row.locator("td").nth(3).inner_text()) == item["monthly_cents"]
    assert _brl(page.locator("#total-mensal-contrato").inner_text()) == doc["total_monthly_cents"]
    with page.expect_download() as download:
        page.get_by_role("link", name=f"Baixar o contrato em PDF (versão {doc['version']})").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    accessible(page, "e-contrato")

    page.get_by_role("button", name="Aceitar contrato").click()
    dialog = page.get_by_role("dialog", name=f"Aceitar o contrato (versão {doc['version']})")
    box = dialog.get_by_role("checkbox", name=f"Li e aceito os termos do contrato (versão {doc['version']})")
    box.wait_for()
    accessible(page, "e-contrato-aceite")
    dialog.get_by_role("button", name="Confirmar aceite").click()  # not ticked: refused, nothing sent
    dialog.get_by_role("alert").wait_for()
    assert "Li e aceito os termos do contrato" in dialog.get_by_role("alert").inner_text()
    contract = requests.get(f"{api}/contract", headers=_headers(api, master), timeout=10).json()
    assert contract["status"] == "awaiting_acceptance"

    box.check()
    with page.expect_request(lambda r: r.url.endswith("/contract/accept") and r.method == "POST") as sent:
        dialog.get_by_role("button", name="Confirmar aceite").click()
    assert sent.value.post_data_json == {"document_version": doc["version"]}  # the version read, recorded
    page.get_by_role("heading", name="Painel de licenças").wait_for()
    reload_until(page, lambda: page.locator("#faixa-contrato").count() == 0 and
                 page.get_by_role("heading", name="Painel de licenças").count() == 1)
    contract = requests.get(f"{api}/contract", headers=_headers(api, master), timeout=10).json()
    assert contract["status"] == "active" and contract["accepted_version"] == doc["version"]
    nav(page, "Contrato").click()
    page.locator("#aceite-registrado", has_text=f"versão {doc['version']}").wait_for()
    assert page.get_by_role("button", name="Aceitar contrato").count() == 0
    shot(page, "e-contrato-aceito")
