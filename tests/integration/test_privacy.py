"""LGPD: the privacy notice, the organisation's data export (zip opened here), and the anonymisation
of a terminated organisation once the fiscal retention is over (the clock moved)."""
import csv
import io
import json
import zipfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests

from chalicelib.domain import contract as contract_rules
from chalicelib.domain.clock import FixedClock, iso
from chalicelib.domain.privacy import EXPORT_TABLES, EXPORTS_PREFIX
from chalicelib.domain.roles import Role
from chalicelib.services import audit
from local import seed as seed_module
from tests.support import failing_first, sp

REASON = "Desconto comercial combinado com o cliente"


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def _populated(world, operator):
    """An organisation with rows in every table: users (one removed), the contract, a subscription
    and its purchase change, an invoice with a payment and a credit note, a ticket with a message
    each way, and the audit of it all."""
    org = world.organization(closing_day=10, items=(("MS365-E3", 10),))
    world.accept_contract(org)
    world.drain_queues()
    adm = world.user(org.id, [Role.ADM])
    leaving = world.user(org.id, [Role.SUPORTE])
    assert world.call("DELETE", f"/users/{leaving.user.id}", org.master).status_code == 204
    ticket = world.ticket(org)
    answered = world.call("POST", f"/backoffice/tickets/{ticket.id}/messages", operator,
                          {"body": "Recebido; verificamos a conta."})
    assert answered.status_code == 201, answered.json_body
    attached = world.call("POST", f"/tickets/{ticket.id}/attachments?name=tela.png", org.master,
                          b"\x89PNG\r\n\x1a\n" + b"\0" * 16,
                          headers={**org.master.headers, "Content-Type": "application/octet-stream"})
    assert attached.status_code == 201, attached.json_body
    return org, adm, leaving


def two_organizations(world, clock):
    operator = world.operator()
    a = _populated(world, operator)
    b = _populated(world, operator)
    clock.now = sp(2026, 11, 11, 9)  # the day after the 10 Nov closing: both billed
    run = world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"})
    assert run.status_code == 202, run.json_body
    world.drain_queues()
    clock.now = sp(2026, 11, 12, 10)
    for org, *_ in (a, b):
        [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
        paid = world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", operator,
                          {"amount_cents": 1000, "paid_on": "2026-11-12", "method": "boleto"})
        assert paid.status_code == 201, paid.json_body
        credited = world.call("POST", f"/backoffice/invoices/{invoice['id']}/credit-notes", operator,
                              {"amount_cents": 500, "reason": REASON})
        assert credited.status_code == 201, credited.json_body
    return a, b, operator


def _download(url):
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(response.content))


def _ids(world, org, path):
    return {i["id"] for i in world.call("GET", path, org.master).json_body["items"]}


# --- the privacy notice ------------------------------------------------------------------------------

def test_the_privacy_notice_is_public_and_names_the_controller_and_the_dpo_from_the_settings(world):
    notice = world.call("GET", "/privacy")
    assert notice.status_code == 200
    privacy = world.deps.settings.privacy
    assert notice.json_body == {
        "controller_name": privacy.controller_name, "controller_cnpj": "45.997.418/0001-53",
        "controller_address": privacy.controller_address, "dpo_name": privacy.dpo_name,
        "dpo_email": privacy.dpo_email, "dpo_phone": privacy.dpo_phone,
        "fiscal_retention_years": 5, "export_link_minutes": 15}


def test_the_portal_links_the_privacy_page_from_the_footer_and_the_login_screen_and_keeps_its_strict_csp(world):
    page = world.client.http.get("/")
    assert 'href="#/privacidade"' in page.body.decode()  # the footer, on every screen
    script = world.client.http.get("/portal/assets/session.js").body.decode()
    assert 'href: "#/privacidade", id: "link-privacidade"' in script  # the login screen
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "unsafe" not in policy


# --- the export ------------------------------------------------------------------------------------

