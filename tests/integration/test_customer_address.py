"""The customer's address (the NFS-e taker's): asked at onboarding, shown in the organisation's views
and /me, completed by the operator for customers onboarded before it was asked."""
import boto3
import pytest

from chalicelib.domain.roles import Role
from chalicelib.domain.users import RESELLER_ORGANIZATION_ID
from tests.security.test_email_headers import spy_on_queued_emails
from tests.support import ADDRESS, in_parallel, reading_together

CUSTOMER = {"cnpj": "04.252.011/0001-10", "company_name": "Escola Aprender Ltda", "closing_day": 5,
            "payment_method": "boleto", "master": {"email": "diretora@aprender.example", "name": "Denise"},
            "items": [{"sku": "MS365-BUSINESS-BASIC", "quantity": 40}], "address": ADDRESS}
LEAD = {"cnpj": "45.997.418/0001-53", "company_name": "Construtora Horizonte Ltda", "contact_name": "Helena Souza",
        "email": "helena@horizonte.example", "phone": "(11) 98765-4321", "products_of_interest": ["MS365-E3"],
        "existing_microsoft_customer": False}
CONVERSION = {"closing_day": 15, "payment_method": "boleto", "billing_contacts": ["financeiro@horizonte.example"],
              "master": {"email": "diretoria@horizonte.example", "name": "Diretoria"}, "address": ADDRESS}
SHOWN = {"cep": "01310100", "street": "Avenida Paulista", "number": "1000", "complement": "Conjunto 101",
         "district": "Bela Vista", "city_code": "3550308", "city": "São Paulo", "state": "SP"}
RIO = {"cep": "20040-020", "street": "Avenida Rio Branco", "number": "156", "district": "Centro",
       "city_code": "3304557"}

BAD_ADDRESSES = [
    ({"cep": "0131-100"}, "address.cep"),
    ({"city_code": "3550309"}, "address.city_code"),
    ({"state": "RJ"}, "address.state"),
    ({"city": "Campinas"}, "address.city"),
    ({"number": None}, "address.number"),
    ({"number": "  "}, "address.number"),
]


@pytest.fixture
def catalog(world):
    world.seed_catalog()


def organizations(world, operator):
    return {o["id"]: o for o in world.call("GET", "/backoffice/organizations", operator).json_body["items"]}


def cognito_has(world, email):
    cognito = boto3.client("cognito-idp", region_name=world.deps.settings.region)
    try:
        cognito.admin_get_user(UserPoolId=world.deps.settings.user_pool_id, Username=email)
    except cognito.exceptions.UserNotFoundException:
        return False
    return True


def address_with(changes, base=ADDRESS):
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def with_address(body, changes):
    return {**body, "address": address_with(changes)}


def test_a_new_customer_keeps_its_address_with_the_ibge_name_and_its_users_see_it(world, catalog):
    operator = world.operator()
    created = world.call("POST", "/backoffice/organizations", operator,
                         {**CUSTOMER, "address": {**ADDRESS, "city": "sao paulo", "state": "sp"}})
    assert created.status_code == 201, created.json_body
    organization = created.json_body["organization"]
    assert (organization["address"], organization["version"]) == (SHOWN, 1)
    assert organizations(world, operator)[organization["id"]]["address"] == SHOWN
    adm = world.user(organization["id"], [Role.ADM])
    assert world.call("GET", "/me", adm).json_body["organization"]["address"] == SHOWN
    # The audit of the creation pictures the address too.
    audit = world.call("GET", "/audit", operator, headers={"X-Organization-Id": organization["id"]}).json_body
    [created_entry] = [e for e in audit["items"] if e["action"] == "organization.created"]
    assert created_entry["after"]["address"] == SHOWN


def test_a_customer_cannot_be_created_without_an_address(world, catalog):
    operator = world.operator()
    body = {k: v for k, v in CUSTOMER.items() if k != "address"}
    answer = world.call("POST", "/backoffice/organizations", operator, body)
    assert answer.status_code == 400
    assert (answer.json_body["error"]["code"], answer.json_body["error"]["details"]["field"]) == ("required", "address")
    assert list(organizations(world, operator)) == [RESELLER_ORGANIZATION_ID]
    assert not cognito_has(world, "diretora@aprender.example")


