"""Contracting (the public form, the back office) and the service desk, end to end."""
import pytest

from chalicelib.domain.roles import Role
from chalicelib.domain.users import RESELLER_ORGANIZATION_ID
from tests.support import ADDRESS, body_html, body_text

LEAD = {"cnpj": "45.997.418/0001-53", "company_name": "Construtora Horizonte Ltda", "contact_name": "Helena Souza",
        "email": "helena@horizonte.example", "phone": "(11) 98765-4321", "products_of_interest": ["MS365-E3"],
        "existing_microsoft_customer": False}


@pytest.fixture
def catalog(world):
    world.seed_catalog()


def submit(world, **changes):
    return world.call("POST", "/leads", body={**LEAD, **changes})


def temporary_password(message):
    return body_text(message).split("senha temporária: ")[1].split()[0]


def first_login(world, email, password, new_password="Nova#Senha2026"):
    challenge = world.call("POST", "/auth/login", body={"email": email, "password": password}).json_body
    tokens = world.call("POST", "/auth/new-password", body={
        "email": email, "session": challenge["session"], "new_password": new_password}).json_body
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "Content-Type": "application/json"}
    if world.call("GET", "/me", headers=headers).json_body["mfa"]["required"]:
        world.enrol(headers)  # a Master enrols before anything else
    return headers


def test_a_new_lead_is_stored_normalised_confirmed_and_announced(world, catalog):
    response = submit(world)
    assert response.status_code == 201
    assert response.json_body["status"] == "new" and response.json_body["id"] == "45997418000153"
    operator = world.operator()
    [lead] = world.call("GET", "/backoffice/leads", operator).json_body["items"]
    assert (lead["cnpj"], lead["phone"], lead["products_of_interest"]) == ("45997418000153", "+5511987654321",
                                                                           ["MS365-E3"])
    world.drain_queues()
    to = {m["To"] for m in world.outbox()}
    assert to == {"helena@horizonte.example", world.deps.settings.operators_email}


def test_the_lead_confirmation_says_it_was_received_once(world, catalog):
    assert submit(world).status_code == 201
    world.drain_queues()
    [email] = [m for m in world.outbox() if m["To"] == "helena@horizonte.example"]
    assert body_text(email).count("Recebemos") == 1 and body_html(email).count("Recebemos") == 2  # <title> + body
    assert "Um executivo de contas entrará em contato em até 2 dias úteis" in body_text(email)


def test_an_existing_microsoft_customer_is_routed_to_the_specialists(world, catalog):
    response = submit(world, existing_microsoft_customer=True, tenant_domain="Horizonte.onmicrosoft.com")
    body = response.json_body
    assert body["status"] == "specialists"
    assert (body["next_steps"]["specialists_phone"], body["next_steps"]["specialists_email"]) == \
        ("(11) 3179-6900", "brasoftwarecloud@brasoftware.com.br")
    operator = world.operator()
    assert world.call("GET", "/backoffice/leads", operator).json_body["items"][0]["tenant_domain"] == \
        "horizonte.onmicrosoft.com"


@pytest.mark.parametrize("changes, code, field", [
    ({"cnpj": "45.997.418/0001-54"}, "invalid_cnpj", "cnpj"),
    ({"email": "helena@"}, "invalid_email", "email"),
    ({"phone": "1234-5678"}, "invalid_phone", "phone"),
    ({"phone": "(11) 8765-43210"}, "invalid_phone", "phone"),
    ({"products_of_interest": ["WINDOWS-95"]}, "invalid_product", "products_of_interest"),
    ({"existing_microsoft_customer": True}, "invalid_tenant_domain", "tenant_domain"),
    ({"existing_microsoft_customer": True, "tenant_domain": "não é domínio"}, "invalid_tenant_domain", "tenant_domain"),
    ({"company_name": ""}, "required", "company_name"),
    ({"existing_microsoft_customer": "sim"}, "invalid_type", "existing_microsoft_customer"),
])
def test_each_bad_field_gets_its_own_error_code_and_nothing_is_stored(world, catalog, changes, code, field):
    response = submit(world, **changes)
    assert response.status_code == 400
    assert (response.json_body["error"]["code"], response.json_body["error"]["details"]["field"]) == (code, field)
    assert world.call("GET", "/backoffice/leads", world.operator()).json_body["items"] == []


