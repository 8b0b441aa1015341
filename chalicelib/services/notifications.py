"""Emails: queued by the use cases, rendered and sent once by the email worker.

A queued message names its template, recipients, a context and a delivery key. The worker claims
the delivery key with a conditional write before sending and marks it sent after, so a message
delivered twice by SQS sends one email. If sending fails, the claim is released and SQS retries
(then the DLQ). A worker killed mid-send leaves a claim that expires after SENDING_CLAIM; until
then, a redelivery waits its turn instead of sending.
"""
from __future__ import annotations

import base64
import json
import logging
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol, Tuple

from .. import observability
from ..adapters.mail import OutgoingEmail, PermanentMailFailure
from ..adapters.aws import CALL_BOUND_SECONDS
from ..domain import mail_events as mail_event_rules
from ..domain.send_rate import NoTimeToWait
from ..domain.clock import iso
from ..domain.ids import digest
from ..observability import Metric, count
from ..rendering.environment import render_email

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.documents import S3DocumentStore
    from ..adapters.mail import SesMailer
    from ..adapters.queue import Queue
    from ..settings import Settings
    from ..storage.billing import InvoiceRepository
    from ..storage.repositories import EmailDeliveries
    from ..storage.suppressions import SuppressionRepository
    from .audit import Clocked

    class QueuesEmails(Protocol):
        """The email queue: every use case that writes to someone queues it (`queue_email`)."""

        email_queue: Queue

    class EmailWorkerDeps(Clocked, Protocol):
        """The worker: drops the suppressed recipients, renders, claims the delivery, reads the
        attachments, sends, and records a permanent failure (or an email nobody could receive) on
        the invoice."""

        settings: Settings
        suppressions: SuppressionRepository
        email_deliveries: EmailDeliveries
        documents: S3DocumentStore
        mailer: SesMailer
        invoices: InvoiceRepository


log = logging.getLogger("csp_portal.services.notifications")

DELIVERY_MEMORY = timedelta(days=30)
# Longer than the email Lambda can live (60 s timeout), shorter than the queue's visibility timeout
# (360 s): the first redelivery after a killed worker finds the claim expired (a test checks both).
SENDING_CLAIM = timedelta(minutes=2)


class DeliveryInProgress(Exception):
    """Another worker holds this email's claim: the message is retried after its visibility timeout."""


def with_operators(billing_contacts: List[str], operators_email: str) -> List[str]:
    """Who hears of a customer's collection (dunning steps, suspensions): its billing contacts and
    the operators, each once, in that order."""
    return list(dict.fromkeys([*billing_contacts, operators_email]))


# A queued email's body stays under this many bytes: SQS refuses a message over 256 KiB (262 144
# bytes, the queue's default MaximumMessageSize), message attributes (the correlation id) included;
# the margin covers those attributes and the JSON's own growth. Attachments that would take the
# body past it travel by their S3 key instead, read by the worker as before.
MESSAGE_BUDGET = 240_000


def _encoded(attachment: Dict[str, Any]) -> Dict[str, Any]:
    """An attachment as the message carries it: its key, filename and type, and its bytes (when
    given) base64-encoded in `content_b64`."""
    entry = {k: v for k, v in attachment.items() if k != "content"}
    if attachment.get("content") is not None:
        entry["content_b64"] = base64.b64encode(attachment["content"]).decode("ascii")
    return entry


def _size(message: Dict[str, Any]) -> int:
    return len(json.dumps(message, sort_keys=True).encode("utf-8"))


def email_message(*, template: str, to: List[str], context: Dict[str, Any], delivery_key: str,
                  attachments: Optional[List[Dict[str, Any]]] = None, invoice_id: Optional[str] = None,
                  organization_id: Optional[str] = None) -> Dict[str, Any]:
    """The queue message of an email (`queue_email`). Attachments given with their bytes carry them
    (`content_b64`, so the worker reads nothing back from S3), in order, as long as the body stays
    under MESSAGE_BUDGET; the others carry their S3 key only."""
    message = {"kind": "email", "template": template, "to": to, "context": context, "delivery_key": delivery_key,
               "attachments": [_encoded({**a, "content": None}) for a in attachments or []],
               "invoice_id": invoice_id, "organization_id": organization_id}
    for index, attachment in enumerate(attachments or []):
        if attachment.get("content") is None:
            continue
        tried = {**message, "attachments": [*message["attachments"][:index], _encoded(attachment),
                                             *message["attachments"][index + 1:]]}
        if _size(tried) <= MESSAGE_BUDGET:
            message = tried
    return message


