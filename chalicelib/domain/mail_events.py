"""What SES tells about an email after it was sent: bounces, complaints, deliveries, rejections.

SES publishes these to an SNS topic: with a configuration set's event destination (event
publishing: `eventType`, and the email's tags in `mail.tags`) or as an identity's feedback
notifications (`notificationType`, no tags). Both are read here. The SNS message is text anyone
with the topic's permission could have written, so nothing in it is trusted: an event that is not
one SES sends, or lacks what its kind needs, is ignored (`None`, with the reason in the log), never
an exception, which would have SNS retry it forever.

Only a permanent ("hard") bounce and a complaint suppress an address; a transient or undetermined
bounce, a delivery and a rejection do not.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from .users import normalize_email
from .errors import DomainError

log = logging.getLogger("csp_portal.domain.mail_events")

BOUNCE, COMPLAINT, DELIVERY, REJECT = "bounce", "complaint", "delivery", "reject"
KINDS = (BOUNCE, COMPLAINT, DELIVERY, REJECT)
# Why an address stopped receiving: the two kinds of event that suppress it.
SUPPRESSING = (BOUNCE, COMPLAINT)

PERMANENT, TRANSIENT, UNDETERMINED = "Permanent", "Transient", "Undetermined"

# The SES event types (event publishing and identity notifications spell them alike) and ours.
_TYPES = {"Bounce": BOUNCE, "Complaint": COMPLAINT, "Delivery": DELIVERY, "Reject": REJECT}
# What SES also publishes and the product does not act on: ignored quietly.
_IGNORED_TYPES = {"Send", "Open", "Click", "Rendering Failure", "DeliveryDelay", "Subscription",
                  "AmazonSnsSubscriptionSucceeded"}

# The tags the product sends with (adapters/mail.SesMailer): SES allows [A-Za-z0-9_-] in values.
TAG_TEMPLATE, TAG_ORGANIZATION, TAG_DELIVERY = "template", "organization_id", "delivery"
# The correlation id of the flow that sent the email (observability.correlation_id, made SES-safe
# by tag_value): the handler logs it, so a bounce is traced to what sent the email.
TAG_CORRELATION = "correlation_id"
_TAG_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

MAX_RECIPIENTS = 50  # SES's own limit per message: more is not an event SES wrote
DIAGNOSTIC_LENGTH = 300
MAX_MESSAGE_BYTES = 256 * 1024  # SNS's limit


@dataclass(frozen=True)
class MailEvent:
    kind: str  # BOUNCE, COMPLAINT, DELIVERY, REJECT
    # Identifies the event: SES's feedbackId when it has one, else the message id and the kind
    # (SNS delivers at least once: the same event twice has the same id).
    event_id: str
    message_id: str
    at: Optional[str]
    recipients: Tuple[str, ...]  # normalised addresses (the bounced or complained ones)
    bounce_type: Optional[str] = None  # PERMANENT, TRANSIENT, UNDETERMINED (bounces)
    diagnostic: Optional[str] = None  # SES's diagnostic code or complaint type, trimmed
    tags: Dict[str, str] = field(default_factory=dict)  # the product's tags, each checked

    @property
    def suppresses(self) -> bool:
        """A hard bounce or a complaint: the address must not be written to again."""
        return self.kind == COMPLAINT or (self.kind == BOUNCE and self.bounce_type == PERMANENT)

    @property
    def organization_id(self) -> Optional[str]:
        return self.tags.get(TAG_ORGANIZATION)

    @property
    def template(self) -> Optional[str]:
        return self.tags.get(TAG_TEMPLATE)

    @property
    def correlation_id(self) -> Optional[str]:
        return self.tags.get(TAG_CORRELATION)


def tag_value(value: Any) -> str:
    """A value SES accepts as a message tag: letters, digits, `_` and `-` only (others become `_`),
    at most 256 characters, never empty."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", str(value or ""))[:256]
    return cleaned or "_"


def parse_sns_message(raw: Any) -> Optional[MailEvent]:
    """The event in one SNS message (its `Message`, a JSON string), or None when it is not one the
    product acts on or can read (the reason is logged; the message itself is not, as it names
    addresses)."""
    if not isinstance(raw, str):
        log.warning("mail event ignored: the SNS message is not text (%s)", type(raw).__name__)
        return None
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        log.warning("mail event ignored: %d characters, more than SNS carries", len(raw))
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        log.warning("mail event ignored: not JSON")
        return None
    if not isinstance(body, dict):
        log.warning("mail event ignored: not a JSON object")
        return None
    return parse_event(body)


