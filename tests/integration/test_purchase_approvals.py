"""Purchase approvals (issue #21 §4): an Adm's checkout or increase whose monthly effect is above
the organisation's limit waits for a Master, is ordered exactly once on approval, and never on
rejection or expiry; at or under the limit, and for a Master, everything goes through as before."""
from datetime import timedelta

import pytest

from chalicelib.domain.clock import FixedClock
from chalicelib.domain.roles import Role
from tests.support import body_text, in_parallel, sp

E3 = 20710  # Microsoft 365 E3's monthly price per seat in the seeded catalog (centavos)
LIMIT = 50_000  # R$ 500,00 a month


@pytest.fixture
def org(world):
    world.deps.clock = FixedClock(sp(2026, 11, 17, 10))
    return world.active_organization(closing_day=10)


@pytest.fixture
def adm(world, org):
    return world.user(org.id, [Role.ADM], email_address="compras@empresa.example")


@pytest.fixture
def queued(world, monkeypatch):
    """What the use cases queue: provisioning changes and emails (template, to, delivery key)."""
    sent = {"provisioning": [], "email": []}
    real_provisioning, real_email = world.deps.provisioning_queue.send, world.deps.email_queue.send
    monkeypatch.setattr(world.deps.provisioning_queue, "send",
                        lambda m, *a, **k: sent["provisioning"].append(m) or real_provisioning(m, *a, **k))
    monkeypatch.setattr(world.deps.email_queue, "send",
                        lambda m, *a, **k: sent["email"].append(m) or real_email(m, *a, **k))
    return sent


def _limit(world, org, cents):
    answer = world.call("PUT", "/approval-limit", org.master, {"monthly_limit_cents": cents})
    assert answer.status_code == 200, answer.json_body
    return answer


def _cart(world, account, **quantities):
    for sku, quantity in quantities.items():
        answer = world.call("PUT", f"/cart/items/{sku.replace('_', '-')}", account, {"quantity": quantity})
        assert answer.status_code == 200, answer.json_body


def _subscriptions(world, org):
    return world.call("GET", "/subscriptions", org.master).json_body["items"]


def _audit_actions(world, org):
    return [e["action"] for e in world.call("GET", "/audit", org.master).json_body["items"]]


def _requested(world, org, adm, queued, **quantities):
    _limit(world, org, LIMIT)
    _cart(world, adm, **quantities)
    answer = world.call("POST", "/cart/checkout", adm, {}, headers={"Idempotency-Key": "pedido-1"})
    assert answer.status_code == 202, answer.json_body
    return answer.json_body["approval"]


# --- the limit ------------------------------------------------------------------------------------

def test_the_master_sets_the_limit_an_adm_reads_it_and_it_is_audited(world, org, adm):
    assert world.call("GET", "/approval-limit", adm).json_body == {"monthly_limit_cents": None, "currency": "BRL"}
    _limit(world, org, LIMIT)
    assert world.call("GET", "/approval-limit", adm).json_body["monthly_limit_cents"] == LIMIT
    assert "approval.limit_changed" in _audit_actions(world, org)
    refused = world.call("PUT", "/approval-limit", adm, {"monthly_limit_cents": 1})
    assert world.call("PUT", "/approval-limit", org.master, {"outro": 1}).status_code == 400
    assert refused.status_code == 403
    for bad in (-1, 1.5, "100", True):
        answer = world.call("PUT", "/approval-limit", org.master, {"monthly_limit_cents": bad})
        assert answer.status_code == 400, (bad, answer.json_body)
    assert world.call("GET", "/approval-limit", adm).json_body["monthly_limit_cents"] == LIMIT
    _limit(world, org, None)
    assert world.call("GET", "/approval-limit", org.master).json_body["monthly_limit_cents"] is None


# --- an Adm's checkout above the limit --------------------------------------------------------------

