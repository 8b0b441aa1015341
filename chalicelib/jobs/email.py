"""The email queue's worker: one queued email per SQS record, sent once."""
import json
import logging

from chalice import Blueprint

from ..bootstrap import container
from ..services import notifications
from ..settings import current as current_settings

bp = Blueprint(__name__)
log = logging.getLogger("csp_portal.jobs.email")


@bp.on_sqs_message(queue=current_settings().email_queue_name, batch_size=10)
def deliver_emails(event):
    # Raising makes SQS redeliver the whole batch; already-sent emails are skipped by their
    # delivery key, so only the failed ones go out again (and, in the end, to the DLQ).
    deps = container()
    for record in event:
        message = json.loads(record.body)
        sent = notifications.deliver_email(deps, message)
        log.info("email %s %s", message["delivery_key"], "sent" if sent else "already sent")
