"""Webhook events: the deliveries' worker (SQS) and, each minute, the outbox's dispatcher."""
import json
import logging

from chalice import Blueprint, Rate

from .. import observability
from ..bootstrap import container
from ..settings import current as current_settings

# Deferred (lean API function, issue #22 §3): each handler imports its services on first use, so that
# `import app` (every function's, the API's included) does not load them.
bp = Blueprint(__name__)
log = logging.getLogger("csp_portal.jobs.webhooks")


# One message per invocation: each is one attempt of one delivery (claimed before its POST).
@bp.on_sqs_message(queue=current_settings().webhooks_queue_name, batch_size=1)
def deliver_webhooks(event):
    from ..services import webhooks

    deps = container()
    for record in event:
        observability.bind_record(record)
        message = json.loads(record.body)
        outcome = webhooks.attempt(deps, message)
        log.info("webhook delivery %s, attempt %s: %s", message.get("delivery_id"), message.get("attempt"), outcome)


# Every minute: the outbox's events (written with the changes they report) fanned out to the
# endpoints subscribed to them; each delivery goes to the queue above.
@bp.schedule(Rate(1, unit=Rate.MINUTES))
def dispatch_webhook_events(event):
    from ..services import webhooks

    counts = webhooks.dispatch(container())
    if counts["events"]:
        log.info("%d event(s) dispatched, %d delivery(ies) made", counts["events"], counts["deliveries"])