@pytest.mark.parametrize("changes, field", BAD_ADDRESSES)
def test_a_bad_address_field_is_a_422_naming_it_and_nothing_is_created_or_sent(
        world, catalog, monkeypatch, changes, field):
    operator = world.operator()
    queued = spy_on_queued_emails(world, monkeypatch)
    answer = world.call("POST", "/backoffice/organizations", operator, with_address(CUSTOMER, changes))
    assert answer.status_code == 422, answer.json_body
    error = answer.json_body["error"]
    assert (error["code"], error["details"]["field"]) == ("invalid_address", field)
    assert field in error["message"] and "{" not in error["message"]
    # Nothing: no organisation, no login for the Master, no email, and the CNPJ is still free.
    assert list(organizations(world, operator)) == [RESELLER_ORGANIZATION_ID]
    assert not cognito_has(world, "diretora@aprender.example")
    assert queued == [] and world.drain_queues() == 0 and world.outbox() == []
    assert world.call("POST", "/backoffice/organizations", operator, CUSTOMER).status_code == 201


@pytest.mark.parametrize("changes, field", BAD_ADDRESSES)
def test_a_lead_converted_with_a_bad_address_stays_a_lead(world, catalog, monkeypatch, changes, field):
    assert world.call("POST", "/leads", body=LEAD).status_code == 201
    world.drain_queues()
    sent = len(world.outbox())
    operator = world.operator()
    queued = spy_on_queued_emails(world, monkeypatch)
    answer = world.call("POST", "/backoffice/leads/45997418000153/convert", operator,
                        with_address(CONVERSION, changes))
    assert answer.status_code == 422, answer.json_body
    assert (answer.json_body["error"]["code"], answer.json_body["error"]["details"]["field"]) == \
        ("invalid_address", field)
    [lead] = world.call("GET", "/backoffice/leads", operator).json_body["items"]
    assert (lead["status"], lead["organization_id"]) == ("new", None)
    assert list(organizations(world, operator)) == [RESELLER_ORGANIZATION_ID]
    assert not cognito_has(world, "diretoria@horizonte.example")
    assert queued == []
    world.drain_queues()
    assert len(world.outbox()) == sent


def test_a_converted_lead_keeps_the_address_the_operator_sent(world, catalog):
    assert world.call("POST", "/leads", body=LEAD).status_code == 201
    operator = world.operator()
    converted = world.call("POST", "/backoffice/leads/45997418000153/convert", operator,
                           {**CONVERSION, "address": RIO})
    assert converted.status_code == 201, converted.json_body
    assert converted.json_body["organization"]["address"] == {
        "cep": "20040020", "street": "Avenida Rio Branco", "number": "156", "complement": None,
        "district": "Centro", "city_code": "3304557", "city": "Rio de Janeiro", "state": "RJ"}


def test_a_customer_from_before_the_address_lists_and_signs_in_without_one(world):
    old = world.organization(address=None)
    operator = world.operator()
    listed = organizations(world, operator)[old.id]
    assert (listed["address"], listed["version"]) == (None, 1)
    assert world.call("GET", "/me", old.master).json_body["organization"]["address"] is None


def test_the_operator_completes_an_address_audited_with_before_and_after(world):
    old = world.organization(address=None)
    operator = world.operator()
    path = f"/backoffice/organizations/{old.id}/address"
    answer = world.call("PUT", path, operator, {**ADDRESS, "cep": "01310100"}, headers={"If-Match": '"1"'})
    assert answer.status_code == 200, answer.json_body
    assert (answer.json_body["id"], answer.json_body["address"], answer.json_body["version"]) == (old.id, SHOWN, 2)
    assert organizations(world, operator)[old.id]["address"] == SHOWN
    assert world.call("GET", "/me", old.master).json_body["organization"]["address"] == SHOWN
    trail = world.call("GET", "/audit", operator, headers={"X-Organization-Id": old.id}).json_body["items"]
    [entry] = [e for e in trail if e["action"] == "organization.address_changed"]
    assert (entry["before"], entry["after"], entry["actor_email"], entry["target"]) == \
        ({"address": None}, {"address": SHOWN}, operator.user.email, f"organization:{old.id}")

    # From the version it replaced: refused, nothing changed.
    stale = world.call("PUT", path, operator, RIO, headers={"If-Match": "1"})
    assert stale.status_code == 409 and stale.json_body["error"]["code"] == "version_conflict"
    # The same address again: nothing to write, nothing audited.
    again = world.call("PUT", path, operator, ADDRESS, headers={"If-Match": "2"})
    assert again.status_code == 200 and again.json_body["version"] == 2
    moved = world.call("PUT", path, operator, RIO, headers={"If-Match": "2"})
    assert moved.status_code == 200 and moved.json_body["address"]["city"] == "Rio de Janeiro"
    trail = world.call("GET", "/audit", operator, headers={"X-Organization-Id": old.id}).json_body["items"]
    changes = [e for e in trail if e["action"] == "organization.address_changed"]
    assert len(changes) == 2 and changes[0]["before"] == {"address": SHOWN}


