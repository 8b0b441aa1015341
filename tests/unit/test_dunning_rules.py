"""The dunning rules as pure functions of invoices and a day."""
from datetime import date

from chalicelib.domain.billing import OPEN, OVERDUE, PAID, Dispute, Invoice
from chalicelib.domain.dunning import (DunningPolicy, blocking_invoice, days_overdue, suspending_invoice,
                                       with_override)


def invoice(number, due, status=OVERDUE, total=10_000, paid=0, dispute=None):
    return Invoice(id=f"inv-{number}", organization_id="org", contract_id="c", number=number,
                   period_start=date(2026, 9, 1), period_end=date(2026, 9, 30), issued_at="2026-10-01T12:00:00+00:00",
                   due_date=due, lines=[], total_cents=total, payment_method="boleto", status=status,
                   paid_cents=paid, dispute=dispute)


def test_days_overdue_count_from_the_day_after_the_due_date():
    late = invoice(1, date(2026, 10, 30))
    assert [days_overdue(late, date(2026, 10, d)) for d in (29, 30, 31)] == [0, 0, 1]


def test_purchases_are_blocked_from_the_block_day_by_the_oldest_collectable_invoice():
    policy = DunningPolicy()
    older, newer = invoice(1, date(2026, 9, 30)), invoice(2, date(2026, 10, 30))
    assert blocking_invoice(policy, [newer, older], date(2026, 10, 29)) is None  # D+29 of the older one
    assert blocking_invoice(policy, [newer, older], date(2026, 10, 30)) is older  # D+30


def test_a_paid_a_disputed_or_a_fully_paid_open_invoice_blocks_nothing():
    policy, today = DunningPolicy(), date(2027, 3, 1)
    due = date(2026, 9, 30)
    assert blocking_invoice(policy, [invoice(1, due, status=PAID, paid=10_000),
                                     invoice(2, due, dispute=Dispute("contesta", "op", "2026-10-02T00:00:00+00:00")),
                                     invoice(3, due, status=OPEN, paid=10_000)], today) is None
    partly = invoice(4, due, paid=9_999)  # one centavo left still counts
    assert blocking_invoice(policy, [partly], today) is partly


def test_an_operator_hold_stops_the_suspension_but_not_the_block():
    held = with_override(DunningPolicy(), {"hold_suspension": True})
    late = invoice(1, date(2026, 9, 30))
    today = date(2026, 11, 30)  # D+61
    assert suspending_invoice(DunningPolicy(), [late], today) is late
    assert suspending_invoice(held, [late], today) is None
    assert blocking_invoice(held, [late], today) is late


def test_an_override_changes_only_the_values_it_names():
    policy = with_override(DunningPolicy(), {"reminder_days": [3, 10], "suspension_day": 60})
    assert policy == DunningPolicy(reminder_days=(3, 10), block_day=30, warning_day=40, suspension_day=60)
    assert with_override(DunningPolicy(), None) == DunningPolicy()
