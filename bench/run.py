"""`make bench`: figures measured in one run, each with the ratio to a baseline measured in the same
run, printed and written to var/bench/*.json. Not part of `make test` (timings are not assertions).

  cold start      per Lambda function: import app + its first events' imports / the bare frameworks
                  (bench/cold_start.py)                                                 (API ≤ 1.3)
  package         size of the Lambda zip from `chalice package`                         (target ≤ 10 MB)
  requests/route  DynamoDB requests per route, counted with a botocore event hook       (panel, invoices,
                                                                                         tickets ≤ 2)
  handler         requests/s through chalice.test.Client, GET /subscriptions / a trivial route
  billing         invoices per second for N contracts × 3 subscriptions (one mid-period change each),
                  and the ratio to the honest floor: what one complete invoice needs (bench/floor.py),
                  issued raw with boto3 against the same moto and the same simulators   (target ≤ 1.5)
  calls           AWS calls per invoice by operation, every stage of the run counted   (target ≤ 10)
  projection      the wall time of a 10 000-contract month on AWS (bench/projection.py: the measured
                  calls and CPU per invoice, published latencies, the workers' concurrency, SES's rate)
  memory          peak RSS of the bench's process (the product) and, apart, of moto's (bench/moto_process.py)

BENCH_CONTRACTS (default 300; the issue's figure is 10 000) sets N. The floor is measured over the
first BENCH_FLOOR_CONTRACTS of them (default 2 000) and scaled to N: each invoice's floor is the same
work in the same table, and over all 10 000 it would add twenty minutes to the bench.

The billing run reaches the product only through seams that tests keep working
(tests/integration/test_bench_seams.py runs it small): the world from `tests.support.billable_organizations`;
PDF time from the container's render observer (`Container.on_render`); queued messages from the
container's queue adapters, swapped for tapped ones; the floor's keys from `chalicelib.storage.keys`.
The product's logs go to var/bench/product.log (WARNING and above); every figure with a target
carries `target` and `met`, and the run ends with a table of them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from contextlib import contextmanager
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
OUT = PROJECT_DIR / "var" / "bench"
sys.path.insert(0, str(PROJECT_DIR))


# (section, figure, target, met, measured) of every figure with a target, for the closing table.
SUMMARY: list = []


def _targets(name: str, figures: dict):
    """The figures with a target: the section's own, and any nested dict carrying one (named by
    its keys: "cold_start: api")."""
    if "target" in figures and "met" in figures:
        yield name, figures.get("measured", figures.get("ratio", "")), figures["target"], figures["met"]
    for key, value in figures.items():
        if isinstance(value, dict):
            yield from _targets(f"{name}: {key}", value)


def record(name: str, figures: dict) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    SUMMARY[:] = [row for row in SUMMARY if not row[0].split(":")[0] == name] + list(_targets(name, figures))
    print(f"\n== {name}")
    for key, value in figures.items():
        if isinstance(value, dict) and "dynamodb_requests" in value:
            value = f"{value['dynamodb_requests']:>2} DynamoDB request(s)   (HTTP {value['status']})"
        elif isinstance(value, dict) and (len(value) > 3 or any(isinstance(v, dict) for v in value.values())):
            print(f"  {key}")
            for part, amount in value.items():
                if isinstance(amount, dict):
                    print(f"      {part}")
                    for inner, figure in amount.items():
                        print(f"          {inner:<48} {figure}")
                else:
                    print(f"      {part:<52} {amount}")
            continue
        print(f"  {key:<56} {value}")
    return figures


def print_summary() -> None:
    print("\n== targets")
    for section, measured, target, met in SUMMARY:
        print(f"  {'met    ' if met else 'NOT met'}  {section:<48} {str(measured):>10}   target {target}")
    print(f"  {sum(1 for row in SUMMARY if row[3])} of {len(SUMMARY)} targets met")


def package_size() -> dict:
    from tests.deploy.test_packaging import project_copy

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "project").mkdir()
        source = project_copy(Path(tmp) / "project")
        out = Path(tmp) / "out"
        subprocess.run([str(Path(sys.executable).parent / "chalice"), "package", "--stage", "prod",
                        "--merge-template", "infra/resources.json", str(out)], cwd=source, check=True,
                       env={**os.environ, "AWS_DEFAULT_REGION": "sa-east-1"}, capture_output=True)
        raw_size = (out / "deployment.zip").stat().st_size
        from infra.slim_package import slim

        slim(str(out / "deployment.zip"))  # as `make package` ships it
        size = (out / "deployment.zip").stat().st_size
        import zipfile

        by_top, bytecode = Counter(), 0
        with zipfile.ZipFile(out / "deployment.zip") as archive:
            for info in archive.infolist():
                by_top[info.filename.split("/")[0]] += info.compress_size
                bytecode += info.compress_size if info.filename.endswith(".pyc") else 0
    return record("package", {"chalice package zip (MB)": round(raw_size / 1e6, 2),
                              "shipped zip, runtime-provided packages left out (MB)": round(size / 1e6, 2),
                              # Lambda's /var/task is read-only: without it each cold start compiles every
                              # module it imports (infra/slim_package.py).
                              "of which each module's bytecode (MB)": round(bytecode / 1e6, 2),
                              "target": "≤ 10 MB",
                              "met": size <= 10e6,
                              "largest parts (MB, compressed)": {k: round(v / 1e6, 2) for k, v in by_top.most_common(6)}})


class AwsCallCounter:
    """Counts AWS requests and the time spent in them, at botocore's one door for every call
    (`BaseClient._make_api_call`): boto3's clients and PynamoDB's alike, made before or after
    `install()`. `calls` and `seconds` are keyed "service.Operation"."""

    def __init__(self):
        import threading

        self.calls, self.seconds = Counter(), Counter()
        self._original = None
        self._lock = threading.Lock()

    def install(self) -> "AwsCallCounter":
        from botocore.client import BaseClient

        if self._original is not None:
            return self
        original = self._original = BaseClient._make_api_call
        counter = self

        def _make_api_call(client, operation_name, api_params):
            if getattr(client, "_bench_uncounted", False):
                return original(client, operation_name, api_params)
            started = time.perf_counter()
            try:
                return original(client, operation_name, api_params)
            finally:
                key = f"{client.meta.service_model.service_name}.{operation_name}"
                with counter._lock:  # the shard fan-out sends from threads
                    counter.calls[key] += 1
                    counter.seconds[key] += time.perf_counter() - started

        BaseClient._make_api_call = _make_api_call
        return self

    def uninstall(self) -> None:
        from botocore.client import BaseClient

        if self._original is not None:
            BaseClient._make_api_call, self._original = self._original, None

    def uncounted(self, client):
        """`client`, its calls not counted: the bench's own (emptying moto's queues) are not the product's."""
        client._bench_uncounted = True
        return client

    def dynamodb(self) -> int:
        return sum(n for key, n in self.calls.items() if key.startswith("dynamodb."))

    def reset(self) -> None:
        self.calls.clear()
        self.seconds.clear()

    def by_service(self) -> tuple:
        calls, seconds = Counter(), Counter()
        for key, n in self.calls.items():
            calls[key.split(".")[0]] += n
            seconds[key.split(".")[0]] += self.seconds[key]
        return calls, seconds


