"""The ERP exports' rules without AWS: the period, which subscriptions a period holds, and typed
text that never becomes a formula in the spreadsheet."""
import csv
import io
from datetime import date

import pytest

from chalicelib.domain import exports as rules
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.proration import Segment
from chalicelib.domain.subscriptions import Subscription

NOVEMBER = rules.Period(date(2026, 11, 1), date(2026, 11, 30))


def subscription(timeline, started_on=date(2026, 1, 1), quantity=5, status="active"):
    return Subscription(id="s1", organization_id="o1", sku="SKU", name="Produto", family="F", term="P1M",
                        billing_frequency="monthly", status=status, quantity=quantity, started_on=started_on,
                        timeline=timeline)


@pytest.mark.parametrize("raw_from, raw_to, code", [
    ("2026-11-30", "2026-11-01", "invalid_export_range"),
    ("2026-02-29", "2026-03-01", "invalid_export_date"),
    ("2026-11-01", "amanhã", "invalid_export_date"),
    ("2025-11-30", "2026-12-01", "export_period_too_long"),
])
def test_a_bad_period_names_its_problem(raw_from, raw_to, code):
    with pytest.raises(InvalidInput) as refused:
        rules.period(raw_from, raw_to)
    assert refused.value.code == code


def test_a_period_is_at_most_366_days_both_ends_included():
    assert rules.period("2028-01-01", "2028-12-31") == rules.Period(date(2028, 1, 1), date(2028, 12, 31))
    assert rules.period("2026-11-05", "2026-11-05").start == date(2026, 11, 5)


def test_a_subscription_counts_when_it_had_seats_on_some_day_of_the_period():
    assert rules.seats_in_period(subscription([Segment(date(2026, 12, 1), 5)]), NOVEMBER) is None
    assert rules.seats_in_period(subscription([Segment(date(2026, 11, 30), 5)]), NOVEMBER) == rules.SeatsInPeriod(5, None)
    # Raised during the period: the last quantity of the period.
    grown = subscription([Segment(date(2026, 10, 1), 5), Segment(date(2026, 11, 15), 8), Segment(date(2026, 12, 2), 9)])
    assert rules.seats_in_period(grown, NOVEMBER) == rules.SeatsInPeriod(8, None)


def test_a_subscription_cancelled_in_the_period_shows_its_last_seats_and_the_day_it_ended():
    ended = subscription([Segment(date(2026, 10, 1), 5), Segment(date(2026, 11, 10), 0)], status="cancelled")
    assert rules.seats_in_period(ended, NOVEMBER) == rules.SeatsInPeriod(5, date(2026, 11, 10))
    before = subscription([Segment(date(2026, 9, 1), 5), Segment(date(2026, 10, 10), 0)], status="cancelled")
    assert rules.seats_in_period(before, NOVEMBER) is None


def test_typed_audit_values_are_text_in_the_spreadsheet():
    entry = AuditEntry(id="e1", organization_id="o1", at="2026-11-10T03:30:00+00:00", actor_id="u1",
                       actor_email="=cmd@evil.example", action="user.renamed", target="@SOMA(1)",
                       before={"name": "Ana"}, after={"name": "=HIPERLINK(\"x\")"}, source_ip="-1")
    [row] = rules.audit_rows([entry])
    assert row[0] == "10/11/2026 00:30:00"  # São Paulo time
    assert row[1] == "'=cmd@evil.example" and row[3] == "'@SOMA(1)" and row[6] == "'-1"
    assert row[4] == '{"name":"Ana"}' and row[5] == '{"name":"=HIPERLINK(\\"x\\")"}'
    made = rules.document(rules.AUDIT, NOVEMBER, rules.AUDIT_HEADER, [row])
    read = list(csv.reader(io.StringIO(made.data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert read[1][1] == "'=cmd@evil.example" and made.rows == 1
    assert made.filename == "auditoria-2026-11-01-a-2026-11-30.csv"
