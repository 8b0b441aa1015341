"""The spend report (GET /reports/spend, GET /backoffice/reports/spend) and the licence panel's
chart (GET /spend/monthly) are the monthly aggregate the issue and cancel transactions keep: each
equals the sum of the invoices it covers (computed here from the invoices themselves), before and
after a cancellation, a cancellation with re-issue and an invoice that used a credit; no invoice is
read to answer them; the backfill counts the invoices issued before the aggregate, once."""
import csv
import io
from datetime import date

import pytest

from chalicelib.domain import spend as rules
from chalicelib.domain.billing import CANCELLED
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.roles import Role
from chalicelib.services import spend as spend_service
from chalicelib.storage import keys
from chalicelib.storage import spend as spend_storage
from chalicelib.storage.billing import InvoiceRepository
from chalicelib.storage.models import SpendItem, SpendMarkerItem
from tests.support import sp

REASON = "Quantidade de licenças faturada a mais por engano"
PERIOD = "from=2026-09&to=2026-12"
MONTHS = ["2026-09", "2026-10", "2026-11", "2026-12"]
FAMILY = {"MS365-E3": "Microsoft 365", "EXO-PLAN1": "Microsoft 365", "INTUNE-P1": "Segurança"}


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 9, 11, 10))
    return world.deps.clock


def _invoices(world, org_id):
    return world.deps.invoices.of_organization_since(org_id, date(2000, 1, 1))


def _expected(world, org_ids, months=MONTHS):
    """From the invoices: per month the total of those not cancelled, their credit lines, and the
    amounts by family / SKU / organisation (credits apart)."""
    out = {"months": {m: 0 for m in months}, "credits": {m: 0 for m in months}, "family": {}, "product": {},
           "organization": {}}
    for org_id in org_ids:
        for invoice in _invoices(world, org_id):
            month = f"{invoice.period_end:%Y-%m}"
            if invoice.status == CANCELLED or month not in out["months"]:
                continue
            out["months"][month] += invoice.total_cents
            for line in invoice.lines:
                if rules.is_credit(line.sku):
                    out["credits"][month] += line.amount_cents
                    continue
                for group, key in (("family", FAMILY[line.sku]), ("product", line.sku), ("organization", org_id)):
                    out[group][key] = out[group].get(key, 0) + line.amount_cents
    return out


def _assert_report_is_invoices(world, account, org_ids, path="/reports/spend", headers=None):
    expected = _expected(world, org_ids)
    for group_by in ("family", "product", "month") + (("organization",) if path.startswith("/backoffice") else ()):
        response = world.call("GET", f"{path}?{PERIOD}&group_by={group_by}", account, headers=headers)
        assert response.status_code == 200, response.json_body
        report = response.json_body
        assert (report["from"], report["to"], report["group_by"], report["currency"]) == \
            ("2026-09", "2026-12", group_by, "BRL")
        assert [m["month"] for m in report["months"]] == MONTHS  # empty months too
        assert {m["month"]: m["total_cents"] for m in report["months"]} == expected["months"]
        assert {m["month"]: m["credits_cents"] for m in report["months"]} == expected["credits"]
        assert report["total_cents"] == sum(expected["months"].values())
        assert report["credits_cents"] == sum(expected["credits"].values())
        for month in report["months"]:
            assert sum(g["amount_cents"] for g in month["groups"]) + month["credits_cents"] == month["total_cents"]
        groups = {g["key"]: g["amount_cents"] for g in report["groups"]}
        if group_by == "month":
            assert groups == {m: t - expected["credits"][m] for m, t in expected["months"].items()
                              if t - expected["credits"][m]}
        else:
            assert groups == {k: v for k, v in expected[group_by].items() if v}
    return expected


