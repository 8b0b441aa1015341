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
        # The invoice's own PDF waits for its first download (issue #22): billing renders none.
        assert invoice.active_boleto is not None and invoice.nfse is not None and invoice.pdf_key is None
    assert len([m for m in world.outbox() if "Fatura nº" in m["Subject"]]) == 2


def test_the_render_observer_hears_each_pdf_of_an_invoice_once_by_name(world, clock):
    heard = []
    world.deps.on_render = lambda document, seconds: heard.append((document, seconds))
    billable_organizations(world.deps, 1)

    bill_november(world)

    assert sorted(document for document, _ in heard) == ["boleto", "nfse"]  # the invoice's: on first download
    assert all(seconds > 0 for _, seconds in heard)


def test_the_billing_bench_runs_on_a_small_world_with_its_floor_calls_and_projection(world, monkeypatch, tmp_path):
    from bench import run as bench

    monkeypatch.setattr(bench, "OUT", tmp_path)
    real = (world.deps.billing_queue, world.deps.email_queue, world.deps.bank, world.deps.nfse_emitter)
    bench.COUNTER.install()
    try:
        records = bench.billing_run(world.deps, 2)
    finally:
        bench.COUNTER.uninstall()

    figures, calls, projection = records["billing_run"], records["calls_per_invoice"], records["projection"]
    assert figures["invoices issued"] == 2 and figures["failed handler batches"] == 0
    assert figures["per invoice: PDFs rendered"] and all(0 < n <= 1 for n in figures["per invoice: PDFs rendered"].values())
    assert figures["per invoice: ms rendering PDFs"] > 0
    assert figures["per invoice: bank and NFS-e calls"] == {"bank.register": 1, "nfse_emitter.emit": 1}
    # The floor ran over the same organisations: one query, one transaction, three documents, one email each.
    assert figures["floor per invoice: AWS calls"] == {"dynamodb.Query": 1, "dynamodb.TransactWriteItems": 1,
                                                       "s3.PutObject": 3, "sesv2.SendEmail": 1}
    assert figures["floor (s)"] > 0 and figures["met"] == (figures["ratio to the floor"] <= 1.5)
    # Calls by operation, the email worker's among them; the floor's are not the run's.
    assert calls["by operation"]["sesv2.SendEmail"] == 1 and calls["by operation"]["dynamodb.TransactWriteItems"] >= 1
    assert calls["total per invoice"] == round(sum(calls["by operation"].values()), 2)
    assert set(calls["by stage"]) == {"fan-out", "billing worker", "email worker"}
    assert calls["target"] == "≤ 10" and calls["met"] == (calls["total per invoice"] <= 10)
    # The projection is computed for a 10 000-contract month, and names its sources.
    assert projection["contracts"] == 10_000 and projection["month's wall time (min)"] > 0
    # At the prod stage's send rate (never the embedded stack's unlimited one), counted in recipients.
    assert projection["SES send rate (/s)"] == 14.0 and projection["recipients per email"] == 1
    # The email phase goes at SES's pace, or slower when the worker's own time per email at the event
    # source's concurrency cannot keep that pace (a tiny N on a busy machine measures a slow worker).
    from chalicelib.jobs import email as email_job

    paced = projection["SES send rate (/s)"] / projection["recipients per email"]
    worker = email_job.MAXIMUM_CONCURRENCY / (projection["email worker: one email on Lambda (ms)"] / 1000)
    assert projection["email phase (min)"] == pytest.approx(projection["emails"] / min(paced, worker) / 60, rel=0.05)
    assert projection["slowest stage"] in ("fan-out", "billing", "email") and "met" not in projection
    for name in ("billing_run", "calls_per_invoice", "projection"):
        assert (tmp_path / f"{name}.json").exists()
    assert figures["per invoice: PDFs rendered"] == {"boleto": 1, "nfse": 1}  # the invoice's on first download
    # The bench hands the container back as it found it.
    assert (world.deps.billing_queue, world.deps.email_queue, world.deps.bank, world.deps.nfse_emitter) == real
    assert world.deps.on_render is ignore_render


def test_the_floor_refuses_to_time_reads_that_find_nothing(world, clock):
    from bench.floor import FloorMissed, io_floor

    organization_ids = billable_organizations(world.deps, 1)
    bill_november(world)

    with pytest.raises(FloorMissed):
        io_floor(world.deps, organization_ids, subscriptions_each=len(BILLABLE_SKUS) + 1, closing=sp(2026, 11, 10).date())


