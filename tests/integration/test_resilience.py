"""Failures between steps: lost queue messages, retried documents, missed renewals, and the
rules that keep a customer from being billed for what they gave up."""
from dataclasses import replace

import pytest

from chalicelib.domain import boleto
from chalicelib.domain.clock import FixedClock
from chalicelib.services import provisioning, renewals
from tests.support import failing_first, sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


@pytest.fixture
def org(world, clock):
    return world.active_organization()


def invoice_for(world, org, clock):
    clock.now = sp(2026, 11, 11, 9)
    world.call("POST", "/backoffice/billing-runs", world.operator(), {"period": "2026-11"})
    world.drain_queues()
    return world.call("GET", "/invoices", org.master).json_body["items"][0]


def test_a_change_whose_queue_message_was_lost_is_requeued_by_the_sweeper(world, org, clock, monkeypatch):
    sub = world.subscription(org, "MS365-E3", 10)
    real_send = world.deps.provisioning_queue.send
    monkeypatch.setattr(world.deps.provisioning_queue, "send", lambda message: None)  # the send is lost
    assert world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 12}).status_code == 202
    monkeypatch.setattr(world.deps.provisioning_queue, "send", real_send)
    assert provisioning.requeue_stuck_changes(world.deps) == 0  # too recent to call stuck
    clock.advance(minutes=20)
    assert provisioning.requeue_stuck_changes(world.deps) == 1
    world.drain_queues()
    assert world.deps.subscriptions.get(org.id, sub.id).quantity == 12
    assert provisioning.requeue_stuck_changes(world.deps) == 0


def test_a_renewal_missed_on_its_day_is_done_the_next_day(world, org, clock):
    sub = world.subscription(org, "MS365-BUSINESS-BASIC-M", 10, bought_at=clock.now)  # renews 1 Nov
    clock.advance(days=10)
    world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 6, "reason": "outro"})
    clock.now = sp(2026, 11, 2, 1)  # the job did not run on 1 Nov
    assert renewals.renew_due(world.deps, clock.now.date()) == 1
    world.drain_queues()
    renewed = world.deps.subscriptions.get(org.id, sub.id)
    assert (renewed.quantity, renewed.renews_on.isoformat()) == (6, "2026-12-01")


def test_buying_more_while_a_reduction_is_scheduled_is_refused_with_the_way_out(world, org, clock):
    sub = world.subscription(org, "MS365-E3", 10, bought_at=clock.now)
    clock.advance(days=30)
    world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 5, "reason": "outro"})
    more = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 12})
    assert more.status_code == 409 and more.json_body["error"]["code"] == "scheduled_reduction_pending"
    undo = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 10})
    assert undo.status_code == 202  # back to the current quantity: the scheduled reduction is dropped
    world.drain_queues()
    assert world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 12}).status_code == 202


def test_cancelling_every_subscription_for_rescission_terminates_the_contract(world, org, clock):
    subs = [world.subscription(org, sku, 2, bought_at=clock.now) for sku in ("MS365-E3", "POWERBI-PRO")]
    for sub in subs:
        world.call("POST", f"/subscriptions/{sub.id}/cancel", org.master, {"reason": "rescisao_contrato"})
        world.drain_queues()
    contract = world.call("GET", "/contract", org.master).json_body
    assert contract["status"] == "terminated" and contract["final_invoice_due"] is True


def test_rescission_waits_for_a_purchase_being_provisioned(world, org, clock):
    world.call("PUT", "/cart/items/POWERBI-PRO", org.master, {"quantity": 1})
    world.call("POST", "/cart/checkout", org.master)
    response = world.call("POST", "/contract/terminate", org.master, {})
    assert response.status_code == 409 and response.json_body["error"]["code"] == "purchase_in_progress"
    assert world.call("GET", "/contract", org.master).json_body["status"] == "active"


def test_a_documents_step_retried_after_an_nfse_failure_registers_one_boleto(world, org, clock, monkeypatch):
    world.subscription(org, "MS365-E3", 3)
    monkeypatch.setattr(world.deps.nfse_emitter, "emit",
                        failing_first(world.deps.nfse_emitter.emit, 1, RuntimeError("prefeitura fora do ar")))
    invoice = invoice_for(world, org, clock)  # the first documents attempt fails, SQS retries it
    world.make_visible()  # instead of waiting out the visibility timeout
    world.drain_queues()
    stored = world.deps.invoices.get(invoice["id"])
    assert len(stored.boletos) == 1 and stored.nfse is not None
    assert len(world.deps.bank.nosso_numeros()) == 1
    assert len([m for m in world.outbox() if "Fatura nº" in m["Subject"]]) == 1



def test_itau_boletos_work_end_to_end(world, org, clock):
    world.deps.settings = replace(world.deps.settings, boleto_bank="itau")
    world.subscription(org, "MS365-E3", 3)
    invoice = invoice_for(world, org, clock)
    view = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    assert view["bank_code"] == "341" and view["nosso_numero"].startswith("109/")
    assert boleto.parse(view["digitable_line"], clock.now.date()).amount_cents == invoice["total_cents"]


def test_a_paid_second_copy_settles_the_invoice_with_its_fine_and_interest(world, org, clock):
    world.subscription(org, "MS365-E3", 3)
    invoice = invoice_for(world, org, clock)
    clock.now = sp(2026, 12, 1, 10)
    second = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master).json_body
    paid = world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", world.operator(),
                      {"amount_cents": second["amount_cents"], "paid_on": "2026-12-01", "method": "boleto"})
    assert paid.status_code == 201, paid.json_body
    assert (paid.json_body["status"], paid.json_body["balance_cents"]) == ("paid", 0)
    assert paid.json_body["paid_cents"] == second["amount_cents"] > invoice["total_cents"]


def test_a_rescission_cut_short_by_a_failure_is_finished_by_asking_again(world, org, clock, monkeypatch):
    subs = [world.subscription(org, sku, 2, bought_at=clock.now) for sku in ("MS365-E3", "POWERBI-PRO", "EXO-PLAN1")]
    real_save = world.deps.subscriptions.save
    saves = {"n": 0}

    def failing_second_save(*args, **kwargs):
        saves["n"] += 1
        if saves["n"] == 2:
            raise RuntimeError("Lambda killed")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(world.deps.subscriptions, "save", failing_second_save)
    assert world.call("POST", "/contract/terminate", org.master, {"reason_text": "Fim"}).status_code == 500
    assert world.call("GET", "/contract", org.master).json_body["status"] == "terminating"
    monkeypatch.setattr(world.deps.subscriptions, "save", real_save)

    again = world.call("POST", "/contract/terminate", org.master, {"reason_text": "Fim"})
    assert again.status_code < 300, again.json_body
    assert len(again.json_body["changes"]) == 2  # the one changed before the failure is not asked twice
    world.drain_queues()
    assert all(world.deps.subscriptions.get(org.id, s.id).quantity == 0 for s in subs)
    contract = world.call("GET", "/contract", org.master).json_body
    assert contract["status"] == "terminated" and contract["final_invoice_due"] is True
    trail = [e["action"] for e in world.call("GET", "/audit", org.master).json_body["items"]]
    assert trail.count("contract.termination_requested") == 1
