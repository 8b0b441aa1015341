"""Billing events: the daily closing run (schedule), the per-contract worker (SQS), and the
daily overdue and dunning run (schedule)."""
import json
import logging

from chalice import Blueprint, Cron

from .. import observability
from ..bootstrap import container
from ..settings import current as current_settings

# Deferred (lean API function, issue #22 §3): each handler imports its services on first use, so that
# `import app` (every function's, the API's included) does not load them.
bp = Blueprint(__name__)
log = logging.getLogger("csp_portal.jobs.billing")


# 03:10 UTC = 00:10 in São Paulo: the contracts that closed yesterday are billed as the day starts.
@bp.schedule(Cron(10, 3, "*", "*", "?", "*"))
def start_billing_run(event):
    from ..services import billing

    run_id = billing.start_daily_run(container())
    log.info("billing run %s started", run_id)


# One message per invocation: a failing contract is retried (then dead-lettered) on its own, and
# the others are neither held back nor counted twice. Every message is repeat-safe anyway. The
# run's own shard messages come through here too: each queues one shard's contracts.
@bp.on_sqs_message(queue=current_settings().billing_queue_name, batch_size=1)
def bill_contracts(event):
    from ..services import billing

    deps = container()
    for record in event:
        observability.bind_record(record)  # this record's work logs with the id its sender had
        message = json.loads(record.body)
        if message.get("kind") == "bill_shard":  # a shard of the run's contracts (issue #22 §4)
            queued = billing.bill_shard(deps, message)  # a failure is retried, then dead-lettered
            log.info("run %s, shard %s: %d contract(s) queued", message["run_id"], message["shard"], queued)
            continue
        attempt = int(record.to_dict().get("attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            outcome = billing.bill_contract(deps, message)
        except Exception as error:
            # Why, for the operators' run page; then as before: retried, then dead-lettered.
            try:
                billing.record_contract_failure(deps, message, error, attempt)
            except Exception:  # noqa: BLE001 - the contract's own error is the one to raise
                log.exception("could not record the failure of contract %s", message["organization_id"])
            raise
        # The contract's outcome (which also clears a failure recorded before) was written by
        # bill_contract: with its documents for an issued invoice, on its own otherwise.
        log.info("contract %s, closing %s: %s", message["organization_id"], message["closing_date"], outcome)


# 12:00 UTC = 09:00 in São Paulo, a business-hours reminder: invoices past due become overdue, then
# each one's dunning step of the day (reminder, purchase block, suspension warning) is taken once.
@bp.schedule(Cron(0, 12, "*", "*", "?", "*"))
def mark_overdue_invoices(event):
    from ..services import dunning

    outcome = dunning.run_daily(container())
    log.info("%d invoice(s) became overdue, %d dunning step(s) taken", outcome["overdue"], outcome["steps"])
