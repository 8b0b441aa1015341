"""The projected wall time of a 10 000-contract month on AWS (issue #22 §5), from what the bench
measured: the AWS calls each pipeline stage makes per invoice, by operation, and its own CPU time
(PDFs and Python) per invoice. The rest are assumptions, named here with their sources, chosen on
the conservative side; the bench prints them with the projection.

The month is a pipeline: the fan-out (the scheduled run queues one message per contract), the
billing worker (one contract per invocation, as many at once as the SQS event source allows) and
the email worker (held to SES's send rate). The stages overlap, so the month takes as long as its
slowest stage (plus the others' start-up, which is small beside it).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Dict, Optional, Tuple

PROJECT_DIR = Path(__file__).resolve().parent.parent
MONTH_CONTRACTS = 10_000

# Assumed latency of one call, from a Lambda function in the same region (ms).
# - DynamoDB: "single-digit millisecond performance at any scale" (aws.amazon.com/dynamodb, and the
#   Developer Guide's introduction): 10 ms per GetItem/Query/PutItem/UpdateItem, the top of that range.
# - DynamoDB transactions: "DynamoDB performs two underlying reads or writes of every item in the
#   transaction" (Developer Guide, "Amazon DynamoDB Transactions: How it works", capacity
#   management): 2x a write, 20 ms; batch operations likewise.
# - S3: small requests (under 512 KB) have a median latency "in the tens of milliseconds"
#   (whitepaper "Best Practices Design Patterns: Optimizing Amazon S3 Performance", Timeouts and
#   Retries for Latency-Sensitive Applications): 50 ms per PutObject/GetObject/HeadObject.
# - SES: no published latency for SendEmail/SendRawEmail; 100 ms assumed (the top of the tens to
#   100 ms seen from Lambda in-region).
# - SQS: no published latency for SendMessage (a message is stored in several AZs before it is
#   acknowledged: SQS Developer Guide, standard queues); 20 ms assumed.
LATENCY_MS: Dict[str, float] = {
    "dynamodb.TransactWriteItems": 20, "dynamodb.TransactGetItems": 20,
    "dynamodb.BatchWriteItem": 20, "dynamodb.BatchGetItem": 20,
}
SERVICE_LATENCY_MS: Dict[str, float] = {"dynamodb": 10, "s3": 50, "sesv2": 100, "ses": 100, "sqs": 20}
OTHER_LATENCY_MS = 50  # any other AWS service

# The bank's and the Sefin's APIs (simulated here, in the process): no published latency. Assumed
# 1 s for a boleto's registration (an OAuth'd REST call to the bank) and 2 s for a DPS (the Sefin
# Nacional validates and signs the note synchronously); any other of their calls 1 s.
OUTSIDE_LATENCY_MS: Dict[str, float] = {"bank.register": 1000, "nfse_emitter.emit": 2000}
OTHER_OUTSIDE_LATENCY_MS = 1000

# Lambda gives a function CPU in proportion to its memory: the equivalent of one vCPU at 1,769 MB
# (Lambda Developer Guide, "Configure Lambda function memory"). The CPU time measured here (one
# core of this machine) is scaled by 1769 / the function's memory when that is below 1,769 MB.
ONE_VCPU_MB = 1769
CHALICE_DEFAULT_MEMORY_MB = 128
CHALICE_DEFAULT_TIMEOUT_S = 60

# The SQS event source without a maximum concurrency: "Lambda starts processing five batches at a
# time with five concurrent invocations of your function. If messages are still available, Lambda
# increases the number of processes that are reading batches by up to 300 more instances per minute.
# The maximum number of batches that an event source mapping can process simultaneously is 1,000."
# (Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings"); the
# account's default concurrency quota is 1,000 too (Lambda quotas).
SQS_START_CONCURRENCY, SQS_RAMP_PER_SECOND, SQS_MAX_CONCURRENCY = 5, 300 / 60, 1000

# Every invoice takes the next number from ONE counter item: a partition takes at most 1,000 write
# units a second (Developer Guide, "Partitions and data distribution"), and a transactional write
# costs 2 (as above): at most 500 invoices a second, however many workers run.
COUNTER_ITEM_INVOICES_PER_SECOND = 500

DEFAULT_SES_RATE = 14.0  # SES's default sending quota once out of the sandbox, messages per second


def latency_ms(operation: str) -> float:
    return LATENCY_MS.get(operation, SERVICE_LATENCY_MS.get(operation.split(".")[0], OTHER_LATENCY_MS))


def _chalice_config() -> dict:
    try:
        return json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def _function_setting(function: str, name: str, stage: str = "prod"):
    """A setting of one Lambda function in .chalice/config.json, the most specific level first."""
    config = _chalice_config()
    stage_config = config.get("stages", {}).get(stage, {})
    for level in (stage_config.get("lambda_functions", {}).get(function, {}),
                  config.get("lambda_functions", {}).get(function, {}), stage_config, config):
        if name in level:
            return level[name]
    return None


def _infra_value(function: str, key: str):
    """`key` (MaximumConcurrency, ReservedConcurrentExecutions) anywhere under the resources that
    infra/resources.json merges into the function's own (`chalice package` names them after the
    function: bill_contracts → BillContracts…)."""
    try:
        resources = json.loads((PROJECT_DIR / "infra" / "resources.json").read_text()).get("Resources", {})
    except (OSError, ValueError):
        return None
    prefix = "".join(part.capitalize() for part in function.split("_"))

    def find(node):
        if isinstance(node, dict):
            if key in node and isinstance(node[key], int):
                return node[key]
            for value in node.values():
                found = find(value)
                if found is not None:
                    return found
        elif isinstance(node, list):
            for value in node:
                found = find(value)
                if found is not None:
                    return found
        return None

    for name, resource in resources.items():
        if name.startswith(prefix):
            found = find(resource)
            if found is not None:
                return found
    return None


def memory_mb(function: str) -> int:
    return int(_function_setting(function, "lambda_memory_size") or CHALICE_DEFAULT_MEMORY_MB)


def cpu_factor(function: str) -> float:
    return max(1.0, ONE_VCPU_MB / memory_mb(function))


def event_source(app, queue_name: str):
    from chalice.app import SQSEventConfig

    for config in app.event_sources:
        if isinstance(config, SQSEventConfig) and config.queue == queue_name:
            return config
    return None


def concurrency(app, queue_name: str) -> Tuple[Optional[int], str]:
    """The most invocations at once of the queue's handler, and where that figure comes from."""
    config = event_source(app, queue_name)
    if config is None:
        return None, f"no SQS event source for {queue_name}"
    if getattr(config, "maximum_concurrency", None):
        return int(config.maximum_concurrency), f"the SQS event source's maximum concurrency ({config.name})"
    merged = _infra_value(config.name, "MaximumConcurrency")
    if merged:
        return merged, f"the SQS event source's MaximumConcurrency (infra/resources.json, {config.name})"
    reserved = _function_setting(config.name, "reserved_concurrency") or \
        _infra_value(config.name, "ReservedConcurrentExecutions")
    if reserved:
        return int(reserved), f"the function's reserved concurrency ({config.name})"
    return None, (f"not set for {config.name}: Lambda's default for an SQS event source, {SQS_START_CONCURRENCY} at "
                  f"first, +300 a minute, up to {SQS_MAX_CONCURRENCY}")


