"""Suspension at the licence provider from D+45 and reactivation on payment: the daily job
(12:30 UTC), the provider spied through the simulator's record of status requests, and every effect
(subscriptions, emails, audit trail) checked."""
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.domain.audit import SYSTEM
from chalicelib.domain.billing import Dispute
from chalicelib.domain.clock import FixedClock, iso
from chalicelib.services import audit, suspensions
from tests.integration.test_billing import issued_invoice, run_overdue_job
from tests.support import in_parallel, reading_together, sp

# The invoice `issued_invoice` makes is due on 23 Nov 2026: D+45 is 7 Jan 2027.
D44 = sp(2027, 1, 6, 9)
D45 = sp(2027, 1, 7, 9)


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


@pytest.fixture
def overdue(world, clock):
    """An organisation with two active subscriptions (1 and 3 seats) and one invoice overdue since
    24 Nov 2026: (org, operator, invoice)."""
    org, operator, invoice = issued_invoice(world, clock)
    world.subscription(org, "MS365-E5", 3)
    clock.now = sp(2026, 11, 25, 9)
    run_overdue_job(world)
    return org, operator, invoice


@pytest.fixture
def warned(world, clock, overdue):
    """`overdue` at D+40 (2 Jan 2027), once the daily run has sent the suspension warning: the
    suspension waits for its notice (D+45 by default)."""
    clock.now = sp(2027, 1, 2, 9)
    run_overdue_job(world)
    return overdue


def run_suspension_job(world):
    world.client.lambda_.invoke("suspend_overdue_subscriptions", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    world.drain_queues()


def provider(world):
    return world.deps.licence_provider


def statuses(world, org):
    return {s["sku"]: s["status"] for s in world.call("GET", "/subscriptions", org.master).json_body["items"]}


def actions(world, org):
    return [e["action"] for e in world.call("GET", "/audit", org.master).json_body["items"]]


def mails(world, word):
    return [m for m in world.outbox() if word in m["Subject"]]


def set_override(world, org, override):
    contract = world.deps.contracts.get(org.id)
    world.deps.contracts.save(replace(contract, dunning_override=override, version=contract.version + 1),
                              expected_version=contract.version, audit=audit.entry(
                                  world.deps, SYSTEM, org.id, "contract.dunning_override", f"contract:{contract.id}"))


def pay(world, operator, invoice, amount_cents, paid_on="2027-01-07"):
    return world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", operator,
                      {"amount_cents": amount_cents, "paid_on": paid_on, "method": "deposito"})


def test_at_d45_the_provider_suspends_each_active_subscription_once_and_the_panel_reads_suspended(world, clock, warned):
    org, operator, invoice = warned
    clock.now = D44
    run_suspension_job(world)
    assert provider(world).status_requests == [] and set(statuses(world, org).values()) == {"active"}

    clock.now = D45
    run_suspension_job(world)
    subs = world.deps.subscriptions.list(org.id)
    requests = provider(world).status_requests
    assert sorted((p, s) for p, s, _ in requests) == sorted((s.provider_subscription_id, "suspended") for s in subs)
    assert all(provider(world).get(None, s.provider_subscription_id)["status"] == "suspended" for s in subs)
    assert statuses(world, org) == {"MS365-E3": "suspended", "MS365-E5": "suspended"}
    one = world.call("GET", f"/subscriptions/{subs[0].id}", org.master).json_body
    assert one["status"] == "suspended"
    [mail] = mails(world, "suspensas")
    assert {a.addr_spec for a in mail["To"].addresses} == {org.contract.billing_contacts[0],
                                                           world.deps.settings.operators_email}
    assert f"fatura nº {invoice['number']}" in mail.get_body(preferencelist=("plain",)).get_content()
    trail = actions(world, org)
    assert trail.count("subscription.suspended") == 2 and trail.count("suspension.opened") == 1

    run_suspension_job(world)  # the next day's run: nothing more to do, nothing said again
    clock.now = D45 + timedelta(days=1)
    run_suspension_job(world)
    assert len(provider(world).status_requests) == 2 and len(mails(world, "suspensas")) == 1
    assert actions(world, org).count("subscription.suspended") == 2


