"""Dunning end to end: the daily run's steps (reminders with the open balance, the purchase
block's notice, the suspension warning), each once per invoice; the purchase block on checkout and
increases; an operator's policy for one organisation; the customer's collection state."""
from dataclasses import replace

import pytest

from chalicelib.domain.billing import Dispute
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.money import format_brl
from chalicelib.domain.roles import Role
from chalicelib.services import dunning
from tests.support import body_html, body_text, in_parallel, reading_together, sp

DUE = "23/11/2026"  # the invoice issued on 11 Nov 2026 (closing day 10) is due Monday 23 Nov
STEP_ACTIONS = ("invoice.dunning_reminder", "invoice.purchases_blocked", "invoice.suspension_warning")


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def billed(world, clock, seats=3):
    """An organisation with `seats` E3 licences since 1 Oct, billed on 11 Nov: (org, operator, invoice)."""
    org = world.active_organization(10)
    sub = world.subscription(org, "MS365-E3", seats)
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    assert world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"}).status_code == 202
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    assert invoice["due_date"] == "2026-11-23"
    return org, operator, invoice, sub


def run_on(world, clock, day, month=None, year=2026):
    """The daily schedule (09:00 in São Paulo) on that day, its emails sent."""
    month = month or (11 if day >= 23 else 12)
    clock.now = sp(year, month, day, 9)
    world.client.lambda_.invoke("mark_overdue_invoices", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    world.drain_queues()


def dunning_emails(world):
    return [m for m in world.outbox() if m["Subject"].startswith(("Lembrete", "Compras bloqueadas", "Aviso de suspensão"))]


def step_actions(world, org):
    trail = world.call("GET", "/audit?from=2026-11-01&to=2027-03-01", org.master).json_body["items"]
    return sorted(e["action"] for e in trail if e["action"] in STEP_ACTIONS)


def pay(world, operator, invoice, amount, paid_on):
    answer = world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", operator,
                        {"amount_cents": amount, "paid_on": paid_on, "method": "deposito"})
    assert answer.status_code == 201, answer.json_body
    return answer.json_body


def test_reminders_at_d1_d7_d15_are_sent_once_each_with_the_balance_after_a_partial_payment(world, clock,
                                                                                             monkeypatch):
    org, operator, invoice, _ = billed(world, clock)
    total = invoice["total_cents"]

    run_on(world, clock, 24, 11)  # D+1: marked overdue, and one reminder (not a second "overdue" email)
    run_on(world, clock, 24, 11)  # the same day again: nothing more
    [first] = dunning_emails(world)
    assert first["Subject"] == f"Lembrete: fatura nº {invoice['number']} vencida em {DUE}"
    assert set(first["To"].addresses[i].addr_spec for i in range(len(first["To"].addresses))) == {
        org.contract.billing_contacts[0], world.deps.settings.operators_email}
    text = body_text(first)
    assert f"com saldo em aberto de {format_brl(total)}." in text and "(1 dia(s) de atraso)" in text
    assert "a partir de 23/12/2026, novas compras e aumentos de licenças ficarão bloqueados" in text
    assert format_brl(total) in body_html(first)
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "overdue"

    pay(world, operator, invoice, 1000, "2026-11-24")
    run_on(world, clock, 29)  # D+6: no step due
    assert len(dunning_emails(world)) == 1
    run_on(world, clock, 30)  # D+7
    run_on(world, clock, 30)
    assert len(dunning_emails(world)) == 2
    second = body_text(dunning_emails(world)[1])
    assert f"com saldo em aberto de {format_brl(total - 1000)} (total da fatura: {format_brl(total)})" in second
    assert "(7 dia(s) de atraso)" in second

    # D+15: two runs at once, both reading the steps taken before either writes: one reminder.
    clock.now = sp(2026, 12, 8, 9)
    reading_together(monkeypatch, world.deps.dunning_steps, "taken", 2)
    outcomes = in_parallel(2, lambda n: dunning.run_daily(world.deps))
    world.drain_queues()
    assert sorted(o["steps"] for o in outcomes) == [0, 1]
    assert len(dunning_emails(world)) == 3
    assert "(15 dia(s) de atraso)" in body_text(dunning_emails(world)[2])
    assert step_actions(world, org) == ["invoice.dunning_reminder"] * 3


