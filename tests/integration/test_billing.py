"""The billing run end to end: fan-out on SQS, one invoice per contract and period, gapless
numbers, emails once, reruns and crashes, payments and overdue invoices."""
from datetime import date, timedelta

import pytest

from chalicelib.domain import billing as rules
from chalicelib.domain.audit import SYSTEM
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.roles import Role
from chalicelib.services import billing
from chalicelib.domain.money import format_brl
from tests.support import body_html, body_text, sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def active_org(world, closing_day=10, **subscriptions):
    org = world.active_organization(closing_day)
    for sku, quantity in subscriptions.items():
        world.subscription(org, sku.replace("_", "-"), quantity)
    return org


def start_run(world, operator, period):
    response = world.call("POST", "/backoffice/billing-runs", operator, {"period": period})
    assert response.status_code == 202, response.json_body
    return response.json_body["run_id"]


class QueueSpy:
    """Counts what is queued on the email queue, per delivery key."""

    def __init__(self, queue):
        self.keys = []
        self._send = queue.send
        queue.send = self

    def __call__(self, message, **kwargs):
        self.keys.append(message["delivery_key"])
        return self._send(message, **kwargs)


def test_an_operator_run_issues_the_invoice_with_pro_rata_lines_and_emails_it(world, clock):
    org = active_org(world, MS365_E3=10)  # bought 1 Oct; closing day 10
    clock.now = sp(2026, 10, 20)
    sub = world.deps.subscriptions.list(org.id)[0]
    world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 15})
    world.drain_queues()
    clock.now = sp(2026, 11, 11, 9)  # closing day
    operator = world.operator()
    run_id = start_run(world, operator, "2026-11")
    world.drain_queues()
    progress = world.call("GET", f"/backoffice/billing-runs/{run_id}", operator).json_body
    assert (progress["contracts_queued"], progress["invoices_issued"], progress["complete"]) == (1, 1, True)

    [summary] = world.call("GET", "/invoices", org.master).json_body["items"]
    assert (summary["period_start"], summary["period_end"], summary["status"]) == ("2026-10-11", "2026-11-10", "open")
    # 10 days after closing is Friday 20 Nov, Black Awareness Day (national since 2024): Monday 23.
    assert summary["due_date"] == "2026-11-23"
    invoice = world.call("GET", f"/invoices/{summary['id']}", org.master).json_body
    assert [(l["description"], l["amount_cents"]) for l in invoice["lines"]] == [
        ("Microsoft 365 E3 — 10 licenças × 9/31 dias (anual, cobrança mensal)", 60126),   # 207,10 × 10 × 9/31 = 601,258… (11–19 Oct)
        ("Microsoft 365 E3 — 15 licenças × 22/31 dias (anual, cobrança mensal)", 220461),  # 207,10 × 15 × 22/31 = 2.204,612… (20 Oct – 10 Nov)
    ]
    assert invoice["total_cents"] == 60126 + 220461 == summary["total_cents"]

    [email] = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    assert email["To"] == org.contract.billing_contacts[0]
    text = body_text(email)
    assert "R$ 2.805,87" in text and "23/11/2026" in text and "15 licenças × 22/31 dias" in text