def test_the_alphanumeric_cnpj_is_accepted(world, catalog):
    assert submit(world, cnpj="12.ABC.345/01DE-35").status_code == 201


def test_the_same_cnpj_twice_is_one_lead(world, catalog):
    first = submit(world)
    second = submit(world, contact_name="Outra Pessoa", email="outra@horizonte.example")
    # The same answer as a new request (the public form reveals nothing about a CNPJ) ...
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json_body == first.json_body
    # ... but one lead, the first, announced once; each sender gets their confirmation.
    [lead] = world.call("GET", "/backoffice/leads", world.operator()).json_body["items"]
    assert lead["email"] == "helena@horizonte.example"
    world.drain_queues()
    assert sorted(m["To"] for m in world.outbox()) == sorted([
        "helena@horizonte.example", world.deps.settings.operators_email, "outra@horizonte.example"])


def test_a_burst_from_one_address_is_throttled(world, catalog):
    statuses = [submit(world, cnpj=cnpj).status_code for cnpj in
                ("11222333000181", "11444777000161", "45997418000153", "04252011000110", "12ABC34501DE35",
                 "11222333000181")]
    assert statuses[:5] == [201, 201, 201, 201, 201]
    assert statuses[5] == 429
    response = submit(world, cnpj="04252011000110")
    assert response.json_body["error"]["code"] == "too_many_requests"


def test_the_honeypot_answers_like_success_and_stores_nothing(world, catalog):
    response = submit(world, website="http://spam.example")
    assert response.status_code == 201
    assert world.call("GET", "/backoffice/leads", world.operator()).json_body["items"] == []
    assert world.drain_queues() == 0


def test_lead_to_customer_to_ticket_answered_with_every_email(world, catalog):
    submit(world)
    operator = world.operator()
    converted = world.call("POST", "/backoffice/leads/45997418000153/convert", operator, {
        "closing_day": 15, "payment_method": "boleto", "billing_contacts": ["financeiro@horizonte.example"],
        "master": {"email": "helena@horizonte.example", "name": "Helena Souza"}, "address": ADDRESS})
    assert converted.status_code == 201, converted.json_body
    org_id = converted.json_body["organization"]["id"]
    [lead] = world.call("GET", "/backoffice/leads", operator).json_body["items"]
    assert (lead["status"], lead["organization_id"]) == ("converted", org_id)
    again = world.call("POST", "/backoffice/leads/45997418000153/convert", operator, {
        "closing_day": 15, "payment_method": "boleto", "billing_contacts": ["financeiro@horizonte.example"],
        "master": {"email": "x@horizonte.example", "name": "X"}, "address": ADDRESS})
    assert again.status_code == 409 and again.json_body["error"]["code"] == "lead_already_converted"
    world.drain_queues()
    [welcome] = [m for m in world.outbox() if "Seu acesso" in m["Subject"]]
    assert "Microsoft 365 E3: 1" in body_text(welcome)

    master = first_login(world, "helena@horizonte.example", temporary_password(welcome))
    contract = world.client.http.post("/contract/accept", headers=master).json_body
    assert contract["status"] == "active" and contract["organization_id"] == org_id
    invited = world.client.http.post("/users", headers=master, body=(
        '{"email": "ti@horizonte.example", "name": "Tiago TI", "roles": ["suporte"]}'))
    assert invited.status_code == 201
    world.drain_queues()
    [welcome_support] = [m for m in world.outbox() if m["To"] == "ti@horizonte.example"]
    support_user = first_login(world, "ti@horizonte.example", temporary_password(welcome_support))

    opened = world.client.http.post("/tickets", headers=support_user, body=(
        '{"subject": "Outlook não sincroniza", "category": "tecnico", "severity": "alta",'
        ' "description": "Desde hoje cedo o Outlook não baixa e-mails."}'))
    assert opened.status_code == 201
    ticket = opened.json_body
    assert ticket["status"] == "open" and ticket["messages"][0]["body"].startswith("Desde hoje")
    answered = world.call("POST", f"/backoffice/tickets/{ticket['id']}/messages", operator,
                          {"body": "Reinicie o perfil do Outlook; acompanhamos por aqui."})
    assert answered.status_code == 201 and answered.json_body["status"] == "in_progress"
    world.drain_queues()
    subjects = {(m["To"], m["Subject"].split("]")[1].strip().split(":")[0]) for m in world.outbox()
                if m["Subject"].startswith("[Chamado")}
    support_team = world.deps.settings.support.email
    assert subjects == {(support_team, "Outlook não sincroniza — Construtora Horizonte Ltda"),
                        ("ti@horizonte.example", "Recebemos seu chamado"),
                        ("ti@horizonte.example", "Resposta do suporte")}
    seen = world.client.http.get(f"/tickets/{ticket['id']}", headers=support_user).json_body
    assert [m["author_side"] for m in seen["messages"]] == ["customer", "operator"]


