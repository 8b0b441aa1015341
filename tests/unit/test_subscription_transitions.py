"""The licence state changes as pure functions: plan a change, apply it, fail it, renew, lapse;
and the contract's: begin a rescission, close it. No AWS, no services."""
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.domain import contract as contract_rules
from chalicelib.domain import subscriptions as rules
from chalicelib.domain.contract import Contract
from chalicelib.domain.errors import Conflict
from chalicelib.domain.proration import Segment
from chalicelib.domain.subscriptions import SeatWindow, Subscription

WEEK = timedelta(days=7)
T0 = datetime(2026, 11, 11, 15, 0, tzinfo=timezone.utc)  # 12:00 in São Paulo
RENEWAL = date(2027, 11, 11)


def active(quantity=10, bought_at=T0, auto_renew=True):
    return Subscription(id="s", organization_id="o", sku="X", name="X", family="F", term="P1Y",
                        billing_frequency="monthly", status=rules.ACTIVE, quantity=quantity, auto_renew=auto_renew,
                        started_on=bought_at.date(), renews_on=RENEWAL, timeline=[Segment(bought_at.date(), quantity)],
                        windows=[SeatWindow(bought_at, quantity)], provider_subscription_id="p-1", version=3)


def plan(sub, quantity, now=T0, scheduled=None, reason=None, change_id="c1"):
    return rules.plan_change(sub, quantity, change_id=change_id, now=now, requested_by="u", reason=reason,
                             reason_text="  ", window=WEEK, scheduled=scheduled)


def test_planning_an_increase_applies_now_and_shows_as_pending_on_a_new_version():
    planned = plan(active(10), 15)
    assert (planned.change.applies, planned.change.status) == (rules.APPLIES_NOW, rules.CHANGE_PENDING)
    assert (planned.change.from_quantity, planned.change.to_quantity) == (10, 15)
    assert planned.change.effective_on == date(2026, 11, 11) and planned.change.reason_text is None
    assert planned.subscription.pending_change == rules.pending(planned.change)
    assert planned.subscription.quantity == 10 and planned.subscription.version == 4
    assert planned.superseded == []


def test_planning_a_reduction_outside_the_window_waits_for_the_renewal():
    planned = plan(active(10, bought_at=T0 - timedelta(days=30)), 4)
    assert (planned.change.applies, planned.change.status) == (rules.APPLIES_AT_RENEWAL, rules.CHANGE_SCHEDULED)
    assert planned.change.effective_on == RENEWAL


def test_a_newer_request_supersedes_the_scheduled_change_but_buying_more_is_refused_until_it_is_undone():
    sub = active(10, bought_at=T0 - timedelta(days=30))
    first = plan(sub, 4)
    scheduled = first.change
    second = plan(first.subscription, 6, scheduled=scheduled, change_id="c2")
    assert [c.status for c in second.superseded] == [rules.CHANGE_SUPERSEDED]
    assert second.superseded[0].id == scheduled.id and second.subscription.pending_change.change_id == "c2"
    with pytest.raises(Conflict) as refused:
        plan(first.subscription, 12, scheduled=scheduled)
    assert refused.value.code == "scheduled_reduction_pending"
    with pytest.raises(ValueError):  # the caller must hand in the change it replaces
        plan(first.subscription, 6)


def test_a_change_in_flight_refuses_another():
    in_flight = plan(active(10), 15).subscription
    with pytest.raises(Conflict) as refused:
        plan(in_flight, 20)
    assert refused.value.code == "change_in_progress"


def test_a_purchase_is_a_pending_subscription_at_zero_with_its_purchase_change():
    sub, change = rules.purchase(subscription_id="s", change_id="c", organization_id="o", sku="X", name="X",
                                 family="F", term="P1M", billing_frequency="monthly", quantity=5, now=T0,
                                 requested_by="u")
    assert (sub.status, sub.quantity, sub.pending_change.quantity) == (rules.PENDING, 0, 5)
    assert (change.kind, change.from_quantity, change.to_quantity, change.applies) == ("purchase", 0, 5, "now")


