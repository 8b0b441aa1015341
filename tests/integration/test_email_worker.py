"""The email queue's worker: redelivered messages send once; failures are retried, not lost."""
import json

import boto3

from chalicelib.services import notifications


def queue_welcome(world, delivery_key="user_invited#abc"):
    notifications.queue_email(world.deps, template="user_invited", to=["pessoa@e.example"], delivery_key=delivery_key,
                              context={"user": {"name": "Pessoa", "email": "pessoa@e.example"},
                                       "organization": {"name": "Empresa"}, "role_labels": ["Adm"],
                                       "is_master": False, "temporary_password": "Temp#1234567",
                                       "contract_items": [], "portal_url": "http://portal.test",
                                       "office365_admin_url": "https://admin.microsoft.com"})


def sqs_event(world, body):
    return world.client.events.generate_sqs_event(message_bodies=[json.dumps(body)],
                                                  queue_name=world.deps.settings.email_queue_name)


def test_a_message_delivered_twice_sends_one_email(world):
    message = {"kind": "email", "template": "user_invited", "to": ["p@e.example"], "delivery_key": "dup-1",
               "context": {"user": {"name": "P", "email": "p@e.example"}, "organization": {"name": "E"},
                           "role_labels": ["Adm"], "is_master": False, "temporary_password": "Temp#1234567",
                           "contract_items": [], "portal_url": "http://portal.test",
                           "office365_admin_url": "https://admin.microsoft.com"}}
    for _ in range(2):
        world.client.lambda_.invoke("deliver_emails", sqs_event(world, message))
    assert len(world.outbox()) == 1


def test_a_failed_send_is_retried_by_sqs_and_then_sent_once(world, monkeypatch):
    queue_welcome(world)
    calls = {"n": 0}
    real_send = world.deps.mailer.send

    def flaky_send(email):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("SES throttled")
        return real_send(email)

    monkeypatch.setattr(world.deps.mailer, "send", flaky_send)
    assert world.drain_queues() == 0  # the first attempt failed: the message stays queued
    assert world.outbox() == []
    sqs = boto3.client("sqs", region_name=world.deps.settings.region)
    url = sqs.get_queue_url(QueueName=world.deps.settings.email_queue_name)["QueueUrl"]
    # Make the message visible again now instead of after the visibility timeout.
    _expire_visibility(sqs, url)
    assert world.drain_queues() == 1
    assert len(world.outbox()) == 1 and calls["n"] == 2


def _expire_visibility(sqs, url):
    from moto.backends import get_backend

    backend = get_backend("sqs")["123456789012"]["sa-east-1"]
    queue = backend.get_queue(url.rsplit("/", 1)[-1])
    for message in queue._messages:
        message.change_visibility(0)