COUNTER = AwsCallCounter()


def _world():
    """moto in its own process (bench.moto_process.MotoProcess: `stop()` it) and a seeded world on
    it, as the tests build it: (the moto process, the container, the demo accounts)."""
    from bench.moto_process import MotoProcess
    from local.run import provision_and_seed

    server = MotoProcess(OUT / "moto.log")
    try:
        os.environ["MAIL_COPY_DIR"] = ""
        deps, accounts = provision_and_seed(os.environ["AWS_ENDPOINT_URL"])
    except BaseException:
        server.stop()
        raise
    return server, deps, accounts


# The phase each operation runs in, so that reads see the objects and destructive calls come last.
def _phase(path: str, method: str) -> int:
    if path == "/contract/terminate":
        return 3
    return {"GET": 0, "DELETE": 2}.get(method, 1)


def requests_per_route(deps) -> None:
    """Every operation in /openapi.json once, as the profile that may call it, with real objects:
    how many DynamoDB requests it makes."""
    import re

    from chalice.test import Client

    from app import app
    from tests.openapi_requests import body_for, fill, operations, route_objects
    from tests.support import PASSWORD, World

    with Client(app) as client:
        world = World(deps, client, app)
        org, operator = world.active_organization(), world.operator()
        objects = route_objects(world, org)
        overrides = {("/auth/login", "POST"): {"email": org.master.user.email, "password": PASSWORD}}
        rows = {}
        for path, method, operation in sorted(operations(world), key=lambda op: _phase(op[0], op[1])):
            account = None if operation.get("security") == [] else \
                operator if path.startswith("/backoffice/") else org.master
            target = fill(path, {name: objects[name] for name in re.findall(r"{(\w+)}", path)}, operation)
            body = overrides.get((path, method), body_for(operation))
            before = COUNTER.dynamodb()
            response = world.call(method, target, account, body)
            rows[f"{method} {path}"] = {"status": response.status_code, "dynamodb_requests": COUNTER.dynamodb() - before}
    watched = ("GET /subscriptions", "GET /invoices", "GET /tickets")
    record("requests_per_route", {**rows, "target": "licence panel, invoice list, ticket list ≤ 2",
                                  "met": all(rows[r]["dynamodb_requests"] <= 2 for r in watched)})


