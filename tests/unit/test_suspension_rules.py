"""Suspension rules as pure functions: the subscription's transitions, what a suspension suspends,
the suspension's one-way states and its provider request ids; the portal's label and the emails."""
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from chalicelib.domain import subscriptions as rules
from chalicelib.domain import suspensions as states
from chalicelib.domain.billing import Invoice, billable
from chalicelib.domain.errors import Conflict
from chalicelib.domain.subscriptions import PendingChange, Subscription
from chalicelib.rendering.environment import render_email

NOW = datetime(2027, 1, 7, 12, tzinfo=timezone.utc)


def active(**changes) -> Subscription:
    sub = Subscription(id="s1", organization_id="o1", sku="MS365-E3", name="Microsoft 365 E3", family="M365",
                       term="P1Y", billing_frequency="monthly", status=rules.ACTIVE, quantity=5,
                       renews_on=date(2027, 10, 1), provider_subscription_id="p1")
    return replace(sub, **changes)


def invoice(**changes) -> Invoice:
    inv = Invoice(id="i1", organization_id="o1", contract_id="c1", number=7, period_start=date(2026, 10, 11),
                  period_end=date(2026, 11, 10), issued_at="2026-11-11T12:00:00+00:00", due_date=date(2026, 11, 23),
                  lines=[], total_cents=10_000, payment_method="boleto")
    return replace(inv, **changes)


def test_a_suspended_subscription_is_reactivated_as_it_was_and_each_step_moves_its_version():
    sub = active()
    suspended = rules.suspend(sub, 2)
    assert (suspended.status, suspended.suspension, suspended.version) == (rules.SUSPENDED, 2, 2)
    back = rules.reactivate(suspended)
    assert (back.status, back.suspension, back.version, back.quantity) == (rules.ACTIVE, None, 3, 5)
    with pytest.raises(ValueError):
        rules.suspend(suspended, 3)
    with pytest.raises(ValueError):
        rules.reactivate(sub)


def test_a_suspension_suspends_only_active_subscriptions_with_seats_known_to_the_provider_and_nothing_in_flight():
    assert rules.suspendable(active())
    assert not rules.suspendable(active(status=rules.PENDING))
    assert not rules.suspendable(active(quantity=0))
    assert not rules.suspendable(active(provider_subscription_id=None))
    in_flight = PendingChange("c1", 6, "2027-01-07T12:00:00+00:00", "u1", rules.APPLIES_NOW)
    assert not rules.suspendable(active(pending_change=in_flight))
    at_renewal = replace(in_flight, quantity=3, applies=rules.APPLIES_AT_RENEWAL)
    assert rules.suspendable(active(pending_change=at_renewal))


def test_the_quantity_of_a_suspended_subscription_cannot_change():
    with pytest.raises(Conflict) as refused:
        rules.ensure_changeable(rules.suspend(active(), 1), 6)
    assert refused.value.code == "subscription_suspended" and "Microsoft 365 E3" in str(refused.value.message)


def test_a_suspended_subscription_is_billed_and_renews_as_an_active_one():
    suspended = rules.suspend(active(), 1)
    assert billable(suspended).renewing is True
    assert rules.due_for_renewal(suspended, date(2027, 10, 1))


def test_a_change_applied_to_a_suspended_subscription_does_not_lift_the_suspension():
    suspended = rules.suspend(active(), 1)
    change = rules.QuantityChange(id="c1", subscription_id="s1", organization_id="o1", kind=rules.QUANTITY,
                                  from_quantity=5, to_quantity=3, requested_at="2027-01-01T12:00:00+00:00",
                                  requested_by="u1", applies=rules.APPLIES_NOW, status=rules.CHANGE_PENDING)
    assert rules.apply_change(suspended, change, NOW).status == rules.SUSPENDED
    assert rules.apply_change(suspended, replace(change, to_quantity=0), NOW).status == rules.CANCELLED


def test_a_suspension_goes_one_way_and_the_next_one_has_the_next_number():
    first = states.open_suspension(None, "o1", invoice(), "2027-01-07T12:30:00+00:00")
    assert (first.number, first.state, first.invoice_number, first.version) == (1, states.SUSPENDED, 7, 1)
    with pytest.raises(ValueError):
        states.open_suspension(first, "o1", invoice(), "2027-01-08T12:30:00+00:00")
    with pytest.raises(ValueError):
        states.lifted(first, "2027-01-08T12:30:00+00:00")
    done = states.lifted(states.begin_lifting(first, "2027-01-08T10:00:00+00:00"), "2027-01-08T10:01:00+00:00")
    assert done.state == states.LIFTED and done.version == 3
    second = states.open_suspension(done, "o1", invoice(), "2027-03-01T12:30:00+00:00")
    assert (second.number, second.version) == (2, 4)


def test_a_provider_request_id_is_a_guid_the_same_for_a_retry_and_new_for_a_later_suspension():
    import uuid

    first = states.open_suspension(None, "o1", invoice(), "2027-01-07T12:30:00+00:00")
    retry = states.request_id(first, states.SUSPEND, "s1")
    assert retry == states.request_id(first, states.SUSPEND, "s1")
    uuid.UUID(retry)
    later = replace(first, number=2)
    assert len({retry, states.request_id(later, states.SUSPEND, "s1"), states.request_id(first, states.SUSPEND, "s2"),
                states.request_id(first, states.REACTIVATE, "s1")}) == 4


def test_the_portal_labels_every_subscription_status_the_domain_declares():
    import re

    from tests.support import portal_script

    script = portal_script()
    declared = re.search(r"function statusCell\(s\) \{\s*const labels = \{(.*?)\};", script, re.S).group(1)
    labels = dict(re.findall(r'(\w+): "([^"]+)"', declared))
    assert {k: v.lower() for k, v in labels.items()} == rules.STATUS_LABELS


@pytest.mark.parametrize("template", ["subscriptions_suspended", "subscriptions_reactivated"])
def test_the_suspension_emails_name_the_organisation_the_invoice_and_each_subscription(template):
    context = {"organization": {"name": "Padaria Pão de Mel <Ltda>"}, "invoice": {"number": 7},
               "subscriptions": [{"name": "Microsoft 365 E3", "quantity": 1}, {"name": "Teams", "quantity": 3}],
               "portal_url": "https://portal.example",
               "support": {"phone": "(11) 3179-6869", "email": "s@example", "service_desk_url": "https://sd.example"}}
    subject, html, text = render_email(template, context)
    assert "Padaria Pão de Mel" in subject
    assert "fatura nº 7" in text and "Microsoft 365 E3 (1 licença)" in text and "Teams (3 licenças)" in text
    assert "&lt;Ltda&gt;" in html and "<Ltda>" not in html
