"""`make bench` section: the billing run's discovery at 100 000 contracts closing on one day
(issue #22 §4) — the run (`services.billing.start_run`) and every shard message it queues handled
(`services.billing.bill_shard`: the shard's partition of the closing-day index read, each of its
contracts queued on the billing queue, the shard counted into the run).

  contracts            BENCH_DISCOVERY_CONTRACTS (default 100 000), all closing on the 17th, written
                       straight into moto's table in-process (only what the index and the fan-out read:
                       keys, index keys, organisation id), removed afterwards
  largest partition    the most contracts one shard's query returned           (target ≤ 5 000)
  requests             DynamoDB requests and SQS calls of the whole discovery (the serial pass)
  time                 in series (one worker after another) and in parallel (threads standing in for
                       concurrent Lambdas); and the critical path: the run + its slowest shard, what
                       the deployed run takes with one Lambda per shard message

SQS is answered in-process: the product's SendMessageBatch calls go through the real adapter and
boto3 (serialised, validated, counted by the call counter) and a handler on the client answers
them before the network (botocore's `before-call`, as its Stubber does). moto's SQS takes ~60 ms a
call on this machine (10 000 calls for 100 000 contracts: ten minutes a pass) and AWS's is not
moto's, so the time here is DynamoDB (moto) and our own work; the SQS time of the largest shard is
projected from its calls at a typical SendMessageBatch latency. Nothing is billed here (bench/run.py's
billing_run does that). The shard messages are handed to `bill_shard` directly, as Lambda's event
source would.
"""
from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

# A day no other section's contracts close on (the billing bench's close on the 10th, the demo's on the 20th).
CLOSING_DAY = 17
WARM_UP_DAY = 18  # a day with no contract: a run whose shards read nothing
PARALLEL_WORKERS = 8  # threads standing in for concurrent Lambdas (2 cores here: see "critical path")
TARGET_LARGEST_PARTITION = 5_000
SQS_BATCH_MS = 15  # a typical SendMessageBatch round trip inside an AWS region (a projection, not measured)


def _moto_table(deps):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][deps.settings.region].get_table(deps.settings.table_name)


def seed_contracts(deps, count: int, day: int = CLOSING_DAY) -> list:
    """`count` contracts in the closing-day index of `day`, each in its shard, as the storage writes
    them (`storage.repositories._contract_item`'s keys); written into moto in-process (a second for
    10 000, where PutItem over HTTP would take a minute). Returns their organisation ids."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from chalicelib.storage import keys

    table = _moto_table(deps)
    organization_ids = [f"bench-discovery-{n:06d}" for n in range(count)]
    for organization_id in organization_ids:
        attributes = {"pk": {"S": keys.org_pk(organization_id)}, "sk": {"S": keys.CONTRACT_SK},
                      "gsi1pk": {"S": keys.closing_shard_pk(keys.closing_shard(organization_id))},
                      "gsi1sk": {"S": keys.closing_sk(day, organization_id)}, "organization_id": {"S": organization_id}}
        # Into moto's item map as its PutItem stores them, without PutItem's checks (half the time).
        pk, sk = DynamoType(attributes["pk"]), DynamoType(attributes["sk"])
        table.items[pk][sk] = Item(pk, sk, attributes)
    return organization_ids


def remove_contracts(deps, organization_ids: list) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    from chalicelib.storage import keys

    table = _moto_table(deps)
    for organization_id in organization_ids:
        table.delete_item(DynamoType({"S": keys.org_pk(organization_id)}), DynamoType({"S": keys.CONTRACT_SK}))


class _ShardTap:
    """The billing queue as the run and the shard workers send to it: every send through the real
    adapter, the run's shard messages also kept for direct handling."""

    def __init__(self, queue):
        self._queue = queue
        self.queue_name = queue.queue_name
        self.shards, self.contracts = [], 0
        self._lock = threading.Lock()

    def send(self, message, delay_seconds=0):
        return self._queue.send(message, delay_seconds)

    def send_batch(self, messages, correlation_ids=None):
        self._queue.send_batch(messages, correlation_ids)
        with self._lock:
            self.shards += [m for m in messages if m.get("kind") == "bill_shard"]
            self.contracts += sum(1 for m in messages if m.get("kind") == "bill_contract")

    def change_visibility(self, receipt_handle, seconds):
        self._queue.change_visibility(receipt_handle, seconds)


class _SqsAnsweredHere:
    """SendMessageBatch answered on the client, before the network: everything accepted."""

    EVENT = "before-call.sqs.SendMessageBatch"

    def __init__(self, region: str):
        from chalicelib.adapters.aws import client

        self._events = client("sqs", region).meta.events

    def __enter__(self):
        self._events.register(self.EVENT, self._answer)
        return self

    def __exit__(self, *exc):
        self._events.unregister(self.EVENT, self._answer)

    @staticmethod
    def _answer(**_):
        from botocore.awsrequest import AWSResponse

        return AWSResponse(None, 200, {}, None), {"Successful": [], "Failed": []}


class _MotoTableUnsorted:
    """moto answers every Query on an index by sorting the WHOLE table (`Table.all_items`), then
    filtering it: with 100 000 contracts, seconds a query, where DynamoDB reads one partition. The
    sort is moto's own (an index query sorts its results again, by the index's keys): while this is
    in force, `all_items` returns the items unsorted, and queries answer the same items in the same
    order."""

    def __enter__(self):
        from moto.dynamodb.models.table import Table

        self._original = Table.all_items

        def all_items(table):
            if not table.range_key_attr:
                return self._original(table)
            return [item for hash_set in table.items.values() for item in hash_set.values()]

        Table.all_items = all_items
        return self

    def __exit__(self, *exc):
        from moto.dynamodb.models.table import Table

        Table.all_items = self._original


