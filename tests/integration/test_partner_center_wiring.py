"""Partner Center in the product's paths, on the simulator: the organisation's customer linked or
created before its first order (once, even for two purchases at once), the catalog's New Commerce
offer, asynchronous orders asked about again without a second order, and the provider's refusals
failing a change for good, told to the requester and the operators."""
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from chalicelib.adapters.licence_provider import onmicrosoft_domain
from chalicelib.domain.clock import FixedClock
from chalicelib.services import provisioning
from tests.support import body_text, in_parallel, reading_together, sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 11, 11))
    return world.deps.clock


def provider(world):
    return world.deps.licence_provider


def operations(world, name):
    return [r for r in provider(world).requests if r[0] == name]


def trail(world, org):
    return [e.action for e in world.deps.audit.list(org.id, since="2000-01-01T00:00:00+00:00",
                                                        until="2100-01-01T00:00:00+00:00", limit=100,
                                                        next_token=None)[0]]


def only_change(world, org, sub_id):
    [change] = world.deps.subscriptions.changes(org.id, sub_id, limit=10, next_token=None)[0]
    return change


def recording_queued_changes(world, monkeypatch):
    sent, real = [], world.deps.provisioning_queue.send
    monkeypatch.setattr(world.deps.provisioning_queue, "send",
                        lambda message, *a, **k: sent.append(message) or real(message, *a, **k))
    return sent


def test_two_first_purchases_at_once_create_the_new_organisations_customer_once(world, clock, monkeypatch):
    org = world.organization(items=[("MS365-E3", 3), ("POWERBI-PRO", 2)])
    queued = recording_queued_changes(world, monkeypatch)
    world.accept_contract(org)
    assert len(queued) == 2
    # Both workers read the organisation, without a customer, before either records one.
    reading_together(monkeypatch, world.deps.organizations, "get", 2)
    outcomes = in_parallel(2, lambda n: provisioning.apply_queued_change(world.deps, queued[n], 1))
    assert outcomes == ["applied", "applied"]

    [customer] = provider(world).customers
    # No domain given: the new tenant's is derived from the razão social and the organisation's id.
    assert (customer["organization_id"], customer["linked"]) == (org.id, False)
    assert customer["domain"] == onmicrosoft_domain(org.organization.name, org.id)
    assert customer["email"] == org.master.user.email and customer["name"] == org.organization.name
    assert world.deps.organizations.get(org.id).microsoft_customer_id == customer["id"]
    assert len({r for _, _, r in operations(world, "ensure_customer")}) == 1  # one request id, repeated
    orders = operations(world, "create_subscription")
    assert len(orders) == 2 and {c for _, c, _ in orders} == {customer["id"]}
    assert trail(world, org).count("organization.microsoft_linked") == 1
    subs = world.deps.subscriptions.list(org.id)
    assert {s.status for s in subs} == {"active"}
    for sub in subs:
        assert provider(world).get(customer["id"], sub.provider_subscription_id)["customer_id"] == customer["id"]

    operator = world.operator()
    listed = world.call("GET", "/backoffice/organizations", operator).json_body["items"]
    [shown] = [o for o in listed if o["id"] == org.id]
    assert (shown["microsoft_customer_id"], shown["existing_microsoft_customer"]) == (customer["id"], False)


def test_an_existing_microsoft_customer_is_linked_by_its_tenant_domain_and_an_unlinked_one_is_refused(
        world, clock):
    linked = world.organization(items=[("MS365-E3", 3)])
    refused = world.organization(items=[("MS365-E3", 4)])
    for org, domain in ((linked, "vinculada.onmicrosoft.com"), (refused, "semconvite.onmicrosoft.com")):
        _existing_customer(world, org, domain)
    provider(world).refuse_link("semconvite.onmicrosoft.com")
    world.accept_contract(linked)
    world.accept_contract(refused)
    world.drain_queues()

    [customer] = provider(world).customers
    assert (customer["domain"], customer["linked"], customer["organization_id"]) == \
        ("vinculada.onmicrosoft.com", True, linked.id)
    assert world.deps.subscriptions.list(linked.id)[0].status == "active"

    # The tenant that never accepted the reseller relationship: failed at once, for good.
    [sub] = world.deps.subscriptions.list(refused.id)
    change = only_change(world, refused, sub.id)
    assert (sub.status, change.status, change.attempts) == ("failed", "failed", 1)
    assert "semconvite.onmicrosoft.com ainda não aceitou o convite de revenda" in change.error
    assert world.deps.organizations.get(refused.id).microsoft_customer_id is None
    assert "organization.microsoft_linked" not in trail(world, refused)
    assert [c for _, c, _ in operations(world, "create_subscription")] == [customer["id"]]  # nothing ordered
    [mail] = [m for m in world.outbox() if refused.master.user.email in m["To"]]
    assert {a.addr_spec for a in mail["To"].addresses} == {refused.master.user.email,
                                                           world.deps.settings.operators_email}
    assert "Não foi possível contratar Microsoft 365 E3" in mail["Subject"]
    text = body_text(mail)
    assert "Motivo: O tenant Microsoft semconvite.onmicrosoft.com ainda não aceitou" in text
    assert "mesmo após novas tentativas" not in text


