"""Catalog → cart → checkout → provisioning → licence panel; quantity changes, the New Commerce
window, renewals, cancellation and contract termination."""
import threading
from datetime import timedelta

import boto3
import pytest

from chalicelib.domain.catalog import price_on
from chalicelib.domain.clock import FixedClock, SAO_PAULO
from chalicelib.domain.errors import Conflict
from chalicelib.domain.proration import period_containing, prorated_lines
from chalicelib.domain.roles import Role
from chalicelib.services import catalog, subscriptions
from chalicelib.services.caller import Caller
from tests.support import body_text, in_parallel, reading_together, sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 11, 11))
    return world.deps.clock


@pytest.fixture
def org(world, clock):
    return world.active_organization()


def panel(world, account):
    return {s["sku"]: s for s in world.call("GET", "/subscriptions", account).json_body["items"]}


def change_quantity(world, account, sub_id, quantity, **extra):
    return world.call("POST", f"/subscriptions/{sub_id}/quantity", account, {"quantity": quantity, **extra})


def test_catalog_by_family_to_cart_to_checkout_to_provisioning_to_the_panel(world, org, clock):
    families = world.call("GET", "/catalog/families", org.master).json_body["items"]
    assert {"id": "seguranca", "name": "Segurança"} in families and len(families) >= 5
    security = world.call("GET", "/catalog/products?family=seguranca", org.master).json_body["items"]
    assert {p["family"] for p in security} == {"Segurança"} and "INTUNE-P1" in {p["sku"] for p in security}
    assert [p["sku"] for p in world.call("GET", "/catalog/products?q=intune", org.master).json_body["items"]] \
        == ["INTUNE-P1"]

    assert world.call("PUT", "/cart/items/INTUNE-P1", org.master, {"quantity": 10}).status_code == 200
    cart = world.call("GET", "/cart", org.master).json_body
    assert cart["monthly_total_cents"] == 10 * 4410
    checkout = world.call("POST", "/cart/checkout", org.master)
    assert checkout.status_code == 201
    [bought] = checkout.json_body["subscriptions"]
    assert bought["status"] == "pending" and bought["pending_change"]["quantity"] == 10
    assert world.call("GET", "/cart", org.master).json_body["items"] == []
    assert panel(world, org.master)["INTUNE-P1"]["status"] == "pending"

    world.drain_queues()
    sub = panel(world, org.master)["INTUNE-P1"]
    assert (sub["status"], sub["quantity"], sub["pending_change"]) == ("active", 10, None)
    assert sub["unit_price_cents"] == 4410 and sub["renews_on"] == "2027-11-11"  # P1Y
    assert sub["cancellation_allowed_until"] == "2026-11-18T12:00:00-03:00"  # 7 days, São Paulo time

    clock.advance(days=4)
    requested = change_quantity(world, org.master, sub["id"], 15)
    assert requested.status_code == 202
    assert requested.json_body["change"]["status"] == "pending" and requested.json_body["change"]["applies"] == "now"
    pending = panel(world, org.master)["INTUNE-P1"]
    assert pending["quantity"] == 10 and pending["pending_change"]["quantity"] == 15
    world.drain_queues()
    applied = panel(world, org.master)["INTUNE-P1"]
    assert applied["quantity"] == 15 and applied["pending_change"] is None
    assert applied["timeline"] == [{"from": "2026-11-11", "quantity": 10}, {"from": "2026-11-15", "quantity": 15}]
    history = world.call("GET", f"/subscriptions/{sub['id']}/changes", org.master).json_body["items"]
    assert [(c["kind"], c["quantity"], c["status"]) for c in history] == [("quantity", 15, "applied"),
                                                                         ("purchase", 10, "applied")]