def handler_overhead(deps, accounts) -> None:
    from chalice.test import Client

    from app import app

    from chalicelib.adapters.identity import MfaRequired
    from tests.support import totp_code

    billed = next(a for a in accounts if a.email == "master@oficinadigital.example")
    tokens = deps.identity.login(billed.email, billed.password)
    if isinstance(tokens, MfaRequired):  # a Master is enrolled in MFA: the code of its (demo) secret
        tokens = deps.identity.answer_mfa(billed.email, tokens.session, totp_code(billed.mfa_secret))
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    with Client(app) as client:
        def rate(path: str, seconds: float = 3.0) -> float:
            client.http.get(path, headers=headers)  # warm caches (JWKS, clients)
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                client.http.get(path, headers=headers)
                count += 1
            return count / (time.perf_counter() - start)

        panel, trivial = rate("/subscriptions"), rate("/support/contacts")
    record("handler_overhead", {"GET /subscriptions (req/s)": round(panel, 1),
                                "GET /support/contacts (req/s)": round(trivial, 1),
                                "ratio (trivial / panel)": round(trivial / panel, 2),
                                "note": "the panel's time is its 2 DynamoDB requests to moto over HTTP"})


class RenderTimer:
    """Seconds spent rendering PDFs, per document, as the documents service reports them to the
    container's render observer (`Container.on_render`)."""

    def __init__(self, deps):
        self.seconds, self.count = Counter(), Counter()
        self._deps, self._previous = deps, deps.on_render
        deps.on_render = self

    def __call__(self, document: str, seconds: float) -> None:
        self.seconds[document] += seconds
        self.count[document] += 1

    def close(self) -> None:
        self._deps.on_render = self._previous


class _TappedQueue:
    """A queue adapter that sends as the real one does and also keeps each message for the
    direct event source."""

    def __init__(self, queue, pending: deque, purge):
        self._queue, self._pending, self._purge = queue, pending, purge
        self.queue_name = queue.queue_name

    def send(self, message, delay_seconds=0):
        message_id = self._queue.send(message, delay_seconds)
        self._pending.append(message)
        return message_id

    def send_batch(self, messages, correlation_ids=None):
        # The same SendMessageBatch calls, a hundred messages at a time, so that moto's copies can
        # be dropped as they go: moto recounts a queue's messages on every send.
        ids = correlation_ids if correlation_ids is not None else [None] * len(messages)
        for start in range(0, len(messages), 100):
            self._queue.send_batch(messages[start:start + 100], ids[start:start + 100])
            self._pending.extend(messages[start:start + 100])
            self._purge()

    def change_visibility(self, receipt_handle, seconds):
        self._queue.change_visibility(receipt_handle, seconds)


