"""The email queue's worker: the queued emails of an SQS batch, each sent once, at SES's pace."""
import json
import logging
import time

from chalice import Blueprint

from .. import observability
from ..bootstrap import container
from ..domain import send_rate
from ..settings import current as current_settings

# Deferred (lean API function, issue #22 §3): each handler imports its services on first use, so that
# `import app` (every function's, the API's included) does not load them.
bp = Blueprint(__name__)

log = logging.getLogger("csp_portal.jobs.email")

BATCH_SIZE = 10
# How many of this function's invocations the SQS event source runs at once (Lambda's minimum, 2):
# they share SES's send rate (settings.ses_max_send_rate), each sending at its part of it. Raising
# it (with the SES quota) shortens a big month's email tail.
MAXIMUM_CONCURRENCY = 2
# Lambda waits up to this long for a batch to fill (or 6 MB): during a billing run's burst the
# batches go out full, ten emails a claim and a mark; a lone email waits at most this.
BATCHING_WINDOW_SECONDS = 5

_pacer = None


def pacer(settings) -> send_rate.SendPacer:
    """This container's pace, kept across its invocations (one at a time): its share of SES's rate."""
    global _pacer
    rate = send_rate.share(settings.ses_max_send_rate, MAXIMUM_CONCURRENCY)
    if _pacer is None or _pacer.rate != rate:
        _pacer = send_rate.SendPacer(rate, time.monotonic, time.sleep)
    return _pacer


class EmailBatchFailed(Exception):
    """Some emails of the batch were not sent: SQS delivers the batch again."""


@bp.on_sqs_message(queue=current_settings().email_queue_name, batch_size=BATCH_SIZE,
                   maximum_batching_window_in_seconds=BATCHING_WINDOW_SECONDS,
                   maximum_concurrency=MAXIMUM_CONCURRENCY)
def deliver_emails(event):
    from ..services import notifications

    # One email's failure must not hold back the others in its batch: each is tried, then the batch
    # fails if any did. SQS redelivers the whole batch; the emails already sent are skipped by their
    # delivery key, so only the failed ones go out again (and, in the end, to the DLQ).
    deps = container()
    records = list(event)
    messages = [json.loads(record.body) for record in records]
    # Each record's work logs with the id its sender had.
    remaining = getattr(event.context, "get_remaining_time_in_millis", None)
    outcomes = notifications.deliver_emails(deps, messages, pace=pacer(deps.settings),
                                            enter=lambda index: observability.bind_record(records[index]),
                                            seconds_left=(lambda: remaining() / 1000) if remaining else None)
    failures = []
    for record, message, outcome in zip(records, messages, outcomes):
        observability.bind_record(record)
        if isinstance(outcome, Exception):
            log.warning("email %s not sent: %s", observability.scrub(message.get("delivery_key")),
                        observability.scrub(outcome))
            failures.append(str(record.to_dict().get("messageId", "?")))
        else:
            log.info("email %s %s", observability.scrub(message["delivery_key"]),
                     "sent" if outcome else "already sent")
    if failures:
        # A neutral text, ids only: what the batch raises goes to the Lambda runtime's own error
        # log and to X-Ray, where the product's scrubbing does not reach (an error's text may
        # name an address or a lead's CNPJ); each failure's reason was logged, scrubbed, above.
        raise EmailBatchFailed(f"{len(failures)} of {len(records)} emails not sent "
                               f"(SQS message ids: {', '.join(failures)})")
