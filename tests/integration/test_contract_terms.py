"""PATCH /backoffice/organizations/{id}/contract: the operator changes payment method, closing day
and (until acceptance) items. On an active contract the billing terms change from the next period:
billing bills every day once across the change, and the billing contacts are told what and when."""
from datetime import date, timedelta

import pytest

from chalicelib.domain.clock import FixedClock
from chalicelib.domain.roles import Role
from tests.support import body_html, body_text, sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def path(org):
    return f"/backoffice/organizations/{org.id}/contract"


def terms_audit(world, operator, org, action="contract.terms_changed"):
    entries = world.call("GET", "/audit", operator, headers={"X-Organization-Id": org.id}).json_body["items"]
    return [e for e in entries if e["action"] == action]


def daily_run(world, clock, day):
    """The schedule at 00:10 São Paulo time on `day`: the contracts that closed the day before."""
    clock.now = sp(day.year, day.month, day.day, 0) + timedelta(minutes=10)
    world.client.lambda_.invoke("start_billing_run", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    world.drain_queues()


def invoices(world, org):
    summaries = world.call("GET", "/invoices", org.master).json_body["items"]
    return [world.call("GET", f"/invoices/{s['id']}", org.master).json_body for s in reversed(summaries)]


def terms_emails(world):
    return [m for m in world.outbox() if m["Subject"].startswith("Condições de cobrança alteradas")]


def test_before_acceptance_everything_changes_at_once_audited_and_the_contacts_are_told(world, clock):
    org = world.organization()
    world.seed_catalog()
    operator = world.operator()
    response = world.call("PATCH", path(org), operator, {
        "payment_method": "deposito", "closing_day": 25,
        "items": [{"sku": "MS365-E3", "quantity": 12}, {"sku": "POWERBI-PRO", "quantity": 5}]})
    assert response.status_code == 200, response.json_body
    contract = response.json_body
    assert (contract["payment_method"], contract["closing_day"], contract["scheduled_change"]) == ("deposito", 25, None)
    assert [(i["sku"], i["quantity"]) for i in contract["items"]] == [("MS365-E3", 12), ("POWERBI-PRO", 5)]
    assert contract["version"] == 2 and contract["status"] == "awaiting_acceptance"
    assert world.call("GET", "/contract", org.master).json_body == contract

    [entry] = terms_audit(world, operator, org)
    assert entry["actor_id"] == operator.user.id and entry["target"] == f"contract:{org.contract.id}"
    assert (entry["before"]["payment_method"], entry["before"]["closing_day"]) == ("boleto", 10)
    assert (entry["after"]["payment_method"], entry["after"]["closing_day"]) == ("deposito", 25)
    assert [i["quantity"] for i in entry["after"]["items"]] == [12, 5]

    world.drain_queues()
    [email] = terms_emails(world)
    assert [a.strip() for a in email["To"].split(",")] == org.contract.billing_contacts
    for body in (body_text(email), body_html(email)):
        assert "depósito bancário" in body and "dia 25" in body and "01/10/2026" in body
        assert "Microsoft 365 E3: 12" in body

    # The same values again: nothing changes, nobody is told again.
    again = world.call("PATCH", path(org), operator, {"payment_method": "deposito", "closing_day": 25})
    assert again.status_code == 200 and again.json_body["version"] == 2
    world.drain_queues()
    assert len(terms_emails(world)) == 1 and len(terms_audit(world, operator, org)) == 1


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "nothing_to_change"),
    ({"expected_version": 1}, 400, "nothing_to_change"),
    ({"closing_day": 29}, 400, "out_of_range"),
    ({"closing_day": 0}, 400, "out_of_range"),
    ({"closing_day": "5"}, 400, "invalid_type"),
    ({"payment_method": "pix"}, 400, "invalid_value"),
    ({"items": [{"sku": "NAO-EXISTE", "quantity": 1}]}, 400, "invalid_product"),
    ({"items": [{"sku": "MS365-E3", "quantity": 1}, {"sku": "MS365-E3", "quantity": 2}]}, 400, "duplicate_items"),
    ({"items": [{"sku": "MS365-E3", "quantity": 0}]}, 400, "invalid_quantity"),
    ({"items": [{"sku": "MS365-E3", "quantity": 1.5}]}, 400, "invalid_type"),
    ({"items": [{"sku": "MS365-E3"}]}, 400, "required"),
    ({"billing_contacts": ["a@e.example"]}, 400, "unknown_field"),
    ({"closing_day": 5, "expected_version": 7}, 409, "version_conflict"),
])
def test_bad_changes_are_refused_in_portuguese_and_write_nothing(world, clock, body, status, code):
    org = world.organization()
    world.seed_catalog()
    operator = world.operator()
    response = world.call("PATCH", path(org), operator, body)
    assert (response.status_code, response.json_body["error"]["code"]) == (status, code), response.json_body
    message = response.json_body["error"]["message"]
    assert message and "{" not in message
    contract = world.call("GET", "/contract", org.master).json_body
    assert (contract["version"], contract["closing_day"], contract["payment_method"]) == (1, 10, "boleto")
    world.drain_queues()
    assert terms_emails(world) == [] and terms_audit(world, operator, org) == []