def _existing_customer(world, org, domain):
    """The organisation as a lead that said "já sou cliente Microsoft" becomes (its tenant's domain)."""
    from chalicelib.storage import keys
    from chalicelib.storage.models import OrganizationItem

    OrganizationItem(keys.org_pk(org.id), keys.ORGANIZATION_SK).update(actions=[
        OrganizationItem.tenant_domain.set(domain), OrganizationItem.existing_microsoft_customer.set(True)])


def test_a_pending_order_is_asked_about_again_and_never_ordered_twice(world, clock, monkeypatch):
    org = world.organization(items=[("MS365-E3", 3)])
    provider(world).pending_orders(2)
    world.accept_contract(org)
    world.drain_queues()
    [sub] = world.deps.subscriptions.list(org.id)
    change = only_change(world, org, sub.id)
    assert (sub.status, change.status, change.attempts, change.order_polls) == ("pending", "pending", 0, 1)
    [order] = provider(world).orders()
    assert change.order_id == order["order_id"]

    # Later, the poll comes back (after the provider's Retry-After): the change was requested long
    # ago but its order was just asked about, so the lost-message sweeper leaves it alone.
    clock.now = clock.now + provisioning.STUCK_AFTER + timedelta(minutes=1)
    world.make_visible()
    world.drain_queues()
    assert only_change(world, org, sub.id).order_polls == 2
    assert provisioning.requeue_stuck_changes(world.deps) == 0
    for _ in range(2):
        world.make_visible()
        world.drain_queues()
    sub, change = world.deps.subscriptions.get(org.id, sub.id), only_change(world, org, sub.id)
    assert (sub.status, sub.quantity, change.status, change.attempts) == ("active", 3, "applied", 1)
    assert sub.provider_subscription_id == order["subscription"]
    assert len(operations(world, "create_subscription")) == 1  # one order, asked about twice more
    assert len(operations(world, "order_outcome")) == 3
    assert change.order_polls == 3
    assert world.outbox() == []


def test_the_sweeper_asks_again_about_an_order_whose_poll_was_lost_and_never_orders_again(world, clock):
    org = world.organization(items=[("MS365-E3", 3)])
    provider(world).pending_orders(1)
    world.accept_contract(org)
    world.drain_queues()
    [sub] = world.deps.subscriptions.list(org.id)
    _purge_provisioning_queue(world)  # the poll's message is lost
    clock.now = clock.now + provisioning.STUCK_AFTER + timedelta(minutes=1)
    assert provisioning.requeue_stuck_changes(world.deps) == 1
    world.drain_queues()
    world.make_visible()
    world.drain_queues()
    assert world.deps.subscriptions.get(org.id, sub.id).status == "active"
    assert len(operations(world, "create_subscription")) == 1