class OutsideCalls:
    """The bank's and the NFS-e emitter's calls during the run, counted and timed: on AWS they are
    the bank's and the Sefin's latency, not our CPU (the simulators run in this process). Swapped
    into the container as the queues are, and handed back by `close()`."""

    WATCHED = {"bank": ("register", "cancel", "query"), "nfse_emitter": ("emit", "cancel")}

    def __init__(self, deps):
        self._deps, self._originals = deps, {name: getattr(deps, name) for name in self.WATCHED}
        self.calls, self.seconds = Counter(), Counter()
        for name, adapter in self._originals.items():
            setattr(deps, name, self._proxy(name, adapter))

    def _proxy(self, name: str, adapter):
        outside = self

        class Timed:
            def __getattr__(self, attribute):
                found = getattr(adapter, attribute)
                if attribute not in outside.WATCHED[name]:
                    return found

                def timed(*args, **kwargs):
                    started = time.perf_counter()
                    try:
                        return found(*args, **kwargs)
                    finally:
                        outside.calls[f"{name}.{attribute}"] += 1
                        outside.seconds[f"{name}.{attribute}"] += time.perf_counter() - started
                return timed
        return Timed()

    def close(self) -> None:
        for name, adapter in self._originals.items():
            setattr(self._deps, name, adapter)


class Stages:
    """What each stage of the billing run costs, in the run itself: the AWS calls (by operation)
    and their seconds, the PDF seconds and the wall seconds of the code run under `of(stage)`."""

    def __init__(self, counter: "AwsCallCounter", renders: "RenderTimer", outside: "OutsideCalls"):
        self._counter, self._renders, self._outside = counter, renders, outside
        self.calls, self.seconds = {}, {}
        self.wall, self.pdf = Counter(), Counter()
        self.outside_calls, self.outside_seconds = {}, {}
        self.overhead = lambda: 0.0  # the bench's own seconds inside a stage (DirectEventSource's purges)

    @contextmanager
    def of(self, stage: str):
        calls, seconds = Counter(self._counter.calls), Counter(self._counter.seconds)
        outside_calls, outside_seconds = Counter(self._outside.calls), Counter(self._outside.seconds)
        pdf, started, overhead = sum(self._renders.seconds.values()), time.perf_counter(), self.overhead()
        try:
            yield
        finally:
            self.wall[stage] += time.perf_counter() - started - (self.overhead() - overhead)
            self.pdf[stage] += sum(self._renders.seconds.values()) - pdf
            self.calls.setdefault(stage, Counter()).update(Counter(self._counter.calls) - calls)
            self.seconds.setdefault(stage, Counter()).update(Counter(self._counter.seconds) - seconds)
            self.outside_calls.setdefault(stage, Counter()).update(Counter(self._outside.calls) - outside_calls)
            self.outside_seconds.setdefault(stage, Counter()).update(Counter(self._outside.seconds) - outside_seconds)

    def per_invoice(self, stage: str, invoices: int) -> dict:
        """The stage's AWS calls by operation, its bank and NFS-e calls, its PDF ms and other CPU ms
        (its wall time less its calls, the simulators' time and the PDFs), per invoice."""
        calls, seconds = self.calls.get(stage, Counter()), self.seconds.get(stage, Counter())
        outside = self.outside_seconds.get(stage, Counter())
        python = self.wall[stage] - sum(seconds.values()) - sum(outside.values()) - self.pdf[stage]
        return {"calls": {op: n / invoices for op, n in sorted(calls.items())},
                "outside_calls": {op: n / invoices for op, n in sorted(self.outside_calls.get(stage, Counter()).items())},
                "pdf_ms": 1000 * self.pdf[stage] / invoices, "python_ms": 1000 * max(python, 0.0) / invoices,
                "aws_ms": 1000 * sum(seconds.values()) / invoices,
                "outside_ms": 1000 * sum(outside.values()) / invoices}