def test_the_daily_schedule_bills_only_contracts_closing_that_day(world, clock):
    tenth = active_org(world, closing_day=10, MS365_E3=2)
    twentieth = active_org(world, closing_day=20, MS365_E3=2)
    clock.now = sp(2026, 11, 11, 0) + timedelta(minutes=10)  # the day after the 10th
    world.client.lambda_.invoke("start_billing_run", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    world.drain_queues()
    assert len(world.call("GET", "/invoices", tenth.master).json_body["items"]) == 1
    assert world.call("GET", "/invoices", twentieth.master).json_body["items"] == []


def test_a_rerun_and_a_crash_midway_still_give_n_invoices_n_consecutive_numbers_one_email_each(world, clock,
                                                                                                monkeypatch):
    orgs = [active_org(world, MS365_E3=n + 1) for n in range(6)]
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    spy = QueueSpy(world.deps.email_queue)

    # The worker crashes right after its third invoice (before its email is queued).
    real_issue, issued = world.deps.invoices.issue, []

    def crashing_issue(invoice, audit, **extra):
        real_issue(invoice, audit, **extra)
        issued.append(invoice.id)
        if len(issued) == 3:
            raise RuntimeError("Lambda timed out")

    monkeypatch.setattr(world.deps.invoices, "issue", crashing_issue)
    start_run(world, operator, "2026-11")
    world.drain_queues()
    monkeypatch.setattr(world.deps.invoices, "issue", real_issue)
    start_run(world, operator, "2026-11")  # the operator runs it again
    start_run(world, operator, "2026-11")  # and once more, for good measure
    world.drain_queues()

    invoices = [world.call("GET", "/invoices", org.master).json_body["items"] for org in orgs]
    assert [len(items) for items in invoices] == [1] * 6
    numbers = sorted(items[0]["number"] for items in invoices)
    assert numbers == list(range(1, 7))
    invoice_emails = [k for k in spy.keys if k.startswith("invoice_issued#")]
    assert sorted(invoice_emails) == sorted(f"invoice_issued#{items[0]['id']}" for items in invoices)
    assert len([m for m in world.outbox() if "Fatura nº" in m["Subject"]]) == 6


def test_parallel_workers_never_skip_or_repeat_a_number(world, clock):
    import threading

    orgs = [active_org(world, MS365_E3=1) for _ in range(8)]
    clock.now = sp(2026, 11, 11, 9)
    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[])
    barrier = threading.Barrier(len(orgs))

    def work(org):
        barrier.wait()
        billing.bill_contract(world.deps, {"run_id": run_id, "organization_id": org.id, "closing_date": "2026-11-10"})

    threads = [threading.Thread(target=work, args=(org,)) for org in orgs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    closing = date(2026, 11, 10)
    numbers = sorted(world.deps.invoices.invoice_for_period(org.id, closing).number for org in orgs)
    assert numbers == list(range(1, 9))


def test_a_container_whose_last_number_is_stale_issues_the_next_one_without_reading_the_counter(
        world, clock, monkeypatch):
    """Each container keeps the number it last wrote and tries the next; another container issued
    meanwhile: the refused transaction says where the counter stands, and the next try is right."""
    from dataclasses import replace as copy_of

    from botocore.client import BaseClient

    from chalicelib.storage.billing import InvoiceRepository

    orgs = [active_org(world, MS365_E3=1) for _ in range(4)]
    clock.now = sp(2026, 11, 11, 9)
    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[])
    other = copy_of(world.deps, invoices=InvoiceRepository(world.deps.invoices._tx))  # another Lambda container

    def bill(deps, org):
        billing.bill_contract(deps, {"run_id": run_id, "organization_id": org.id, "closing_date": "2026-11-10"})

    bill(world.deps, orgs[0])  # this container: number 1
    bill(other, orgs[1])       # the other: it reads the counter (1) and issues 2, then 3
    bill(other, orgs[2])
    counter_reads, original = [], BaseClient._make_api_call

    def counted(client, operation, params):
        if operation == "GetItem" and params.get("Key", {}).get("pk", {}).get("S") == "COUNTER":
            counter_reads.append(params)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    bill(world.deps, orgs[3])  # this container still thinks 1: tries 2, is told 3, issues 4
    monkeypatch.undo()

    closing = date(2026, 11, 10)
    numbers = [world.deps.invoices.invoice_for_period(org.id, closing).number for org in orgs]
    assert numbers == [1, 2, 3, 4]
    assert counter_reads == []
    # Nothing was written by the refused attempt: one invoice each, one issue entry each.
    for org in orgs:
        assert len(world.call("GET", "/invoices", org.master).json_body["items"]) == 1


