"""The email queue's worker: redelivered messages send once; failures are retried, not lost."""
import json

from chalicelib.services import notifications
from tests.support import failing_first


def welcome_message(delivery_key):
    return {"kind": "email", "template": "user_invited", "to": ["pessoa@e.example"], "delivery_key": delivery_key,
            "context": {"user": {"name": "Pessoa", "email": "pessoa@e.example"}, "organization": {"name": "Empresa"},
                        "role_labels": ["Adm"], "is_master": False, "temporary_password": "Temp#1234567",
                        "contract_items": [], "portal_url": "http://portal.test",
                        "office365_admin_url": "https://admin.microsoft.com"}}


def test_a_message_delivered_twice_sends_one_email(world):
    event = world.client.events.generate_sqs_event(message_bodies=[json.dumps(welcome_message("dup-1"))],
                                                   queue_name=world.deps.settings.email_queue_name)
    for _ in range(2):
        world.client.lambda_.invoke("deliver_emails", event)
    assert len(world.outbox()) == 1


def test_a_failed_send_is_retried_by_sqs_and_then_sent_once(world, monkeypatch):
    message = welcome_message("retry-1")
    notifications.queue_email(world.deps, template=message["template"], to=message["to"],
                              context=message["context"], delivery_key=message["delivery_key"])
    flaky_send = failing_first(world.deps.mailer.send, 1, RuntimeError("SES throttled"))
    monkeypatch.setattr(world.deps.mailer, "send", flaky_send)
    world.drain_queues()
    assert world.outbox() == [] and flaky_send.calls == 1  # failed: the message stays queued, invisible for a while
    world.make_visible()  # instead of waiting out the visibility timeout
    world.drain_queues()
    assert len(world.outbox()) == 1 and flaky_send.calls == 2


def test_a_message_whose_template_fails_to_render_is_not_marked_sent(world):
    broken = welcome_message("broken-1")
    del broken["context"]["temporary_password"]
    try:
        notifications.deliver_email(world.deps, broken)
    except Exception:
        pass
    fixed = welcome_message("broken-1")
    assert notifications.deliver_email(world.deps, fixed) is True
    assert len(world.outbox()) == 1



def test_a_worker_killed_between_claim_and_send_loses_no_email_and_sends_it_once(world):
    from datetime import timedelta

    import pytest

    from chalicelib.domain.clock import FixedClock

    clock = world.deps.clock = FixedClock(world.deps.clock())
    message = welcome_message("killed-1")
    # What a worker killed by its timeout leaves: a claim, and no email.
    assert world.deps.email_deliveries.claim("killed-1", clock(), clock() + notifications.SENDING_CLAIM) == "claimed"

    # Redelivered while that claim may still be live: nothing is sent and the message is kept.
    with pytest.raises(notifications.DeliveryInProgress):
        notifications.deliver_email(world.deps, message)
    assert world.outbox() == []

    # Once the claim has expired, the next delivery takes it over and sends; later ones do not.
    clock.now = clock() + notifications.SENDING_CLAIM + timedelta(seconds=1)
    assert notifications.deliver_email(world.deps, message) is True
    assert notifications.deliver_email(world.deps, message) is False
    clock.now = clock() + notifications.SENDING_CLAIM * 10  # a sent email is remembered far longer
    assert notifications.deliver_email(world.deps, message) is False
    assert len(world.outbox()) == 1