def test_two_runs_at_once_call_the_provider_once_per_subscription(world, clock, warned, monkeypatch):
    org, operator, invoice = warned
    clock.now = D45
    # Both runs read the organisation's (unsuspended) subscriptions before either calls the provider.
    reading_together(monkeypatch, world.deps.subscriptions, "list", 2)
    outcomes = in_parallel(2, lambda n: suspensions.suspend_due(world.deps))
    world.drain_queues()
    assert sum(o["suspended"] for o in outcomes) == 2 and sum(o["failed"] for o in outcomes) == 0
    assert len(provider(world).status_requests) == 2
    assert set(statuses(world, org).values()) == {"suspended"}
    assert actions(world, org).count("suspension.opened") == 1 and len(mails(world, "suspensas")) == 1


def test_an_operators_hold_suspends_nothing_and_lifting_the_hold_warns_before_it_suspends(world, clock, overdue):
    org, operator, invoice = overdue
    set_override(world, org, {"hold_suspension": True})
    clock.now = sp(2027, 1, 2, 9)  # D+40: no warning while held, there is nothing to warn of
    run_overdue_job(world)
    clock.now = D45
    run_overdue_job(world)
    run_suspension_job(world)
    assert provider(world).status_requests == [] and set(statuses(world, org).values()) == {"active"}
    assert not mails(world, "suspensas") and "suspension.opened" not in actions(world, org)

    # The hold lifted after the suspension day: the warning goes out now, and the customer gets its
    # whole notice (5 days by default) before anything is suspended.
    set_override(world, org, {"hold_suspension": False})
    run_overdue_job(world)
    assert "invoice.suspension_warning" in actions(world, org)
    run_suspension_job(world)
    assert set(statuses(world, org).values()) == {"active"}
    clock.now = D45 + timedelta(days=4)
    run_suspension_job(world)
    assert set(statuses(world, org).values()) == {"active"}
    clock.now = D45 + timedelta(days=5)
    run_suspension_job(world)
    assert set(statuses(world, org).values()) == {"suspended"}


def test_an_organisations_own_earlier_suspension_day_is_found_through_the_overdue_index(world, clock, overdue):
    org, operator, invoice = overdue
    set_override(world, org, {"warning_day": 15, "suspension_day": 20})
    clock.now = sp(2026, 12, 8, 9)  # D+15: the warning
    run_overdue_job(world)
    clock.now = sp(2026, 12, 13, 9)  # D+20
    run_suspension_job(world)
    assert set(statuses(world, org).values()) == {"suspended"}


def test_no_suspension_without_the_warning_and_its_notice(world, clock, overdue):
    # The daily runs were down from D+2 to D+45: the warning goes out at D+45, the suspension at D+50.
    org, operator, invoice = overdue
    clock.now = D45
    run_suspension_job(world)
    assert provider(world).status_requests == [] and set(statuses(world, org).values()) == {"active"}
    run_overdue_job(world)
    [warning] = mails(world, "suspensão")
    assert "12/01/2027" in warning.get_body(preferencelist=("plain",)).get_content()
    status = world.call("GET", "/billing-status", org.master).json_body
    assert (status["state"], status["suspension_on"]) == ("suspension_warning", "2027-01-12")
    clock.now = sp(2027, 1, 12, 9)
    run_suspension_job(world)
    assert set(statuses(world, org).values()) == {"suspended"}


