"""Webhooks for the customer's ERP: endpoints registered by the organisation (Master, or an operator
acting for it), the events fanned out to them from the outbox, and each delivery's attempts.

A delivery is tried by the worker (`attempt`): claimed before its POST (two copies of a message
never post twice at once), retried with backoff for 24 hours, then failed.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, Sequence

from ..domain import error_codes as codes
from ..domain import webhooks as rules
from ..domain.clock import iso
from ..domain.errors import DomainError
from ..domain.ids import derived_id, new_id
from ..domain.webhooks import Delivery, Endpoint
from ..schemas import (array, cents, closed, component, currency, date, date_time, enum, integer, nullable,
                       page, shape, text)
from . import audit
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.queue import Queue
    from ..adapters.webhook_http import WebhookHttp
    from ..settings import Settings
    from ..storage.webhooks import WebhookRepository
    from .audit import Clocked

    class WebhookReadDeps(Protocol):
        """An organisation's endpoints and their deliveries, as read."""

        webhooks: WebhookRepository

    class WebhookChangeDeps(WebhookReadDeps, Clocked, Protocol):
        """An endpoint registered (its URL vetted: public addresses only) or removed, with its audit entry."""

        settings: Settings
        webhook_http: WebhookHttp

    class WebhookSendDeps(WebhookReadDeps, Clocked, Protocol):
        """A delivery made and queued for the worker."""

        webhooks_queue: Queue

    class WebhookDispatchDeps(WebhookSendDeps, Protocol):
        """The outbox's pending events fanned out to the endpoints subscribed to them."""

    class WebhookWorkerDeps(WebhookSendDeps, Protocol):
        """A delivery's attempt: claimed, POSTed to the vetted address, recorded, re-queued if it failed."""

        settings: Settings
        webhook_http: WebhookHttp


# How long a claimed attempt keeps other copies of its message away (the POST times out at 10 s).
LEASE = timedelta(seconds=60)

_ENDPOINT = dict(
    id=text(), url=text(format="uri"),
    events=array(enum(rules.EVENT_TYPES)),
    description=nullable(text()), status=enum((rules.ACTIVE,)), created_at=date_time())
# (`component` + `closed`, not `shape`: an endpoint has a field named `description`.)
WEBHOOK = component("WebhookEndpoint", closed(
    _ENDPOINT, description="Um endereço do ERP do cliente que recebe eventos do portal."))
WEBHOOK_CREATED = component("WebhookEndpointCreated", closed(
    {**_ENDPOINT, "secret": text(description="whsec_…: a chave do HMAC-SHA256 do cabeçalho X-CSP-Signature. "
                                             "Guarde-a agora.")},
    description="O webhook recém-cadastrado, com o segredo que assina as entregas: mostrado só nesta resposta."))
WEBHOOK_LIST = shape("WebhookEndpointList", description="Os webhooks da organização (no máximo 10).",
                     items=array(WEBHOOK))
DELIVERY = shape(
    "WebhookDelivery", description="Uma entrega de um evento a um webhook e como foram as tentativas.",
    id=text(), event_id=text(), event_type=text(), status=enum(rules.DELIVERY_STATUSES),
    attempts=integer(minimum=0), created_at=date_time(), last_attempt_at=nullable(date_time()),
    last_status_code=nullable(integer()), last_error=nullable(text(maxLength=200)),
    next_attempt_at=nullable(date_time()), delivered_at=nullable(date_time()))
DELIVERY_PAGE = page(DELIVERY, "WebhookDelivery")
DELIVERY_ACCEPTED = shape("WebhookDeliveryAccepted", description="A entrega criada, enviada em seguida.",
                          delivery=DELIVERY)


# What an endpoint receives: one envelope per family of events (published in /openapi.json, under
# `webhooks` and as components).
_INVOICE_DATA = shape(
    "WebhookInvoiceData", description="A fatura como estava quando o evento aconteceu.",
    invoice_id=text(), number=integer(minimum=1), status=text(), total_cents=cents(), paid_cents=cents(),
    due_date=date(), period_start=date(), period_end=date(), currency=currency())
