"""SQS queues: asynchronous work (emails, provisioning, billing) as JSON messages.

Each message carries the correlation id of the work that sent it as the message attribute
`correlation_id` (chalicelib/observability.py), never in its body, so that the worker's lines log
with the same id."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Protocol

from .. import observability
from .aws import client


class Queue(Protocol):
    """What the use cases and workers send through; `SqsQueue` in Lambda, a stand-in in tests and the bench."""

    def send(self, message: Dict[str, Any], delay_seconds: int = 0) -> str: ...

    def send_batch(self, messages: List[Dict[str, Any]],
                   correlation_ids: Optional[List[str]] = None) -> None: ...

    def change_visibility(self, receipt_handle: str, seconds: int) -> None: ...


class SqsQueue:
    def __init__(self, queue_name: str, region: str):
        self.queue_name = queue_name
        self._region = region
        self._url: Optional[str] = None

    def _queue_url(self) -> str:
        if self._url is None:
            self._url = client("sqs", self._region).get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        return self._url

    def send(self, message: Dict[str, Any], delay_seconds: int = 0) -> str:
        response = client("sqs", self._region).send_message(
            QueueUrl=self._queue_url(), MessageBody=json.dumps(message, sort_keys=True),
            DelaySeconds=delay_seconds, MessageAttributes=observability.message_attributes(),
        )
        return response["MessageId"]

    def send_batch(self, messages: List[Dict[str, Any]], correlation_ids: Optional[List[str]] = None) -> None:
        """Send many messages, ten per SQS call (its limit); failures are retried once, then raised.
        `correlation_ids`: each message's own (a billing run's contracts), else the current one."""
        sqs = client("sqs", self._region)
        ids = list(correlation_ids) if correlation_ids is not None else [None] * len(messages)
        for start in range(0, len(messages), 10):
            entries = [{"Id": str(i), "MessageBody": json.dumps(m, sort_keys=True),
                        "MessageAttributes": observability.message_attributes(cid)}
                       for i, (m, cid) in enumerate(zip(messages[start:start + 10], ids[start:start + 10]))]
            failed = sqs.send_message_batch(QueueUrl=self._queue_url(), Entries=entries).get("Failed", [])
            if failed:
                retry = [e for e in entries if e["Id"] in {f["Id"] for f in failed}]
                if sqs.send_message_batch(QueueUrl=self._queue_url(), Entries=retry).get("Failed"):
                    raise RuntimeError(f"SQS refused {len(failed)} message(s) on {self.queue_name}")

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Delay the next delivery of a received message (backoff before a retry)."""
        client("sqs", self._region).change_message_visibility(
            QueueUrl=self._queue_url(), ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, 43200)))