def test_a_payment_in_full_reactivates_at_the_provider_and_a_partial_one_does_not(world, clock, warned):
    org, operator, invoice = warned
    clock.now = D45
    run_suspension_job(world)
    subs = world.deps.subscriptions.list(org.id)

    partial = pay(world, operator, invoice, 100)
    assert partial.status_code == 201 and partial.json_body["status"] == "overdue"
    world.drain_queues()
    assert set(statuses(world, org).values()) == {"suspended"}
    assert [s for _, s, _ in provider(world).status_requests] == ["suspended", "suspended"]
    assert not mails(world, "reativadas")

    rest = pay(world, operator, invoice, invoice["total_cents"] - 100)
    assert rest.status_code == 201 and rest.json_body["status"] == "paid"
    world.drain_queues()
    assert statuses(world, org) == {"MS365-E3": "active", "MS365-E5": "active"}
    assert sorted(p for p, s, _ in provider(world).status_requests if s == "active") == \
        sorted(s.provider_subscription_id for s in subs)
    assert all(provider(world).get(None, s.provider_subscription_id)["status"] == "active" for s in subs)
    # Each call named the organisation's customer at the provider.
    customer_id = world.deps.organizations.get(org.id).microsoft_customer_id
    assert customer_id and [c for op, c, _ in provider(world).requests if op in ("suspended", "active")] == \
        [customer_id] * 4
    [mail] = mails(world, "reativadas")
    assert {a.addr_spec for a in mail["To"].addresses} == {org.contract.billing_contacts[0],
                                                           world.deps.settings.operators_email}
    trail = actions(world, org)
    assert trail.count("subscription.reactivated") == 2 and trail.count("suspension.lifted") == 1

    run_suspension_job(world)  # nothing left to lift, nothing suspended again
    assert len(provider(world).status_requests) == 4 and len(mails(world, "reativadas")) == 1
    # The quantity may change again.
    sub = world.deps.subscriptions.list(org.id)[0]
    changed = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": sub.quantity + 1})
    assert changed.status_code == 202, changed.json_body


def test_a_provider_failure_while_suspending_is_retried_by_the_next_run_with_the_same_request(world, clock, warned):
    org, operator, invoice = warned
    clock.now = D45
    before = {s.id: s for s in world.deps.subscriptions.list(org.id)}
    provider(world).fail_next(1)
    run_suspension_job(world)
    after = {s.id: s for s in world.deps.subscriptions.list(org.id)}
    [failed_id] = [i for i in after if after[i].status == "active"]
    assert after[failed_id].version == before[failed_id].version  # nothing half-written on it
    assert sorted(s.status for s in after.values()) == ["active", "suspended"]
    assert not mails(world, "suspensas")  # told once every subscription is suspended
    assert "subscription.suspend_failed" in actions(world, org)

    run_suspension_job(world)  # the next run: the failed call again, the same request
    assert set(statuses(world, org).values()) == {"suspended"}
    failed_provider_id = before[failed_id].provider_subscription_id
    tries = [r for p, s, r in provider(world).status_requests if p == failed_provider_id]
    assert len(tries) == 2 and tries[0] == tries[1]
    assert len(mails(world, "suspensas")) == 1
    assert actions(world, org).count("subscription.suspended") == 2


def test_a_suspension_the_provider_refuses_is_audited_told_to_the_operators_once_and_not_called_again(
        world, clock, warned):
    org, operator, invoice = warned
    clock.now = D45
    before = {s.id: s for s in world.deps.subscriptions.list(org.id)}
    provider(world).reject_next("subscription_not_suspendable", "Subscription is in a state that cannot be suspended.")
    run_suspension_job(world)
    after = {s.id: s for s in world.deps.subscriptions.list(org.id)}
    [refused_id] = [i for i in after if after[i].status == "active"]
    assert after[refused_id].version == before[refused_id].version
    [mail] = mails(world, "recusou")
    assert [a.addr_spec for a in mail["To"].addresses] == [world.deps.settings.operators_email]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert before[refused_id].name in text and "Subscription is in a state that cannot be suspended." in text
    assert actions(world, org).count("subscription.suspend_refused") == 1
    # The other subscription was suspended, and the customer told of it.
    assert len(mails(world, "suspensas")) == 1

    calls = len(provider(world).status_requests)
    clock.now = D45 + timedelta(days=1)
    run_suspension_job(world)  # the next run: not asked again, not told again
    assert len(provider(world).status_requests) == calls and len(mails(world, "recusou")) == 1
    assert actions(world, org).count("subscription.suspend_refused") == 1


