"""The Partner Center adapter against a local Partner Center and Entra ID (tests/fakes/partner_center.py):
MSAL's refresh-token exchange over HTTPS, customers linked or created, New Commerce orders through
cart and checkout, seats, cancellation inside the window, suspension and reactivation, and the
failures a partner's API answers."""
from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from chalicelib.adapters.licence_provider import (Customer, LicenceProviderRejected, LicenceProviderUnavailable,
                                                  Offer, OrderPending)
from chalicelib.adapters.partner_center import PartnerCenter
from chalicelib.adapters.secrets import JsonSecret
from chalicelib.domain.addresses import Address
from chalicelib.settings import PartnerCenterApi
from tests.fakes.partner_center import (APP_ID, APP_SECRET, CANCELLATION_WINDOW_CLOSED, REFRESH_TOKEN, TENANT,
                                        FakePartnerCenter)

BUSINESS_PREMIUM = Offer(sku="M365-BP", offer_id="CFQ7TTC0LCHC:0002", term="P1Y", billing_frequency="monthly")
ADDRESS = Address(cep="01310100", street="Avenida Paulista", number="1000", district="Bela Vista",
                  city_code="3550308", city="São Paulo", state="SP", complement="conj. 101")


class Secret:
    """JsonSecret's interface in memory (the Secrets Manager one is tested below)."""

    secret_id = "csp-portal/partner-center"

    def __init__(self, **values):
        self.stored = {"tenant_id": TENANT, "app_id": APP_ID, "app_secret": APP_SECRET,
                       "refresh_token": REFRESH_TOKEN, **values}
        self.puts = []
        self.forgets = 0

    def values(self):
        return dict(self.stored)

    def forget(self):
        self.forgets += 1

    def put(self, values):
        self.puts.append(dict(values))
        self.stored = dict(values)


@pytest.fixture(scope="module")
def server():
    with FakePartnerCenter() as fake:
        yield fake


@pytest.fixture
def pc(server):
    """The fake with its state and scripts fresh for each test (one server: TLS set-up is costly)."""
    server.reset()
    return server


def api(pc, **changes) -> PartnerCenterApi:
    values = dict(api_url=pc.url, authority_host=pc.url, credentials_secret="csp-portal/partner-center",
                  timeout_seconds=5.0, ca_bundle=pc.ca_bundle, country="BR")
    values.update(changes)
    return PartnerCenterApi(**values)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def secret():
    return Secret()


@pytest.fixture
def adapter(pc, secret, sleeps):
    return PartnerCenter(api(pc), secret, sleep=sleeps.append)


def new_customer(domain="acai-e-cia.onmicrosoft.com", existing=False, **changes) -> Customer:
    values = dict(organization_id="org-1", name="Açaí & Cia Ltda", cnpj="11222333000181", domain=domain,
                  existing_microsoft_customer=existing, email="ti@acaiecia.com.br", address=ADDRESS)
    values.update(changes)
    return Customer(**values)


def writes(pc):
    return [r for r in pc.requests if r.method in ("POST", "PATCH")]


# -- customers -------------------------------------------------------------------------------------


def test_an_existing_microsoft_customer_is_linked_by_its_domain(pc, adapter, secret):
    linked = pc.add_customer("contoso.onmicrosoft.com")
    pc.add_customer("contoso.onmicrosoft.com.br")  # starts with the same text: not the one

    assert adapter.ensure_customer(new_customer("Contoso.onmicrosoft.com", existing=True), "req-1") == linked

    [search] = pc.requests
    assert search.method == "GET" and search.path == "/v1/customers"
    assert json.loads(search.query["filter"]) == {"Field": "Domain", "Value": "contoso.onmicrosoft.com",
                                                  "Operator": "starts_with"}
    assert search.locale == "pt-BR" and search.correlation_id and search.request_id
    assert writes(pc) == []
    # One token for the call, obtained with the app's credentials and the partner admin's refresh token.
    assert pc.token_requests == [{"grant_type": "refresh_token", "client_id": APP_ID, "refresh_token": REFRESH_TOKEN}]


def test_an_existing_customer_whose_invitation_is_pending_is_refused_and_nothing_is_created(pc, adapter):
    pc.add_foreign_tenant("padaria.onmicrosoft.com")

    with pytest.raises(LicenceProviderRejected) as refused:
        adapter.ensure_customer(new_customer("padaria.onmicrosoft.com", existing=True), "req-1")

    assert refused.value.code == "customer_not_linked"
    assert "convite" in refused.value.description and "padaria.onmicrosoft.com" in refused.value.description
    assert writes(pc) == [] and len(pc.state.customers) == 0


def test_a_new_customer_is_created_under_its_domain_once_for_two_calls(pc, adapter):
    first = adapter.ensure_customer(new_customer(), "req-1")
    second = adapter.ensure_customer(new_customer(), "req-1")

    assert first == second and list(pc.state.customers) == [first]
    [head] = pc.calls("HEAD")
    assert head.path == "/v1/domains/acai-e-cia.onmicrosoft.com"
    [created] = pc.calls("POST", "/v1/customers")
    assert created.body["companyProfile"]["domain"] == "acai-e-cia.onmicrosoft.com"
    billing = created.body["billingProfile"]
    assert (billing["culture"], billing["language"], billing["email"], billing["companyName"]) == (
        "pt-BR", "pt", "ti@acaiecia.com.br", "Açaí & Cia Ltda")
    assert billing["defaultAddress"] == {
        "country": "BR", "city": "São Paulo", "state": "SP", "addressLine1": "Avenida Paulista, 1000",
        "addressLine2": "conj. 101, Bela Vista", "postalCode": "01310-100", "firstName": "Administrador",
        "lastName": "Açaí & Cia Ltda"}
    # Each call is one operation: its calls share a correlation id, the next call has another.
    first_call = {r.correlation_id for r in pc.requests[:3]}
    assert len(first_call) == 1 and pc.requests[3].correlation_id not in first_call


def test_a_domain_another_tenant_holds_is_refused_before_any_creation(pc, adapter):
    pc.add_foreign_tenant("acai-e-cia.onmicrosoft.com")

    with pytest.raises(LicenceProviderRejected) as refused:
        adapter.ensure_customer(new_customer(), "req-1")

    assert refused.value.code == "domain_taken"
    assert pc.calls("POST") == [] and pc.state.customers == {}


def test_a_customer_creation_whose_answer_was_lost_is_sent_again_with_its_request_id_and_made_once(pc, adapter,
                                                                                                      sleeps):
    pc.lose_answer_next("POST", "/v1/customers")

    customer_id = adapter.ensure_customer(new_customer(), "req-1")

    first, again = pc.calls("POST", "/v1/customers")
    assert first.request_id == again.request_id and first.correlation_id == again.correlation_id
    assert list(pc.state.customers) == [customer_id]
    assert sleeps == [1.0]
