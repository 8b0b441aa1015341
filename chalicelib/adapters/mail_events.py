"""SES's mailbox simulator for the embedded AWS: the events SES would publish, published to the
same SNS topic.

On AWS, SES publishes an email's bounce, complaint and delivery events through the configuration
set (infra/resources.json) to the topic `settings.mail_events_topic`. moto publishes none that
matter (its identity notifications carry made-up recipients and no tags), so `make run` and the
tests use this instead (settings.mail_events_simulated): after each email SES accepted, for every
recipient at one of SES's mailbox simulator addresses, or at a local test domain, it publishes the
event-publishing JSON SES would (eventType, mail with its tags, bounce or complaint), which SNS
hands to the handler (jobs/mail_events.py; locally through local/sns_delivery.py).

| recipient                                   | event                                  |
|---------------------------------------------|----------------------------------------|
| bounce@simulator.amazonses.com, …@bounce.invalid | Bounce, Permanent (a hard bounce) |
| complaint@simulator.amazonses.com, …@complaint.invalid | Complaint                    |
| success@simulator.amazonses.com             | Delivery                               |
| …@transient.invalid                         | Bounce, Transient (a full mailbox)     |

A label after `+` is allowed, as SES's simulator allows (bounce+financeiro@simulator.amazonses.com).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from .aws import client

log = logging.getLogger("csp_portal.adapters.mail_events")

SIMULATOR_DOMAIN = "simulator.amazonses.com"
HARD_BOUNCE, TRANSIENT_BOUNCE, COMPLAINT, DELIVERY = "hard_bounce", "transient_bounce", "complaint", "delivery"
_SIMULATOR_MAILBOXES = {"bounce": HARD_BOUNCE, "complaint": COMPLAINT, "success": DELIVERY}
_LOCAL_DOMAINS = {"bounce.invalid": HARD_BOUNCE, "complaint.invalid": COMPLAINT, "transient.invalid": TRANSIENT_BOUNCE}


def outcome(address: str) -> Optional[str]:
    """What SES's simulator (or a local test domain) answers for `address`; None: a plain delivery,
    about which nothing is published."""
    local, _, domain = address.strip().lower().rpartition("@")
    if domain == SIMULATOR_DOMAIN:
        return _SIMULATOR_MAILBOXES.get(local.split("+", 1)[0])
    return _LOCAL_DOMAINS.get(domain)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ses_event(kind: str, *, message_id: str, recipients: List[str], tags: Dict[str, str], source: str = "",
              feedback_id: Optional[str] = None) -> Dict[str, Any]:
    """The JSON SES's event publishing writes for one email and `kind` (HARD_BOUNCE, TRANSIENT_BOUNCE,
    COMPLAINT, DELIVERY) about `recipients`."""
    at = _now()
    mail = {"timestamp": at, "source": source, "messageId": message_id, "destination": list(recipients),
            "headersTruncated": False, "tags": {name: [value] for name, value in tags.items()}}
    feedback = feedback_id or f"sim-{message_id}-{kind}"
    if kind in (HARD_BOUNCE, TRANSIENT_BOUNCE):
        hard = kind == HARD_BOUNCE
        return {"eventType": "Bounce", "mail": mail, "bounce": {
            "bounceType": "Permanent" if hard else "Transient", "bounceSubType": "General" if hard else "MailboxFull",
            "bouncedRecipients": [{"emailAddress": r, "action": "failed", "status": "5.1.1" if hard else "4.2.2",
                                   "diagnosticCode": "smtp; 550 5.1.1 user unknown" if hard
                                   else "smtp; 452 4.2.2 mailbox full"} for r in recipients],
            "timestamp": at, "feedbackId": feedback, "reportingMTA": "dns; simulator.amazonses.com"}}
    if kind == COMPLAINT:
        return {"eventType": "Complaint", "mail": mail, "complaint": {
            "complainedRecipients": [{"emailAddress": r} for r in recipients], "timestamp": at,
            "feedbackId": feedback, "complaintFeedbackType": "abuse", "userAgent": "Simulated feedback loop"}}
    return {"eventType": "Delivery", "mail": mail, "delivery": {
        "timestamp": at, "processingTimeMillis": 100, "recipients": list(recipients),
        "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "simulator.amazonses.com"}}


class SimulatedSesEvents:
    """Told of each email SES accepted (SesMailer's `on_sent`); publishes what SES would."""

    def __init__(self, topic_name: str, region: str, source: str = ""):
        self._topic_name = topic_name
        self._region = region
        self._source = source
        self._topic_arn: Optional[str] = None

    def __call__(self, email, message_id: str, tags: Dict[str, str]) -> None:
        by_outcome: Dict[str, List[str]] = {}
        for recipient in email.to:
            found = outcome(recipient)
            if found is not None:
                by_outcome.setdefault(found, []).append(recipient.strip().lower())
        for kind, recipients in by_outcome.items():
            self.publish(ses_event(kind, message_id=message_id, recipients=recipients, tags=tags,
                                   source=self._source))

    def publish(self, event: Any) -> None:
        """Publish `event` (a dict, as SES writes it, or any text: tests send hostile ones) to the topic."""
        sns = client("sns", self._region)
        if self._topic_arn is None:
            # Idempotent: the topic local/aws_resources.py created, by its name.
            self._topic_arn = sns.create_topic(Name=self._topic_name)["TopicArn"]
        message = event if isinstance(event, str) else json.dumps(event)
        sns.publish(TopicArn=self._topic_arn, Message=message)
        log.info("simulated SES event published to %s", self._topic_name)
