"""`make redrive QUEUE=…` (infra/redrive.py) on the embedded AWS: a DLQ's messages go back to the
queue they came from whole, and a message whose send fails stays in the DLQ."""
import os
import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError

from infra import redrive
from tests.conftest import PROJECT_DIR, REGION

ATTRIBUTES = {"kind": {"DataType": "String", "StringValue": "invoice_issued"},
              "attempt": {"DataType": "Number", "StringValue": "5"},
              "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}}


@pytest.fixture
def sqs(deps):
    return boto3.client("sqs", region_name=REGION)


def url(sqs, name):
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def dead_letters(sqs, count, queue="csp-portal-email"):
    for number in range(count):
        sqs.send_message(QueueUrl=url(sqs, f"{queue}-dlq"), MessageBody=f'{{"message": {number}}}',
                         MessageAttributes=ATTRIBUTES)


def drain(sqs, name):
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=url(sqs, name), MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                    VisibilityTimeout=60).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


def attributes_of(message):
    return {name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
            for name, value in message["MessageAttributes"].items()}


def test_the_dlq_messages_return_to_their_queue_whole_and_the_dlq_is_empty(sqs):
    dead_letters(sqs, 13)  # more than one batch of ten

    outcome = redrive.redrive(sqs, "email")

    assert outcome.ok and outcome.moved == 13
    back = drain(sqs, "csp-portal-email")
    assert sorted(m["Body"] for m in back) == sorted(f'{{"message": {n}}}' for n in range(13))
    assert all(attributes_of(m) == ATTRIBUTES for m in back)
    assert drain(sqs, "csp-portal-email-dlq") == []
    # Only the email queue moved.
    assert drain(sqs, "csp-portal-billing") == [] and drain(sqs, "csp-portal-provisioning") == []