_SUBSCRIPTION_DATA = shape(
    "WebhookSubscriptionData", description="A assinatura depois da mudança; `change` diz qual foi (purchased, "
    "quantity_requested, quantity_applied, change_failed, renewed, auto_renew_changed, suspended, reactivated…).",
    subscription_id=text(), sku=nullable(text()), quantity=nullable(integer(minimum=0)), status=nullable(text()),
    change=text())
_TICKET_DATA = shape(
    "WebhookTicketData", description="O chamado depois da mudança; `change`: opened, customer_message, "
    "operator_message, status_changed.", ticket_id=text(), number=nullable(integer(minimum=1)),
    status=nullable(text()), change=text())
_TEST_DATA = shape("WebhookTestData", description="O evento de teste (POST /webhooks/{id}/test).",
                   webhook_id=text(), message=text())


def _envelope(name: str, types, data, description: str):
    return shape(name, description=description + " Cabeçalhos: X-CSP-Event-Id, X-CSP-Event-Type e X-CSP-Signature "
                 "(t=<segundos unix>,v1=<HMAC-SHA256 em hexadecimal, com o segredo, de \"<t>.<corpo>\">).",
                 id=text(description="evt_…: o mesmo em toda tentativa e reenvio (use-o para ignorar repetições)."),
                 type=enum(types), created_at=date_time(), data=data)


_EVENTS = {
    "invoice": _envelope("WebhookInvoiceEvent", [t for t in rules.EVENT_TYPES if t.startswith("invoice.")],
                         _INVOICE_DATA, "Uma fatura emitida, paga, vencida ou cancelada."),
    "subscription": _envelope("WebhookSubscriptionEvent", ["subscription.changed"], _SUBSCRIPTION_DATA,
                              "Uma assinatura comprada ou alterada."),
    "ticket": _envelope("WebhookTicketEvent", ["ticket.updated"], _TICKET_DATA, "Um chamado aberto ou atualizado."),
    "webhook": _envelope("WebhookTestEvent", [rules.TEST_EVENT], _TEST_DATA, "O evento de teste."),
}


def webhook_payload_schemas() -> Dict[str, Dict[str, Any]]:
    """Each event type → the shape of the body its endpoints receive (a `$ref` to its component)."""
    return {event_type: _EVENTS[event_type.split(".", 1)[0]] for event_type in (*rules.EVENT_TYPES, rules.TEST_EVENT)}


def endpoint_view(endpoint: Endpoint) -> Dict[str, Any]:
    return {"id": endpoint.id, "url": endpoint.url, "events": list(endpoint.events),
            "description": endpoint.description, "status": endpoint.status, "created_at": endpoint.created_at}


def created_view(endpoint: Endpoint) -> Dict[str, Any]:
    return {**endpoint_view(endpoint), "secret": endpoint.secret}


def delivery_view(delivery: Delivery) -> Dict[str, Any]:
    return {"id": delivery.id, "event_id": delivery.event_id, "event_type": delivery.event_type,
            "status": delivery.status, "attempts": delivery.attempts, "created_at": delivery.created_at,
            "last_attempt_at": delivery.last_attempt_at, "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error, "next_attempt_at": delivery.next_attempt_at,
            "delivered_at": delivery.delivered_at}


# --- endpoints ------------------------------------------------------------------------------------

def create_endpoint(deps: WebhookChangeDeps, caller: Caller, *, url: str, events: Sequence[str],
                    description: Optional[str]) -> Endpoint:
    allow_loopback = deps.settings.webhooks_allow_loopback
    target = rules.parse_url(url, allow_loopback=allow_loopback)
    chosen = rules.check_events(events)
    deps.webhook_http.vet(target, allow_loopback=allow_loopback)
    endpoint = Endpoint(id=new_id(), organization_id=caller.organization_id, url=url, events=chosen,
                        description=(description or "").strip() or None, status=rules.ACTIVE,
                        created_at=iso(deps.clock()), secret=rules.new_secret())
    entry = audit.entry(deps, caller.actor, caller.organization_id, "webhook.created", f"webhook:{endpoint.id}",
                        after=endpoint_view(endpoint))
    deps.webhooks.create(endpoint, entry, limit=rules.MAX_ENDPOINTS_PER_ORGANIZATION)
    return endpoint


def list_endpoints(deps: WebhookReadDeps, caller: Caller) -> List[Endpoint]:
    return deps.webhooks.endpoints(caller.organization_id)


