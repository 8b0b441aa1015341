"""Move a dead-letter queue's messages back to the queue they came from, after the fault that sent
them there is fixed: `make redrive QUEUE=email` (or the queue's name or URL; MAX=n moves n at most).

The DLQ is the one the source queue's RedrivePolicy names (infra/resources.json: `csp-portal-email`
→ `csp-portal-email-dlq`), else `<queue>-dlq`. SQS's own move task (StartMessageMoveTask) is used
when it can be (it keeps every message whole and runs on AWS's side); without it (a MAX cap, or a
service that does not offer it, such as the embedded AWS of `make run`) messages are received,
sent to the source with their body and attributes, and deleted from the DLQ only once their send
succeeded: a message is never lost, at worst (a delete failing after its send) it is delivered
twice, which the workers' idempotency already absorbs. Without MAX that path makes one pass over
the messages waiting when it starts (their count is read first): a worker still broken sends them
back to the DLQ, and they are not moved round and round. Any other refusal of the move task
(AccessDenied, a task already running on that DLQ) stops the script with the reason: it is not
a reason to move by hand.

Usage: python infra/redrive.py QUEUE [--max N]   (boto3 only; AWS_DEFAULT_REGION, default sa-east-1)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import List, Optional

import boto3
from botocore.exceptions import ClientError, NoCredentialsError

# The product's queues are named csp-portal-<purpose> (infra/resources.json); `QUEUE=email` means that one.
QUEUE_PREFIX = "csp-portal-"
BATCH = 10  # SQS's largest receive and send batch
MOVE_TASK_POLL_SECONDS = 5
# Attributes SQS sets itself on receive; only a FIFO queue's group and deduplication ids travel back.
FIFO_SYSTEM_ATTRIBUTES = ("MessageGroupId", "MessageDeduplicationId")
# The answers of a service that does not offer StartMessageMoveTask; only these fall back to the
# message-by-message path. The embedded AWS of `make run` answers an action it does not know with
# a bare HTTP 500/501 page, whose code botocore reports as the status number.
MOVE_TASK_UNSUPPORTED = {"UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "InvalidAction",
                         "UnknownOperationException", "UnknownOperation", "NotImplemented", "500", "501"}


class RedriveError(Exception):
    pass


@dataclass
class Queues:
    source_url: str
    source_arn: str
    dlq_url: str
    dlq_arn: str


@dataclass
class Outcome:
    moved: int = 0
    method: str = "receive/send/delete"
    left_in_dlq: int = 0  # received but not sent: made visible again in the DLQ
    duplicated: int = 0  # sent but not deleted from the DLQ: will be delivered twice
    errors: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _url_of(sqs, name_or_url: str) -> Optional[str]:
    if name_or_url.startswith(("https://", "http://")):
        return name_or_url
    try:
        return sqs.get_queue_url(QueueName=name_or_url)["QueueUrl"]
    except ClientError as error:
        if "NonExistentQueue" in error.response["Error"]["Code"]:
            return None
        raise


def _arn_and_policy(sqs, url: str):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])["Attributes"]
    policy = json.loads(attributes["RedrivePolicy"]) if attributes.get("RedrivePolicy") else None
    return attributes["QueueArn"], policy


def find_queues(sqs, queue: str) -> Queues:
    """The source queue and its DLQ from what the operator typed: `email`, `csp-portal-email`, the
    DLQ's own name (`csp-portal-email-dlq`) or either's URL."""
    name = queue.rstrip("/").rsplit("/", 1)[-1]
    if name.endswith("-dlq"):
        queue = queue.rstrip("/")[: -len("-dlq")]
    candidates = [queue] if queue.startswith(("https://", "http://", QUEUE_PREFIX)) else [queue, QUEUE_PREFIX + queue]
    source_url = next((url for url in (_url_of(sqs, candidate) for candidate in candidates) if url), None)
    if source_url is None:
        raise RedriveError(f"no queue named {' or '.join(candidates)} in this account and region")
    source_arn, policy = _arn_and_policy(sqs, source_url)
    if policy and policy.get("deadLetterTargetArn"):
        dlq_name = policy["deadLetterTargetArn"].rsplit(":", 1)[-1]
    else:
        dlq_name = source_url.rsplit("/", 1)[-1] + "-dlq"
    dlq_url = _url_of(sqs, dlq_name)
    if dlq_url is None:
        raise RedriveError(f"the dead-letter queue {dlq_name} of {source_url} does not exist")
    dlq_arn, _ = _arn_and_policy(sqs, dlq_url)
    return Queues(source_url, source_arn, dlq_url, dlq_arn)


def waiting(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def _attributes_to_send(message) -> dict:
    """A received message's attributes in the form send_message_batch takes (the received form adds
    empty list values SQS refuses on send)."""
    out = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attribute = {"DataType": value["DataType"]}
        if "StringValue" in value:
            attribute["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attribute["BinaryValue"] = value["BinaryValue"]
        out[name] = attribute
    return out


def move_by_hand(sqs, queues: Queues, limit: Optional[int], outcome: Outcome, visibility_seconds: int = 60) -> None:
    """Receive from the DLQ, send to the source, delete from the DLQ what was sent, in batches of
    ten. Stops at the first batch that cannot be sent whole (after making its unsent messages
    visible again in the DLQ), so a broken source is not hammered and nothing is lost."""
    while limit is None or outcome.moved < limit:
        wanted = BATCH if limit is None else min(BATCH, limit - outcome.moved)
        received = sqs.receive_message(
            QueueUrl=queues.dlq_url, MaxNumberOfMessages=wanted, WaitTimeSeconds=1,
            VisibilityTimeout=visibility_seconds, MessageAttributeNames=["All"],
            MessageSystemAttributeNames=list(FIFO_SYSTEM_ATTRIBUTES)).get("Messages", [])
        if not received:
            return
        entries = []
        for index, message in enumerate(received):
            entry = {"Id": str(index), "MessageBody": message["Body"],
                     "MessageAttributes": _attributes_to_send(message)}
            system = message.get("Attributes") or {}
            entry.update({name: system[name] for name in FIFO_SYSTEM_ATTRIBUTES if name in system})
            entries.append(entry)
        try:
            answer = sqs.send_message_batch(QueueUrl=queues.source_url, Entries=entries)
            sent_ids = {item["Id"] for item in answer.get("Successful", [])}
            failures = [f"{item.get('Code')}: {item.get('Message', '')}" for item in answer.get("Failed", [])]
        except ClientError as error:
            sent_ids, failures = set(), [f"{error.response['Error']['Code']}: {error.response['Error'].get('Message')}"]
        sent = [message for index, message in enumerate(received) if str(index) in sent_ids]
        unsent = [message for index, message in enumerate(received) if str(index) not in sent_ids]
        if sent:
            deleted = sqs.delete_message_batch(QueueUrl=queues.dlq_url, Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(sent)])
            outcome.moved += len(sent)
            if deleted.get("Failed"):
                outcome.duplicated += len(deleted["Failed"])
                outcome.errors.append(f"{len(deleted['Failed'])} sent but not deleted from the DLQ "
                                      "(they will be delivered twice)")
        if unsent:
            # Visible again at once, so the operator can retry now rather than after the timeout.
            sqs.change_message_visibility_batch(QueueUrl=queues.dlq_url, Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for index, message in enumerate(unsent)])
            outcome.left_in_dlq += len(unsent)
            outcome.errors.append(f"{len(unsent)} could not be sent to the source queue and stay in the DLQ: "
                                  + "; ".join(sorted(set(failures)) or ["not accepted"]))
            return


def move_with_task(sqs, queues: Queues, outcome: Outcome, sleep=time.sleep) -> bool:
    """SQS's StartMessageMoveTask from the DLQ to its source; False when the service does not offer
    it (then the caller moves by hand). Waits for the task to end and reports what it moved."""
    try:
        handle = sqs.start_message_move_task(SourceArn=queues.dlq_arn, DestinationArn=queues.source_arn)["TaskHandle"]
    except AttributeError as error:  # a boto3 older than the move task
        print(f"move task unavailable ({error}); moving message by message")
        return False
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code") or "")
        if code not in MOVE_TASK_UNSUPPORTED:
            # AccessDenied, a task already running, a throttle: moving by hand would hide the
            # reason (and race a running task); the operator fixes it and runs the redrive again.
            raise RedriveError(f"the move task was refused ({code}: "
                               f"{error.response.get('Error', {}).get('Message', '')})") from error
        print(f"move task unavailable ({code}); moving message by message")
        return False
    outcome.method = "SQS message move task"
    print(f"move task started: {handle}")
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=queues.dlq_arn, MaxResults=1).get("Results", [])
        task = tasks[0] if tasks else {}  # the most recent task on this DLQ: the one just started
        status = task.get("Status", "RUNNING")
        outcome.moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        if status in ("COMPLETED", "CANCELLED", "FAILED"):
            if status != "COMPLETED":
                outcome.errors.append(f"move task {status.lower()}: {task.get('FailureReason', 'no reason given')}")
            return True
        sleep(MOVE_TASK_POLL_SECONDS)


def redrive(sqs, queue: str, limit: Optional[int] = None, use_move_task: bool = True) -> Outcome:
    queues = find_queues(sqs, queue)
    before = waiting(sqs, queues.dlq_url)
    print(f"{queues.dlq_url} → {queues.source_url}: about {before} message(s) waiting")
    outcome = Outcome()
    # The move task moves everything; a cap needs the message-by-message path. By hand, without a
    # cap, one pass over what is waiting now: what a still-broken worker sends back stays there.
    if not (use_move_task and limit is None and move_with_task(sqs, queues, outcome)):
        move_by_hand(sqs, queues, before if limit is None else limit, outcome)
    return outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Move a dead-letter queue's messages back to its source queue.")
    parser.add_argument("queue", help="email, provisioning, billing, or a queue's (or its DLQ's) name or URL")
    parser.add_argument("--max", type=int, default=None, help="move at most this many messages")
    args = parser.parse_args(argv)
    if args.max is not None and args.max < 1:
        print("MAX must be a positive number of messages", file=sys.stderr)
        return 2
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "sa-east-1"
    sqs = boto3.client("sqs", region_name=region)
    try:
        outcome = redrive(sqs, args.queue, args.max)
    except RedriveError as error:
        print(f"redrive refused: {error}", file=sys.stderr)
        return 1
    except (ClientError, NoCredentialsError) as error:
        print(f"redrive failed: {error}", file=sys.stderr)
        return 1
    print(f"moved {outcome.moved} message(s) ({outcome.method})")
    for error in outcome.errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