@pytest.fixture
def billed(world, clock):
    """Two customers billed for October, November and December through the billing runs; A's
    December uses a credit note granted on its November invoice."""
    world.seed_catalog()
    a = world.organization(name="Alfa Serviços Ltda", closing_day=10, items=())
    b = world.organization(name="Beta Comércio Ltda", closing_day=10, items=())
    for org in (a, b):
        world.accept_contract(org)
    world.subscription(a, "MS365-E3", 4, bought_at=sp(2026, 9, 11, 10))
    world.subscription(a, "INTUNE-P1", 10, bought_at=sp(2026, 9, 11, 10))
    world.subscription(b, "MS365-E3", 2, bought_at=sp(2026, 9, 11, 10))
    world.subscription(b, "EXO-PLAN1", 7, bought_at=sp(2026, 9, 11, 10))
    operator = world.operator()
    for month, period in ((10, "2026-10"), (11, "2026-11")):
        clock.now = sp(2026, month, 11, 9)
        world.billing_run(operator, period)
    [a_november] = [i for i in _invoices(world, a.id) if i.period_end == date(2026, 11, 10)]
    granted = world.call("POST", f"/backoffice/invoices/{a_november.id}/credit-notes", operator,
                         {"amount_cents": 5000, "reason": "Desconto comercial de novembro"})
    assert granted.status_code == 201, granted.json_body
    clock.now = sp(2026, 12, 11, 9)
    world.billing_run(operator, "2026-12")
    clock.now = sp(2026, 12, 15, 10)
    return a, b, operator


def _cancel(world, operator, invoice_id, reissue):
    response = world.call("POST", f"/backoffice/invoices/{invoice_id}/cancel", operator,
                          {"reason": REASON, "reissue": reissue})
    assert response.status_code == 200, response.json_body
    return response.json_body


def test_the_report_is_the_invoices_before_and_after_cancellations_reissues_and_credits(world, billed):
    a, b, operator = billed
    expected = _assert_report_is_invoices(world, a.master, [a.id])
    assert len([i for i in _invoices(world, a.id)]) == 3 and expected["credits"]["2026-12"] == -5000
    assert _assert_report_is_invoices(world, b.master, [b.id])["months"]["2026-11"] > 0

    [b_november] = [i for i in _invoices(world, b.id) if i.period_end == date(2026, 11, 10)]
    _cancel(world, operator, b_november.id, reissue=False)
    assert _assert_report_is_invoices(world, b.master, [b.id])["months"]["2026-11"] == 0
    # A's December (it used the credit) cancelled with re-issue: the replacement uses it again.
    [a_december] = [i for i in _invoices(world, a.id) if i.period_end == date(2026, 12, 10)]
    cancelled = _cancel(world, operator, a_december.id, reissue=True)
    assert cancelled["reissued_invoice"]["total_cents"] == a_december.total_cents
    after = _assert_report_is_invoices(world, a.master, [a.id])
    assert after["months"] == expected["months"] and after["credits"]["2026-12"] == -5000
    # A's October cancelled with re-issue too (no credit): still the invoices.
    [a_october] = [i for i in _invoices(world, a.id) if i.period_end == date(2026, 10, 10)]
    _cancel(world, operator, a_october.id, reissue=True)
    _assert_report_is_invoices(world, a.master, [a.id])

    # The licence panel's chart: its shape as before, the same numbers as the invoices.
    chart = world.call("GET", "/spend/monthly?months=4", a.master).json_body
    old = rules.monthly_spend(_invoices(world, a.id), FAMILY.get, MONTHS)
    assert chart == {"items": [{"month": m.month, "families": [{"family": f, "amount_cents": v} for f, v in m.families],
                                "credits_cents": m.credits_cents, "total_cents": m.total_cents} for m in old],
                     "families": ["Microsoft 365", "Segurança"], "currency": "BRL", "months": 4}

    # The operator's report across customers is the sum of the customers' reports.
    together = _assert_report_is_invoices(world, operator, [a.id, b.id], path="/backoffice/reports/spend")
    by_org = world.call("GET", f"/backoffice/reports/spend?{PERIOD}&group_by=organization", operator).json_body
    reports = [world.call("GET", f"/reports/spend?{PERIOD}", org.master).json_body for org in (a, b)]
    assert by_org["total_cents"] == sum(r["total_cents"] for r in reports) == sum(together["months"].values())
    assert {g["label"]: g["amount_cents"] for g in by_org["groups"]} == {
        "Alfa Serviços Ltda": sum(g["amount_cents"] for g in reports[0]["groups"]),
        "Beta Comércio Ltda": sum(g["amount_cents"] for g in reports[1]["groups"])}
    # An operator inside the customer (X-Organization-Id) sees the customer's report.
    inside = world.call("GET", f"/reports/spend?{PERIOD}", operator, headers={"X-Organization-Id": a.id})
    assert inside.status_code == 200 and inside.json_body == reports[0]


