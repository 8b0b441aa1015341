"""Email through Amazon SES (raw MIME, so attachments travel too)."""
from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from typing import Callable, Dict, List, Optional, Tuple

from .. import observability
from ..domain.mail_events import tag_value
from .aws import client


@dataclass
class OutgoingEmail:
    to: List[str]
    subject: str
    text: str
    html: str
    # (filename, content type "type/subtype", bytes)
    attachments: List[Tuple[str, str, bytes]] = field(default_factory=list)
    # SES message tags (name → value; values are made SES-safe when sent): how a bounce or complaint
    # event is traced back to the email (its template, its organisation), without personal data.
    tags: Dict[str, str] = field(default_factory=dict)


# Line and paragraph separators are not control characters (Cc) in Unicode, but Python's email
# package splits header lines on them (str.splitlines) and refuses the header.
_LINE_BREAKING = {"Zl", "Zp", "Cc"}


def header_text(value: str) -> str:
    """A value fit for one header line: every control character (\\r, \\n, \\v, \\f, NUL, U+0085
    NEL, tabs), line or paragraph separator (U+2028, U+2029) becomes a space; runs of spaces are
    collapsed and the ends stripped. Customers' text (a ticket's subject, a company's name) reaches
    subjects: one such character would otherwise make the email impossible to build, for ever."""
    spaced = "".join(" " if unicodedata.category(ch) in _LINE_BREAKING else ch for ch in value or "")
    return " ".join(spaced.split())


def _address(value: str) -> str:
    """`Name <address>` with its display name made one header line (the address is validated
    where it is taken in)."""
    name, address = parseaddr(header_text(value))
    return formataddr((header_text(name), address)) if address else header_text(value)


def build_mime(sender: str, email: OutgoingEmail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = _address(sender)
    message["To"] = ", ".join(_address(to) for to in email.to)
    message["Subject"] = header_text(email.subject)
    message["Message-ID"] = make_msgid(domain="csp-portal")
    if observability.correlation_id():  # the work that sent it, to find its log lines from a copy of the email
        message[observability.HEADER] = observability.correlation_id()
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    for filename, content_type, data in email.attachments:
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=header_text(filename))
    return message


class PermanentMailFailure(Exception):
    """SES refused the message for good (rejected, unverified sender, suspended account), or the
    message cannot be built at all: retrying will not help."""


# Only these codes are permanent; every other error (throttling, service errors) raises as it came
# and the queue retries it. Over the account's send rate or daily quota SES answers Throttling /
# ThrottlingException ("Maximum sending rate exceeded", "Daily message quota exceeded":
# docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html), SESv2 also
# TooManyRequestsException / LimitExceededException: retryable, never here (tests/unit/test_send_rate.py).
PERMANENT_SES_ERRORS = {"MessageRejected", "MailFromDomainNotVerifiedException", "AccountSuspendedException",
                        "SendingPausedException", "BadRequestException", "NotFoundException"}


class SesMailer:
    """Sends with SESv2; with `copy_dir` set, also keeps each message there as a .eml file.

    `configuration_set`: SES publishes the email's bounce, complaint and delivery events through it
    (settings.mail_configuration_set). `on_sent`: told of each email SES accepted, with its message
    id and tags (the embedded AWS's event simulator, adapters/mail_events.py)."""

    def __init__(self, sender: str, region: str, copy_dir: Optional[str] = None,
                 configuration_set: Optional[str] = None,
                 on_sent: Optional[Callable[[OutgoingEmail, str, Dict[str, str]], None]] = None):
        self._sender = sender
        self._region = region
        self._copy_dir = copy_dir
        self._configuration_set = configuration_set
        self._on_sent = on_sent

    def send(self, email: OutgoingEmail) -> str:
        try:
            raw = build_mime(self._sender, email).as_bytes()
        except (ValueError, TypeError, LookupError, UnicodeError) as exc:
            # Headers are normalised above, so this is a bug or an input never seen: the same
            # message would fail the same way on every retry and hold its queue for nothing.
            raise PermanentMailFailure(f"MIME: {type(exc).__name__}: {exc}") from exc
        ses = client("sesv2", self._region)
        options = {}
        if self._configuration_set:
            options["ConfigurationSetName"] = self._configuration_set
        # SES refuses a tag value outside [A-Za-z0-9_-]: values are made safe, never sent as given.
        tags = {name: tag_value(value) for name, value in sorted(email.tags.items()) if value is not None}
        if tags:
            options["EmailTags"] = [{"Name": name, "Value": value} for name, value in tags.items()]
        try:
            response = ses.send_email(FromEmailAddress=self._sender, Destination={"ToAddresses": email.to},
                                      Content={"Raw": {"Data": raw}}, **options)
        except ses.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in PERMANENT_SES_ERRORS:
                raise PermanentMailFailure(f"SES {code}: {exc.response['Error'].get('Message', '')}") from exc
            raise
        message_id = response["MessageId"]
        if self._copy_dir:
            self._keep_copy(email, raw)
        if self._on_sent is not None:
            self._on_sent(email, message_id, tags)
        return message_id

    def _keep_copy(self, email: OutgoingEmail, raw: bytes) -> None:
        os.makedirs(self._copy_dir, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", header_text(email.subject).lower())[:40].strip("-")
        recipient = re.sub(r"[^a-z0-9@.]+", "-", email.to[0].lower())
        # A UTC timestamp first, so a folder listing reads in sending order.
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = os.path.join(self._copy_dir, f"{stamp}-{recipient}-{slug}.eml")
        with open(path, "wb") as fh:
            fh.write(raw)