def test_only_operators_change_the_terms_and_an_unknown_organisation_is_404(world, clock):
    org = world.organization()
    for role in (Role.MASTER, Role.ADM, Role.COBRANCA, Role.SUPORTE):
        account = org.master if role == Role.MASTER else world.user(org.id, [role])
        response = world.call("PATCH", path(org), account, {"closing_day": 5})
        assert response.status_code == 403, role
    missing = world.call("PATCH", "/backoffice/organizations/nao-existe/contract", world.operator(), {"closing_day": 5})
    assert (missing.status_code, missing.json_body["error"]["code"]) == (404, "contract_not_found")
    assert world.call("GET", "/contract", org.master).json_body["closing_day"] == 10


def test_after_acceptance_items_are_refused_and_a_rescinded_contract_changes_nothing(world, clock):
    org = world.active_organization()
    operator = world.operator()
    locked = world.call("PATCH", path(org), operator, {"items": [{"sku": "MS365-E3", "quantity": 3}],
                                                      "closing_day": 5})
    assert (locked.status_code, locked.json_body["error"]["code"]) == (409, "contract_items_locked")
    assert "aceite" in locked.json_body["error"]["message"]
    assert world.call("GET", "/contract", org.master).json_body["scheduled_change"] is None

    world.call("POST", "/contract/terminate", org.master, {"reason_text": "Encerramento"})
    world.drain_queues()
    assert world.call("GET", "/contract", org.master).json_body["status"] in ("terminating", "terminated")
    frozen = world.call("PATCH", path(org), operator, {"payment_method": "deposito"})
    assert (frozen.status_code, frozen.json_body["error"]["code"]) == (409, "contract_terms_frozen")
    assert world.call("GET", "/contract", org.master).json_body["payment_method"] == "boleto"


