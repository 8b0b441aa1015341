"""The spend aggregate's rules: what an invoice moves per (month, SKU), netted for a re-issue; the
report's period and groups."""
from datetime import date

import pytest

from chalicelib.domain import error_codes as codes
from chalicelib.domain.billing import Invoice, InvoiceLine
from chalicelib.domain.credits import CARRIED_SKU_PREFIX, CREDIT_SKU_PREFIX
from chalicelib.domain.errors import RuleViolation
from chalicelib.domain.spend import CREDITS_SKU, SpendRow, spend_deltas, spend_report
from chalicelib.services.spend import report_period


def _invoice(lines, period_end=date(2026, 11, 10)):
    made = [InvoiceLine(description=sku, sku=sku, quantity=1, days=30, period_days=30, unit_price_cents=amount,
                        amount_cents=amount, start=date(2026, 10, 11), end=period_end) for sku, amount in lines]
    return Invoice(id="i", organization_id="o", contract_id="c", number=1, period_start=date(2026, 10, 11),
                   period_end=period_end, issued_at="2026-11-11T12:00:00+00:00", due_date=date(2026, 11, 20),
                   lines=made, total_cents=sum(a for _, a in lines), payment_method="boleto")


def test_lines_are_summed_per_sku_and_every_credit_goes_under_one_key():
    invoice = _invoice([("A", 1000), ("A", 500), ("B", 300), (f"{CREDIT_SKU_PREFIX}n1", -200), (f"{CARRIED_SKU_PREFIX}n2", -100)])
    assert spend_deltas(added=invoice) == {("2026-11", "A"): 1500, ("2026-11", "B"): 300,
                                           ("2026-11", CREDITS_SKU): -300}


def test_a_reissue_nets_both_invoices_into_one_amount_per_key_and_leaves_out_what_cancels():
    old, new = _invoice([("A", 1000), ("B", 300)]), _invoice([("A", 1000), ("C", 50)])
    assert spend_deltas(added=new, removed=old) == {("2026-11", "B"): -300, ("2026-11", "C"): 50}


def test_the_period_defaults_to_the_last_twelve_months_and_refuses_reversed_or_long_ones():
    today = date(2026, 11, 30)
    assert (report_period(today, None, None)[0], report_period(today, None, None)[-1]) == ("2025-12", "2026-11")
    assert report_period(today, "2026-10", None) == ["2026-10", "2026-11"]
    assert len(report_period(today, None, "2026-03")) == 12
    assert len(report_period(today, "2024-01", "2026-12")) == 36
    with pytest.raises(RuleViolation) as reversed_:
        report_period(today, "2026-05", "2026-04")
    assert reversed_.value.code == codes.REPORT_PERIOD_REVERSED.code
    with pytest.raises(RuleViolation) as too_long:
        report_period(today, "2023-12", "2026-12")
    assert too_long.value.code == codes.REPORT_PERIOD_TOO_LONG.code


def test_groups_net_credits_apart_and_unknown_skus_go_under_outros():
    rows = [SpendRow("2026-10", "o", "A", 1000), SpendRow("2026-10", "o", "X", 70),
            SpendRow("2026-11", "o", "B", 300), SpendRow("2026-11", "o", CREDITS_SKU, -100)]
    catalog = {"A": ("Produto A", "Família 1"), "B": ("Produto B", "Família 1")}.get
    report = spend_report(rows, ["2026-09", "2026-10", "2026-11"], "family", product=catalog)
    assert [(g.key, g.amount_cents) for g in report.groups] == [("Família 1", 1300), ("Outros", 70)]
    assert [(m.month, m.total_cents, m.credits_cents) for m in report.months] == \
        [("2026-09", 0, 0), ("2026-10", 1070, 0), ("2026-11", 200, -100)]
    assert report.total_cents == 1270 and report.credits_cents == -100