def test_an_adm_checkout_above_the_limit_waits_and_the_master_approval_orders_it_once(world, org, adm, queued):
    approval = _requested(world, org, adm, queued, MS365_E3=3)
    assert approval["status"] == "pending" and approval["kind"] == "checkout"
    assert approval["monthly_effect_cents"] == 3 * E3
    assert approval["items"] == [{"sku": "MS365-E3", "name": "Microsoft 365 E3", "quantity": 3,
                                  "unit_price_cents": E3, "monthly_cents": 3 * E3}]
    assert approval["requested_by"]["id"] == adm.user.id
    assert approval["expires_at"] == (sp(2026, 11, 17, 10) + timedelta(days=7)).isoformat()
    # nothing ordered, the cart emptied into the request, the Masters told
    assert _subscriptions(world, org) == [] and queued["provisioning"] == []
    assert world.call("GET", "/cart", adm).json_body["items"] == []
    [notice] = queued["email"]
    assert notice["template"] == "approval_requested" and notice["to"] == [org.master.user.email]
    # a replay of the same key is the same request, not a second one
    again = world.call("POST", "/cart/checkout", adm, {}, headers={"Idempotency-Key": "pedido-1"})
    assert again.status_code == 202 and again.json_body["approval"]["id"] == approval["id"]
    assert len(world.call("GET", "/approvals", org.master).json_body["items"]) == 1

    approved = world.call("POST", f"/approvals/{approval['id']}/approve", org.master)
    assert approved.status_code == 200, approved.json_body
    body = approved.json_body
    assert body["status"] == "approved" and body["decided_by"]["id"] == org.master.user.id
    [sub] = _subscriptions(world, org)
    assert (sub["sku"], sub["pending_change"]["quantity"]) == ("MS365-E3", 3)
    assert body["result"] == {"subscription_ids": [sub["id"]]}
    assert len(queued["provisioning"]) == 1
    assert [m["template"] for m in queued["email"]] == ["approval_requested", "approval_decided"]
    assert queued["email"][1]["to"] == [adm.user.email]
    # approving again orders nothing more
    twice = world.call("POST", f"/approvals/{approval['id']}/approve", org.master)
    assert twice.status_code == 409 and twice.json_body["error"]["code"] == "approval_not_pending"
    assert len(_subscriptions(world, org)) == 1 and len(queued["provisioning"]) == 1
    actions = _audit_actions(world, org)
    assert {"approval.requested", "approval.approved", "approval.ordered", "cart.checked_out"} <= set(actions)
    # the emails render, in Portuguese, with the amount per month and the portal's link
    world.drain_queues()
    texts = {m["Subject"]: body_text(m) for m in world.outbox()}
    request_mail = next(t for s, t in texts.items() if "aguardando sua aprovação" in s)
    assert "R$ 621,30" in request_mail and "#/aprovacoes" in request_mail
    assert any("aprovada" in s for s in texts)


def test_two_approvals_at_once_order_once(world, org, adm, queued):
    approval = _requested(world, org, adm, queued, MS365_E3=3)
    outcomes = in_parallel(3, lambda n: world.call("POST", f"/approvals/{approval['id']}/approve", org.master))
    assert sorted(o.status_code for o in outcomes) == [200, 409, 409]
    assert len(_subscriptions(world, org)) == 1 and len(queued["provisioning"]) == 1


def test_a_rejected_request_is_never_ordered(world, org, adm, queued):
    approval = _requested(world, org, adm, queued, MS365_E3=3)
    rejected = world.call("POST", f"/approvals/{approval['id']}/reject", org.master,
                          {"reason": "Orçamento do trimestre esgotado"})
    assert rejected.status_code == 200
    assert rejected.json_body["status"] == "rejected"
    assert rejected.json_body["reason"] == "Orçamento do trimestre esgotado"
    assert queued["email"][-1]["template"] == "approval_decided" and queued["email"][-1]["to"] == [adm.user.email]
    refused = world.call("POST", f"/approvals/{approval['id']}/approve", org.master)
    assert refused.status_code == 409
    assert _subscriptions(world, org) == [] and queued["provisioning"] == []
    assert "approval.rejected" in _audit_actions(world, org)