class DirectEventSource:
    """Lambda's SQS event source, in-process, for the billing run. What our code sends to a queue
    still goes to moto (a real, counted SendMessage), and is also handed to the queue's handler as
    Lambda would, in batches of the handler's size. Receiving and deleting are Lambda's calls, not
    our functions', and moto's ReceiveMessage and DeleteMessage scan the whole queue: with 10 000
    contract messages queued at once, each took over a second. Since nothing receives from moto's
    queues here, they are emptied as messages go (PurgeQueue, not counted as the product's: moto
    may run in another process), as moto's SendMessage recounts the whole queue too.

    With `stages` (a `Stages`), each handler's work is accounted to its stage ("billing worker",
    "email worker", or the queue's name)."""

    QUEUES = ("billing_queue", "email_queue")  # the container's queues the billing run sends to
    STAGE_NAMES = {"billing_queue": "billing worker", "email_queue": "email worker"}

    def __init__(self, app, deps, stages: "Stages" = None):
        from local.event_pump import sqs_subscriptions

        self._handlers = sqs_subscriptions(app)
        self._region = deps.settings.region
        self._pending = {name: deque() for name in self._handlers}
        self._deps = deps
        self._queues = [getattr(deps, name) for name in self.QUEUES]
        self._stage_of = {queue.queue_name: self.STAGE_NAMES[name] for name, queue in zip(self.QUEUES, self._queues)}
        self._stages = stages
        # The purging client and the queues' URLs made now, not in the run's time.
        import boto3

        self._sqs = COUNTER.uncounted(boto3.client("sqs", region_name=self._region))
        self._urls = {queue.queue_name: self._sqs.get_queue_url(QueueName=queue.queue_name)["QueueUrl"]
                      for queue in self._queues}
        self.failed_batches, self.first_failure = 0, None
        self.purge_seconds = 0.0  # the bench's, not the product's: left out of the run's time
        if stages is not None:
            stages.overhead = lambda: self.purge_seconds
        # Swapped in the composition root, as a test overrides an adapter: the services send
        # through the container's queues.
        for name, queue in zip(self.QUEUES, self._queues):
            setattr(deps, name, _TappedQueue(queue, self._pending[queue.queue_name], self._purge))

    def stage_name(self, queue_name: str) -> str:
        return self._stage_of.get(queue_name, queue_name)

    def drain(self) -> int:
        import hashlib
        from contextlib import nullcontext

        from local.event_pump import LambdaContext, sqs_event

        delivered = 0
        while any(self._pending.values()):
            for name, pending in self._pending.items():
                handler, batch_size = self._handlers[name]
                # One batch per queue per pass, as Lambda's pollers take them side by side: the
                # emails go out while the invoices are being issued, and never pile up here (their
                # attachments would weigh on the product's memory figure). A batch goes out full
                # while other queues still have work (the email event source's batching window
                # fills its batches during a run), and whatever is left once they are quiet.
                others_busy = any(other for other_name, other in self._pending.items() if other_name != name)
                if pending and (len(pending) >= batch_size or not others_busy):
                    bodies = [json.dumps(pending.popleft(), sort_keys=True) for _ in range(min(batch_size, len(pending)))]
                    messages = [{"MessageId": f"direct-{delivered + i}", "ReceiptHandle": f"direct-{delivered + i}",
                                 "Body": body, "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
                                 "Attributes": {"ApproximateReceiveCount": "1"}} for i, body in enumerate(bodies)]
                    accounted = self._stages.of(self.stage_name(name)) if self._stages is not None else nullcontext()
                    try:
                        with accounted:
                            handler(sqs_event(name, self._region, messages), LambdaContext(name))
                    except Exception as failure:  # noqa: BLE001 - reported: a bench run has none
                        self.failed_batches += 1
                        self.first_failure = self.first_failure or f"{name}: {type(failure).__name__}: {failure}"[:300]
                    delivered += len(bodies)
                    if delivered % 200 < len(bodies):
                        self._purge()
        return delivered

    def _purge(self) -> None:
        """Empty moto's copies of the queues (PurgeQueue, uncounted; bench.moto_process lets moto
        purge more than once a minute, and a purge moto refuses only leaves the messages there)."""
        from botocore.exceptions import ClientError

        started = time.perf_counter()
        for queue in self._queues:
            try:
                self._sqs.purge_queue(QueueUrl=self._urls[queue.queue_name])
            except ClientError:
                pass
        self.purge_seconds += time.perf_counter() - started

    def close(self) -> None:
        for name, queue in zip(self.QUEUES, self._queues):
            setattr(self._deps, name, queue)


def _difference(elapsed: float, floor, calls: Counter, seconds: Counter, pdf_s: float, invoices: int) -> dict:
    """What the billing run's time per invoice has beyond the floor's: the PDFs, the calls it makes
    beyond the floor's (each at its measured mean), and the rest (our Python)."""
    extra, extra_ms = {}, 0.0
    for op in sorted(set(calls) | set(floor.calls)):
        more = (calls[op] - floor.calls[op]) / invoices
        if abs(more) < 0.005:
            continue
        mean = seconds[op] / calls[op] if calls[op] else floor.call_seconds[op] / floor.calls[op]
        extra[op] = f"{more:+.2f} × {1000 * mean:.2f} ms = {1000 * more * mean:+.1f} ms"
        extra_ms += 1000 * more * mean
    total = 1000 * (elapsed - floor.seconds) / invoices
    pdf_ms = 1000 * pdf_s / invoices
    return {"total (ms)": round(total, 1), "PDF rendering (ms)": round(pdf_ms, 1),
            "calls beyond the floor's (ms)": round(extra_ms, 1), "those calls": extra,
            "our Python and the rest (ms)": round(total - pdf_ms - extra_ms, 1)}


