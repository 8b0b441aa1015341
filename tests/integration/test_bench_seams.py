"""The seams `make bench` measures through (bench/run.py), so that a change that keeps the tests
green keeps the bench working: the render observer, the world builder the billing run bills, and
the billing run itself on a small world."""
import pytest

from chalicelib.bootstrap import ignore_render
from chalicelib.domain.audit import SYSTEM
from chalicelib.domain.clock import FixedClock
from chalicelib.services import billing
from tests.support import BILLABLE_SKUS, billable_organizations, sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 11, 11, 9))  # the day after the 10 Nov closing
    return world.deps.clock


def bill_november(world):
    billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])
    world.drain_queues()


def test_the_world_builder_makes_contracts_that_billing_invoices_with_their_documents(world, clock):
    organization_ids = billable_organizations(world.deps, 2)

    bill_november(world)

    for organization_id in organization_ids:
        invoice = world.deps.invoices.invoice_for_period(organization_id, sp(2026, 11, 10).date())
        assert invoice is not None
        # Each subscription went from 4 to 5 seats on 25 Oct: two lines each in the 11 Oct – 10 Nov period.
        assert sorted((line.sku, line.quantity) for line in invoice.lines) == sorted(
            (sku, quantity) for sku in BILLABLE_SKUS for quantity in (4, 5))
        assert invoice.active_boleto is not None and invoice.nfse is not None and invoice.pdf_key
    assert len([m for m in world.outbox() if "Fatura nº" in m["Subject"]]) == 2


def test_the_render_observer_hears_each_pdf_of_an_invoice_once_by_name(world, clock):
    heard = []
    world.deps.on_render = lambda document, seconds: heard.append((document, seconds))
    billable_organizations(world.deps, 1)

    bill_november(world)

    assert sorted(document for document, _ in heard) == ["boleto", "invoice", "nfse"]
    assert all(seconds > 0 for _, seconds in heard)


def test_the_billing_bench_runs_on_a_small_world_and_reports_pdf_time(world, monkeypatch, tmp_path):
    from bench import run as bench

    monkeypatch.setattr(bench, "OUT", tmp_path)
    real_queues = (world.deps.billing_queue, world.deps.email_queue)

    figures = bench.billing_run(world.deps, 2)

    assert figures["invoices issued"] == 2 and figures["failed handler batches"] == 0
    assert figures["per invoice: PDFs rendered"] == {"boleto": 1, "invoice": 1, "nfse": 1}
    assert figures["per invoice: ms rendering 3 PDFs"] > 0
    assert "per invoice: AWS calls" in figures and figures["I/O floor (s)"] >= 0
    assert (tmp_path / "billing_run.json").exists()
    # The bench hands the container back as it found it.
    assert (world.deps.billing_queue, world.deps.email_queue) == real_queues
    assert world.deps.on_render is ignore_render


# --- cold start per function (bench/cold_start.py, issue #22 §3) ----------------------------------------

def test_the_cold_start_bench_knows_every_event_function_and_the_framework_as_observability_sets_it(app):
    import inspect

    from chalice.app import ScheduledEventConfig, SNSEventConfig, SQSEventConfig

    from bench import cold_start
    from chalicelib import observability

    # Every function Chalice deploys for an event has its first event in the bench: a new schedule
    # or worker is not left out of the figures unnoticed.
    schedules = {c.name for c in app.event_sources if isinstance(c, ScheduledEventConfig)}
    assert schedules == set(cold_start.OTHER_SCHEDULES) | {"start_billing_run"}
    workers = {c.name for c in app.event_sources if isinstance(c, (SQSEventConfig, SNSEventConfig))}
    assert workers == {"bill_contracts", "deliver_emails", "provision_changes", "deliver_webhooks", "handle_mail_event"}
    # The bare frameworks' Tracer patches what the product's does.
    assert f"patch_modules={cold_start.TRACER_PATCHES}" in inspect.getsource(observability)
    assert f"patch_modules={cold_start.TRACER_PATCHES}" in cold_start.BARE_FRAMEWORKS


def test_a_cold_start_warm_up_runs_a_function_s_first_event_and_names_what_it_imported(world):
    from bench import cold_start

    found = cold_start.warm_up([("start_billing_run", cold_start.scheduled_event())], cold_start.NOW)

    assert found["answered"] == ["ok"]
    # The container Lambda builds on the first event: the storage layer and PynamoDB come with it.
    assert "chalicelib.storage.models" in found["modules"] and "pynamodb.models" in found["modules"]
    assert "app" not in found["modules"]  # imported before the snapshot: the event's own imports only
