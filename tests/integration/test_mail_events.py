"""Bounces and complaints (#19): SES's events, through the SNS topic, to the handler. A hard bounce
or a complaint suppresses the address, flags the billing contact on the contract for Master and
Cobrança, tells the operators and the other contacts once, and stops every email to it until the
contacts stop listing it. The events come from SES's mailbox simulator as the embedded AWS plays
it (adapters/mail_events.SimulatedSesEvents), delivered as Lambda's SNS trigger would
(local/sns_delivery.py)."""
from dataclasses import replace
from email.utils import getaddresses

import pytest

from chalicelib.adapters.mail_events import COMPLAINT, DELIVERY, HARD_BOUNCE, TRANSIENT_BOUNCE, SimulatedSesEvents, \
    ses_event
from chalicelib.domain.roles import Role
from chalicelib.services.notifications import SUPPRESSED_NOTE
from tests.support import body_text

OPERATORS = "comercial@brasoftware.com.br"


def set_contacts(world, org, contacts):
    """The contract's billing contacts, as if set earlier (no email about the change)."""
    from chalicelib.services import audit
    from local.seed import SEED_ACTOR

    contract = world.deps.contracts.get(org.id)
    world.deps.contracts.save(replace(contract, billing_contacts=contacts, version=contract.version + 1),
                              expected_version=contract.version,
                              audit=audit.entry(world.deps, SEED_ACTOR, org.id, "test.contacts", "contract"))


def simulator(world):
    return SimulatedSesEvents(world.deps.settings.mail_events_topic, world.deps.settings.region)


def publish(world, kind, address, org=None, message_id="msg-1", feedback_id=None, template="invoice_issued"):
    """SES's event about one email to `address` (tagged with `org`), through the topic, handled."""
    tags = {"template": template, **({"organization_id": org.id} if org is not None else {})}
    simulator(world).publish(ses_event(kind, message_id=message_id, recipients=[address], tags=tags,
                                       feedback_id=feedback_id))
    world.drain_queues()


def sent(world, since=0):
    """Every email sent since the outbox had `since` messages: (recipients, subject)."""
    return [(sorted(a for _, a in getaddresses([m["To"]])), m["Subject"]) for m in world.outbox()[since:]]


def audit_actions(world, org):
    entries, _ = world.deps.audit.list(org.id, since="2000-01-01", until="2100-01-01", limit=100, next_token=None)
    return [e.action for e in entries]


def contract_view(world, account):
    response = world.call("GET", "/contract", account)
    assert response.status_code == 200, response.json_body
    return response.json_body


def table_size(world):
    from moto.backends import get_backend

    backend = get_backend("dynamodb")["123456789012"][world.deps.settings.region]
    return len(backend.tables[world.deps.settings.table_name])


@pytest.fixture
def org(world):
    organization = world.active_organization()
    world.drain_queues()
    return organization


def test_a_hard_bounce_flags_the_contact_tells_once_and_stops_sends_to_it(world, org):
    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    profiles = world.profiles(org)
    before = len(world.outbox())

    publish(world, HARD_BOUNCE, "ana@empresa.example", org)

    told = sent(world, before)
    assert sorted(told) == sorted([
        ([OPERATORS], "Endereço suspenso (bounce) — " + org.organization.name),
        (["bia@empresa.example"], "E-mail de cobrança suspenso — " + org.organization.name)])
    [to_contacts] = [m for m in world.outbox()[before:] if m["To"] == "bia@empresa.example"]
    assert "ana@empresa.example" in body_text(to_contacts) and "suspensos até que seja alterado" in body_text(to_contacts)
    assert audit_actions(world, org).count("contact.bounced") == 1
    for role in (Role.MASTER, Role.COBRANCA):
        [flag] = contract_view(world, profiles[role])["undeliverable_contacts"]
        assert flag["email"] == "ana@empresa.example" and flag["reason"] == "bounce" and flag["since"]
    for role in (Role.ADM, Role.SUPORTE):  # they cannot change the contacts: not shown to them
        assert contract_view(world, profiles[role])["undeliverable_contacts"] is None

    # The next invoice goes to the other contact only.
    before = len(world.outbox())
    invoice = world.invoice(org)
    world.drain_queues()
    assert [to for to, subject in sent(world, before) if "Fatura" in subject] == [["bia@empresa.example"]]
    # The invoice says one contact was not reached (the customer sees it too: no address).
    assert world.deps.invoices.get(invoice.id).email_error == \
        SUPPRESSED_NOTE.format(count=1) + " (invoice_issued)"


