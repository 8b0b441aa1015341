"""The provisioning worker (SQS), the daily renewal job and the daily suspension job (schedules)."""
import json
import logging

from chalice import Blueprint, Cron

from .. import observability
from ..bootstrap import container
from ..domain.clock import local_day
from ..settings import current as current_settings

# Deferred (lean API function, issue #22 §3): each handler imports its services on first use, so that
# `import app` (every function's, the API's included) does not load them.
bp = Blueprint(__name__)
log = logging.getLogger("csp_portal.jobs.licences")


# One message per invocation: a failure delays only its own change (backoff), nothing else.
@bp.on_sqs_message(queue=current_settings().provisioning_queue_name, batch_size=1)
def provision_changes(event):
    from ..services import provisioning

    deps = container()
    for record in event:
        observability.bind_record(record)  # this record's work logs with the id its sender had
        message = json.loads(record.body)
        attempt = int(record.to_dict().get("attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            status = provisioning.apply_queued_change(deps, message, attempt)
        except provisioning.RetryLater as retry:
            log.warning("change %s: provider failed (attempt %d), retry in %ds", message["change_id"], attempt,
                        retry.delay_seconds)
            deps.provisioning_queue.change_visibility(record.receipt_handle, retry.delay_seconds)
            raise
        except provisioning.ProvisioningFailed:
            # Recorded as failed and the requester told: back to the queue at once, whose redrive
            # policy moves it to the dead-letter queue for the operators.
            log.error("change %s failed for good; to the dead-letter queue", message["change_id"])
            deps.provisioning_queue.change_visibility(record.receipt_handle, 0)
            raise
        log.info("change %s: %s", message["change_id"], status)


@bp.schedule(Cron("0/15", "*", "*", "*", "?", "*"))
def requeue_stuck_changes(event):
    from ..services import provisioning

    requeued = provisioning.requeue_stuck_changes(container())
    # Every 15 minutes, mostly nothing: said only when something was stuck (a demo clock fires it
    # 96 times a day).
    if requeued:
        log.info("re-queued %d stuck change(s)", requeued)


# 03:00 UTC is midnight in São Paulo: renewals happen on their day, in the customer's calendar.
@bp.schedule(Cron(0, 3, "*", "*", "?", "*"))
def renew_subscriptions(event):
    from ..services import renewals

    deps = container()
    renewed = renewals.renew_due(deps, local_day(deps.clock()))
    log.info("renewed %d subscription(s)", renewed)


# 12:30 UTC = 09:30 in São Paulo: after the overdue run (12:00), so an invoice marked overdue today
# counts; in business hours, so the operators can answer the customer the same morning.
@bp.schedule(Cron(30, 12, "*", "*", "?", "*"))
def suspend_overdue_subscriptions(event):
    from ..services import suspensions

    outcome = suspensions.suspend_due(container())
    log.info("suspensions: %(suspended)d suspended, %(reactivated)d reactivated, %(failed)d left for the next run",
             outcome)