def _purge_provisioning_queue(world):
    sqs = boto3.client("sqs", region_name=world.deps.settings.region)
    url = sqs.get_queue_url(QueueName=world.deps.settings.provisioning_queue_name)["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)


def test_with_the_real_provider_a_product_without_an_offer_fails_clearly_and_calls_nothing(
        world, clock, monkeypatch):
    org = world.active_organization()
    assert world.deps.catalog.get("AZ-DEVOPS-BASIC").offer_id is None
    monkeypatch.setattr(world.deps, "settings", replace(world.deps.settings, licence_provider="real"))
    assert world.call("PUT", "/cart/items/AZ-DEVOPS-BASIC", org.master, {"quantity": 2}).status_code == 200
    assert world.call("POST", "/cart/checkout", org.master).status_code == 201
    world.drain_queues()
    [sub] = world.deps.subscriptions.list(org.id)
    change = only_change(world, org, sub.id)
    assert (sub.status, change.status, change.attempts) == ("failed", "failed", 1)
    assert change.error.startswith("O produto AZ-DEVOPS-BASIC ainda não tem a oferta do Partner Center")
    assert provider(world).requests == []  # neither a customer nor an order
    [mail] = [m for m in world.outbox() if org.master.user.email in m["To"]]
    assert world.deps.settings.operators_email in mail["To"] and "ainda não tem a oferta" in body_text(mail)


def test_a_reduction_the_provider_refuses_fails_for_good_with_its_reason(world, clock):
    org = world.active_organization()
    sub = world.subscription(org, "MS365-E3", 10)
    customer_id = world.deps.organizations.get(org.id).microsoft_customer_id
    provider(world).reject_next("cancel_window_expired", "The cancellation window for this subscription has ended.")
    response = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master,
                          {"quantity": 0, "reason": "reducao_de_custos"})
    assert response.status_code == 202, response.json_body
    world.drain_queues()
    change = only_change(world, org, sub.id)
    after = world.deps.subscriptions.get(org.id, sub.id)
    assert (change.status, change.attempts, after.status, after.quantity) == ("failed", 1, "active", 10)
    assert change.error == ("A Microsoft recusou a operação: The cancellation window for this subscription has "
                            "ended. (código cancel_window_expired).")
    assert [(c, r) for _, c, r in operations(world, "update_quantity")] == [(customer_id, change.id)]
    [mail] = [m for m in world.outbox() if "Não foi possível" in m["Subject"]]
    assert {a.addr_spec for a in mail["To"].addresses} == {org.master.user.email, world.deps.settings.operators_email}
    assert "Motivo: A Microsoft recusou a operação" in body_text(mail)


def test_operators_set_each_products_offer_which_customers_do_not_see(world, clock):
    operator = world.operator()
    world.seed_catalog()
    body = {"name": "Microsoft 365 E3", "family": "Microsoft 365", "unit_price_cents": 20710, "term": "P1Y",
            "billing_frequency": "monthly"}
    before = world.deps.catalog.get("MS365-E3")
    for bad in ("cfq7ttc0lflx", "CFQ7TTC0LFLX-0001", "CFQ7TTC0LFLX:00001"):
        refused = world.call("PUT", "/backoffice/catalog/products/MS365-E3", operator, {**body, "offer_id": bad})
        assert refused.status_code == 400 and refused.json_body["error"]["code"] == "invalid_offer_id", bad
    assert world.deps.catalog.get("MS365-E3") == before  # nothing written

    saved = world.call("PUT", "/backoffice/catalog/products/MS365-E3", operator, {**body, "offer_id": "CFQ7TTC0LFLX:0021"})
    assert saved.status_code == 200 and saved.json_body["offer_id"] == "CFQ7TTC0LFLX:0021"
    kept = world.call("PUT", "/backoffice/catalog/products/MS365-E3", operator, body)  # absent: kept
    assert kept.json_body["offer_id"] == "CFQ7TTC0LFLX:0021"
    listed = {p["sku"]: p for p in world.call("GET", "/backoffice/catalog/products", operator).json_body["items"]}
    assert listed["MS365-E3"]["offer_id"] == "CFQ7TTC0LFLX:0021" and listed["AZ-DEVOPS-BASIC"]["offer_id"] is None
    cleared = world.call("PUT", "/backoffice/catalog/products/MS365-E3", operator, {**body, "offer_id": ""})
    assert cleared.json_body["offer_id"] is None and world.deps.catalog.get("MS365-E3").offer_id is None

    org = world.active_organization()
    products = world.call("GET", "/catalog/products", org.master).json_body["items"]
    assert products and all("offer_id" not in p for p in products)
    assert world.call("GET", "/backoffice/catalog/products", org.master).status_code == 403


@pytest.mark.parametrize("failure", [ValueError("customer_id is not a Partner Center id"),
                                     RuntimeError("secret csp-portal/partner-center could not be read")])