def test_the_product_labels_come_from_the_catalog_and_unknown_skus_go_under_outros(world, billed):
    a, _, _ = billed
    groups = {g["key"]: g["label"] for g in world.call(
        "GET", f"/reports/spend?{PERIOD}&group_by=product", a.master).json_body["groups"]}
    assert groups == {"MS365-E3": "Microsoft 365 E3", "INTUNE-P1": "Microsoft Intune Plano 1"}
    # An SKU the catalog does not know (a product removed since), written as the aggregate would.
    SpendItem(keys.org_spend_pk(a.id), keys.org_spend_sk("2026-12", "OLD-SKU"), organization_id=a.id,
              month="2026-12", sku="OLD-SKU", amount_cents=1234).save()
    families = {g["key"]: g["amount_cents"] for g in world.call(
        "GET", f"/reports/spend?{PERIOD}", a.master).json_body["groups"]}
    assert families["Outros"] == 1234


def test_the_csv_is_the_same_report(world, billed):
    a, _, _ = billed
    report = world.call("GET", f"/reports/spend?{PERIOD}&group_by=product", a.master).json_body
    response = world.call("GET", f"/reports/spend?{PERIOD}&group_by=product", a.master,
                          headers={"Accept": "text/csv"})
    assert response.status_code == 200
    headers = {k.lower(): v for k, v in response.headers.items()}
    assert headers["content-type"].startswith("text/csv")
    assert headers["content-disposition"] == 'attachment; filename="gastos-2026-09-a-2026-12.csv"'
    text = response.body.decode("utf-8") if isinstance(response.body, bytes) else response.body
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0] == ["Mês", "Chave", "Grupo", "Valor (R$)"]

    def cents(value):
        return int(value.replace(".", "").replace(",", ""))

    body, total = rows[1:-1], rows[-1]
    assert total[2] == "Total do período" and cents(total[3]) == report["total_cents"]
    assert sum(cents(r[3]) for r in body) == report["total_cents"]
    expected_rows = [[f"{m['month'][5:]}/{m['month'][:4]}", g["key"], g["label"], g["amount_cents"]]
                     for m in report["months"] for g in m["groups"]]
    assert [[r[0], r[1], r[2], cents(r[3])] for r in body if r[1] != "CREDITS"] == expected_rows
    assert [cents(r[3]) for r in body if r[1] == "CREDITS"] == [-5000]
    assert report["total_cents"] >= 100000 and "." in total[3]  # 1.234,56: the thousands read back too


@pytest.mark.parametrize("query, status, code", [
    ("from=2026-12&to=2026-01", 422, "report_period_reversed"),
    ("from=2023-01&to=2026-01", 422, "report_period_too_long"),
    ("from=2026-13", 400, "invalid_report_month"),
    ("to=dezembro", 400, "invalid_report_month"),
    ("from=1999-01&to=1999-12", 400, "invalid_report_month"),  # never silently the last 12 months
    ("to=3000-01", 400, "invalid_report_month"),
    ("group_by=organization", 400, "invalid_group_by"),
    ("group_by=cliente", 400, "invalid_group_by"),
])
def test_bad_periods_and_groupings_are_refused(world, clock, query, status, code):
    org = world.active_organization()
    response = world.call("GET", f"/reports/spend?{query}", org.master)
    assert response.status_code == status and response.json_body["error"]["code"] == code, response.json_body