def test_the_export_zip_holds_every_table_of_the_organisation_and_nothing_of_another(world, clock):
    (a, a_adm, a_left), (b, b_adm, b_left), _ = two_organizations(world, clock)
    exported = world.call("POST", "/privacy/exports", a.master)
    assert exported.status_code == 201, exported.json_body
    archive = _download(exported.json_body["url"])

    a_invoices, a_tickets = _ids(world, a, "/invoices"), _ids(world, a, "/tickets")
    b_values = {b.id, b.master.user.email, b_adm.user.email, b_left.user.email, b.organization.cnpj,
                *_ids(world, b, "/invoices"), *_ids(world, b, "/tickets")}
    for table in EXPORT_TABLES:
        rows = json.loads(archive.read(f"{table}.json").decode("utf-8"))
        assert rows, f"{table} is empty: the world should put rows in every table"
        with_csv = list(csv.DictReader(io.StringIO(archive.read(f"{table}.csv").decode("utf-8-sig"))))
        assert len(with_csv) == len(rows)
        for row in rows:
            if "organization_id" in row:
                assert row["organization_id"] == a.id, (table, row)
        if table == "payments" or table == "credit_notes":
            assert {r["invoice_id"] for r in rows} <= a_invoices
        if table == "ticket_messages":
            assert {r["ticket_id"] for r in rows} <= a_tickets
        text = archive.read(f"{table}.json").decode("utf-8") + archive.read(f"{table}.csv").decode("utf-8-sig")
        assert not [v for v in b_values if v in text], table
    users = {r["email"] for r in json.loads(archive.read("users.json"))}
    assert users == {a.master.user.email, a_adm.user.email}  # the removed one is only in the audit
    [organization] = json.loads(archive.read("organization.json"))
    assert organization["id"] == a.id and "pk" not in organization
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["exported_by"] == a.master.user.id and manifest["rows"]["invoices"] == 1

    [entry] = [e for e in world.call("GET", "/audit", a.master).json_body["items"]
               if e["action"] == "organization.data_exported"]
    assert (entry["actor_id"], entry["target"]) == (a.master.user.id, f"export:{exported.json_body['id']}")
    key = urlparse(exported.json_body["url"]).path.split("/", 2)[2]
    assert key.startswith(f"{EXPORTS_PREFIX}{a.id}/")


def test_only_the_master_or_an_operator_acting_for_the_organisation_may_export(world, clock):
    org = world.active_organization()
    profiles = world.profiles(org)
    for role in (Role.ADM, Role.COBRANCA, Role.SUPORTE):
        refused = world.call("POST", "/privacy/exports", profiles[role])
        assert (refused.status_code, refused.json_body["error"]["code"]) == (403, "forbidden")
    assert world.call("POST", "/privacy/exports").status_code == 401
    other = world.active_organization()
    acting = world.call("POST", "/privacy/exports", profiles[Role.OPERATOR], headers={"X-Organization-Id": org.id})
    assert acting.status_code == 201
    organization = json.loads(_download(acting.json_body["url"]).read("organization.json"))
    assert [o["id"] for o in organization] == [org.id]
    # Another organisation's Master knows nothing of this export; an ADM of this one may not look.
    foreign = world.call("GET", f"/privacy/exports/{acting.json_body['id']}", other.master)
    assert (foreign.status_code, foreign.json_body["error"]["code"]) == (404, "export_not_found")
    assert world.call("GET", f"/privacy/exports/{acting.json_body['id']}", profiles[Role.ADM]).status_code == 403
    actions = [e for e in world.call("GET", "/audit", org.master).json_body["items"]
               if e["action"] == "organization.data_exported"]
    assert [e["actor_id"] for e in actions] == [profiles[Role.OPERATOR].user.id]


def test_the_link_lives_fifteen_minutes_and_none_is_handed_out_after(world, clock):
    org = world.active_organization()
    exported = world.call("POST", "/privacy/exports", org.master).json_body
    assert exported["expires_at"] == iso(clock.now + timedelta(minutes=15))
    assert parse_qs(urlparse(exported["url"]).query)["X-Amz-Expires"] == ["900"]

    clock.advance(minutes=10)
    again = world.call("GET", f"/privacy/exports/{exported['id']}", org.master)
    assert again.status_code == 200
    # A new link never outlives the export: what is left of its 15 minutes.
    assert parse_qs(urlparse(again.json_body["url"]).query)["X-Amz-Expires"] == ["300"]
    assert again.json_body["expires_at"] == exported["expires_at"]

    clock.advance(minutes=5)
    expired = world.call("GET", f"/privacy/exports/{exported['id']}", org.master)
    assert (expired.status_code, expired.json_body["error"]["code"]) == (404, "export_expired")