def billing_run(deps, contracts: int) -> dict:
    """The billing run over `contracts` new contracts and its floor; records billing_run,
    calls_per_invoice and projection, and answers them by name."""
    from datetime import date, datetime, timezone

    from app import app
    from bench.floor import io_floor
    from bench.projection import project
    from chalicelib.domain.audit import SYSTEM
    from chalicelib.domain.clock import FixedClock, SAO_PAULO
    from chalicelib.services import billing
    from tests.support import BILLABLE_SKUS, billable_organizations

    deps.clock = FixedClock(datetime(2026, 11, 11, 12, tzinfo=SAO_PAULO).astimezone(timezone.utc))
    setup_start = time.perf_counter()
    organization_ids = billable_organizations(deps, contracts, closing_day=10, skus=BILLABLE_SKUS)
    # One contract closing on the 9th billed first, untimed: every import, client and cache the
    # run needs is made, as a warm Lambda has them (the cold start is measured on its own).
    billable_organizations(deps, 1, closing_day=9, skus=BILLABLE_SKUS)
    warm_up = DirectEventSource(app, deps)
    billing.start_run(deps, SYSTEM, period="2026-11", closing_days=[9])
    warm_up.drain()
    warm_up.close()
    setup = time.perf_counter() - setup_start
    pdfs = RenderTimer(deps)
    outside = OutsideCalls(deps)
    stages = Stages(COUNTER, pdfs, outside)
    events = DirectEventSource(app, deps, stages)
    queues = {"billing worker": events._queues[0].queue_name, "email worker": events._queues[1].queue_name}
    # SES's send rate (settings.ses_max_send_rate, where the product has it) is lifted for the run:
    # the email worker's pacing is a wait, not work, and the projection accounts for it apart.
    settings = deps.settings
    if getattr(settings, "ses_max_send_rate", None):
        from dataclasses import replace

        deps.settings = replace(settings, ses_max_send_rate=1_000_000)
    try:
        COUNTER.reset()  # the run's calls only: not the setup's, not the floor's
        start = time.perf_counter()
        with stages.of("fan-out"):
            run_id = billing.start_run(deps, SYSTEM, period="2026-11", closing_days=[10])
        events.drain()
        elapsed = time.perf_counter() - start - events.purge_seconds
        calls, seconds = Counter(COUNTER.calls), Counter(COUNTER.seconds)
    finally:  # the container handed back as it was found
        deps.settings = settings
        pdfs.close()
        outside.close()
        events.close()
    progress = billing.run_progress(deps, run_id)
    # The floor over the first BENCH_FLOOR_CONTRACTS of the run's contracts (default 2 000; all of
    # them below that), scaled to N: each invoice's floor is the same work, in the same table.
    floor_ids = organization_ids[:int(os.environ.get("BENCH_FLOOR_CONTRACTS", "2000"))]
    floor = io_floor(deps, floor_ids, len(BILLABLE_SKUS), closing=date(2026, 11, 10),
                     counter=COUNTER).scaled_to(contracts)
    n = contracts
    per_invoice_ms, floor_ms = 1000 * elapsed / n, 1000 * floor.seconds / n
    pdf_s = sum(pdfs.seconds.values())
    aws_ms = 1000 * sum(seconds.values()) / n
    ratio = round(elapsed / floor.seconds, 2)  # judged as printed: a 1.503 shown as 1.5 is not "NOT met"
    by_stage = {stage: stages.per_invoice(stage, n) for stage in stages.wall}
    billing_figures = record("billing_run", {
        "contracts": n, "invoices issued": progress["invoices_issued"],
        "setup of the contracts and a warm-up contract's run (s)": round(setup, 1), "seconds": round(elapsed, 2),
        "the bench's purges of moto's queues, left out (s)": round(events.purge_seconds, 2),
        "invoices per second": round(n / elapsed, 2), "failed handler batches": events.failed_batches,
        "SES send rate during the run": "lifted (the projection paces the emails)"
        if getattr(settings, "ses_max_send_rate", None) else "no such setting",
        **({"first failure": events.first_failure} if events.first_failure else {}),
        "floor measured over (contracts, scaled to N)": len(floor_ids),
        "floor (s)": round(floor.seconds, 2), "ratio to the floor": ratio, "measured": ratio,
        # A run with a failed batch or an invoice missing made fewer calls and took less time: not met.
        "target": "≤ 1.5", "met": ratio <= 1.5 and events.failed_batches == 0 and progress["invoices_issued"] == n,
        "per invoice (ms)": round(per_invoice_ms, 1),
        "per invoice: ms in AWS calls": round(aws_ms, 1),
        "per invoice: PDFs rendered": {document: round(count / n, 2) for document, count in sorted(pdfs.count.items())},
        "per invoice: ms rendering PDFs": round(1000 * pdf_s / n, 1),
        "ms per rendering, by document": {document: round(1000 * s / max(pdfs.count[document], 1), 1)
                                                   for document, s in sorted(pdfs.seconds.items())},
        "per invoice: ms in our Python and the rest": round(per_invoice_ms - aws_ms - 1000 * pdf_s / n, 1),
        "per invoice, by stage (ms: AWS calls / bank+NFS-e simulators / PDFs / the rest)": {
            stage: f"{f['aws_ms']:.1f} / {f['outside_ms']:.1f} / {f['pdf_ms']:.1f} / {f['python_ms']:.1f}"
            for stage, f in by_stage.items()},
        "per invoice: bank and NFS-e calls": {op: round(c / n, 2) for op, c in sorted(outside.calls.items())},
        "floor per invoice (ms)": round(floor_ms, 1),
        "floor per invoice: AWS calls": floor.per_invoice_calls(),
        "floor per invoice: ms in AWS calls / bank / NFS-e (DPS, signature, emitter) / MIME": (
            f"{1000 * sum(floor.call_seconds.values()) / n:.1f} / {1000 * floor.bank_seconds / n:.1f} / "
            f"{1000 * floor.nfse_seconds / n:.1f} / {1000 * floor.mime_seconds / n:.1f}"),
        "beyond the floor, per invoice": _difference(elapsed, floor, calls, seconds, pdf_s, n),
        "note": "the run: the fan-out, then each contract's invoice issued, its documents made (bank and NFS-e "
                "simulators, PDFs, S3) and its email sent by the email worker. Our SQS sends are real; deliveries to "
                "the handlers are direct, as Lambda's event source makes them. The floor: bench/floor.py"})
    total = sum(calls.values()) / n
    calls_figures = record("calls_per_invoice", {
        "contracts": n,
        "by operation": {op: round(count / n, 2) for op, count in sorted(calls.items())},
        "by stage": {stage: round(sum(f["calls"].values()), 2) for stage, f in by_stage.items()},
        "mean ms per call here": {op: round(1000 * seconds[op] / count, 2) for op, count in sorted(calls.items())},
        "total per invoice": round(total, 2), "measured": round(total, 2),
        "target": "≤ 10", "met": round(total, 2) <= 10 and events.failed_batches == 0 and progress["invoices_issued"] == n,
        "floor's total": round(sum(floor.calls.values()) / n, 2),
        "note": "every AWS call of the run (fan-out, billing worker, email worker) over the invoices; the setup's "
                "and the floor's are not counted"})
    email = by_stage.get("email worker")
    if email is not None:
        email["emails_per_invoice"] = (calls.get("sesv2.SendEmail", 0) + calls.get("ses.SendRawEmail", 0)) / n or 1.0
    from chalicelib.settings import from_environ

    # The deployed stage's settings for SES's rate (the embedded stack lifts it), and the run's
    # recipients per invoice email (SES's rate counts recipients).
    sample = organization_ids[:50]
    recipients = sum(len(deps.contracts.get(o).billing_contacts) for o in sample) / max(1, len(sample))
    projection = record("projection", project(app, from_environ({}), by_stage, queues,
                                              recipients_per_email=recipients, measured_contracts=n))
    return {"billing_run": billing_figures, "calls_per_invoice": calls_figures, "projection": projection}