def test_the_new_ticket_email_names_its_category_and_severity_in_words(world):
    org = world.organization()
    support_account = world.user(org.id, [Role.SUPORTE])
    world.call("POST", "/tickets", support_account, {
        "subject": "Licença some", "category": "licencas", "severity": "critica",
        "description": "A licença sumiu do usuário."})
    world.drain_queues()
    [email] = [m for m in world.outbox() if "Licença some" in m["Subject"] and "Recebemos" not in m["Subject"]]
    assert "Categoria: Licenças · Severidade: Crítica" in body_text(email)
    assert "Categoria: Licenças · Severidade: Crítica" in body_html(email)


def test_ticket_status_moves_by_the_rules_and_a_customer_answer_reopens(world, catalog):
    org = world.organization()
    support_account = world.user(org.id, [Role.SUPORTE])
    ticket = world.call("POST", "/tickets", support_account, {
        "subject": "Licença não aparece", "category": "licencas", "severity": "media",
        "description": "Comprei ontem e não aparece."}).json_body
    operator = world.operator()
    path = f"/backoffice/tickets/{ticket['id']}"
    assert world.call("PATCH", path, operator, {"status": "waiting_customer"}).json_body["status"] == "waiting_customer"
    reply = world.call("POST", f"/tickets/{ticket['id']}/messages", support_account, {"body": "Ainda não aparece."})
    assert reply.json_body["status"] == "open"
    assert world.call("PATCH", path, operator, {"status": "closed"}).status_code == 200
    reopen = world.call("PATCH", path, operator, {"status": "in_progress"})
    assert reopen.status_code == 409 and reopen.json_body["error"]["code"] == "invalid_status_transition"
    late = world.call("POST", f"/tickets/{ticket['id']}/messages", support_account, {"body": "Olá?"})
    assert late.status_code == 409 and late.json_body["error"]["code"] == "ticket_closed"
    closed = world.call("GET", "/backoffice/tickets?status=closed", operator).json_body["items"]
    assert [t["id"] for t in closed] == [ticket["id"]]


def test_the_customer_and_the_operator_read_the_same_ticket_with_its_messages(world):
    org = world.organization()
    support_account = world.user(org.id, [Role.SUPORTE])
    opened = world.call("POST", "/tickets", support_account, {
        "subject": "Teams pede senha", "category": "acesso", "severity": "baixa",
        "description": "Desde ontem o Teams pede senha de novo."}).json_body
    operator = world.operator()
    world.call("POST", f"/backoffice/tickets/{opened['id']}/messages", operator, {"body": "Vamos verificar."})
    listed = world.call("GET", "/tickets", support_account).json_body
    assert [t["id"] for t in listed["items"]] == [opened["id"]] and listed["next_token"] is None
    assert "messages" not in listed["items"][0]
    mine = world.call("GET", f"/tickets/{opened['id']}", support_account).json_body
    theirs = world.call("GET", f"/backoffice/tickets/{opened['id']}", operator).json_body
    assert mine == theirs
    assert [m["author_side"] for m in mine["messages"]] == ["customer", "operator"]
    assert (mine["status"], mine["messages_count"]) == ("in_progress", 2)