def test_applying_records_the_change_and_a_segment_from_today():
    planned = plan(active(10), 15)
    later = T0 + timedelta(hours=2)
    applied, done = rules.apply(planned.subscription, planned.change, later, attempt=2,
                                provider_subscription_id="p-1")
    assert (applied.quantity, applied.pending_change, applied.version) == (15, None, 5)
    assert applied.timeline[-1] == Segment(date(2026, 11, 11), 15)
    assert (done.status, done.attempts, done.applied_at) == (rules.CHANGE_APPLIED, 2, later.isoformat())


def test_applying_a_purchase_starts_the_term_and_zero_seats_cancel():
    sub, change = rules.purchase(subscription_id="s", change_id="c", organization_id="o", sku="X", name="X",
                                 family="F", term="P1Y", billing_frequency="monthly", quantity=5, now=T0,
                                 requested_by="u")
    bought, _ = rules.apply(sub, change, T0, attempt=1, provider_subscription_id="p-9")
    assert (bought.status, bought.started_on, bought.renews_on) == (rules.ACTIVE, date(2026, 11, 11), RENEWAL)
    assert bought.provider_subscription_id == "p-9"
    to_zero = plan(active(10), 0, reason="migracao")
    cancelled, _ = rules.apply(to_zero.subscription, to_zero.change, T0, attempt=1, provider_subscription_id="p-1")
    assert (cancelled.status, cancelled.quantity) == (rules.CANCELLED, 0)


def test_a_retried_attempt_keeps_its_count_and_error_and_stays_pending():
    change = plan(active(10), 15).change
    tried = rules.record_attempt(change, 3, "timeout")
    assert (tried.attempts, tried.error, tried.status) == (3, "timeout", rules.CHANGE_PENDING)


def test_a_failed_change_clears_the_pending_change_and_a_failed_purchase_fails_its_subscription():
    planned = plan(active(10), 15)
    after, failed = rules.fail(planned.subscription, planned.change, 5, "provider down")
    assert (after.status, after.quantity, after.pending_change) == (rules.ACTIVE, 10, None)
    assert (failed.status, failed.attempts, failed.error) == (rules.CHANGE_FAILED, 5, "provider down")
    sub, purchase = rules.purchase(subscription_id="s", change_id="c", organization_id="o", sku="X", name="X",
                                   family="F", term="P1M", billing_frequency="monthly", quantity=5, now=T0,
                                   requested_by="u")
    assert rules.fail(sub, purchase, 5, "x")[0].status == rules.FAILED


def test_renewal_sends_the_scheduled_reduction_and_opens_a_window_for_the_new_term():
    first = plan(active(10, bought_at=T0 - timedelta(days=300)), 4)
    at_renewal = datetime(2027, 11, 11, 6, tzinfo=timezone.utc)
    renewal = rules.renew(first.subscription, RENEWAL, at_renewal, first.change)
    assert renewal.subscription.renews_on == date(2028, 11, 11)
    assert renewal.subscription.windows[-1] == SeatWindow(at_renewal, 10)
    assert renewal.to_provision.status == rules.CHANGE_PENDING and renewal.to_provision.applies == rules.APPLIES_NOW
    assert renewal.updated_changes == [renewal.to_provision] and renewal.new_changes == []
    assert renewal.subscription.pending_change == rules.pending(renewal.to_provision)
    plain = rules.renew(active(10), RENEWAL, at_renewal)
    assert plain.to_provision is None and plain.subscription.pending_change is None


def test_a_subscription_that_does_not_renew_lapses_to_zero_whatever_was_scheduled():
    first = plan(active(10, bought_at=T0 - timedelta(days=300), auto_renew=False), 4)
    at_renewal = datetime(2027, 11, 11, 6, tzinfo=timezone.utc)
    lapse = rules.renew_or_lapse(first.subscription, RENEWAL, at_renewal, change_id="exp", scheduled=first.change)
    assert lapse.subscription.renews_on is None
    assert [c.status for c in lapse.updated_changes] == [rules.CHANGE_SUPERSEDED]
    [expiry] = lapse.new_changes
    assert (expiry.id, expiry.kind, expiry.to_quantity, expiry.requested_by) == ("exp", "expiry", 0, "system")
    assert lapse.to_provision == expiry and lapse.subscription.pending_change.quantity == 0