def queue_email(deps: QueuesEmails, *, template: str, to: List[str], context: Dict[str, Any], delivery_key: str,
                attachments: Optional[List[Dict[str, Any]]] = None, invoice_id: Optional[str] = None,
                organization_id: Optional[str] = None) -> None:
    """`attachments`: each its S3 `key`, `filename` and `content_type`, and optionally its bytes
    (`content`): carried in the message when they fit (`email_message`), else read from S3 by the
    worker when the email is sent. `invoice_id`: where a permanent failure is recorded.
    `organization_id`: the organisation the email is about, sent as an SES tag, so that a bounce or
    a complaint is told to that organisation (services/mail_events.py)."""
    deps.email_queue.send(email_message(template=template, to=to, context=context, delivery_key=delivery_key,
                                        attachments=attachments, invoice_id=invoice_id,
                                        organization_id=organization_id))


def attachment_files(deps: EmailWorkerDeps, message: Dict[str, Any],
                     before_read: Callable[[], Any] = lambda: None) -> List[Tuple[str, str, bytes]]:
    """(filename, content type, bytes) of a message's attachments: from the message when it carries
    them (`content_b64`), else from S3 by key (messages queued before, or too big to carry them),
    `before_read()` called before each S3 read."""
    def content(attachment: Dict[str, Any]) -> bytes:
        if attachment.get("content_b64") is not None:
            return base64.b64decode(attachment["content_b64"])
        before_read()
        return deps.documents.get(attachment["key"])

    return [(a["filename"], a["content_type"], content(a)) for a in message.get("attachments") or []]


# What the invoice says (the customer sees its `email_error` too, so no address is named) when
# suppressed recipients were dropped from its email.
SUPPRESSED_NOTE = "e-mail não enviado a {count} contato(s) suspenso(s)"


