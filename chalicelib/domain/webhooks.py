"""Webhooks for the customer's ERP: endpoints, the events they subscribe to, what may be called
(public addresses only), the signature, and when a failed delivery is tried again.

Pure rules: no sockets here. The adapter (adapters/webhook_http.py) resolves names and hands the
addresses to `refused_address`, at registration and again before every POST.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from . import error_codes as codes

EVENT_TYPES = ("invoice.issued", "invoice.paid", "invoice.overdue", "invoice.cancelled", "subscription.changed",
               "ticket.updated")
TEST_EVENT = "webhook.test"  # sent by POST /webhooks/{id}/test, whatever the endpoint subscribes to
MAX_ENDPOINTS_PER_ORGANIZATION = 10
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200
ACTIVE = "active"

# Delivery statuses.
PENDING, DELIVERED, RETRYING, FAILED = "pending", "delivered", "retrying", "failed"
DELIVERY_STATUSES = (PENDING, DELIVERED, RETRYING, FAILED)

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
SIGNATURE_HEADER = "X-CSP-Signature"
USER_AGENT = "csp-portal-webhooks/1"


@dataclass(frozen=True)
class Endpoint:
    id: str
    organization_id: str
    url: str
    events: Tuple[str, ...]
    description: Optional[str]
    status: str
    created_at: str
    secret: str  # never shown again after the creation's answer


@dataclass(frozen=True)
class Delivery:
    """One event to one endpoint, and how its attempts went."""

    id: str
    organization_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: str  # the body exactly as sent, every attempt and every resend
    status: str
    attempts: int
    created_at: str
    first_attempt_at: Optional[str] = None
    last_attempt_at: Optional[str] = None
    last_status_code: Optional[int] = None
    last_error: Optional[str] = None
    next_attempt_at: Optional[str] = None
    delivered_at: Optional[str] = None
    lease_until: Optional[str] = None


@dataclass(frozen=True)
class Target:
    """A URL taken apart: what the adapter connects to (after checking the addresses)."""

    scheme: str
    host: str  # without brackets for IPv6
    port: int
    path: str  # path and query, as sent in the request line

    @property
    def is_loopback_name(self) -> bool:
        return self.host.lower() in ("localhost", "127.0.0.1", "::1")


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def parse_url(url: str, *, allow_loopback: bool) -> Target:
    """The endpoint's URL, if it may be registered as written (its addresses are checked apart)."""
    if len(url) > MAX_URL_LENGTH:
        raise codes.WEBHOOK_URL_INVALID(field="url", reason="mais de 2000 caracteres")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise codes.WEBHOOK_URL_INVALID(field="url", reason="endereço malformado")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise codes.WEBHOOK_URL_INVALID(field="url", reason="o endereço tem espaços ou caracteres de controle")
    host = parts.hostname or ""
    if not host:
        raise codes.WEBHOOK_URL_INVALID(field="url", reason="falta o nome do servidor")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise codes.WEBHOOK_URL_INVALID(field="url", reason="usuário e senha no endereço não são aceitos")
    if parts.fragment or url.endswith("#"):
        raise codes.WEBHOOK_URL_INVALID(field="url", reason="fragmento (#) não é aceito")
    scheme = parts.scheme.lower()
    loopback_name = host.lower() in ("localhost", "127.0.0.1", "::1")
    if scheme == "http":
        if not (allow_loopback and loopback_name):
            raise codes.WEBHOOK_URL_INVALID(field="url", reason="use https")
    elif scheme != "https":
        raise codes.WEBHOOK_URL_INVALID(field="url", reason="use https")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), path=path)


def refused_address(addresses: Sequence[str], *, loopback_allowed: bool) -> Optional[str]:
    """The first address that may not be called (a private network, the cloud's metadata, …), or
    None when every one is public. Loopback passes only where the setting allows it (local stack)."""
    for raw in addresses:
        try:
            address = ipaddress.ip_address(raw.split("%", 1)[0])
        except ValueError:
            return raw
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_loopback and loopback_allowed:
            continue
        if not _is_public(address):
            return raw
    return None


_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")


def _is_public(address) -> bool:
    if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global
            or getattr(address, "is_site_local", False)):  # fec0::/10, deprecated but still routable inside
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address not in _CGNAT
    # An IPv6 address that carries an IPv4 one (NAT64, 6to4) is as public as that address.
    if address in _NAT64:
        return _is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _6TO4:
        return _is_public(ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF))
    return True


def check_events(events: Iterable[str]) -> Tuple[str, ...]:
    chosen = tuple(events)
    if not chosen:
        raise codes.WEBHOOK_EVENTS_REQUIRED(field="events")
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise codes.WEBHOOK_EVENT_UNKNOWN(field="events", event=unknown[0], known=", ".join(EVENT_TYPES))
    # The order the catalogue lists them in, each once.
    return tuple(e for e in EVENT_TYPES if e in chosen)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`X-CSP-Signature`: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


# --- retries --------------------------------------------------------------------------------------

RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                timedelta(hours=5), timedelta(hours=10))
GIVE_UP_AFTER = timedelta(hours=24)
MAX_QUEUE_DELAY_SECONDS = 900  # SQS's longest DelaySeconds