def test_checkout_is_refused_for_an_empty_cart_and_an_unaccepted_contract(world, clock):
    org = world.organization()
    world.seed_catalog()
    world.call("PUT", "/cart/items/MS365-E3", org.master, {"quantity": 1})
    not_active = world.call("POST", "/cart/checkout", org.master)
    assert not_active.status_code == 409 and not_active.json_body["error"]["code"] == "contract_not_active"
    world.accept_contract(org)
    world.call("DELETE", "/cart/items/MS365-E3", org.master)
    empty = world.call("POST", "/cart/checkout", org.master)
    assert empty.status_code == 422 and empty.json_body["error"]["code"] == "cart_empty"
    unknown = world.call("PUT", "/cart/items/NAO-EXISTE", org.master, {"quantity": 1})
    assert unknown.status_code == 404


def test_a_repeated_checkout_with_the_same_idempotency_key_buys_once(world, org):
    world.call("PUT", "/cart/items/POWERBI-PRO", org.master, {"quantity": 3})
    first = world.call("POST", "/cart/checkout", org.master, headers={"Idempotency-Key": "pedido-1"})
    again = world.call("POST", "/cart/checkout", org.master, headers={"Idempotency-Key": "pedido-1"})
    assert first.status_code == again.status_code == 201 and first.json_body == again.json_body
    assert len(world.call("GET", "/subscriptions", org.master).json_body["items"]) == 1




def _recording_queued_changes(world, monkeypatch):
    sent, real = [], world.deps.provisioning_queue.send
    monkeypatch.setattr(world.deps.provisioning_queue, "send",
                        lambda message, *a, **k: sent.append(message) or real(message, *a, **k))
    return sent




def _bought_once(world, org, queued, outcomes_bought):
    """Every effect of one checkout of E3 × 7 + Power BI × 2, and nothing of the others."""
    subs = world.call("GET", "/subscriptions", org.master).json_body["items"]
    assert sorted((s["sku"], s["pending_change"]["quantity"]) for s in subs) == [("MS365-E3", 7), ("POWERBI-PRO", 2)]
    assert sorted(s["id"] for s in subs) == sorted(outcomes_bought)
    for sub in subs:
        changes = world.call("GET", f"/subscriptions/{sub['id']}/changes", org.master).json_body["items"]
        assert [(c["kind"], c["quantity"]) for c in changes] == [("purchase", sub["pending_change"]["quantity"])]
    assert sorted(m["subscription_id"] for m in queued) == sorted(outcomes_bought)
    assert world.call("GET", "/cart", org.master).json_body["items"] == []
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    assert len([e for e in trail if e["action"] == "cart.checked_out"]) == 1
    world.drain_queues()
    assert {s["sku"]: s["quantity"] for s in world.call("GET", "/subscriptions", org.master).json_body["items"]} \
        == {"MS365-E3": 7, "POWERBI-PRO": 2}


def _fill_cart(world, org):
    for sku, quantity in (("MS365-E3", 7), ("POWERBI-PRO", 2)):
        assert world.call("PUT", f"/cart/items/{sku}", org.master, {"quantity": quantity}).status_code == 200


def test_five_checkouts_of_one_cart_at_once_buy_once_and_the_others_are_told_the_cart_changed(
        world, org, monkeypatch):
    _fill_cart(world, org)
    queued = _recording_queued_changes(world, monkeypatch)
    reading_together(monkeypatch, world.deps.cart, "lines", 5)
    caller = Caller(user=org.master.user, organization_id=org.id, source_ip="127.0.0.1")

    def attempt(_):
        try:
            return catalog.checkout(world.deps, caller)
        except Conflict as conflict:
            return conflict

    outcomes = in_parallel(5, attempt)
    [bought] = [o for o in outcomes if not isinstance(o, Exception)]
    assert sorted(o.code for o in outcomes if isinstance(o, Exception)) == ["cart_changed"] * 4
    _bought_once(world, org, queued, [s.id for s in bought])