def test_a_payment_landing_while_the_run_works_stops_the_step(world, clock, monkeypatch):
    org, operator, invoice, _ = billed(world, clock)
    run_on(world, clock, 24, 11)  # D+1's reminder
    clock.now = sp(2026, 11, 30, 9)  # D+7: the run reads the invoice, then the customer pays in full
    real, paid = world.deps.dunning_steps.taken, []

    def taken_then_paid(invoice_id):
        found = real(invoice_id)
        if not paid:
            paid.append(pay(world, operator, invoice, invoice["total_cents"], "2026-11-30"))
        return found

    monkeypatch.setattr(world.deps.dunning_steps, "taken", taken_then_paid)
    assert dunning.run_daily(world.deps)["steps"] == 0
    world.drain_queues()
    assert len(dunning_emails(world)) == 1 and step_actions(world, org) == ["invoice.dunning_reminder"]


def test_after_missed_runs_only_the_latest_step_due_is_taken(world, clock):
    org, operator, invoice, _ = billed(world, clock)
    run_on(world, clock, 9, 12)  # D+16, the first run since the due date: D+15's reminder only
    [reminder] = dunning_emails(world)
    assert "(16 dia(s) de atraso)" in body_text(reminder)
    run_on(world, clock, 10, 12)
    assert len(dunning_emails(world)) == 1
    assert step_actions(world, org) == ["invoice.dunning_reminder"]


def test_the_block_day_notice_then_the_warning_names_the_suspension_day(world, clock):
    org, operator, invoice, _ = billed(world, clock)
    run_on(world, clock, 24, 11)
    run_on(world, clock, 23, 12)  # D+30
    block = dunning_emails(world)[-1]
    assert block["Subject"] == f"Compras bloqueadas: fatura nº {invoice['number']} vencida em {DUE}"
    assert "suas assinaturas serão suspensas em 07/01/2027" in body_text(block)
    clock.now = sp(2027, 1, 2, 9)  # D+40
    run_on(world, clock, 2, 1, 2027)
    warning = dunning_emails(world)[-1]
    assert warning["Subject"].startswith("Aviso de suspensão em 07/01/2027")
    text = body_text(warning)
    assert "Suas assinaturas serão suspensas em 07/01/2027 se o saldo em aberto" in text
    assert format_brl(invoice["total_cents"]) in text and "(40 dia(s) de atraso)" in text
    assert step_actions(world, org) == sorted(["invoice.dunning_reminder", "invoice.purchases_blocked",
                                               "invoice.suspension_warning"])
    status = world.call("GET", "/billing-status", org.master).json_body
    assert (status["state"], status["suspension_on"], status["purchases_blocked_since"]) == (
        "suspension_warning", "2027-01-07", "2026-12-23")
    assert "serão suspensas em 07/01/2027" in status["message"]


def test_from_d30_checkout_and_increases_are_refused_reductions_work_and_a_payment_lifts_the_block(world, clock):
    org, operator, invoice, sub = billed(world, clock)
    adm = world.user(org.id, [Role.ADM])
    run_on(world, clock, 22, 12)  # D+29: not yet
    assert world.call("GET", "/billing-status", org.master).json_body["state"] == "overdue"
    run_on(world, clock, 23, 12)  # D+30
    assert world.call("PUT", "/cart/items/POWERBI-PRO", adm, {"quantity": 2}).status_code == 200
    before = (world.deps.subscriptions.list(org.id), world.call("GET", "/cart", adm).json_body,
              world.call("GET", "/audit?from=2026-11-01&to=2027-01-01", org.master).json_body["items"],
              len(world.outbox()))

    checkout = world.call("POST", "/cart/checkout", adm, headers={"Idempotency-Key": "compra-1"})
    assert checkout.status_code == 422 and checkout.json_body["error"]["code"] == "overdue_block"
    message = checkout.json_body["error"]["message"]
    assert f"fatura nº {invoice['number']}, vencida em {DUE}" in message
    assert format_brl(invoice["total_cents"]) in message
    assert checkout.json_body["error"]["details"]["invoice_id"] == invoice["id"]
    more = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 5})
    assert more.status_code == 422 and more.json_body["error"]["code"] == "overdue_block"
    world.drain_queues()
    # Nothing written, nothing queued or sent by the refused calls.
    after = (world.deps.subscriptions.list(org.id), world.call("GET", "/cart", adm).json_body,
             world.call("GET", "/audit?from=2026-11-01&to=2027-01-01", org.master).json_body["items"],
             len(world.outbox()))
    assert after == before

    fewer = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 2})
    assert fewer.status_code == 202, fewer.json_body
    status = world.call("GET", "/billing-status", org.master).json_body
    assert (status["state"], status["purchases_blocked_since"], status["invoice"]["id"]) == (
        "blocked", "2026-12-23", invoice["id"])

    pay(world, operator, invoice, invoice["total_cents"], "2026-12-23")  # in full: lifted at once, no job
    assert world.call("GET", "/billing-status", org.master).json_body == {
        "state": "none", "invoice": None, "purchases_blocked_since": None, "suspension_on": None, "message": None}
    bought = world.call("POST", "/cart/checkout", adm, headers={"Idempotency-Key": "compra-2"})
    assert bought.status_code == 201, bought.json_body
    run_on(world, clock, 24, 12)  # the paid invoice gets no further step
    assert step_actions(world, org) == ["invoice.dunning_reminder", "invoice.purchases_blocked"]