def next_attempt(first_attempt_at: datetime, attempts: int, now: datetime) -> Optional[datetime]:
    """When to try again after `attempts` failed ones (the last try at 24 h after the first), or
    None: a failure at or after 24 h is final."""
    give_up_at = first_attempt_at + GIVE_UP_AFTER
    if now >= give_up_at:
        return None
    delay = RETRY_DELAYS[min(max(attempts, 1) - 1, len(RETRY_DELAYS) - 1)]
    return min(now + delay, give_up_at)


def short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- events: which audit actions become which event, and their data ------------------------------

# The catalogue's `data` fields per family (schemas: services/webhooks.webhook_payload_schemas).
INVOICE_FIELDS = ("invoice_id", "number", "status", "total_cents", "paid_cents", "due_date", "period_start",
                  "period_end", "currency")
SUBSCRIPTION_FIELDS = ("subscription_id", "sku", "quantity", "status", "change")
TICKET_FIELDS = ("ticket_id", "number", "status", "change")

_INVOICE_ACTIONS = {"invoice.issued": "invoice.issued", "invoice.overdue": "invoice.overdue",
                    "invoice.cancelled": "invoice.cancelled"}
# Attempts at the licence provider that changed nothing (the subscription stays as it was).
_SUBSCRIPTION_NON_CHANGES = ("subscription.suspend_refused", "subscription.reactivate_refused",
                             "subscription.suspend_failed", "subscription.reactivate_failed")


def invoice_data(invoice) -> dict:
    """An invoice as its events show it (a domain Invoice, as the repository writes it)."""
    return {"invoice_id": invoice.id, "number": invoice.number, "status": invoice.status,
            "total_cents": invoice.total_cents, "paid_cents": invoice.paid_cents,
            "due_date": invoice.due_date.isoformat(), "period_start": invoice.period_start.isoformat(),
            "period_end": invoice.period_end.isoformat(), "currency": "BRL"}


def subscription_data(subscription) -> dict:
    return {"subscription_id": subscription.id, "sku": subscription.sku, "quantity": subscription.quantity,
            "status": subscription.status}


def ticket_data(ticket) -> dict:
    return {"ticket_id": ticket.id, "number": ticket.number, "status": ticket.status}


@dataclass(frozen=True)
class Event:
    id: str
    organization_id: str
    type: str
    created_at: str
    data: dict

    def body(self) -> str:
        """The JSON every endpoint receives (the same bytes on every attempt and every resend)."""
        return event_body(self.id, self.type, self.created_at, self.data)


def event_body(event_id: str, event_type: str, created_at: str, data: dict) -> str:
    import json

    return json.dumps({"id": event_id, "type": event_type, "created_at": created_at, "data": data},
                      ensure_ascii=False, separators=(",", ":"))


def events_for(entry, subjects: Optional[dict] = None) -> Tuple[Event, ...]:
    """The events an audit entry reports (none for most), with ids derived from the entry's: the
    same entry always makes the same events. `subjects`: the objects written with the entry, by id,
    as `invoice_data`/`subscription_data`/`ticket_data` show them (else the entry's pictures)."""
    subjects = subjects or {}
    kind, _, object_id = entry.target.partition(":")
    action = entry.action
    after = entry.after if isinstance(entry.after, dict) else {}
    made = []
    if action in _INVOICE_ACTIONS or (action == "invoice.payment_recorded" and after.get("status") == "paid"):
        event_type = _INVOICE_ACTIONS.get(action, "invoice.paid")
        made.append((event_type, object_id, _data(INVOICE_FIELDS, subjects.get(object_id),
                                                  {**after, "invoice_id": object_id, "currency": "BRL"})))
    elif action in ("cart.checked_out", "contract.items_ordered") and isinstance(entry.after, list):
        for line in entry.after:
            sub_id = line.get("subscription_id")
            made.append(("subscription.changed", sub_id, _data(
                SUBSCRIPTION_FIELDS, subjects.get(sub_id), {**line, "change": "purchased"}, change="purchased")))
    elif action.startswith("subscription.") and kind == "subscription" and action not in _SUBSCRIPTION_NON_CHANGES:
        change = action.split(".", 1)[1]
        made.append(("subscription.changed", object_id, _data(
            SUBSCRIPTION_FIELDS, subjects.get(object_id), {**after, "subscription_id": object_id}, change=change)))
    elif action.startswith("ticket.") and kind == "ticket" and action != "ticket.attachment_uploaded":
        # (A file uploaded is on no message yet: the message that sends it reports the update.)
        change = action.split(".", 1)[1]
        made.append(("ticket.updated", object_id, _data(
            TICKET_FIELDS, subjects.get(object_id), {**after, "ticket_id": object_id}, change=change)))
    from .ids import derived_id

    return tuple(Event(id="evt_" + derived_id("event", entry.id, event_type, object_id or ""),
                       organization_id=entry.organization_id, type=event_type, created_at=entry.at, data=data)
                 for event_type, object_id, data in made)


def _data(fields: Sequence[str], subject: Optional[dict], picture: dict, change: Optional[str] = None) -> dict:
    source = {**picture, **(subject or {})}
    if change is not None:
        source["change"] = change
    return {name: source.get(name) for name in fields}
