"""Query strings against the parameters /openapi.json publishes, checked once by the shared pipeline.

Routes and their parameters are read from the API's own description (as the permission tests do),
so a parameter declared tomorrow is covered tomorrow: a value outside its schema, a required one
missing or an undeclared one is a 400 before the handler runs, and nothing is written."""
import re
import urllib.parse
from datetime import date

import pytest

from tests.openapi_requests import body_for, example, fill, operations, request_for, route_objects, success_status

# Calls that only read; anything else made while refusing a request would be a write.
READS = ("Get", "Query", "BatchGet", "TransactGet", "Describe", "List", "Head")
# Values the API checks beyond their schema: a plausible one by the parameter's name.
_PLAUSIBLE = {"from": lambda: date.today().isoformat(), "to": lambda: date.today().isoformat(),
              "next_token": lambda: ""}


@pytest.fixture
def aws_calls(monkeypatch):
    """The name of every AWS call made (DynamoDB, SQS, S3, SES, Cognito: all go through botocore)."""
    from botocore.client import BaseClient

    calls = []
    original = BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        calls.append(operation_name)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


@pytest.fixture
def setting(world):
    """An active organisation with an object behind every path parameter, and who may call what."""
    org, operator = world.active_organization(), world.operator()
    objects = route_objects(world, org)

    def caller(operation):
        if operation.get("security") == []:
            return None
        return org.master if "master" in operation["x-allowed-roles"] else operator

    def target(path, operation, query):
        return fill(path, {name: objects[name] for name in re.findall(r"{(\w+)}", path)}) + \
            ("?" + urllib.parse.urlencode(query) if query else "")

    return org, caller, target


def query_parameters(operation):
    return [p for p in operation["parameters"] if p["in"] == "query"]


def valid(parameter) -> str:
    name = parameter["name"]
    # A parameter's own example first (the spend report's `from`/`to` are months, the audit's days).
    plausible = name in _PLAUSIBLE and "example" not in parameter["schema"]
    value = _PLAUSIBLE[name]() if plausible else example(parameter["schema"], name)
    return str(value).lower() if isinstance(value, bool) else str(value)


def outside(schema) -> list:
    """Texts the schema refuses, one per constraint it has."""
    kind, values = schema["type"], []
    if "enum" in schema:
        values.append("nao-" + str(schema["enum"][0]))
    if kind == "integer":
        values += ["abc", "1.5", ""]
        values += [str(schema[k] + d) for k, d in (("minimum", -1), ("maximum", 1)) if k in schema]
    elif kind == "boolean":
        values.append("talvez")
    elif kind == "string":
        values.append("a\x00b")
        if "maxLength" in schema:
            values.append("x" * (schema["maxLength"] + 1))
        if "pattern" in schema:
            values += [v for v in ("$!", "a b", "é") if not re.search(schema["pattern"], v)][:1]
    return values


def with_query(world):
    return [(path, method, operation) for path, method, operation in operations(world) if query_parameters(operation)]


def writes(calls):
    return [name for name in calls if not name.startswith(READS)]


def test_every_query_parameter_is_published_with_a_json_schema_and_its_required_flag(world):
    published = [p for _, _, operation in with_query(world) for p in query_parameters(operation)]
    assert {p["name"] for p in published} >= {"limit", "next_token", "quantity", "status", "from", "to", "family", "q"}
    for parameter in published:
        assert isinstance(parameter["required"], bool) and parameter["schema"]["type"] in ("string", "integer")
        assert not {"required", "x-error-code"} & set(parameter["schema"]), parameter


def test_paginated_routes_publish_limit_1_to_100_and_next_token(world):
    for path, method, operation in operations(world):
        names = [p["name"] for p in query_parameters(operation)]
        if "limit" in names:
            limit = next(p for p in query_parameters(operation) if p["name"] == "limit")
            assert "next_token" in names, path
            assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}
            assert limit["x-error-code"] == "invalid_limit"


