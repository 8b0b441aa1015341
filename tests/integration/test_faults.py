"""The fault suite: crashes at random points, throttled email, a flaky provider, every queue message
delivered twice, two runs of one period at once — and each time every invoice once, every email
once, no invoice number skipped or repeated."""
import json
import random
import threading
from collections import Counter
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from chalicelib.domain.audit import SYSTEM
from chalicelib.domain.clock import FixedClock
from chalicelib.services import billing
from tests.support import sp

CONTRACTS = 5
PROJECT_DIR = Path(__file__).resolve().parents[2]
EMAIL_VISIBILITY_TIMEOUT = json.loads((PROJECT_DIR / "infra" / "resources.json").read_text())[
    "Resources"]["EmailQueue"]["Properties"]["VisibilityTimeout"]


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def billable_orgs(world, clock, count=CONTRACTS):
    orgs = []
    for n in range(count):
        org = world.active_organization()
        world.subscription(org, "MS365-E3", n + 1)
        orgs.append(org)
    clock.now = sp(2026, 11, 11, 9)
    return orgs


def run_period(world):
    billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])


def settle(world, rounds=8):
    for _ in range(rounds):
        world.make_visible()
        if world.drain_queues() == 0:
            break


def assert_each_invoice_and_email_once(world, orgs):
    invoices = [world.deps.invoices.invoice_for_period(org.id, sp(2026, 11, 10).date()) for org in orgs]
    assert all(invoices), "a contract was left unbilled"
    assert sorted(i.number for i in invoices) == list(range(1, len(orgs) + 1))
    for invoice in invoices:
        assert len(invoice.boletos) == 1 and invoice.nfse is not None
    sent = Counter(m["Subject"] for m in world.outbox() if "Fatura nº" in m["Subject"])
    assert len(sent) == len(orgs) and set(sent.values()) == {1}, sent
    assert len(world.deps.bank.nosso_numeros()) == len(orgs)


@pytest.mark.parametrize("crash_point", ["after_issue", "after_boleto", "before_email_send", "random"])
def test_workers_crashing_at_any_point_then_rerunning_bill_everyone_once(world, clock, monkeypatch, crash_point):
    orgs = billable_orgs(world, clock)
    rng = random.Random(crash_point)
    crashes = {"left": 2 if crash_point != "random" else rng.randint(2, 6)}
    points = ["after_issue", "after_boleto", "before_email_send"] if crash_point == "random" else [crash_point]

    def maybe_crash(point):
        if point in points and crashes["left"] > 0 and (crash_point != "random" or rng.random() < 0.5):
            crashes["left"] -= 1
            raise RuntimeError(f"crash {point}")

    real_issue = world.deps.invoices.issue
    real_register = world.deps.bank.register
    real_send = world.deps.mailer.send
    monkeypatch.setattr(world.deps.invoices, "issue",
                        lambda invoice, audit, **extra: (real_issue(invoice, audit, **extra),
                                                         maybe_crash("after_issue"))[0])
    monkeypatch.setattr(world.deps.bank, "register",
                        lambda request: (lambda r: (maybe_crash("after_boleto"), r)[1])(real_register(request)))
    monkeypatch.setattr(world.deps.mailer, "send", lambda email: (maybe_crash("before_email_send"), real_send(email))[1])

    run_period(world)
    settle(world)
    run_period(world)  # the operator runs the period again
    settle(world)
    assert_each_invoice_and_email_once(world, orgs)


def test_ses_throttling_delays_emails_but_sends_each_once(world, clock, monkeypatch):
    orgs = billable_orgs(world, clock)
    real_send = world.deps.mailer.send
    throttled = {"left": 4}

    def throttling_send(email):
        if throttled["left"] > 0:
            throttled["left"] -= 1
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}},
                              "SendEmail")
        return real_send(email)

    monkeypatch.setattr(world.deps.mailer, "send", throttling_send)
    run_period(world)
    settle(world)
    assert throttled["left"] == 0
    assert_each_invoice_and_email_once(world, orgs)


