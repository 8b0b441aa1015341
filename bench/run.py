"""`make bench`: figures measured in one run, each with the ratio to a baseline measured in the same
run, printed and written to var/bench/*.json. Not part of `make test` (timings are not assertions).

  cold start      import time of `app` / import of chalice + boto3 + pynamodb alone   (target ≤ 1.3)
  package         size of the Lambda zip from `chalice package`                         (target ≤ 10 MB)
  requests/route  DynamoDB requests per route, counted with a botocore event hook       (panel, invoices,
                                                                                         tickets ≤ 2)
  handler         requests/s through chalice.test.Client, GET /subscriptions / a trivial route
  billing         invoices per second for N contracts × 3 subscriptions (one mid-period change each),
                  and the ratio to an I/O floor: the minimum DynamoDB and SES calls one invoice needs,
                  issued raw with boto3 against the same moto                           (target ≤ 2.0)

BENCH_CONTRACTS (default 300; the issue's figure is 10 000, about 40 minutes here) sets N.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
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


def _import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, "AWS_DEFAULT_REGION": "sa-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    return float(subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, env=env, capture_output=True,
                                text=True, check=True).stdout)


def cold_start(runs: int = 7) -> dict:
    _import_seconds("import app")  # warm the bytecode caches once, as a deployed package has them
    app_times = [_import_seconds("import app") for _ in range(runs)]
    base_times = [_import_seconds("import chalice, boto3, pynamodb.models") for _ in range(runs)]
    app_s, base_s = statistics.median(app_times), statistics.median(base_times)
    return record("cold_start", {"import app (median s)": round(app_s, 4),
                                 "import chalice+boto3+pynamodb (median s)": round(base_s, 4),
                                 "ratio": round(app_s / base_s, 2), "target": "≤ 1.3",
                                 "met": app_s / base_s <= 1.3})


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


class CallCounter:
    """Counts DynamoDB requests (PynamoDB's included: they go through botocore's client)."""

    def __init__(self):
        from botocore.client import BaseClient

        self.calls = Counter()
        self._original = BaseClient._make_api_call
        counter = self

        def counted(client, operation, params):
            if client.meta.service_model.service_name == "dynamodb":
                counter.calls[operation] += 1
            return counter._original(client, operation, params)

        BaseClient._make_api_call = counted

    def total(self) -> int:
        return sum(self.calls.values())

    def close(self) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._original


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
        counter = CallCounter()
        rows = {}
        for path, method, operation in sorted(operations(world), key=lambda op: _phase(op[0], op[1])):
            account = None if operation.get("security") == [] else \
                operator if path.startswith("/backoffice/") else org.master
            target = fill(path, {name: objects[name] for name in re.findall(r"{(\w+)}", path)}, operation)
            body = overrides.get((path, method), body_for(operation))
            before = counter.total()
            response = world.call(method, target, account, body)
            rows[f"{method} {path}"] = {"status": response.status_code, "dynamodb_requests": counter.total() - before}
        counter.close()
    watched = ("GET /subscriptions", "GET /invoices", "GET /tickets")
    record("requests_per_route", {**rows, "target": "licence panel, invoice list, ticket list ≤ 2",
                                  "met": all(rows[r]["dynamodb_requests"] <= 2 for r in watched)})


def handler_overhead(deps, accounts) -> None:
    from chalice.test import Client

    from app import app

    billed = next(a for a in accounts if a.email == "master@oficinadigital.example")
    headers = {"Authorization": f"Bearer {deps.identity.login(billed.email, billed.password).access_token}"}
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


def billing_run(deps, contracts: int) -> None:
    import boto3

    from app import app
    from chalicelib.domain.audit import SYSTEM
    from chalicelib.domain.clock import FixedClock, SAO_PAULO
    from chalicelib.domain.contract import ACTIVE, Contract
    from chalicelib.domain.ids import new_id
    from chalicelib.domain.organizations import Organization
    from chalicelib.domain.proration import Segment
    from chalicelib.domain.subscriptions import Subscription
    from chalicelib.services import billing
    from local.event_pump import EventPump
    from datetime import date, datetime, timezone

    deps.clock = FixedClock(datetime(2026, 11, 11, 12, tzinfo=SAO_PAULO).astimezone(timezone.utc))
    for n in range(contracts):
        org = Organization(id=new_id(), name=f"Bench {n}", cnpj=None, created_at="2026-09-01T00:00:00+00:00")
        contract = Contract(id=new_id(), organization_id=org.id, status=ACTIVE, payment_method="boleto",
                            closing_day=10, billing_contacts=[f"financeiro{n}@bench.example"])
        deps.organizations.create(org, contract, None, [])
        deps.subscriptions.save([], [], audit=[], created=[Subscription(
            id=new_id(), organization_id=org.id, sku=sku, name=sku, family="Bench", term="P1Y",
            billing_frequency="monthly", status="active", quantity=5,
            timeline=[Segment(date(2026, 9, 1), 4), Segment(date(2026, 10, 25), 5)]) for sku in
            ("MS365-E3", "POWERBI-PRO", "EXO-PLAN1")])
    pump = EventPump(app, deps.settings.region)
    start = time.perf_counter()
    billing.start_run(deps, SYSTEM, period="2026-11", closing_days=[10])
    pump.drain(max_rounds=100000)
    elapsed = time.perf_counter() - start

    # The I/O floor: per invoice, the reads it needs (contract, subscriptions, one price), one
    # transactional write (invoice + guard + counter) and one email, raw boto3 on the same moto.
    dynamodb = boto3.client("dynamodb", region_name=deps.settings.region)
    ses = boto3.client("sesv2", region_name=deps.settings.region)
    table = deps.settings.table_name
    floor_start = time.perf_counter()
    for n in range(contracts):
        key = {"pk": {"S": f"FLOOR#{n}"}, "sk": {"S": "X"}}
        dynamodb.get_item(TableName=table, Key=key)
        dynamodb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": f"FLOOR#{n}"}})
        dynamodb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "PRICE#MS365-E3"}},
                       Limit=1)
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {**key, "n": {"N": str(n)}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": f"FLOORGUARD#{n}"}, "sk": {"S": "X"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "FLOORCOUNTER"}, "sk": {"S": str(n)}}}}])
        ses.send_email(FromEmailAddress="nao-responda@brasoftware.com.br",
                       Destination={"ToAddresses": [f"financeiro{n}@bench.example"]},
                       Content={"Simple": {"Subject": {"Data": "Fatura"}, "Body": {"Text": {"Data": "R$ 1,00"}}}})
    floor = time.perf_counter() - floor_start
    record("billing_run", {"contracts": contracts, "seconds": round(elapsed, 2),
                           "invoices per second": round(contracts / elapsed, 2),
                           "I/O floor (s)": round(floor, 2), "ratio to the floor": round(elapsed / floor, 2),
                           "target": "≤ 2.0", "met": elapsed / floor <= 2.0,
                           "note": "includes each invoice's documents: boleto, NFS-e and invoice PDFs, S3, "
                                   "the bank and NFS-e simulators, and the email with its attachments"})


def main() -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    cold_start()
    package_size()
    server, deps, accounts = _world()
    try:
        handler_overhead(deps, accounts)
        requests_per_route(deps)
        billing_run(deps, int(os.environ.get("BENCH_CONTRACTS", "300")))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
