"""The billing worker's DynamoDB requests per invoice (issue #22 §1), by operation and call site.

Bills N contracts of the bench's world (a boleto contract, three subscriptions, no credit notes,
first delivery: the common path) one message at a time as the worker does — each as a run's shard
writes it, the table's credit notes all marked in their collections — after one contract that
warms the container (its catalog read and the invoice number counter's first read), counting every
DynamoDB request with a hook on botocore's client. Target: ≤ 3 per invoice (the organisation's
items with the credit notes left, the issue transaction, the documents transaction). The email worker's
requests are not counted here: they are the email queue's (bench/run.py's billing run counts all).
"""
from __future__ import annotations

import traceback
from collections import Counter

TARGET = 3


def _site() -> str:
    """The repository method the product called (the outermost frame in chalicelib/storage)."""
    for frame in traceback.extract_stack():
        if "/chalicelib/storage/" in frame.filename:
            return f"storage/{frame.filename.rsplit('/', 1)[1]}:{frame.name}"
    return "?"


def billing_worker_calls(deps, contracts: int = 20) -> dict:
    from datetime import datetime, timezone

    from botocore.client import BaseClient

    from bench.run import record
    from chalicelib.domain.audit import SYSTEM
    from chalicelib.domain.clock import FixedClock, SAO_PAULO
    from chalicelib.services import billing
    from tests.support import billable_organizations

    deps.clock = FixedClock(datetime(2026, 11, 11, 12, tzinfo=SAO_PAULO).astimezone(timezone.utc))
    warm, *organization_ids = billable_organizations(deps, contracts + 1, closing_day=10)
    run_id = billing.start_run(deps, SYSTEM, period="2026-11", closing_days=[])

    def bill(organization_id: str) -> str:
        return billing.bill_contract(deps, {"kind": "bill_contract", "run_id": run_id, "credits_in_collection": True,
                                            "organization_id": organization_id, "closing_date": "2026-11-10"})

    bill(warm)
    calls: Counter = Counter()
    original = BaseClient._make_api_call

    def counted(client, operation_name, api_params):
        if client.meta.service_model.service_name == "dynamodb":
            calls[(operation_name, _site())] += 1
        return original(client, operation_name, api_params)

    BaseClient._make_api_call = counted
    try:
        outcomes = Counter(bill(organization_id) for organization_id in organization_ids)
    finally:
        BaseClient._make_api_call = original
    per_invoice = sum(calls.values()) / contracts
    return record("billing_worker_calls", {
        "contracts": contracts, "outcomes": dict(outcomes),
        "DynamoDB requests per invoice (billing worker)": round(per_invoice, 2),
        "target": f"≤ {TARGET}", "met": per_invoice <= TARGET and outcomes == Counter(issued=contracts),
        "by operation and call site (per invoice)": {f"{op} {site}": round(n / contracts, 2)
                                                     for (op, site), n in sorted(calls.items())}})
