"""Every route in /openapi.json × every profile against the role matrix, and tenancy: another
organisation's objects are 404 everywhere. Routes are read from the API's own description, so a
new route is covered the day it is added."""
import json
import re


from chalicelib.domain.roles import ROLE_CAPABILITIES, Capability, Role
from tests.openapi_requests import fill, operations, request_for

UNKNOWN_ID = "nao-existe-0000"


def test_every_chalice_route_is_described_in_openapi(world):
    described = {(path, method) for path, method, _ in operations(world)}
    registered = {(path, method) for path, entries in world.app.routes.items() for method in entries}
    assert registered == described


def test_openapi_declares_a_capability_and_the_matrix_roles_for_every_protected_route(world):
    for path, method, operation in operations(world):
        if operation.get("security") == []:
            continue  # public
        capability = Capability(operation["x-required-capability"])
        assert operation["x-allowed-roles"] == sorted(r.value for r in ROLE_CAPABILITIES[capability]), path


def test_each_profile_is_allowed_exactly_what_the_matrix_grants_on_every_route(world):
    org = world.organization()
    accounts = world.profiles(org)
    checked = 0
    for path, method, operation in operations(world):
        if operation.get("security") == []:
            continue
        allowed = set(operation["x-allowed-roles"])
        target = fill(path, {name: UNKNOWN_ID for name in re.findall(r"{(\w+)}", path)}, operation)
        for role, account in accounts.items():
            # An empty body: the allowed get past authorisation to validation (4xx but never 403).
            body = {} if "requestBody" in operation else None
            response = world.call(method, target, account, body)
            if role.value in allowed:
                assert response.status_code != 403, (method, path, role, response.json_body)
                assert response.status_code < 500, (method, path, role, response.json_body)
            else:
                assert response.status_code == 403, (method, path, role, response.status_code)
                assert response.json_body["error"]["code"] == "forbidden"
            checked += 1
    assert checked >= 5 * 8


def test_protected_routes_refuse_anonymous_callers(world):
    for path, method, operation in operations(world):
        if operation.get("security") == []:
            continue
        target = fill(path, {name: UNKNOWN_ID for name in re.findall(r"{(\w+)}", path)})
        response = world.call(method, target, None, {} if "requestBody" in operation else None)
        assert response.status_code == 401, (method, path)


# How to make, in a given organisation, the object each path parameter names. A route with a
# parameter missing here fails the test below: whoever adds it says how to make one.
# `None`: the parameter names something shared by every organisation (a catalog SKU).
OBJECT_FACTORIES = {
    "user_id": lambda world, org, made: world.user(org.id, [Role.ADM]).user.id,
    "subscription_id": lambda world, org, made: world.subscription(org, "MS365-E3", 5).id,
    "invoice_id": lambda world, org, made: world.invoice(org).id,
    "ticket_id": lambda world, org, made: world.ticket(org).id,
    # A real file on that organisation's ticket (made just above), so the link's tenancy check is tested.
    "attachment_id": lambda world, org, made: _attachment(world, org, made["ticket_id"]),
    "lead_id": None,  # leads are the reseller's, before any organisation exists
    "sku": None,
    "run_id": None,  # billing runs belong to the reseller (operators only)
    "export_id": lambda world, org, made: world.call("POST", "/privacy/exports", org.master).json_body["id"],
    # Webhooks (issue #21 §3): an endpoint on the loopback (allowed in the tests), and its test delivery.
    "webhook_id": lambda world, org, made: world.call("POST", "/webhooks", org.master, {
        "url": "http://127.0.0.1:9/hook", "events": ["invoice.issued"]}).json_body["id"],
    "delivery_id": lambda world, org, made: world.call(
        "POST", f"/webhooks/{made['webhook_id']}/test", org.master).json_body["delivery"]["id"],
}


def _attachment(world, org, ticket_id: str) -> str:
    from chalicelib.services import support
    from chalicelib.services.caller import Caller

    caller = Caller(user=org.master.user, organization_id=org.id)
    return support.upload_attachment(world.deps, caller, ticket_id, "tela.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32,
                                     support.CUSTOMER)["id"]


def test_another_organisations_objects_are_not_found_on_every_route_and_nothing_changes(world):
    mine = world.organization()
    theirs = world.organization()
    their_ids = {}
    for name, make in OBJECT_FACTORIES.items():
        if make:
            their_ids[name] = make(world, theirs, their_ids)
    their_ids["sku"] = "MS365-E3"
    their_ids["run_id"] = "nao-existe"
    # Their file is really there: their own master gets its link (so a 404 below is the tenancy check).
    assert world.call("GET", f"/tickets/{their_ids['ticket_id']}/attachments/{their_ids['attachment_id']}",
                      theirs.master).status_code == 200
    my_accounts = world.profiles(mine)
    their_before = world.call("GET", "/audit", theirs.master).json_body["items"]

    for path, method, operation in operations(world):
        if operation.get("security") == []:
            continue
        if path.startswith("/backoffice/"):
            continue  # the back office is the operators' view of every organisation, by design
        params = [p for p in re.findall(r"{(\w+)}", path) if OBJECT_FACTORIES.get(p, "?") is not None]
        missing = [p for p in params if p not in their_ids]
        assert not missing, f"add a factory for {missing} ({method} {path}) to OBJECT_FACTORIES"
        target = fill(path, their_ids, operation)
        allowed = set(operation["x-allowed-roles"])
        for role, account in my_accounts.items():
            if role.value not in allowed:
                continue
            # The operator acts inside my organisation, as operators do for customers.
            acting = {"X-Organization-Id": mine.id} if role == Role.OPERATOR else {}
            # A route taking a file (a ticket's attachment) gets one, so it reaches the object's check.
            body, headers = request_for(operation)
            response = world.call(method, target, account, body, headers={**acting, **headers})
            if params:
                assert response.status_code == 404, (method, path, role, response.status_code)
            elif method == "GET":
                text = json.dumps(response.json_body)
                owned = [v for k, v in their_ids.items() if OBJECT_FACTORIES.get(k)]
                for foreign in [theirs.id, theirs.master.user.id, *owned]:
                    assert foreign not in text, (method, path, role)

    # Nothing of theirs was written: same audit trail, same users, same profiles.
    assert world.call("GET", "/audit", theirs.master).json_body["items"] == their_before
    victim = world.call("GET", f"/users/{their_ids['user_id']}", theirs.master)
    assert victim.status_code == 200 and victim.json_body["roles"] == ["adm"]
    their_subscription = world.call("GET", f"/subscriptions/{their_ids['subscription_id']}", theirs.master).json_body
    assert their_subscription["quantity"] == 5 and their_subscription["pending_change"] is None
    assert their_subscription["auto_renew"] is True