def test_a_contract_closing_later_this_month_is_not_billed_early(world, clock):
    org = active_org(world, closing_day=20, MS365_E3=2)
    clock.now = sp(2026, 11, 12)
    operator = world.operator()
    run_id = start_run(world, operator, "2026-11")
    world.drain_queues()
    assert world.call("GET", f"/backoffice/billing-runs/{run_id}", operator).json_body["not_closed_yet"] == 1
    assert world.call("GET", "/invoices", org.master).json_body["items"] == []


def issued_invoice(world, clock):
    """An organisation with one E3 seat, billed for November on the 11th: (org, operator, invoice)."""
    org = active_org(world, MS365_E3=1)
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    start_run(world, operator, "2026-11")
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    return org, operator, invoice


def test_payments_partial_then_full_and_overdue_reminders(world, clock):
    org, operator, invoice = issued_invoice(world, clock)
    total = invoice["total_cents"]

    clock.now = sp(2026, 11, 25, 9)  # due 23 Nov: the daily job finds it overdue
    world.client.lambda_.invoke("mark_overdue_invoices", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    world.drain_queues()
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "overdue"
    assert [m for m in world.outbox() if "Lembrete" in m["Subject"]]
    assert world.call("GET", "/invoices?status=overdue", org.master).json_body["items"][0]["id"] == invoice["id"]

    pay = f"/backoffice/invoices/{invoice['id']}/payments"
    partial = world.call("POST", pay, operator, {"amount_cents": 1000, "paid_on": "2026-11-25", "method": "deposito"})
    assert partial.status_code == 201
    assert (partial.json_body["status"], partial.json_body["balance_cents"]) == ("overdue", total - 1000)
    too_much = world.call("POST", pay, operator, {"amount_cents": total, "paid_on": "2026-11-25", "method": "deposito"})
    assert too_much.status_code == 422 and too_much.json_body["error"]["code"] == "overpayment"
    rest = world.call("POST", pay, operator, {"amount_cents": total - 1000, "paid_on": "2026-11-25", "method": "boleto"},
                      headers={"Idempotency-Key": "pg-2"})
    again = world.call("POST", pay, operator, {"amount_cents": total - 1000, "paid_on": "2026-11-25", "method": "boleto"},
                       headers={"Idempotency-Key": "pg-2"})
    assert rest.json_body == again.json_body and rest.json_body["status"] == "paid"
    paid = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
    assert paid["balance_cents"] == 0 and len(paid["payments"]) == 2
    future = world.call("POST", pay, operator, {"amount_cents": 1, "paid_on": "2030-01-01", "method": "boleto"})
    assert future.status_code in (400, 409)


def run_overdue_job(world):
    world.client.lambda_.invoke("mark_overdue_invoices", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    world.drain_queues()


def test_an_invoice_due_60_days_ago_is_marked_overdue_on_the_next_daily_run(world, clock):
    # No lookback window: however many daily runs were missed, the next one finds it.
    org, operator, invoice = issued_invoice(world, clock)
    clock.now = sp(2027, 1, 22, 9)  # due 23 Nov 2026: 60 days ago
    run_overdue_job(world)
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "overdue"
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    assert [e["action"] for e in trail].count("invoice.overdue") == 1
    run_overdue_job(world)  # the next day's run: nothing more to mark, no second entry
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    assert [e["action"] for e in trail].count("invoice.overdue") == 1


def test_a_disputed_invoice_is_not_marked_overdue(world, clock):
    from dataclasses import replace

    from chalicelib.domain.billing import Dispute

    org, operator, invoice = issued_invoice(world, clock)
    stored = world.deps.invoices.get(invoice["id"])
    world.deps.invoices.save(replace(stored, dispute=Dispute("Cliente contesta a quantidade", operator.user.id,
                                                             "2026-11-12T12:00:00+00:00"), version=stored.version + 1),
                             expected_version=stored.version)
    clock.now = sp(2026, 12, 20, 9)
    run_overdue_job(world)
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "open"
    assert not [m for m in world.outbox() if "Lembrete" in m["Subject"]]


def test_a_payment_dated_before_the_invoice_or_in_the_future_is_refused_and_nothing_is_written(world, clock):
    org, operator, invoice = issued_invoice(world, clock)  # issued 11 Nov 2026
    pay = f"/backoffice/invoices/{invoice['id']}/payments"
    for paid_on, bound in (("2026-11-10", "earliest"), ("2026-11-12", "latest")):
        answer = world.call("POST", pay, operator, {"amount_cents": 100, "paid_on": paid_on, "method": "deposito"})
        assert answer.status_code == 400 and answer.json_body["error"]["code"] == "invalid_date"
        assert bound in answer.json_body["error"]["details"]
    after = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
    assert (after["paid_cents"], after["payments"], after["version"]) == (0, [], invoice["version"])
    same_day = world.call("POST", pay, operator, {"amount_cents": 100, "paid_on": "2026-11-11", "method": "deposito"})
    assert same_day.status_code == 201


def test_a_run_started_late_issues_an_invoice_due_after_the_issue_day_never_already_overdue(world, clock):
    from chalicelib.domain import boleto

    org = active_org(world, closing_day=20, MS365_E3=2)  # bought 1 Oct; the October period closes 20 Oct
    # The October run starts on Sunday 29 Nov: closing + 10 days (30 Oct) is a month gone.
    clock.now = sp(2026, 11, 29, 9)
    start_run(world, world.operator(), "2026-10")
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    # Three bank business days after the issue day: Mon 30 Nov, Tue 1 Dec, Wed 2 Dec.
    assert (invoice["due_date"], invoice["status"]) == ("2026-12-02", "open")
    view = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    parsed = boleto.parse(view["digitable_line"], reference=sp(2026, 11, 29).date())
    assert view["due_date"] == parsed.due_date.isoformat() == "2026-12-02"
    assert parsed.amount_cents == invoice["total_cents"]
    [email] = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    assert "02/12/2026" in body_text(email) and "30/10/2026" not in body_text(email)

    # Asked for a second copy right away: nothing is late, so no fine and no interest.
    early = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert early.status_code == 409 and early.json_body["error"]["code"] == "invoice_not_overdue"
    # The same boleto (its link is signed anew on each read, so it is left out of the comparison).
    unsigned = {k: v for k, v in view.items() if k != "pdf_url"}
    after = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    assert {k: v for k, v in after.items() if k != "pdf_url"} == unsigned

    # The daily overdue job agrees: still open on its due day, overdue the day after.
    clock.now = sp(2026, 12, 2, 9)
    run_overdue_job(world)
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "open"
    clock.now = sp(2026, 12, 3, 9)
    run_overdue_job(world)
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "overdue"


def test_a_final_invoice_issued_late_is_due_after_its_issue_day_too(world, clock):
    org = active_org(world, MS365_E3=10)  # bought 1 Oct, closing day 10
    clock.now = sp(2026, 10, 5)
    world.call("POST", "/contract/terminate", org.master, {"reason_text": "Encerramento"})
    world.drain_queues()
    clock.now = sp(2026, 11, 19, 9)  # the period closed 10 Oct; closing + 10 was 20 Oct
    start_run(world, world.operator(), "2026-10")
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    # Fri 20 Nov is Black Awareness Day: Mon 23, Tue 24, Wed 25.
    assert (invoice["final"], invoice["due_date"], invoice["status"]) == (True, "2026-11-25", "open")


def test_the_overdue_reminder_of_a_partly_paid_invoice_shows_its_balance(world, clock):
    org, operator, invoice = issued_invoice(world, clock)
    paid = world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", operator,
                      {"amount_cents": 1000, "paid_on": "2026-11-11", "method": "deposito"})
    assert paid.status_code == 201 and paid.json_body["status"] == "open"

    clock.now = sp(2026, 11, 25, 9)
    run_overdue_job(world)
    [reminder] = [m for m in world.outbox() if "Lembrete" in m["Subject"]]
    balance, total = format_brl(invoice["total_cents"] - 1000), format_brl(invoice["total_cents"])
    assert f"com saldo em aberto de {balance} (total da fatura: {total})" in body_text(reminder)
    assert balance in body_html(reminder)


def test_only_billing_profiles_see_invoices(world, clock):
    org = active_org(world, MS365_E3=1)
    clock.now = sp(2026, 11, 11, 9)
    start_run(world, world.operator(), "2026-11")
    world.drain_queues()
    for role, allowed in ((Role.COBRANCA, True), (Role.ADM, False), (Role.SUPORTE, False)):
        account = world.user(org.id, [role])
        assert (world.call("GET", "/invoices", account).status_code == 200) is allowed


def test_a_terminated_contract_gets_its_final_invoice_up_to_the_termination_day(world, clock):
    org = active_org(world, MS365_E3=10)  # bought 1 Oct
    clock.now = sp(2026, 10, 5)  # inside the 7-day window
    world.call("POST", "/contract/terminate", org.master, {"reason_text": "Encerramento"})
    world.drain_queues()
    assert world.call("GET", "/contract", org.master).json_body["final_invoice_due"] is True
    clock.now = sp(2026, 10, 11, 9)
    start_run(world, world.operator(), "2026-10")
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    assert invoice["final"] is True
    lines = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["lines"]
    # Period 11 Sep – 10 Oct (30 days): 10 seats from 1 Oct to 4 Oct, then zero.
    assert [l["description"] for l in lines] == ["Microsoft 365 E3 — 10 licenças × 4/30 dias (anual, cobrança mensal)"]
    assert world.call("GET", "/contract", org.master).json_body["final_invoice_due"] is False


def test_bad_billing_run_periods_are_refused(world):
    operator = world.operator()
    for period in ("2026-13", "novembro", "2026-1"):
        response = world.call("POST", "/backoffice/billing-runs", operator, {"period": period})
        assert response.status_code == 400, period


def test_the_quantity_preview_is_the_line_the_invoice_then_carries(world, clock):
    org = active_org(world, MS365_E3=10)  # bought 1 Oct, closing day 10
    sub = world.deps.subscriptions.list(org.id)[0]
    clock.now = sp(2026, 10, 20)
    preview = world.call("GET", f"/subscriptions/{sub.id}/quantity-preview?quantity=15", org.master).json_body
    world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 15})
    world.drain_queues()
    clock.now = sp(2026, 11, 11, 9)
    start_run(world, world.operator(), "2026-11")
    world.drain_queues()
    [summary] = world.call("GET", "/invoices", org.master).json_body["items"]
    lines = world.call("GET", f"/invoices/{summary['id']}", org.master).json_body["lines"]
    added = preview["lines"][-1]
    assert (lines[-1]["description"], lines[-1]["amount_cents"]) == (added["description"], added["amount_cents"])


