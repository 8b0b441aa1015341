"""Schemathesis against the API's own /openapi.json, through the local stack over HTTP, with a valid
token: generated requests for every operation; not one answer may be a server error, and every
answer must be what the document says — a documented status, its media type, its schema (2xx
shapes and the one Error shape alike). The back-office operations are called with an operator's
token (a Master's would only be refused them), every other one with a Master's.

Each operation gets EXAMPLES_PER_OPERATION cases drawn from schemathesis's strategy for it (valid and
edge-case bodies, paths, queries and headers), so the run is bounded and its size known."""
import json

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is installed by requirements-dev.txt")

import app as _app  # noqa: E402,F401 - registers the routes the document describes
from chalicelib.api.openapi import document  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.xdist_group("fuzz_stack")

CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
OPERATIONS = [result.ok() for result in schemathesis.openapi.from_dict(document()).get_all_operations()]


def profile_for(operation) -> str:
    """Who calls it: the capability the operation requires says whose token can reach its code."""
    return "operator" if operation.definition.raw.get("x-required-capability") == "back_office" else "master"


CALLS = [(profile_for(operation), operation) for operation in OPERATIONS]
EXAMPLES_PER_OPERATION = 60
SENT = {"count": 0, "server_errors": []}


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    from tests.e2e.conftest import start_stack

    var_dir = tmp_path_factory.mktemp("fuzz")
    api, process = start_stack(var_dir)
    demo = json.loads((var_dir / "demo-accounts.json").read_text())
    from tests.e2e.conftest import api_login

    tokens = {}
    for profile in ("master", "operator"):
        account = next(a for a in demo["accounts"] if a["roles"] == [profile])
        tokens[profile] = api_login(api, account)["access_token"]  # its TOTP code too
    # Each token reaches its routes' code, not only their refusals (a fuzz answered 401/403 throughout
    # would prove nothing).
    for profile, path in (("master", "/users"), ("operator", "/backoffice/organizations")):
        answer = requests.get(f"{api}{path}", headers={"Authorization": f"Bearer {tokens[profile]}"})
        assert answer.status_code == 200, (profile, path, answer.text[:300])
    yield api, tokens
    process.kill()


@pytest.mark.parametrize("profile,operation", CALLS,
                         ids=[f"{profile} {op.method.upper()} {op.path}" for profile, op in CALLS])
# Derandomized: the same requests every run, so a red CI is reproducible on a laptop.
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, phases=[Phase.generate], derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_generated_request_is_answered_as_documented(profile, operation, data, fuzz_target):
    api, tokens = fuzz_target
    case = data.draw(operation.as_strategy())
    headers = {**(case.headers or {}), "Authorization": f"Bearer {tokens[profile]}"}
    response = case.call(base_url=api, headers=headers, timeout=30)
    SENT["count"] += 1
    if response.status_code >= 500:
        SENT["server_errors"].append((case.method, case.formatted_path, response.text[:300]))
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    case.validate_response(response, checks=CONFORMANCE)


def test_at_least_a_thousand_requests_were_sent_and_none_failed():
    # Runs after the generated ones: same module, same worker, file order.
    print(f"\n{SENT['count']} generated requests, none answered with a server error")
    assert SENT["count"] >= 1000, SENT["count"]
    assert SENT["server_errors"] == []