def get_endpoint(deps: WebhookReadDeps, caller: Caller, endpoint_id: str) -> Endpoint:
    return deps.webhooks.endpoint(caller.organization_id, endpoint_id)


def delete_endpoint(deps: WebhookChangeDeps, caller: Caller, endpoint_id: str) -> None:
    """Removed with its audit entry; its pending deliveries stop (the worker finds no endpoint)."""
    endpoint = deps.webhooks.endpoint(caller.organization_id, endpoint_id)
    entry = audit.entry(deps, caller.actor, caller.organization_id, "webhook.deleted", f"webhook:{endpoint.id}",
                        before=endpoint_view(endpoint))
    deps.webhooks.delete(endpoint, entry)


# --- deliveries -----------------------------------------------------------------------------------

def list_deliveries(deps: WebhookReadDeps, caller: Caller, endpoint_id: str, *, limit: int,
                    next_token: Optional[str]):
    endpoint = deps.webhooks.endpoint(caller.organization_id, endpoint_id)
    return deps.webhooks.deliveries(endpoint.id, limit=limit, next_token=next_token)


def send_test(deps: WebhookSendDeps, caller: Caller, endpoint_id: str) -> Delivery:
    """An event of type webhook.test to this endpoint, sent now."""
    endpoint = deps.webhooks.endpoint(caller.organization_id, endpoint_id)
    now = iso(deps.clock())
    event_id = "evt_" + new_id()
    payload = rules.event_body(event_id, rules.TEST_EVENT, now,
                         {"webhook_id": endpoint.id, "message": "Evento de teste do portal."})
    return _send_new(deps, endpoint, event_id, rules.TEST_EVENT, payload, new_id(), now)


def resend(deps: WebhookSendDeps, caller: Caller, endpoint_id: str, delivery_id: str) -> Delivery:
    """The same event (same id, same body) sent again now, as a new delivery."""
    endpoint = deps.webhooks.endpoint(caller.organization_id, endpoint_id)
    original = deps.webhooks.delivery(delivery_id)  # not found: webhook_delivery_not_found
    if original.organization_id != caller.organization_id or original.endpoint_id != endpoint.id:
        raise codes.WEBHOOK_DELIVERY_NOT_FOUND()  # another endpoint's or organisation's: as if absent
    return _send_new(deps, endpoint, original.event_id, original.event_type, original.payload, new_id(),
                     iso(deps.clock()))


def _send_new(deps: WebhookSendDeps, endpoint: Endpoint, event_id: str, event_type: str, payload: str,
              delivery_id: str, now: str) -> Delivery:
    delivery = Delivery(id=delivery_id, organization_id=endpoint.organization_id, endpoint_id=endpoint.id,
                        event_id=event_id, event_type=event_type, payload=payload, status=rules.PENDING,
                        attempts=0, created_at=now)
    if deps.webhooks.add_delivery(delivery):
        deps.webhooks_queue.send(_message(delivery.id, 1))
    return delivery


def fan_out(deps: WebhookSendDeps, endpoint: Endpoint, event_id: str, event_type: str, payload: str,
            now: str) -> bool:
    """One delivery of an event per endpoint, however many dispatchers see the event (its id is
    derived from the event and the endpoint: a second Put is refused). True when it was made now."""
    delivery_id = derived_id("webhook-delivery", event_id, endpoint.id)
    delivery = Delivery(id=delivery_id, organization_id=endpoint.organization_id, endpoint_id=endpoint.id,
                        event_id=event_id, event_type=event_type, payload=payload, status=rules.PENDING,
                        attempts=0, created_at=now)
    made = deps.webhooks.add_delivery(delivery)
    # Queued even when another dispatcher made it: that one may have died before queueing; the
    # worker's claim keeps a second message from posting twice.
    deps.webhooks_queue.send(_message(delivery_id, 1))
    return made