def test_a_run_that_died_after_its_claim_is_taken_over_once_the_claim_expires(world, clock, warned):
    org, operator, invoice = warned
    clock.now = D45
    sub = world.deps.subscriptions.list(org.id)[0]
    # A run claimed this subscription's call in suspension 1, then died before calling.
    assert world.deps.suspensions.claim(org.id, 1, "suspend", sub.id, now=iso(D45),
                                        until=iso(D45 + suspensions.CLAIM_LEASE))
    run_suspension_job(world)  # the claim is held: this subscription is left alone
    assert world.deps.subscriptions.get(org.id, sub.id).status == "active"
    clock.now = D45 + suspensions.CLAIM_LEASE + timedelta(minutes=1)
    run_suspension_job(world)
    assert world.deps.subscriptions.get(org.id, sub.id).status == "suspended"
    assert len(mails(world, "suspensas")) == 1


def test_a_provider_failure_while_reactivating_does_not_fail_the_payment_and_the_next_run_lifts(world, clock,
                                                                                                warned):
    org, operator, invoice = warned
    clock.now = D45
    run_suspension_job(world)
    provider(world).fail_next(5)
    paid = pay(world, operator, invoice, invoice["total_cents"])
    assert paid.status_code == 201 and paid.json_body["status"] == "paid"
    world.drain_queues()
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "paid"
    assert set(statuses(world, org).values()) == {"suspended"} and not mails(world, "reativadas")
    assert "subscription.reactivate_failed" in actions(world, org)

    provider(world).fail_next(0)
    run_suspension_job(world)
    assert set(statuses(world, org).values()) == {"active"}
    assert len(mails(world, "reativadas")) == 1


def test_a_dispute_lifts_the_suspension_at_the_next_run(world, clock, warned):
    org, operator, invoice = warned
    clock.now = D45
    run_suspension_job(world)
    stored = world.deps.invoices.get(invoice["id"])
    world.deps.invoices.save(replace(stored, dispute=Dispute("Cliente contesta a quantidade", operator.user.id,
                                                             "2027-01-07T12:00:00+00:00"),
                                     version=stored.version + 1), expected_version=stored.version)
    clock.now = D45 + timedelta(days=1)
    run_suspension_job(world)
    assert set(statuses(world, org).values()) == {"active"} and len(mails(world, "reativadas")) == 1


def test_a_hold_on_an_organisation_already_suspended_reactivates_it_at_the_next_run(world, clock, warned):
    org, operator, invoice = warned
    clock.now = D45
    run_suspension_job(world)
    set_override(world, org, {"hold_suspension": True})
    run_suspension_job(world)
    assert set(statuses(world, org).values()) == {"active"} and len(mails(world, "reativadas")) == 1


def test_the_quantity_of_a_suspended_subscription_cannot_change_and_nothing_is_written(world, clock, warned):
    org, operator, invoice = warned
    clock.now = D45
    run_suspension_job(world)
    sub = world.deps.subscriptions.list(org.id)[0]
    trail = actions(world, org)
    changes = world.call("GET", f"/subscriptions/{sub.id}/changes", org.master).json_body["items"]
    world.drain_queues()
    for quantity in (sub.quantity + 1, sub.quantity - 1 if sub.quantity > 1 else 0):
        body = {"quantity": quantity} if quantity else {"quantity": 0, "reason": "reducao_de_custos"}
        refused = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, body)
        assert refused.status_code == 409, refused.json_body
        assert refused.json_body["error"]["code"] == "subscription_suspended"
        assert "suspensa" in refused.json_body["error"]["message"] and sub.name in refused.json_body["error"]["message"]
    after = world.deps.subscriptions.get(org.id, sub.id)
    assert (after.version, after.quantity, after.pending_change) == (sub.version, sub.quantity, None)
    assert world.call("GET", f"/subscriptions/{sub.id}/changes", org.master).json_body["items"] == changes
    assert actions(world, org) == trail
    assert world.drain_queues() == 0  # nothing queued for the provider, no email


