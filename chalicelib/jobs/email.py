"""The email queue's worker: one queued email per SQS record, sent once."""
import json
import logging

from chalice import Blueprint

from .. import observability
from ..bootstrap import container
from ..settings import current as current_settings

# Deferred (lean API function, issue #22 §3): each handler imports its services on first use, so that
# `import app` (every function's, the API's included) does not load them.
bp = Blueprint(__name__)

log = logging.getLogger("csp_portal.jobs.email")


class EmailBatchFailed(Exception):
    """Some emails of the batch were not sent: SQS delivers the batch again."""


@bp.on_sqs_message(queue=current_settings().email_queue_name, batch_size=10)
def deliver_emails(event):
    from ..services import notifications

    # One email's failure must not hold back the others in its batch: each is tried, then the batch
    # fails if any did. SQS redelivers the whole batch; the emails already sent are skipped by their
    # delivery key, so only the failed ones go out again (and, in the end, to the DLQ).
    deps = container()
    failures, total = [], 0
    for record in event:
        total += 1
        observability.bind_record(record)  # this record's work logs with the id its sender had
        message = json.loads(record.body)
        try:
            sent = notifications.deliver_email(deps, message)
        except Exception as error:  # noqa: BLE001 - the batch fails below, after the rest of it
            log.warning("email %s not sent: %s", observability.scrub(message.get("delivery_key")),
                        observability.scrub(error))
            failures.append(str(record.to_dict().get("messageId", "?")))
            continue
        log.info("email %s %s", observability.scrub(message["delivery_key"]), "sent" if sent else "already sent")
    if failures:
        # A neutral text, ids only: what the batch raises goes to the Lambda runtime's own error
        # log and to X-Ray, where the product's scrubbing does not reach (an error's text may
        # name an address or a lead's CNPJ); each failure's reason was logged, scrubbed, above.
        raise EmailBatchFailed(f"{len(failures)} of {total} emails not sent "
                               f"(SQS message ids: {', '.join(failures)})")