def test_bad_tickets_are_refused_per_field(world, catalog):
    org = world.organization()
    for body, field in [({"subject": "x", "category": "comercial", "severity": "alta", "description": "d"}, "category"),
                        ({"subject": "x", "category": "outro", "severity": "urgente", "description": "d"}, "severity"),
                        ({"subject": "", "category": "outro", "severity": "alta", "description": "d"}, "subject")]:
        response = world.call("POST", "/tickets", org.master, body)
        assert response.status_code == 400 and response.json_body["error"]["details"]["field"] == field


def test_direct_onboarding_refuses_a_cnpj_already_a_customer(world, catalog):
    operator = world.operator()
    body = {"cnpj": "04.252.011/0001-10", "company_name": "Escola Aprender Ltda", "closing_day": 5,
            "payment_method": "deposito", "master": {"email": "diretora@aprender.example", "name": "Denise"},
            "items": [{"sku": "MS365-BUSINESS-BASIC", "quantity": 40}], "address": ADDRESS}
    created = world.call("POST", "/backoffice/organizations", operator, body)
    assert created.status_code == 201
    duplicate = world.call("POST", "/backoffice/organizations", operator,
                           {**body, "master": {"email": "outra@aprender.example", "name": "Outra"}})
    assert duplicate.status_code == 409 and duplicate.json_body["error"]["code"] == "cnpj_in_use"
    names = [o["name"] for o in world.call("GET", "/backoffice/organizations", operator).json_body["items"]]
    assert "Escola Aprender Ltda" in names
    # The Master's login was not left behind by the refused attempt.
    login = world.call("POST", "/auth/login", body={"email": "outra@aprender.example", "password": "Qualquer#123"})
    assert login.json_body["error"]["code"] == "invalid_credentials"
    org_id = created.json_body["organization"]["id"]
    audit = world.call("GET", "/audit", operator, headers={"X-Organization-Id": org_id}).json_body["items"]
    assert {e["actor_email"] for e in audit} == {operator.user.email}


CONVERSION = {"closing_day": 15, "payment_method": "boleto",
              "master": {"email": "diretoria@horizonte.example", "name": "Diretoria"}, "address": ADDRESS}


@pytest.mark.parametrize("contacts, code, field", [
    (None, "required", "billing_contacts"),
    ([], "too_few_items", "billing_contacts"),
    (["sem-arroba"], "invalid_email", "billing_contacts[0]"),
    (["a@horizonte.example", "A@horizonte.example"], "duplicate_items", "billing_contacts"),
])
def test_converting_a_lead_needs_the_billing_contacts_confirmed_and_a_refusal_writes_nothing(
        world, catalog, contacts, code, field):
    submit(world)
    world.drain_queues()
    sent = len(world.outbox())
    operator = world.operator()
    body = dict(CONVERSION, **({} if contacts is None else {"billing_contacts": contacts}))
    response = world.call("POST", "/backoffice/leads/45997418000153/convert", operator, body)
    assert response.status_code == 400 and response.json_body["error"]["code"] == code
    assert response.json_body["error"]["details"]["field"] == field
    assert "{" not in response.json_body["error"]["message"]
    [lead] = world.call("GET", "/backoffice/leads", operator).json_body["items"]
    # The lead view still offers the requester's email, for the operator to confirm or not.
    assert (lead["status"], lead["organization_id"], lead["email"]) == ("new", None, "helena@horizonte.example")
    assert [o["id"] for o in world.call("GET", "/backoffice/organizations", operator).json_body["items"]] == \
        [RESELLER_ORGANIZATION_ID]
    world.drain_queues()
    assert len(world.outbox()) == sent


