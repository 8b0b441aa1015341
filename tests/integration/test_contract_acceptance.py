"""Accepting the contract orders every contracted item: subscriptions `pending` at once, active
once the licence provider confirms, billed from that day; once, however the acceptance is
retried, replayed or raced; refused whole when the catalog no longer sells an item."""
from dataclasses import replace

import pytest

from chalicelib.adapters.licence_provider import LicenceProviderUnavailable
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.errors import Conflict
from chalicelib.services import contracts, provisioning
from chalicelib.services.caller import Caller
from local.seed import DEMO_CONTRACT_ITEMS
from tests.support import body_text, in_parallel, reading_together, sp

# The demo contract (12 + 5 + 12 licences) and a monthly-term product, whose term differs.
ITEMS = DEMO_CONTRACT_ITEMS + [("MS365-BUSINESS-BASIC-M", 3)]


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 11, 11))
    return world.deps.clock


@pytest.fixture
def org(world, clock):
    return world.organization(items=ITEMS)  # closing day 10; the catalog is seeded today


def panel(world, account):
    return world.call("GET", "/subscriptions", account).json_body["items"]


def accept(world, org, **headers):
    return world.call("POST", "/contract/accept", org.master, headers=headers or None)


def recording_queued_changes(world, monkeypatch):
    sent, real = [], world.deps.provisioning_queue.send
    monkeypatch.setattr(world.deps.provisioning_queue, "send",
                        lambda message, *a, **k: sent.append(message) or real(message, *a, **k))
    return sent


def nothing_ordered(world, org):
    """Every effect an acceptance would have had, absent."""
    assert panel(world, org.master) == []
    assert world.deps.subscriptions.list(org.id) == []
    contract = world.call("GET", "/contract", org.master).json_body
    assert (contract["status"], contract["version"], contract["accepted_at"]) == ("awaiting_acceptance", 1, None)
    actions = {e["action"] for e in world.call("GET", "/audit", org.master).json_body["items"]}
    assert not actions & {"contract.accepted", "contract.items_ordered"}


def test_accepting_orders_every_contracted_item_pending_at_once_then_active_with_the_catalogs_terms(
        world, org, clock, monkeypatch):
    queued = recording_queued_changes(world, monkeypatch)
    response = accept(world, org)
    assert response.status_code == 200 and response.json_body["status"] == "active"

    ordered = panel(world, org.master)
    assert sorted((s["sku"], s["status"], s["quantity"], s["pending_change"]["quantity"]) for s in ordered) == sorted(
        (sku, "pending", 0, quantity) for sku, quantity in ITEMS)
    assert {s["pending_change"]["requested_by"] for s in ordered} == {org.master.user.id}
    assert sorted(m["subscription_id"] for m in queued) == sorted(s["id"] for s in ordered)
    for sub in ordered:
        [change] = world.call("GET", f"/subscriptions/{sub['id']}/changes", org.master).json_body["items"]
        assert (change["kind"], change["quantity"], change["status"]) == ("purchase", sub["pending_change"]["quantity"],
                                                                          "pending")
    [entry] = [e for e in world.call("GET", "/audit", org.master).json_body["items"]
               if e["action"] == "contract.items_ordered"]
    assert sorted((i["sku"], i["quantity"]) for i in entry["after"]) == sorted(ITEMS)
    assert entry["actor_id"] == org.master.user.id

    clock.advance(days=1)  # the provider confirms the next day: the term and the billing start then
    world.drain_queues()
    active = {s["sku"]: s for s in panel(world, org.master)}
    for sku, quantity in ITEMS:
        product = world.deps.catalog.get(sku)
        sub = active[sku]
        assert (sub["status"], sub["quantity"], sub["pending_change"]) == ("active", quantity, None)
        assert (sub["term"], sub["billing_frequency"]) == (product.term, product.billing_frequency)
        assert sub["started_on"] == "2026-11-12" and sub["timeline"] == [{"from": "2026-11-12", "quantity": quantity}]
    assert active["MS365-BUSINESS-STANDARD"]["renews_on"] == "2027-11-12"  # P1Y
    assert active["MS365-BUSINESS-BASIC-M"]["renews_on"] == "2026-12-12"  # P1M
    for sub in active.values():  # at the provider, under the subscription's own purchase
        assert world.deps.licence_provider.get(world.deps.organizations.get(org.id).microsoft_customer_id,
                                               world.deps.subscriptions.get(org.id, sub["id"])
                                               .provider_subscription_id)["quantity"] == sub["quantity"]
    assert world.outbox() == []  # nothing failed: no one is emailed