def test_an_unexpected_provider_failure_counts_as_an_attempt_and_fails_for_good_after_the_last(
        world, clock, monkeypatch, failure):
    # Not one of the provider's errors (an adapter's id check, a secret's failure leaking): still a
    # failed attempt, never a change left at attempts == 0 that the sweeper queues forever.
    org = world.active_organization()
    sub = world.subscription(org, "MS365-E3", 10)

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(provider(world), "update_quantity", broken)
    response = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 12})
    assert response.status_code == 202, response.json_body
    change = only_change(world, org, sub.id)
    queued = provisioning.change_message(org.id, sub.id, change.id)

    with pytest.raises(provisioning.RetryLater) as retry:
        provisioning.apply_queued_change(world.deps, queued, 1)
    change = only_change(world, org, sub.id)
    assert (change.status, change.attempts) == ("pending", 1)
    assert retry.value.delay_seconds == world.deps.settings.provisioning_backoff_seconds  # the backoff
    assert type(failure).__name__ in change.error and str(failure) not in change.error
    clock.advance(hours=1)
    assert provisioning.requeue_stuck_changes(world.deps) == 0  # tried: the worker's backoff, not the sweeper

    last = world.deps.settings.provisioning_max_attempts
    with pytest.raises(provisioning.ProvisioningFailed):
        provisioning.apply_queued_change(world.deps, queued, last)
    change = only_change(world, org, sub.id)
    after = world.deps.subscriptions.get(org.id, sub.id)
    assert (change.status, change.attempts, after.quantity, after.pending_change) == ("failed", last, 10, None)
    world.drain_queues()
    [mail] = [m for m in world.outbox() if "Não foi possível" in m["Subject"]]
    assert {a.addr_spec for a in mail["To"].addresses} == {org.master.user.email}


def test_a_new_customer_without_an_address_is_refused_as_partner_center_refuses_it(world, clock):
    org = world.organization(items=[("MS365-E3", 3)], address=None)
    world.accept_contract(org)
    world.drain_queues()

    [sub] = world.deps.subscriptions.list(org.id)
    change = only_change(world, org, sub.id)
    assert (sub.status, change.status, change.attempts) == ("failed", "failed", 1)
    assert "customer_incomplete" in change.error
    assert provider(world).customers == [] and operations(world, "create_subscription") == []
    assert world.deps.organizations.get(org.id).microsoft_customer_id is None
    [mail] = [m for m in world.outbox() if "Não foi possível" in m["Subject"]]
    assert {a.addr_spec for a in mail["To"].addresses} == {org.master.user.email, world.deps.settings.operators_email}


CUSTOMER = {"cnpj": "04.252.011/0001-10", "company_name": "Escola Aprender Ltda", "closing_day": 5,
            "payment_method": "boleto", "master": {"email": "diretora@aprender.example", "name": "Denise"},
            "address": {"cep": "01310-100", "street": "Avenida Paulista", "number": "1000",
                        "district": "Bela Vista", "city_code": "3550308", "city": "São Paulo", "state": "SP"}}


@pytest.mark.parametrize("changes, existing, domain", [
    ({}, False, None),
    ({"tenant_domain": "aprender.onmicrosoft.com"}, True, "aprender.onmicrosoft.com"),  # as before: a domain links
    ({"tenant_domain": "aprender.onmicrosoft.com", "existing_microsoft_customer": False}, False,
     "aprender.onmicrosoft.com"),  # the new tenant's domain, to create
    ({"tenant_domain": "Aprender.COM.br", "existing_microsoft_customer": True}, True, "aprender.com.br"),
])
def test_the_back_office_says_whether_a_new_customer_is_an_existing_microsoft_customer(
        world, clock, changes, existing, domain):
    world.seed_catalog()
    operator = world.operator()
    created = world.call("POST", "/backoffice/organizations", operator, {**CUSTOMER, **changes})
    assert created.status_code == 201, created.json_body
    organization = created.json_body["organization"]
    assert (organization["existing_microsoft_customer"], organization["tenant_domain"]) == (existing, domain)


def test_an_existing_microsoft_customer_without_its_domain_is_refused_and_nothing_created(world, clock):
    world.seed_catalog()
    operator = world.operator()
    before = world.call("GET", "/backoffice/organizations", operator).json_body["items"]
    answer = world.call("POST", "/backoffice/organizations", operator, {**CUSTOMER, "existing_microsoft_customer": True})
    assert answer.status_code == 400 and answer.json_body["error"]["code"] == "invalid_tenant_domain"
    assert world.call("GET", "/backoffice/organizations", operator).json_body["items"] == before
    assert world.outbox() == []