def test_when_the_only_contact_bounced_the_masters_are_told_and_the_invoice_email_is_recorded_as_not_sent(
        world, org):
    set_contacts(world, org, ["ana@empresa.example"])
    before = len(world.outbox())

    publish(world, HARD_BOUNCE, "ana@empresa.example", org)

    assert sorted(sent(world, before)) == sorted([
        ([OPERATORS], "Endereço suspenso (bounce) — " + org.organization.name),
        ([org.master.user.email], "E-mail de cobrança suspenso — " + org.organization.name)])

    before = len(world.outbox())
    invoice = world.invoice(org)
    world.drain_queues()
    assert [subject for _, subject in sent(world, before) if "Fatura" in subject] == []
    error = world.deps.invoices.get(invoice.id).email_error
    assert error == "e-mail não enviado a 1 contato(s) suspenso(s) (invoice_issued)"
    seen = world.call("GET", f"/invoices/{invoice.id}", world.operator(), headers={"X-Organization-Id": org.id})
    assert seen.json_body["email_error"] == error
    # Remembered as not sent for lack of a recipient: a redelivery of the queued email sends nothing either.
    deliveries, now = world.deps.email_deliveries, world.deps.clock()
    assert deliveries.claim(f"invoice_issued#{invoice.id}", now, now) == deliveries.SUPPRESSED


def test_a_complaint_likewise(world, org):
    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    profiles = world.profiles(org)
    before = len(world.outbox())

    publish(world, COMPLAINT, "ana@empresa.example", org)

    assert sorted(sent(world, before)) == sorted([
        ([OPERATORS], "Endereço suspenso (reclamação) — " + org.organization.name),
        (["bia@empresa.example"], "E-mail de cobrança suspenso — " + org.organization.name)])
    assert audit_actions(world, org).count("contact.complained") == 1
    [flag] = contract_view(world, profiles[Role.COBRANCA])["undeliverable_contacts"]
    assert (flag["email"], flag["reason"]) == ("ana@empresa.example", "complaint")
    before = len(world.outbox())
    world.invoice(org)
    world.drain_queues()
    assert [to for to, subject in sent(world, before) if "Fatura" in subject] == [["bia@empresa.example"]]


def test_the_same_event_twice_acts_once(world, org):
    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    before = len(world.outbox())

    publish(world, HARD_BOUNCE, "ana@empresa.example", org, feedback_id="feedback-1")
    publish(world, HARD_BOUNCE, "ana@empresa.example", org, feedback_id="feedback-1")
    # Another bounce of the address (a second email already on its way) adds nothing either.
    publish(world, HARD_BOUNCE, "ana@empresa.example", org, message_id="msg-2", feedback_id="feedback-2")

    assert len(sent(world, before)) == 2  # the operators' and the other contact's, once each
    assert audit_actions(world, org).count("contact.bounced") == 1
    assert world.deps.suppressions.get("ana@empresa.example").event_id == "feedback-1"


def test_the_same_event_again_after_a_crash_before_the_emails_queues_them_once(world, org, monkeypatch):
    from chalicelib.services import mail_events, notifications

    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    before = len(world.outbox())
    raw = __import__("json").dumps(ses_event(HARD_BOUNCE, message_id="m", recipients=["ana@empresa.example"],
                                             tags={"organization_id": org.id}, feedback_id="f-1"))

    def crash(*args, **kwargs):
        raise RuntimeError("Lambda killed")

    monkeypatch.setattr(notifications, "queue_email", crash)
    with pytest.raises(RuntimeError):
        mail_events.handle_sns_message(world.deps, raw)
    monkeypatch.undo()
    assert mail_events.handle_sns_message(world.deps, raw) == 0  # suppressed already: nothing new…
    mail_events.handle_sns_message(world.deps, raw)
    world.drain_queues()
    assert len(sent(world, before)) == 2  # …but the emails the crash lost go out, once each
    assert audit_actions(world, org).count("contact.bounced") == 1


