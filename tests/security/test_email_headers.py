"""Every email is delivered: customers' text with line-breaking characters (U+2028, U+2029, NEL,
bare CR, vertical tab, form feed, other controls) reaches subjects and display names as spaces, and
an email that still cannot be built fails for good, visibly, without holding the queue."""
import logging

import pytest

from chalicelib.adapters import mail
from chalicelib.adapters.mail import OutgoingEmail, build_mime, header_text
from tests.support import ADDRESS, body_text

BREAKERS = ["\u2028", "\u2029", "\x85", "\r", "\n", "\v", "\f", "\x00", "\x1b", "\t", "\r\n"]


@pytest.mark.parametrize("breaker", BREAKERS, ids=repr)
def test_a_line_breaking_character_in_a_header_becomes_one_space(breaker):
    assert header_text(f"  Chamado{breaker}{breaker} urgente{breaker}") == "Chamado urgente"
    message = build_mime(f"Revenda{breaker}Cloud <nao-responda@revenda.example>",
                         OutgoingEmail(to=["cliente@empresa.example"], subject=f"Olá{breaker}mundo",
                                       text="corpo", html="<p>corpo</p>"))
    raw = message.as_bytes()
    from email import message_from_bytes, policy

    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Olá mundo"
    assert parsed["From"].addresses[0].display_name == "Revenda Cloud"
    assert parsed["From"].addresses[0].addr_spec == "nao-responda@revenda.example"


def test_text_that_is_not_a_line_break_is_kept_as_typed():
    typed = "São Paulo — ação 日本語 🚀👩🏽‍💻 \u202egnp.exe"
    assert header_text(typed) == typed


def spy_on_queued_emails(world, monkeypatch):
    """The emails the use cases queue, as queued (their delivery keys are what the worker records)."""
    queued, real = [], world.deps.email_queue.send

    def send(message, *args, **kwargs):
        if message.get("kind") == "email":
            queued.append(message)
        return real(message, *args, **kwargs)

    monkeypatch.setattr(world.deps.email_queue, "send", send)
    return queued


def deliver_everything(world):
    world.drain_queues()
    world.make_visible()
    world.drain_queues()


def delivery_status(world, message):
    from chalicelib.storage import keys
    from chalicelib.storage.models import EmailDeliveryItem

    return EmailDeliveryItem.get(keys.email_delivery_pk(message["delivery_key"]), keys.EMAIL_DELIVERY_SK).status


def test_a_company_ticket_and_user_named_with_line_breakers_get_every_email_they_queue(world, monkeypatch):
    queued = spy_on_queued_emails(world, monkeypatch)
    operator = world.operator()
    world.seed_catalog()
    created = world.call("POST", "/backoffice/organizations", operator, {
        "cnpj": "45.997.418/0001-53", "company_name": "Padaria\u2028Nova\u2029Ltda", "closing_day": 10,
        "payment_method": "boleto", "master": {"email": "master@padarianova.example",
                                               "name": "Ana\u2028de\x85Souza\v"},
        "address": ADDRESS})
    assert created.status_code == 201, created.json_body
    org = world.organization(name="Oficina\u2028Digital\x85Ltda")
    invited = world.call("POST", "/users", org.master, {"email": "novo@oficina.example",
                                                         "name": "Rui\u2029Lima\f", "roles": ["suporte"]})
    assert invited.status_code == 201, invited.json_body
    ticket = world.call("POST", "/tickets", org.master, {
        "subject": "Teams\u2029caiu\vde\fnovo\x85hoje\rcedo", "category": "acesso", "severity": "alta",
        "description": "Linha 1\u2028Linha 2\rLinha 3"})
    assert ticket.status_code == 201, ticket.json_body
    deliver_everything(world)

    templates = sorted(m["template"] for m in queued)
    assert templates == sorted(["user_invited", "user_invited", "ticket_opened", "ticket_received"]), templates
    # Every queued email went out: each delivery is recorded as sent, and the outbox holds one per message.
    assert [delivery_status(world, m) for m in queued] == ["sent"] * len(queued)
    outbox = world.outbox()
    assert len(outbox) == len(queued)
    subjects = {m["To"]: m["Subject"] for m in outbox}
    assert subjects["master@padarianova.example"] == "Seu acesso ao Portal Brasoftware Cloud — Padaria Nova Ltda"
    assert subjects["novo@oficina.example"] == "Seu acesso ao Portal Brasoftware Cloud — Oficina Digital Ltda"
    number = ticket.json_body["number"]
    assert subjects[org.master.user.email] == f"[Chamado #{number}] Recebemos seu chamado: Teams caiu de novo hoje cedo"
    # The body keeps the customer's text (the header was the only place it could not go as typed).
    assert "Linha 2" in "".join(body_text(m) for m in outbox)


def test_an_email_that_cannot_be_built_fails_for_good_is_logged_and_does_not_hold_the_others(
        world, monkeypatch, caplog):
    queued = spy_on_queued_emails(world, monkeypatch)
    org = world.organization()
    real_build = mail.build_mime

    def build(sender, email):
        if "quebrado@" in email.to[0]:
            raise ValueError("a header the email package refuses")
        return real_build(sender, email)

    monkeypatch.setattr(mail, "build_mime", build)
    for address in ("quebrado@empresa.example", "inteiro@empresa.example"):
        assert world.call("POST", "/users", org.master, {"email": address, "name": "Pessoa",
                                                         "roles": ["suporte"]}).status_code == 201
    with caplog.at_level(logging.ERROR, logger="csp_portal.services.notifications"):
        deliver_everything(world)

    broken, whole = queued
    assert (delivery_status(world, broken), delivery_status(world, whole)) == ("failed", "sent")
    assert [m["To"] for m in world.outbox()] == ["inteiro@empresa.example"]
    assert any(broken["delivery_key"] in r.getMessage() and "failed for good" in r.getMessage()
               for r in caplog.records)
    # Nothing is left on the queue to be retried: a later drain sends and logs nothing more.
    world.make_visible()
    assert world.drain_queues() == 0


def test_a_line_break_typed_into_a_subject_stays_in_the_subject_and_out_of_the_body(world, monkeypatch):
    queued = spy_on_queued_emails(world, monkeypatch)
    org = world.organization()
    ticket = world.call("POST", "/tickets", org.master, {
        "subject": "linha 1\r\nBcc: intruso@evil.example\r\n\r\nlinha 3", "category": "acesso",
        "severity": "alta", "description": "Primeira linha.\nSegunda linha."})
    assert ticket.status_code == 201, ticket.json_body
    deliver_everything(world)
    assert [delivery_status(world, m) for m in queued] == ["sent"] * len(queued) and len(queued) == 2
    [received] = [m for m in world.outbox() if m["To"] == org.master.user.email]
    number = ticket.json_body["number"]
    assert received["Subject"].strip() == \
        f"[Chamado #{number}] Recebemos seu chamado: linha 1 Bcc: intruso@evil.example linha 3"
    assert received["Bcc"] is None
    text = body_text(received)
    # The body is the template's, from its first line on, and a value's own line breaks are kept.
    assert text.startswith("Olá.") and "(linha 1\nBcc: intruso@evil.example\n\nlinha 3)" in text.replace("\r", "")