def test_the_billing_run_bills_the_contracted_items_pro_rata_from_the_day_they_became_active(world, clock):
    org = world.organization(items=DEMO_CONTRACT_ITEMS)  # priced from 11 Nov, closing day 10
    clock.now = sp(2026, 11, 20)
    assert accept(world, org).status_code == 200
    clock.now = sp(2026, 11, 22)  # provisioned two days later: billed from the 22nd, not the 20th
    world.drain_queues()
    clock.now = sp(2026, 12, 11, 9)
    operator = world.operator()
    started = world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-12"})
    assert started.status_code == 202
    world.drain_queues()
    [summary] = world.call("GET", "/invoices", org.master).json_body["items"]
    assert (summary["period_start"], summary["period_end"]) == ("2026-11-11", "2026-12-10")
    invoice = world.call("GET", f"/invoices/{summary['id']}", org.master).json_body
    # 22 Nov – 10 Dec is 19 of the period's 30 days.
    assert sorted((l["description"], l["amount_cents"]) for l in invoice["lines"]) == sorted([
        ("Microsoft 365 Business Standard — 12 licenças × 19/30 dias (anual, cobrança mensal)", 52364),  # 68,90 × 12 × 19/30
        ("Exchange Online (Plano 1) — 5 licenças × 19/30 dias (anual, cobrança mensal)", 6998),  # 22,10 × 5 × 19/30 = 69,983…
        ("Microsoft Defender for Business — 12 licenças × 19/30 dias (anual, cobrança mensal)", 12616),  # 16,60 × 12 × 19/30
    ])
    assert invoice["total_cents"] == 52364 + 6998 + 12616


def test_a_replayed_acceptance_is_409_and_orders_nothing_more(world, org, monkeypatch):
    queued = recording_queued_changes(world, monkeypatch)
    assert accept(world, org).status_code == 200
    for headers in ({}, {"If-Match": "1"}, {"If-Match": "2"}):
        again = accept(world, org, **headers)
        assert again.status_code == 409
        assert again.json_body["error"]["code"] in ("contract_already_accepted", "version_conflict")
    world.drain_queues()
    subs = panel(world, org.master)
    assert sorted((s["sku"], s["quantity"], s["status"]) for s in subs) == sorted(
        (sku, quantity, "active") for sku, quantity in ITEMS)
    assert len(queued) == len(ITEMS)
    for sub in subs:
        assert len(world.call("GET", f"/subscriptions/{sub['id']}/changes", org.master).json_body["items"]) == 1
    accepted = [e for e in world.call("GET", "/audit", org.master).json_body["items"]
                if e["action"] == "contract.accepted"]
    assert len(accepted) == 1






def test_five_acceptances_at_once_order_one_set_and_the_others_are_told_it_is_accepted(world, org, monkeypatch):
    queued = recording_queued_changes(world, monkeypatch)
    reading_together(monkeypatch, world.deps.contracts, "get", 5)
    caller = Caller(user=org.master.user, organization_id=org.id, source_ip="127.0.0.1")

    def attempt(_):
        try:
            return contracts.accept_contract(world.deps, caller, expected_version=None)
        except Conflict as conflict:
            return conflict

    outcomes = in_parallel(5, attempt)
    [won] = [o for o in outcomes if not isinstance(o, Exception)]
    assert won.status == "active"
    assert sorted(o.code for o in outcomes if isinstance(o, Exception)) == ["contract_already_accepted"] * 4
    assert len(queued) == len(ITEMS)
    world.drain_queues()
    assert sorted((s["sku"], s["quantity"], s["status"]) for s in panel(world, org.master)) == sorted(
        (sku, quantity, "active") for sku, quantity in ITEMS)