def ses_rate(settings) -> Tuple[float, str]:
    value = getattr(settings, "ses_max_send_rate", None)
    if value:
        return float(value), "settings.ses_max_send_rate"
    if os.environ.get("SES_MAX_SEND_RATE"):
        return float(os.environ["SES_MAX_SEND_RATE"]), "SES_MAX_SEND_RATE"
    return DEFAULT_SES_RATE, f"not in the settings: SES's default quota, {DEFAULT_SES_RATE:g}/s"


def wall_seconds(items: float, seconds_each: float, most_at_once: Optional[int],
                 rate_cap: Optional[float] = None) -> float:
    """How long `items` take, each `seconds_each` in one invocation, with at most `most_at_once`
    invocations (None: the SQS event source's own ramp) and at most `rate_cap` items a second."""
    if items <= 0:
        return 0.0
    elapsed, done, step = 0.0, 0.0, 0.05
    while done < items:
        running = most_at_once if most_at_once is not None else \
            min(SQS_MAX_CONCURRENCY, SQS_START_CONCURRENCY + SQS_RAMP_PER_SECOND * elapsed)
        rate = running / seconds_each if seconds_each > 0 else float("inf")
        if rate_cap is not None:
            rate = min(rate, rate_cap)
        done += rate * step
        elapsed += step
    return elapsed


def stage_seconds(stage: dict, factor: float) -> Tuple[float, Dict[str, float]]:
    """One invocation's seconds per invoice on AWS: its calls at the assumed latencies and its CPU
    time scaled to the function's memory. `stage`: {"calls": {op: per invoice}, "pdf_ms", "python_ms"}."""
    calls_ms = sum(n * latency_ms(op) for op, n in stage["calls"].items())
    outside_ms = sum(n * OUTSIDE_LATENCY_MS.get(op, OTHER_OUTSIDE_LATENCY_MS)
                     for op, n in stage.get("outside_calls", {}).items())
    cpu_ms = (stage["pdf_ms"] + stage["python_ms"]) * factor
    return (calls_ms + outside_ms + cpu_ms) / 1000, {
        "AWS calls (ms)": round(calls_ms, 1), "bank and Sefin (ms)": round(outside_ms, 1),
        "CPU on Lambda (ms)": round(cpu_ms, 1)}