@pytest.mark.parametrize("keys", [[None] * 5, [f"pedido-{n}" for n in range(5)]], ids=["no-key", "own-keys"])
def test_five_checkouts_of_one_cart_over_http_at_once_buy_once_and_the_others_get_409(world, org, monkeypatch, keys):
    _fill_cart(world, org)
    queued = _recording_queued_changes(world, monkeypatch)
    reading_together(monkeypatch, world.deps.cart, "lines", 5)

    def attempt(n):
        return world.call("POST", "/cart/checkout", org.master,
                          headers={"Idempotency-Key": keys[n]} if keys[n] else None)

    responses = in_parallel(5, attempt)
    [bought] = [r for r in responses if r.status_code == 201]
    assert sorted((r.status_code, r.json_body["error"]["code"]) for r in responses if r is not bought) == \
        [(409, "cart_changed")] * 4
    _bought_once(world, org, queued, [s["id"] for s in bought.json_body["subscriptions"]])


def test_five_checkouts_with_one_idempotency_key_at_once_buy_once(world, org, monkeypatch):
    _fill_cart(world, org)
    queued = _recording_queued_changes(world, monkeypatch)
    responses = in_parallel(5, lambda _: world.call("POST", "/cart/checkout", org.master,
                                                      headers={"Idempotency-Key": "pedido-unico"}))
    created = [r for r in responses if r.status_code == 201]
    assert created and all(r.json_body == created[0].json_body for r in created)  # the answer, or its replay
    assert all(r.json_body["error"]["code"] == "idempotency_in_progress"
               for r in responses if r.status_code != 201)
    _bought_once(world, org, queued, [s["id"] for s in created[0].json_body["subscriptions"]])


def test_a_provider_failing_twice_then_succeeding_applies_the_change_once(world, org, clock):
    sub = world.subscription(org, "MS365-E3", 10)
    world.deps.licence_provider.fail_next(2)
    change_quantity(world, org.master, sub.id, 12)
    world.drain_queues()
    [change, *_] = world.call("GET", f"/subscriptions/{sub.id}/changes", org.master).json_body["items"]
    assert (change["status"], change["attempts"]) == ("applied", 3)
    current = panel(world, org.master)["MS365-E3"]
    assert current["quantity"] == 12 and current["timeline"] == [{"from": "2026-11-11", "quantity": 12}]
    assert world.deps.licence_provider.get(world.deps.organizations.get(org.id).microsoft_customer_id,
                                           sub.provider_subscription_id)["quantity"] == 12


def test_a_provider_failing_always_ends_failed_with_an_email_and_the_message_in_the_dlq(world, org, clock):
    sub = world.subscription(org, "MS365-E3", 10)
    world.deps.licence_provider.fail_next(1000)
    change_quantity(world, org.master, sub.id, 20)
    world.drain_queues()
    [change, *_] = world.call("GET", f"/subscriptions/{sub.id}/changes", org.master).json_body["items"]
    assert change["status"] == "failed" and change["attempts"] == world.deps.settings.provisioning_max_attempts
    current = panel(world, org.master)["MS365-E3"]
    assert current["quantity"] == 10 and current["pending_change"] is None
    [email] = [m for m in world.outbox() if m["To"] == org.master.user.email]
    assert "Não foi possível alterar Microsoft 365 E3" in email["Subject"]
    assert "10 → 20 licenças" in body_text(email)
    sqs = boto3.client("sqs", region_name=world.deps.settings.region)
    dlq = sqs.get_queue_url(QueueName=f"{world.deps.settings.provisioning_queue_name}-dlq")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [m for m in messages if change["id"] in m["Body"]]