def test_a_partial_payment_does_not_lift_the_block(world, clock):
    org, operator, invoice, sub = billed(world, clock)
    clock.now = sp(2026, 12, 23, 9)
    pay(world, operator, invoice, invoice["total_cents"] - 1, "2026-12-23")
    refused = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 4})
    assert refused.status_code == 422 and "R$ 0,01" in refused.json_body["error"]["message"]


def test_a_disputed_invoice_triggers_nothing_and_one_disputed_between_steps_gets_no_further_step(world, clock):
    org, operator, invoice, sub = billed(world, clock)
    run_on(world, clock, 24, 11)  # D+1 reminder, then the customer disputes the invoice
    stored = world.deps.invoices.get(invoice["id"])
    world.deps.invoices.save(replace(stored, dispute=Dispute("Cliente contesta a quantidade", operator.user.id,
                                                             "2026-11-25T12:00:00+00:00"), version=stored.version + 1),
                             expected_version=stored.version)
    for day, month, year in ((30, 11, 2026), (8, 12, 2026), (23, 12, 2026), (2, 1, 2027), (8, 1, 2027)):
        run_on(world, clock, day, month, year)
    assert len(dunning_emails(world)) == 1
    assert step_actions(world, org) == ["invoice.dunning_reminder"]
    more = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 5})
    assert more.status_code == 202, more.json_body
    assert world.call("GET", "/billing-status", org.master).json_body["state"] == "none"


def test_an_invoice_disputed_before_its_due_date_gets_no_step_at_all(world, clock):
    org, operator, invoice, _ = billed(world, clock)
    stored = world.deps.invoices.get(invoice["id"])
    world.deps.invoices.save(replace(stored, dispute=Dispute("Contesta", operator.user.id, "2026-11-12T12:00:00+00:00"),
                                     version=stored.version + 1), expected_version=stored.version)
    for day, month in ((24, 11), (30, 11), (23, 12)):
        run_on(world, clock, day, month)
    assert dunning_emails(world) == [] and step_actions(world, org) == []


def test_an_operator_override_changes_the_days_and_a_hold_removes_the_suspension_day(world, clock):
    org, operator, invoice, sub = billed(world, clock)
    path = f"/backoffice/organizations/{org.id}/dunning"
    shown = world.call("GET", path, operator).json_body
    assert shown["effective"] == shown["default"] == {"reminder_days": [1, 7, 15], "block_day": 30,
                                                      "warning_day": 40, "suspension_day": 45,
                                                      "hold_suspension": False}
    assert set(shown["override"].values()) == {None}
    changed = world.call("PUT", path, operator, {"reminder_days": [3], "block_day": 10, "warning_day": 12,
                                                 "suspension_day": 20}, headers={"If-Match": str(shown["version"])})
    assert changed.status_code == 200, changed.json_body
    assert changed.json_body["effective"] == {"reminder_days": [3], "block_day": 10, "warning_day": 12,
                                              "suspension_day": 20, "hold_suspension": False}
    assert changed.json_body["override"]["hold_suspension"] is None
    assert changed.json_body["version"] == shown["version"] + 1
    stale = world.call("PUT", path, operator, {"block_day": 11}, headers={"If-Match": str(shown["version"])})
    assert stale.status_code == 409
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    assert [e["action"] for e in trail].count("contract.dunning_policy_changed") == 1

    run_on(world, clock, 24, 11)  # D+1: no reminder on that day any more
    assert dunning_emails(world) == []
    run_on(world, clock, 26, 11)  # D+3
    assert "(3 dia(s) de atraso)" in body_text(dunning_emails(world)[-1])
    run_on(world, clock, 3, 12)  # D+10: blocked
    assert dunning_emails(world)[-1]["Subject"].startswith("Compras bloqueadas")
    assert world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master,
                      {"quantity": 4}).json_body["error"]["code"] == "overdue_block"
    run_on(world, clock, 5, 12)  # D+12: the warning, suspension at D+20
    assert "Suas assinaturas serão suspensas em 13/12/2026" in body_text(dunning_emails(world)[-1])
    assert world.call("GET", "/billing-status", org.master).json_body["suspension_on"] == "2026-12-13"

    held = world.call("PUT", path, operator, {"reminder_days": [3], "block_day": 10, "warning_day": 12,
                                              "suspension_day": 20, "hold_suspension": True})
    assert held.json_body["effective"]["hold_suspension"] is True
    status = world.call("GET", "/billing-status", org.master).json_body
    assert (status["state"], status["suspension_on"]) == ("blocked", None)
    cleared = world.call("PUT", path, operator, {"block_day": None})  # back to the reseller's policy
    assert cleared.json_body["effective"] == cleared.json_body["default"]
    assert world.call("GET", "/billing-status", org.master).json_body["state"] == "overdue"  # D+12 < D+30


