"""The operator's change of payment method and closing day: at once before acceptance, from the next
period on an active contract, and billed so that every day is billed once across the change."""
from dataclasses import replace
from datetime import date, timedelta

import pytest

from chalicelib.domain import contract as rules
from chalicelib.domain.billing import period_ending
from chalicelib.domain.contract import ACTIVE, AWAITING_ACCEPTANCE, Contract, ContractItem, ScheduledChange
from chalicelib.domain.errors import Conflict
from chalicelib.domain.proration import Period, Segment, period_containing, prorated_lines


def contract(status=ACTIVE, closing_day=20, method="boleto"):
    return Contract(id="c", organization_id="o", status=status, payment_method=method, closing_day=closing_day,
                    billing_contacts=["f@e.example"], items=[ContractItem("MS365-E3", "Microsoft 365 E3", 10)])


def test_before_acceptance_terms_and_items_change_at_once():
    items = [ContractItem("POWERBI-PRO", "Power BI Pro", 3)]
    changed = rules.change_terms(contract(AWAITING_ACCEPTANCE), today=date(2026, 11, 24), payment_method="deposito",
                                 closing_day=5, items=items)
    assert (changed.payment_method, changed.closing_day, changed.items) == ("deposito", 5, items)
    assert changed.scheduled_change is None and changed.version == 2


def test_on_an_active_contract_the_change_waits_for_the_day_after_the_current_period():
    # Closing on the 20th, 24 Nov is in 21 Nov – 20 Dec: the new terms start on 21 Dec.
    changed = rules.change_terms(contract(), today=date(2026, 11, 24), closing_day=5)
    assert (changed.closing_day, changed.payment_method) == (20, "boleto")
    assert changed.scheduled_change == ScheduledChange("boleto", 5, date(2026, 12, 21))
    # On the closing day itself the current period still ends that day.
    assert rules.change_terms(contract(), today=date(2026, 11, 20), payment_method="deposito").scheduled_change == \
        ScheduledChange("deposito", 20, date(2026, 11, 21))


def test_a_change_already_due_but_not_yet_applied_keeps_its_day():
    pending = replace(contract(), scheduled_change=ScheduledChange("boleto", 5, date(2026, 12, 21)))
    # 21 Dec, before the run that bills the period ending 20 Dec applies the change.
    again = rules.change_terms(pending, today=date(2026, 12, 21), payment_method="deposito")
    assert again.scheduled_change == ScheduledChange("deposito", 5, date(2026, 12, 21))


def test_the_terms_in_force_cancel_a_scheduled_change_and_the_same_values_change_nothing():
    pending = rules.change_terms(contract(), today=date(2026, 11, 24), closing_day=5)
    assert rules.change_terms(pending, today=date(2026, 11, 24), closing_day=5) is pending
    cancelled = rules.change_terms(pending, today=date(2026, 11, 24), closing_day=20)
    assert cancelled.scheduled_change is None and cancelled.version == pending.version + 1
    unchanged = contract()
    assert rules.change_terms(unchanged, today=date(2026, 11, 24), closing_day=20, payment_method="boleto") \
        is unchanged


def test_items_are_locked_after_acceptance_and_nothing_changes_under_rescission():
    with pytest.raises(Conflict) as locked:
        rules.change_terms(contract(), today=date(2026, 11, 24), items=[ContractItem("X", "X", 1)])
    assert locked.value.code == "contract_items_locked"
    for status in (rules.TERMINATING, rules.TERMINATED):
        with pytest.raises(Conflict) as frozen:
            rules.change_terms(contract(status), today=date(2026, 11, 24), payment_method="deposito")
        assert frozen.value.code == "contract_terms_frozen"


def test_applying_the_change_moves_the_closing_day_and_records_when_the_terms_took_effect():
    pending = rules.change_terms(contract(), today=date(2026, 11, 24), closing_day=5, payment_method="deposito")
    assert not rules.change_due(pending, date(2026, 11, 20))
    assert rules.change_due(pending, date(2026, 12, 20))
    applied = rules.apply_scheduled_change(pending)
    assert (applied.closing_day, applied.payment_method, applied.terms_from, applied.scheduled_change) == \
        (5, "deposito", date(2026, 12, 21), None)
    # A message queued for the old day before the change was applied finds nothing left to bill.
    assert rules.billed_under_earlier_terms(applied, date(2026, 12, 20))
    assert rules.billed_under_earlier_terms(applied, date(2027, 1, 20))
    assert not rules.billed_under_earlier_terms(applied, date(2027, 1, 5))


def test_worked_example_the_first_period_under_a_new_closing_day_is_pro_rata_of_its_natural_length():
    # Closing 20 → 5, asked on 24 Nov: 21 Nov – 20 Dec is billed as before; then 21 Dec – 5 Jan is
    # 16 days of the natural period 6 Dec – 5 Jan (31 days); then 6 Jan – 5 Feb.
    first = period_ending(date(2027, 1, 5), 5, starts_on=date(2026, 12, 21))
    assert first == Period(date(2026, 12, 21), date(2027, 1, 5), basis_days=31)
    [line] = prorated_lines(3100, [Segment(date(2026, 1, 1), 2)], first)
    assert (line.days, line.period_days, line.amount_cents) == (16, 31, 3200)
    # Closing 10 → 25: 11–25 Nov is 15 days of 26 Oct – 25 Nov (31 days).
    assert period_ending(date(2026, 11, 25), 25, starts_on=date(2026, 11, 11)).basis == 31
    # Later periods are natural again.
    assert period_ending(date(2027, 2, 5), 5, starts_on=date(2026, 12, 21)) == period_containing(date(2027, 2, 5), 5)


@pytest.mark.parametrize("old_day", [1, 10, 15, 28])
@pytest.mark.parametrize("new_day", [1, 5, 20, 28])
@pytest.mark.parametrize("asked_on", [date(2026, 1, 31), date(2026, 2, 15), date(2026, 12, 28)])
def test_every_day_is_billed_once_across_any_change_of_closing_day(old_day, new_day, asked_on):
    scheduled = rules.change_terms(contract(closing_day=old_day), today=asked_on, closing_day=new_day)
    if old_day == new_day:
        assert scheduled.scheduled_change is None
        return
    old_period = period_containing(asked_on, old_day)
    effective = scheduled.scheduled_change.effective_from
    assert effective == old_period.end + timedelta(days=1)
    applied = rules.apply_scheduled_change(scheduled)
    first_closing = next(effective + timedelta(days=n) for n in range(31)
                         if (effective + timedelta(days=n)).day == new_day)
    first = period_ending(first_closing, new_day, starts_on=applied.terms_from)
    following = period_ending(period_containing(first.end + timedelta(days=1), new_day).end, new_day,
                              starts_on=applied.terms_from)
    assert first.start == effective and following.start == first.end + timedelta(days=1)
    assert first.basis == period_containing(first_closing, new_day).days >= first.days
    assert following.basis == following.days