def test_the_projection_reads_the_concurrency_and_send_rate_it_is_given(app):
    from dataclasses import dataclass

    from bench import projection

    @dataclass
    class Settings:
        ses_max_send_rate: float = 20.0

    stages = {"billing worker": {"calls": {"dynamodb.GetItem": 2, "dynamodb.TransactWriteItems": 1},
                                 "outside_calls": {"bank.register": 1}, "pdf_ms": 0.0, "python_ms": 0.0},
              "email worker": {"calls": {"sesv2.SendEmail": 1}, "pdf_ms": 0.0, "python_ms": 0.0,
                               "emails_per_invoice": 1.0}}
    from chalicelib.settings import current

    names = {"billing worker": current().billing_queue_name, "email worker": current().email_queue_name}
    figures = projection.project(app, Settings(), stages, names, contracts=1000)

    # One invoice: 2 reads (10 ms), a transaction (20 ms), the bank (1 s); the CPU is nothing.
    assert figures["billing worker: one invoice on Lambda (ms)"] == 1040.0
    assert figures["SES send rate (/s)"] == 20.0 and figures["SES send rate from"] == "settings.ses_max_send_rate"
    assert figures["email phase (min)"] == pytest.approx(1000 / 20 / 60, rel=0.05)
    assert figures["month's wall time (min)"] == max(figures["billing phase (min)"], figures["email phase (min)"])


def test_the_projection_takes_the_event_sources_maximum_concurrency_and_otherwise_lambdas_ramp():
    from chalice import Chalice

    from bench import projection

    app = Chalice("projection")

    @app.on_sqs_message(queue="capped", maximum_concurrency=50)
    def capped(event):
        pass

    @app.on_sqs_message(queue="uncapped")
    def uncapped(event):
        pass

    assert projection.concurrency(app, "capped")[0] == 50
    assert projection.concurrency(app, "uncapped")[0] is None  # Lambda's own ramp, said so
    # 1 000 one-second invoices, 50 at a time: 20 s; on the ramp (5 at first, +5 a second) the T
    # where 5T + 2.5T² = 1 000.
    assert projection.wall_seconds(1000, 1.0, 50) == pytest.approx(20, abs=0.1)
    assert projection.wall_seconds(1000, 1.0, None) == pytest.approx(19.02, abs=0.1)
    # However many run at once, the invoice number's one item holds them to its rate.
    assert projection.wall_seconds(1000, 0.1, 1000, rate_cap=100) == pytest.approx(10, abs=0.1)


def test_the_bench_runs_moto_in_its_own_process_and_reads_both_peaks(monkeypatch, tmp_path):
    import os

    import boto3

    from bench import run as bench
    from bench.moto_process import MotoProcess

    monkeypatch.setattr(bench, "OUT", tmp_path)
    saved = dict(os.environ)
    server = MotoProcess(tmp_path / "moto.log")
    try:
        endpoint = os.environ["AWS_ENDPOINT_URL"]
        assert endpoint != saved.get("AWS_ENDPOINT_URL")  # its own moto, not this process's
        sqs = boto3.client("sqs", region_name="sa-east-1", endpoint_url=endpoint)
        sqs.create_queue(QueueName="bench-seam")
        assert any(url.endswith("/bench-seam") for url in sqs.list_queues()["QueueUrls"])

        figures = bench.memory(server, reset=bench.reset_peak_memory())

        assert figures["moto's process: peak RSS (MB)"] > 0
        assert figures["the product's process: peak RSS (MB)"] > 0
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved)
    assert server.process.poll() is not None  # stopped with the bench


def test_the_discovery_bench_queues_every_seeded_contract_once_per_pass_and_leaves_the_table_as_it_was(
        world, monkeypatch, tmp_path):
    """bench/discovery.py (issue #22 §4): contracts seeded straight into moto are found through the
    sharded closing-day index by the run and its shard workers, and removed afterwards."""
    from bench import discovery as bench_discovery
    from bench import run as bench
    from chalicelib.storage import keys

    monkeypatch.setattr(bench, "OUT", tmp_path)
    real_queue = world.deps.billing_queue

    figures = bench_discovery.discovery(world.deps, bench.AwsCallCounter(), contracts=120)

    assert figures["contracts queued (serial run, parallel run)"] == [120, 120]
    assert figures["all queued, each once"] is True and figures["met"] is True
    assert figures["shard messages (one index query each)"] == keys.CLOSING_SHARDS
    assert 0 < figures["largest partition (contracts)"] < 120
    assert (tmp_path / "discovery.json").exists()
    assert world.deps.billing_queue is real_queue
    assert all(not world.deps.contracts.billable_in_shard(shard, [bench_discovery.CLOSING_DAY])
               for shard in keys.closing_shards())