@pytest.mark.parametrize("changes, field", [(c, f.split(".")[1]) for c, f in BAD_ADDRESSES])
def test_a_bad_address_from_the_operator_changes_nothing(world, changes, field):
    org = world.organization()
    operator = world.operator()
    before = world.call("GET", "/audit", operator, headers={"X-Organization-Id": org.id}).json_body["items"]
    answer = world.call("PUT", f"/backoffice/organizations/{org.id}/address", operator,
                        address_with(changes, base={**ADDRESS, "street": "Rua Augusta"}))
    assert answer.status_code == 422, answer.json_body
    assert (answer.json_body["error"]["code"], answer.json_body["error"]["details"]["field"]) == \
        ("invalid_address", field)
    listed = organizations(world, operator)[org.id]
    assert (listed["address"], listed["version"]) == (SHOWN, 1)
    assert world.call("GET", "/audit", operator, headers={"X-Organization-Id": org.id}).json_body["items"] == before


def test_two_address_edits_from_the_same_version_cannot_both_pass(world, monkeypatch):
    org = world.organization(address=None)
    operator = world.operator()
    reading_together(monkeypatch, world.deps.organizations, "get", 2)
    answers = in_parallel(2, lambda n: world.call("PUT", f"/backoffice/organizations/{org.id}/address", operator,
                                                  [ADDRESS, RIO][n]))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.json_body for a in answers]
    [winner] = [a for a in answers if a.status_code == 200]
    listed = organizations(world, operator)[org.id]
    assert (listed["address"], listed["version"]) == (winner.json_body["address"], 2)
    trail = world.call("GET", "/audit", operator, headers={"X-Organization-Id": org.id}).json_body["items"]
    assert len([e for e in trail if e["action"] == "organization.address_changed"]) == 1


def test_only_operators_change_an_address_and_only_of_a_customer_that_exists(world):
    org = world.organization(address=None)
    answer = world.call("PUT", f"/backoffice/organizations/{org.id}/address", org.master, ADDRESS)
    assert answer.status_code == 403
    operator = world.operator()
    assert organizations(world, operator)[org.id]["address"] is None
    missing = world.call("PUT", "/backoffice/organizations/nao-existe/address", operator, ADDRESS)
    assert missing.status_code == 404 and missing.json_body["error"]["code"] == "organization_not_found"


def test_the_demo_customers_have_addresses_their_views_show(world):
    from local import seed

    accounts = seed.seed(world.deps)
    shown = {}
    for account in accounts:
        if account.roles == ["master"]:
            organization = world.deps.organizations.get(account.organization_id)
            shown[organization.name] = (organization.address.city, organization.address.state)
    assert shown == {"Padaria Pão de Mel Ltda": ("São Paulo", "SP"), "Oficina Digital Ltda": ("Campinas", "SP")}


def test_an_operator_reads_one_customer_and_nobody_else_does(world):
    org = world.active_organization(10)
    operator = world.operator()
    answer = world.call("GET", f"/backoffice/organizations/{org.id}", operator)
    assert answer.status_code == 200, answer.json_body
    listed = world.call("GET", "/backoffice/organizations?limit=100", operator).json_body["items"]
    assert answer.json_body == next(o for o in listed if o["id"] == org.id)
    assert world.call("GET", "/backoffice/organizations/nao-existe", operator).status_code == 404
    assert world.call("GET", f"/backoffice/organizations/{org.id}", org.master).status_code == 403
