"""`make run` as a newcomer uses it: the stack starts, every demo login works over HTTP, an
invitation's email lands in the outbox, and Ctrl-C stops everything."""
import email
import json
import signal
import time
from email import policy

import pytest
import requests

from tests.e2e.conftest import STOP_SECONDS, start_stack


# One stack for the module, on one worker: the last test stops it.
pytestmark = pytest.mark.xdist_group("local_stack")


def login(api, account):
    from tests.e2e.conftest import api_login

    return {"Authorization": f"Bearer {api_login(api, account)['access_token']}"}


def test_every_demo_profile_logs_in_and_sees_its_roles(stack):
    api, var_dir, _ = stack
    demo = json.loads((var_dir / "demo-accounts.json").read_text())
    assert demo["api"] == api
    roles = {role for account in demo["accounts"] for role in account["roles"]}
    assert roles == {"master", "adm", "cobranca", "suporte", "operator"}
    for account in demo["accounts"]:
        me = requests.get(f"{api}/me", headers=login(api, account)).json()
        assert me["roles"] == account["roles"]
        assert me["organization"]["id"] == account["organization_id"]


def test_the_demo_organisation_awaits_acceptance_and_the_catalog_is_seeded(stack):
    api, var_dir, _ = stack
    demo = json.loads((var_dir / "demo-accounts.json").read_text())
    master = next(a for a in demo["accounts"] if a["roles"] == ["master"])
    contract = requests.get(f"{api}/contract", headers=login(api, master)).json()
    assert contract["status"] == "awaiting_acceptance"
    assert contract["items"]