def test_a_suspended_subscription_keeps_being_billed(world, clock, warned):
    from chalicelib.domain.billing import billable

    org, operator, invoice = warned
    clock.now = D45
    run_suspension_job(world)
    sub = world.deps.subscriptions.list(org.id)[0]
    assert sub.status == "suspended"
    assert billable(sub).timeline == sub.timeline and billable(sub).renewing == sub.auto_renew


def test_a_lift_waits_for_a_suspending_call_still_in_flight_before_it_closes(world, clock, warned):
    org, operator, invoice = warned
    clock.now = D45
    provider(world).fail_next(1)
    run_suspension_job(world)  # one subscription suspended, the other left active by the failure
    [left] = [s for s in world.deps.subscriptions.list(org.id) if s.status == "active"]
    # Another run, which read the suspension before the payment, has claimed that call and is in it.
    assert world.deps.suspensions.claim(org.id, 1, "suspend", left.id, now=iso(D45),
                                        until=iso(D45 + suspensions.CLAIM_LEASE))
    assert pay(world, operator, invoice, invoice["total_cents"]).status_code == 201
    world.drain_queues()
    assert set(statuses(world, org).values()) == {"active"}
    assert world.deps.suspensions.get(org.id).state == "lifting" and not mails(world, "reativadas")
    assert org.id in world.deps.suspensions.under_way()  # the daily run comes back to it

    clock.now = D45 + suspensions.CLAIM_LEASE + timedelta(minutes=1)
    run_suspension_job(world)
    assert world.deps.suspensions.get(org.id).state == "lifted" and org.id not in world.deps.suspensions.under_way()
    assert len(mails(world, "reativadas")) == 1


def test_a_rescission_while_suspended_is_refused_with_nothing_written(world, clock, warned):
    # The provider cannot change a suspended subscription: skipped, the contract would stay
    # "terminating" for ever while its subscriptions renew and are billed.
    org, operator, invoice = warned
    clock.now = D45
    run_suspension_job(world)
    world.drain_queues()
    trail, before = actions(world, org), world.deps.contracts.get(org.id)
    refused = world.call("POST", "/contract/terminate", org.master, {"reason_text": "Encerramento"})
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "subscription_suspended"
    assert world.deps.contracts.get(org.id) == before and actions(world, org) == trail
    assert set(statuses(world, org).values()) == {"suspended"}
    assert world.drain_queues() == 0  # nothing for the provider, no email


def test_an_unexpected_provider_error_is_left_for_the_next_run_without_failing_the_job(world, clock, warned,
                                                                                      monkeypatch):
    org, operator, invoice = warned
    real = provider(world).suspend

    def broken(provider_subscription_id, request_id):
        raise RuntimeError("an answer the adapter did not expect")

    monkeypatch.setattr(provider(world), "suspend", broken)
    clock.now = D45
    outcome = suspensions.suspend_due(world.deps)
    assert outcome["suspended"] == 0 and outcome["failed"] == 1
    assert set(statuses(world, org).values()) == {"active"}
    monkeypatch.setattr(provider(world), "suspend", real)
    clock.now = D45 + timedelta(days=1)  # its claim has expired: the next run calls again
    run_suspension_job(world)
    assert set(statuses(world, org).values()) == {"suspended"}


def test_a_payment_the_index_does_not_show_yet_stops_the_suspension(world, clock, warned, monkeypatch):
    # DynamoDB's indexes lag their writes: the run reads the invoice that would warrant the
    # suspension again, consistently, before calling the provider.
    org, operator, invoice = warned
    stale = world.deps.invoices.collectable_of(org.id)
    stale_overdue = list(world.deps.invoices.due_before("overdue", D45.date()))
    clock.now = D45
    assert pay(world, operator, invoice, invoice["total_cents"], paid_on="2027-01-07").status_code == 201
    monkeypatch.setattr(world.deps.invoices, "collectable_of", lambda organization_id: list(stale))
    monkeypatch.setattr(world.deps.invoices, "due_before", lambda status, day: iter(stale_overdue))
    run_suspension_job(world)
    assert provider(world).status_requests == [] and set(statuses(world, org).values()) == {"active"}
    assert world.deps.suspensions.get(org.id) is None