def test_an_expired_request_cannot_be_approved_and_the_job_marks_it_and_emails(world, org, adm, queued):
    approval = _requested(world, org, adm, queued, MS365_E3=3)
    world.deps.clock.advance(days=7)
    refused = world.call("POST", f"/approvals/{approval['id']}/approve", org.master)
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "approval_expired"
    assert world.call("GET", f"/approvals/{approval['id']}", org.master).json_body["status"] == "pending"
    world.client.lambda_.invoke("expire_approvals", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert world.call("GET", f"/approvals/{approval['id']}", adm).json_body["status"] == "expired"
    assert queued["email"][-1]["template"] == "approval_decided"
    assert queued["email"][-1]["delivery_key"] == f"approval-expired#{approval['id']}"
    assert world.call("POST", f"/approvals/{approval['id']}/approve", org.master).status_code == 409
    assert _subscriptions(world, org) == [] and queued["provisioning"] == []
    assert "approval.expired" in _audit_actions(world, org)


def test_the_claim_itself_refuses_an_expired_request(world, org, adm, queued):
    """Even from a picture read before the expiry, the claim's condition on expires_at refuses it."""
    from chalicelib.domain import approvals as rules
    from chalicelib.domain.audit import Actor
    from chalicelib.domain.clock import iso
    from chalicelib.services import audit

    approval = _requested(world, org, adm, queued, MS365_E3=3)
    read_before = world.deps.approvals.get(org.id, approval["id"])
    world.deps.clock.advance(days=7, seconds=1)
    now = iso(world.deps.clock())
    claimed = rules.decided(read_before, rules.APPROVED, approval["requested_by"], now)
    entry = audit.entry(world.deps, Actor(user_id=org.master.user.id, email=org.master.user.email), org.id,
                        "approval.approved", f"approval:{read_before.id}")
    with pytest.raises(Exception) as refused:
        world.deps.approvals.save(claimed, expected_version=read_before.version, expected_status=rules.PENDING,
                                  audit=entry, not_expired_at=now)
    assert getattr(refused.value, "code", None) == "approval_not_pending"
    assert world.deps.approvals.get(org.id, approval["id"]).status == "pending"


@pytest.mark.parametrize("quantity", [1, 2])  # 20.710 and 41.420: under, then exactly at the limit
def test_at_or_under_the_limit_an_adm_checkout_goes_through_as_today(world, org, adm, queued, quantity):
    _limit(world, org, 2 * E3)
    _cart(world, adm, MS365_E3=quantity)
    bought = world.call("POST", "/cart/checkout", adm, {})
    assert bought.status_code == 201, bought.json_body
    assert len(_subscriptions(world, org)) == 1 and len(queued["provisioning"]) == 1
    assert world.call("GET", "/approvals", org.master).json_body["items"] == []


def test_a_master_purchase_never_needs_approval(world, org, queued):
    _limit(world, org, 0)
    _cart(world, org.master, MS365_E3=5)
    assert world.call("POST", "/cart/checkout", org.master, {}).status_code == 201
    assert len(queued["provisioning"]) == 1


def test_an_annual_upfront_plan_counts_its_monthly_equivalent(world, org, adm, queued):
    _limit(world, org, 32870 * 2 - 1)
    _cart(world, adm, MS365_E5=2)  # 328,70 a month per seat, charged × 12 up front
    answer = world.call("POST", "/cart/checkout", adm, {})
    assert answer.status_code == 202 and answer.json_body["approval"]["monthly_effect_cents"] == 2 * 32870


# --- quantity increases ---------------------------------------------------------------------------

def test_an_increase_above_the_limit_waits_and_is_applied_once_on_approval(world, org, adm, queued):
    _limit(world, org, LIMIT)
    sub = world.subscription(org, "MS365-E3", 2)
    answer = world.call("POST", f"/subscriptions/{sub.id}/quantity", adm, {"quantity": 5})
    assert answer.status_code == 202, answer.json_body
    approval = answer.json_body["approval"]
    assert approval["kind"] == "quantity_increase" and approval["monthly_effect_cents"] == 3 * E3
    assert approval["subscription"]["from_quantity"] == 2 and approval["subscription"]["quantity"] == 5
    panel = world.call("GET", f"/subscriptions/{sub.id}", adm).json_body
    assert panel["quantity"] == 2 and panel["pending_change"] is None and queued["provisioning"] == []
    approved = world.call("POST", f"/approvals/{approval['id']}/approve", org.master).json_body
    assert approved["status"] == "approved" and approved["result"]["change_id"]
    panel = world.call("GET", f"/subscriptions/{sub.id}", adm).json_body
    assert panel["pending_change"]["quantity"] == 5 and len(queued["provisioning"]) == 1
    assert world.call("POST", f"/approvals/{approval['id']}/approve", org.master).status_code == 409
    assert len(queued["provisioning"]) == 1


def test_an_increase_whose_subscription_moved_since_fails_in_words(world, org, adm, queued):
    _limit(world, org, LIMIT)
    sub = world.subscription(org, "MS365-E3", 2)
    approval = world.call("POST", f"/subscriptions/{sub.id}/quantity", adm, {"quantity": 5}).json_body["approval"]
    moved = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 3})
    assert moved.status_code == 202 and "change" in moved.json_body
    queued["provisioning"].clear()
    failed = world.call("POST", f"/approvals/{approval['id']}/approve", org.master).json_body
    assert failed["status"] == "failed" and "mudou desde o pedido" in failed["reason"]
    assert queued["provisioning"] == []
    assert world.call("GET", f"/subscriptions/{sub.id}", adm).json_body["pending_change"]["quantity"] == 3


