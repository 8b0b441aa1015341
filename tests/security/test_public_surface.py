"""The public surface tells nobody what the reseller knows: the contract form answers a new, a
repeated and a converted CNPJ alike, and its confirmation carries nothing the sender typed but
their name; an invitation to another organisation's login answers like any invitation, while the
conflict goes to the operators."""
import pytest

from chalicelib.domain.roles import Role
from chalicelib.domain.users import RESELLER_ORGANIZATION_ID
from tests.security.test_email_headers import spy_on_queued_emails
from tests.support import ADDRESS, body_html, body_text

LEAD = {"cnpj": "45.997.418/0001-53", "company_name": "Compre Já Viagra Barato http://spam.example",
        "contact_name": "Helena Souza", "email": "vitima@alvo.example", "phone": "(11) 98765-4321",
        "products_of_interest": ["MS365-E3"], "existing_microsoft_customer": False}


@pytest.fixture
def catalog(world):
    world.seed_catalog()


def test_a_new_a_repeated_and_a_converted_cnpj_get_the_same_answer_and_the_same_confirmation(world, catalog):
    new = world.call("POST", "/leads", body=LEAD)
    repeated = world.call("POST", "/leads", body={**LEAD, "email": "outro@alvo.example"})
    operator = world.operator()
    converted = world.call("POST", f"/backoffice/leads/{new.json_body['id']}/convert", operator, {
        "closing_day": 10, "payment_method": "boleto", "billing_contacts": ["financeiro@horizonte.example"],
        "master": {"email": "master@horizonte.example", "name": "Helena Souza"}, "address": ADDRESS})
    assert converted.status_code == 201, converted.json_body
    world.drain_queues()
    before = len(world.outbox())
    after_conversion = world.call("POST", "/leads", body={**LEAD, "email": "terceiro@alvo.example"})

    answers = [(r.status_code, r.json_body) for r in (new, repeated, after_conversion)]
    assert answers == [answers[0]] * 3, answers
    assert answers[0][1]["status"] == "new" and "duplicate" not in answers[0][1]
    # The lead is still the first request, converted; the later ones changed nothing of it.
    [lead] = world.call("GET", "/backoffice/leads", operator).json_body["items"]
    assert (lead["status"], lead["email"]) == ("converted", "vitima@alvo.example")
    world.drain_queues()
    later = world.outbox()[before:]
    # The sender after the conversion gets the very confirmation a new request gets, and nobody else
    # is written to (no second announcement to the operators).
    assert [m["To"] for m in later] == ["terceiro@alvo.example"]
    [first] = [m for m in world.outbox() if m["To"] == "vitima@alvo.example"]
    assert (later[0]["Subject"], body_text(later[0])) == (first["Subject"], body_text(first))


def test_the_confirmation_carries_no_text_the_sender_typed_but_their_name(world, catalog):
    world.call("POST", "/leads", body={**LEAD, "contact_name": "Helena Souza", "tenant_domain": "alvo.onmicrosoft.com"})
    world.drain_queues()
    [confirmation] = [m for m in world.outbox() if m["To"] == "vitima@alvo.example"]
    text, html = body_text(confirmation), body_html(confirmation)
    assert "Helena Souza" in text and "Helena Souza" in html
    for typed in ("Viagra", "spam.example", "45.997.418", "45997418", "98765", "alvo.onmicrosoft.com"):
        assert typed not in text + html + confirmation["Subject"], typed
    # The operators still get everything, to call the company back.
    [announcement] = [m for m in world.outbox() if m["To"] == world.deps.settings.operators_email]
    assert "Viagra" in body_text(announcement) and "45.997.418/0001-53" in body_text(announcement)


def invite(world, account, email, name="Pessoa Nova", roles=("suporte",)):
    return world.call("POST", "/users", account, {"email": email, "name": name, "roles": list(roles)})


def audit_of(world, account, headers=None):
    return world.call("GET", "/audit", account, headers=headers).json_body["items"]


def test_inviting_another_organisations_login_answers_like_a_new_invitation_and_goes_to_the_operators(
        world, monkeypatch):
    operator = world.operator()
    other, mine = world.organization(), world.organization()
    theirs = world.user(other.organization.id, [Role.ADM], email_address="disputado@outra.example")
    queued = spy_on_queued_emails(world, monkeypatch)
    new = invite(world, mine.master, "novo@minha.example")
    taken = invite(world, mine.master, "disputado@outra.example")

    # The same status and shape: the Master cannot tell the email belongs to another customer.
    assert (new.status_code, taken.status_code) == (201, 201)
    assert set(taken.json_body) == set(new.json_body)
    assert {k: taken.json_body[k] for k in ("status", "roles", "organization_id", "email", "version")} == {
        "status": "invited", "roles": ["suporte"], "organization_id": mine.organization.id,
        "email": "disputado@outra.example", "version": 1}
    # No welcome email to that address; one to the new user; the conflict to the operators' address.
    assert [(m["template"], m["to"]) for m in queued] == [
        ("user_invited", ["novo@minha.example"]),
        ("user_invite_conflict", [world.deps.settings.operators_email])]
    world.drain_queues()
    conflict = next(m for m in world.outbox() if m["To"] == world.deps.settings.operators_email)
    assert "disputado@outra.example" in body_text(conflict) and mine.organization.name in conflict["Subject"]
    # Nothing created in the caller's organisation; the other organisation's user untouched and
    # still able to sign in.
    mine_users = {u["email"] for u in world.call("GET", "/users", mine.master).json_body["items"]}
    assert mine_users == {mine.master.user.email, "novo@minha.example"}
    assert world.call("GET", f"/users/{theirs.user.id}", other.master).json_body["organization_id"] == \
        other.organization.id
    assert world.login("disputado@outra.example")
    # The operators' trail holds the conflict, with who asked for whom; the caller's holds the new
    # user only.
    [entry] = [e for e in audit_of(world, operator) if e["action"] == "user.invite_conflict"]
    assert entry["organization_id"] == RESELLER_ORGANIZATION_ID
    assert entry["actor_email"] == mine.master.user.email and entry["after"]["email"] == "disputado@outra.example"
    assert [e["action"] for e in audit_of(world, mine.master)] == ["user.invited"]


def test_inviting_an_email_already_in_the_callers_own_organisation_is_still_a_conflict(world, monkeypatch):
    org = world.organization()
    world.user(org.organization.id, [Role.ADM], email_address="ja@minha.example")
    queued = spy_on_queued_emails(world, monkeypatch)
    again = invite(world, org.master, "ja@minha.example")
    assert again.status_code == 409 and again.json_body["error"]["code"] == "email_in_use"
    assert queued == []