def test_the_period_defaults_to_the_last_12_months_and_holds_at_most_36(world, clock):
    org = world.active_organization()
    clock.now = sp(2026, 12, 15, 10)
    report = world.call("GET", "/reports/spend", org.master).json_body
    assert (report["from"], report["to"], report["group_by"], len(report["months"])) == \
        ("2026-01", "2026-12", "family", 12)
    assert report["total_cents"] == 0 and report["groups"] == [] and \
        all(m == {"month": m["month"], "groups": [], "credits_cents": 0, "total_cents": 0} for m in report["months"])
    assert len(world.call("GET", "/reports/spend?from=2024-01&to=2026-12", org.master).json_body["months"]) == 36
    operator = world.operator()
    refused = world.call("GET", "/backoffice/reports/spend?from=2026-05&to=2026-04", operator)
    assert refused.status_code == 422 and refused.json_body["error"]["code"] == "report_period_reversed"


def test_only_profiles_that_view_reports_see_them(world, clock):
    org = world.active_organization()
    for role, status in ((Role.COBRANCA, 200), (Role.ADM, 403), (Role.SUPORTE, 403)):
        assert world.call("GET", "/reports/spend", world.user(org.id, [role])).status_code == status
        assert world.call("GET", "/backoffice/reports/spend", world.user(org.id, [role])).status_code == 403
    assert world.call("GET", "/backoffice/reports/spend", org.master).status_code == 403
    assert world.call("GET", "/backoffice/reports/spend", world.operator()).status_code == 200


def test_no_invoice_is_read_to_answer(world, billed, monkeypatch):
    a, _, operator = billed

    def refuse(*args, **kwargs):
        raise AssertionError("an invoice was read to answer a spend report")

    for name in ("get", "get_in_organization", "list", "of_organization_since", "collectable_of", "due_before",
                 "in_status_due_between", "of_organization_due_between", "invoice_for_period", "payments"):
        monkeypatch.setattr(InvoiceRepository, name, refuse)
    for account, path in ((a.master, f"/reports/spend?{PERIOD}"), (a.master, "/spend/monthly"),
                          (operator, f"/backoffice/reports/spend?{PERIOD}&group_by=organization"),
                          (a.master, f"/reports/spend?{PERIOD}&group_by=product")):
        response = world.call("GET", path, account)
        assert response.status_code == 200 and response.json_body["currency"] == "BRL"
    assert world.call("GET", f"/reports/spend?{PERIOD}", a.master, headers={"Accept": "text/csv"}).status_code == 200


def _forget_the_aggregate(world, org_ids):
    """The table as it was before the aggregate: no amounts, no markers."""
    for org_id in org_ids:
        for item in SpendItem.query(keys.org_spend_pk(org_id)):
            item.delete()
        for invoice in _invoices(world, org_id):
            SpendMarkerItem(keys.invoice_pk(invoice.id), keys.SPEND_MARKER_SK).delete()
    for month in MONTHS:
        for item in SpendItem.query(keys.month_spend_pk(month)):
            item.delete()


def test_the_backfill_counts_older_invoices_once_even_run_twice(world, billed):
    a, b, operator = billed
    _forget_the_aggregate(world, [a.id, b.id])
    assert world.call("GET", f"/reports/spend?{PERIOD}", a.master).json_body["total_cents"] == 0
    # Cancelled before the backfill: nothing was counted, nothing is taken out (never below zero).
    [b_october] = [i for i in _invoices(world, b.id) if i.period_end == date(2026, 10, 10)]
    _cancel(world, operator, b_october.id, reissue=False)
    assert world.call("GET", f"/reports/spend?{PERIOD}", b.master).json_body["total_cents"] == 0

    first = spend_service.backfill_spend(world.deps, page=1)
    assert first["counted"] == 5 and first["already"] == 1  # B's October went to "cancelled" with its cancel
    for org in (a, b):
        _assert_report_is_invoices(world, org.master, [org.id])
    _assert_report_is_invoices(world, operator, [a.id, b.id], path="/backoffice/reports/spend")
    before = {(i.pk, i.sk): int(i.amount_cents) for i in SpendItem.query(keys.org_spend_pk(a.id))}

    second = spend_service.backfill_spend(world.deps)
    assert second["counted"] == 0 and second["invoices"] == first["invoices"] == 6
    assert {(i.pk, i.sk): int(i.amount_cents) for i in SpendItem.query(keys.org_spend_pk(a.id))} == before
    _assert_report_is_invoices(world, a.master, [a.id])
    # Counted by the backfill, cancelled after it: taken out.
    [b_november] = [i for i in _invoices(world, b.id) if i.period_end == date(2026, 11, 10)]
    _cancel(world, operator, b_november.id, reissue=False)
    assert _assert_report_is_invoices(world, b.master, [b.id])["months"]["2026-11"] == 0