def test_the_script_moves_at_most_max_and_takes_the_dlq_by_its_own_name(sqs):
    dead_letters(sqs, 3, queue="csp-portal-billing")

    result = subprocess.run([sys.executable, "infra/redrive.py", "csp-portal-billing-dlq", "--max", "2"],
                            cwd=PROJECT_DIR, env=os.environ.copy(), capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "moved 2 message(s)" in result.stdout
    assert len(drain(sqs, "csp-portal-billing")) == 2
    assert len(drain(sqs, "csp-portal-billing-dlq")) == 1


def test_an_unknown_queue_is_refused_and_nothing_moves(sqs):
    dead_letters(sqs, 1)

    result = subprocess.run([sys.executable, "infra/redrive.py", "emails"], cwd=PROJECT_DIR,
                            env=os.environ.copy(), capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    assert "no queue named emails or csp-portal-emails" in result.stderr
    assert len(drain(sqs, "csp-portal-email-dlq")) == 1


class FailingSends:
    """The real client, except that sending to the source queue fails: whole (an exception) or for
    some entries (SQS's partial failure)."""

    def __init__(self, sqs, partial):
        self._sqs, self._partial = sqs, partial

    def __getattr__(self, name):
        return getattr(self._sqs, name)

    def send_message_batch(self, QueueUrl, Entries):
        if not self._partial:
            raise ClientError({"Error": {"Code": "KMS.AccessDeniedException", "Message": "no key"}}, "SendMessageBatch")
        first, rest = Entries[0], Entries[1:]
        answer = self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=[first])
        answer["Failed"] = [{"Id": e["Id"], "Code": "InternalError", "Message": "try again", "SenderFault": False}
                            for e in rest]
        return answer


@pytest.mark.parametrize("partial", [False, True], ids=["send-fails", "some-sends-fail"])
def test_a_message_that_cannot_be_sent_stays_in_the_dlq_visible_again(sqs, partial):
    dead_letters(sqs, 3)

    outcome = redrive.redrive(FailingSends(sqs, partial), "email")

    assert not outcome.ok
    moved = 1 if partial else 0
    assert outcome.moved == moved and outcome.left_in_dlq == 3 - moved
    assert "stay in the DLQ" in outcome.errors[0]
    assert len(drain(sqs, "csp-portal-email")) == moved
    # Visible again at once (not after the 60 s the receive hid them for), attributes intact.
    left = drain(sqs, "csp-portal-email-dlq")
    assert len(left) == 3 - moved and all(attributes_of(m) == ATTRIBUTES for m in left)


class MoveTaskSqs:
    """An SQS that offers the move task (the embedded one does not): records the call, reports the
    task running, then completed."""

    def __init__(self, sqs):
        self._sqs, self.started, self.polls = sqs, [], 0

    def __getattr__(self, name):
        return getattr(self._sqs, name)

    def start_message_move_task(self, **kwargs):
        self.started.append(kwargs)
        return {"TaskHandle": "task-1"}

    def list_message_move_tasks(self, SourceArn, MaxResults):
        self.polls += 1
        if self.polls == 1:
            return {"Results": [{"TaskHandle": "task-1", "Status": "RUNNING", "ApproximateNumberOfMessagesMoved": 2}]}
        return {"Results": [{"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 4}]}

    def receive_message(self, **kwargs):
        raise AssertionError("the move task does the moving")


def test_where_sqs_offers_the_move_task_it_moves_from_the_dlq_to_its_source(sqs, monkeypatch):
    monkeypatch.setattr(redrive, "MOVE_TASK_POLL_SECONDS", 0)
    fake = MoveTaskSqs(sqs)

    outcome = redrive.redrive(fake, "provisioning")

    arn = sqs.get_queue_attributes(QueueUrl=url(sqs, "csp-portal-provisioning"),
                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert fake.started == [{"SourceArn": arn + "-dlq", "DestinationArn": arn}]
    assert outcome.ok and outcome.moved == 4 and outcome.method == "SQS message move task"


class RefusedMoveTask:
    """An SQS that offers the move task but refuses it with `code`."""

    def __init__(self, sqs, code):
        self._sqs, self._code, self.received = sqs, code, 0

    def __getattr__(self, name):
        return getattr(self._sqs, name)

    def start_message_move_task(self, **kwargs):
        raise ClientError({"Error": {"Code": self._code, "Message": "refused"}}, "StartMessageMoveTask")

    def receive_message(self, **kwargs):
        self.received += 1
        return self._sqs.receive_message(**kwargs)


@pytest.mark.parametrize("code", ["AccessDenied", "AWS.SimpleQueueService.UnsupportedOperation.TaskRunning",
                                  "RequestThrottled"])
def test_a_move_task_refused_for_another_reason_than_being_unsupported_stops_with_the_reason(
        sqs, monkeypatch, capsys, code):
    dead_letters(sqs, 2)
    refusing = RefusedMoveTask(sqs, code)
    monkeypatch.setattr(redrive.boto3, "client", lambda *a, **k: refusing)

    status = redrive.main(["email"])

    assert status == 1 and f"the move task was refused ({code}: refused)" in capsys.readouterr().err
    assert refusing.received == 0  # not moved by hand behind the operator's back
    assert len(drain(sqs, "csp-portal-email-dlq")) == 2 and drain(sqs, "csp-portal-email") == []


def test_a_service_without_the_move_task_has_the_messages_moved_by_hand(sqs, monkeypatch, capsys):
    dead_letters(sqs, 2)
    unsupported = RefusedMoveTask(sqs, "UnsupportedOperation")
    monkeypatch.setattr(redrive.boto3, "client", lambda *a, **k: unsupported)

    assert redrive.main(["email"]) == 0

    assert "moved 2 message(s) (receive/send/delete)" in capsys.readouterr().out and unsupported.received
    assert len(drain(sqs, "csp-portal-email")) == 2 and drain(sqs, "csp-portal-email-dlq") == []


class BrokenWorker:
    """What a worker that still fails does to the moved messages: each one sent to the source queue
    lands back in the DLQ (as its redrive policy would move it after the failed attempts)."""

    def __init__(self, sqs):
        self._sqs, self.sends = sqs, 0

    def __getattr__(self, name):
        return getattr(self._sqs, name)

    def send_message_batch(self, QueueUrl, Entries):
        self.sends += 1
        assert self.sends < 20, "the redrive loops over the messages it sends back"
        return self._sqs.send_message_batch(QueueUrl=url(self._sqs, "csp-portal-email-dlq"), Entries=Entries)


def test_without_max_the_redrive_makes_one_pass_over_the_messages_waiting_when_it_starts(sqs):
    dead_letters(sqs, 12)
    worker = BrokenWorker(sqs)

    outcome = redrive.redrive(worker, "email")  # the embedded AWS has no move task: by hand

    assert outcome.ok and outcome.moved == 12 and worker.sends == 2
    assert len(drain(sqs, "csp-portal-email-dlq")) == 12