def dispatch(deps: WebhookDispatchDeps, *, batch: int = 100, max_batches: int = 20) -> Dict[str, int]:
    """Each pending event, oldest first: one delivery per endpoint of its organisation subscribed to
    its type (queued), then the event leaves the outbox. An organisation without endpoints: the
    event just leaves. Safe with two dispatchers at once (a delivery is made once per endpoint)."""
    endpoints: Dict[str, List[Endpoint]] = {}  # per organisation, read once per run
    counts = {"events": 0, "deliveries": 0}
    now = iso(deps.clock())
    for _ in range(max_batches):
        events = deps.webhooks.pending_events(batch)
        if not events:
            break
        for item_id, organization_id, bundled in events:
            if organization_id not in endpoints:
                endpoints[organization_id] = deps.webhooks.endpoints(organization_id)
            for event_id, event_type, payload in bundled:
                for endpoint in endpoints[organization_id]:
                    if event_type in endpoint.events and fan_out(deps, endpoint, event_id, event_type, payload, now):
                        counts["deliveries"] += 1
                counts["events"] += 1
            deps.webhooks.clear_event(item_id)
        if len(events) < batch:
            break
    return counts


def _message(delivery_id: str, attempt: int) -> Dict[str, Any]:
    return {"delivery_id": delivery_id, "attempt": attempt}


# --- the worker -------------------------------------------------------------------------------------

def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _seconds_until(due: datetime, now: datetime) -> int:
    return max(1, min(rules.MAX_QUEUE_DELAY_SECONDS, int((due - now).total_seconds() + 0.999)))


def attempt(deps: WebhookWorkerDeps, message: Dict[str, Any]) -> str:
    """One queue message: the attempt it names, if it is still due and nobody else has it. Returns
    what happened ("delivered", "retrying", "failed", "waiting", "stale", "stopped")."""
    try:
        delivery = deps.webhooks.delivery(message["delivery_id"])
    except DomainError:
        return "stale"
    number = int(message.get("attempt", delivery.attempts + 1))
    now = deps.clock()
    if delivery.status not in (rules.PENDING, rules.RETRYING) or delivery.attempts >= number + 1:
        return "stale"
    if delivery.attempts == number:
        # This attempt was claimed already: under way (wait for its lease), finished (another
        # message carries the next one) or its worker died (lease over: try it again).
        if delivery.lease_until is None:
            return "stale"
        lease = _instant(delivery.lease_until)
        if lease > now:
            deps.webhooks_queue.send(message, delay_seconds=_seconds_until(lease, now))
            return "waiting"
    elif delivery.next_attempt_at and _instant(delivery.next_attempt_at) > now:
        # Arrived before its time (SQS delays at most 15 minutes): the rest of the wait.
        deps.webhooks_queue.send(message, delay_seconds=_seconds_until(_instant(delivery.next_attempt_at), now))
        return "waiting"
    try:
        endpoint = deps.webhooks.endpoint(delivery.organization_id, delivery.endpoint_id)
    except DomainError:
        deps.webhooks.stop(delivery, "webhook removido")
        return "stopped"
    claimed = deps.webhooks.claim_attempt(delivery, now=iso(now), lease_until=iso(now + LEASE))
    if claimed is None:
        return "stale"
    body = claimed.payload.encode()
    timestamp = int(now.timestamp())
    headers = {"Content-Type": "application/json", "User-Agent": rules.USER_AGENT,
               "X-CSP-Event-Id": claimed.event_id, "X-CSP-Event-Type": claimed.event_type,
               rules.SIGNATURE_HEADER: rules.signature(endpoint.secret, timestamp, body)}
    outcome = deps.webhook_http.post(endpoint.url, body, headers,
                                     allow_loopback=deps.settings.webhooks_allow_loopback)
    if outcome.delivered:
        deps.webhooks.record_attempt(claimed, status=rules.DELIVERED, status_code=outcome.status_code, error=None,
                                     next_attempt_at=None, delivered_at=iso(now))
        return "delivered"
    due = rules.next_attempt(_instant(claimed.first_attempt_at), claimed.attempts, now)
    error = rules.short(outcome.error or "falha")
    if due is None:
        deps.webhooks.record_attempt(claimed, status=rules.FAILED, status_code=outcome.status_code, error=error,
                                     next_attempt_at=None, delivered_at=None)
        return "failed"
    deps.webhooks.record_attempt(claimed, status=rules.RETRYING, status_code=outcome.status_code, error=error,
                                 next_attempt_at=iso(due), delivered_at=None)
    deps.webhooks_queue.send(_message(claimed.id, claimed.attempts + 1), delay_seconds=_seconds_until(due, now))
    return "retrying"
