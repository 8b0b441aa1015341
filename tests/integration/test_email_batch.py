"""The email worker's batch (issue #22 §5): one transaction claims every email of the batch and checks
that no recipient is suppressed, one write marks them sent; when that transaction fails (a duplicate,
a suppressed recipient, anything), each email goes the one-by-one way, as before. Every email is
still sent once."""
import gc
import hashlib
import json
from collections import Counter

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from botocore.session import Session

from chalicelib.domain.mail_events import Suppression
from chalicelib.jobs import email as email_job
from chalicelib.services import notifications

CONTEXT = {"user": {"name": "Pessoa", "email": "pessoa@e.example"}, "organization": {"name": "Empresa"},
           "role_labels": ["Adm"], "is_master": False, "temporary_password": "Temp#1234567",
           "contract_items": [], "portal_url": "http://portal.test",
           "office365_admin_url": "https://admin.microsoft.com"}


def message(key, to=None, attachments=None):
    return notifications.email_message(template="user_invited", to=to or [f"{key}@e.example"], context=CONTEXT,
                                       delivery_key=key, attachments=attachments)


def invoke(world, messages):
    """The worker's handler called as Lambda's SQS event source calls it (a 60 s function)."""
    from local.event_pump import LambdaContext, sqs_event, sqs_subscriptions

    queue = world.deps.settings.email_queue_name
    handler, _ = sqs_subscriptions(world.app)[queue]
    bodies = [json.dumps(m) for m in messages]
    event = sqs_event(queue, world.deps.settings.region, [
        {"MessageId": f"m-{i}", "ReceiptHandle": f"r-{i}", "Body": body, "MD5OfBody": hashlib.md5(body.encode()).hexdigest()}
        for i, body in enumerate(bodies)])
    try:
        handler(event, LambdaContext("csp-portal-email"))
    except email_job.EmailBatchFailed:
        pass  # SQS would deliver the batch again


def recipients(world):
    return Counter(email["To"] for email in world.outbox())


def delivery(key):
    from chalicelib.storage import keys
    from chalicelib.storage.models import EmailDeliveryItem

    return EmailDeliveryItem.get(keys.email_delivery_pk(key), keys.EMAIL_DELIVERY_SK, consistent_read=True)


def released(key):
    """No claim left on the delivery (DoesNotExist: its item is gone)."""
    from chalicelib.storage.models import EmailDeliveryItem

    with pytest.raises(EmailDeliveryItem.DoesNotExist):
        delivery(key)
    return True


class FakeTime:
    """The invocation's clock: moves only when the pace sleeps or an S3 read is made slow."""

    def __init__(self, seconds_left):
        self.now, self.end = 0.0, seconds_left

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def seconds_left(self):
        return self.end - self.now


class AwsCalls:
    """Every AWS request from now on, by "service.Operation", through botocore's event hooks: on each
    client alive now and on each created while counting."""

    def __init__(self):
        self.calls = Counter()
        self._clients, self._create = [], Session.create_client

    def _count(self, model, **_):
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def _hook(self, client):
        client.meta.events.register("after-call.*.*", self._count)
        client.meta.events.register("after-call-error.*.*", self._count)
        self._clients.append(client)

    def __enter__(self):
        for client in [o for o in gc.get_objects() if isinstance(o, BaseClient)]:
            self._hook(client)
        create, counter = self._create, self

        def create_client(session, *args, **kwargs):
            client = create(session, *args, **kwargs)
            counter._hook(client)
            return client

        Session.create_client = create_client
        return self

    def __exit__(self, *_):
        Session.create_client = self._create
        for client in self._clients:
            client.meta.events.unregister("after-call.*.*", self._count)
            client.meta.events.unregister("after-call-error.*.*", self._count)

    def of(self, *services):
        return {k: n for k, n in self.calls.items() if k.split(".")[0] in services}