@pytest.mark.parametrize("body, code, field", [
    ({"reminder_days": [7, 1]}, "dunning_reminders_not_ascending", "reminder_days"),
    ({"reminder_days": [1, 1]}, "dunning_reminders_not_ascending", "reminder_days"),
    ({"block_day": 45}, "dunning_day_not_before_suspension", "block_day"),
    ({"warning_day": 50}, "dunning_day_not_before_suspension", "warning_day"),
    ({"suspension_day": 30}, "dunning_day_not_before_suspension", "block_day"),
    ({"block_day": 0}, "out_of_range", "block_day"),
    ({"reminder_days": [-1]}, "out_of_range", "reminder_days[0]"),
    ({"suspension_day": "45"}, "invalid_type", "suspension_day"),
    ({"hold_suspension": "sim"}, "invalid_type", "hold_suspension"),
    ({"grace_days": 3}, "unknown_field", "grace_days"),
])
def test_a_bad_policy_is_refused_with_a_clear_message_and_nothing_is_written(world, clock, body, code, field):
    org = world.active_organization(10)
    operator = world.operator()
    path = f"/backoffice/organizations/{org.id}/dunning"
    world.call("PUT", path, operator, {"reminder_days": [2, 9]})
    before = world.call("GET", path, operator).json_body
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    answer = world.call("PUT", path, operator, body)
    assert answer.status_code == 400, answer.json_body
    assert (answer.json_body["error"]["code"], answer.json_body["error"]["details"]["field"]) == (code, field)
    assert world.call("GET", path, operator).json_body == before
    assert world.call("GET", "/audit", org.master).json_body["items"] == trail


def test_the_policy_of_an_unknown_organisation_is_404_and_customers_cannot_touch_it(world, clock):
    org = world.active_organization(10)
    operator = world.operator()
    assert world.call("GET", "/backoffice/organizations/nope/dunning", operator).status_code == 404
    answer = world.call("PUT", f"/backoffice/organizations/{org.id}/dunning", org.master, {"block_day": 5})
    assert answer.status_code == 403
    assert set(world.call("GET", f"/backoffice/organizations/{org.id}/dunning",
                          operator).json_body["override"].values()) == {None}


def test_the_billing_status_is_for_master_and_cobranca(world, clock):
    org = world.active_organization(10)
    profiles = world.profiles(org)
    answers = {role: world.call("GET", "/billing-status", account).status_code for role, account in profiles.items()}
    assert answers[Role.MASTER] == answers[Role.COBRANCA] == 200
    assert answers[Role.ADM] == answers[Role.SUPORTE] == 403
    reseller = world.call("GET", "/billing-status", profiles[Role.OPERATOR])  # its own organisation: no contract
    assert (reseller.status_code, reseller.json_body["state"]) == (200, "none")


def test_a_suspended_subscription_shows_the_organisation_suspended(world, clock):
    from chalicelib.domain.subscriptions import SUSPENDED

    org, operator, invoice, sub = billed(world, clock)
    clock.now = sp(2027, 1, 8, 9)  # D+46
    stored = world.deps.subscriptions.get(org.id, sub.id)
    world.deps.subscriptions.save([(replace(stored, status=SUSPENDED, version=stored.version + 1), stored.version)],
                                  [], audit=[])
    status = world.call("GET", "/billing-status", org.master).json_body
    assert (status["state"], status["invoice"]["number"], status["invoice"]["days_overdue"]) == (
        "suspended", invoice["number"], 46)
    assert status["message"].startswith("Suas assinaturas estão suspensas por falta de pagamento")