def _quiet_product_logs(prefix: str = "") -> None:
    """The product's log lines go to var/bench/<prefix>product.log, WARNING and above, and its metrics
    (the EMF lines Lambda would read off stdout) to var/bench/<prefix>metrics.log: the bench's printout
    stays readable."""
    import logging

    from chalicelib import observability

    OUT.mkdir(parents=True, exist_ok=True)
    emf = open(OUT / f"{prefix}metrics.log", "w")
    metrics = observability.metrics

    def flush_metrics(raise_on_empty_metrics: bool = False) -> None:
        if metrics.metric_set:
            emf.write(json.dumps(metrics.serialize_metric_set(), separators=(",", ":")) + "\n")
            metrics.clear_metrics()

    metrics.flush_metrics = flush_metrics
    handler = logging.FileHandler(OUT / f"{prefix}product.log", mode="w")
    handler.setLevel(logging.WARNING)
    for name in observability.PRODUCT_LOGGERS:
        product = logging.getLogger(name)
        product.setLevel(logging.WARNING)
        product.handlers = [handler]
        product.propagate = False


def _peak_kb() -> int:
    """This process's peak resident set (VmHWM) in kB, since it started or was last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def reset_peak_memory() -> bool:
    """Start this process's peak RSS again from its current RSS (Linux: 5 to /proc/self/clear_refs),
    so the product's peak is not the packaging step's that ran before it. False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory(server, reset: bool = True) -> dict:
    import resource

    whole = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return record("memory", {
        "the product's process: peak RSS (MB)": round(_peak_kb() / 1024, 1) if reset else whole,
        "measured from": "the world's seeding on (VmHWM reset before it: the package step's zip work left out)"
                         if reset else "the bench's start (getrusage; the peak could not be reset here)",
        "the bench's process, packaging step included: peak RSS (MB)": whole,
        "moto's process: peak RSS (MB)": server.peak_mb(),
        "moto loaded in the product's process": "moto" in sys.modules,
        "note": "the bench's process runs the product (API handler, billing run, floor); moto runs in its own "
                "process (bench/moto_process.py), read from /proc/<pid>/status VmHWM"})


