"""The Partner Center adapter against a local Partner Center and Entra ID (tests/fakes/partner_center.py):
MSAL's refresh-token exchange over HTTPS, customers linked or created, New Commerce orders through
cart and checkout, seats, cancellation inside the window, suspension and reactivation, and the
failures a partner's API answers."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

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


# -- orders ----------------------------------------------------------------------------------------


@pytest.fixture
def customer_id(pc):
    return pc.add_customer("acai-e-cia.onmicrosoft.com")


def test_an_nce_offer_is_ordered_through_a_cart_and_its_checkout(pc, adapter, customer_id):
    subscription_id = adapter.create_subscription(customer_id, BUSINESS_PREMIUM, 12, "change-1")

    availabilities, cart, checkout = pc.requests
    assert availabilities.path == "/v1/products/CFQ7TTC0LCHC/skus/0002/availabilities"
    assert availabilities.query == {"country": "BR", "targetSegment": "commercial"}
    assert cart.path == f"/v1/customers/{customer_id}/carts"
    # The availability whose terms hold a year billed monthly (not the monthly or the three-year one).
    assert cart.body == {"lineItems": [{"id": 0, "catalogItemId": "CFQ7TTC0LCHC:0002:CFQ7TTC0PB0P", "quantity": 12,
                                        "billingCycle": "monthly", "termDuration": "P1Y"}]}
    cart_id = next(iter(pc.state.carts))
    assert checkout.path == f"/v1/customers/{customer_id}/carts/{cart_id}/checkout"
    # One correlation id for the operation; a distinct request id per write.
    assert len({r.correlation_id for r in pc.requests}) == 1
    assert cart.request_id != checkout.request_id
    assert adapter.get(customer_id, subscription_id) == {
        "id": subscription_id, "customer_id": customer_id, "offer_id": "CFQ7TTC0LCHC:0002",
        "catalog_item_id": "CFQ7TTC0LCHC:0002:CFQ7TTC0PB0P", "quantity": 12, "status": "active", "term": "P1Y",
        "billing_cycle": "monthly",
        "cancellable_until": pc.state.subscriptions[subscription_id]["refundOptions"][0]["expiresAt"],
        "commitment_end": pc.state.subscriptions[subscription_id]["commitmentEndDate"]}


def test_an_order_retried_by_the_worker_reuses_its_request_ids_and_buys_once(pc, adapter, customer_id, sleeps):
    pc.lose_answer_next("POST", "/checkout")
    pc.fail_next(3, status=503, method="POST", path="/checkout")  # then the retries meet an outage

    with pytest.raises(LicenceProviderUnavailable):
        adapter.create_subscription(customer_id, BUSINESS_PREMIUM, 3, "change-1")
    # The provisioning worker tries the same change again later.
    subscription_id = adapter.create_subscription(customer_id, BUSINESS_PREMIUM, 3, "change-1")

    carts = [r for r in pc.calls("POST") if r.path.endswith("/carts")]
    checkouts = pc.calls("POST", "/checkout")
    assert len({c.request_id for c in carts}) == 1 and len({c.request_id for c in checkouts}) == 1
    assert len(pc.state.carts) == 1 and len(pc.state.orders) == 1
    assert list(pc.state.subscriptions) == [subscription_id]
    # Two operations, two correlation ids.
    assert len({c.correlation_id for c in checkouts}) == 2
    assert sleeps == [1.0, 2.0, 4.0]


def test_an_asynchronous_order_is_pending_until_its_subscription_is_provisioned(pc, adapter, customer_id):
    pc.orders_provision_after_polls = 2

    with pytest.raises(OrderPending) as pending:
        adapter.create_subscription(customer_id, BUSINESS_PREMIUM, 5, "change-1")
    order_id = pending.value.order_id
    assert order_id in pc.state.orders and pc.state.subscriptions == {}

    with pytest.raises(OrderPending):
        adapter.order_outcome(customer_id, order_id)
    subscription_id = adapter.order_outcome(customer_id, order_id)

    assert list(pc.state.subscriptions) == [subscription_id]
    assert adapter.get(customer_id, subscription_id)["quantity"] == 5


def test_an_order_whose_lines_do_not_name_the_subscription_is_asked_about_by_order(pc, adapter, customer_id):
    pc.orders_provision_after_polls = 1
    pc.orders_name_subscriptions = False

    with pytest.raises(OrderPending) as pending:
        adapter.create_subscription(customer_id, BUSINESS_PREMIUM, 5, "change-1")
    subscription_id = adapter.order_outcome(customer_id, pending.value.order_id)

    assert list(pc.state.subscriptions) == [subscription_id]
    [listed] = pc.calls("GET", "/subscriptions")
    assert listed.query == {"order_id": pending.value.order_id}


def test_ids_that_would_change_the_url_are_refused_before_any_request(pc, adapter, customer_id):
    for customer, subscription in ((customer_id, "../../customers"), ("a/b", "sub"), (customer_id, "x?y=1"),
                                   ("..", "sub")):
        with pytest.raises(ValueError):
            adapter.suspend(customer, subscription, "dunning-1")
    with pytest.raises(ValueError):
        adapter.order_outcome(customer_id, "order/../../x")
    assert pc.requests == []


def test_an_offer_without_the_term_asked_is_refused_before_any_cart(pc, adapter, customer_id):
    basic_three_years = Offer(sku="M365-BB", offer_id="CFQ7TTC0LH18:0001", term="P3Y", billing_frequency="triennial")

    with pytest.raises(LicenceProviderRejected) as refused:
        adapter.create_subscription(customer_id, basic_three_years, 1, "change-1")

    assert refused.value.code == "offer_unavailable" and "P3Y" in refused.value.description
    assert writes(pc) == []


def test_a_sku_the_catalog_does_not_map_to_an_offer_is_refused_without_a_request(pc, adapter, customer_id):
    with pytest.raises(LicenceProviderRejected) as refused:
        adapter.create_subscription(customer_id, Offer("X", None, "P1M", "monthly"), 1, "change-1")

    assert refused.value.code == "offer_not_mapped" and pc.requests == []


def test_a_validation_error_becomes_a_rejection_with_partner_center_s_code(pc, adapter, customer_id):
    pc.refuse_next("800023", "You are not eligible for this transaction because your Credit Line is not reaching "
                   "minimum threshold", status=403, method="POST", path="/carts")

    with pytest.raises(LicenceProviderRejected) as refused:
        adapter.create_subscription(customer_id, BUSINESS_PREMIUM, 1, "change-1")

    assert refused.value.code == "800023" and "Credit Line" in refused.value.description
    assert len(pc.calls("POST", "/carts")) == 1 and pc.calls("POST", "/checkout") == []
    assert pc.state.carts == {}


# -- subscriptions ---------------------------------------------------------------------------------


@pytest.fixture
def subscription_id(pc, adapter, customer_id):
    made = adapter.create_subscription(customer_id, BUSINESS_PREMIUM, 10, "change-1")
    pc.requests.clear()
    return made


def test_seats_change_by_patching_the_subscription_as_read(pc, adapter, customer_id, subscription_id):
    adapter.update_quantity(customer_id, subscription_id, 14, "change-2")
    adapter.update_quantity(customer_id, subscription_id, 14, "change-2")  # a repeat: nothing sent

    [patch] = pc.calls("PATCH")
    read = pc.requests[0]
    assert read.method == "GET" and read.path == patch.path == f"/v1/customers/{customer_id}/subscriptions/{subscription_id}"
    assert patch.body["quantity"] == 14 and patch.body["offerId"] == "CFQ7TTC0LCHC:0002:CFQ7TTC0PB0P"
    assert patch.body["status"] == "active" and patch.correlation_id == read.correlation_id
    assert adapter.get(customer_id, subscription_id)["quantity"] == 14


def test_a_subscription_is_cancelled_inside_its_window(pc, adapter, customer_id, subscription_id):
    adapter.update_quantity(customer_id, subscription_id, 0, "change-2")
    adapter.cancel(customer_id, subscription_id, "change-2")  # a repeat: cancelled already, nothing sent

    [patch] = pc.calls("PATCH")
    assert patch.body["status"] == "deleted"
    assert adapter.get(customer_id, subscription_id)["status"] == "cancelled"


def test_a_cancellation_past_the_window_is_refused_with_partner_center_s_code(pc, adapter, customer_id,
                                                                              subscription_id):
    pc.close_cancellation_window(subscription_id)

    with pytest.raises(LicenceProviderRejected) as refused:
        adapter.cancel(customer_id, subscription_id, "change-2")

    assert refused.value.code == CANCELLATION_WINDOW_CLOSED and "window" in refused.value.description
    assert pc.state.subscriptions[subscription_id]["status"] == "active"
    assert len(pc.calls("PATCH")) == 1  # a refusal is not retried


def test_a_subscription_changed_between_read_and_patch_is_read_again_and_patched_once_more(
        pc, adapter, customer_id, subscription_id):
    pc.change_before_next_patch(1)  # an auto-renewal or the partner's portal moves its etag
    adapter.update_quantity(customer_id, subscription_id, 14, "change-2")

    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in pc.requests] == [
        ("GET", subscription_id), ("PATCH", subscription_id), ("GET", subscription_id), ("PATCH", subscription_id)]
    first, second = pc.calls("PATCH")
    assert first.request_id != second.request_id  # Partner Center would answer the first id's 412 again
    assert adapter.get(customer_id, subscription_id)["quantity"] == 14


def test_a_subscription_changed_twice_under_the_patch_is_unavailable_not_refused(pc, adapter, customer_id,
                                                                                 subscription_id):
    pc.change_before_next_patch(2)
    with pytest.raises(LicenceProviderUnavailable):
        adapter.suspend(customer_id, subscription_id, "dunning-1")
    assert len(pc.calls("PATCH")) == 2 and pc.state.subscriptions[subscription_id]["status"] == "active"

    adapter.suspend(customer_id, subscription_id, "dunning-1")  # the worker's next try
    assert adapter.get(customer_id, subscription_id)["status"] == "suspended"


def test_a_conflict_with_an_operation_in_progress_is_unavailable_another_conflict_a_refusal(
        pc, adapter, customer_id, subscription_id):
    pc.refuse_next("800002", "Another operation is in progress on this subscription. Try again later.",
                   status=409, method="PATCH")
    with pytest.raises(LicenceProviderUnavailable):
        adapter.update_quantity(customer_id, subscription_id, 14, "change-2")

    pc.refuse_next("2000", "Domain acai.onmicrosoft.com already exists", status=409, method="PATCH")
    with pytest.raises(LicenceProviderRejected) as refused:
        adapter.update_quantity(customer_id, subscription_id, 15, "change-3")
    assert refused.value.code == "2000"


def test_suspension_and_reactivation_are_repeat_safe(pc, adapter, customer_id, subscription_id):
    adapter.suspend(customer_id, subscription_id, "dunning-1")
    adapter.suspend(customer_id, subscription_id, "dunning-1")
    assert adapter.get(customer_id, subscription_id)["status"] == "suspended"

    adapter.reactivate(customer_id, subscription_id, "paid-1")
    adapter.reactivate(customer_id, subscription_id, "paid-1")

    assert [p.body["status"] for p in pc.calls("PATCH")] == ["suspended", "active"]
    assert adapter.get(customer_id, subscription_id)["status"] == "active"


# -- tokens and failures ---------------------------------------------------------------------------


def test_an_expired_access_token_is_replaced_once_and_the_request_sent_again(pc, adapter, customer_id,
                                                                             subscription_id):
    tokens_before = len(pc.token_requests)
    pc.expire_tokens()

    assert adapter.get(customer_id, subscription_id)["id"] == subscription_id

    first, again = pc.requests
    assert first.request_id == again.request_id
    assert len(pc.token_requests) == tokens_before + 1


def test_a_token_the_api_keeps_refusing_is_not_renewed_in_a_loop(pc, adapter, customer_id, subscription_id,
                                                                 monkeypatch):
    monkeypatch.setattr(pc, "token_is_valid", lambda header: False)
    tokens_before = len(pc.token_requests)

    with pytest.raises(LicenceProviderUnavailable) as failed:
        adapter.get(customer_id, subscription_id)

    assert "401" in str(failed.value)
    assert len(pc.requests) == 2 and len(pc.token_requests) == tokens_before + 1


def test_a_429_waits_its_retry_after(pc, adapter, customer_id, subscription_id, sleeps):
    pc.throttle_next("7", count=2)

    adapter.suspend(customer_id, subscription_id, "dunning-1")

    assert sleeps == [7.0, 7.0]
    assert pc.state.subscriptions[subscription_id]["status"] == "suspended"


def test_throttling_longer_than_a_call_may_wait_is_unavailable(pc, adapter, customer_id, subscription_id, sleeps):
    pc.throttle_next("12", count=2)

    with pytest.raises(LicenceProviderUnavailable) as failed:
        adapter.suspend(customer_id, subscription_id, "dunning-1")

    assert "429" in str(failed.value) and sleeps == [12.0]
    assert pc.calls("PATCH") == [] and pc.state.subscriptions[subscription_id]["status"] == "active"


def test_5xx_answers_are_retried_then_the_provider_is_unavailable(pc, adapter, customer_id, subscription_id, sleeps):
    pc.fail_next(2, status=500)
    assert adapter.get(customer_id, subscription_id)["id"] == subscription_id
    assert sleeps == [1.0, 2.0]

    sleeps.clear()
    pc.fail_next(4, status=503)
    with pytest.raises(LicenceProviderUnavailable) as failed:
        adapter.get(customer_id, subscription_id)
    assert "503" in str(failed.value) and sleeps == [1.0, 2.0, 4.0]


def test_a_server_the_bundle_does_not_trust_is_not_talked_to(pc, secret, sleeps, tmp_path):
    from tests.fakes.sefin_nacional import CertificateAuthority

    other = tmp_path / "other-ca.pem"
    other.write_bytes(CertificateAuthority("Outra AC").certificate_pem)
    adapter = PartnerCenter(api(pc, ca_bundle=str(other)), secret, sleep=sleeps.append)

    with pytest.raises(LicenceProviderUnavailable):
        adapter.get("customer", "subscription")

    assert pc.requests == [] and pc.token_requests == []


# -- the secret ------------------------------------------------------------------------------------


def test_the_rotated_refresh_token_is_written_back_at_most_once_a_day(pc, secret, sleeps, customer_id):
    clock = [datetime(2026, 11, 30, 9, tzinfo=timezone.utc)]
    adapter = PartnerCenter(api(pc), secret, sleep=sleeps.append, now=lambda: clock[0])
    adapter.ensure_customer(new_customer(existing=True), "req-1")
    assert [p["refresh_token"] for p in secret.puts] == [pc.refresh_tokens_issued[0]]

    clock[0] += timedelta(hours=2)
    pc.expire_tokens()  # a new access token two hours later: its rotated refresh token is not written
    adapter.ensure_customer(new_customer(existing=True), "req-2")
    assert len(secret.puts) == 1 and len(pc.refresh_tokens_issued) == 2

    clock[0] += timedelta(days=1)
    pc.expire_tokens()  # a day later it is
    adapter.ensure_customer(new_customer(existing=True), "req-3")
    assert [p["refresh_token"] for p in secret.puts] == [pc.refresh_tokens_issued[0], pc.refresh_tokens_issued[2]]
    assert {k for k in secret.puts[-1]} == {"tenant_id", "app_id", "app_secret", "refresh_token",
                                            "refresh_token_rotated_at"}


def test_a_refused_refresh_token_is_read_again_from_the_secret_before_giving_up(pc, secret, sleeps, customer_id):
    pc.revoke_refresh_tokens()
    adapter = PartnerCenter(api(pc), secret, sleep=sleeps.append)

    with pytest.raises(LicenceProviderUnavailable) as failed:
        adapter.ensure_customer(new_customer(existing=True), "req-1")

    message = str(failed.value)
    assert "invalid_grant" in message and "700082" in message and "consent" in message
    assert secret.forgets == 1 and pc.requests == []
    for value in (APP_SECRET, REFRESH_TOKEN):
        assert value not in message and value not in repr(failed.value)


def test_a_wrong_app_secret_is_unavailable_without_quoting_it(pc, sleeps, customer_id):
    secret = Secret(app_secret="um-segredo-errado")
    adapter = PartnerCenter(api(pc), secret, sleep=sleeps.append)

    with pytest.raises(LicenceProviderUnavailable) as failed:
        adapter.ensure_customer(new_customer(existing=True), "req-1")

    assert "invalid_client" in str(failed.value)
    assert "um-segredo-errado" not in str(failed.value) and REFRESH_TOKEN not in str(failed.value)
    assert pc.requests == []


def test_the_secret_in_secrets_manager_receives_the_rotated_refresh_token(pc, deps, sleeps, customer_id):
    client = boto3.client("secretsmanager", region_name=deps.settings.region)
    client.create_secret(Name="csp-portal/partner-center-test", SecretString=json.dumps(
        {"tenant_id": TENANT, "app_id": APP_ID, "app_secret": APP_SECRET, "refresh_token": REFRESH_TOKEN}))
    credentials = JsonSecret("csp-portal/partner-center-test", deps.settings.region,
                             ("tenant_id", "app_id", "app_secret", "refresh_token"))
    adapter = PartnerCenter(api(pc), credentials, sleep=sleeps.append)

    assert adapter.ensure_customer(new_customer(existing=True), "req-1") == customer_id

    stored = json.loads(client.get_secret_value(SecretId="csp-portal/partner-center-test")["SecretString"])
    assert stored["refresh_token"] == pc.refresh_tokens_issued[0] != REFRESH_TOKEN
    assert (stored["tenant_id"], stored["app_id"], stored["app_secret"]) == (TENANT, APP_ID, APP_SECRET)
    assert "refresh_token_rotated_at" in stored
    assert REFRESH_TOKEN not in repr(adapter) and REFRESH_TOKEN not in repr(credentials)


def test_no_token_or_secret_reaches_the_logs(pc, secret, sleeps, customer_id, caplog):
    caplog.set_level("DEBUG")
    adapter = PartnerCenter(api(pc), secret, sleep=sleeps.append)
    subscription_id = adapter.create_subscription(customer_id, BUSINESS_PREMIUM, 2, "change-1")
    pc.expire_tokens()
    pc.fail_next(1, status=503)
    adapter.suspend(customer_id, subscription_id, "dunning-1")

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Partner Center" in logged  # the retry was logged, by correlation id
    issued_access = [token for token in pc._access_tokens]
    for value in [APP_SECRET, REFRESH_TOKEN, *pc.refresh_tokens_issued, *issued_access]:
        assert value not in logged


def test_the_real_provider_is_what_bootstrap_builds_for_licence_provider_real_without_calling_anyone():
    from chalicelib import bootstrap
    from chalicelib.settings import from_environ

    provider = bootstrap._licence_provider(from_environ({"LICENCE_PROVIDER": "real"}))

    assert isinstance(provider, PartnerCenter)
    assert repr(provider) == "PartnerCenter('https://api.partnercenter.microsoft.com')"


def test_a_retry_after_given_as_a_date_is_waited_until_then(pc, customer_id, subscription_id, secret, sleeps):
    from email.utils import format_datetime

    moment = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
    adapter = PartnerCenter(api(pc), secret, sleep=sleeps.append, now=lambda: moment)
    pc.throttle_next(format_datetime(moment + timedelta(seconds=5), usegmt=True))

    adapter.get(customer_id, subscription_id)

    assert sleeps == [5.0]