def test_twenty_concurrent_changes_one_wins_per_version_the_rest_conflict(world, org, clock):
    sub = world.subscription(org, "MS365-E3", 10)
    caller = Caller(user=org.master.user, organization_id=org.id, source_ip="127.0.0.1")
    accepted = []
    for round_number in range(2):
        outcomes = []
        barrier = threading.Barrier(20)

        def attempt(quantity):
            barrier.wait()
            try:
                outcomes.append(subscriptions.request_quantity_change(world.deps, caller, sub.id, quantity=quantity))
            except Conflict as conflict:
                outcomes.append(conflict)

        threads = [threading.Thread(target=attempt, args=(11 + n + 20 * round_number,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(winners) == 1 and len(outcomes) == 20
        assert all(o.code in ("version_conflict", "change_in_progress", "concurrent_update")
                   for o in outcomes if isinstance(o, Exception))
        accepted += winners
        world.drain_queues()
    history = world.call("GET", f"/subscriptions/{sub.id}/changes", org.master).json_body["items"]
    assert sorted(c["id"] for c in history) == sorted(c.id for c in accepted)
    assert panel(world, org.master)["MS365-E3"]["quantity"] == accepted[-1].to_quantity


def test_a_stale_if_match_on_a_quantity_change_is_409(world, org):
    sub = world.subscription(org, "MS365-E3", 10)
    response = change_quantity(world, org.master, sub.id, 11, **{})
    assert response.status_code == 202
    world.drain_queues()
    stale = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 12},
                       headers={"If-Match": str(sub.version)})
    assert stale.status_code == 409 and stale.json_body["error"]["code"] == "version_conflict"


def test_a_reduction_on_day_3_applies_now(world, org, clock):
    sub = world.subscription(org, "MS365-E3", 10, bought_at=clock.now)
    clock.advance(days=3)
    response = change_quantity(world, org.master, sub.id, 6)
    assert response.json_body["change"]["applies"] == "now"
    world.drain_queues()
    assert panel(world, org.master)["MS365-E3"]["quantity"] == 6


def test_a_reduction_on_day_8_waits_for_the_renewal_and_the_renewal_job_applies_it(world, org, clock):
    sub = world.subscription(org, "MS365-BUSINESS-BASIC-M", 10, bought_at=clock.now)  # P1M: renews 11 Dec
    clock.advance(days=8)
    response = change_quantity(world, org.master, sub.id, 4, reason="reducao_de_custos")
    assert response.status_code == 202
    change = response.json_body["change"]
    assert (change["applies"], change["status"], change["effective_on"]) == ("at_renewal", "scheduled", "2026-12-11")
    world.drain_queues()
    scheduled = panel(world, org.master)["MS365-BUSINESS-BASIC-M"]
    assert scheduled["quantity"] == 10 and scheduled["pending_change"]["applies"] == "at_renewal"

    world.deps.clock.now = sp(2026, 12, 11, 0) + timedelta(minutes=5)
    world.client.lambda_.invoke("renew_subscriptions", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    world.drain_queues()
    renewed = panel(world, org.master)["MS365-BUSINESS-BASIC-M"]
    assert renewed["quantity"] == 4 and renewed["pending_change"] is None
    assert renewed["renews_on"] == "2027-01-11"
    assert renewed["timeline"][-1] == {"from": "2026-12-11", "quantity": 4}


def test_seats_added_mid_term_can_be_removed_within_7_days_of_the_addition_only(world, org, clock):
    sub = world.subscription(org, "MS365-E3", 10, bought_at=clock.now)
    clock.advance(days=20)
    change_quantity(world, org.master, sub.id, 15)
    world.drain_queues()
    clock.advance(days=2)
    assert change_quantity(world, org.master, sub.id, 12).json_body["change"]["applies"] == "now"
    world.drain_queues()
    # 3 of the 5 added seats are gone; removing 3 more would eat into the original 10: renewal.
    assert change_quantity(world, org.master, sub.id, 9, reason="outro").json_body["change"]["applies"] == "at_renewal"


def test_the_preview_shows_the_pro_rata_the_invoice_will_carry(world, org, clock):
    sub = world.subscription(org, "MS365-E3", 10, bought_at=clock.now)  # 11 Nov, period 11 Nov – 10 Dec
    clock.advance(days=9)  # 20 Nov: 21 days left of 30
    preview = world.call("GET", f"/subscriptions/{sub.id}/quantity-preview?quantity=15", org.master).json_body
    assert preview["applies"] == "now" and preview["period_start"] == "2026-11-11"
    # By hand: R$ 207,10 × 5 licenças × 21/30 = R$ 724,85
    assert preview["amount_cents"] == 72485
    assert [l["description"] for l in preview["lines"]] == ["Microsoft 365 E3 — 10 licenças × 21/30 dias (anual, cobrança mensal)",
                                                           "Microsoft 365 E3 — 15 licenças × 21/30 dias (anual, cobrança mensal)"]
    change_quantity(world, org.master, sub.id, 15)
    world.drain_queues()
    # The billing domain, over the timeline as stored, produces the previewed "+" line.
    stored = world.deps.subscriptions.get(org.id, sub.id)
    period = period_containing(stored.timeline[-1].start, 10)
    lines = prorated_lines(20710, stored.timeline, period)
    assert [(l.quantity, l.days, l.amount_cents) for l in lines] == [(10, 9, 62130), (15, 21, 217455)]
    assert lines[-1].amount_cents == preview["lines"][-1]["amount_cents"]


def test_going_to_zero_requires_a_reason(world, org):
    sub = world.subscription(org, "MS365-E3", 10)
    no_reason = change_quantity(world, org.master, sub.id, 0)
    assert no_reason.status_code == 400 and no_reason.json_body["error"]["code"] == "reason_required"
    bad_reason = world.call("POST", f"/subscriptions/{sub.id}/cancel", org.master, {"reason": "porque sim"})
    assert bad_reason.status_code == 400
    too_many = change_quantity(world, org.master, sub.id, 10_001)
    assert too_many.status_code == 400 and too_many.json_body["error"]["code"] == "invalid_quantity"
    cancelled = world.call("POST", f"/subscriptions/{sub.id}/cancel", org.master,
                           {"reason": "migracao", "reason_text": "Vamos para outro parceiro"})
    assert cancelled.status_code == 202
    world.drain_queues()
    current = panel(world, org.master)["MS365-E3"]
    assert (current["quantity"], current["status"]) == (0, "cancelled")
    [entry] = [e for e in world.call("GET", "/audit", org.master).json_body["items"]
               if e["action"] == "subscription.quantity_requested"]
    assert entry["after"]["reason"] == "migracao" and entry["after"]["reason_text"] == "Vamos para outro parceiro"


def test_only_adm_and_master_change_quantities(world, org):
    sub = world.subscription(org, "MS365-E3", 10)
    for role in (Role.COBRANCA, Role.SUPORTE):
        account = world.user(org.id, [role])
        assert change_quantity(world, account, sub.id, 11).status_code == 403
        assert world.call("GET", "/subscriptions", account).status_code == 200  # they may look
    adm = world.user(org.id, [Role.ADM])
    assert change_quantity(world, adm, sub.id, 11).status_code == 202


def test_termination_inside_the_window_closes_the_contract_and_tells_every_user(world, org, clock):
    world.subscription(org, "MS365-E3", 10, bought_at=clock.now)
    world.subscription(org, "POWERBI-PRO", 3, bought_at=clock.now)
    adm = world.user(org.id, [Role.ADM])
    clock.advance(days=2)
    response = world.call("POST", "/contract/terminate", adm, {"reason_text": "Encerramento da empresa"})
    assert response.status_code == 202
    assert {c["applies"] for c in response.json_body["changes"]} == {"now"}
    assert world.call("GET", "/contract", org.master).json_body["status"] == "terminating"
    world.drain_queues()
    contract = world.call("GET", "/contract", org.master).json_body
    assert contract["status"] == "terminated" and contract["final_invoice_due"] is True
    assert all(s["quantity"] == 0 for s in panel(world, org.master).values())
    notices = [m for m in world.outbox() if "Contrato encerrado" in m["Subject"]]
    assert len(notices) == 1
    assert {org.master.user.email, adm.user.email} <= set(notices[0]["To"].split(", "))


def test_termination_outside_the_window_is_scheduled_for_the_renewals(world, org, clock):
    world.subscription(org, "MS365-E3", 10, bought_at=clock.now)
    clock.advance(days=30)
    response = world.call("POST", "/contract/terminate", org.master, {})
    assert [c["applies"] for c in response.json_body["changes"]] == ["at_renewal"]
    world.drain_queues()
    assert world.call("GET", "/contract", org.master).json_body["status"] == "terminating"
    assert panel(world, org.master)["MS365-E3"]["quantity"] == 10


def test_auto_renew_off_lets_the_subscription_lapse_at_renewal(world, org, clock):
    sub = world.subscription(org, "MS365-BUSINESS-BASIC-M", 5, bought_at=clock.now)
    toggled = world.call("PATCH", f"/subscriptions/{sub.id}", org.master, {"auto_renew": False})
    assert toggled.status_code == 200 and toggled.json_body["auto_renew"] is False
    world.deps.clock.now = sp(2026, 12, 11, 1)
    world.client.lambda_.invoke("renew_subscriptions", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    world.drain_queues()
    lapsed = panel(world, org.master)["MS365-BUSINESS-BASIC-M"]
    assert (lapsed["quantity"], lapsed["status"], lapsed["renews_on"]) == (0, "cancelled", None)


def test_an_operator_price_change_applies_from_tomorrow_and_is_kept_in_history(world, org, clock):
    operator = world.operator()
    body = {"name": "Microsoft 365 E3", "family": "Microsoft 365", "unit_price_cents": 21990, "term": "P1Y",
            "billing_frequency": "monthly"}
    response = world.call("PUT", "/backoffice/catalog/products/MS365-E3", operator, body)
    assert response.status_code == 200
    assert response.json_body["unit_price_cents"] == 20710
    assert response.json_body["next_price"] == {"unit_price_cents": 21990, "from": "2026-11-12"}
    today, tomorrow = clock.now.astimezone(SAO_PAULO).date(), (clock.now + timedelta(days=1)).astimezone(SAO_PAULO).date()
    stored = world.deps.catalog.get("MS365-E3")
    assert price_on(stored, today) == 20710
    assert price_on(stored, tomorrow) == 21990
    assert world.call("PUT", "/backoffice/catalog/products/MS365-E3", org.master, body).status_code == 403
    new = world.call("PUT", "/backoffice/catalog/products/NOVO-1", operator,
                     {**body, "name": "Produto Novo", "family": "Azure"})
    assert new.status_code == 200 and new.json_body["unit_price_cents"] == 21990


def test_the_limits_the_portal_is_served_are_the_ones_the_api_enforces(world, org, clock):
    limits = world.call("GET", "/me", org.master).json_body["limits"]
    assert limits["cancellation_window_days"] == 7 and limits["cart_max_lines"] == 25
    maximum = limits["purchase_quantity"]["maximum"]
    assert limits["quantity"] == {"minimum": 0, "maximum": maximum}
    assert limits["purchase_quantity"]["minimum"] == 1

    def cart(quantity):
        return world.call("PUT", "/cart/items/MS365-E3", org.master, {"quantity": quantity})

    assert cart(maximum).status_code == 200
    for refused in (maximum + 1, 0):
        response = cart(refused)
        assert response.status_code == 400 and response.json_body["error"]["code"] == "invalid_quantity"
    sub = world.subscription(org, "MS365-E3", 10)
    assert change_quantity(world, org.master, sub.id, maximum + 1).json_body["error"]["code"] == "invalid_quantity"
    assert change_quantity(world, org.master, sub.id, maximum).status_code == 202
    shown = panel(world, org.master)["MS365-E3"]["cancellation_allowed_until"]
    assert shown == (clock.now + timedelta(days=limits["cancellation_window_days"])).astimezone(SAO_PAULO).isoformat()