def test_an_invoice_with_more_skus_than_a_transaction_holds_waits_for_the_backfill(world, billed, monkeypatch):
    _, b, operator = billed
    [b_november] = [i for i in _invoices(world, b.id) if i.period_end == date(2026, 11, 10)]
    monkeypatch.setattr(spend_storage, "MAX_TRANSACTION_ACTIONS", 7)  # a re-issue alone takes 8
    replacement = _cancel(world, operator, b_november.id, reissue=True)["reissued_invoice"]
    marker = SpendMarkerItem.get(keys.invoice_pk(replacement["id"]), keys.SPEND_MARKER_SK)
    assert marker.state == "pending"
    november = world.call("GET", f"/reports/spend?{PERIOD}", b.master).json_body["months"][2]
    assert november["total_cents"] == 0  # the cancelled one taken out, the replacement not yet in

    monkeypatch.undo()
    assert spend_service.backfill_spend(world.deps)["counted"] == 1
    _assert_report_is_invoices(world, b.master, [b.id])
    assert spend_service.backfill_spend(world.deps)["counted"] == 0


def test_the_backfill_runs_from_the_command_line_against_the_stage_table(world, billed, capsys):
    from infra import backfill_spend

    a, b, _ = billed
    _forget_the_aggregate(world, [a.id, b.id])
    settings = world.deps.settings
    assert backfill_spend.main(["--table", settings.table_name, "--region", settings.region]) == 0
    assert '"counted": 6' in capsys.readouterr().out
    _assert_report_is_invoices(world, a.master, [a.id])
    assert backfill_spend.main(["--table", settings.table_name, "--region", settings.region]) == 0
    assert '"counted": 0' in capsys.readouterr().out
    _assert_report_is_invoices(world, b.master, [b.id])


def test_an_invoice_too_big_for_one_transaction_is_backfilled_in_parts_and_a_rerun_counts_nothing_twice(
        world, billed, monkeypatch):
    a, b, _ = billed
    _forget_the_aggregate(world, [a.id, b.id])
    # One SKU per transaction: every invoice of two or more SKUs is "too big" (as one of 50+ is).
    monkeypatch.setattr(spend_storage, "MAX_TRANSACTION_ACTIONS", 3)
    big = [i for i in _invoices(world, a.id) + _invoices(world, b.id) if len(rules.spend_deltas(added=i)) >= 2]
    assert big  # the fixture has such invoices among the others
    # The backfill dies once, right after the first part of the first big invoice (a timeout).
    real_run = world.deps.spend._tx.run
    crashed = []

    def crash_after_one_part(build, on_conflict=None):
        real_run(build, on_conflict=on_conflict)
        marker = list(SpendMarkerItem.query(keys.invoice_pk(big[0].id), SpendMarkerItem.sk == keys.SPEND_MARKER_SK))
        if not crashed and marker and marker[0].state == "part:1":
            crashed.append(True)
            raise RuntimeError("the backfill's Lambda timed out")

    monkeypatch.setattr(world.deps.spend._tx, "run", crash_after_one_part)
    first = spend_service.backfill_spend(world.deps)
    assert crashed and first["failed"] == 1 and first["counted"] == 5  # the others were counted all the same
    monkeypatch.setattr(world.deps.spend._tx, "run", real_run)

    second = spend_service.backfill_spend(world.deps)  # resumes after the part already in
    assert second["counted"] == 1 and second["failed"] == 0
    assert SpendMarkerItem.get(keys.invoice_pk(big[0].id), keys.SPEND_MARKER_SK).state == "counted"
    for org in (a, b):
        _assert_report_is_invoices(world, org.master, [org.id])
    assert spend_service.backfill_spend(world.deps)["counted"] == 0
    for org in (a, b):
        _assert_report_is_invoices(world, org.master, [org.id])
