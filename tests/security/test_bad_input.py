"""Never a 500 for bad input: what Cognito refuses, an over-long or malformed SKU on every route
that takes one, and two edits of one product at once — each a clear 4xx that writes nothing."""
import pytest

from chalicelib.domain.catalog import SKU_RULE
from tests.security.test_email_headers import spy_on_queued_emails
from tests.support import ADDRESS, in_parallel, reading_together

PRODUCT = {"name": "Produto Novo", "family": "Azure", "unit_price_cents": 1000, "term": "P1M",
           "billing_frequency": "monthly"}
BAD_SKUS = ["A" * 65, "X" * 2000, "ms365-e3", "-MS365", "MS365_E3", "MS 365", "A", "MS365-E3\u2028", "ÇÃO-1"]


def audit_items(world, account):
    return world.call("GET", "/audit", account).json_body["items"]


@pytest.mark.parametrize("sku", BAD_SKUS, ids=repr)
def test_a_malformed_sku_is_refused_with_the_rule_on_every_route_that_takes_one(world, sku):
    from urllib.parse import quote

    org, operator = world.active_organization(), world.operator()
    before = (audit_items(world, org.master), audit_items(world, operator))
    path = quote(sku, safe="")
    answers = [
        world.call("PUT", f"/backoffice/catalog/products/{path}", operator, PRODUCT),
        world.call("PUT", f"/cart/items/{path}", org.master, {"quantity": 2}),
        world.call("DELETE", f"/cart/items/{path}", org.master),
        world.call("POST", "/leads", None, {
            "cnpj": "45.997.418/0001-53", "company_name": "Empresa", "contact_name": "Pessoa",
            "email": "pessoa@empresa.example", "phone": "11987654321", "products_of_interest": [sku],
            "existing_microsoft_customer": False}),
        world.call("POST", "/backoffice/organizations", operator, {
            "cnpj": "11.222.333/0001-81", "company_name": "Empresa", "closing_day": 10, "payment_method": "boleto",
            "master": {"email": "m@empresa.example", "name": "M"}, "items": [{"sku": sku, "quantity": 1}],
            "address": ADDRESS}),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.json_body
        error = answer.json_body["error"]
        assert error["code"] == "invalid_sku" and error["details"]["rule"] == SKU_RULE, error
    assert world.deps.catalog.get(sku[:64]) is None
    assert (audit_items(world, org.master), audit_items(world, operator)) == before
    assert world.call("GET", "/cart", org.master).json_body["items"] == []
    assert world.call("GET", "/backoffice/leads", operator).json_body["items"] == []


def test_the_openapi_document_publishes_the_sku_rule_for_path_and_body():
    import app  # noqa: F401 - registers the routes
    from chalicelib.api.openapi import document

    paths = document()["paths"]
    for path, method in (("/backoffice/catalog/products/{sku}", "put"), ("/cart/items/{sku}", "put"),
                         ("/cart/items/{sku}", "delete")):
        [parameter] = [p for p in paths[path][method]["parameters"] if p["in"] == "path"]
        assert parameter["schema"]["pattern"] == SKU_RULE
    lead = paths["/leads"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert lead["properties"]["products_of_interest"]["items"]["pattern"] == SKU_RULE


def test_two_operators_creating_one_product_at_once_make_one_product_and_one_audit_entry(world, monkeypatch):
    operators = [world.operator(), world.operator()]
    reading_together(monkeypatch, world.deps.catalog, "get", 2)
    prices = (1000, 2000)
    answers = in_parallel(2, lambda n: world.call("PUT", "/backoffice/catalog/products/NOVO-1", operators[n],
                                                  {**PRODUCT, "unit_price_cents": prices[n]}))
    assert sorted(a.status_code for a in answers) == [200, 409]
    [won] = [a for a in answers if a.status_code == 200]
    [lost] = [a for a in answers if a.status_code == 409]
    assert lost.json_body["error"]["code"] == "concurrent_update"
    created = [e for e in audit_items(world, operators[0]) if e["target"] == "product:NOVO-1"]
    assert len(created) == 1 and created[0]["action"] == "catalog.product_created"
    # The product as written is the one its audit entry records, price included.
    product = world.deps.catalog.get("NOVO-1")
    assert product.prices[-1].unit_price_cents == won.json_body["unit_price_cents"]
    assert created[0]["after"]["prices"][-1]["unit_price_cents"] == won.json_body["unit_price_cents"]


def test_a_price_change_racing_another_edit_of_the_product_is_refused_and_writes_nothing(world, monkeypatch):
    operator = world.operator()
    assert world.call("PUT", "/backoffice/catalog/products/NOVO-1", operator, PRODUCT).status_code == 200
    reading_together(monkeypatch, world.deps.catalog, "get", 2)
    answers = in_parallel(2, lambda n: world.call("PUT", "/backoffice/catalog/products/NOVO-1", operator,
                                                  {**PRODUCT, "unit_price_cents": 1500 + n}))
    assert sorted(a.status_code for a in answers) == [200, 409]
    updates = [e for e in audit_items(world, operator) if e["action"] == "catalog.product_updated"]
    assert len(updates) == 1


class RefusingCognito:
    """Cognito as deployed: AdminCreateUser refuses what its rules refuse, however lenient the
    local emulator is (the test must not pass because moto happens to accept the input)."""

    def __init__(self, real):
        self._real = real
        self.exceptions = real.exceptions
        self.calls = 0

    def admin_create_user(self, **kwargs):
        self.calls += 1
        raise self.exceptions.InvalidParameterException(
            {"Error": {"Code": "InvalidParameterException", "Message": "Username should be an email."}},
            "AdminCreateUser")

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.mark.parametrize("route", ["invite", "customer"])
def test_what_cognito_refuses_is_a_400_that_creates_nothing_and_sends_nothing(world, monkeypatch, route):
    org, operator = world.organization(), world.operator()
    refusing = RefusingCognito(world.deps.identity._cognito())
    monkeypatch.setattr(world.deps.identity, "_cognito", lambda: refusing)
    queued = spy_on_queued_emails(world, monkeypatch)
    before = (audit_items(world, org.master), audit_items(world, operator))
    if route == "invite":
        answer = world.call("POST", "/users", org.master, {"email": "a,b@empresa.example", "name": "Pessoa",
                                                           "roles": ["suporte"]})
    else:
        answer = world.call("POST", "/backoffice/organizations", operator, {
            "cnpj": "11.222.333/0001-81", "company_name": "Empresa", "closing_day": 10, "payment_method": "boleto",
            "master": {"email": "a,b@empresa.example", "name": "M"}, "address": ADDRESS})
    assert refusing.calls == 1
    assert answer.status_code == 400 and answer.json_body["error"]["code"] == "identity_rejected", answer.json_body
    assert (audit_items(world, org.master), audit_items(world, operator)) == before
    assert queued == []
    assert world.call("GET", "/backoffice/organizations", operator).json_body["items"] == \
        [o for o in world.call("GET", "/backoffice/organizations", operator).json_body["items"]
         if o["cnpj"] != "11222333000181"]


def test_an_email_with_a_comma_is_a_400_on_the_local_cognito_too(world):
    org = world.organization()
    answer = world.call("POST", "/users", org.master, {"email": "a,b@empresa.example", "name": "Pessoa",
                                                       "roles": ["suporte"]})
    assert answer.status_code == 400 and answer.json_body["error"]["code"] in ("identity_rejected", "invalid_email")
    assert world.drain_queues() == 0
