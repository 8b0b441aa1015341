"""Delivers SQS messages to the same handlers Lambda would run, as Lambda's event source does.

`chalice local` serves HTTP only; this pump polls every queue the app subscribes to and calls the
handler with an SQS event. A handler that raises leaves its messages on the queue: they come back
after the visibility timeout and, after the redrive count, land in the dead-letter queue.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, List, Tuple

import boto3
from chalice.app import SQSEventConfig

from local.polling import PollingThread

log = logging.getLogger("csp_portal.local.pump")


class LambdaContext:
    """Enough of Lambda's context object for the handlers."""

    def __init__(self, function_name: str):
        self.function_name = function_name
        self.aws_request_id = "local"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:local:123456789012:function:{function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def sqs_subscriptions(app) -> Dict[str, Tuple[Callable, int]]:
    """queue name → (the handler Chalice registered for it, its batch size)."""
    return {config.queue: (app.handler_map[config.name], config.batch_size)
            for config in app.event_sources if isinstance(config, SQSEventConfig)}


def lambda_message_attributes(attributes: Dict[str, dict]) -> Dict[str, dict]:
    """ReceiveMessage's MessageAttributes ({"StringValue", "DataType"}) in the form Lambda's event
    gives them ({"stringValue", "dataType", ...})."""
    return {name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                   "stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}
            for name, value in (attributes or {}).items()}


def sqs_event(queue: str, region: str, messages: List[dict]) -> dict:
    """The event Lambda hands an SQS handler, from messages as ReceiveMessage returns them (asked
    for with every attribute and message attribute)."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": lambda_message_attributes(m.get("MessageAttributes", {})), "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:{region}:123456789012:{queue}",
        "awsRegion": region,
    } for m in messages]}


class EventPump(PollingThread):
    thread_name = "event-pump"

    def __init__(self, app, region: str, wait_seconds: int = 1):
        self._subscriptions = sqs_subscriptions(app)
        self._sqs = boto3.client("sqs", region_name=region)
        self._region = region
        self._urls: Dict[str, str] = {}
        super().__init__(wait_seconds)

    def _url(self, queue: str) -> str:
        if queue not in self._urls:
            self._urls[queue] = self._sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        return self._urls[queue]

    def pump_once(self, queue: str, wait_seconds: int = 0) -> int:
        """Receive one batch from `queue` and hand it to its handler; returns how many it received."""
        url = self._url(queue)
        handler, batch_size = self._subscriptions[queue]
        messages: List[dict] = self._sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(batch_size, 10), WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0
        event = sqs_event(queue, self._region, messages)
        try:
            handler(event, LambdaContext(queue))
        except Exception:  # noqa: BLE001 - as Lambda: the batch stays on the queue and is retried
            log.warning("handler for %s failed; %d message(s) will be retried", queue, len(messages), exc_info=True)
            return len(messages)
        self._sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        return len(messages)

    def drain(self, max_rounds: int = 50) -> int:
        """Deliver until no queue has a visible message (tests); returns how many deliveries it made."""
        total = 0
        for _ in range(max_rounds):
            received = sum(self._empty(queue) for queue in self._subscriptions)
            total += received
            if received == 0:
                break
        return total

    def _empty(self, queue: str) -> int:
        """Deliver from one queue until it has nothing visible, as Lambda's poller keeps up with it."""
        total = 0
        while True:
            received = self.pump_once(queue)
            total += received
            if received == 0:
                return total

    def sources(self):
        return list(self._subscriptions)

    # Batches taken from one busy queue before the others get their turn.
    MAX_BATCHES_PER_TURN = 200

    def poll(self, source: str, wait_seconds: int) -> int:
        """One long poll of `source`; when it brings messages, the queue is taken on until it has no
        more visible (up to MAX_BATCHES_PER_TURN batches), as Lambda's poller keeps up with a busy
        queue: a billing run's 32 shard messages and then its contracts go in one turn, not one per
        round of every other queue's one-second long poll."""
        total = received = self.pump_once(source, wait_seconds=wait_seconds)
        for _ in range(self.MAX_BATCHES_PER_TURN):
            if not received or self._stop.is_set():
                break
            received = self.pump_once(source)
            total += received
        return total
