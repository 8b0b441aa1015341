"""The morning watch over the billing runs (jobs/watch.py): a run with contracts still without an
outcome is counted into BillingRunsUnfinished and reported to the operators once a day; a clean
morning counts 0 and sends nothing."""
import pytest

from chalicelib.domain.clock import FixedClock
from chalicelib.observability import Metric
from chalicelib.services import billing, billing_watch
from tests.support import body_text, sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


@pytest.fixture
def counted(monkeypatch):
    """What the watch adds to its metric, in order (the EMF lines themselves are Powertools')."""
    values = []

    def count(name, value=1):
        assert name == Metric.BILLING_RUNS_UNFINISHED
        values.append(value)

    monkeypatch.setattr(billing_watch, "count", count)
    return values


def invoke(world, name):
    """A scheduled function, as EventBridge calls it."""
    world.client.lambda_.invoke(name, world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))


def fire(world, name):
    """The scheduled function, then every queue drained (the workers it set going, the emails)."""
    invoke(world, name)
    world.drain_queues()


def watch_emails(world):
    return [m for m in world.outbox() if m["Subject"].startswith("Faturamento não concluído")]


def two_customers_closing_on_the_tenth(world):
    orgs = []
    for _ in range(2):
        org = world.active_organization(10)
        world.subscription(org, "MS365-E3", 3)
        orgs.append(org)
    return orgs


def test_a_run_left_unfinished_is_reported_each_morning_once_until_it_finishes(world, clock, counted, monkeypatch):
    stuck, billed = two_customers_closing_on_the_tenth(world)
    # One contract's worker keeps failing: its message stays on the queue (then the DLQ).
    real = billing.bill_contract

    def failing_for_one(deps, message):
        if message["organization_id"] == stuck.id:
            raise RuntimeError("NFS-e emitter down")
        return real(deps, message)

    monkeypatch.setattr(billing, "bill_contract", failing_for_one)
    clock.now = sp(2026, 11, 11, 0)  # the daily run, just after midnight: closing day 10
    fire(world, "start_billing_run")
    assert len(world.call("GET", "/invoices", billed.master).json_body["items"]) == 1
    assert world.call("GET", "/invoices", stuck.master).json_body["items"] == []

    clock.now = sp(2026, 11, 11, 9)  # the watch, 09:00 in São Paulo
    fire(world, "watch_billing_runs")
    assert counted == [1]
    [report] = watch_emails(world)
    assert report["To"] == world.deps.settings.operators_email
    assert report["Subject"] == "Faturamento não concluído — período 2026-11, iniciado em 11/11/2026 00:00"
    text = body_text(report)
    assert "1 de 2 contrato(s)" in text and "faturas emitidas: 1" in text
    # Nothing of the customers (names, contacts) in it: the run's counts and where to look.
    assert stuck.contract.billing_contacts[0] not in text and "GET /backoffice/billing-runs/" in text

    # A second firing the same morning (EventBridge delivers at least once) sends nothing new.
    fire(world, "watch_billing_runs")
    assert counted == [1, 1] and len(watch_emails(world)) == 1

    # The next morning it is still stuck: reported again.
    clock.now = sp(2026, 11, 12, 9)
    fire(world, "watch_billing_runs")
    assert counted == [1, 1, 1] and len(watch_emails(world)) == 2

    # Fixed and redelivered: the run finishes, and the morning after is clean.
    monkeypatch.setattr(billing, "bill_contract", real)
    world.make_visible()
    world.drain_queues()
    assert len(world.call("GET", "/invoices", stuck.master).json_body["items"]) == 1
    clock.now = sp(2026, 11, 13, 9)
    fire(world, "watch_billing_runs")
    assert counted == [1, 1, 1, 0] and len(watch_emails(world)) == 2


def test_a_clean_morning_counts_zero_and_emails_nobody(world, clock, counted):
    two_customers_closing_on_the_tenth(world)
    clock.now = sp(2026, 11, 11, 0)
    fire(world, "start_billing_run")
    clock.now = sp(2026, 11, 11, 9)
    fire(world, "watch_billing_runs")
    # Zero is counted, not left out: the alarm reads a missing value as a watch that stopped.
    assert counted == [0]
    assert watch_emails(world) == []


def test_a_run_an_operator_started_minutes_before_is_still_under_way(world, clock, counted):
    two_customers_closing_on_the_tenth(world)
    clock.now = sp(2026, 11, 11, 8)
    operator = world.operator()
    clock.now = clock.now.replace(minute=40)  # 08:40, twenty minutes before the watch
    assert world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"}).status_code == 202
    clock.now = sp(2026, 11, 11, 9)
    invoke(world, "watch_billing_runs")  # its contracts are queued, none billed yet
    assert counted == [0]
    # Still not finished the next morning: stuck, and reported.
    clock.now = sp(2026, 11, 12, 9)
    fire(world, "watch_billing_runs")
    assert counted == [0, 1] and len(watch_emails(world)) == 1