def test_a_decrease_never_needs_approval(world, org, adm, queued):
    _limit(world, org, 0)
    sub = world.subscription(org, "MS365-E3", 5)
    answer = world.call("POST", f"/subscriptions/{sub.id}/quantity", adm, {"quantity": 4})
    assert answer.status_code == 202 and "change" in answer.json_body
    assert world.call("GET", "/approvals", org.master).json_body["items"] == []


# --- who sees and decides what --------------------------------------------------------------------

def test_an_adm_cannot_decide_nor_see_another_adm_requests(world, org, adm, queued):
    approval = _requested(world, org, adm, queued, MS365_E3=3)
    other = world.user(org.id, [Role.ADM])
    for path in ("approve", "reject"):
        refused = world.call("POST", f"/approvals/{approval['id']}/{path}", adm, {})
        assert refused.status_code == 403
    assert world.call("GET", f"/approvals/{approval['id']}", other).status_code == 404
    assert world.call("GET", "/approvals", other).json_body["items"] == []
    assert [a["id"] for a in world.call("GET", "/approvals", adm).json_body["items"]] == [approval["id"]]
    assert [a["id"] for a in world.call("GET", "/approvals?status=pending", org.master).json_body["items"]] \
        == [approval["id"]]
    assert world.call("GET", "/approvals?status=approved", org.master).json_body["items"] == []
    assert world.call("GET", f"/approvals/{approval['id']}", org.master).json_body["status"] == "pending"
    assert _subscriptions(world, org) == []


def test_another_organisation_request_is_not_found_and_nothing_is_written(world, org, adm, queued):
    approval = _requested(world, org, adm, queued, MS365_E3=3)
    other = world.active_organization(closing_day=10)
    audit_before = _audit_actions(world, other)
    for method, path in (("GET", ""), ("POST", "/approve"), ("POST", "/reject")):
        answer = world.call(method, f"/approvals/{approval['id']}{path}", other.master, {} if method == "POST" else None)
        assert answer.status_code == 404, (path, answer.json_body)
    assert world.call("GET", f"/approvals/{approval['id']}", org.master).json_body["status"] == "pending"
    assert _subscriptions(world, org) == [] and _subscriptions(world, other) == []
    assert _audit_actions(world, other) == audit_before