def test_five_acceptances_over_http_at_once_one_200_four_409_one_set(world, org, monkeypatch):
    queued = recording_queued_changes(world, monkeypatch)
    reading_together(monkeypatch, world.deps.contracts, "get", 5)
    responses = in_parallel(5, lambda _: accept(world, org))
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    assert len(queued) == len(ITEMS)
    assert sorted(s["sku"] for s in panel(world, org.master)) == sorted(sku for sku, _ in ITEMS)


def test_a_provider_failing_on_one_item_fails_that_item_emails_the_master_and_the_others_go_active(
        world, org, monkeypatch):
    real = world.deps.licence_provider.create_subscription

    def create_subscription(customer_id, offer, quantity, request_id):
        if offer.sku == "EXO-PLAN1":
            raise LicenceProviderUnavailable("offer not available for this customer")
        return real(customer_id, offer, quantity, request_id)

    monkeypatch.setattr(world.deps.licence_provider, "create_subscription", create_subscription)
    assert accept(world, org).status_code == 200
    world.drain_queues()
    subs = {s["sku"]: s for s in panel(world, org.master)}
    assert (subs["EXO-PLAN1"]["status"], subs["EXO-PLAN1"]["quantity"], subs["EXO-PLAN1"]["pending_change"]) == \
        ("failed", 0, None)
    [change] = world.call("GET", f"/subscriptions/{subs['EXO-PLAN1']['id']}/changes", org.master).json_body["items"]
    assert (change["status"], change["attempts"]) == ("failed", world.deps.settings.provisioning_max_attempts)
    assert {sku: (s["status"], s["quantity"]) for sku, s in subs.items() if sku != "EXO-PLAN1"} == {
        sku: ("active", quantity) for sku, quantity in ITEMS if sku != "EXO-PLAN1"}

    [email] = world.outbox()  # every email sent: this one only
    assert email["To"] == org.master.user.email
    assert email["Subject"] == "Não foi possível contratar Exchange Online (Plano 1)"
    text = body_text(email)
    assert "5 licenças" in text and "Nenhuma cobrança foi feita" in text


@pytest.mark.parametrize("withdrawn", ["not_in_the_catalog", "inactive"])
def test_a_contracted_sku_the_catalog_no_longer_sells_refuses_the_acceptance_and_writes_nothing(
        world, clock, monkeypatch, withdrawn):
    sku = "NAO-VENDIDO" if withdrawn == "not_in_the_catalog" else "POWERBI-PRO"
    org = world.organization(items=[("MS365-E3", 10), (sku, 3)])
    if withdrawn == "inactive":
        world.deps.catalog.put(replace(world.deps.catalog.get(sku), active=False))
    queued = recording_queued_changes(world, monkeypatch)

    refused = accept(world, org)
    assert refused.status_code == 409
    error = refused.json_body["error"]
    assert error["code"] == "contract_items_unavailable" and error["details"]["skus"] == [sku]
    assert f"({sku})" in error["message"] and "nada foi contratado" in error["message"]
    nothing_ordered(world, org)
    assert queued == []
    world.drain_queues()
    assert world.outbox() == []


def test_an_acceptance_whose_queue_message_is_lost_is_provisioned_by_the_sweeper(world, org, clock, monkeypatch):
    def queue_down(message, *args, **kwargs):
        raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(world.deps.provisioning_queue, "send", queue_down)
    accepted = accept(world, org)  # committed: the Master is not told it failed
    assert accepted.status_code == 200 and accepted.json_body["status"] == "active"
    assert {s["status"] for s in panel(world, org.master)} == {"pending"}
    monkeypatch.undo()

    clock.advance(minutes=16)
    assert provisioning.requeue_stuck_changes(world.deps) == len(ITEMS)
    world.drain_queues()
    assert sorted((s["sku"], s["quantity"], s["status"]) for s in panel(world, org.master)) == sorted(
        (sku, quantity, "active") for sku, quantity in ITEMS)