def test_an_earlier_period_billed_after_a_termination_is_not_the_final_invoice(world, clock):
    org = active_org(world, MS365_E3=2)  # bought 1 Oct
    clock.now = sp(2026, 10, 5)
    world.call("POST", "/contract/terminate", org.master, {})
    world.drain_queues()
    clock.now = sp(2026, 10, 6)
    start_run(world, world.operator(), "2026-09")  # period 11 Aug – 10 Sep: before the termination
    world.drain_queues()
    assert world.call("GET", "/contract", org.master).json_body["final_invoice_due"] is True


def test_a_past_days_price_is_read_once_and_a_new_price_still_applies_from_tomorrow(world, monkeypatch):
    from chalicelib.domain.catalog import Product, price_on, with_price
    from chalicelib.storage.models import ProductItem
    from chalicelib.storage.repositories import CatalogRepository

    catalog, today, past = world.deps.catalog, date(2026, 11, 11), date(2026, 10, 11)
    catalog.put(with_price(Product("BENCH-SKU", "Bench", "Azure", "P1M", "monthly"), 1000, date(2026, 1, 1)))
    reads = []
    real_query = ProductItem.query
    monkeypatch.setattr(ProductItem, "query", lambda *a, **k: reads.append(1) or real_query(*a, **k))

    assert price_on(catalog.by_sku(today)["BENCH-SKU"], past) == 1000
    assert price_on(catalog.by_sku(today)["BENCH-SKU"], past) == 1000
    assert reads == [1]  # a billing run asks once per contract; the catalog is read once
    catalog.put(with_price(catalog.by_sku(today)["BENCH-SKU"], 1500, today))
    assert price_on(catalog.by_sku(today)["BENCH-SKU"], past) == 1000
    assert price_on(catalog.by_sku(today)["BENCH-SKU"], today) == 1000
    assert price_on(catalog.by_sku(today)["BENCH-SKU"], today + timedelta(days=1)) == 1500
    assert len(reads) == 2  # a change made here is seen at once
    assert price_on(catalog.by_sku(today).get("UNPRICED"), past) is None

    # Another container read the catalog yesterday: asked for today, it reads it again.
    other = CatalogRepository()
    other.list(today - timedelta(days=1))
    assert price_on(other.by_sku(today)["BENCH-SKU"], today + timedelta(days=1)) == 1500
    assert len(reads) == 4

