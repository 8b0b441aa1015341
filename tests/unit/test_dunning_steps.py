"""The daily run's steps, the block's refusal, an operator's override and the customer's
collection state, as pure functions of invoices and a day."""
from datetime import date, timedelta

import pytest

from chalicelib.domain.billing import OVERDUE, PAID, Dispute, Invoice
from chalicelib.domain.dunning import (BLOCK, REMINDER, SUSPENSION, SUSPENSION_WARNING, DunningPolicy, Step,
                                       collection_state, ensure_purchases_allowed, next_consequence, override_of,
                                       step_due, suspension_day_for, validate_policy, with_override)
from chalicelib.domain.errors import DomainError


def invoice(number, due, status=OVERDUE, total=10_000, paid=0, dispute=None):
    return Invoice(id=f"inv-{number}", organization_id="org", contract_id="c", number=number,
                   period_start=date(2026, 10, 11), period_end=date(2026, 11, 10), issued_at="2026-11-11T12:00:00+00:00",
                   due_date=due, lines=[], total_cents=total, payment_method="boleto", status=status,
                   paid_cents=paid, dispute=dispute)


DUE = date(2026, 11, 23)


def day(n):
    """D+n of an invoice due on DUE."""
    return DUE + timedelta(days=n)


def test_a_step_is_due_on_its_day_and_stays_due_until_taken():
    policy, late = DunningPolicy(), invoice(1, DUE)
    assert step_due(policy, late, day(0), ()) is None
    assert step_due(policy, late, day(1), ()) == Step(REMINDER, 1)
    assert step_due(policy, late, day(3), ()) == Step(REMINDER, 1)  # a missed run: still due
    assert step_due(policy, late, day(3), {"reminder_1"}) is None
    assert step_due(policy, late, day(7), {"reminder_1"}) == Step(REMINDER, 7)
    assert step_due(policy, late, day(30), {"reminder_1", "reminder_7", "reminder_15"}) == Step(BLOCK, 30)
    assert step_due(policy, late, day(40), {"block"}) == Step(SUSPENSION_WARNING, 40)


def test_after_missed_runs_only_the_latest_step_is_taken_never_an_older_one_after_it():
    policy, late = DunningPolicy(), invoice(1, DUE)
    assert step_due(policy, late, day(31), ()) == Step(BLOCK, 30)  # not the three reminders first
    assert step_due(policy, late, day(35), {"block"}) is None  # reminders skipped stay skipped
    assert step_due(policy, late, day(44), {"suspension_warning"}) is None


def test_a_warning_missed_is_still_sent_and_the_suspension_waits_for_its_notice_but_none_while_held():
    late = invoice(1, DUE)
    assert step_due(DunningPolicy(), late, day(45), {"block"}) == Step(SUSPENSION_WARNING, 40)
    # Sent on D+45: the customer gets its 5 days, the suspension moves to D+50.
    assert suspension_day_for(DunningPolicy(), late, day(45), day(45)) == day(50)
    assert suspension_day_for(DunningPolicy(), late, day(40), day(45)) == day(45)  # sent on time
    assert suspension_day_for(DunningPolicy(), late, None, day(10)) == day(45)  # not due yet: the policy's day
    held = DunningPolicy(hold_suspension=True)
    assert step_due(held, late, day(41), {"block"}) is None


def test_on_a_day_with_two_steps_the_later_kind_is_taken():
    policy = DunningPolicy(reminder_days=(1, 30))
    assert step_due(policy, invoice(1, DUE), day(30), {"reminder_1"}) == Step(BLOCK, 30)


def test_a_paid_or_disputed_invoice_has_no_step():
    policy = DunningPolicy()
    assert step_due(policy, invoice(1, DUE, paid=10_000, status=PAID), day(7), ()) is None
    disputed = invoice(1, DUE, dispute=Dispute("contesta", "op", "2026-11-24T00:00:00+00:00"))
    assert step_due(policy, disputed, day(7), ()) is None


def test_what_comes_next_is_the_block_then_the_suspension_unless_held():
    policy, late = DunningPolicy(), invoice(1, DUE)
    assert next_consequence(policy, late, day(1)) == (BLOCK, day(30))
    assert next_consequence(policy, late, day(30)) == (SUSPENSION, day(45))
    assert next_consequence(DunningPolicy(hold_suspension=True), late, day(30)) is None


def test_the_block_names_the_invoice_its_due_date_and_balance():
    late = invoice(7, DUE, paid=2_345)
    ensure_purchases_allowed(DunningPolicy(), [late], day(29))
    with pytest.raises(DomainError) as refused:
        ensure_purchases_allowed(DunningPolicy(), [late], day(30))
    assert refused.value.code == "overdue_block"
    assert "fatura nº 7, vencida em 23/11/2026, tem saldo em aberto de R$ 76,55" in str(refused.value)


def test_an_override_is_what_the_operator_sent_and_must_make_sense_as_a_whole():
    assert override_of({"block_day": 20, "warning_day": None}) == {"block_day": 20}
    assert override_of({}) is None
    validate_policy(with_override(DunningPolicy(), {"reminder_days": [2, 9], "block_day": 20}))
    for bad, code in (({"reminder_days": [9, 2]}, "dunning_reminders_not_ascending"),
                      ({"reminder_days": [2, 2]}, "dunning_reminders_not_ascending"),
                      ({"block_day": 45}, "dunning_day_not_before_suspension"),
                      ({"warning_day": 46}, "dunning_day_not_before_suspension"),
                      ({"reminder_days": [0]}, "invalid_dunning_day")):
        with pytest.raises(DomainError) as refused:
            validate_policy(with_override(DunningPolicy(), bad))
        assert refused.value.code == code


def test_the_collection_state_moves_from_overdue_to_blocked_to_the_warning():
    policy, late = DunningPolicy(), invoice(1, DUE)
    assert collection_state(policy, [], day(1), suspended=False).state == "none"
    states = [collection_state(policy, [late], day(n), suspended=False) for n in (1, 30, 40)]
    assert [s.state for s in states] == ["overdue", "blocked", "suspension_warning"]
    assert states[1].blocked_since == day(30) and states[1].suspension_on == day(45)
    assert "A partir de 23/12/2026" in states[0].message
    held = collection_state(DunningPolicy(hold_suspension=True), [late], day(41), suspended=False)
    assert (held.state, held.suspension_on) == ("blocked", None)
    assert collection_state(policy, [late], day(46), suspended=True).state == "suspended"


def test_the_resellers_policy_from_the_settings_is_held_to_the_same_rules_as_an_override():
    from chalicelib.settings import from_environ

    assert from_environ({}).dunning == DunningPolicy()
    assert from_environ({"DUNNING_SUSPENSION_DAY": "60"}).dunning.suspension_day == 60
    with pytest.raises(ValueError, match="DUNNING_"):
        from_environ({"DUNNING_WARNING_DAY": "50"})  # after the suspension day: no warning would ever go out