def test_a_transient_bounce_a_delivery_and_a_rejection_suppress_nothing(world, org):
    set_contacts(world, org, ["ana@empresa.example"])
    before, size = len(world.outbox()), table_size(world)

    publish(world, TRANSIENT_BOUNCE, "ana@empresa.example", org)
    publish(world, DELIVERY, "ana@empresa.example", org)
    simulator(world).publish({"eventType": "Reject", "mail": {"messageId": "m-9", "tags": {}},
                              "reject": {"reason": "Bad content"}})
    world.drain_queues()

    assert sent(world, before) == [] and table_size(world) == size
    assert world.deps.suppressions.of(["ana@empresa.example"]) == {}
    assert contract_view(world, org.master)["undeliverable_contacts"] == []
    world.invoice(org)
    world.drain_queues()
    assert [to for to, subject in sent(world, before) if "Fatura" in subject] == [["ana@empresa.example"]]


HOSTILE = [
    "not json at all",
    "[1, 2, 3]",
    "null",
    '{"eventType": "Bounce"}',
    '{"eventType": "Explode", "mail": {"messageId": "m"}}',
    '{"notificationType": 7, "mail": {"messageId": "m"}}',
    '{"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {"bounceType": "Permanent"}}',
    '{"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {"bounceType": "Permanent", '
    '"bouncedRecipients": "ana@empresa.example"}}',
    '{"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {"bounceType": "Permanent", '
    '"bouncedRecipients": [{"emailAddress": "not an address"}, {"emailAddress": 42}, "x"]}}',
    '{"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {"bounceType": "Soft", '
    '"bouncedRecipients": [{"emailAddress": "ana@empresa.example"}]}}',
    '{"eventType": "Bounce", "mail": [], "bounce": {"bounceType": "Permanent", '
    '"bouncedRecipients": [{"emailAddress": "ana@empresa.example"}]}}',
    '{"eventType": "Complaint", "mail": {"messageId": "m"}, "complaint": {"complainedRecipients": null}}',
    '{"eventType": "Complaint", "mail": {"messageId": "m"}, "complaint": "ana@empresa.example"}',
    "[" * 5000 + "]" * 5000,
    '{"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {"bounceType": "Permanent", '
    '"bouncedRecipients": [' + ", ".join(['{"emailAddress": "a%d@empresa.example"}' % n for n in range(60)]) + "]}}",
]


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_a_malformed_or_hostile_event_writes_nothing_and_sends_nothing(world, org, raw):
    set_contacts(world, org, ["ana@empresa.example"])
    before, size = len(world.outbox()), table_size(world)

    simulator(world).publish(raw)
    world.drain_queues()

    assert sent(world, before) == [] and table_size(world) == size
    assert world.deps.suppressions.of(["ana@empresa.example"]) == {}


def test_removing_the_bounced_contact_clears_the_flag_and_entering_it_again_sends_to_it_again(world, org):
    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    publish(world, HARD_BOUNCE, "ana@empresa.example", org)
    before = len(world.outbox())

    version = contract_view(world, org.master)["version"]
    removed = world.call("PATCH", "/contract", org.master, {"billing_contacts": ["bia@empresa.example"]},
                         headers={"If-Match": str(version)})
    assert removed.status_code == 200, removed.json_body
    assert removed.json_body["undeliverable_contacts"] == []
    world.drain_queues()
    # The change is told to the contacts, not to the address known to bounce.
    assert [to for to, _ in sent(world, before)] == [["bia@empresa.example"]]
    assert "contact.suppression_lifted" in audit_actions(world, org)

    before = len(world.outbox())
    again = world.call("PATCH", "/contract", org.master,
                       {"billing_contacts": ["ana@empresa.example", "bia@empresa.example"]},
                       headers={"If-Match": str(removed.json_body["version"])})
    assert again.status_code == 200 and again.json_body["undeliverable_contacts"] == []
    world.drain_queues()
    assert [to for to, _ in sent(world, before)] == [["ana@empresa.example", "bia@empresa.example"]]