def test_a_refused_checkout_writes_no_request(world, org, adm, queued):
    """The checkout's own refusals come first: a cart changed since the review writes nothing."""
    _limit(world, org, LIMIT)
    _cart(world, adm, MS365_E3=3)
    refused = world.call("POST", "/cart/checkout", adm, {"items": [{"sku": "MS365-E3", "quantity": 2}]})
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "cart_changed_since_review"
    assert world.call("GET", "/approvals", org.master).json_body["items"] == []
    assert [i["quantity"] for i in world.call("GET", "/cart", adm).json_body["items"]] == [3]
    assert queued["email"] == [] and queued["provisioning"] == []


def test_the_overdue_purchase_block_still_applies_at_approval_and_nothing_is_ordered(world, queued):
    from tests.integration.test_dunning import billed, run_on

    clock = FixedClock(sp(2026, 10, 1))
    world.deps.clock = clock
    org, _, invoice, _ = billed(world, clock)
    adm = world.user(org.id, [Role.ADM])
    run_on(world, clock, 22, 12)  # D+29: purchases still allowed, the request is made
    _limit(world, org, LIMIT)
    _cart(world, adm, POWERBI_PRO=7)  # 7 × 77,30 = 541,10 a month
    approval = world.call("POST", "/cart/checkout", adm, {}).json_body["approval"]
    run_on(world, clock, 23, 12)  # D+30: the block is on
    before = len(world.deps.subscriptions.list(org.id))
    queued["provisioning"].clear()
    failed = world.call("POST", f"/approvals/{approval['id']}/approve", org.master)
    assert failed.status_code == 200 and failed.json_body["status"] == "failed"
    assert f"fatura nº {invoice['number']}" in failed.json_body["reason"]
    assert len(world.deps.subscriptions.list(org.id)) == before and queued["provisioning"] == []
    assert world.call("POST", f"/approvals/{approval['id']}/approve", org.master).status_code == 409
    assert "approval.failed" in [e["action"] for e in world.call(
        "GET", "/audit?from=2026-12-01&to=2027-01-01", org.master).json_body["items"]]


# --- review fixes: the order bound to what was priced; claim and order in one transaction -----------

def test_a_cart_raised_between_pricing_and_ordering_is_not_ordered_without_approval(world, org, adm, queued,
                                                                                    monkeypatch):
    """An Adm's cart priced under the limit, then raised by a concurrent PUT /cart/items before the
    checkout reads it again: refused (409), nothing ordered above the limit, no request either."""
    _limit(world, org, LIMIT)
    _cart(world, adm, MS365_E3=2)  # 414,20: under the limit
    real, reads = world.deps.cart.lines, []

    def lines(organization_id):
        found = real(organization_id)
        reads.append(found)
        if len(reads) == 1:  # another tab raises the quantity right after the pricing read
            world.deps.cart.put(organization_id, "MS365-E3", 10, "2026-11-17T13:00:00+00:00")
        return found
    monkeypatch.setattr(world.deps.cart, "lines", lines)
    answer = world.call("POST", "/cart/checkout", adm, {})
    assert answer.status_code == 409, answer.json_body
    assert answer.json_body["error"]["code"] in ("cart_changed_since_review", "cart_changed")
    assert world.deps.subscriptions.list(org.id) == [] and queued["provisioning"] == []
    assert world.call("GET", "/approvals", org.master).json_body["items"] == []
    monkeypatch.setattr(world.deps.cart, "lines", real)
    assert [i["quantity"] for i in world.call("GET", "/cart", adm).json_body["items"]] == [10]


