"""PATCH /contract: the Master or Cobrança changes who receives invoices and boletos; the change is
audited and both the old and the new contacts are told, once."""
import json

import pytest

from chalicelib.domain.roles import Role
from tests.support import body_html, body_text


def contacts_of(world, account):
    return world.call("GET", "/contract", account).json_body["billing_contacts"]


def contact_audit(world, org):
    return [e for e in world.call("GET", "/audit", org.master).json_body["items"]
            if e["action"] == "contract.billing_contacts_changed"]


@pytest.mark.parametrize("role", [Role.MASTER, Role.COBRANCA])
def test_master_and_cobranca_change_the_contacts_and_old_and_new_are_emailed_once_each(world, role):
    org = world.organization()
    account = org.master if role == Role.MASTER else world.user(org.id, [Role.COBRANCA])
    [old] = org.contract.billing_contacts
    response = world.call("PATCH", "/contract", account,
                          {"billing_contacts": [" Contas@Empresa.example ", "cfo@empresa.example"]})
    assert response.status_code == 200, response.json_body
    contract = response.json_body
    assert contract["billing_contacts"] == ["contas@empresa.example", "cfo@empresa.example"]
    assert contract["version"] == 2
    assert contract["current_document_version"] == world.deps.settings.contract_version
    assert world.call("GET", "/contract", org.master).json_body == contract

    world.drain_queues()
    [email] = world.outbox()
    assert sorted(a.strip() for a in email["To"].split(",")) == sorted([old, "cfo@empresa.example",
                                                                       "contas@empresa.example"])
    assert email["Subject"].startswith("Contatos de cobrança alterados")
    for body in (body_text(email), body_html(email)):
        assert old in body and "contas@empresa.example" in body and account.user.name in body

    [entry] = contact_audit(world, org)
    assert entry["actor_id"] == account.user.id and entry["target"] == f"contract:{org.contract.id}"
    assert entry["before"] == {"billing_contacts": [old]}
    assert entry["after"] == {"billing_contacts": ["contas@empresa.example", "cfo@empresa.example"]}


@pytest.mark.parametrize("role", [Role.ADM, Role.SUPORTE])
def test_adm_and_suporte_may_not_change_the_contacts(world, role):
    org = world.organization()
    response = world.call("PATCH", "/contract", world.user(org.id, [role]), {"billing_contacts": ["x@e.example"]})
    assert response.status_code == 403 and response.json_body["error"]["code"] == "forbidden"
    assert contacts_of(world, org.master) == org.contract.billing_contacts


@pytest.mark.parametrize("body, code", [
    ({"billing_contacts": []}, "too_few_items"),
    ({"billing_contacts": ["sem-arroba"]}, "invalid_email"),
    ({"billing_contacts": ["a@e.example", "a@e.example"]}, "duplicate_items"),
    ({"billing_contacts": ["a@e.example", "A@E.example"]}, "duplicate_items"),
    ({"billing_contacts": [f"c{n}@e.example" for n in range(11)]}, "too_many_items"),
    ({"billing_contacts": "a@e.example"}, "invalid_type"),
    ({}, "required"),
])
def test_bad_contacts_are_refused_and_nothing_is_written_or_sent(world, body, code):
    org = world.organization()
    response = world.call("PATCH", "/contract", org.master, body)
    assert response.status_code == 400 and response.json_body["error"]["code"] == code
    contract = world.call("GET", "/contract", org.master).json_body
    assert contract["billing_contacts"] == org.contract.billing_contacts and contract["version"] == 1
    assert contact_audit(world, org) == []
    world.drain_queues()
    assert world.outbox() == []


def test_a_stale_if_match_is_refused_and_changes_nothing(world):
    org = world.organization()
    stale = world.call("PATCH", "/contract", org.master, {"billing_contacts": ["novo@e.example"]},
                       headers={"If-Match": "7"})
    assert stale.status_code == 409 and stale.json_body["error"]["code"] == "version_conflict"
    assert contacts_of(world, org.master) == org.contract.billing_contacts
    fresh = world.call("PATCH", "/contract", org.master, {"billing_contacts": ["novo@e.example"]},
                       headers={"If-Match": '"1"'})
    assert fresh.status_code == 200 and fresh.json_body["billing_contacts"] == ["novo@e.example"]


def test_sending_the_same_contacts_again_changes_nothing_and_tells_no_one(world):
    org = world.organization()
    first = world.call("PATCH", "/contract", org.master, {"billing_contacts": ["novo@e.example"]}).json_body
    again = world.call("PATCH", "/contract", org.master, {"billing_contacts": ["NOVO@e.example"]})
    assert again.status_code == 200 and again.json_body == first
    world.drain_queues()
    assert len(world.outbox()) == 1 and len(contact_audit(world, org)) == 1


def test_a_redelivered_notice_is_sent_once(world, monkeypatch):
    org = world.organization()
    queued = []
    send = world.deps.email_queue.send
    monkeypatch.setattr(world.deps.email_queue, "send", lambda message: (queued.append(message), send(message))[1])
    world.call("PATCH", "/contract", org.master, {"billing_contacts": ["novo@e.example"]})
    [message] = queued
    event = world.client.events.generate_sqs_event(message_bodies=[json.dumps(message)] * 2,
                                                   queue_name=world.deps.settings.email_queue_name)
    world.client.lambda_.invoke("deliver_emails", event)
    world.drain_queues()
    assert len(world.outbox()) == 1


def test_a_terminated_contract_keeps_its_contacts(world):
    org = world.organization(items=())  # nothing ordered at acceptance: the rescission closes it at once
    world.accept_contract(org)
    world.call("POST", "/contract/terminate", org.master, {"reason_text": "Encerramento"})
    world.drain_queues()
    assert world.call("GET", "/contract", org.master).json_body["status"] == "terminated"
    emails_before = len(world.outbox())
    response = world.call("PATCH", "/contract", org.master, {"billing_contacts": ["novo@e.example"]})
    assert response.status_code == 409 and response.json_body["error"]["code"] == "contract_terminated"
    assert contacts_of(world, org.master) == org.contract.billing_contacts
    world.drain_queues()
    assert len(world.outbox()) == emails_before
