"""A cancellation (a subscription to zero) or a rescission tells the organisation's Masters and
administrators what ends and when, under a protocol number stored with the change: one email per
request, also when the reduction waits for the renewal, and never twice."""
import re
from datetime import timedelta

import pytest

from chalicelib.domain.clock import FixedClock
from chalicelib.domain.roles import Role
from tests.support import body_html, body_text, sp

PROTOCOL = re.compile(r"^CANC-\d{8}-[0-9A-Z]{8}$")


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 11, 11))
    return world.deps.clock


@pytest.fixture
def org(world, clock):
    return world.active_organization()


@pytest.fixture
def staff(world, org):
    """One user per profile besides the Master: a second Master, an Adm, Cobrança and Suporte."""
    return {"master2": world.user(org.id, [Role.MASTER]), "adm": world.user(org.id, [Role.ADM]),
            "cobranca": world.user(org.id, [Role.COBRANCA]), "suporte": world.user(org.id, [Role.SUPORTE])}


def notices(world):
    return [m for m in world.outbox() if "protocolo CANC-" in m["Subject"]]


def recipients(message):
    return sorted(a.strip() for a in message["To"].split(","))


def audit_entries(world, org, action):
    return [e for e in world.call("GET", "/audit", org.master).json_body["items"] if e["action"] == action]


def test_a_cancellation_at_renewal_tells_the_masters_and_admins_the_date_and_protocol_once(world, org, clock, staff):
    sub = world.subscription(org, "MS365-BUSINESS-BASIC-M", 5, bought_at=clock.now)  # P1M: renews 11 Dec
    clock.advance(days=10)  # outside the 7-day window: the reduction waits for the renewal
    body = {"reason": "reducao_de_custos", "reason_text": "Orçamento"}
    headers = {"Idempotency-Key": "cancel-1"}
    response = world.call("POST", f"/subscriptions/{sub.id}/cancel", staff["adm"], body, headers=headers)
    assert response.status_code == 202, response.json_body
    change = response.json_body["change"]
    assert (change["applies"], change["effective_on"]) == ("at_renewal", "2026-12-11")
    protocol = change["protocol"]
    assert PROTOCOL.match(protocol) and protocol.startswith("CANC-20261121-")
    # A replay answers the first result and sends nothing more.
    replay = world.call("POST", f"/subscriptions/{sub.id}/cancel", staff["adm"], body, headers=headers)
    assert replay.json_body == response.json_body
    world.drain_queues()

    [email] = notices(world)
    assert email["Subject"] == f"Cancelamento registrado — protocolo {protocol}"
    assert recipients(email) == sorted([org.master.user.email, staff["master2"].user.email, staff["adm"].user.email])
    for text in (body_text(email), body_html(email)):
        assert protocol in text and "11/12/2026" in text and "Microsoft 365 Business Basic" in text
        assert "na renovação" in text and staff["adm"].user.name in text

    # Stored with the change, and in the audit trail.
    [stored] = world.call("GET", f"/subscriptions/{sub.id}/changes", org.master).json_body["items"]
    assert stored["protocol"] == protocol
    [entry] = audit_entries(world, org, "subscription.quantity_requested")
    assert entry["after"]["protocol"] == protocol


def test_a_cancellation_that_applies_now_is_told_too_and_a_redelivered_message_sends_one_email(
        world, org, clock, staff):
    sub = world.subscription(org, "MS365-E3", 3, bought_at=clock.now)
    clock.advance(days=2)  # inside the window: it applies now
    queued = []
    send = world.deps.email_queue.send
    world.deps.email_queue.send = lambda message, **kw: (queued.append(message), send(message, **kw))[1]
    response = world.call("POST", f"/subscriptions/{sub.id}/cancel", org.master, {"reason": "migracao"})
    change = response.json_body["change"]
    assert change["applies"] == "now" and PROTOCOL.match(change["protocol"])
    [message] = [m for m in queued if m["template"] == "cancellation_registered"]
    assert message["delivery_key"] == f"cancellation#{change['protocol']}"
    world.drain_queues()
    # SQS delivers the same message again: the delivery key sends it once.
    send(message)
    world.drain_queues()
    [email] = notices(world)
    assert recipients(email) == sorted([org.master.user.email, staff["master2"].user.email, staff["adm"].user.email])
    assert "efetivado em 13/11/2026" in body_text(email)


def test_a_reduction_that_is_not_a_cancellation_has_no_protocol_and_no_notice(world, org, clock):
    sub = world.subscription(org, "MS365-E3", 3, bought_at=clock.now)
    response = world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 2})
    assert response.json_body["change"]["protocol"] is None
    world.drain_queues()
    assert notices(world) == []


def test_a_rescission_is_one_email_under_one_protocol_with_each_date_and_the_contract_end(world, org, clock, staff):
    world.subscription(org, "MS365-E3", 10, bought_at=clock.now)  # P1Y, bought 11 Nov
    world.subscription(org, "MS365-BUSINESS-BASIC-M", 4, bought_at=clock.now - timedelta(days=20))  # bought 22 Oct: renews 22 Nov
    clock.advance(days=3)  # E3 still in its window, Business Basic not
    response = world.call("POST", "/contract/terminate", staff["adm"], {"reason_text": "Encerramento"},
                          headers={"Idempotency-Key": "rescisao-1"})
    assert response.status_code == 202, response.json_body
    termination = response.json_body
    protocol = termination["protocol"]
    assert PROTOCOL.match(protocol)
    assert {c["protocol"] for c in termination["changes"]} == {protocol}
    assert sorted((c["applies"], c["effective_on"]) for c in termination["changes"]) == \
        [("at_renewal", "2026-11-22"), ("now", "2026-11-14")]
    again = world.call("POST", "/contract/terminate", staff["adm"], {"reason_text": "Encerramento"},
                       headers={"Idempotency-Key": "rescisao-1"})
    assert again.json_body == termination
    world.drain_queues()

    [email] = notices(world)
    assert email["Subject"] == f"Rescisão do contrato registrada — protocolo {protocol}"
    assert recipients(email) == sorted([org.master.user.email, staff["master2"].user.email, staff["adm"].user.email])
    for text in (body_text(email), body_html(email)):
        assert protocol in text and "14/11/2026" in text and "22/11/2026" in text
        assert "encerrado quando a última assinatura chegar a zero, em" in text
    [entry] = audit_entries(world, org, "contract.termination_requested")
    assert entry["after"]["protocol"] == protocol