def test_an_increase_priced_on_one_version_is_not_applied_on_another(world, org, adm, queued, monkeypatch):
    """2 → 4 is under the limit; if the subscription drops to 1 between the pricing read and the
    change (1 → 4 would be above it), the change is refused, not made without approval."""
    from dataclasses import replace as replaced

    _limit(world, org, LIMIT)
    sub = world.subscription(org, "MS365-E3", 2)
    real, reads = world.deps.subscriptions.get, []

    def get(organization_id, subscription_id):
        found = real(organization_id, subscription_id)
        reads.append(found)
        if len(reads) == 1:  # the subscription moves (1 seat) right after the pricing read
            world.deps.subscriptions.save([(replaced(found, quantity=1, version=found.version + 1), found.version)],
                                          [], audit=[])
        return found
    monkeypatch.setattr(world.deps.subscriptions, "get", get)
    answer = world.call("POST", f"/subscriptions/{sub.id}/quantity", adm, {"quantity": 4})
    assert answer.status_code == 409, answer.json_body
    monkeypatch.setattr(world.deps.subscriptions, "get", real)
    stored = world.deps.subscriptions.get(org.id, sub.id)
    assert stored.quantity == 1 and stored.pending_change is None and queued["provisioning"] == []
    assert world.call("GET", "/approvals", org.master).json_body["items"] == []


@pytest.mark.parametrize("kind", ["checkout", "quantity_increase"])
def test_a_failure_in_the_order_leaves_the_request_pending_and_a_retry_orders_once(world, org, adm, queued,
                                                                                  monkeypatch, kind):
    from tests.support import failing_first

    if kind == "checkout":
        approval = _requested(world, org, adm, queued, MS365_E3=3)
        before = []
    else:
        _limit(world, org, LIMIT)
        sub = world.subscription(org, "MS365-E3", 2)
        approval = world.call("POST", f"/subscriptions/{sub.id}/quantity", adm, {"quantity": 5}).json_body["approval"]
        before = [sub.id]
    flaky = failing_first(world.deps.subscriptions.save, 1, RuntimeError("DynamoDB indisponível"))
    monkeypatch.setattr(world.deps.subscriptions, "save", flaky)
    try:
        first = world.call("POST", f"/approvals/{approval['id']}/approve", org.master)
        assert first.status_code >= 500
    except RuntimeError:
        pass  # the test client may hand the unexpected error on
    assert flaky.calls == 1
    stored = world.call("GET", f"/approvals/{approval['id']}", org.master).json_body
    assert stored["status"] == "pending" and stored["result"] is None
    assert [s.id for s in world.deps.subscriptions.list(org.id)] == before and queued["provisioning"] == []
    if kind == "quantity_increase":
        assert world.deps.subscriptions.get(org.id, sub.id).pending_change is None
    retried = world.call("POST", f"/approvals/{approval['id']}/approve", org.master)
    assert retried.status_code == 200, retried.json_body
    assert retried.json_body["status"] == "approved" and retried.json_body["result"]
    assert len(queued["provisioning"]) == 1 and len(world.deps.subscriptions.list(org.id)) == 1
    assert world.call("POST", f"/approvals/{approval['id']}/approve", org.master).status_code == 409
    assert len(queued["provisioning"]) == 1


def test_product_limits_are_checked_before_a_checkout_becomes_a_request(world, org, adm, queued):
    operator = world.operator()
    _limit(world, org, LIMIT)
    _cart(world, adm, MS365_E3=5)
    fields = {k: v for k, v in next(p for p in world.call("GET", "/backoffice/catalog/products", operator)
                                    .json_body["items"] if p["sku"] == "MS365-E3").items()
              if k in ("name", "family", "unit_price_cents", "term", "billing_frequency")}
    assert world.call("PUT", "/backoffice/catalog/products/MS365-E3", operator,
                      {**fields, "max_quantity": 4}).status_code == 200
    audit_before = _audit_actions(world, org)
    refused = world.call("POST", "/cart/checkout", adm, {})
    assert refused.status_code == 422 and refused.json_body["error"]["code"] == "quantity_above_maximum"
    assert refused.json_body["error"]["details"]["sku"] == "MS365-E3"
    assert world.call("GET", "/approvals", org.master).json_body["items"] == []
    assert [i["quantity"] for i in world.call("GET", "/cart", adm).json_body["items"]] == [5]
    assert queued["email"] == [] and queued["provisioning"] == [] and _audit_actions(world, org) == audit_before