def test_a_subscription_is_due_for_renewal_on_its_day_unless_a_change_is_in_flight():
    sub = active(10)
    assert not rules.due_for_renewal(sub, RENEWAL - timedelta(days=1))
    assert rules.due_for_renewal(sub, RENEWAL) and rules.due_for_renewal(sub, RENEWAL + timedelta(days=3))
    assert not rules.due_for_renewal(plan(sub, 15).subscription, RENEWAL)
    assert not rules.due_for_renewal(replace(sub, status=rules.CANCELLED), RENEWAL)


def test_auto_renew_toggles_on_a_new_version():
    off = rules.set_auto_renew(active(10), False)
    assert (off.auto_renew, off.version) == (False, 4)


def test_nothing_is_left_once_every_subscription_is_at_zero_with_nothing_pending():
    zero = replace(active(10), quantity=0, status=rules.CANCELLED)
    assert rules.nothing_left([zero, zero]) and rules.nothing_left([])
    assert not rules.nothing_left([zero, active(1)])
    assert not rules.nothing_left([plan(active(10, bought_at=T0 - timedelta(days=30)), 0, reason="outro").subscription])


# --- the contract -------------------------------------------------------------------------------

def contract(status=contract_rules.ACTIVE):
    return Contract(id="k", organization_id="o", status=status, payment_method="boleto", closing_day=10,
                    billing_contacts=["a@b.example"], version=2)


def test_licences_change_only_under_an_active_contract_but_a_rescission_may_still_cancel():
    contract_rules.ensure_open_for_changes(contract())
    contract_rules.ensure_open_for_changes(contract(contract_rules.TERMINATING), to_zero=True)
    for status, to_zero in ((contract_rules.TERMINATING, False), (contract_rules.AWAITING_ACCEPTANCE, True),
                            (contract_rules.TERMINATED, True)):
        with pytest.raises(Conflict) as refused:
            contract_rules.ensure_open_for_changes(contract(status), to_zero=to_zero)
        assert refused.value.code == "contract_not_active"


@pytest.mark.parametrize("status, says, never", [
    (contract_rules.AWAITING_ACCEPTANCE, "aceite o contrato antes", "encerrado"),
    (contract_rules.TERMINATING, "em rescisão", "aceite"),
    (contract_rules.TERMINATED, "foi encerrado", "aceite"),
])
def test_a_refused_change_says_why_in_words_that_fit_the_contracts_status(status, says, never):
    with pytest.raises(Conflict) as refused:
        contract_rules.ensure_open_for_changes(contract(status))
    assert refused.value.code == "contract_not_active" and refused.value.details["status"] == status
    assert says in str(refused.value) and never not in str(refused.value)


def test_beginning_a_termination_moves_an_active_contract_once():
    terminating = contract_rules.begin_termination(contract())
    assert (terminating.status, terminating.version) == (contract_rules.TERMINATING, 3)
    assert contract_rules.begin_termination(terminating) is terminating  # asking again finishes it
    with pytest.raises(Conflict):
        contract_rules.begin_termination(contract(contract_rules.TERMINATED))


def test_a_contract_closes_after_a_rescission_or_when_every_licence_went_to_zero_for_rescission():
    assert contract_rules.under_rescission(contract(contract_rules.TERMINATING))
    assert contract_rules.under_rescission(contract(), rescission=True)
    assert not contract_rules.under_rescission(contract())
    assert not contract_rules.under_rescission(contract(contract_rules.TERMINATED), rescission=True)
    closed = contract_rules.close(contract(contract_rules.TERMINATING), "2026-11-20T10:00:00+00:00")
    assert (closed.status, closed.final_invoice_due, closed.terminated_at, closed.version) == \
        (contract_rules.TERMINATED, True, "2026-11-20T10:00:00+00:00", 3)


def test_accepting_returns_the_accepted_contract_and_leaves_the_original_as_it_was():
    awaiting = contract(contract_rules.AWAITING_ACCEPTANCE)
    accepted = contract_rules.accept(awaiting, user_id="u", at="2026-11-29T10:00:00+00:00", source_ip="1.2.3.4",
                                     document_version="2026.1")
    assert accepted.status == contract_rules.ACTIVE and awaiting.status == contract_rules.AWAITING_ACCEPTANCE