def test_on_an_active_contract_the_terms_change_from_the_next_period_and_every_day_is_billed_once(world, clock):
    org = world.active_organization(closing_day=10)
    world.subscription(org, "MS365-E3", 3)  # bought 1 Oct
    operator = world.operator()
    clock.now = sp(2026, 10, 20)  # in the period 11 Oct – 10 Nov
    response = world.call("PATCH", path(org), operator, {"closing_day": 25, "payment_method": "deposito"})
    assert response.status_code == 200, response.json_body
    contract = response.json_body
    assert (contract["closing_day"], contract["payment_method"]) == (10, "boleto")
    assert contract["scheduled_change"] == {"payment_method": "deposito", "closing_day": 25,
                                            "effective_from": "2026-11-11"}
    assert world.call("GET", "/contract", org.master).json_body == contract
    world.drain_queues()
    [email] = terms_emails(world)
    assert [a.strip() for a in email["To"].split(",")] == org.contract.billing_contacts
    for body in (body_text(email), body_html(email)):
        assert "11/11/2026" in body and "dia 25" in body and "depósito bancário" in body and "dia 10" in body

    # 11 Nov: the period 11 Oct – 10 Nov is billed under the old terms; then the new ones apply.
    daily_run(world, clock, date(2026, 11, 11))
    [october] = invoices(world, org)
    assert (october["period_start"], october["period_end"], october["payment_method"]) == \
        ("2026-10-11", "2026-11-10", "boleto")
    assert [(l["days"], l["period_days"]) for l in october["lines"]] == [(31, 31)]
    applied = world.call("GET", "/contract", org.master).json_body
    assert (applied["closing_day"], applied["payment_method"], applied["scheduled_change"]) == (25, "deposito", None)
    [entry] = terms_audit(world, operator, org, "contract.scheduled_change_applied")
    assert entry["after"] == {"payment_method": "deposito", "closing_day": 25, "terms_from": "2026-11-11"}

    # 11 Dec (the old day's run) finds nothing; 26 Nov bills 11–25 Nov as 15/31 of the natural
    # period 26 Oct – 25 Nov; 26 Dec the whole period 26 Nov – 25 Dec.
    daily_run(world, clock, date(2026, 11, 26))
    daily_run(world, clock, date(2026, 12, 11))
    daily_run(world, clock, date(2026, 12, 26))
    october, first, december = invoices(world, org)
    assert (first["period_start"], first["period_end"], first["payment_method"]) == \
        ("2026-11-11", "2026-11-25", "deposito")
    [line] = first["lines"]
    price = line["unit_price_cents"]
    assert (line["days"], line["period_days"], line["quantity"]) == (15, 31, 3)
    assert line["amount_cents"] == round(price * 3 * 15 / 31)
    assert line["description"].endswith("× 15/31 dias (anual, cobrança mensal)")  # MS365-E3: P1Y, monthly
    assert (december["period_start"], december["period_end"]) == ("2026-11-26", "2026-12-25")
    assert [(l["days"], l["period_days"]) for l in december["lines"]] == [(30, 30)]
    # No gap, no overlap: each period starts the day after the previous one ends.
    for before, after in zip([october, first], [first, december]):
        assert date.fromisoformat(after["period_start"]) == date.fromisoformat(before["period_end"]) + timedelta(1)
    assert first["deposit"] is not None and october["deposit"] is None

    # A month run of November now finds the contract under day 25 only: nothing is billed twice.
    run = world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"})
    world.drain_queues()
    progress = world.call("GET", f"/backoffice/billing-runs/{run.json_body['run_id']}", operator).json_body
    assert (progress["contracts_queued"], progress["already_invoiced"], progress["invoices_issued"]) == (1, 1, 0)
    assert len(invoices(world, org)) == 3


def test_a_scheduled_change_is_cancelled_by_asking_for_the_terms_in_force(world, clock):
    org = world.active_organization(closing_day=10)
    operator = world.operator()
    clock.now = sp(2026, 10, 20)
    world.call("PATCH", path(org), operator, {"closing_day": 25})
    # Changing only the payment method keeps the scheduled closing day.
    both = world.call("PATCH", path(org), operator, {"payment_method": "deposito"}).json_body
    assert both["scheduled_change"] == {"payment_method": "deposito", "closing_day": 25,
                                        "effective_from": "2026-11-11"}
    cancelled = world.call("PATCH", path(org), operator, {"closing_day": 10, "payment_method": "boleto"})
    assert cancelled.status_code == 200 and cancelled.json_body["scheduled_change"] is None
    world.drain_queues()
    emails = terms_emails(world)
    assert len(emails) == 3 and "foi cancelada" in body_text(emails[-1])
    daily_run(world, clock, date(2026, 11, 11))
    contract = world.call("GET", "/contract", org.master).json_body
    assert (contract["closing_day"], contract["payment_method"]) == (10, "boleto")


def test_a_missed_run_of_the_last_old_period_is_billed_first_and_then_the_new_terms_apply(world, clock):
    org = world.active_organization(closing_day=10)
    world.subscription(org, "MS365-E3", 2)
    operator = world.operator()
    clock.now = sp(2026, 10, 20)
    world.call("PATCH", path(org), operator, {"closing_day": 5})
    # The run of 11 Nov never happened; the operator runs December (closing 10 Dec, the old day).
    clock.now = sp(2026, 12, 11, 9)
    world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-12"})
    world.drain_queues()
    [last_old] = invoices(world, org)
    assert (last_old["period_start"], last_old["period_end"]) == ("2026-10-11", "2026-11-10")
    assert world.call("GET", "/contract", org.master).json_body["closing_day"] == 5
    # The new day's run bills 11 Nov – 5 Dec (25 days of the natural 6 Nov – 5 Dec).
    world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-12"})
    world.drain_queues()
    _, first = invoices(world, org)
    assert (first["period_start"], first["period_end"]) == ("2026-11-11", "2026-12-05")
    assert [(l["days"], l["period_days"]) for l in first["lines"]] == [(25, 30)]