def test_a_bounced_contact_kept_in_the_list_stays_suppressed(world, org):
    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    publish(world, HARD_BOUNCE, "ana@empresa.example", org)
    before = len(world.outbox())

    version = contract_view(world, org.master)["version"]
    changed = world.call("PATCH", "/contract", org.master,
                         {"billing_contacts": ["ana@empresa.example", "caio@empresa.example"]},
                         headers={"If-Match": str(version)})
    assert [f["email"] for f in changed.json_body["undeliverable_contacts"]] == ["ana@empresa.example"]
    world.drain_queues()
    assert [to for to, _ in sent(world, before)] == [["bia@empresa.example", "caio@empresa.example"]]


def test_a_send_to_the_simulators_bounce_address_goes_the_whole_way(world, org):
    """No event made by hand: the email SES accepted for an address its simulator bounces comes
    back as SES's bounce event, through the topic, to the handler."""
    version = contract_view(world, org.master)["version"]
    before = len(world.outbox())
    changed = world.call("PATCH", "/contract", org.master,
                         {"billing_contacts": ["bounce+financeiro@simulator.amazonses.com", "bia@empresa.example"]},
                         headers={"If-Match": str(version)})
    assert changed.status_code == 200
    world.drain_queues()

    old_contact = org.contract.billing_contacts[0]
    assert sorted(sent(world, before)) == sorted([
        (sorted([old_contact, "bounce+financeiro@simulator.amazonses.com", "bia@empresa.example"]),
         "Contatos de cobrança alterados — " + org.organization.name),
        ([OPERATORS], "Endereço suspenso (bounce) — " + org.organization.name),
        (["bia@empresa.example"], "E-mail de cobrança suspenso — " + org.organization.name)])
    [flag] = contract_view(world, org.master)["undeliverable_contacts"]
    assert flag["email"] == "bounce+financeiro@simulator.amazonses.com"


def test_a_users_own_address_bouncing_is_suppressed_and_the_operators_are_told(world, org):
    user = world.user(org.id, [Role.SUPORTE], email_address="suporte@empresa.example")
    world.drain_queues()
    before = len(world.outbox())

    publish(world, HARD_BOUNCE, "suporte@empresa.example", org, template="ticket_answered")

    assert sent(world, before) == [([OPERATORS], "Endereço suspenso (bounce) — " + org.organization.name)]
    assert "contact.bounced" in audit_actions(world, org)
    assert world.deps.suppressions.get(user.user.email).organization_id == org.id
    assert contract_view(world, org.master)["undeliverable_contacts"] == []


def test_an_event_without_a_known_organisation_only_suppresses_and_tells_the_operators(world, org):
    before = len(world.outbox())
    publish(world, HARD_BOUNCE, "ninguem@empresa.example", None)
    simulator(world).publish(ses_event(COMPLAINT, message_id="m-3", recipients=["outro@empresa.example"],
                                       tags={"organization_id": "no-such-organisation"}))
    world.drain_queues()

    assert sorted(to for to, _ in sent(world, before)) == [[OPERATORS], [OPERATORS]]
    assert set(world.deps.suppressions.of(["ninguem@empresa.example", "outro@empresa.example"])) == {
        "ninguem@empresa.example", "outro@empresa.example"}


def test_the_same_event_handled_twice_at_once_acts_once(world, org):
    """SNS may deliver one message to two invocations at the same moment."""
    import json

    from chalicelib.services import mail_events
    from tests.support import in_parallel

    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    before = len(world.outbox())
    raw = json.dumps(ses_event(HARD_BOUNCE, message_id="m", recipients=["ana@empresa.example"],
                               tags={"organization_id": org.id}, feedback_id="f-twice"))

    def handle(_):
        try:
            return mail_events.handle_sns_message(world.deps, raw)
        except Exception as error:  # noqa: BLE001 - a conflict: Lambda retries the invocation
            return error

    outcomes = in_parallel(2, handle)
    # Exactly one invocation suppressed; the other found it done (0) or lost a transaction
    # conflict (a retryable error: Lambda retries it, and the retry finds it done).
    assert sorted(o for o in outcomes if isinstance(o, int)) in ([0, 1], [1]), outcomes
    for outcome in outcomes:
        if not isinstance(outcome, int):
            assert getattr(outcome, "code", None) == "concurrent_update", outcome
            assert mail_events.handle_sns_message(world.deps, raw) == 0
    world.drain_queues()

    assert world.deps.suppressions.get("ana@empresa.example").event_id == "f-twice"
    assert len(sent(world, before)) == 2
    assert audit_actions(world, org).count("contact.bounced") == 1


