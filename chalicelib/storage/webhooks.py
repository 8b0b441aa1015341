"""Webhooks: an organisation's endpoints (61), the outbox of events (63), deliveries (64, 65)."""
from __future__ import annotations

from typing import List, Optional, Tuple

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from ..domain import error_codes as codes
from ..domain import webhooks as rules
from ..domain.audit import AuditEntry
from ..domain.webhooks import Delivery, Endpoint
from . import keys
from .models import WebhookCountItem, WebhookDeliveryItem, WebhookEndpointItem, WebhookEventItem
from .repositories import Transaction, _is_condition_failure, _page, append_audit, decode_token

_ENDPOINT_FIELDS = ("id", "organization_id", "url", "description", "status", "created_at", "secret")
_DELIVERY_FIELDS = ("id", "organization_id", "endpoint_id", "event_id", "event_type", "payload", "status",
                    "created_at", "first_attempt_at", "last_attempt_at", "last_error", "next_attempt_at",
                    "delivered_at", "lease_until")


def _endpoint_item(endpoint: Endpoint) -> WebhookEndpointItem:
    return WebhookEndpointItem(keys.org_webhooks_pk(endpoint.organization_id), keys.webhook_sk(endpoint.id),
                               events=list(endpoint.events), **{k: getattr(endpoint, k) for k in _ENDPOINT_FIELDS})


def _endpoint(item: WebhookEndpointItem) -> Endpoint:
    return Endpoint(events=tuple(item.events or ()), **{k: getattr(item, k) for k in _ENDPOINT_FIELDS})


def _delivery_item(delivery: Delivery) -> WebhookDeliveryItem:
    return WebhookDeliveryItem(
        keys.webhook_delivery_pk(delivery.id), keys.WEBHOOK_DELIVERY_SK,
        gsi1pk=keys.webhook_deliveries_pk(delivery.endpoint_id), gsi1sk=keys.created_sk(delivery.created_at, delivery.id),
        attempts=delivery.attempts, last_status_code=delivery.last_status_code,
        **{k: getattr(delivery, k) for k in _DELIVERY_FIELDS})


def _delivery(item: WebhookDeliveryItem) -> Delivery:
    return Delivery(attempts=int(item.attempts or 0),
                    last_status_code=int(item.last_status_code) if item.last_status_code is not None else None,
                    **{k: getattr(item, k) for k in _DELIVERY_FIELDS})


class WebhookRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    # --- endpoints (61) ----------------------------------------------------------------------------
    def endpoints(self, organization_id: str) -> List[Endpoint]:
        """All of an organisation's endpoints (at most 10), oldest first."""
        return [_endpoint(i) for i in WebhookEndpointItem.query(
            keys.org_webhooks_pk(organization_id), WebhookEndpointItem.sk.startswith(keys.WEBHOOK_PREFIX),
            consistent_read=True)]

    def endpoint(self, organization_id: str, endpoint_id: str) -> Endpoint:
        try:
            return _endpoint(WebhookEndpointItem.get(keys.org_webhooks_pk(organization_id),
                                                     keys.webhook_sk(endpoint_id), consistent_read=True))
        except DoesNotExist:
            raise codes.WEBHOOK_NOT_FOUND()

    def create(self, endpoint: Endpoint, audit: AuditEntry, *, limit: int) -> None:
        """The endpoint with its audit entry, on the condition that the organisation has fewer than
        `limit` (its counter, added to in the same transaction: two at once cannot pass 10)."""
        def build(tx):
            tx.update(WebhookCountItem(keys.org_webhooks_pk(endpoint.organization_id), keys.WEBHOOK_COUNT_SK),
                      actions=[WebhookCountItem.count.add(1)],
                      condition=WebhookCountItem.count.does_not_exist() | (WebhookCountItem.count < limit),
                      label="count")
            tx.save(_endpoint_item(endpoint), condition=WebhookEndpointItem.pk.does_not_exist(), label="endpoint")
            append_audit(tx, audit)

        def conflict(labels):
            if "count" in labels:
                return codes.WEBHOOK_LIMIT_REACHED(max_endpoints=limit)
            return codes.VERSION_CONFLICT()

        self._tx.run(build, on_conflict=conflict)

    def delete(self, endpoint: Endpoint, audit: AuditEntry) -> None:
        def build(tx):
            tx.delete(_endpoint_item(endpoint), condition=WebhookEndpointItem.pk.exists(), label="endpoint")
            tx.update(WebhookCountItem(keys.org_webhooks_pk(endpoint.organization_id), keys.WEBHOOK_COUNT_SK),
                      actions=[WebhookCountItem.count.add(-1)], condition=WebhookCountItem.count > 0, label="count")
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.WEBHOOK_NOT_FOUND())

    # --- deliveries (64, 65) -----------------------------------------------------------------------
    def add_delivery(self, delivery: Delivery) -> bool:
        """Write a new delivery; False when one with its id exists (an event fans out once per endpoint)."""
        try:
            _delivery_item(delivery).save(condition=WebhookDeliveryItem.pk.does_not_exist())
            return True
        except PutError as exc:
            if _is_condition_failure(exc):
                return False
            raise

    def delivery(self, delivery_id: str) -> Delivery:
        try:
            return _delivery(WebhookDeliveryItem.get(keys.webhook_delivery_pk(delivery_id), keys.WEBHOOK_DELIVERY_SK,
                                                     consistent_read=True))
        except DoesNotExist:
            raise codes.WEBHOOK_DELIVERY_NOT_FOUND()

    def deliveries(self, endpoint_id: str, *, limit: int, next_token: Optional[str]) -> Tuple[List[Delivery], Optional[str]]:
        pk = keys.webhook_deliveries_pk(endpoint_id)
        results = WebhookDeliveryItem.by_endpoint.query(pk, limit=limit, scan_index_forward=False,
                                                        last_evaluated_key=decode_token(next_token, ("gsi1pk", pk)))
        items, token = _page(results, limit)
        return [_delivery(i) for i in items], token

    def claim_attempt(self, delivery: Delivery, *, now: str, lease_until: str) -> Optional[Delivery]:
        """Attempt n+1 of a delivery as read (attempt n), before its POST: only one copy of a message
        wins; None when another holds a live lease or has moved it on, or it is no longer due."""
        item = WebhookDeliveryItem(keys.webhook_delivery_pk(delivery.id), keys.WEBHOOK_DELIVERY_SK)
        actions = [WebhookDeliveryItem.attempts.set(delivery.attempts + 1),
                   WebhookDeliveryItem.lease_until.set(lease_until), WebhookDeliveryItem.last_attempt_at.set(now)]
        if delivery.first_attempt_at is None:
            actions.append(WebhookDeliveryItem.first_attempt_at.set(now))
        condition = (WebhookDeliveryItem.pk.exists() & (WebhookDeliveryItem.attempts == delivery.attempts)
                     & WebhookDeliveryItem.status.is_in(rules.PENDING, rules.RETRYING)
                     & (WebhookDeliveryItem.lease_until.does_not_exist() | (WebhookDeliveryItem.lease_until < now)))
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return _delivery(item)

    def record_attempt(self, delivery: Delivery, *, status: str, status_code: Optional[int], error: Optional[str],
                       next_attempt_at: Optional[str], delivered_at: Optional[str]) -> Delivery:
        """The outcome of the attempt `delivery` claimed (its lease released)."""
        item = WebhookDeliveryItem(keys.webhook_delivery_pk(delivery.id), keys.WEBHOOK_DELIVERY_SK)
        actions = [WebhookDeliveryItem.status.set(status), WebhookDeliveryItem.lease_until.remove()]
        for attribute, value in ((WebhookDeliveryItem.last_status_code, status_code),
                                 (WebhookDeliveryItem.last_error, error),
                                 (WebhookDeliveryItem.next_attempt_at, next_attempt_at),
                                 (WebhookDeliveryItem.delivered_at, delivered_at)):
            actions.append(attribute.set(value) if value is not None else attribute.remove())
        item.update(actions=actions, condition=WebhookDeliveryItem.attempts == delivery.attempts)
        return _delivery(item)

    def due_now(self, delivery: Delivery, now: str) -> Optional[Delivery]:
        """A delivery still retrying, as read (attempt n), made due at once (a resend): None when it
        has moved on meanwhile (attempted, delivered, failed)."""
        item = WebhookDeliveryItem(keys.webhook_delivery_pk(delivery.id), keys.WEBHOOK_DELIVERY_SK)
        try:
            item.update(actions=[WebhookDeliveryItem.next_attempt_at.set(now)],
                        condition=(WebhookDeliveryItem.status == rules.RETRYING)
                        & (WebhookDeliveryItem.attempts == delivery.attempts))
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return _delivery(item)

    def stop(self, delivery: Delivery, error: str) -> None:
        """A delivery whose endpoint was removed: failed, not tried again."""
        item = WebhookDeliveryItem(keys.webhook_delivery_pk(delivery.id), keys.WEBHOOK_DELIVERY_SK)
        try:
            item.update(actions=[WebhookDeliveryItem.status.set(rules.FAILED), WebhookDeliveryItem.last_error.set(error),
                                 WebhookDeliveryItem.next_attempt_at.remove()],
                        condition=WebhookDeliveryItem.status.is_in(rules.PENDING, rules.RETRYING))
        except UpdateError as exc:
            if not _is_condition_failure(exc):
                raise

    # --- the outbox (63) ---------------------------------------------------------------------------
    def pending_events(self, limit: int) -> List[WebhookEventItem]:
        return list(WebhookEventItem.pending.query(keys.PENDING_EVENTS_PK, limit=limit))

    def clear_event(self, event_id: str) -> None:
        """The event leaves the outbox (its deliveries exist); deleting it twice is harmless."""
        WebhookEventItem(keys.event_pk(event_id), keys.EVENT_SK).delete()