def test_a_bank_outage_during_the_documents_is_retried_and_the_run_counts_the_contract_once(world, clock):
    org = active_org(world, MS365_E3=10)
    clock.now = sp(2026, 10, 5)
    world.call("POST", "/contract/terminate", org.master, {"reason_text": "Encerramento"})
    world.drain_queues()
    clock.now = sp(2026, 10, 11, 9)
    world.deps.bank.fail_next(1)
    run_id = start_run(world, world.operator(), "2026-10")
    world.drain_queues()
    world.make_visible()  # the failed contract message comes back
    world.drain_queues()

    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    assert invoice["final"] is True
    assert world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).status_code == 200
    assert len([m for m in world.outbox() if "Fatura nº" in m["Subject"]]) == 1
    assert world.call("GET", "/contract", org.master).json_body["final_invoice_due"] is False
    progress = world.call("GET", f"/backoffice/billing-runs/{run_id}", world.operator()).json_body
    assert (progress["invoices_issued"], progress["already_invoiced"], progress["complete"]) == (1, 0, True)


@pytest.mark.parametrize("today, period, closing_days, expected, why", [
    # Sunday 29 Nov, 40 days after the 20 Oct closing: every October closing is billed at once,
    # due Mon 30 Nov, Tue 1, Wed 2 Dec.
    ((2026, 11, 29), "2026-10", (1, 10, 15, 20), date(2026, 12, 2), "issued on a Sunday"),
    # Wednesday 30 Dec, 40 days after 20 Nov: 31 Dec (banks closed), 1 Jan and the weekend are not
    # counted: Mon 4, Tue 5, Wed 6 Jan.
    ((2026, 12, 30), "2026-11", (5, 20), date(2027, 1, 6), "issued before the year-end bank holidays"),
])
def test_a_run_started_40_days_late_issues_every_invoice_payable_after_the_issue_day(
        world, clock, today, period, closing_days, expected, why):
    orgs = [active_org(world, closing_day=day, MS365_E3=2) for day in closing_days]  # bought 1 Oct
    clock.now = sp(*today, 9)
    issued_on = date(*today)
    start_run(world, world.operator(), period)
    world.drain_queues()
    settings = world.deps.settings
    bank = dict(state=settings.bank_state, city_holidays=tuple(settings.bank_city_holidays))
    floor = rules.add_bank_business_days(issued_on, settings.invoice_min_business_days_after_issue, **bank)
    invoices = []
    for org in orgs:
        [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
        due = date.fromisoformat(invoice["due_date"])
        assert due >= floor and rules.is_bank_business_day(due, **bank), (why, invoice)
        assert due == expected, why
        assert date.fromisoformat(invoice["period_end"]) <= issued_on - timedelta(days=40), why
        invoices.append((org, invoice))
    # The overdue job the next day (and on the due day) leaves every one open.
    for day in (issued_on + timedelta(days=1), floor):
        clock.now = sp(day.year, day.month, day.day, 9)
        run_overdue_job(world)
        for org, invoice in invoices:
            assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "open", day
    assert not [m for m in world.outbox() if "Lembrete" in m["Subject"]]


def test_the_back_office_lists_the_runs_newest_first_page_after_page(world, clock):
    org = active_org(world, MS365_E3=1)  # closing day 10
    operator = world.operator()
    clock.now = sp(2026, 10, 11, 9)
    october = start_run(world, operator, "2026-10")
    clock.now = sp(2026, 11, 11, 9)
    november = start_run(world, operator, "2026-11")
    world.drain_queues()

    listed = world.call("GET", "/backoffice/billing-runs", operator)
    assert listed.status_code == 200, listed.json_body
    runs = listed.json_body["items"]
    assert [r["run_id"] for r in runs] == [november, october]
    assert [r["period"] for r in runs] == ["2026-11", "2026-10"]
    assert runs[0]["started_by"] == operator.user.id
    assert (runs[0]["contracts_queued"], runs[0]["processed"], runs[0]["complete"]) == (1, 1, True)
    assert runs[0] == world.call("GET", f"/backoffice/billing-runs/{november}", operator).json_body

    first = world.call("GET", "/backoffice/billing-runs?limit=1", operator).json_body
    assert [r["run_id"] for r in first["items"]] == [november] and first["next_token"]
    second = world.call("GET", f"/backoffice/billing-runs?limit=1&next_token={first['next_token']}", operator)
    assert [r["run_id"] for r in second.json_body["items"]] == [october]

    # A customer never lists them; a forged token is refused.
    assert world.call("GET", "/backoffice/billing-runs", org.master).status_code == 403
    assert world.call("GET", "/backoffice/billing-runs?next_token=abc", operator).status_code == 400


def test_a_contract_that_fails_shows_why_on_its_run_until_a_retry_bills_it(world, clock, monkeypatch):
    from chalicelib.domain import error_codes as codes

    org = active_org(world, MS365_E3=1)  # closing day 10
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    real = billing.period_lines

    def no_price(*args, **kwargs):
        raise codes.PRODUCT_NOT_FOUND()

    monkeypatch.setattr(billing, "period_lines", no_price)
    run_id = start_run(world, operator, "2026-11")
    world.drain_queues()
    failures = world.call("GET", f"/backoffice/billing-runs/{run_id}/failures", operator)
    assert failures.status_code == 200, failures.json_body
    [failure] = failures.json_body["items"]
    assert (failure["organization_id"], failure["code"], failure["attempts"]) == (org.id, "product_not_found", 1)
    assert failure["message"] == str(codes.PRODUCT_NOT_FOUND())
    progress = world.call("GET", f"/backoffice/billing-runs/{run_id}", operator).json_body
    assert (progress["processed"], progress["complete"]) == (0, False)

    # An unexpected error says its type only, and the next attempt overwrites the reason.
    monkeypatch.setattr(billing, "period_lines", lambda *a, **k: 1 / 0)
    world.make_visible()
    world.drain_queues()
    [failure] = world.call("GET", f"/backoffice/billing-runs/{run_id}/failures", operator).json_body["items"]
    assert (failure["code"], failure["attempts"]) == ("unexpected_error", 2)
    assert "ZeroDivisionError" in failure["message"]

    monkeypatch.setattr(billing, "period_lines", real)
    world.make_visible()
    world.drain_queues()
    assert world.call("GET", f"/backoffice/billing-runs/{run_id}/failures", operator).json_body["items"] == []
    assert world.call("GET", f"/backoffice/billing-runs/{run_id}", operator).json_body["invoices_issued"] == 1

    assert world.call("GET", "/backoffice/billing-runs/nao-existe/failures", operator).status_code == 404
    assert world.call("GET", f"/backoffice/billing-runs/{run_id}/failures", org.master).status_code == 403


def _billing_queue(world):
    import boto3

    sqs = boto3.client("sqs", region_name=world.deps.settings.region)
    return sqs, sqs.get_queue_url(QueueName=world.deps.settings.billing_queue_name)["QueueUrl"]


def test_a_redriven_message_that_bills_the_contract_clears_its_failure(world, clock, monkeypatch):
    """A message moved back from the dead-letter queue is a new message: SQS counts its receives from
    1 again, and its success must still clear the failure the run page shows."""
    org = active_org(world, MS365_E3=1)
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    real = billing.period_lines
    monkeypatch.setattr(billing, "period_lines", lambda *a, **k: 1 / 0)
    run_id = start_run(world, operator, "2026-11")
    world.drain_queues()
    [failure] = world.call("GET", f"/backoffice/billing-runs/{run_id}/failures", operator).json_body["items"]
    assert failure["organization_id"] == org.id

    # The redrive: the failed message taken off the queue and sent again, as a new message.
    sqs, url = _billing_queue(world)
    world.make_visible()
    [failed] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=failed["ReceiptHandle"])
    sqs.send_message(QueueUrl=url, MessageBody=failed["Body"])
    monkeypatch.setattr(billing, "period_lines", real)
    world.drain_queues()
    assert world.call("GET", f"/backoffice/billing-runs/{run_id}/failures", operator).json_body["items"] == []
    assert world.call("GET", f"/backoffice/billing-runs/{run_id}", operator).json_body["invoices_issued"] == 1


