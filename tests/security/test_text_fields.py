"""Unicode and injection strings in every text field of every request body in /openapi.json.

Each string field (nested ones and arrays of strings included) gets each hostile string in an
otherwise valid body, sent by a profile allowed to call the route, on real objects. No answer may
be a server error; a refusal is the API's error JSON and writes nothing (the audit trail, which
every write appends to, stays as it was); and every email the accepted ones queue is sent, with
the user's text as text."""
import re
from dataclasses import replace


from tests.security.test_email_headers import delivery_status, spy_on_queued_emails
from tests.support import body_text
from tests.openapi_requests import body_for, example, fill, operations, route_objects

HOSTILE = [
    "'; DROP TABLE faturas; --",
    '" OR "1"="1',
    "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "x{{7*7}}y ${7*7} #{7*7} {% if 1 %}z{% endif %}",
    "attribute_not_exists(pk) OR #pk = :v",
    "../../../etc/passwd\\..\\windows",
    "São Paulo — ação, coração, pão 日本語 🚀👩🏽‍💻",
    "\u202egnp.exe\u200b\u200d\ufeff",
    "linha 1\r\nBcc: intruso@evil.example\r\n\r\nlinha 3",
    "NUL\u0000no meio",
    # Line-breaking characters that are not \n: headers (subjects, display names) take them as spaces.
    "Empresa\u2028Nova\u2029Ltda\x85 e\rcia\vfilial\fsul",
]


def string_fields(schema, path=()):
    """Paths (tuples of keys; "[]" for an array's item) of the free-text fields of a body schema."""
    kind = schema.get("type")
    if kind == "object":
        for name, child in schema.get("properties", {}).items():
            yield from string_fields(child, path + (name,))
    elif kind == "array":
        yield from string_fields(schema["items"], path + ("[]",))
    elif kind == "string" and "enum" not in schema and "pattern" not in schema:
        yield path, schema


def with_value(node, schema, path, value):
    """`node` (a body, or part of one, described by `schema`) with the field at `path` set to
    `value`; an optional parent missing from the body is added with its own smallest valid value."""
    key, rest = path[0], path[1:]
    if key == "[]":
        if not rest:
            return [value]
        items = node if isinstance(node, list) and node else example(schema, "")
        return [with_value(item, schema["items"], rest, value) for item in items]
    node = dict(node or {})
    child = schema["properties"][key]
    node[key] = with_value(node[key] if key in node else example(child, key), child, rest, value) if rest else value
    return node


def fitted(value: str, schema: dict) -> str:
    value = value[: schema.get("maxLength", len(value))]
    return value + "x" * max(0, schema.get("minLength", 0) - len(value))


def latest_audit(world, *accounts):
    """The newest audit entry of each account's organisation (every write appends one): the
    customer's, and the reseller's, where the back office's own writes go."""
    newest = []
    for account in accounts:
        items = world.call("GET", "/audit?limit=1", account).json_body["items"]
        newest.append(items[0] if items else None)
    return newest


def test_every_text_field_takes_unicode_and_injection_strings_without_a_server_error(world, monkeypatch):
    # The public form's rate limit has its own test; here it would only hide the fields behind 429s.
    monkeypatch.setattr(world.deps, "settings", replace(world.deps.settings, lead_rate_limit_per_hour=10_000))
    queued = spy_on_queued_emails(world, monkeypatch)
    org, operator = world.active_organization(), world.operator()
    objects = route_objects(world, org)
    sent = refused = 0
    for path, method, operation in operations(world):
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if not content or path in ("/contract/terminate",) or method == "DELETE":
            continue  # terminating or deleting would take the objects away from the routes after it
        if content["schema"].get("format") == "binary":
            continue  # a file as the body (the bank's webhook), not fields: tests/integration/test_bank_webhook.py
        account = None if operation.get("security") == [] else \
            operator if path.startswith("/backoffice/") else org.master
        target = fill(path, {name: objects[name] for name in re.findall(r"{(\w+)}", path)}, operation)
        for field, schema in string_fields(content["schema"]):
            for hostile in HOSTILE:
                before = latest_audit(world, org.master, operator)
                body = with_value(body_for(operation), content["schema"], field, fitted(hostile, schema))
                response = world.call(method, target, account, body)
                sent += 1
                assert response.status_code < 500, (method, path, field, hostile, response.json_body)
                if response.status_code >= 400:
                    refused += 1
                    assert set(response.json_body["error"]) >= {"code", "message"}, response.json_body
                    assert latest_audit(world, org.master, operator) == before, (method, path, field, "written on a refusal")
    # Fields with a format (emails, CNPJ, phone, SKUs, credentials) refuse most of these strings;
    # free text takes them.
    assert sent >= 300 and sent - refused >= 100, (sent, refused)
    world.drain_queues()
    world.make_visible()
    world.drain_queues()
    # Every email queued was sent, not merely some: one a header could not carry would stay unsent.
    keys = {message["delivery_key"]: message for message in queued}
    unsent = [(key, message["template"]) for key, message in keys.items() if delivery_status(world, message) != "sent"]
    assert len(keys) >= 50 and unsent == [], (len(keys), unsent)
    outbox = world.outbox()
    assert len(outbox) == len(keys), (len(outbox), len(keys))
    bodies = [body_text(message) for message in outbox]
    # The user's text reached emails as text: the template syntax in it was not evaluated.
    assert any("x{{7*7}}y" in body for body in bodies)
    assert not any("x49y" in body for body in bodies)
