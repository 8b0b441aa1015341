"""/openapi.json describes what every route answers, and the answers hold to it: a route without a
success schema fails here, and a view that adds or drops a field fails every test that calls it."""
import pytest

from chalicelib.api.openapi import document
from chalicelib.services import subscriptions
from tests.contract import ContractBroken


def _successes():
    for path, methods in document()["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    yield f"{method.upper()} {path} {status}", status, response


def _has_schema(response):
    content = response.get("content") or {}
    return bool(content) and all(media.get("schema") for media in content.values())


def test_every_success_answer_in_openapi_has_a_schema():
    missing = [name for name, status, response in _successes() if status != "204" and not _has_schema(response)]
    assert missing == [], f"routes whose success has no schema: {missing}"
    with_content = [name for name, status, response in _successes() if status == "204" and response.get("content")]
    assert with_content == [], "a 204 answers no body"


def test_every_json_success_is_a_named_shape_with_a_closed_object_behind_it():
    components = document()["components"]["schemas"]
    for name, status, response in _successes():
        schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
        if schema is None or name.startswith("GET /openapi.json"):
            continue
        refs = [schema["$ref"]] if "$ref" in schema else [s["$ref"] for s in schema.get("oneOf", [])]
        assert refs, f"{name}: its shape is not a named component"
        for ref in refs:
            target = components[ref.rsplit("/", 1)[1]]
            assert target.get("type") == "object" and target.get("additionalProperties") is False, (name, ref)


def test_the_error_shape_names_every_catalogued_code():
    from chalicelib.domain.errors import CATALOGUE

    codes = document()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert set(CATALOGUE) <= set(codes) and "internal_error" in codes


@pytest.fixture
def org(world):
    organization = world.active_organization()
    world.subscription(organization, "MS365-E3", 3)
    return organization


def test_a_view_that_adds_a_field_breaks_the_contract(world, org, monkeypatch):
    assert world.call("GET", "/subscriptions", org.master).status_code == 200
    real_view = subscriptions.subscription_view
    monkeypatch.setattr(subscriptions, "subscription_view",
                        lambda *args: {**real_view(*args), "discount_cents": 0})
    with pytest.raises(ContractBroken, match="discount_cents"):
        world.call("GET", "/subscriptions", org.master)


def test_a_view_that_drops_a_field_breaks_the_contract(world, org, monkeypatch):
    real_view = subscriptions.subscription_view

    def without_version(*args):
        view = real_view(*args)
        del view["version"]
        return view

    monkeypatch.setattr(subscriptions, "subscription_view", without_version)
    with pytest.raises(ContractBroken, match="version"):
        world.call("GET", "/subscriptions", org.master)
