"""Support tickets (service desk): categories, severities and how a ticket's status may move."""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Optional

from . import error_codes as codes

CATEGORIES = ("licencas", "faturamento", "acesso", "tecnico", "outro")
SEVERITIES = ("baixa", "media", "alta", "critica")
CATEGORY_LABELS = {"licencas": "Licenças", "faturamento": "Faturamento", "acesso": "Acesso", "tecnico": "Técnico",
                   "outro": "Outro"}
SEVERITY_LABELS = {"baixa": "Baixa", "media": "Média", "alta": "Alta", "critica": "Crítica"}

OPEN = "open"
IN_PROGRESS = "in_progress"
WAITING_CUSTOMER = "waiting_customer"
RESOLVED = "resolved"
CLOSED = "closed"
STATUSES = (OPEN, IN_PROGRESS, WAITING_CUSTOMER, RESOLVED, CLOSED)

# What an operator may set, from each status.
TRANSITIONS = {
    OPEN: {IN_PROGRESS, WAITING_CUSTOMER, RESOLVED, CLOSED},
    IN_PROGRESS: {WAITING_CUSTOMER, RESOLVED, CLOSED},
    WAITING_CUSTOMER: {IN_PROGRESS, RESOLVED, CLOSED},
    RESOLVED: {IN_PROGRESS, CLOSED},
    CLOSED: set(),
}

STATUS_LABELS = {OPEN: "Aberto", IN_PROGRESS: "Em atendimento", WAITING_CUSTOMER: "Aguardando cliente",
                 RESOLVED: "Resolvido", CLOSED: "Fechado"}


@dataclass
class Ticket:
    id: str
    number: int
    organization_id: str
    subject: str
    category: str
    severity: str
    status: str
    opened_by: str
    opened_by_email: str
    created_at: str
    updated_at: str
    messages_count: int = 0
    version: int = 1


def ensure_transition(current: str, new: str) -> None:
    if new not in TRANSITIONS[current]:
        raise codes.INVALID_STATUS_TRANSITION(**{"from": current, "to": new}, from_label=STATUS_LABELS[current],
                                              to_label=STATUS_LABELS.get(new, new))


def ensure_open_for_messages(ticket: Ticket) -> None:
    if ticket.status == CLOSED:
        raise codes.TICKET_CLOSED()


def status_after_customer_message(status: str) -> Optional[str]:
    """A customer's answer puts a waiting or resolved ticket back in the queue."""
    return OPEN if status in (WAITING_CUSTOMER, RESOLVED) else None


# --- attachments --------------------------------------------------------------------------------
# Screenshots, logs and documents on a ticket. The product itself checks a file's size and type
# (by its first bytes, not by what the client declares): the bucket does not.

# 4 MB: a binary body reaches Lambda in base64 (4/3 of its size), and Lambda takes 6 MB at most.
MAX_ATTACHMENT_BYTES = 4 * 1024 * 1024
MAX_ATTACHMENT_NAME = 200
MAX_ATTACHMENTS_PER_MESSAGE = 10
# Files on one ticket, both sides together: more are a sign of a loop or abuse, not of support.
MAX_ATTACHMENTS_PER_TICKET = 20

PNG, JPEG, PDF, ZIP, TEXT = "image/png", "image/jpeg", "application/pdf", "application/zip", "text/plain"
ATTACHMENT_TYPES = (PNG, JPEG, PDF, ZIP, TEXT)
_MAGIC = ((b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG), (b"%PDF-", PDF), (b"PK\x03\x04", ZIP),
          (b"PK\x05\x06", ZIP))
# Text: UTF-8 with no control characters but tab, line breaks and form feed (a log, a .txt, a .csv).
_TEXT_CONTROLS = set(range(0, 32)) - {9, 10, 12, 13}


@dataclass(frozen=True)
class Attachment:
    id: str
    ticket_id: str
    organization_id: str
    name: str
    size: int
    content_type: str
    uploaded_by: str
    uploaded_by_name: str
    side: str  # customer | operator
    at: str
    message_id: Optional[str] = None  # the message it was sent with; None: on the ticket itself
    removed_at: Optional[str] = None  # when its file was deleted (the organisation anonymised): no link

    @property
    def key(self) -> str:
        """Where the file is in the documents bucket: under its organisation."""
        return attachment_key(self.organization_id, self.ticket_id, self.id)


def attachment_key(organization_id: str, ticket_id: str, attachment_id: str) -> str:
    return f"tickets/{organization_id}/{ticket_id}/{attachment_id}"


def attachment_type(content: bytes) -> Optional[str]:
    """The file's type from its content, or None when it is not one the support desk accepts."""
    for magic, media_type in _MAGIC:
        if content.startswith(magic):
            return media_type
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if any(ord(ch) in _TEXT_CONTROLS for ch in text) else TEXT


def size_label(size: int, *, round_up: bool = False) -> str:
    """5 MB, 5,2 MB, 830 KB: a size as a person reads it (pt-BR decimal comma). `round_up` for a
    size over a limit: 4 MB and 1 byte reads "4,1 MB", never "4 MB"."""
    if size >= 1024 * 1024:
        tenths = size * 10 / (1024 * 1024)
        tenths = math.ceil(tenths) if round_up else round(tenths)
        return f"{tenths // 10},{tenths % 10}".replace(",0", "") + " MB"
    kilobytes = size / 1024
    return f"{max(1, math.ceil(kilobytes) if round_up else round(kilobytes))} KB"


def check_attachment(content: bytes) -> str:
    """The attachment's type; refuses an empty, too large or unaccepted file."""
    if not content:
        raise codes.ATTACHMENT_EMPTY()
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise codes.ATTACHMENT_TOO_LARGE(size=len(content), max_bytes=MAX_ATTACHMENT_BYTES,
                                         size_label=size_label(len(content), round_up=True),
                                         max_label=size_label(MAX_ATTACHMENT_BYTES))
    media_type = attachment_type(content)
    if media_type is None:
        raise codes.ATTACHMENT_TYPE_NOT_ALLOWED(accepted=list(ATTACHMENT_TYPES))
    return media_type


# The extensions a file of each type may keep; any other gets the first one appended, so a batch
# script that passes as text ("comprovante.bat") downloads as "comprovante.bat.txt".
EXTENSIONS = {PNG: (".png",), JPEG: (".jpg", ".jpeg"), PDF: (".pdf",), ZIP: (".zip",),
              TEXT: (".txt", ".log", ".csv")}
# Control and format characters (C0/C1 controls, bidi marks and overrides such as U+202E, which
# shows "fdp.bat" as "tab.pdf"), and line/paragraph separators: never part of a name.
_NAME_DROPPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}
_NAME_EDGES = re.compile(r"^[\s.]+|[\s.]+$")


def attachment_name(raw: Optional[str], media_type: Optional[str] = None) -> str:
    """The name the file is shown and downloaded with: its last path segment, without control or
    format characters, cut to its maximum length, and ending in an extension of its detected
    `media_type` (appended when it does not); refused when nothing is left."""
    name = (raw or "").replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _NAME_DROPPED_CATEGORIES)
    name = _NAME_EDGES.sub("", name)
    if not name:
        raise codes.INVALID_ATTACHMENT_NAME(field="name")
    name = _NAME_EDGES.sub("", name[:MAX_ATTACHMENT_NAME])
    if media_type is not None:
        accepted = EXTENSIONS[media_type]
        if not name.casefold().endswith(accepted):
            extension = accepted[0]
            name = _NAME_EDGES.sub("", name[:MAX_ATTACHMENT_NAME - len(extension)]) + extension
    return name