def test_a_converted_lead_bills_the_confirmed_contacts_not_the_requester(world, catalog):
    submit(world)  # filed by helena@horizonte.example, who may not be the company at all
    operator = world.operator()
    converted = world.call("POST", "/backoffice/leads/45997418000153/convert", operator,
                           dict(CONVERSION, billing_contacts=[" Contas@Horizonte.example "]))
    assert converted.status_code == 201, converted.json_body
    org_id = converted.json_body["organization"]["id"]
    contract = world.call("GET", "/contract", operator, headers={"X-Organization-Id": org_id}).json_body
    assert contract["billing_contacts"] == ["contas@horizonte.example"]


def test_the_operators_ticket_list_pages_through_every_ticket_once(world):
    # Its pages come from the all-tickets index (gsi2): the page token carries that index's keys.
    org = world.organization()
    support_account = world.user(org.id, [Role.SUPORTE])
    opened = {world.call("POST", "/tickets", support_account, {
        "subject": f"Chamado {n}", "category": "acesso", "severity": "baixa",
        "description": "Desde ontem o Teams pede senha de novo."}).json_body["id"] for n in range(3)}
    operator = world.operator()
    seen, token = [], None
    for _ in range(5):
        answer = world.call("GET", "/backoffice/tickets?limit=2" + (f"&next_token={token}" if token else ""), operator)
        assert answer.status_code == 200, answer.json_body
        seen += [t["id"] for t in answer.json_body["items"]]
        token = answer.json_body["next_token"]
        if token is None:
            break
    assert sorted(seen) == sorted(opened)


def test_the_operators_queue_asks_the_server_for_the_statuses_to_work_and_gets_full_pages(world):
    org = world.organization()
    support_account = world.user(org.id, [Role.SUPORTE])
    operator = world.operator()
    made = {}
    for status in ("open", "in_progress", "closed", "waiting_customer", "resolved", "closed", "open"):
        ticket = world.call("POST", "/tickets", support_account, {
            "subject": f"Chamado {status}", "category": "outro", "severity": "media", "description": "..."}).json_body
        if status != "open":
            assert world.call("PATCH", f"/backoffice/tickets/{ticket['id']}", operator,
                              {"status": status}).status_code == 200
        made[ticket["id"]] = status
    working = {i for i, s in made.items() if s in ("open", "in_progress", "waiting_customer")}

    # A page at a time, one per page: every page holds a ticket to work, the closed ones are skipped.
    seen, token = [], None
    while True:
        target = "/backoffice/tickets?status=open,in_progress,waiting_customer&limit=1"
        response = world.call("GET", target + (f"&next_token={token}" if token else ""), operator)
        assert response.status_code == 200, response.json_body
        seen += response.json_body["items"]
        token = response.json_body["next_token"]
        if not token:
            break
        assert len(response.json_body["items"]) == 1
    assert {t["id"] for t in seen} == working and len(seen) == len(working)
    assert all(t["status"] in ("open", "in_progress", "waiting_customer") for t in seen)
    # Newest first, as without a filter.
    assert [t["created_at"] for t in seen] == sorted((t["created_at"] for t in seen), reverse=True)
    # One status still works; a repeated one counts once; an unknown one is refused in words.
    closed = world.call("GET", "/backoffice/tickets?status=closed", operator).json_body["items"]
    assert {t["id"] for t in closed} == {i for i, s in made.items() if s == "closed"}
    assert len(world.call("GET", "/backoffice/tickets?status=resolved,resolved", operator).json_body["items"]) == 1
    for bad in ("open,bogus", "open,", ",open", "OPEN", "open;closed"):
        refused = world.call("GET", f"/backoffice/tickets?status={bad}", operator)
        assert (refused.status_code, refused.json_body["error"]["code"]) == (400, "invalid_status"), bad