def test_the_exports_folder_is_emptied_by_the_buckets_lifecycle_rule(world):
    rules = boto3.client("s3", region_name=world.deps.settings.region).get_bucket_lifecycle_configuration(
        Bucket=world.deps.settings.documents_bucket)["Rules"]
    assert [(r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in rules] == [(EXPORTS_PREFIX, 1)]
    with open("infra/resources.json", encoding="utf-8") as fh:
        infra = json.load(fh)["Resources"]["DocumentsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert [(r["Prefix"], r["ExpirationInDays"]) for r in infra] == [(EXPORTS_PREFIX, 1)]


# --- anonymisation ---------------------------------------------------------------------------------

def _terminate(world, org, clock, at):
    clock.now = at
    contract = world.deps.contracts.get(org.id)
    closed = replace(contract, status=contract_rules.TERMINATED, terminated_at=iso(at), final_invoice_due=False,
                     version=contract.version + 1)
    world.deps.contracts.save(closed, expected_version=contract.version, audit=audit.entry(
        world.deps, seed_module.SEED_ACTOR, org.id, "contract.closed", f"contract:{contract.id}"))


def _readable(value):
    """An attribute's value as text, JSON attributes decoded (they store accents escaped)."""
    if isinstance(value, dict):
        return " ".join(f"{k} {_readable(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(_readable(v) for v in value)
    if isinstance(value, str) and value[:1] in "[{\"":
        try:
            return _readable(json.loads(value))
        except ValueError:
            return value
    return str(value)


def _items_of(world, org, invoice_ids, ticket_ids):
    """Every item of the organisation, read straight from the emulator's table (no Scan through the
    product); items past their TTL, which DynamoDB deletes, are left out."""
    from moto.backends import get_backend

    table = get_backend("dynamodb")["123456789012"][world.deps.settings.region].tables[
        world.deps.settings.table_name]
    now = world.deps.clock().timestamp()
    parents = {f"INVOICE#{i}" for i in invoice_ids} | {f"TICKET#{t}" for t in ticket_ids}
    found = {}
    for item in table.all_items():
        attributes = item.to_json()["Attributes"]
        expires = attributes.get("expires_at", {}).get("N")
        if expires is not None and float(expires) < now:
            continue
        text = _readable(attributes)
        if org.id in text or attributes["pk"]["S"] in parents:
            found[(attributes["pk"]["S"], attributes["sk"]["S"])] = (attributes, text)
    return found


def _cognito_user_exists(world, email):
    cognito = boto3.client("cognito-idp", region_name=world.deps.settings.region)
    try:
        cognito.admin_get_user(UserPoolId=world.deps.settings.user_pool_id, Username=email)
        return True
    except cognito.exceptions.UserNotFoundException:
        return False


def _ticket_files(world, org):
    s3 = boto3.client("s3", region_name=world.deps.settings.region)
    answer = s3.list_objects_v2(Bucket=world.deps.settings.documents_bucket, Prefix=f"tickets/{org.id}/")
    return [o["Key"] for o in answer.get("Contents", [])]


def _run_schedule(world):
    world.client.lambda_.invoke("anonymise_after_retention", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))


def test_after_retention_the_organisation_keeps_its_invoices_and_no_personal_data(world, clock, monkeypatch):
    (a, a_adm, a_left), (b, b_adm, b_left), _ = two_organizations(world, clock)
    a_ids = (_ids(world, a, "/invoices"), _ids(world, a, "/tickets"))
    b_ids = (_ids(world, b, "/invoices"), _ids(world, b, "/tickets"))
    _terminate(world, a, clock, sp(2026, 11, 20))
    _terminate(world, b, clock, sp(2030, 6, 1))  # inside its retention when A's is over
    a_people = [(u.email, u.name) for u in (a.master.user, a_adm.user, a_left.user)]
    before_a = _items_of(world, a, *a_ids)
    before_b = _items_of(world, b, *b_ids)
    [a_file], [b_file] = _ticket_files(world, a), _ticket_files(world, b)
    assert any(email in text for email, _ in a_people for _, text in before_a.values())

    clock.now = sp(2031, 11, 19)  # a day short of five years: nothing yet
    _run_schedule(world)
    assert _items_of(world, a, *a_ids) == before_a

    clock.now = sp(2031, 11, 21)
    # The first run dies before it marks the organisation done; the next one finishes the work.
    monkeypatch.setattr(world.deps.privacy, "finish_anonymisation", failing_first(
        world.deps.privacy.finish_anonymisation, 1, RuntimeError("Lambda timed out")))
    with pytest.raises(RuntimeError):
        _run_schedule(world)
    _run_schedule(world)

    after_a = _items_of(world, a, *a_ids)
    assert set(after_a) == set(before_a) | {k for k in after_a if k[0] == f"ORG#{a.id}#AUDIT"}
    # A's ticket files are deleted from the bucket (a screenshot is personal data nobody can redact);
    # their records say so, and the link is refused in words. B's file stays.
    assert _ticket_files(world, a) == [] and _ticket_files(world, b) == [b_file]
    ticket_id, attachment_id = a_file.split("/")[2:]
    [record] = world.deps.tickets.attachments(ticket_id)
    assert record.id == attachment_id and record.removed_at == iso(clock.now)
    removed = world.call("GET", f"/backoffice/tickets/{ticket_id}/attachments/{attachment_id}", world.operator())
    assert (removed.status_code, removed.json_body["error"]["code"]) == (404, "attachment_removed")
    assert "anonimizados" in removed.json_body["error"]["message"] and "url" not in removed.json_body
    for email, name in a_people:
        leaks = [key for key, (_, text) in after_a.items() if email.lower() in text.lower() or name in text]
        assert not leaks, (email, name, leaks)
        assert not _cognito_user_exists(world, email)
    [contact] = a.contract.billing_contacts  # not a user, but a person's address all the same
    assert not [key for key, (_, text) in after_a.items() if contact in text]
    # The invoices, with what the tax law requires, are untouched: every attribute as it was.
    for key in before_a:
        if key[0].startswith("INVOICE#"):
            assert after_a[key] == before_a[key], key
    users = world.deps.users.list(a.id, limit=10, next_token=None)[0]
    assert {u.name for u in users} == {"Titular anonimizado"}
    assert all(u.email.endswith("@anonimizado.invalid") for u in users)
    [done] = [attributes for key, (attributes, _) in after_a.items()
              if "organization.personal_data_anonymised" in _readable(attributes)]
    assert done["actor_id"]["S"] == "system" and "actor_email" not in done
    assert world.deps.contracts.get(a.id).anonymised_at == iso(clock.now)

    # Inside its retention, B is as it was, and its people can still sign in.
    assert _items_of(world, b, *b_ids) == before_b
    assert _cognito_user_exists(world, b.master.user.email)

    # Repeat-safe: A left the retention index; the next day's run changes nothing.
    clock.advance(days=1)
    _run_schedule(world)
    assert _items_of(world, a, *a_ids) == after_a
    from chalicelib.services import privacy

    assert privacy.anonymise_due(world.deps) == 0


def test_an_organisation_whose_final_invoice_is_still_due_waits(world, clock):
    org = world.active_organization()
    _terminate(world, org, clock, sp(2026, 11, 20))
    contract = world.deps.contracts.get(org.id)
    world.deps.contracts.save(replace(contract, final_invoice_due=True, version=contract.version + 1),
                              expected_version=contract.version, audit=audit.entry(
                                  world.deps, seed_module.SEED_ACTOR, org.id, "contract.reopened_for_test",
                                  f"contract:{contract.id}"))
    clock.now = sp(2032, 1, 1)
    _run_schedule(world)
    assert world.deps.users.get(org.master.user.id).email == org.master.user.email
    assert _cognito_user_exists(world, org.master.user.email)
    assert world.deps.contracts.get(org.id).anonymised_at is None


def test_the_retention_cut_off_is_a_setting(world, clock, monkeypatch):
    org = world.active_organization()
    _terminate(world, org, clock, sp(2026, 11, 20))
    clock.now = sp(2028, 11, 21)
    _run_schedule(world)
    assert world.deps.users.get(org.master.user.id).name == org.master.user.name
    monkeypatch.setattr(world.deps, "settings", replace(world.deps.settings, fiscal_retention_years=2))
    _run_schedule(world)
    assert world.deps.users.get(org.master.user.id).name == "Titular anonimizado"


def test_dates_in_the_retention_index_are_utc_instants(world, clock):
    org = world.active_organization()
    at = datetime(2026, 11, 20, 23, 30, tzinfo=timezone.utc)
    _terminate(world, org, clock, at)
    assert world.deps.privacy.retained_until(iso(at + timedelta(seconds=1))) == [org.id]
    assert world.deps.privacy.retained_until(iso(at)) == []


def test_the_export_leaves_out_the_back_offices_working_state_on_an_invoice(world, clock):
    from chalicelib.domain.nfse import Rejection

    org = world.organization(closing_day=10)
    world.seed_catalog()
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", 10)
    clock.now = sp(2026, 11, 11, 9)
    world.deps.nfse_emitter.reject_next((Rejection("E0116", "CEP do tomador inválido",
                                                   "cvc-pattern-valid: toma/end/endNac/CEP"),))
    world.call("POST", "/backoffice/billing-runs", world.operator(), {"period": "2026-11"})
    world.drain_queues()
    [invoice] = world.deps.invoices.of_organization_due_between(org.id, ("open",), None, None)
    assert invoice.nfse_failure is not None
    # An operator's re-emission under way: its claim sits on the invoice.
    world.deps.invoices.claim_nfse(invoice.id, invoice.version, clock(), clock() + timedelta(minutes=2))

    exported = world.call("POST", "/privacy/exports", org.master)

    assert exported.status_code == 201, exported.json_body
    archive = _download(exported.json_body["url"])
    [row] = json.loads(archive.read("invoices.json"))
    assert row["id"] == invoice.id and row["number"] == invoice.number and row["total_cents"] == invoice.total_cents
    assert not {"nfse_failure", "nfse_until", "second_copy_until", "cancel_until"} & set(row)
    text = archive.read("invoices.json").decode("utf-8") + archive.read("invoices.csv").decode("utf-8-sig")
    assert "E0116" not in text and "cvc-pattern-valid" not in text and "nfse_until" not in text