def test_product_limits_are_checked_before_an_increase_becomes_a_request(world, org, adm, queued):
    operator = world.operator()
    _limit(world, org, LIMIT)
    sub = world.subscription(org, "MS365-E3", 2)
    fields = {k: v for k, v in next(p for p in world.call("GET", "/backoffice/catalog/products", operator)
                                    .json_body["items"] if p["sku"] == "MS365-E3").items()
              if k in ("name", "family", "unit_price_cents", "term", "billing_frequency")}
    assert world.call("PUT", "/backoffice/catalog/products/MS365-E3", operator,
                      {**fields, "max_quantity": 4}).status_code == 200
    audit_before = _audit_actions(world, org)
    refused = world.call("POST", f"/subscriptions/{sub.id}/quantity", adm, {"quantity": 5})
    assert refused.status_code == 422 and refused.json_body["error"]["code"] == "quantity_above_maximum"
    assert world.call("GET", "/approvals", org.master).json_body["items"] == []
    assert world.deps.subscriptions.get(org.id, sub.id).pending_change is None
    assert queued["email"] == [] and queued["provisioning"] == [] and _audit_actions(world, org) == audit_before


# --- review fixes: the limit's own write -----------------------------------------------------------

@pytest.mark.parametrize("body", [{}, None])
def test_a_limit_put_without_the_field_is_refused_and_writes_nothing(world, org, body):
    _limit(world, org, LIMIT)
    audit_before = _audit_actions(world, org)
    refused = world.call("PUT", "/approval-limit", org.master, body)
    assert refused.status_code == 400, refused.json_body
    assert refused.json_body["error"]["code"] == "required"
    assert refused.json_body["error"]["details"]["field"] == "monthly_limit_cents"
    assert world.call("GET", "/approval-limit", org.master).json_body["monthly_limit_cents"] == LIMIT
    assert _audit_actions(world, org) == audit_before
    removed = world.call("PUT", "/approval-limit", org.master, '{"monthly_limit_cents": null}')  # explicit null
    assert removed.status_code == 200 and removed.json_body["monthly_limit_cents"] is None
    assert world.call("GET", "/approval-limit", org.master).json_body["monthly_limit_cents"] is None


def test_changing_the_limit_does_not_move_the_organisation_version_an_open_address_form_uses(world, org):
    from tests.support import ADDRESS

    operator = world.operator()
    seen = world.call("GET", f"/backoffice/organizations/{org.id}", operator).json_body["version"]
    _limit(world, org, LIMIT)
    _limit(world, org, None)
    assert world.call("GET", f"/backoffice/organizations/{org.id}", operator).json_body["version"] == seen
    changed = world.call("PUT", f"/backoffice/organizations/{org.id}/address", operator,
                         {**ADDRESS, "number": "2000"}, headers={"If-Match": str(seen)})
    assert changed.status_code == 200, changed.json_body
    # and the limit's own write is still on what it read: an address change does not block it
    _limit(world, org, LIMIT)
    assert world.call("GET", "/approval-limit", org.master).json_body["monthly_limit_cents"] == LIMIT


def test_two_limit_edits_from_the_same_picture_cannot_both_pass(world, org):
    from chalicelib.services import approvals
    from chalicelib.services.caller import Caller

    _limit(world, org, LIMIT)
    caller = Caller(user=org.master.user, organization_id=org.id)
    real = world.deps.approvals.limit
    stale = real(org.id)
    _limit(world, org, 2 * LIMIT)  # another Master's edit lands after the picture was read
    world.deps.approvals.limit = lambda organization_id: stale
    try:
        with pytest.raises(Exception) as refused:
            approvals.set_limit(world.deps, caller, {"monthly_limit_cents": 1})
    finally:
        del world.deps.approvals.limit
    assert getattr(refused.value, "code", None) == "version_conflict"
    assert world.call("GET", "/approval-limit", org.master).json_body["monthly_limit_cents"] == 2 * LIMIT
