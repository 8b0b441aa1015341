"""`make bench`: figures measured in one run, each with the ratio to a baseline measured in the same
run, printed and written to var/bench/*.json. Not part of `make test` (timings are not assertions).

  cold start      per Lambda function: import app + its first events' imports / the bare frameworks
                  (bench/cold_start.py)                                                 (API ≤ 1.3)
  package         size of the Lambda zip from `chalice package`                         (target ≤ 10 MB)
  requests/route  DynamoDB requests per route, counted with a botocore event hook       (panel, invoices,
                                                                                         tickets ≤ 2)
  handler         requests/s through chalice.test.Client, GET /subscriptions / a trivial route
  billing         invoices per second for N contracts × 3 subscriptions (one mid-period change each),
                  and the ratio to an I/O floor: the minimum DynamoDB and SES calls one invoice needs,
                  issued raw with boto3 against the same moto                           (target ≤ 2.0)

BENCH_CONTRACTS (default 300; the issue's figure is 10 000) sets N.

The billing run reaches the product only through seams that tests keep working
(tests/integration/test_bench_seams.py runs it small): the world from `tests.support.billable_organizations`;
PDF time from the container's render observer (`Container.on_render`); queued messages from the
container's queue adapters, swapped for tapped ones; the I/O floor's keys from `chalicelib.storage.keys`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
OUT = PROJECT_DIR / "var" / "bench"
sys.path.insert(0, str(PROJECT_DIR))


def record(name: str, figures: dict) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    print(f"\n== {name}")
    for key, value in figures.items():
        if isinstance(value, dict) and "dynamodb_requests" in value:
            value = f"{value['dynamodb_requests']:>2} DynamoDB request(s)   (HTTP {value['status']})"
        print(f"  {key:<56} {value}")
    return figures


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

        by_top = Counter()
        with zipfile.ZipFile(out / "deployment.zip") as archive:
            for info in archive.infolist():
                by_top[info.filename.split("/")[0]] += info.compress_size
    return record("package", {"chalice package zip (MB)": round(raw_size / 1e6, 2),
                              "shipped zip, runtime-provided packages left out (MB)": round(size / 1e6, 2),
                              "target": "≤ 10 MB",
                              "met": size <= 10e6,
                              "largest parts (MB, compressed)": {k: round(v / 1e6, 2) for k, v in by_top.most_common(6)}})


class AwsCallCounter:
    """Counts AWS requests and the time spent in them, with botocore's event system: every client
    created after `install()` (boto3's and PynamoDB's alike) gets a before-call and an after-call
    handler. `calls` and `seconds` are keyed "service.Operation"."""

    def __init__(self):
        import threading

        self.calls, self.seconds = Counter(), Counter()
        self._started = threading.local()
        self._original_create_client = None

    def install(self) -> "AwsCallCounter":
        from botocore.session import Session

        original = self._original_create_client = Session.create_client
        counter = self

        def create_client(session, *args, **kwargs):
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-call.*.*", counter._before)
            client.meta.events.register("after-call.*.*", counter._after)
            client.meta.events.register("after-call-error.*.*", counter._after)
            return client

        Session.create_client = create_client
        return self

    def _before(self, model, **_):
        self._started.at = time.perf_counter()

    def _after(self, model, **_):
        key = f"{model.service_model.service_name}.{model.name}"
        self.calls[key] += 1
        self.seconds[key] += time.perf_counter() - getattr(self._started, "at", time.perf_counter())

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
    """The moto server and a seeded world, in-process, as the tests build it."""
    from local.run import free_port, start_embedded_aws, provision_and_seed

    port = free_port()
    server = start_embedded_aws(port)
    os.environ["MAIL_COPY_DIR"] = ""
    deps, accounts = provision_and_seed(os.environ["AWS_ENDPOINT_URL"])
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


class FloorMissed(AssertionError):
    """The I/O floor's reads found nothing: the keys it reads by are not where the product keeps
    the contract and its subscriptions any more, and the floor would time misses."""


def _io_floor(deps, organization_ids: list, subscriptions_each: int) -> float:
    """The minimum calls one invoice needs, raw boto3 on the same moto: read the contract, query its
    subscriptions, one transaction (invoice + period guard + number counter), one email. (Prices are
    read once per run, so none per invoice.) The reads are the storage's documented access patterns
    (`chalicelib.storage`: the table's `pk`/`sk`; the contract at pk=ORG#<org> sk=CONTRACT, the
    subscriptions by sk prefix), keyed by its named key builders, and checked to find what billing
    reads."""
    import boto3

    from chalicelib.storage import keys

    dynamodb = boto3.client("dynamodb", region_name=deps.settings.region)
    ses = boto3.client("sesv2", region_name=deps.settings.region)
    table = deps.settings.table_name
    start = time.perf_counter()
    for n, organization_id in enumerate(organization_ids):
        pk = {"S": keys.org_pk(organization_id)}
        contract = dynamodb.get_item(TableName=table, Key={"pk": pk, "sk": {"S": keys.CONTRACT_SK}},
                                     ConsistentRead=True)
        subscriptions = dynamodb.query(TableName=table, KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                                       ExpressionAttributeValues={":p": pk, ":s": {"S": keys.SUBSCRIPTION_PREFIX}})
        if "Item" not in contract or subscriptions["Count"] != subscriptions_each:
            raise FloorMissed(f"organisation {organization_id}: contract found {'Item' in contract}, "
                              f"{subscriptions['Count']} of {subscriptions_each} subscriptions")
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": f"FLOOR#{n}"}, "sk": {"S": "INVOICE"}}}},
            {"Put": {"TableName": table, "Item": {"pk": pk, "sk": {"S": "FLOORGUARD"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "FLOORCOUNTER"}, "sk": {"S": "X"}, "n": {"N": str(n)}}}}])
        ses.send_email(FromEmailAddress="nao-responda@brasoftware.com.br",
                       Destination={"ToAddresses": [f"financeiro{n}@bench.example"]},
                       Content={"Simple": {"Subject": {"Data": "Fatura"}, "Body": {"Text": {"Data": "R$ 1,00"}}}})
    return time.perf_counter() - start


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


class DirectEventSource:
    """Lambda's SQS event source, in-process, for the billing run. What our code sends to a queue
    still goes to moto (a real, counted SendMessage), and is also handed to the queue's handler as
    Lambda would, in batches of the handler's size. Receiving and deleting are Lambda's calls, not
    our functions', and moto's ReceiveMessage and DeleteMessage scan the whole queue: with 10 000
    contract messages queued at once, each took over a second. Since nothing receives from moto's
    queues here, they are emptied as messages go: moto's SendMessage recounts the whole queue too."""

    QUEUES = ("billing_queue", "email_queue")  # the container's queues the billing run sends to

    def __init__(self, app, deps):
        from local.event_pump import sqs_subscriptions

        self._handlers = sqs_subscriptions(app)
        self._region = deps.settings.region
        self._pending = {name: deque() for name in self._handlers}
        self._deps = deps
        self._queues = [getattr(deps, name) for name in self.QUEUES]
        self.failed_batches = 0
        # Swapped in the composition root, as a test overrides an adapter: the services send
        # through the container's queues.
        for name, queue in zip(self.QUEUES, self._queues):
            setattr(deps, name, _TappedQueue(queue, self._pending[queue.queue_name], self._purge))

    def drain(self) -> int:
        import hashlib

        from local.event_pump import LambdaContext, sqs_event

        delivered = 0
        while any(self._pending.values()):
            for name, pending in self._pending.items():
                handler, batch_size = self._handlers[name]
                while pending:
                    bodies = [json.dumps(pending.popleft(), sort_keys=True) for _ in range(min(batch_size, len(pending)))]
                    messages = [{"MessageId": f"direct-{delivered + i}", "ReceiptHandle": f"direct-{delivered + i}",
                                 "Body": body, "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
                                 "Attributes": {"ApproximateReceiveCount": "1"}} for i, body in enumerate(bodies)]
                    try:
                        handler(sqs_event(name, self._region, messages), LambdaContext(name))
                    except Exception:  # noqa: BLE001 - reported: a bench run has none
                        self.failed_batches += 1
                    delivered += len(bodies)
                    if delivered % 200 < len(bodies):
                        self._purge()
        return delivered

    def _purge(self) -> None:
        """Empty moto's copies of the queues, in-process (PurgeQueue is allowed once a minute)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[DEFAULT_ACCOUNT_ID][self._region]
        for queue in self._queues:
            moto_queue = backend.queues[queue.queue_name]
            with moto_queue._messages_lock:
                moto_queue._messages = []

    def close(self) -> None:
        for name, queue in zip(self.QUEUES, self._queues):
            setattr(self._deps, name, queue)


def billing_run(deps, contracts: int) -> dict:
    import resource
    from datetime import datetime, timezone

    from app import app
    from chalicelib.domain.audit import SYSTEM
    from chalicelib.domain.clock import FixedClock, SAO_PAULO
    from chalicelib.services import billing
    from tests.support import BILLABLE_SKUS, billable_organizations

    deps.clock = FixedClock(datetime(2026, 11, 11, 12, tzinfo=SAO_PAULO).astimezone(timezone.utc))
    setup_start = time.perf_counter()
    organization_ids = billable_organizations(deps, contracts, closing_day=10, skus=BILLABLE_SKUS)
    setup = time.perf_counter() - setup_start
    events = DirectEventSource(app, deps)
    pdfs = RenderTimer(deps)
    COUNTER.reset()
    start = time.perf_counter()
    run_id = billing.start_run(deps, SYSTEM, period="2026-11", closing_days=[10])
    events.drain()
    elapsed = time.perf_counter() - start
    pdfs.close()
    events.close()
    calls, seconds = COUNTER.by_service()
    progress = billing.run_progress(deps, run_id)
    floor = _io_floor(deps, organization_ids, subscriptions_each=len(BILLABLE_SKUS))
    per_invoice_ms = 1000 * elapsed / contracts
    aws_ms = {service: round(1000 * seconds[service] / contracts, 1) for service in sorted(calls)}
    pdf_ms = 1000 * sum(pdfs.seconds.values()) / contracts
    return record("billing_run", {
        "contracts": contracts, "invoices issued": progress["invoices_issued"],
        "setup of the contracts (s)": round(setup, 1), "seconds": round(elapsed, 2),
        "invoices per second": round(contracts / elapsed, 2), "failed handler batches": events.failed_batches,
        "I/O floor (s)": round(floor, 2), "ratio to the floor": round(elapsed / floor, 2),
        "target": "≤ 2.0", "met": elapsed / floor <= 2.0,
        "per invoice (ms)": round(per_invoice_ms, 1),
        "per invoice: AWS calls": {service: round(n / contracts, 1) for service, n in sorted(calls.items())},
        "per invoice: ms in AWS calls": aws_ms,
        "per invoice: PDFs rendered": {document: round(n / contracts, 2)
                                       for document, n in sorted(pdfs.count.items())},
        "per invoice: ms rendering 3 PDFs": round(pdf_ms, 1),
        "per invoice: ms in our Python and the rest": round(per_invoice_ms - sum(aws_ms.values()) - pdf_ms, 1),
        "floor per invoice: calls (ms)": f"dynamodb 3, sesv2 1 ({1000 * floor / contracts:.1f} ms)",
        "peak memory of the process, moto included (MB)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "note": "an invoice is issued, its boleto registered (bank simulator), its NFS-e emitted (NFS-e simulator), "
                "3 PDFs and the NFS-e XML stored in S3, and the email sent with its attachments. Our SQS sends are "
                "real; deliveries to the handlers are direct, as Lambda's event source makes them"})


def main() -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    package_size()
    COUNTER.install()  # before any client exists
    server, deps, accounts = _world()
    try:
        handler_overhead(deps, accounts)
        requests_per_route(deps)
        # Lean API function (issue #22 §3): cold start per Lambda function, its first events on this world
        # (before the billing run's thousands of contracts, which the schedules' first events would walk).
        from bench.cold_start import cold_start
        cold_start(deps, accounts)
        billing_run(deps, int(os.environ.get("BENCH_CONTRACTS", "300")))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