# H3 — the PDF bench (bench/pdf.py) renders the product's own documents, now and as they were.
def test_the_pdf_bench_renders_the_products_documents_and_the_baseline_beside_them(world, monkeypatch, tmp_path):
    import subprocess

    from bench import pdf as pdf_bench
    from bench import run as bench

    monkeypatch.setattr(bench, "OUT", tmp_path)
    clock = world.deps.clock

    jobs = pdf_bench.product_inputs(world.deps)

    assert sorted(jobs) == ["DANFSe", "boleto with Pix", "invoice, 40 lines", "invoice, 6 lines"]
    assert jobs["boleto with Pix"][1][0]["pix_payload"] and "<infNFSe" in jobs["DANFSe"][1][0]
    assert world.deps.clock is clock  # handed back
    before = pdf_bench.baseline_renderers(into=tmp_path / "baseline")
    in_history = subprocess.run(["git", "cat-file", "-e", f"{pdf_bench.BASE_COMMIT}^{{commit}}"],
                                cwd=pdf_bench.PROJECT_DIR, capture_output=True).returncode == 0
    assert (before is not None) == in_history  # a shallow clone measures without the old renderers
    results = pdf_bench.measure(jobs, pdf_bench.current_renderers(), before, rounds=1, warmup=0)
    for name, result in results.items():
        assert result["now (bytes)"] > 1000 and result["now (median ms)"] > 0, name
        if before:
            assert result["before (bytes)"] > 1000 and result["before (median ms)"] > 0, name


def test_the_billing_worker_calls_bench_counts_three_requests_per_invoice_on_a_small_world(world, monkeypatch,
                                                                                           tmp_path):
    from bench import calls, run as bench

    monkeypatch.setattr(bench, "OUT", tmp_path)

    figures = calls.billing_worker_calls(world.deps, 2)

    assert figures["outcomes"] == {"issued": 2}
    assert figures["DynamoDB requests per invoice (billing worker)"] == 3 and figures["met"] is True
    assert sum(figures["by operation and call site (per invoice)"].values()) == 3
    assert (tmp_path / "billing_worker_calls.json").exists()


def test_the_email_worker_bench_sends_its_batches_through_the_worker(world, monkeypatch, tmp_path):
    # Issue #22 (H2): the section reaches the worker's handler and the message builder.
    from bench import email_worker, run as bench

    monkeypatch.setattr(bench, "OUT", tmp_path)
    sent = len(world.outbox())
    bench.COUNTER.install()
    try:
        figures = email_worker.email_worker(world.deps, batches=1)
    finally:
        bench.COUNTER.uninstall()
        bench.COUNTER.reset()

    assert figures["emails sent (batches of 10)"] == 10 and len(world.outbox()) == sent + 11  # and the warm-up
    # The worker's own calls, counted: one SES send per email, the claim and the mark per batch.
    assert figures["per email: SES calls"] == 1.0
    assert 0 < figures["per email: DynamoDB calls"] <= 0.2 and figures["per email: S3 reads"] == 0
    assert figures["met"] is True
    assert (tmp_path / "email_worker.json").exists()


def test_the_email_worker_bench_is_not_met_when_its_counter_saw_no_send(world, monkeypatch, tmp_path):
    # A counter that is not installed (a second copy of bench.run under `python -m`) counts nothing:
    # zeros must not read as "met".
    from bench import email_worker, run as bench

    monkeypatch.setattr(bench, "OUT", tmp_path)

    figures = email_worker.email_worker(world.deps, batches=1)

    assert figures["per email: SES calls"] == 0 and figures["met"] is False


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


def test_the_billing_worker_s_contract_warm_up_bills_the_contract_and_loads_the_documents_libraries(world):
    import json
    from datetime import date

    from bench import cold_start

    [organization_id] = billable_organizations(world.deps, 1)
    assert cold_start.contract_event(world.deps, "2026-11-10") is None  # no run started: nothing to bill for
    billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])
    event = cold_start.contract_event(world.deps, "2026-11-10")
    [record] = event["Records"]
    assert json.loads(record["body"])["organization_id"] == organization_id

    found = cold_start.warm_up([("bill_contracts", event)], cold_start.NOW)

    assert found["answered"] == ["ok"]
    assert world.deps.invoices.invoice_for_period(organization_id, date(2026, 11, 10)) is not None
    # What billing loads beyond a shard's message: the PDFs and the NFS-e's XML.
    assert {"reportlab.pdfgen.canvas", "lxml.etree"} <= set(found["modules"])
    assert cold_start.contract_event(world.deps, "2026-11-11") is None  # nobody closes on the 11th


def test_a_floor_measured_over_a_sample_is_scaled_to_the_runs_invoices():
    from collections import Counter

    from bench.floor import FloorResult

    sample = FloorResult(invoices=2, seconds=1.0, calls=Counter({"dynamodb.Query": 2, "ses.SendRawEmail": 2}),
                         call_seconds=Counter({"dynamodb.Query": 0.5}), bank_seconds=0.2)
    scaled = sample.scaled_to(10)
    assert (scaled.invoices, scaled.seconds, scaled.bank_seconds) == (10, 5.0, 1.0)
    assert scaled.per_invoice_calls() == sample.per_invoice_calls() == {"dynamodb.Query": 1.0, "ses.SendRawEmail": 1.0}
    assert scaled.call_seconds["dynamodb.Query"] == 2.5
