"""Support tickets (service desk): categories, severities and how a ticket's status may move."""
from __future__ import annotations

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
