"""API.md's conventions: the error JSON, size and type limits, pagination, the OpenAPI document."""
from openapi_spec_validator import validate as validate_openapi

from chalicelib.domain.roles import Role


def test_openapi_is_a_valid_openapi_3_1_document(world):
    spec = world.call("GET", "/openapi.json").json_body
    assert spec["openapi"] == "3.1.0"
    validate_openapi(spec)


def test_malformed_json_is_a_400_with_the_error_json(world):
    org = world.organization()
    response = world.call("POST", "/users", org.master, '{"email": "x@y.example", ')
    assert response.status_code == 400
    assert response.json_body == {"error": {"code": "invalid_json", "message": response.json_body["error"]["message"],
                                            "details": {}}}


def test_a_body_that_is_not_json_is_a_415(world):
    org = world.organization()
    response = world.call("POST", "/users", org.master, "email=x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and response.json_body["error"]["code"] == "unsupported_media_type"


def test_a_json_body_that_is_not_an_object_is_a_400(world):
    org = world.organization()
    response = world.call("POST", "/users", org.master, "[1, 2]")
    assert response.status_code == 400 and response.json_body["error"]["code"] == "invalid_type"


def test_an_oversized_body_is_a_413_and_writes_nothing(world):
    org = world.organization()
    huge = {"email": "grande@e.example", "name": "x" * 70_000, "roles": ["adm"]}
    response = world.call("POST", "/users", org.master, huge)
    assert response.status_code == 413 and response.json_body["error"]["code"] == "payload_too_large"
    assert len(world.call("GET", "/users", org.master).json_body["items"]) == 1


def test_limit_outside_1_to_100_is_a_400(world):
    org = world.organization()
    for limit in ("0", "101", "abc", "-1"):
        response = world.call("GET", f"/users?limit={limit}", org.master)
        assert response.status_code == 400 and response.json_body["error"]["code"] == "invalid_limit", limit
    assert world.call("GET", "/users?limit=100", org.master).status_code == 200


def test_a_forged_or_foreign_next_token_is_a_400(world):
    mine = world.organization()
    theirs = world.organization()
    for _ in range(2):
        world.user(theirs.id, [Role.ADM])
    their_token = world.call("GET", "/users?limit=1", theirs.master).json_body["next_token"]
    assert their_token
    for token in ("garbage", their_token):
        response = world.call("GET", f"/users?next_token={token}", mine.master)
        assert response.status_code == 400 and response.json_body["error"]["code"] == "invalid_next_token"


def test_a_malformed_if_match_is_a_400(world):
    org = world.organization()
    adm = world.user(org.id, [Role.ADM])
    response = world.call("PATCH", f"/users/{adm.user.id}", org.master, {"roles": ["suporte"]},
                          headers={"If-Match": "latest"})
    assert response.status_code == 400 and response.json_body["error"]["code"] == "invalid_if_match"


def test_unicode_and_injection_strings_are_stored_as_text(world):
    org = world.organization()
    name = "Zoë Ñandú 李 <script>alert(1)</script> '; DROP TABLE users; --"
    created = world.call("POST", "/users", org.master, {"email": "zoe@e.example", "name": name, "roles": ["adm"]})
    assert created.status_code == 201
    assert world.call("GET", f"/users/{created.json_body['id']}", org.master).json_body["name"] == name
    world.drain_queues()
    html = world.outbox()[0].get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html  # autoescaped in the email


def test_support_contacts_are_public_and_come_from_settings(world):
    response = world.call("GET", "/support/contacts")
    assert response.status_code == 200
    assert response.json_body == {
        "phone": "(11) 3179-6869", "email": "contato@suporte.brasoftware.com.br",
        "service_desk_url": "https://sgbrasoftware.maxdesk.us",
        "specialists_phone": "(11) 3179-6900", "specialists_email": "brasoftwarecloud@brasoftware.com.br",
    }
