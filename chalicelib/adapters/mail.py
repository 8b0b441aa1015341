"""Email through Amazon SES (raw MIME, so attachments travel too)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from typing import List, Optional, Tuple

from .aws import client


@dataclass
class OutgoingEmail:
    to: List[str]
    subject: str
    text: str
    html: str
    # (filename, content type "type/subtype", bytes)
    attachments: List[Tuple[str, str, bytes]] = field(default_factory=list)


def build_mime(sender: str, email: OutgoingEmail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(email.to)
    message["Subject"] = email.subject
    message["Message-ID"] = make_msgid(domain="csp-portal")
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    for filename, content_type, data in email.attachments:
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


class PermanentMailFailure(Exception):
    """SES refused the message for good (rejected, unverified sender, suspended account)."""


# Throttling and service errors are left to raise: the queue retries them.
PERMANENT_SES_ERRORS = {"MessageRejected", "MailFromDomainNotVerifiedException", "AccountSuspendedException",
                        "SendingPausedException", "BadRequestException", "NotFoundException"}


class SesMailer:
    """Sends with SESv2; with `copy_dir` set, also keeps each message there as a .eml file."""

    def __init__(self, sender: str, region: str, copy_dir: Optional[str] = None):
        self._sender = sender
        self._region = region
        self._copy_dir = copy_dir

    def send(self, email: OutgoingEmail) -> str:
        mime = build_mime(self._sender, email)
        raw = mime.as_bytes()
        ses = client("sesv2", self._region)
        try:
            response = ses.send_email(FromEmailAddress=self._sender, Destination={"ToAddresses": email.to},
                                      Content={"Raw": {"Data": raw}})
        except ses.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in PERMANENT_SES_ERRORS:
                raise PermanentMailFailure(f"SES {code}: {exc.response['Error'].get('Message', '')}") from exc
            raise
        message_id = response["MessageId"]
        if self._copy_dir:
            self._keep_copy(email, raw)
        return message_id

    def _keep_copy(self, email: OutgoingEmail, raw: bytes) -> None:
        os.makedirs(self._copy_dir, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", email.subject.lower())[:40].strip("-")
        recipient = re.sub(r"[^a-z0-9@.]+", "-", email.to[0].lower())
        # A UTC timestamp first, so a folder listing reads in sending order.
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = os.path.join(self._copy_dir, f"{stamp}-{recipient}-{slug}.eml")
        with open(path, "wb") as fh:
            fh.write(raw)
