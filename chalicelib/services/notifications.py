"""Emails: queued by the use cases, rendered and sent once by the email worker.

A queued message names its template, recipients, a context and a delivery key. The worker claims
the delivery key with a conditional write before sending, so a message delivered twice by SQS
sends one email. If sending fails, the claim is released and SQS retries (then the DLQ).
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any, Dict, List, Optional

from ..adapters.mail import OutgoingEmail, PermanentMailFailure
from ..domain.clock import iso
from ..rendering.environment import render_email

DELIVERY_MEMORY = timedelta(days=30)


def queue_email(deps, *, template: str, to: List[str], context: Dict[str, Any], delivery_key: str,
                attachments: Optional[List[Dict[str, str]]] = None, invoice_id: Optional[str] = None) -> None:
    """`attachments`: S3 keys with a filename and content type, read when the email is sent (they
    would not fit in a queue message). `invoice_id`: where a permanent failure is recorded."""
    deps.email_queue.send({"kind": "email", "template": template, "to": to, "context": context,
                           "delivery_key": delivery_key, "attachments": attachments or [],
                           "invoice_id": invoice_id})


def deliver_email(deps, message: Dict[str, Any]) -> bool:
    """Render and send one queued email; False when it had been sent already."""
    # Render first: a message that cannot be rendered must fail (and reach the DLQ), not be
    # marked as sent.
    context = dict(message["context"])
    context.setdefault("support", asdict(deps.settings.support))
    subject, html, text = render_email(message["template"], context)
    now = deps.clock()
    if not deps.email_deliveries.claim(message["delivery_key"], iso(now), now + DELIVERY_MEMORY):
        return False
    try:
        files = [(a["filename"], a["content_type"], deps.documents.get(a["key"]))
                 for a in message.get("attachments") or []]
        deps.mailer.send(OutgoingEmail(to=list(message["to"]), subject=subject, text=text, html=html,
                                       attachments=files))
    except PermanentMailFailure as failure:
        # Retrying will not help (a rejected address, an unverified sender): keep the claim, tell the
        # operators on the invoice, and let the message go.
        if message.get("invoice_id"):
            deps.invoices.record_email_failure(message["invoice_id"], f"{failure} ({message['template']})")
        return False
    except BaseException:
        deps.email_deliveries.release(message["delivery_key"])
        raise
    return True
