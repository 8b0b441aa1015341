"""SES's bounce, complaint and delivery events, as SNS hands them (SES → configuration set →
the mail events topic → this handler)."""
import logging

from chalice import Blueprint

from ..bootstrap import container
from ..settings import current as current_settings

# Deferred (lean API function, issue #22 §3): each handler imports its services on first use, so that
# `import app` (every function's, the API's included) does not load them.
bp = Blueprint(__name__)
log = logging.getLogger("csp_portal.jobs.mail_events")


@bp.on_sns_message(topic=current_settings().mail_events_topic)
def handle_mail_event(event):
    from ..services import mail_events

    # SNS hands one message per invocation. An unreadable event is ignored inside (a log line), so
    # only a failure of the table or the queue raises, and Lambda's retries of an asynchronous
    # invocation try it again; the suppression's conditional write keeps a retry from acting twice.
    deps = container()
    records = event.to_dict().get("Records") or []  # Lambda hands SNS one record; each is read all the same
    suppressed = sum(mail_events.handle_sns_message(deps, (record.get("Sns") or {}).get("Message"))
                     for record in records if isinstance(record, dict))
    log.info("mail event handled: %d address(es) suppressed", suppressed)