def test_a_value_outside_its_schema_is_a_400_on_every_route_and_writes_nothing(world, setting, aws_calls):
    org, caller, target = setting
    refused = 0
    for path, method, operation in with_query(world):
        parameters = query_parameters(operation)
        required = {p["name"]: valid(p) for p in parameters if p["required"]}
        for parameter in parameters:
            values = outside(parameter["schema"])
            assert values, f"{parameter['name']} on {method} {path} accepts any text: give it a bound"
            for value in values:
                del aws_calls[:]
                response = world.call(method, target(path, operation, {**required, parameter["name"]: value}),
                                      caller(operation), body_for(operation))
                assert response.status_code == 400, (method, path, parameter["name"], value, response.json_body)
                error = response.json_body["error"]
                assert error["details"]["field"] == parameter["name"] and error["message"]
                assert error["code"] == parameter.get("x-error-code", error["code"])
                assert writes(aws_calls) == [], (method, path, parameter["name"], value)
                refused += 1
    assert refused >= 40


def test_an_undeclared_parameter_is_a_400_on_every_route_before_the_handler_runs(world, setting, aws_calls):
    org, caller, target = setting
    checked = 0
    for path, method, operation in operations(world):
        if operation.get("x-unknown-query-parameters") == "ignored":
            continue
        required = {p["name"]: valid(p) for p in query_parameters(operation) if p["required"]}
        del aws_calls[:]
        # The route's own body: the query string is checked first, so the parameter is what is refused.
        response = world.call(method, target(path, operation, {**required, "nao_declarado": "1"}),
                              caller(operation), body_for(operation))
        assert response.status_code == 400, (method, path, response.json_body)
        assert response.json_body["error"]["code"] == "unknown_parameter"
        assert response.json_body["error"]["details"]["field"] == "nao_declarado"
        assert writes(aws_calls) == [], (method, path)
        checked += 1
    assert checked >= 40


def test_the_portal_page_and_its_assets_ignore_parameters_added_by_links_and_cache_busters(world):
    assert world.call("GET", "/?utm_source=email&fbclid=abc").status_code == 200
    assert world.call("GET", "/portal/assets/app.js?v=20261101").status_code == 200


def test_a_required_parameter_missing_is_a_400(world, setting):
    org, caller, target = setting
    checked = 0
    for path, method, operation in with_query(world):
        required = [p for p in query_parameters(operation) if p["required"]]
        for parameter in required:
            # The route's other required parameters are given (the exports take both `from` and `to`).
            others = {p["name"]: valid(p) for p in required if p is not parameter}
            response = world.call(method, target(path, operation, others), caller(operation), body_for(operation))
            assert response.status_code == 400, (method, path, parameter["name"])
            error = response.json_body["error"]
            assert error["details"]["field"] == parameter["name"]
            assert error["code"] == parameter.get("x-error-code", "required")
            checked += 1
    assert checked >= 1


def test_valid_values_pass_on_every_route(world, setting):
    org, caller, target = setting
    for path, method, operation in with_query(world):
        query = {p["name"]: valid(p) for p in query_parameters(operation)}
        body, headers = request_for(operation)
        account = caller(operation)
        response = world.call(method, target(path, operation, query), account, body,
                              headers={**(account.headers if account else {}), **headers})
        assert response.status_code == success_status(operation), (method, path, query, response.json_body)


def test_the_handler_receives_typed_values(world, setting):
    org, caller, target = setting
    sub = world.subscription(org, "MS365-E3", 10)
    preview = world.call("GET", f"/subscriptions/{sub.id}/quantity-preview?quantity=15", org.master).json_body
    padded = world.call("GET", f"/subscriptions/{sub.id}/quantity-preview?quantity=0015", org.master).json_body
    assert padded == preview and preview["applies"] == "now"
    first = world.call("GET", "/users?limit=01", org.master).json_body
    assert len(first["items"]) == 1 and first["next_token"]


def test_a_bad_query_is_refused_before_the_handler_looks_anything_up(world, setting):
    org, caller, target = setting
    # The handler would answer 404 for a subscription that does not exist: the pipeline answers first.
    response = world.call("GET", "/subscriptions/nao-existe/quantity-preview?quantity=muitas", org.master)
    assert response.status_code == 400 and response.json_body["error"]["code"] == "invalid_quantity"


def test_an_anonymous_caller_with_a_bad_query_is_told_to_authenticate_first(world):
    response = world.call("GET", "/users?limit=abc&nao_declarado=1")
    assert response.status_code == 401