def test_a_clean_batch_of_ten_takes_one_transaction_ten_sends_and_one_write(world):
    batch = [message(f"clean-{n}", attachments=[{"key": f"k/{n}.pdf", "filename": "boleto.pdf",
                                                 "content_type": "application/pdf", "content": b"%PDF-1.4"}])
             for n in range(10)]
    invoke(world, [message("warm-up")])  # the container and its clients made outside the count

    with AwsCalls() as aws:
        invoke(world, batch)

    assert aws.of("dynamodb", "s3", "sesv2", "sqs") == {"dynamodb.TransactWriteItems": 1,
                                                        "dynamodb.BatchWriteItem": 1, "sesv2.SendEmail": 10}
    assert recipients(world) == Counter([f"clean-{n}@e.example" for n in range(10)] + ["warm-up@e.example"])
    for n in range(10):
        item = delivery(f"clean-{n}")
        assert item.status == "sent" and item.message_id and item.sent_at and item.claimed_at
    invoke(world, batch)  # delivered again by SQS: nothing sent twice
    assert len(world.outbox()) == 11


def test_a_batch_with_an_email_sent_already_goes_one_by_one_and_sends_the_others_once(world):
    invoke(world, [message("dup-a")])

    with AwsCalls() as aws:
        invoke(world, [message("dup-a"), message("dup-b"), message("dup-c")])

    # The batch's transaction was refused (dup-a is sent), wrote nothing, and each went one by one.
    calls = aws.of("dynamodb", "sesv2")
    assert calls["dynamodb.TransactWriteItems"] == 1 and calls["dynamodb.PutItem"] == 3
    assert calls["sesv2.SendEmail"] == 2
    assert recipients(world) == Counter(["dup-a@e.example", "dup-b@e.example", "dup-c@e.example"])
    assert {delivery(k).status for k in ("dup-a", "dup-b", "dup-c")} == {"sent"}


def test_a_batch_holding_the_same_email_twice_sends_it_once(world):
    invoke(world, [message("twice"), message("other"), message("twice")])

    assert recipients(world) == Counter(["twice@e.example", "other@e.example"])


def test_a_batch_with_a_suppressed_recipient_drops_it_and_sends_the_rest(world):
    world.deps.suppressions.suppress(Suppression(email="gone@e.example", kind="bounce", since="2026-01-01T00:00:00Z",
                                                 event_id="evt-1"), None)
    batch = [message("sup-a", to=["gone@e.example", "kept@e.example"]), message("sup-b"),
             message("sup-c", to=["gone@e.example"])]

    with AwsCalls() as aws:
        invoke(world, batch)

    assert aws.of("dynamodb")["dynamodb.TransactWriteItems"] == 1  # refused: a recipient is suppressed
    assert recipients(world) == Counter(["kept@e.example", "sup-b@e.example"])
    assert delivery("sup-c").status == "suppressed" and delivery("sup-a").status == "sent"


def test_one_send_throttled_in_a_batch_is_retried_and_the_others_are_not_sent_twice(world, monkeypatch):
    for n in range(5):
        notifications.queue_email(world.deps, template="user_invited", to=[f"t-{n}@e.example"], context=CONTEXT,
                                  delivery_key=f"throttled-{n}")
    real, attempts = world.deps.mailer.send, Counter()

    def send(email):
        attempts[email.to[0]] += 1
        if email.to[0] == "t-2@e.example" and attempts[email.to[0]] == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Maximum sending rate exceeded."}},
                              "SendEmail")
        return real(email)

    monkeypatch.setattr(world.deps.mailer, "send", send)
    world.drain_queues()
    assert sorted(recipients(world)) == ["t-0@e.example", "t-1@e.example", "t-3@e.example", "t-4@e.example"]
    assert released("throttled-2")  # the next delivery claims it again

    world.make_visible()  # instead of waiting out the visibility timeout
    world.drain_queues()

    assert recipients(world) == Counter(f"t-{n}@e.example" for n in range(5))  # each once
    assert attempts == Counter({**{f"t-{n}@e.example": 1 for n in range(5)}, "t-2@e.example": 2})