def without_suppressed(deps: EmailWorkerDeps, message: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
    """The message without the recipients SES reported as undeliverable (a hard bounce, a
    complaint: storage/suppressions.py), and those it dropped. Writing to them again is what gets
    an SES account reviewed, then paused. The operators' address is never dropped (it is never
    suppressed either: services/mail_events.py), so their notices always go."""
    recipients = list(message["to"])
    operators = deps.settings.operators_email.strip().lower()
    suppressed = {a: s for a, s in deps.suppressions.of(recipients).items() if a != operators}
    if not suppressed:
        return message, []
    kept = [r for r in recipients if r.strip().lower() not in suppressed]
    dropped = [r for r in recipients if r.strip().lower() in suppressed]
    log.info("email %s (%s): %d suppressed recipient(s) dropped, %d left",
             observability.scrub(message["delivery_key"]), message["template"], len(dropped), len(kept))
    return {**message, "to": kept}, dropped


def _record_dropped(deps: EmailWorkerDeps, message: Dict[str, Any], dropped: List[str]) -> None:
    """Once per email (after its claim): EmailsSuppressed counts each dropped recipient, and an
    invoice's email says how many of its contacts it did not reach (a dunning step reaching only
    the operators still shows the customer was not warned)."""
    count(Metric.EMAILS_SUPPRESSED, len(dropped))
    if message.get("invoice_id"):
        deps.invoices.record_email_failure(
            message["invoice_id"], f"{SUPPRESSED_NOTE.format(count=len(dropped))} ({message['template']})")


def _suppressed_entirely(deps: EmailWorkerDeps, message: Dict[str, Any], now) -> None:
    """No recipient left: the email is remembered as not sent (a redelivery sends nothing either)."""
    deliveries = deps.email_deliveries
    deliveries.finish(message["delivery_key"], deliveries.SUPPRESSED, iso(now), now + DELIVERY_MEMORY)


def email_tags(message: Dict[str, Any]) -> Dict[str, str]:
    """The SES tags of an email: no personal data, enough to trace an event back (its template, its
    organisation, its delivery key's digest, the correlation id of the flow sending it)."""
    tags = {mail_event_rules.TAG_TEMPLATE: message["template"],
            mail_event_rules.TAG_DELIVERY: digest(message["delivery_key"])[:32]}
    if message.get("organization_id"):
        tags[mail_event_rules.TAG_ORGANIZATION] = message["organization_id"]
    if observability.correlation_id():
        tags[mail_event_rules.TAG_CORRELATION] = mail_event_rules.tag_value(observability.correlation_id())
    return tags


def deliver_email(deps: EmailWorkerDeps, message: Dict[str, Any], pace: Optional[Callable[[int], Any]] = None) -> bool:
    """Render and send one queued email; False when it had been sent already, or when none of its
    recipients may be written to (suppressed). `pace`: called right before SES is, with the number
    of recipients (the worker's send rate, domain/send_rate.py)."""
    message, dropped = without_suppressed(deps, message)
    # Render first: a message that cannot be rendered must fail (and reach the DLQ), not be
    # marked as sent.
    context = dict(message["context"])
    context.setdefault("support", asdict(deps.settings.support))
    subject, html, text = render_email(message["template"], context)
    now = deps.clock()
    deliveries, key = deps.email_deliveries, message["delivery_key"]
    claim = deliveries.claim(key, now, now + SENDING_CLAIM)
    if claim == deliveries.SENDING:
        # The key's digest, not the key (a lead's holds its CNPJ): this text reaches the runtime's log.
        raise DeliveryInProgress(f"email {digest(key)[:32]} is being sent by another worker")
    if claim != deliveries.CLAIMED:
        return False
    if dropped:
        _record_dropped(deps, message, dropped)
    if not message["to"]:
        _suppressed_entirely(deps, message, now)
        return False
    try:
        files = attachment_files(deps, message)
        if pace is not None:
            pace(len(message["to"]))
        message_id = deps.mailer.send(OutgoingEmail(to=list(message["to"]), subject=subject, text=text, html=html,
                                                    attachments=files, tags=email_tags(message)))
    except PermanentMailFailure as failure:
        # Retrying will not help (a rejected address, an unverified sender, a message that cannot
        # be built): remember it as failed, tell the operators on the invoice and in the log, and
        # let the message go, so it never holds the queue.
        log.error("email %s (%s) failed for good: %s", observability.scrub(key), message["template"],
                  observability.scrub(failure))
        observability.count(Metric.EMAILS_FAILED)
        deliveries.finish(key, deliveries.FAILED, iso(now), now + DELIVERY_MEMORY)
        if message.get("invoice_id"):
            deps.invoices.record_email_failure(message["invoice_id"], f"{failure} ({message['template']})")
        return False
    except BaseException:
        deliveries.release(key)
        raise
    deliveries.finish(key, deliveries.SENT, iso(deps.clock()), now + DELIVERY_MEMORY, message_id)
    observability.count(Metric.EMAILS_SENT)
    return True


# --- the worker's batch (issue #22 §5) ----------------------------------------------------------

# A transaction takes at most 100 actions: the batch's claims and its recipients' checks.
TRANSACTION_ACTIONS = 100
# A batch marks what it sent in one write at its end: it makes each S3 read and each send only while
# this much of the invocation is left (checked just before each), longer than one such call can take
# (adapters/aws.py bounds them: CALL_BOUND_SECONDS, 26 s) plus the mark, and its pace never sleeps
# into it; so a Lambda timeout never kills it between a send and that mark (which would send those
# emails again).
BATCH_SEND_MARGIN_SECONDS = 30
assert BATCH_SEND_MARGIN_SECONDS >= CALL_BOUND_SECONDS + 3, "a bounded call and the mark fit in the margin"


class NoTimeLeft(Exception):
    """The invocation is too near its end to send another email of the batch: it is retried."""


def _recipients_to_check(deps: EmailWorkerDeps, messages: List[Dict[str, Any]]) -> List[str]:
    """Every recipient of the batch, normalised, once; never the operators' address (never suppressed)."""
    operators = deps.settings.operators_email.strip().lower()
    return [a for a in dict.fromkeys(r.strip().lower() for m in messages for r in m["to"]) if a and a != operators]


def _batchable(deps: EmailWorkerDeps, messages: List[Dict[str, Any]]) -> bool:
    """Whether one transaction can claim the batch: each delivery key once (a transaction writes an
    item once), each message with a recipient, within the transaction's 100 actions."""
    keys = [m["delivery_key"] for m in messages]
    return bool(messages) and len(set(keys)) == len(keys) and all(m["to"] for m in messages) and \
        len(keys) + len(_recipients_to_check(deps, messages)) <= TRANSACTION_ACTIONS


def deliver_emails(deps: EmailWorkerDeps, messages: List[Dict[str, Any]], *,
                   pace: Optional[Callable[..., Any]] = None,
                   enter: Callable[[int], Any] = lambda index: None,
                   seconds_left: Optional[Callable[[], float]] = None) -> List[Any]:
    """The email worker's batch: each message's outcome, in order: True (sent), False (sent
    already, suppressed, or failed for good: `deliver_email`'s answers) or the exception that kept
    it from being sent (the batch then fails, for SQS to deliver it again).

    The common path, in two DynamoDB requests for the whole batch: every message rendered first,
    then ONE transaction claims every delivery and checks that no recipient is suppressed; the
    emails sent (paced by `pace`); then ONE BatchWriteItem marks them as `finish` does. If that
    transaction fails (an email sent or being sent already, a suppressed recipient, anything), or
    the batch cannot be claimed in one (a delivery key twice, over 100 actions), each message goes
    the way `deliver_email` takes it, as before. `enter(i)`: called before the work on message i
    (the worker binds that record's correlation id). `seconds_left`: the invocation's time left;
    with less than BATCH_SEND_MARGIN_SECONDS left, the batch goes one by one; once a claimed email's
    S3 read, pace (`pace(n, max_wait=...)`: the time to spare) or send would start with less than
    that left, it and the rest are not sent (NoTimeLeft: released after the mark, retried)."""
    outcomes: List[Any] = [None] * len(messages)
    rendered: List[Tuple[int, Dict[str, Any], Tuple[str, str, str]]] = []
    for index, message in enumerate(messages):
        enter(index)
        try:
            # Render first: a message that cannot be rendered fails (and reaches the DLQ), unclaimed.
            context = dict(message["context"])
            context.setdefault("support", asdict(deps.settings.support))
            rendered.append((index, message, render_email(message["template"], context)))
        except Exception as error:  # noqa: BLE001 - that message's failure, the others go on
            outcomes[index] = error
    batch = [message for _, message, _ in rendered]
    now = deps.clock()
    claimed = False
    # With less than the margin left from the start (a short timeout), each email marks itself.
    if _batchable(deps, batch) and (seconds_left is None or seconds_left() >= BATCH_SEND_MARGIN_SECONDS):
        try:
            deps.email_deliveries.claim_all([m["delivery_key"] for m in batch], now, now + SENDING_CLAIM,
                                            also=deps.suppressions.checking_none_of(_recipients_to_check(deps, batch)))
            claimed = True
        except Exception as refused:  # noqa: BLE001 - nothing was written: each goes the usual way
            log.info("email batch of %d not claimed at once (%s): one by one",
                     len(batch), observability.scrub(type(refused).__name__))
    if not claimed:
        for index, message, _ in rendered:
            enter(index)
            try:
                outcomes[index] = deliver_email(deps, message, pace)
            except Exception as error:  # noqa: BLE001 - the batch fails after the rest of it
                outcomes[index] = error
        return outcomes
    _send_claimed(deps, rendered, outcomes, now, pace, enter, seconds_left)
    return outcomes


def _send_claimed(deps: EmailWorkerDeps, rendered, outcomes: List[Any], now, pace, enter, seconds_left) -> None:
    """Send the claimed emails of a batch; mark the sent and the failed for good in one write at the
    end (even if the worker is stopped halfway: what went out is remembered), release the others."""
    from ..storage.repositories import FinishedDelivery

    deliveries, finished, unsent = deps.email_deliveries, [], []

    def time_to_spare() -> Optional[float]:
        return None if seconds_left is None else seconds_left() - BATCH_SEND_MARGIN_SECONDS

    def enough_time() -> None:
        spare = time_to_spare()
        if spare is not None and spare < 0:
            raise NoTimeLeft("too near the invocation's end: left for the batch's next delivery")

    try:
        for index, message, (subject, html, text) in rendered:
            enter(index)
            key = message["delivery_key"]
            if unsent:  # out of time: the rest are left for SQS too
                outcomes[index] = NoTimeLeft("left for the batch's next delivery")
                unsent.append(key)
                continue
            try:
                files = attachment_files(deps, message, before_read=enough_time)
                if pace is not None:
                    spare = time_to_spare()
                    if spare is None:
                        pace(len(message["to"]))
                    else:
                        try:
                            pace(len(message["to"]), max_wait=max(0.0, spare))
                        except NoTimeToWait as error:
                            raise NoTimeLeft(str(error)) from error
                enough_time()  # just before the send: it and the mark fit in what is left
                message_id = deps.mailer.send(OutgoingEmail(to=list(message["to"]), subject=subject, text=text,
                                                            html=html, attachments=files, tags=email_tags(message)))
            except NoTimeLeft as error:
                log.info("email %s not sent: %s", observability.scrub(digest(key)[:32]), error)
                outcomes[index] = error
                unsent.append(key)
                continue
            except PermanentMailFailure as failure:
                # As `deliver_email`: remembered as failed, told on the invoice, never retried.
                log.error("email %s (%s) failed for good: %s", observability.scrub(key), message["template"],
                          observability.scrub(failure))
                observability.count(Metric.EMAILS_FAILED)
                finished.append(FinishedDelivery(key, deliveries.FAILED, iso(now), iso(now), now + DELIVERY_MEMORY))
                if message.get("invoice_id"):
                    deps.invoices.record_email_failure(message["invoice_id"], f"{failure} ({message['template']})")
                outcomes[index] = False
                continue
            except BaseException as error:
                deliveries.release(key)  # retried by SQS; the ones sent are skipped by their key
                if not isinstance(error, Exception):
                    raise
                outcomes[index] = error
                continue
            finished.append(FinishedDelivery(key, deliveries.SENT, iso(now), iso(deps.clock()), now + DELIVERY_MEMORY,
                                             message_id))
            observability.count(Metric.EMAILS_SENT)
            outcomes[index] = True
    finally:
        if finished:
            _mark(deliveries, finished)
    # After the mark (what went out comes first): were the worker stopped here, these claims expire
    # before SQS delivers the batch again (SENDING_CLAIM).
    for key in unsent:
        deliveries.release(key)


def _mark(deliveries, finished) -> None:
    """The batch's one write (`finish_all`); if it fails (DynamoDB's unprocessed items past PynamoDB's
    retries, an error), each delivery is marked alone (`finish`), so that no email sent stays
    "sending" (its claim would expire and the redelivery send it again). Raises only if one of those
    fails too."""
    try:
        deliveries.finish_all(finished)
        return
    except Exception as error:  # noqa: BLE001 - each is marked alone below
        log.warning("email batch's mark of %d failed (%s): each marked alone", len(finished),
                    observability.scrub(type(error).__name__))
        failed = error
    unmarked = 0
    for done in finished:
        try:
            deliveries.finish(done.delivery_key, done.status, done.at, done.remember_until, done.message_id)
        except Exception as error:  # noqa: BLE001 - the others are marked all the same
            log.error("email %s sent but not marked: %s", observability.scrub(done.delivery_key),
                      observability.scrub(error))
            unmarked += 1
    if unmarked:
        raise failed
