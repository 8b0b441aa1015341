"""Contract acceptance by the Master, and the append-only audit trail of every mutation."""
from datetime import datetime, timezone

import pytest

from chalicelib.domain.clock import FixedClock, iso, local_day
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.roles import Role
from chalicelib.storage.repositories import AuditOverwriteRefused


def test_every_profile_reads_the_contract_awaiting_acceptance(world):
    org = world.organization()
    accounts = world.profiles(org)
    for role in (Role.MASTER, Role.ADM, Role.COBRANCA, Role.SUPORTE):
        contract = world.call("GET", "/contract", accounts[role]).json_body
        assert contract["status"] == "awaiting_acceptance"
        assert contract["closing_day"] == 10 and contract["payment_method"] == "boleto"
        assert contract["accepted_at"] is None


def test_the_master_accepts_and_who_when_where_and_which_version_are_recorded(world):
    org = world.organization()
    clock = world.deps.clock = FixedClock(datetime(2026, 11, 24, 14, 30, tzinfo=timezone.utc))
    response = world.call("POST", "/contract/accept", org.master)
    assert response.status_code == 200
    contract = response.json_body
    assert contract["status"] == "active"
    assert contract["accepted_by"] == org.master.user.id
    assert contract["accepted_at"] == iso(clock.now)
    assert contract["accepted_from_ip"] == "127.0.0.1"  # the caller's source IP (the test client's)
    assert contract["accepted_version"] == world.deps.settings.contract_version
    assert world.call("GET", "/contract", org.master).json_body == contract

    [entry] = [e for e in world.call("GET", "/audit", org.master).json_body["items"]
               if e["action"] == "contract.accepted"]
    assert entry["actor_id"] == org.master.user.id
    assert entry["before"]["status"] == "awaiting_acceptance" and entry["after"]["status"] == "active"


def test_a_contract_is_accepted_once(world):
    org = world.organization()
    world.call("POST", "/contract/accept", org.master)
    again = world.call("POST", "/contract/accept", org.master)
    assert again.status_code == 409 and again.json_body["error"]["code"] == "contract_already_accepted"


def test_accepting_with_a_stale_if_match_is_refused_and_changes_nothing(world):
    org = world.organization()
    stale = world.call("POST", "/contract/accept", org.master, headers={"If-Match": "7"})
    assert stale.status_code == 409 and stale.json_body["error"]["code"] == "version_conflict"
    assert world.call("GET", "/contract", org.master).json_body["status"] == "awaiting_acceptance"
    assert world.call("POST", "/contract/accept", org.master, headers={"If-Match": '"1"'}).status_code == 200


def test_only_the_master_accepts(world):
    org = world.organization()
    adm = world.user(org.id, [Role.ADM])
    response = world.call("POST", "/contract/accept", adm)
    assert response.status_code == 403
    assert world.call("GET", "/contract", org.master).json_body["status"] == "awaiting_acceptance"


def test_the_audit_trail_records_each_mutation_with_before_and_after_newest_first(world):
    org = world.organization()
    invited = world.call("POST", "/users", org.master, {"email": "a@e.example", "name": "A", "roles": ["adm"]}).json_body
    world.call("PATCH", f"/users/{invited['id']}", org.master, {"roles": ["cobranca"]})
    world.call("DELETE", f"/users/{invited['id']}", org.master)
    items = world.call("GET", "/audit", org.master).json_body["items"]
    actions = [e["action"] for e in items]
    assert actions[:3] == ["user.removed", "user.roles_changed", "user.invited"]
    changed = items[1]
    assert changed["before"]["roles"] == ["adm"] and changed["after"]["roles"] == ["cobranca"]
    assert changed["actor_email"] == org.master.user.email
    assert changed["target"] == f"user:{invited['id']}"
    assert items[0]["after"] is None and items[0]["before"]["email"] == "a@e.example"


def test_the_audit_trail_filters_by_date_and_pages(world):
    org = world.organization()
    for n in range(3):
        world.call("POST", "/users", org.master, {"email": f"u{n}@e.example", "name": "U", "roles": ["adm"]})
    today = local_day(world.deps.clock()).isoformat()  # a bare date is a São Paulo day
    first = world.call("GET", f"/audit?from={today}&to={today}&limit=2", org.master).json_body
    assert len(first["items"]) == 2 and first["next_token"]
    second = world.call("GET", f"/audit?from={today}&to={today}&limit=2&next_token={first['next_token']}",
                        org.master).json_body
    assert len(second["items"]) == 1
    assert {e["id"] for e in first["items"]}.isdisjoint(e["id"] for e in second["items"])
    assert world.call("GET", "/audit?from=2020-01-01&to=2020-01-31", org.master).json_body["items"] == []
    for bad_value in ("ontem", "0001-01-01T00:00:00+05:00", "2026-13-01"):
        bad = world.call("GET", f"/audit?from={bad_value}", org.master)
        assert bad.status_code == 400 and bad.json_body["error"]["code"] == "invalid_date", bad_value
    # `to` alone: the 90 days before it.
    assert world.call("GET", "/audit?to=2025-01-01", org.master).status_code == 200


def test_storage_refuses_to_overwrite_an_audit_entry(world):
    org = world.organization()
    entry = AuditEntry(id="fixed", organization_id=org.id, at="2026-11-01T00:00:00+00:00", actor_id="x",
                       actor_email=None, action="test.first", target="t", before=None, after={"n": 1})
    world.deps.audit.append(entry)
    with pytest.raises(AuditOverwriteRefused):
        world.deps.audit.append(AuditEntry(**{**entry.__dict__, "action": "test.rewritten", "after": {"n": 2}}))
    [kept] = [e for e in world.deps.audit.list(org.id, since="2026-10-01", until="2026-12-01", limit=10,
                                                next_token=None)[0] if e.id == "fixed"]
    assert kept.action == "test.first"


def test_no_route_edits_or_deletes_the_audit_trail(world):
    spec = world.call("GET", "/openapi.json").json_body
    audit_methods = {m for path, ops in spec["paths"].items() if path.startswith("/audit") for m in ops}
    assert audit_methods == {"get"}