def test_a_permanent_failure_in_a_batch_is_recorded_on_the_invoice_and_not_retried(world, monkeypatch):
    from chalicelib.adapters.mail import PermanentMailFailure

    world.seed_catalog()
    invoice = world.invoice(world.active_organization())
    world.drain_queues()  # its own emails out of the way
    sent_before = len(world.outbox())
    real = world.deps.mailer.send

    def send(email):
        if email.to[0] == "bad@e.example":
            raise PermanentMailFailure("SES MessageRejected: endereço recusado")
        return real(email)

    monkeypatch.setattr(world.deps.mailer, "send", send)
    failing = {**message("perm-a", to=["bad@e.example"]), "invoice_id": invoice.id}
    invoke(world, [failing, message("perm-b")])

    assert [e["To"] for e in world.outbox()[sent_before:]] == ["perm-b@e.example"]
    assert delivery("perm-a").status == "failed" and delivery("perm-b").status == "sent"
    assert "endereço recusado (user_invited)" in world.deps.invoices.get(invoice.id).email_error
    invoke(world, [failing])  # never tried again
    assert len(world.outbox()) == sent_before + 1


def test_a_batch_near_the_end_of_its_invocation_marks_what_it_sent_and_leaves_the_rest_for_sqs(world):
    # Sending on with less than the margin left could be killed between a send and the batch's mark.
    batch = [message(f"late-{n}") for n in range(4)]
    left = iter([58.0, 55.0, 40.0, 12.0, 5.0])  # asked before the claim, then before each send

    outcomes = notifications.deliver_emails(world.deps, batch, seconds_left=lambda: next(left))

    assert outcomes[:2] == [True, True]
    assert all(isinstance(o, notifications.NoTimeLeft) for o in outcomes[2:])
    assert recipients(world) == Counter(["late-0@e.example", "late-1@e.example"])
    assert [delivery(f"late-{n}").status for n in range(2)] == ["sent", "sent"]
    assert released("late-2") and released("late-3")  # the batch's next delivery sends them

    assert notifications.deliver_emails(world.deps, batch) == [False, False, True, True]
    assert len(world.outbox()) == 4


def test_an_invocation_with_little_time_from_the_start_sends_one_by_one(world):
    with AwsCalls() as aws:
        outcomes = notifications.deliver_emails(world.deps, [message("short-0"), message("short-1")],
                                                seconds_left=lambda: 3.0)

    assert outcomes == [True, True] and "dynamodb.TransactWriteItems" not in aws.calls
    assert [delivery(f"short-{n}").status for n in range(2)] == ["sent", "sent"]


def test_a_batch_whose_time_runs_out_while_pacing_sends_nothing_more_and_marks_what_it_sent(world):
    # At SES_MAX_SEND_RATE=2 (1 a second for each of two workers), an email to ten recipients waits
    # 10 s for its turn: the pace never sleeps into the margin, and the rest are left for SQS.
    from chalicelib.domain.send_rate import SendPacer

    time = FakeTime(seconds_left=60)
    pace = SendPacer(1, time.clock, time.sleep)
    batch = [message(f"paced-{n}", to=[f"paced-{n}-{r}@e.example" for r in range(10)]) for n in range(4)]

    outcomes = notifications.deliver_emails(world.deps, batch, pace=pace, seconds_left=time.seconds_left)

    # Waits of 9, 10 and 10 s: the third goes with 31 s left; the fourth would with 21 s left.
    assert outcomes[:3] == [True, True, True] and isinstance(outcomes[3], notifications.NoTimeLeft)
    assert time.now == 29
    assert len(world.outbox()) == 3 and "paced-3-0@e.example" not in recipients(world)
    assert [delivery(f"paced-{n}").status for n in range(3)] == ["sent"] * 3
    assert released("paced-3")

    assert notifications.deliver_emails(world.deps, batch) == [False, False, False, True]  # SQS again
    assert len(world.outbox()) == 4