# --- the suppression is the organisation's it was recorded for (#19 review) ------------------------

def patch_contacts(world, account, contacts):
    version = contract_view(world, account)["version"]
    answer = world.call("PATCH", "/contract", account, {"billing_contacts": contacts},
                        headers={"If-Match": str(version)})
    assert answer.status_code == 200, answer.json_body
    return answer.json_body


def test_another_organisation_listing_a_suppressed_address_neither_sees_it_nor_lifts_it(world, org):
    set_contacts(world, org, ["x@shared.example", "bia@empresa.example"])
    publish(world, HARD_BOUNCE, "x@shared.example", org)  # bounced on org A's email
    other = world.active_organization()
    world.drain_queues()
    set_contacts(world, other, ["x@shared.example", "caio@outra.example"])
    before = len(world.outbox())

    # B does not see that X bounced (not its event: reason and date are A's business).
    assert contract_view(world, other.master)["undeliverable_contacts"] == []
    # B's emails to X are dropped all the same (SES's reputation is the account's), and its
    # invoice says one contact was not reached.
    invoice = world.invoice(other)
    world.drain_queues()
    assert [to for to, subject in sent(world, before) if "Fatura" in subject] == [["caio@outra.example"]]
    assert world.deps.invoices.get(invoice.id).email_error == SUPPRESSED_NOTE.format(count=1) + " (invoice_issued)"

    # B removes X: nothing lifted, nothing audited but the change; A still sees its flag.
    before = len(world.outbox())
    changed = patch_contacts(world, other.master, ["caio@outra.example"])
    assert changed["undeliverable_contacts"] == []
    world.drain_queues()
    assert [to for to, _ in sent(world, before)] == [["caio@outra.example"]]  # not to X: still suppressed
    assert "contact.suppression_lifted" not in audit_actions(world, other)
    assert "contact.suppression_lifted" not in audit_actions(world, org)
    held = world.deps.suppressions.get("x@shared.example")
    assert held is not None and held.organization_id == org.id
    [flag] = contract_view(world, org.master)["undeliverable_contacts"]
    assert flag["email"] == "x@shared.example"

    # B enters X again: still suppressed, still not shown to B; A's own removal lifts it.
    patch_contacts(world, other.master, ["x@shared.example", "caio@outra.example"])
    assert contract_view(world, other.master)["undeliverable_contacts"] == []
    patch_contacts(world, org.master, ["bia@empresa.example"])
    assert world.deps.suppressions.get("x@shared.example") is None
    assert audit_actions(world, org).count("contact.suppression_lifted") == 1


def test_a_suppression_without_an_organisation_is_lifted_only_by_an_operator(world, org):
    publish(world, HARD_BOUNCE, "lead@empresa.example", None)  # a lead's address: no organisation
    set_contacts(world, org, ["lead@empresa.example", "bia@empresa.example"])
    assert contract_view(world, org.master)["undeliverable_contacts"] == []

    patch_contacts(world, org.master, ["bia@empresa.example"])
    assert world.deps.suppressions.get("lead@empresa.example") is not None
    assert "contact.suppression_lifted" not in audit_actions(world, org)

    operator, cobranca = world.operator(), world.profiles(org)[Role.COBRANCA]
    size = table_size(world)
    for account in (org.master, cobranca):
        refused = world.call("DELETE", "/backoffice/suppressed-addresses/lead@empresa.example", account)
        assert refused.status_code == 403, refused.json_body
    assert world.call("DELETE", "/backoffice/suppressed-addresses/not-an-address", operator).status_code == 400
    assert table_size(world) == size and world.deps.suppressions.get("lead@empresa.example") is not None

    lifted = world.call("DELETE", "/backoffice/suppressed-addresses/Lead@Empresa.example", operator)
    assert lifted.status_code == 204, lifted.json_body
    assert world.deps.suppressions.get("lead@empresa.example") is None
    trail, _ = world.deps.audit.list("reseller", since="2000-01-01", until="2100-01-01", limit=100, next_token=None)
    [entry] = [e for e in trail if e.action == "contact.suppression_lifted"]
    assert entry.actor_id == operator.user.id and entry.before["email"] == "lead@empresa.example"

    again = world.call("DELETE", "/backoffice/suppressed-addresses/lead@empresa.example", operator)
    assert again.status_code == 404 and again.json_body["error"]["code"] == "suppression_not_found"