def test_email_workers_killed_mid_send_still_send_each_email_once(world, clock, monkeypatch):
    """A hard kill (a Lambda timeout) runs no cleanup: the delivery's claim stays behind, unsent."""
    orgs = billable_orgs(world, clock)
    deliveries, real_send, real_release = world.deps.email_deliveries, world.deps.mailer.send, \
        world.deps.email_deliveries.release
    kills = {"left": 2}

    def send(email):
        if kills["left"] > 0:
            kills["left"] -= 1
            monkeypatch.setattr(deliveries, "release", lambda key: None)  # the process is gone
            raise RuntimeError("Task timed out after 60.00 seconds")
        monkeypatch.setattr(deliveries, "release", real_release)
        return real_send(email)

    monkeypatch.setattr(world.deps.mailer, "send", send)
    run_period(world)
    world.drain_queues()
    assert kills["left"] == 0
    assert len([m for m in world.outbox() if "Fatura nº" in m["Subject"]]) == len(orgs) - 2
    clock.advance(seconds=EMAIL_VISIBILITY_TIMEOUT)  # SQS shows the failed batch again
    settle(world)
    assert_each_invoice_and_email_once(world, orgs)


def test_a_killed_email_workers_claim_expires_before_sqs_redelivers_its_message():
    from chalicelib.services.notifications import SENDING_CLAIM

    lambda_timeout = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())["stages"]["prod"]["lambda_timeout"]
    assert lambda_timeout < SENDING_CLAIM.total_seconds() < EMAIL_VISIBILITY_TIMEOUT


def test_every_message_delivered_twice_changes_nothing(world, clock, monkeypatch):
    orgs = billable_orgs(world, clock)
    for queue in (world.deps.billing_queue, world.deps.email_queue, world.deps.provisioning_queue):
        real = queue.send

        def twice(message, delay_seconds=0, _real=real):
            _real(message, delay_seconds)
            return _real(message, delay_seconds)

        monkeypatch.setattr(queue, "send", twice)
        real_batch = queue.send_batch
        monkeypatch.setattr(queue, "send_batch", lambda messages, correlation_ids=None, _real=real_batch: _real(
            messages + messages, correlation_ids + correlation_ids if correlation_ids is not None else None))
    sub = world.deps.subscriptions.list(orgs[0].id)[0]
    world.call("POST", f"/subscriptions/{sub.id}/quantity", orgs[0].master, {"quantity": 9})
    run_period(world)
    settle(world)
    assert_each_invoice_and_email_once(world, orgs)
    changes = world.deps.subscriptions.changes(orgs[0].id, sub.id, limit=10, next_token=None)[0]
    assert [c.status for c in changes] == ["applied"]
    assert world.deps.subscriptions.get(orgs[0].id, sub.id).quantity == 9


def test_two_runs_of_one_period_at_once_issue_each_invoice_once(world, clock):
    orgs = billable_orgs(world, clock)
    starters = [threading.Thread(target=run_period, args=(world,)) for _ in range(2)]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join()
    workers = [threading.Thread(target=world.drain_queues) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    settle(world)
    assert_each_invoice_and_email_once(world, orgs)


def test_a_flaky_provider_loses_no_change(world, clock):
    world.seed_catalog()
    org = world.organization()
    world.accept_contract(org)
    subs = [world.subscription(org, sku, 5) for sku in ("MS365-E3", "POWERBI-PRO", "EXO-PLAN1", "INTUNE-P1")]
    provider = world.deps.licence_provider
    provider.failure_rate, provider._random = 0.4, random.Random(7)
    for n, sub in enumerate(subs):
        assert world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 6 + n}).status_code == 202
    settle(world, rounds=12)
    for n, sub in enumerate(subs):
        [change] = world.deps.subscriptions.changes(org.id, sub.id, limit=10, next_token=None)[0]
        current = world.deps.subscriptions.get(org.id, sub.id)
        assert change.status in ("applied", "failed")
        assert current.pending_change is None
        assert current.quantity == (6 + n if change.status == "applied" else 5)