def test_an_invited_users_welcome_email_lands_in_the_outbox_in_ptbr(stack):
    api, var_dir, _ = stack
    demo = json.loads((var_dir / "demo-accounts.json").read_text())
    master = next(a for a in demo["accounts"] if a["roles"] == ["master"])
    created = requests.post(f"{api}/users", headers=login(api, master),
                            json={"email": "convidada@paodemel.example", "name": "Clara Convidada", "roles": ["adm"]})
    assert created.status_code == 201, created.text
    outbox = var_dir / "outbox"
    deadline = time.time() + 20
    found = []
    while time.time() < deadline and not found:
        found = [p for p in outbox.glob("*.eml") if "convidada" in p.name] if outbox.exists() else []
        time.sleep(0.3)
    assert found, "the welcome email never reached var/outbox"
    message = email.message_from_bytes(found[0].read_bytes(), policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Olá, Clara Convidada!" in text and "senha temporária" in text
    assert "Padaria Pão de Mel Ltda" in message["Subject"]


MONTH_RUN_SECONDS = 90


def wait_for(predicate, seconds=20):
    deadline, value = time.time() + seconds, None
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out; last value: {value!r}")


def test_the_demo_master_accepts_and_every_contracted_item_is_provisioned_within_a_minute(stack):
    api, var_dir, _ = stack
    demo = json.loads((var_dir / "demo-accounts.json").read_text())
    master = login(api, next(a for a in demo["accounts"] if a["roles"] == ["master"]))
    contract = requests.get(f"{api}/contract", headers=master).json()
    contracted = sorted((i["sku"], i["quantity"]) for i in contract["items"])
    assert contracted == [("DEFENDER-BUSINESS", 12), ("EXO-PLAN1", 5), ("MS365-BUSINESS-STANDARD", 12)]
    accepted = requests.post(f"{api}/contract/accept", headers={**master, "If-Match": str(contract["version"])})
    assert accepted.status_code == 200 and accepted.json()["status"] == "active"
    # At once, each contracted SKU is on the panel, being provisioned (or already done).
    ordered = requests.get(f"{api}/subscriptions", headers=master).json()["items"]
    assert sorted(s["sku"] for s in ordered) == [sku for sku, _ in contracted]
    assert {s["status"] for s in ordered} <= {"pending", "active"}

    def provisioned():
        panel = requests.get(f"{api}/subscriptions", headers=master).json()["items"]
        return panel if all(s["status"] == "active" for s in panel) else False

    panel = wait_for(provisioned, seconds=60)
    assert sorted((s["sku"], s["quantity"]) for s in panel) == contracted
    assert all(s["term"] == "P1Y" and s["started_on"] and s["timeline"][0]["quantity"] == s["quantity"]
               for s in panel)
    replayed = requests.post(f"{api}/contract/accept", headers=master)
    assert replayed.status_code == 409 and replayed.json()["error"]["code"] == "contract_already_accepted"
    assert len(requests.get(f"{api}/subscriptions", headers=master).json()["items"]) == len(contracted)


def _accepted(api, master):
    """The demo contract accepted and its items provisioned: done by the test above when it ran on
    this stack; accepted here when the module's stack was started again for this test (xdist may
    run another module's tests in between, which tears a module fixture down)."""
    contract = requests.get(f"{api}/contract", headers=master).json()
    if contract["status"] == "awaiting_acceptance":
        accepted = requests.post(f"{api}/contract/accept", headers={**master, "If-Match": str(contract["version"])})
        assert accepted.status_code == 200, accepted.text
    assert requests.get(f"{api}/contract", headers=master).json()["status"] == "active"
    wait_for(lambda: all(s["status"] == "active"
                         for s in requests.get(f"{api}/subscriptions", headers=master).json()["items"]), seconds=60)


def test_the_licence_routes_work_end_to_end_through_the_event_pump(stack):
    api, var_dir, _ = stack
    demo = json.loads((var_dir / "demo-accounts.json").read_text())
    master = login(api, next(a for a in demo["accounts"] if a["roles"] == ["master"]))
    adm = login(api, next(a for a in demo["accounts"] if a["roles"] == ["adm"]))
    _accepted(api, master)
    families = requests.get(f"{api}/catalog/families", headers=adm).json()["items"]
    assert len(families) >= 5
    products = requests.get(f"{api}/catalog/products", params={"family": "microsoft-365"}, headers=adm).json()["items"]
    assert len(products) >= 5 and {p["family"] for p in products} == {"Microsoft 365"}
    assert requests.put(f"{api}/cart/items/MS365-E3", json={"quantity": 12}, headers=adm).status_code == 200
    checkout = requests.post(f"{api}/cart/checkout", headers={**adm, "Idempotency-Key": "demo-1"})
    assert checkout.status_code == 201, checkout.text
    sub_id = checkout.json()["subscriptions"][0]["id"]

    def subscription():
        return requests.get(f"{api}/subscriptions/{sub_id}", headers=adm).json()

    assert wait_for(lambda: subscription()["status"] == "active")
    preview = requests.get(f"{api}/subscriptions/{sub_id}/quantity-preview", params={"quantity": 15}, headers=adm)
    assert preview.status_code == 200 and preview.json()["amount_cents"] > 0
    changed = requests.post(f"{api}/subscriptions/{sub_id}/quantity", json={"quantity": 15}, headers=adm)
    assert changed.status_code == 202, changed.text
    assert wait_for(lambda: subscription()["quantity"] == 15)
    history = requests.get(f"{api}/subscriptions/{sub_id}/changes", headers=adm).json()["items"]
    assert [c["status"] for c in history] == ["applied", "applied"]
    panel = requests.get(f"{api}/subscriptions", headers=master).json()["items"]
    assert [s["quantity"] for s in panel if s["id"] == sub_id] == [15]
    assert len(panel) == 4  # with the three the contract ordered

    version = subscription()["version"]
    toggled = requests.patch(f"{api}/subscriptions/{sub_id}", json={"auto_renew": False},
                             headers={**adm, "If-Match": str(version)})
    assert toggled.status_code == 200 and toggled.json()["auto_renew"] is False
    operator = login(api, next(a for a in demo["accounts"] if a["roles"] == ["operator"]))
    product = requests.put(f"{api}/backoffice/catalog/products/MS365-E3", headers=operator, json={
        "name": "Microsoft 365 E3", "family": "Microsoft 365", "unit_price_cents": 21990, "term": "P1Y",
        "billing_frequency": "monthly"})
    assert product.status_code == 200 and product.json()["next_price"]["unit_price_cents"] == 21990

    # Rescission inside the 7-day window: everything to zero now, the contract closes.
    terminated = requests.post(f"{api}/contract/terminate", json={"reason_text": "Teste"}, headers=master)
    assert terminated.status_code == 202, terminated.text
    assert wait_for(lambda: requests.get(f"{api}/contract", headers=master).json()["status"] == "terminated")
    assert subscription()["status"] == "cancelled"
    assert wait_for(lambda: list((var_dir / "outbox").glob("*contrato-encerrado*")))


def test_an_operator_billing_run_issues_the_demo_customers_invoice(stack):
    from datetime import date, timedelta

    api, var_dir, _ = stack
    demo = json.loads((var_dir / "demo-accounts.json").read_text())
    operator = login(api, next(a for a in demo["accounts"] if a["roles"] == ["operator"]))
    billed = login(api, next(a for a in demo["accounts"] if a["email"] == "master@oficinadigital.example"))
    today = date.today()  # the closing day is the 20th: bill the last period that has closed
    closing = today.replace(day=20) if today.day > 20 else (today.replace(day=1) - timedelta(days=1)).replace(day=20)
    started = requests.post(f"{api}/backoffice/billing-runs", json={"period": f"{closing:%Y-%m}"}, headers=operator)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    def finished():
        progress = requests.get(f"{api}/backoffice/billing-runs/{run_id}", headers=operator).json()
        return progress if progress["complete"] and progress["contracts_queued"] else False

    # An operator's run of a whole month reads each of the 28 closing days in each of the 32 shards of
    # the closing-day index (in parallel Lambdas on AWS, one after another on the local stack).
    progress = wait_for(finished, seconds=MONTH_RUN_SECONDS)
    assert progress["invoices_issued"] >= 1
    [invoice] = requests.get(f"{api}/invoices", headers=billed).json()["items"]
    assert invoice["period_end"] == closing.isoformat() and invoice["total_cents"] > 0
    detail = requests.get(f"{api}/invoices/{invoice['id']}", headers=billed).json()
    assert any("Power BI Pro — 3 licenças" in line["description"] for line in detail["lines"])
    [path] = wait_for(lambda: list((var_dir / "outbox").glob("*financeiro@oficinadigital*")))
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    files = {part.get_filename() for part in message.iter_attachments()}
    assert {f"boleto-fatura-{invoice['number']}.pdf", "nfse-1.pdf", "nfse-1.xml"} <= files

    # FATURAS: the download links work from outside the API, as a browser would follow them.
    boleto = requests.get(f"{api}/invoices/{invoice['id']}/boleto", headers=billed).json()
    assert requests.get(boleto["pdf_url"], timeout=10).content.startswith(b"%PDF")
    nfse = requests.get(f"{api}/invoices/{invoice['id']}/nfse", headers=billed).json()
    assert "<infDPS" in requests.get(nfse["xml_url"], timeout=10).text
    assert requests.get(nfse["pdf_url"], timeout=10).content.startswith(b"%PDF")


def _first_login(api, address, message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    password = text.split("senha temporária: ")[1].split()[0]
    challenge = requests.post(f"{api}/auth/login", json={"email": address, "password": password}).json()
    tokens = requests.post(f"{api}/auth/new-password", json={
        "email": address, "session": challenge["session"], "new_password": "Minha#Senha2026"}).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    if requests.get(f"{api}/me", headers=headers).json()["mfa"]["required"]:
        # A Master enrols first: the secret the setup answers, then its code (tests.support.totp_code).
        from tests.support import totp_code

        secret = requests.post(f"{api}/auth/mfa/setup", headers=headers).json()["secret"]
        requests.post(f"{api}/auth/mfa/verify", headers=headers, json={"code": totp_code(secret)}).raise_for_status()
    return headers


def test_contract_request_to_customer_to_answered_ticket_over_http(stack):
    api, var_dir, _ = stack
    demo = json.loads((var_dir / "demo-accounts.json").read_text())
    operator = login(api, next(a for a in demo["accounts"] if a["roles"] == ["operator"]))
    lead = requests.post(f"{api}/leads", json={
        "cnpj": "04.252.011/0001-10", "company_name": "Clínica Bem Estar Ltda", "contact_name": "Beatriz",
        "email": "beatriz@bemestar.example", "phone": "+55 11 3333-4444", "products_of_interest": ["MS365-E3"],
        "existing_microsoft_customer": False})
    assert lead.status_code == 201, lead.text
    converted = requests.post(f"{api}/backoffice/leads/{lead.json()['id']}/convert", headers=operator, json={
        "closing_day": 5, "payment_method": "boleto", "billing_contacts": ["financeiro@bemestar.example"],
        "master": {"email": "beatriz@bemestar.example", "name": "Beatriz"},
        "address": {"cep": "20040-020", "street": "Avenida Rio Branco", "number": "156", "district": "Centro",
                    "city_code": "3304557", "state": "RJ"}})
    assert converted.status_code == 201, converted.text
    master = _first_login(api, "beatriz@bemestar.example",
                          wait_for(lambda: _welcome(var_dir, "beatriz@bemestar.example")))
    assert requests.post(f"{api}/contract/accept", headers=master).json()["status"] == "active"
    invited = requests.post(f"{api}/users", headers=master,
                            json={"email": "suporte@bemestar.example", "name": "Sérgio", "roles": ["suporte"]})
    assert invited.status_code == 201
    support = _first_login(api, "suporte@bemestar.example",
                           wait_for(lambda: _welcome(var_dir, "suporte@bemestar.example")))
    ticket = requests.post(f"{api}/tickets", headers=support, json={
        "subject": "E-mail fora do ar", "category": "tecnico", "severity": "critica",
        "description": "Ninguém recebe e-mails."}).json()
    answered = requests.post(f"{api}/backoffice/tickets/{ticket['id']}/messages", headers=operator,
                             json={"body": "Estamos verificando."})
    assert answered.status_code == 201
    assert wait_for(lambda: [p for p in (var_dir / "outbox").glob("*suporte@bemestar.example*resposta-do-suporte*")])
    assert wait_for(lambda: [p for p in (var_dir / "outbox").glob("*contato@suporte.brasoftware.com.br*")])


def _welcome(var_dir, address):
    for path in (var_dir / "outbox").glob(f"*{address}*seu-acesso*"):
        return email.message_from_bytes(path.read_bytes(), policy=policy.default)
    return None


def test_ctrl_c_stops_everything_cleanly(stack):
    api, _, process = stack
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_SECONDS) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{api}/support/contacts", timeout=1)


def test_ctrl_c_stops_a_stack_started_with_sigint_ignored(tmp_path):
    """A script's `make run &` (or a CI runner) starts it with SIGINT ignored: it still stops on it
    and saves its data (it once ran on, and the tests that stop it waited forever)."""
    api, process = start_stack(tmp_path, sigint_ignored=True)
    try:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=STOP_SECONDS) == 0
    finally:
        process.kill()  # never left running when it does not stop
    assert "Data saved to" in (tmp_path / "stack.log").read_text()