def test_the_operators_lift_of_an_organisations_suppression_is_audited_on_it(world, org):
    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    publish(world, COMPLAINT, "ana@empresa.example", org)
    operator = world.operator()
    assert world.call("DELETE", "/backoffice/suppressed-addresses/ana@empresa.example", operator).status_code == 204
    assert contract_view(world, org.master)["undeliverable_contacts"] == []
    assert audit_actions(world, org).count("contact.suppression_lifted") == 1
    before = len(world.outbox())
    world.invoice(org)
    world.drain_queues()
    assert [to for to, subject in sent(world, before) if "Fatura" in subject] == [
        ["ana@empresa.example", "bia@empresa.example"]]


def test_the_lift_is_in_the_contract_changes_transaction(world, org, monkeypatch):
    """The contract's change and the suppression's lift are written together or not at all."""
    from chalicelib.domain.audit import SYSTEM
    from chalicelib.services import audit

    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    publish(world, HARD_BOUNCE, "ana@empresa.example", org)
    version = contract_view(world, org.master)["version"]
    lifting = world.deps.suppressions.lifting

    def lifted_meanwhile(lifts, organization_id):
        # An operator lifts it between the read and the write: the lift's condition fails, and
        # with it the whole change (a retryable conflict).
        world.deps.suppressions.lift("ana@empresa.example",
                                     audit.entry(world.deps, SYSTEM, org.id, "test.lifted", "test"))
        return lifting(lifts, organization_id)

    monkeypatch.setattr(world.deps.suppressions, "lifting", lifted_meanwhile)
    before = len(world.outbox())
    trail = audit_actions(world, org)
    refused = world.call("PATCH", "/contract", org.master, {"billing_contacts": ["bia@empresa.example"]},
                         headers={"If-Match": str(version)})
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "concurrent_update", refused.json_body
    world.drain_queues()
    assert sent(world, before) == []
    assert contract_view(world, org.master)["version"] == version
    assert contract_view(world, org.master)["billing_contacts"] == ["ana@empresa.example", "bia@empresa.example"]
    assert sorted(audit_actions(world, org)) == sorted(trail + ["test.lifted"])  # the change wrote nothing


# --- the operators' address ---------------------------------------------------------------------------

def test_the_operators_address_is_never_suppressed_and_their_notices_keep_going(world, org, caplog, monkeypatch):
    import logging

    from chalicelib.services import mail_events

    counted = []
    monkeypatch.setattr(mail_events, "count", lambda name, value=1: counted.append((name, value)))
    caplog.set_level(logging.INFO)
    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    size, before = table_size(world), len(world.outbox())

    publish(world, HARD_BOUNCE, OPERATORS, org, template="contact_undeliverable_operators")
    publish(world, COMPLAINT, OPERATORS, None, message_id="msg-2")

    assert world.deps.suppressions.get(OPERATORS) is None and table_size(world) == size
    assert sent(world, before) == []
    assert counted == [("EmailBounces", 1), ("EmailComplaints", 1)]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "csp_portal.services.mail_events"]
    assert len(errors) == 2 and all(OPERATORS not in r.getMessage() for r in errors)
    # A bounce of a contact still reaches the operators.
    publish(world, HARD_BOUNCE, "ana@empresa.example", org, message_id="msg-3")
    assert ([OPERATORS], "Endereço suspenso (bounce) — " + org.organization.name) in sent(world, before)


def test_the_operators_address_is_never_dropped_even_if_suppressed_before(world, org):
    """A suppression of it recorded before this rule (or by hand) does not silence their notices."""
    from chalicelib.domain.mail_events import Suppression

    world.deps.suppressions.suppress(Suppression(email=OPERATORS, kind="bounce", since="2026-01-01T00:00:00Z",
                                                 event_id="old"), None)
    before = len(world.outbox())
    publish(world, HARD_BOUNCE, "ninguem@empresa.example", None)
    assert [to for to, _ in sent(world, before)] == [[OPERATORS]]


