"""Delivers SNS messages to the handlers Lambda would run for them, as Lambda's SNS trigger does.

`chalice local` serves HTTP only. Each topic the app subscribes to (`@on_sns_message`) has, on the
embedded AWS, an SQS queue subscribed to it (local/aws_resources.py: `<topic>-local-delivery`);
this reads that queue and calls the handler with the event Lambda hands an SNS function (one
record, `Sns.Message` the published text). Today that is the SES mail events topic, fed by
adapters/mail_events.SimulatedSesEvents. Like Lambda's asynchronous invocation, a handler that
raises is tried again (after the queue's visibility timeout), three times in all, then dropped
with a log line.
"""
from __future__ import annotations

import json
import logging
from typing import Callable, Dict

import boto3
from chalice.app import SNSEventConfig

from local.event_pump import LambdaContext
from local.polling import PollingThread

log = logging.getLogger("csp_portal.local.sns")

ATTEMPTS = 3  # Lambda's asynchronous invocation: the first try and two retries


def delivery_queue(topic: str) -> str:
    """The local queue subscribed to `topic` (local/aws_resources.py creates both)."""
    return f"{topic}-local-delivery"


def sns_subscriptions(app) -> Dict[str, Callable]:
    """topic name → the handler Chalice registered for it."""
    return {config.topic: app.handler_map[config.name]
            for config in app.event_sources if isinstance(config, SNSEventConfig)}


def sns_event(envelope: dict, region: str) -> dict:
    """The event Lambda hands an SNS handler, from the notification SNS delivered to the queue."""
    topic_arn = envelope.get("TopicArn", "")
    return {"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": f"{topic_arn}:local",
        "Sns": {"Type": envelope.get("Type", "Notification"), "MessageId": envelope.get("MessageId"),
                "TopicArn": topic_arn, "Subject": envelope.get("Subject"), "Message": envelope.get("Message"),
                "Timestamp": envelope.get("Timestamp"), "SignatureVersion": "1", "Signature": "local",
                "SigningCertUrl": "", "UnsubscribeUrl": "", "MessageAttributes": envelope.get("MessageAttributes")
                or {}},
    }]}


class SnsDelivery(PollingThread):
    thread_name = "sns-delivery"

    def __init__(self, app, region: str, wait_seconds: int = 1):
        self._handlers = sns_subscriptions(app)
        self._sqs = boto3.client("sqs", region_name=region)
        self._region = region
        self._urls: Dict[str, str] = {}
        super().__init__(wait_seconds)

    def _url(self, topic: str) -> str:
        if topic not in self._urls:
            self._urls[topic] = self._sqs.get_queue_url(QueueName=delivery_queue(topic))["QueueUrl"]
        return self._urls[topic]

    def deliver_once(self, topic: str, wait_seconds: int = 0) -> int:
        """Hand each waiting notification of `topic` to its handler; returns how many it received."""
        url, handler = self._url(topic), self._handlers[topic]
        messages = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds,
                                             AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        for message in messages:
            try:
                handler(sns_event(json.loads(message["Body"]), self._region), LambdaContext(topic))
            except Exception:  # noqa: BLE001 - as Lambda: tried again, then dropped
                attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                if attempts < ATTEMPTS:
                    log.warning("SNS handler for %s failed (attempt %d); tried again", topic, attempts, exc_info=True)
                    continue
                log.error("SNS handler for %s failed %d times; the message is dropped", topic, attempts,
                          exc_info=True)
            self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def drain(self, max_rounds: int = 50) -> int:
        """Deliver until no topic has a waiting notification (tests); returns how many it delivered."""
        total = 0
        for _ in range(max_rounds):
            received = sum(self.deliver_once(topic) for topic in self._handlers)
            total += received
            if received == 0:
                break
        return total

    def sources(self):
        return list(self._handlers)

    def poll(self, source: str, wait_seconds: int) -> int:
        return self.deliver_once(source, wait_seconds=wait_seconds)
