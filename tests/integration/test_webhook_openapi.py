"""/openapi.json describes what an integrator's endpoint receives: an OpenAPI 3.1 `webhooks` entry per
event type, with the payload {id, type, created_at, data} and each type's `data`, and the signature
header (how to verify it) — so a generated client, or a reader, needs nothing but the document."""
from openapi_spec_validator import validate as validate_openapi

from chalicelib.domain.webhooks import EVENT_TYPES, TEST_EVENT

INVOICE_DATA = {"invoice_id", "number", "status", "total_cents", "paid_cents", "due_date", "period_start",
                "period_end", "currency"}
DATA = {**{t: INVOICE_DATA for t in EVENT_TYPES if t.startswith("invoice.")},
        "subscription.changed": {"subscription_id", "sku", "quantity", "status", "change"},
        "ticket.updated": {"ticket_id", "number", "status", "change"}}


def _resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def test_every_event_type_is_described_with_its_payload(world):
    spec = world.call("GET", "/openapi.json").json_body
    validate_openapi(spec)
    assert set(DATA) == set(EVENT_TYPES)  # the contract's list, as the product declares it
    assert set(EVENT_TYPES) | {TEST_EVENT} <= set(spec["webhooks"])
    for event_type in [*EVENT_TYPES, TEST_EVENT]:
        operation = spec["webhooks"][event_type]["post"]
        body = _resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])
        assert {"id", "type", "created_at", "data"} <= set(body["required"]), event_type
        kind = _resolve(spec, body["properties"]["type"])
        assert event_type in kind.get("enum", [kind.get("const")]), (event_type, kind)
        assert _resolve(spec, body["properties"]["created_at"]).get("format") == "date-time"
        if event_type in DATA:
            data = _resolve(spec, body["properties"]["data"])
            assert DATA[event_type] <= set(data["properties"]), (event_type, sorted(data["properties"]))
        # A 2xx is what the endpoint answers; anything else is retried.
        assert any(code.startswith("2") for code in operation["responses"]), event_type


def test_the_signature_header_and_how_to_verify_it_are_described(world):
    spec = world.call("GET", "/openapi.json").json_body
    for event_type in [*EVENT_TYPES, TEST_EVENT]:
        headers = {p["name"]: p for p in spec["webhooks"][event_type]["post"]["parameters"] if p["in"] == "header"}
        assert {"X-CSP-Signature", "X-CSP-Event-Id", "X-CSP-Event-Type"} <= set(headers), event_type
        signature = headers["X-CSP-Signature"]
        assert signature["required"] is True
        text = signature["description"]
        for step in ("t=", "v1=", "HMAC-SHA256", "<t>.<corpo>", "5 minutos", "tempo constante"):
            assert step in text, (step, text)