def _run(deps, tap: _ShardTap, workers: int, day: int = CLOSING_DAY) -> tuple:
    """One discovery: the run, then its shard messages handled by `workers` at a time. Returns
    (run id, seconds, the run's own seconds, {shard: (contracts, seconds)})."""
    from chalicelib.domain.audit import SYSTEM
    from chalicelib.services import billing

    tap.shards.clear()
    per_shard = {}

    def handle(message):
        started = time.perf_counter()
        queued = billing.bill_shard(deps, message)
        per_shard[message["shard"]] = (queued, time.perf_counter() - started)

    start = time.perf_counter()
    run_id = billing.start_run(deps, SYSTEM, period="2026-11", closing_days=[day])
    run_seconds = time.perf_counter() - start
    if workers == 1:
        for message in list(tap.shards):
            handle(message)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(handle, list(tap.shards)))
    return run_id, time.perf_counter() - start, run_seconds, per_shard


def discovery(deps, counter, contracts: Optional[int] = None) -> dict:
    """The figures of this section (see the module's docstring), recorded in var/bench/discovery.json.
    `counter`: bench.run's AwsCallCounter, installed before the container's clients were made."""
    from chalicelib.services import billing
    from chalicelib.storage import keys

    from .run import record

    contracts = contracts if contracts is not None else int(os.environ.get("BENCH_DISCOVERY_CONTRACTS", "100000"))
    real_queue = deps.billing_queue
    tap = deps.billing_queue = _ShardTap(real_queue)
    organization_ids = []
    try:
        with _SqsAnsweredHere(deps.settings.region), _MotoTableUnsorted():
            _run(deps, tap, workers=1, day=WARM_UP_DAY)  # clients, connections, pools made before the clock runs
            setup_start = time.perf_counter()
            organization_ids = seed_contracts(deps, contracts)
            setup = time.perf_counter() - setup_start
            counter.reset()  # requests counted in the serial pass only: the counter is not made for threads
            serial_id, serial_s, run_s, per_shard = _run(deps, tap, workers=1)
            calls = Counter(counter.calls)
            counter.reset()
            parallel_id, parallel_s, _, _ = _run(deps, tap, workers=PARALLEL_WORKERS)
    finally:
        deps.billing_queue = real_queue
        remove_contracts(deps, organization_ids)
    queued = [billing.run_progress(deps, run_id)["contracts_queued"] for run_id in (serial_id, parallel_id)]
    largest = max(n for n, _ in per_shard.values())
    slowest = max(seconds for _, seconds in per_shard.values())
    by_call = {key: n for key, n in sorted(calls.items())}
    dynamodb = sum(n for key, n in calls.items() if key.startswith("dynamodb."))
    sqs = sum(n for key, n in calls.items() if key.startswith("sqs."))
    return record("discovery", {
        "contracts closing on the day": contracts, "shards": keys.CLOSING_SHARDS,
        "shard messages (one index query each)": len(per_shard),
        "contracts queued (serial run, parallel run)": queued,
        "all queued, each once": queued == [contracts, contracts] and tap.contracts == 2 * contracts,
        "seeding the contracts into moto (s)": round(setup, 1),
        "largest partition (contracts)": largest,
        "smallest partition (contracts)": min(n for n, _ in per_shard.values()),
        "target": f"largest partition ≤ {TARGET_LARGEST_PARTITION}",
        "met": largest <= TARGET_LARGEST_PARTITION and queued == [contracts, contracts] and tap.contracts == 2 * contracts,
        "requests: DynamoDB": dynamodb, "requests: SQS": sqs, "requests by call": by_call,
        "messages per SendMessageBatch": round((contracts + len(per_shard)) / max(1, calls["sqs.SendMessageBatch"]), 1),
        "in series (s)": round(serial_s, 2),
        f"in parallel, {PARALLEL_WORKERS} threads (s)": round(parallel_s, 2),
        "ratio series / parallel": round(serial_s / parallel_s, 2),
        "the run itself (s)": round(run_s, 3),
        "slowest shard (s)": round(slowest, 2),
        "critical path: the run + the slowest shard (s)": round(run_s + slowest, 2),
        "ratio series / critical path": round(serial_s / (run_s + slowest), 1),
        f"largest shard's SQS at {SQS_BATCH_MS} ms a call, {billing.SEND_THREADS} threads (s, projected)":
            round(math.ceil(largest / 10) * SQS_BATCH_MS / 1000 / billing.SEND_THREADS, 2),
        "note": "moto runs in this process on 2 cores, so threads share its CPU: the critical path is what "
                "one Lambda per shard message takes (each shard's time measured alone, in the serial pass). "
                "SQS calls made and counted but answered in-process (no SQS latency in the times); shard "
                "messages handed to the worker directly; moto's whole-table sort on each index query left "
                "out (see _MotoTableUnsorted). The seeded contracts carry only their keys: a shard is one "
                "Query page here; real contract items (~1 KB) make a shard of ~3 100 about 3 pages (1 MB each)"})


def main() -> int:
    """`python -m bench.discovery`: this section alone, in its own process, with moto in-process
    (as `make run` embeds it) and the demo world provisioned on it; bench/run.py runs it last."""
    import logging
    import sys

    from local.run import free_port, provision_and_seed, start_embedded_aws

    from .run import AwsCallCounter, _quiet_product_logs

    counter = AwsCallCounter().install()  # before any client exists
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    server = start_embedded_aws(free_port())
    try:
        os.environ["MAIL_COPY_DIR"] = ""
        import app  # noqa: F401 - its logging set up, then quietened
        _quiet_product_logs("discovery-")
        deps, _ = provision_and_seed(os.environ["AWS_ENDPOINT_URL"])
        discovery(deps, counter)
    finally:
        server.stop()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