def project(app, settings, stages: Dict[str, dict], queues: Dict[str, str], contracts: int = MONTH_CONTRACTS,
            recipients_per_email: float = 1.0, measured_contracts: int = MONTH_CONTRACTS) -> dict:
    """`stages`: per stage ("fan-out", "billing worker", "email worker"), its measured calls per
    invoice by operation and its PDF and other CPU ms per invoice. `queues`: the worker stages'
    queue names (their event sources say their concurrency and function). `settings`: the deployed
    stage's (its SES send rate, never the embedded stack's unlimited one); `recipients_per_email`:
    the run's mean, since SES's rate counts recipients."""
    figures: Dict[str, object] = {"contracts": contracts}
    walls: Dict[str, float] = {}
    fan_out = stages.get("fan-out")
    if fan_out is not None:
        from chalicelib.services.billing import SEND_THREADS
        from chalicelib.storage.keys import CLOSING_SHARDS

        seconds, parts = stage_seconds(fan_out, cpu_factor("start_billing_run"))
        # The schedule writes the run and queues one message per shard of the closing-day index: a
        # fixed cost (measured over `measured_contracts`, not grown with the month). Each shard's
        # contracts are then queued by a billing worker (counted in its stage, per invoice); the
        # largest single invocation is one shard's, checked against the timeout.
        walls["fan-out"] = seconds * measured_contracts
        timeout = int(_function_setting("start_billing_run", "lambda_timeout") or CHALICE_DEFAULT_TIMEOUT_S)
        shard_s = math.ceil(contracts / CLOSING_SHARDS / 10) * latency_ms("sqs.SendMessageBatch") / 1000 / SEND_THREADS
        figures["fan-out: the schedule's invocation (s)"] = round(walls["fan-out"], 2)
        figures[f"fan-out: one shard's contracts queued, {CLOSING_SHARDS} shards, {SEND_THREADS} threads (s)"] = \
            round(shard_s, 2)
        figures["fan-out: within the functions' timeout"] = \
            f"{max(walls['fan-out'], shard_s) <= timeout} ({timeout} s)"
    billing_stage = stages["billing worker"]
    config = event_source(app, queues["billing worker"])
    function = config.name if config else "bill_contracts"
    factor = cpu_factor(function)
    per_invoice, parts = stage_seconds(billing_stage, factor)
    most, source = concurrency(app, queues["billing worker"])
    walls["billing"] = wall_seconds(contracts, per_invoice, most, COUNTER_ITEM_INVOICES_PER_SECOND)
    figures.update({
        "billing worker: one invoice on Lambda (ms)": round(1000 * per_invoice, 1),
        "billing worker: made of": parts,
        f"billing worker: memory (MB) and CPU factor ({ONE_VCPU_MB} MB = 1 vCPU)":
            f"{memory_mb(function)} MB, ×{factor:.2f}",
        "billing worker: concurrency": most if most is not None else "ramp 5 → 1000",
        "billing worker: concurrency from": source,
        "billing phase (min)": round(walls["billing"] / 60, 1)})
    email_stage = stages.get("email worker")
    rate, rate_source = ses_rate(settings)
    if email_stage is not None:
        emails = email_stage.get("emails_per_invoice", 1.0) * contracts
        email_config = event_source(app, queues["email worker"])
        email_function = email_config.name if email_config else "deliver_emails"
        share = max(email_stage.get("emails_per_invoice", 1.0), 1e-9)
        per_email, email_parts = stage_seconds(
            {"calls": {op: n / share for op, n in email_stage["calls"].items()},
             "outside_calls": {op: n / share for op, n in email_stage.get("outside_calls", {}).items()},
             "pdf_ms": email_stage["pdf_ms"] / share, "python_ms": email_stage["python_ms"] / share},
            cpu_factor(email_function))
        email_most, _ = concurrency(app, queues["email worker"])
        walls["email"] = wall_seconds(emails, per_email, email_most, rate / max(recipients_per_email, 1e-9))
        figures.update({"email worker: one email on Lambda (ms)": round(1000 * per_email, 1),
                        "email worker: made of": email_parts,
                        "emails": round(emails),
                        "SES send rate (/s)": rate, "SES send rate from": rate_source,
                        "recipients per email": round(recipients_per_email, 2),
                        "email phase (min)": round(walls["email"] / 60, 1)})
    slowest = max(walls, key=walls.get)
    figures.update({
        "month's wall time (min)": round(walls[slowest] / 60, 1),
        "slowest stage": slowest,
        "assumptions": {
            "latency per call (ms)": {"DynamoDB read/write": SERVICE_LATENCY_MS["dynamodb"],
                                      "DynamoDB transaction or batch": LATENCY_MS["dynamodb.TransactWriteItems"],
                                      "S3": SERVICE_LATENCY_MS["s3"], "SES send": SERVICE_LATENCY_MS["sesv2"],
                                      "SQS send": SERVICE_LATENCY_MS["sqs"],
                                      "bank registration": OUTSIDE_LATENCY_MS["bank.register"],
                                      "NFS-e emission": OUTSIDE_LATENCY_MS["nfse_emitter.emit"]},
            "CPU": f"measured here, × {ONE_VCPU_MB} MB / the function's memory",
            "invoice number counter": f"≤ {COUNTER_ITEM_INVOICES_PER_SECOND} invoices/s (one item)",
            "stages overlap": "the month takes as long as its slowest stage",
            "measured per invoice": "a small BENCH_CONTRACTS spreads one-time costs (clients, imports) over few "
                                    "invoices: the projection is meant for the full run"}})
    return figures