def test_a_slow_attachment_read_leaves_its_email_for_sqs_instead_of_sending_it_too_late(world, monkeypatch):
    time = FakeTime(seconds_left=45)
    world.deps.documents.put("slow/boleto.pdf", b"%PDF-1.4", "application/pdf")
    real_get = world.deps.documents.get

    def slow_get(key):
        time.sleep(20)  # S3 answering slowly (adapters/aws.py bounds one read below the margin)
        return real_get(key)

    monkeypatch.setattr(world.deps.documents, "get", slow_get)
    by_key = [{"key": "slow/boleto.pdf", "filename": "boleto.pdf", "content_type": "application/pdf"}]
    batch = [message("slow-0"), message("slow-1", attachments=by_key), message("slow-2")]

    def pace(count, max_wait=None):  # sleeps as told, however long the wait (its bound is the pacer's)
        time.sleep(1)

    outcomes = notifications.deliver_emails(world.deps, batch, pace=pace, seconds_left=time.seconds_left)

    # slow-1's read started with 44 s left and ended with 24: not sent, nor anything after it.
    assert outcomes[0] is True and all(isinstance(o, notifications.NoTimeLeft) for o in outcomes[1:])
    assert recipients(world) == Counter(["slow-0@e.example"])
    assert delivery("slow-0").status == "sent" and released("slow-1") and released("slow-2")


class MarkFailed(Exception):
    """DynamoDB's unprocessed items past PynamoDB's retries (its batch_write raises)."""


def test_when_the_batchs_mark_fails_each_email_sent_is_marked_alone(world, monkeypatch):
    from chalicelib.adapters.mail import PermanentMailFailure

    deliveries, real_send = world.deps.email_deliveries, world.deps.mailer.send

    def finish_all(finished):
        raise MarkFailed("Failed to batch write items: max attempts exceeded")

    def send(email):
        if email.to[0] == "mark-bad@e.example":
            raise PermanentMailFailure("SES MessageRejected")
        return real_send(email)

    monkeypatch.setattr(deliveries, "finish_all", finish_all)
    monkeypatch.setattr(world.deps.mailer, "send", send)
    batch = [message(f"mark-{n}") for n in range(3)] + [message("mark-x", to=["mark-bad@e.example"])]

    assert notifications.deliver_emails(world.deps, batch, seconds_left=lambda: 50.0) == [True, True, True, False]

    items = {key: delivery(key) for key in ("mark-0", "mark-1", "mark-2", "mark-x")}
    assert {k: i.status for k, i in items.items()} == {"mark-0": "sent", "mark-1": "sent", "mark-2": "sent",
                                                       "mark-x": "failed"}
    assert all(items[f"mark-{n}"].message_id and items[f"mark-{n}"].sent_at for n in range(3))
    monkeypatch.undo()
    assert notifications.deliver_emails(world.deps, batch) == [False] * 4  # delivered again: none sent twice
    assert len(world.outbox()) == 3


def test_when_the_batchs_mark_and_one_emails_own_mark_fail_the_others_are_marked_and_it_raises(world, monkeypatch):
    deliveries = world.deps.email_deliveries
    real_finish = deliveries.finish

    def finish_all(finished):
        raise MarkFailed("Failed to batch write items: max attempts exceeded")

    def finish(key, *args, **kwargs):
        if key == "alone-1":
            raise MarkFailed("throttled")
        return real_finish(key, *args, **kwargs)

    monkeypatch.setattr(deliveries, "finish_all", finish_all)
    monkeypatch.setattr(deliveries, "finish", finish)

    with pytest.raises(MarkFailed, match="max attempts exceeded"):  # the batch fails: SQS delivers it again
        notifications.deliver_emails(world.deps, [message(f"alone-{n}") for n in range(3)])

    assert [delivery(f"alone-{n}").status for n in range(3)] == ["sent", "sending", "sent"]