def parse_event(body: Dict[str, Any]) -> Optional[MailEvent]:
    event_type = body.get("eventType", body.get("notificationType"))
    if not isinstance(event_type, str):
        log.warning("mail event ignored: its type is not text")
        return None
    if event_type in _IGNORED_TYPES:
        log.info("mail event ignored: type %s is not acted on", event_type)
        return None
    kind = _TYPES.get(event_type)
    if kind is None:
        log.warning("mail event ignored: unknown type %r", _short(event_type))
        return None
    mail = body.get("mail")
    if not isinstance(mail, dict) or not _text(mail.get("messageId")):
        log.warning("mail event ignored: a %s without its mail's messageId", kind)
        return None
    message_id = _text(mail.get("messageId"))[:200]
    tags = _tags(mail.get("tags"))
    detail = body.get(kind)
    if not isinstance(detail, dict):
        log.warning("mail event ignored: a %s without its %r object", kind, kind)
        return None
    at = _text(detail.get("timestamp")) or _text(mail.get("timestamp"))
    feedback_id = _text(detail.get("feedbackId"))
    event_id = (feedback_id or f"{message_id}#{kind}")[:300]
    if kind == REJECT:
        return MailEvent(kind, event_id, message_id, at, (), diagnostic=_trim(detail.get("reason")), tags=tags)
    if kind == DELIVERY:
        recipients = _addresses(detail.get("recipients"), plain=True)
        return MailEvent(kind, event_id, message_id, at, recipients or (), tags=tags)
    if kind == BOUNCE:
        bounce_type = detail.get("bounceType")
        if bounce_type not in (PERMANENT, TRANSIENT, UNDETERMINED):
            log.warning("mail event ignored: a bounce of unknown type %r", _short(bounce_type))
            return None
        listed = detail.get("bouncedRecipients")
        recipients = _addresses(listed)
        if not recipients:
            log.warning("mail event ignored: a bounce without a valid bounced recipient")
            return None
        return MailEvent(kind, event_id, message_id, at, recipients, bounce_type=bounce_type,
                         diagnostic=_diagnostic(listed) or _trim(detail.get("bounceSubType")), tags=tags)
    recipients = _addresses(detail.get("complainedRecipients"))
    if not recipients:
        log.warning("mail event ignored: a complaint without a valid complained recipient")
        return None
    return MailEvent(kind, event_id, message_id, at, recipients,
                     diagnostic=_trim(detail.get("complaintFeedbackType")), tags=tags)


def _text(value: Any) -> Optional[str]:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _short(value: Any) -> str:
    return str(value)[:40]


def _trim(value: Any) -> Optional[str]:
    """Free text from SES (a diagnostic code): one line, bounded."""
    text = _text(value)
    if text is None:
        return None
    return " ".join(text.split())[:DIAGNOSTIC_LENGTH]


def _addresses(listed: Any, plain: bool = False) -> Optional[Tuple[str, ...]]:
    """The valid addresses of a recipients list (`[{"emailAddress": …}]`, or plain strings), each
    once; None when the list is not one, or is longer than SES sends. Invalid entries are skipped."""
    if not isinstance(listed, list) or len(listed) > MAX_RECIPIENTS:
        return None
    found = []
    for entry in listed:
        raw = entry if plain else (entry.get("emailAddress") if isinstance(entry, dict) else None)
        if not isinstance(raw, str):
            continue
        try:
            address = normalize_email(raw)
        except DomainError:
            continue
        if address not in found:
            found.append(address)
    return tuple(found)


def _diagnostic(listed: Any) -> Optional[str]:
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and _trim(entry.get("diagnosticCode")):
            return _trim(entry.get("diagnosticCode"))
    return None


def _tags(raw: Any) -> Dict[str, str]:
    """The product's own tags (event publishing: `{"name": ["value"]}`); any other or malformed
    tag is dropped."""
    tags: Dict[str, str] = {}
    if not isinstance(raw, dict):
        return tags
    for name in (TAG_TEMPLATE, TAG_ORGANIZATION, TAG_DELIVERY, TAG_CORRELATION):
        values = raw.get(name)
        value = values[0] if isinstance(values, list) and len(values) == 1 else None
        if isinstance(value, str) and _TAG_VALUE.match(value):
            tags[name] = value
    return tags


@dataclass(frozen=True)
class Suppression:
    """An address no email goes to any more: SES reported a hard bounce or a complaint for it. It
    stays until the billing contacts of its organisation stop listing it (services/contracts.py),
    or an operator lifts it."""

    email: str  # normalised
    kind: str  # BOUNCE or COMPLAINT
    since: str  # when the product learnt it (ISO instant)
    event_id: str
    diagnostic: Optional[str] = None
    organization_id: Optional[str] = None  # the email's organisation, from its tag, when it exists
    template: Optional[str] = None


def suppression_for(event: MailEvent, address: str, *, since: str, organization_id: Optional[str]) -> Suppression:
    return Suppression(email=address, kind=event.kind, since=since, event_id=event.event_id,
                       diagnostic=event.diagnostic, organization_id=organization_id, template=event.template)