def test_a_slow_failing_attempt_cannot_record_its_failure_after_another_attempt_billed_the_contract(
        world, clock, monkeypatch):
    """The first worker outlives the visibility timeout; SQS hands the message to a second, which bills
    the contract; the first then fails: its failure must not show on a contract that was billed."""
    org = active_org(world, MS365_E3=1)
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    real_lines, real_failure = billing.period_lines, billing.record_contract_failure
    monkeypatch.setattr(billing, "period_lines", lambda *a, **k: 1 / 0)

    def second_worker_meanwhile(deps, message, error, attempt):
        # The message, still held by this attempt, is handed to another worker, which bills it.
        monkeypatch.setattr(billing, "period_lines", real_lines)
        world.make_visible()
        world.drain_queues()
        assert world.call("GET", "/invoices", org.master).json_body["items"], "the second worker billed it"
        return real_failure(deps, message, error, attempt)

    monkeypatch.setattr(billing, "record_contract_failure", second_worker_meanwhile)
    run_id = start_run(world, operator, "2026-11")
    world.drain_queues()  # the slow attempt raises (its message goes back to the queue)
    assert world.call("GET", f"/backoffice/billing-runs/{run_id}/failures", operator).json_body["items"] == []
    progress = world.call("GET", f"/backoffice/billing-runs/{run_id}", operator).json_body
    assert progress["invoices_issued"] == 1
    # Its retry finds the contract billed: still no failure, still one invoice.
    world.make_visible()
    world.drain_queues()
    assert world.call("GET", f"/backoffice/billing-runs/{run_id}/failures", operator).json_body["items"] == []
    assert len(world.call("GET", "/invoices", org.master).json_body["items"]) == 1