# --- counted once, logged without the address, traced to the flow ------------------------------------

def test_bounces_and_complaints_are_counted_once_when_sns_delivers_again(world, org, monkeypatch):
    from chalicelib.services import mail_events

    counted = []
    monkeypatch.setattr(mail_events, "count", lambda name, value=1: counted.append((name, value)))
    set_contacts(world, org, ["ana@empresa.example", "bia@empresa.example"])
    for _ in range(2):
        publish(world, HARD_BOUNCE, "ana@empresa.example", org, feedback_id="fb-bounce")
        publish(world, COMPLAINT, "bia@empresa.example", org, message_id="msg-9", feedback_id="fb-complaint")
    assert sorted(counted) == [("EmailBounces", 1), ("EmailComplaints", 1)]


def test_a_bounce_flow_logs_no_address_and_the_correlation_id_of_the_email(world, org, caplog, capsys):
    import logging

    from chalicelib import observability

    caplog.set_level(logging.INFO)
    for name in observability.PRODUCT_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    set_contacts(world, org, ["ana.silva@empresa.example", "bia@empresa.example"])
    observability.bind_correlation_id("flow-abc-123")
    try:
        publish(world, HARD_BOUNCE, "ana.silva@empresa.example", org)
        world.invoice(org)
        world.drain_queues()
    finally:
        observability.bind_correlation_id(None)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = "\n".join([formatter.format(r) for r in caplog.records] + [capsys.readouterr().out])
    assert "address suppressed after a bounce" in logged
    for address in ("ana.silva@empresa.example", "bia@empresa.example", OPERATORS):
        assert address not in logged


def test_emails_carry_their_correlation_id_as_an_ses_tag(world):
    from chalicelib import observability
    from chalicelib.services.notifications import email_tags

    message = {"template": "invoice_issued", "delivery_key": "k", "organization_id": "org-1"}
    observability.bind_correlation_id("req 1/ação")
    try:
        assert email_tags(message)["correlation_id"] == "req_1_a__o"
    finally:
        observability.bind_correlation_id(None)
    assert "correlation_id" not in email_tags(message)


def test_the_events_handler_logs_the_correlation_id_of_the_email(world, org, caplog):
    import json
    import logging

    from chalicelib.services import mail_events

    caplog.set_level(logging.INFO, logger="csp_portal.services.mail_events")
    mail_events.handle_sns_message(world.deps, json.dumps(ses_event(
        DELIVERY, message_id="m-7", recipients=["ana@empresa.example"],
        tags={"organization_id": org.id, "correlation_id": "flow-xyz"})))
    assert any("flow-xyz" in r.getMessage() for r in caplog.records)


def test_a_dunning_reminder_whose_contacts_are_all_suppressed_still_reaches_the_operators_and_says_so(
        world, monkeypatch):
    from chalicelib.domain.clock import FixedClock
    from chalicelib.services import notifications
    from tests.support import sp

    world.deps.clock = FixedClock(sp(2026, 10, 1))
    org = world.active_organization(10)
    world.subscription(org, "MS365-E3", 3)
    world.deps.clock.now = sp(2026, 11, 11, 9)
    assert world.call("POST", "/backoffice/billing-runs", world.operator(), {"period": "2026-11"}).status_code == 202
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    contacts = list(org.contract.billing_contacts)
    for n, contact in enumerate(contacts):
        publish(world, HARD_BOUNCE, contact, org, message_id=f"m-{n}")
    counted = []
    monkeypatch.setattr(notifications, "count", lambda name, value=1: counted.append((name, value)))
    before = len(world.outbox())

    world.deps.clock.now = sp(2026, 11, 24, 9)  # D+1: the first reminder
    world.client.lambda_.invoke("mark_overdue_invoices", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    world.drain_queues()

    reminders = [(to, subject) for to, subject in sent(world, before) if subject.startswith("Lembrete")]
    assert reminders == [([OPERATORS], f"Lembrete: fatura nº {invoice['number']} vencida em 23/11/2026")]
    note = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["email_error"]
    assert note.startswith(SUPPRESSED_NOTE.format(count=len(contacts)))
    assert all(contact not in note for contact in contacts)
    assert ("EmailsSuppressed", len(contacts)) in counted