def main() -> int:
    from bench.calls import billing_worker_calls
    from bench.email_worker import email_worker
    from bench.pdf import pdf_bench

    package_size()
    COUNTER.install()
    import app  # noqa: F401 - its logging set up, then quietened
    _quiet_product_logs()
    reset = reset_peak_memory()
    server, deps, accounts = _world()
    try:
        handler_overhead(deps, accounts)
        requests_per_route(deps)
        # Lean API function (issue #22 §3): cold start per Lambda function, its first events on this world
        # (before the billing run's thousands of contracts, which the schedules' first events would walk).
        from bench.cold_start import cold_start
        cold_start(deps, accounts)
        billing_run(deps, int(os.environ.get("BENCH_CONTRACTS", "300")))
        memory(server, reset)  # the product's peak up to here: sections below may seed far more
        pdf_bench(deps)  # PDF time per document against the base commit's renderers (bench/pdf.py)
        billing_worker_calls(deps)  # the billing worker's DynamoDB requests per invoice, by call site (bench/calls.py)
        email_worker(deps)  # the email worker's AWS calls per email on its common path, and its pace (bench/email_worker.py)
    finally:
        server.stop()
    discovery_in_its_own_process()
    print_summary()
    return 0


def discovery_in_its_own_process() -> None:
    """The sharded closing-day index's discovery at 100 000 contracts (issue #22 §4, bench/discovery.py)
    runs in a process of its own with moto in it: it seeds moto's table in-process and sets aside
    moto's whole-table sort, which the product's moto process (above) must not see. Its figures join
    the summary from the JSON it records."""
    subprocess.run([sys.executable, "-m", "bench.discovery"], cwd=PROJECT_DIR, check=True)
    figures = json.loads((OUT / "discovery.json").read_text())
    SUMMARY.extend(_targets("discovery", figures))


if __name__ == "__main__":
    # `python -m bench.run` (make bench) runs this file as `__main__`: the sections' own
    # `from bench.run import COUNTER, record` must find this module, not import a second copy whose
    # counter was never installed (the email worker's calls read 0) and whose summary is never printed.
    sys.modules["bench.run"] = sys.modules[__name__]
    sys.exit(main())
